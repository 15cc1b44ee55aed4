"""The FHIR R4B door's mapping: enrolments, benefit checks and settlements as FHIR resources,
and the FHIR requests an institution sends read into the medical domain's terms.

Pure: no database, no clock, no web. The routes (`medical.fhir_api`) load what the medical
services (`medical.service`, `medical.visits`) answer, and this module turns it into
`fhir.resources.R4B` models (validated by the library as they are built) or reads a posted
resource into plain values the services take. No benefit rule lives here: every amount a
ClaimResponse shows is a `Setlinfo` field the settlement (`medical.rules.settle`) computed.

Identifier systems and code systems are the project's own URIs under `NS`; the table of
them, and the table from `setlinfo` to `ClaimResponse.total`, are in docs/medical-fhir.md.
Money is integer fen in the platform and a FHIR `Money` (decimal yuan, `CNY`) on the wire:
`money()` and `fen_of()` convert, exactly, refusing a fraction of a fen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.coverageeligibilityrequest import CoverageEligibilityRequest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError

from yikatong.core.errors import InvalidInput
from yikatong.core.money import FEN_PER_YUAN, MAX_AMOUNT_FEN, Fen
from yikatong.medical.rules import FeeLine, Setlinfo, split_lines

FHIR_JSON: Final = "application/fhir+json"
CURRENCY: Final = "CNY"

NS: Final = "https://yikatong.example/fhir"


class Sid:
    """Identifier systems (NamingSystem URIs) of the door."""

    ECARD: Final = f"{NS}/sid/ecard-qr"              # cert type 01: an e-card QR payload (e-voucher)
    ID_NUMBER: Final = f"{NS}/sid/id-number"          # cert type 02: citizen ID number (GB 11643)
    SS_CARD: Final = f"{NS}/sid/ss-card-no"           # cert type 03: social security card number
    PERSON: Final = f"{NS}/sid/psn-no"                # the platform's person number (1101 psn_no)
    INSTITUTION: Final = f"{NS}/sid/fixmedins-code"   # a designated institution (定点医药机构)
    OFFICE: Final = f"{NS}/sid/admdvs"                # a medical insurance office, by its region
    COVERAGE: Final = f"{NS}/sid/coverage"            # an enrolment (参保) record
    VISIT: Final = f"{NS}/sid/mdtrt-id"               # a visit (就诊 ID)
    SETTLEMENT: Final = f"{NS}/sid/setl-id"           # a settlement (结算 ID)


class Cs:
    """Code systems: the project's own, and the HL7 ones the door uses."""

    INSUTYPE: Final = f"{NS}/CodeSystem/insutype"          # 310 / 390
    MED_TYPE: Final = f"{NS}/CodeSystem/med-type"          # 11 / 21 / 41
    CATALOGUE: Final = f"{NS}/CodeSystem/catalogue"        # drug and service codes (1901)
    SETLINFO: Final = f"{NS}/CodeSystem/setlinfo"          # the national setlinfo field names
    ERROR: Final = f"{NS}/CodeSystem/error"                # the platform's stable error codes
    ERROR_REASON: Final = f"{NS}/CodeSystem/error-reason"  # an error's details.reason
    MEMBER: Final = f"{NS}/CodeSystem/member-status"       # in service / retired
    CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
    ADJUDICATION: Final = "http://terminology.hl7.org/CodeSystem/adjudication"
    COVERAGE_CLASS: Final = "http://terminology.hl7.org/CodeSystem/coverage-class"
    PROCESS_PRIORITY: Final = "http://terminology.hl7.org/CodeSystem/processpriority"
    PAYMENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
    PAYMENT_ADJUSTMENT: Final = "http://terminology.hl7.org/CodeSystem/payment-adjustment-reason"


# The national medical certificate types (1101 mdtrt_cert_type) by identifier system.
CERT_TYPES: Final = {Sid.ECARD: "01", Sid.ID_NUMBER: "02", Sid.SS_CARD: "03"}

SCHEMES: Final = {"310": ("职工基本医疗保险", "employee basic medical insurance"),
                  "390": ("城乡居民基本医疗保险", "urban-rural residents' basic medical insurance")}
MED_TYPES: Final = {"11": ("普通门诊", "ordinary outpatient"), "21": ("普通住院", "ordinary inpatient"),
                    "41": ("定点药店购药", "pharmacy purchase")}
# FHIR claim type <-> national med_type: the door settles outpatient and pharmacy visits.
CLAIM_TYPE_OF_MED_TYPE: Final = {"11": "professional", "41": "pharmacy", "21": "institutional"}
MED_TYPE_OF_CLAIM_TYPE: Final = {"professional": "11", "pharmacy": "41"}


@dataclass(frozen=True)
class Total:
    """One `setlinfo` amount as a `ClaimResponse.total` entry: its category carries the
    national field name (code system `Cs.SETLINFO`) and, where one means the same, the HL7
    adjudication code."""

    field: str
    zh: str
    en: str
    hl7: str | None = None


# Every money field of setlinfo, in the national order (domain-rules.md §3.1).
TOTALS: Final[tuple[Total, ...]] = (
    Total("medfee_sumamt", "医疗费总额", "total medical fees", "submitted"),
    Total("fulamt_ownpay_amt", "全自费金额", "fully self-paid (丙类 and out of catalogue)"),
    Total("overlmt_selfpay", "超限价自费", "self-paid above the price limit"),
    Total("preselfpay_amt", "先行自付金额", "乙类 pre-self-pay"),
    Total("inscp_scp_amt", "符合政策范围金额", "in-policy amount", "eligible"),
    Total("act_pay_dedc", "实际支付起付线", "deductible applied", "deductible"),
    Total("hifp_pay", "基本医疗保险统筹基金支出", "basic pooled fund"),
    Total("cvlserv_pay", "公务员医疗补助资金支出", "civil servant subsidy"),
    Total("hifes_pay", "企业补充医疗保险基金支出", "enterprise supplementary insurance"),
    Total("hifmi_pay", "居民大病保险资金支出", "residents' serious-illness insurance"),
    Total("hifob_pay", "职工大额医疗费用补助基金支出", "employees' large-amount subsidy"),
    Total("maf_pay", "医疗救助基金支出", "medical assistance"),
    Total("oth_pay", "其他支出", "other funds"),
    Total("fund_pay_sumamt", "基金支付总额", "all funds together", "benefit"),
    Total("hosp_part_amt", "医院负担金额", "borne by the institution"),
    Total("psn_part_amt", "个人负担总金额", "borne by the person", "copay"),
    Total("acct_pay", "个人账户支出", "paid from the personal account"),
    Total("psn_cash_pay", "个人现金支出", "paid in cash (collected by the institution)"),
    Total("acct_mulaid_pay", "个人账户共济支付金额", "family mutual-aid account"),
    Total("balc", "余额", "personal account balance after"),
)
# The one setlinfo figure that is not money: the pooled fund's ratio, in basis points.
RATIO_FIELD: Final = "pool_prop_selfpay"


class FhirInvalid(InvalidInput):
    """A posted resource that is not valid FHIR R4B, or lacks what the door needs."""

    code = "fhir_invalid"
    zh = "FHIR 资源无效：{reason_zh}"
    en = "Invalid FHIR resource: {reason_en}"


def invalid(reason_zh: str, reason_en: str) -> FhirInvalid:
    return FhirInvalid(reason_zh=reason_zh, reason_en=reason_en)


# --- money ------------------------------------------------------------------------------------

def money(amount: Fen) -> dict[str, Any]:
    """A FHIR Money for an amount in fen (the decimal is exact: 1230 -> 12.30)."""
    return {"value": Decimal(amount).scaleb(-2), "currency": CURRENCY}


def fen_of(value: Any, *, what: str) -> Fen:
    """An amount of money from the wire (a FHIR Money's value in yuan) as fen, exactly; a
    fraction of a fen, a negative amount or one above the platform's bound is refused."""
    try:
        yuan = Decimal(str(value))
    except (InvalidOperation, ValueError) as error:
        raise invalid(f"{what} 不是金额", f"{what} is not an amount") from error
    fen = yuan * FEN_PER_YUAN
    if not fen.is_finite() or fen != fen.to_integral_value() or fen < 0 or fen > MAX_AMOUNT_FEN:
        raise invalid(f"{what} 须为 0 至 {MAX_AMOUNT_FEN // FEN_PER_YUAN} 元、最多两位小数",
                      f"{what} must be 0 to {MAX_AMOUNT_FEN // FEN_PER_YUAN} CNY with at most "
                      "two decimals")
    return int(fen)


# --- references and codings -------------------------------------------------------------------

def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    return {"coding": list(codings), **({"text": text} if text else {})}


def reference(system: str, value: str, kind: str, display: str | None = None) -> dict[str, Any]:
    """A logical reference (by identifier): the door serves no Patient or Organization."""
    return {"type": kind, "identifier": {"system": system, "value": value},
            **({"display": display} if display else {})}


def patient_ref(psn_no: str) -> dict[str, Any]:
    """The patient by the person number (1101 psn_no): an answer never echoes an ID number."""
    return reference(Sid.PERSON, psn_no, "Patient")


def institution_ref(fixmedins_code: str) -> dict[str, Any]:
    return reference(Sid.INSTITUTION, fixmedins_code, "Organization")


def office_ref(admdvs: str) -> dict[str, Any]:
    """The medical insurance office of a region (the payor and insurer)."""
    return reference(Sid.OFFICE, admdvs, "Organization", f"医疗保障经办机构 {admdvs} / "
                                                         f"medical insurance office {admdvs}")


def scheme_concept(scheme: str) -> dict[str, Any]:
    zh, en = SCHEMES.get(scheme, (scheme, scheme))
    return concept(coding(Cs.INSUTYPE, scheme, zh), text=f"{zh} / {en}")


def fhir_time(moment: datetime) -> str:
    """An instant as FHIR dateTime (with its offset; the platform's times are aware)."""
    return moment.isoformat()


# --- Coverage ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoverageFacts:
    """One enrolment as the door shows it (filled from medical.service's enrolment)."""

    coverage_id: str
    psn_no: str                  # the person number (1101 psn_no): the patient's identifier
    scheme: str                  # insutype 310 / 390
    admdvs: str                  # the insured region: its office is the payor
    start: date
    end: date | None             # None: open
    retired: bool = False
    employer: str | None = None  # the employer's name (employees)


def coverage(facts: CoverageFacts) -> Coverage:
    """The FHIR Coverage of one enrolment."""
    member = ("retired", "退休", "retired") if facts.retired else ("in-service", "在职", "in service")
    classes = [
        {"type": concept(coding(Cs.COVERAGE_CLASS, "plan")), "value": facts.scheme,
         "name": SCHEMES.get(facts.scheme, (facts.scheme,))[0]},
        {"type": concept(coding(Cs.COVERAGE_CLASS, "subgroup")), "value": member[0],
         "name": f"{member[1]} / {member[2]}"},
    ]
    period: dict[str, Any] = {"start": facts.start.isoformat()}
    if facts.end is not None:
        period["end"] = facts.end.isoformat()
    data: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": facts.coverage_id,
        "identifier": [{"system": Sid.COVERAGE, "value": facts.coverage_id}],
        "status": "active",
        "type": scheme_concept(facts.scheme),
        "beneficiary": patient_ref(facts.psn_no),
        "relationship": concept(coding(
            "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "self")),
        "period": period,
        "payor": [office_ref(facts.admdvs)],
        "class": classes,
    }
    if facts.employer:
        data["policyHolder"] = {"type": "Organization", "display": facts.employer}
    return Coverage.model_validate(data)


def bundle(resources: Iterable[Any]) -> Bundle:
    """A searchset Bundle of resources. No `self` link: the search names the patient's
    credential (an ID number...), which an answer does not echo."""
    entries = [{"resource": resource, "search": {"mode": "match"}} for resource in resources]
    return Bundle.model_validate({"resourceType": "Bundle", "type": "searchset",
                                  "total": len(entries), "entry": entries})


# --- credentials --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credential:
    """A person identified as 1101 does: national certificate type and number."""

    cert_type: str   # 01 e-voucher (e-card QR) / 02 ID number / 03 social security card
    cert_no: str


def credential_of(identifier: Mapping[str, Any] | None, *, what: str) -> Credential:
    """The credential an identifier ({"system", "value"}) carries; refused unless its system is
    one of the door's three (docs/medical-fhir.md)."""
    system = (identifier or {}).get("system")
    value = (identifier or {}).get("value")
    if system not in CERT_TYPES or not value:
        allowed = ", ".join(CERT_TYPES)
        raise invalid(f"{what} 须带标识符，system 为 {allowed} 之一",
                      f"{what} needs an identifier whose system is one of {allowed}")
    return Credential(CERT_TYPES[system], str(value).strip())


def credential_of_search(token: str) -> Credential:
    """A FHIR token search value `system|value`."""
    system, bar, value = token.partition("|")
    if not bar:
        raise invalid("identifier 须为 system|value", "identifier must be system|value")
    return credential_of({"system": system, "value": value}, what="identifier")


# --- parsing posted resources ---------------------------------------------------------------------

def parse(model: type, body: bytes | str | Mapping[str, Any]):
    """A posted resource validated as `model` (an R4B resource class); FhirInvalid naming the
    first problems otherwise."""
    try:
        if isinstance(body, bytes | str):
            resource = model.model_validate_json(body)
        else:
            resource = model.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or model.__name__}: {e['msg']}"
            for e in error.errors()[:5])
        raise invalid(f"不是有效的 {model.__name__}（{problems}）",
                      f"not a valid {model.__name__} ({problems})") from error
    except ValueError as error:  # malformed JSON, or another resource type
        raise invalid(f"不是有效的 {model.__name__}", f"not a valid {model.__name__}: {error}"
                      ) from error
    return resource


def _identifier_dict(ref) -> dict[str, Any] | None:
    if ref is None or ref.identifier is None:
        return None
    return {"system": ref.identifier.system, "value": ref.identifier.value}


@dataclass(frozen=True)
class EligibilityAsk:
    """What a CoverageEligibilityRequest asks: is this person covered on this day?"""

    credential: Credential
    day: date | None               # servicedDate; None: today
    purpose: tuple[str, ...]
    fixmedins_code: str | None     # the provider, if named
    request_identifier: dict[str, Any] | None


def eligibility_ask(body: bytes | str | Mapping[str, Any]) -> EligibilityAsk:
    request = parse(CoverageEligibilityRequest, body)
    served = request.servicedDate
    if request.servicedPeriod is not None:
        raise invalid("只支持 servicedDate（单日）", "only servicedDate (one day) is supported")
    provider = _identifier_dict(request.provider)
    if provider is not None and provider["system"] != Sid.INSTITUTION:
        raise invalid(f"provider 的标识符须为 {Sid.INSTITUTION}",
                      f"the provider's identifier must be of {Sid.INSTITUTION}")
    return EligibilityAsk(
        credential=credential_of(_identifier_dict(request.patient), what="patient"),
        day=served if isinstance(served, date) else None,
        purpose=tuple(request.purpose or ("validation",)),
        fixmedins_code=provider["value"] if provider else None,
        request_identifier=({"system": request.identifier[0].system,
                             "value": request.identifier[0].value}
                            if request.identifier else None),
    )


@dataclass(frozen=True)
class Refusal:
    """Why a credential or a person was refused (a domain error's code and both messages)."""

    code: str
    zh: str
    en: str
    reason: str | None = None


@dataclass(frozen=True)
class EligibilityFacts:
    """The 2001 benefit check's outcome, for a CoverageEligibilityResponse."""

    ask: EligibilityAsk
    created: datetime
    day: date
    coverage: CoverageFacts | None = None    # the enrolment in force on the day
    refusal: Refusal | None = None           # the credential or the person refused


def eligibility_response(facts: EligibilityFacts) -> CoverageEligibilityResponse:
    """The answer to a benefit check: in force on the day with the coverage, or an error naming
    why (a card under loss refuses the credential; 01 and 02 still identify the person)."""
    ask, cov = facts.ask, facts.coverage
    data: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "status": "active",
        "purpose": list(ask.purpose),
        "servicedDate": facts.day.isoformat(),
        "created": fhir_time(facts.created),
        "request": ({"type": "CoverageEligibilityRequest", "identifier": ask.request_identifier}
                    if ask.request_identifier else
                    {"type": "CoverageEligibilityRequest", "display": "posted request / 所提交的请求"}),
        "insurer": office_ref(cov.admdvs) if cov else {"type": "Organization",
                                                       "display": "医疗保障经办机构 / medical insurance office"},
    }
    if ask.fixmedins_code:
        data["requestor"] = institution_ref(ask.fixmedins_code)
    if facts.refusal is None and cov is not None:
        data["patient"] = patient_ref(cov.psn_no)
        data["outcome"] = "complete"
        data["disposition"] = "享受待遇 / covered on the day"
        benefit_period = {"start": cov.start.isoformat(),
                          **({"end": cov.end.isoformat()} if cov.end else {})}
        # A logical reference: the door reads Coverage by credential, not by id (an id read
        # would let an institution walk through everybody's enrolments).
        data["insurance"] = [{"coverage": {"type": "Coverage", "identifier": {
                                  "system": Sid.COVERAGE, "value": cov.coverage_id},
                                  "display": SCHEMES.get(cov.scheme, (cov.scheme,))[0]},
                              "inforce": True, "benefitPeriod": benefit_period}]
    else:
        refusal = facts.refusal
        if refusal is None:  # nothing was refused, but no enrolment on the day
            refusal = Refusal("medical_not_enrolled", "当日未参保", "not enrolled on the day")
        data["patient"] = (patient_ref(cov.psn_no) if cov else
                           {"type": "Patient", "display": "the person presented / 就诊人"})
        data["outcome"] = "error"
        data["disposition"] = f"{refusal.zh} / {refusal.en}"
        data["error"] = [{"code": error_concept(refusal)}]
    return CoverageEligibilityResponse.model_validate(data)


def error_concept(refusal: Refusal) -> dict[str, Any]:
    codings = [coding(Cs.ERROR, refusal.code, refusal.en)]
    if refusal.reason:
        codings.append(coding(Cs.ERROR_REASON, refusal.reason))
    return concept(*codings, text=f"{refusal.zh} / {refusal.en}")


# --- Claim -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimLine:
    """One fee line of a Claim: a catalogue code, its quantity and its amount."""

    sequence: int
    code: str
    quantity: Decimal
    unit_price: Fen | None
    amount: Fen                   # det_item_fee_sumamt: Claim.item.net


@dataclass(frozen=True)
class ClaimAsk:
    """What a posted Claim asks: settle this visit's fee lines for this person, or cancel."""

    identifier: dict[str, str]    # the institution's own claim identifier: the idempotency key
    cancel: bool                  # status cancelled: cancel the settlement of that identifier
    med_type: str                 # 11 outpatient / 41 pharmacy
    credential: Credential
    fixmedins_code: str
    created: datetime | date
    lines: tuple[ClaimLine, ...]
    use_account: bool = True
    fingerprint: dict[str, Any] = field(default_factory=dict, compare=False)


def claim_ask(body: bytes | str | Mapping[str, Any]) -> ClaimAsk:
    """A posted Claim read into the visit it describes: an outpatient (type professional) or
    pharmacy (type pharmacy) visit, its patient by a credential, the institution as provider,
    one item per fee line with the catalogue code (Cs.CATALOGUE) and the line's net."""
    claim = parse(Claim, body)
    if claim.use != "claim":
        raise invalid("只受理 use=claim（结算）", "only use=claim (a settlement) is accepted")
    identifier = next((i for i in claim.identifier or () if i.system and i.value), None)
    if identifier is None:
        raise invalid("Claim 须有 identifier（system 与 value），作为幂等键",
                      "a Claim needs an identifier (system and value): it is the idempotency key")
    claim_type = next((c.code for c in claim.type.coding or () if c.system == Cs.CLAIM_TYPE), None)
    if claim_type not in MED_TYPE_OF_CLAIM_TYPE:
        raise invalid("type 须为 professional（门诊）或 pharmacy（药店）",
                      "type must be professional (outpatient) or pharmacy "
                      f"({Cs.CLAIM_TYPE}); inpatient goes through the institution interface")
    provider = _identifier_dict(claim.provider)
    if provider is None or provider["system"] != Sid.INSTITUTION or not provider["value"]:
        raise invalid(f"provider 须以 {Sid.INSTITUTION} 标识",
                      f"the provider must be identified by {Sid.INSTITUTION}")
    lines = tuple(_claim_line(item) for item in claim.item or ())
    cancel = claim.status == "cancelled"
    if not lines and not cancel:
        raise invalid("Claim 须至少有一条费用明细", "a Claim needs at least one item")
    if claim.total is not None and lines and fen_of(claim.total.value, what="total") != sum(
            line.amount for line in lines):
        raise invalid("total 与各明细 net 之和不符", "total differs from the sum of the items' net")
    return ClaimAsk(
        identifier={"system": identifier.system, "value": identifier.value},
        cancel=cancel,
        med_type=MED_TYPE_OF_CLAIM_TYPE[claim_type],
        credential=credential_of(_identifier_dict(claim.patient), what="patient"),
        fixmedins_code=provider["value"],
        created=claim.created,
        lines=lines,
        fingerprint=_fingerprint(body),
    )


def _fingerprint(body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """What makes two posts of one identifier the same request: the posted JSON (already
    valid) but the status (a cancel names the claim it cancels by its identifier), meta, text
    and id. From the posted JSON itself: a model_dump of the Claim costs more than reading it."""
    data = dict(json.loads(body) if isinstance(body, bytes | str) else body)
    for volatile in ("status", "meta", "text", "id"):
        data.pop(volatile, None)
    return data


def _claim_line(item) -> ClaimLine:
    codes = [c.code for c in item.productOrService.coding or () if c.system == Cs.CATALOGUE and c.code]
    if len(codes) != 1:
        raise invalid(f"第 {item.sequence} 条明细须有一个目录编码（{Cs.CATALOGUE}）",
                      f"item {item.sequence} needs exactly one catalogue code ({Cs.CATALOGUE})")
    if item.net is None:
        raise invalid(f"第 {item.sequence} 条明细缺少 net（明细金额）",
                      f"item {item.sequence} has no net (the line's amount)")
    if item.net.currency not in (None, CURRENCY) or (
            item.unitPrice is not None and item.unitPrice.currency not in (None, CURRENCY)):
        raise invalid("金额币种须为 CNY", "amounts must be in CNY")
    what = f"item {item.sequence}"
    quantity = Decimal(str(item.quantity.value)) if item.quantity and item.quantity.value is not None \
        else Decimal(1)
    if quantity <= 0:
        raise invalid(f"第 {item.sequence} 条明细数量须大于 0", f"{what}: quantity must be positive")
    return ClaimLine(
        sequence=item.sequence, code=codes[0], quantity=quantity,
        unit_price=fen_of(item.unitPrice.value, what=f"{what} unitPrice")
        if item.unitPrice is not None and item.unitPrice.value is not None else None,
        amount=fen_of(item.net.value, what=f"{what} net"),
    )


# --- ClaimResponse -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SettledLine:
    """A settled fee line: its Claim item sequence and the line as the settlement classed it
    (the catalogue's class, price limit and pre-self-pay ratio)."""

    sequence: int
    line: FeeLine


@dataclass(frozen=True)
class SettlementFacts:
    """One settlement as the door shows it (filled from medical.visits' settlement)."""

    claim_response_id: str        # the settlement's id (setl_id)
    mdtrt_id: str
    fixmedins_code: str
    psn_no: str
    admdvs: str                   # the insured region (the insurer)
    med_type: str
    settled_at: datetime
    setlinfo: Setlinfo
    policy_version: str
    lines: Sequence[SettledLine] = ()
    cancelled_at: datetime | None = None
    claim_identifier: Mapping[str, str] | None = None


def setlinfo_amounts(setlinfo: Setlinfo) -> dict[str, Fen]:
    """The money fields of a Setlinfo by national name."""
    return {total.field: int(getattr(setlinfo, total.field)) for total in TOTALS}


def total_category(total: Total) -> dict[str, Any]:
    codings = [coding(Cs.SETLINFO, total.field, f"{total.zh} / {total.en}")]
    if total.hl7:
        codings.append(coding(Cs.ADJUDICATION, total.hl7))
    return concept(*codings)


# A line's split (rules.split_lines, steps 1-2 of the calculation) as item adjudications.
LINE_ADJUDICATIONS: Final = (
    ("total", Total("medfee_sumamt", "明细金额", "the line's amount", "submitted")),
    ("fully_self_paid", TOTALS[1]),
    ("over_limit", TOTALS[2]),
    ("pre_self_pay", TOTALS[3]),
    ("in_policy", TOTALS[4]),
)


def item_adjudication(settled: SettledLine) -> dict[str, Any]:
    """One line's adjudication: its amount and how steps 1-2 of the settlement split it (the
    rules' own `split_lines`, on this line alone: its pre-self-pay is rounded per line there
    too, so the items' in-policy amounts add up to inscp_scp_amt). The funds' shares come
    after the deductible and the caps, which apply to the visit as a whole: `total` only."""
    split = split_lines([settled.line])
    return {"itemSequence": settled.sequence, "adjudication": [
        {"category": total_category(total), "amount": money(getattr(split, name))}
        for name, total in LINE_ADJUDICATIONS]}


def claim_response(facts: SettlementFacts) -> ClaimResponse:
    """The ClaimResponse of a settlement: `total` holds every setlinfo amount (category: the
    national field name, and the HL7 adjudication code where one means the same); `payment`
    is what the platform pays the institution (the funds and the personal account); the cash
    share is the institution's to collect. A cancelled settlement is status `cancelled`, its
    payment adjusted back to nothing."""
    amounts = setlinfo_amounts(facts.setlinfo)
    cancelled = facts.cancelled_at is not None
    paid = amounts["fund_pay_sumamt"] + amounts["acct_pay"]
    payment: dict[str, Any] = {
        "type": concept(coding(Cs.PAYMENT_TYPE, "complete")),
        "date": facts.settled_at.date().isoformat(),
        "amount": money(0 if cancelled else paid),
        "identifier": {"system": Sid.SETTLEMENT, "value": facts.claim_response_id},
    }
    if cancelled:
        payment["adjustment"] = {"value": -Decimal(paid).scaleb(-2), "currency": CURRENCY}
        payment["adjustmentReason"] = concept(coding(Cs.PAYMENT_ADJUSTMENT, "a001",
                                                     "Prior Payment Reversal"),
                                              text="结算已撤销 / settlement cancelled")
    ratio = Decimal(int(getattr(facts.setlinfo, RATIO_FIELD))).scaleb(-4)
    data: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": facts.claim_response_id,
        "identifier": [{"system": Sid.SETTLEMENT, "value": facts.claim_response_id},
                       {"system": Sid.VISIT, "value": facts.mdtrt_id}],
        "status": "cancelled" if cancelled else "active",
        "type": concept(coding(Cs.CLAIM_TYPE, CLAIM_TYPE_OF_MED_TYPE.get(facts.med_type,
                                                                         "professional"))),
        "subType": concept(coding(Cs.MED_TYPE, facts.med_type,
                                  MED_TYPES.get(facts.med_type, (facts.med_type,))[0])),
        "use": "claim",
        "patient": patient_ref(facts.psn_no),
        "created": fhir_time(facts.settled_at),
        "insurer": office_ref(facts.admdvs),
        "requestor": institution_ref(facts.fixmedins_code),
        "outcome": "complete",
        "disposition": ("结算已撤销 / settlement cancelled" if cancelled else "已结算 / settled"),
        "adjudication": [{
            "category": concept(coding(Cs.SETLINFO, RATIO_FIELD, "统筹基金支付比例 / pooled "
                                                                 "fund's ratio"),
                                coding(Cs.ADJUDICATION, "eligpercent")),
            "value": ratio}],
        "total": [{"category": total_category(total), "amount": money(amounts[total.field])}
                  for total in TOTALS],
        "payment": payment,
        "processNote": [{"number": 1, "type": "display",
                         "text": f"结算政策版本 / policy version: {facts.policy_version}"}],
    }
    if facts.claim_identifier:
        data["request"] = {"type": "Claim", "identifier": dict(facts.claim_identifier)}
    if facts.lines:
        data["item"] = [item_adjudication(settled) for settled in facts.lines]
    return ClaimResponse.model_validate(data)


# --- OperationOutcome ------------------------------------------------------------------------------

# FHIR issue type (http://hl7.org/fhir/issue-type) by the answer's HTTP status.
ISSUE_TYPES: Final = {400: "business-rule", 401: "login", 402: "business-rule", 403: "forbidden",
                      404: "not-found", 405: "not-supported", 409: "conflict", 410: "deleted",
                      413: "too-long", 415: "not-supported", 422: "invalid", 423: "lock-error",
                      429: "throttled"}


def operation_outcome(problem: Mapping[str, Any]) -> OperationOutcome:
    """The OperationOutcome of an error answer (the platform's problem: code, zh and en titles,
    status, details): the stable code as a coding of Cs.ERROR, a details.reason as one of
    Cs.ERROR_REASON, both languages in the text."""
    status = int(problem.get("status") or 500)
    details = problem.get("details") or {}
    codings = [coding(Cs.ERROR, str(problem.get("code") or "error"), problem.get("title_en"))]
    if isinstance(details.get("reason"), str):
        codings.append(coding(Cs.ERROR_REASON, details["reason"]))
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": ISSUE_TYPES.get(status, "exception" if status >= 500 else "processing"),
        "details": concept(*codings, text=str(problem.get("detail") or problem.get("title") or "")),
    }
    diagnostics = [f"{key}={value}" for key, value in details.items()
                   if key not in ("reason",) and isinstance(value, str | int | bool)]
    if diagnostics:
        issue["diagnostics"] = "; ".join(diagnostics)
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})


def to_json(resource: Any) -> bytes:
    """The FHIR JSON of a resource (fhir.resources' own serialisation: no nulls, FHIR order)."""
    return resource.model_dump_json().encode()


# --- CapabilityStatement -------------------------------------------------------------------------

def capability_statement(*, base_url: str, software_version: str, date_text: str):
    """What the door serves (GET [base]/metadata), for FHIR clients that ask first."""
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    def resource(kind: str, interactions: list[str], profile_note: str,
                 search: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": kind, "documentation": profile_note,
                                 "interaction": [{"code": code} for code in interactions]}
        if search:
            entry["searchParam"] = search
        return entry

    return CapabilityStatement.model_validate({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date_text,
        "publisher": "Yikatong 江苏（常州）一卡通",
        "kind": "instance",
        "software": {"name": "yikatong", "version": software_version},
        "implementation": {"description": "医保 FHIR 接口 / medical insurance FHIR door",
                           "url": base_url},
        "fhirVersion": "4.3.0",
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": "docs/medical-fhir.md: identifier and code systems, the setlinfo "
                             "to ClaimResponse mapping, idempotency and cancellation",
            "security": {"description": "Bearer token (POST /api/v1/auth/token) or X-API-Key of "
                                        "a designated institution or the medical insurance "
                                        "office"},
            "resource": [
                resource("Coverage", ["search-type"],
                         "A person's enrolments, searched by a credential (identifier)",
                         [{"name": "identifier", "type": "token",
                           "documentation": "system|value, system one of "
                                            + ", ".join(CERT_TYPES)}]),
                resource("CoverageEligibilityRequest", ["create"],
                         "The benefit check (2001): answers a CoverageEligibilityResponse"),
                resource("Claim", ["create"],
                         "Settle an outpatient or pharmacy visit, or cancel it (status "
                         "cancelled): answers the ClaimResponse; idempotent by identifier"),
                resource("ClaimResponse", ["read"], "A settlement as it stands now"),
            ],
        }],
    })
