"""The FHIR door's use cases: a posted resource in, the medical services called, a resource out.

Every figure and every decision comes from the services the national interface uses too
(`medical.service.check_insured`, identify's lookup, for 1101/2001, `medical.visits` for 2201/2204/2207/2208); this
module only reads requests (`medical.fhir`), scopes them to the acting institution, and turns
the services' answers into resources.

A Claim is settled as the national interface would: an outpatient visit registered (2201),
its fee lines uploaded (2204) and settled (2207); a pharmacy purchase in one call (2102). Each
call carries a message id derived from the Claim, so a retry after a failure anywhere repeats
the same messages, which the services answer as the first time without changing anything; a
refused upload or settlement has what landed reversed (2601). The Claim's identifier is also remembered (the
platform's idempotency records, scope `medical.fhir.claim:{fixmedins_code}`) with the
settlement it produced: the same identifier again answers that settlement's ClaimResponse as
it stands now, a different Claim under the same identifier is refused (409).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from yikatong.core.actor import Actor, Role
from yikatong.core.errors import ConcurrentChange, Conflict, DomainError, Forbidden, NotFound
from yikatong.db.idempotency import IdempotencyRecord, request_fingerprint
from yikatong.db.uow import UnitOfWork
from yikatong.medical import fhir, models, service, visits
from yikatong.medical.errors import (
    CredentialRefused,
    InstitutionInactive,
    InsuredNotFound,
    NotAnInstitution,
    NotEnrolled,
    SettlementCancelled,
    UnknownCertType,
)
from yikatong.medical.rules import FeeLine, ItemClass, Setlinfo
from yikatong.platform import Platform

# The refusals a benefit check answers inside a CoverageEligibilityResponse (outcome error)
# rather than as an error of the request.
ELIGIBILITY_REFUSALS = (CredentialRefused, NotEnrolled, InsuredNotFound, UnknownCertType)


class ProviderNotYou(Forbidden):
    code = "fhir_provider_not_you"
    zh = "请求中的定点医药机构（provider）不是当前登录的机构"
    en = "The provider named in the request is not the institution signed in"


def acting_institution(uow: UnitOfWork, actor: Actor) -> str | None:
    """The fixmedins_code of the institution acting (registered and not suspended), or None
    for the medical insurance office (which sees every institution's visits)."""
    if actor.role is Role.MEDICAL_OFFICE:
        return None
    institution = service.institution_of(uow, actor)
    if not institution.active:
        raise InstitutionInactive(code=institution.code)
    return institution.code


def _check_provider(institution: str | None, named: str | None) -> None:
    if institution is not None and named is not None and named != institution:
        raise ProviderNotYou()


def coverage_facts(view: service.EnrolmentView) -> fhir.CoverageFacts:
    return fhir.CoverageFacts(coverage_id=str(view.id), psn_no=view.psn_no, scheme=view.scheme,
                              admdvs=view.insured_admdvs, start=view.start_date,
                              end=view.end_date, retired=view.retired,
                              employer=view.employer_name)


def search_coverage(*, platform: Platform, actor: Actor, credential: fhir.Credential,
                    day: date | None = None) -> list:
    """The enrolments of the person a credential identifies, enrolled on `day` (today): every
    period of theirs, oldest first. Nobody behind the credential, or not enrolled that day:
    none (a search that matches nothing). A credential that may not be used is refused with
    its reason (CredentialRefused), as at 1101."""
    with platform.uow() as uow:
        acting_institution(uow, actor)
        try:
            person_id, _, _ = service.check_insured(uow=uow, cert_type=credential.cert_type,
                                                    cert_no=credential.cert_no,
                                                    day=day or service.today(uow))
        except (InsuredNotFound, NotEnrolled):
            return []
        return [fhir.coverage(coverage_facts(view))
                for view in service.enrolments(uow=uow, person_id=person_id)]


def check_eligibility(*, platform: Platform, actor: Actor, body: bytes):
    """The benefit check (2001) of a CoverageEligibilityRequest: the person behind the
    credential enrolled on the day asked (today without one). A refused credential (a card
    under loss...), an unknown person or no enrolment that day is the response's error, with
    the reason; the request itself is refused only when malformed or not the caller's."""
    ask = fhir.eligibility_ask(body)
    with platform.uow() as uow:
        _check_provider(acting_institution(uow, actor), ask.fixmedins_code)
        day = ask.day or service.today(uow)
        try:
            _, enrolment, _ = service.check_insured(uow=uow, cert_type=ask.credential.cert_type,
                                                    cert_no=ask.credential.cert_no, day=day)
        except ELIGIBILITY_REFUSALS as refused:
            refusal = fhir.Refusal(refused.code, refused.message_zh, refused.message_en,
                                   reason=refused.details.get("reason"))
            return fhir.eligibility_response(fhir.EligibilityFacts(ask, uow.now(), day,
                                                                   refusal=refusal))
        return fhir.eligibility_response(fhir.EligibilityFacts(
            ask, uow.now(), day, coverage=coverage_facts(enrolment)))


# --- Claim and ClaimResponse ---------------------------------------------------------------

CLAIM_SCOPE = "medical.fhir.claim:{institution}"  # identifier -> the settlement it made
CLAIM_OF_SCOPE = "medical.fhir.claim-of"           # setl_id -> the Claim's identifier


class ClaimNotSettled(NotFound):
    code = "fhir_claim_not_settled"
    zh = "该 Claim 标识符没有对应的结算，无法撤销"
    en = "No settlement was made for this Claim identifier: there is nothing to cancel"

    def __init__(self) -> None:
        super().__init__(what="Claim")


def _claim_key(identifier: Mapping[str, str]) -> str:
    """The idempotency key of a Claim identifier (any length: hashed to fit the key column)."""
    text = f"{identifier['system']}|{identifier['value']}"
    return hashlib.sha256(text.encode()).hexdigest()


def message_id(institution: str, ask: fhir.ClaimAsk, step: str, attempt: int = 0) -> str:
    """The national message id (msgid, 30 characters) of one step of a Claim: `F`, the step
    (R register, U upload, S settle, P pharmacy purchase, X/Y reversals, C cancel) and 28
    characters of a hash of the institution, the Claim (identifier and content) and the
    attempt. The same Claim retried repeats the same messages."""
    text = f"{institution}|{_claim_key(ask.identifier)}|{request_fingerprint(ask.fingerprint)}"
    digest = hashlib.sha256(f"{text}|{attempt}".encode()).digest()
    return f"F{step}" + base64.b32encode(digest).decode()[:28]


def submit_claim(*, platform: Platform, actor: Actor, body: bytes):
    """Settle the visit a Claim describes (or cancel it: status cancelled), idempotent by the
    Claim's identifier; the ClaimResponse of that settlement as it stands now."""
    ask = fhir.claim_ask(body)
    scope_key = None
    with platform.uow() as uow:
        institution = acting_institution(uow, actor)
        if institution is None:
            raise NotAnInstitution()
        _check_provider(institution, ask.fixmedins_code)
        scope_key = (CLAIM_SCOPE.format(institution=institution), _claim_key(ask.identifier))
        stored = uow.replay(*scope_key, ask.fingerprint)
    if stored is None:
        if ask.cancel:
            raise ClaimNotSettled()
        setl_id = settle_claim(platform=platform, actor=actor, institution=institution, ask=ask)
        _remember(platform, scope_key, ask, setl_id)
    else:
        setl_id = stored["setl_id"]
    if ask.cancel:
        cancel_claim(platform=platform, actor=actor, institution=institution, ask=ask,
                     setl_id=setl_id)
    return read_claim_response(platform=platform, actor=actor, claim_response_id=setl_id)


def _remember(platform: Platform, scope_key: tuple[str, str], ask: fhir.ClaimAsk,
              setl_id: str) -> None:
    """Keep the Claim's identifier -> settlement, and back. A retry that overtook this one
    (same identifier, same messages, same settlement) may have kept it first: then checked."""
    with platform.uow() as uow:
        uow.remember(*scope_key, ask.fingerprint, {"setl_id": setl_id})
        uow.remember(CLAIM_OF_SCOPE, setl_id, setl_id, dict(ask.identifier))
        try:
            uow.commit()
        except (IntegrityError, ConcurrentChange):
            with platform.uow() as again:
                if again.replay(*scope_key, ask.fingerprint) is None:
                    raise


def read_claim_response(*, platform: Platform, actor: Actor, claim_response_id: str):
    """The ClaimResponse of a settlement: the office any, an institution its own (another
    institution's settlement is not found, like one that does not exist)."""
    with platform.uow(read_only=True) as uow:
        acting_institution(uow, actor)
        settlement = visits.get_settlement(uow=uow, actor=actor, setl_id=claim_response_id)
        lines = visits.visit_lines(uow=uow, actor=actor, mdtrt_id=settlement.mdtrt_id)
        claim = uow.session.execute(select(IdempotencyRecord.response).where(
            IdempotencyRecord.scope == CLAIM_OF_SCOPE,
            IdempotencyRecord.key == settlement.setl_id)).scalar_one_or_none()
        return fhir.claim_response(settlement_facts(settlement, lines, claim))


def settlement_facts(settlement: visits.SettlementView, lines: Sequence[visits.FeeLineView],
                     claim_identifier: Mapping[str, str] | None) -> fhir.SettlementFacts:
    """What a ClaimResponse shows of a settlement. Its items are the visit's fee lines (an
    outpatient or pharmacy visit is settled once: a cancelled settlement's lines are the
    visit's again, and still the ones it settled)."""
    return fhir.SettlementFacts(
        claim_response_id=settlement.setl_id, mdtrt_id=settlement.mdtrt_id,
        fixmedins_code=settlement.fixmedins_code, psn_no=settlement.psn_no,
        admdvs=settlement.insuplc_admdvs, med_type=settlement.med_type,
        settled_at=settlement.settled_at, setlinfo=Setlinfo(**settlement.setlinfo),
        policy_version=settlement.policy_version,
        lines=[fhir.SettledLine(_sequence(line.feedetl_sn, n), FeeLine(
            code=line.code, item_class=ItemClass(line.item_class), amount=line.amount,
            price_limit=line.price_limit, pre_self_pay_bp=line.pre_self_pay_bp))
            for n, line in enumerate(lines, start=1)],
        cancelled_at=settlement.cancelled_at if settlement.state == "cancelled" else None,
        claim_identifier=claim_identifier)


def _sequence(feedetl_sn: str, position: int) -> int:
    """The Claim item's sequence: the fee line's serial as the door uploaded it, else (a line
    uploaded through the national interface) its position."""
    return int(feedetl_sn) if feedetl_sn.isdigit() and 0 < int(feedetl_sn) < 2**31 else position


MAX_ATTEMPTS = 20  # refused tries of one Claim (each reversed) before the identifier is spent


class ClaimAttemptsExhausted(Conflict):
    code = "fhir_claim_attempts_exhausted"
    zh = "该 Claim 已被拒绝 {attempts} 次，请使用新的标识符"
    en = "This Claim was refused {attempts} times; use a new identifier"


def fee_inputs(ask: fhir.ClaimAsk) -> list[visits.FeeInput]:
    """The Claim's items as fee detail lines (2204): the item's sequence is the line's serial;
    a whole quantity, and a unit price (given, or the net over the quantity, exactly)."""
    lines = []
    for line in ask.lines:
        quantity = int(line.quantity) if line.quantity == line.quantity.to_integral_value() else 0
        if quantity < 1:
            raise fhir.invalid(f"第 {line.sequence} 条明细的数量须为正整数",
                               f"item {line.sequence}: the quantity must be a whole number")
        unit_price = line.unit_price if line.unit_price is not None else line.amount // quantity
        if unit_price * quantity != line.amount:
            raise fhir.invalid(f"第 {line.sequence} 条明细 net 须等于数量 × 单价",
                               f"item {line.sequence}: net must be quantity × unitPrice")
        lines.append(visits.FeeInput(feedetl_sn=str(line.sequence), code=line.code,
                                     quantity=quantity, unit_price=unit_price, amount=line.amount))
    return lines


def settle_claim(*, platform: Platform, actor: Actor, institution: str, ask: fhir.ClaimAsk) -> str:
    """Settle the Claim's visit through medical.visits; its setl_id.

    A pharmacy purchase is one call (2102: visit, lines and settlement in one transaction).
    An outpatient visit is three (2201 register, 2204 upload, 2207 settle), each committed by
    the service: if upload or settle is refused, what landed is reversed (2601), so a refused
    Claim leaves no open visit behind; the next post of it is a new attempt with new message
    ids. A try that stopped without an answer (a crash) is taken up again by the same
    messages: the services answer the landed ones as the first time."""
    lines = fee_inputs(ask)
    credential = {"cert_type": ask.credential.cert_type, "cert_no": ask.credential.cert_no}
    total = sum(line.amount for line in ask.lines)
    if ask.med_type == "41":
        with platform.uow() as uow:
            return visits.purchase(uow=uow, actor=actor, msgid=message_id(institution, ask, "P"),
                                   lines=lines, use_account=ask.use_account,
                                   medfee_sumamt=total, **credential).setl_id
    attempt = _live_attempt(platform, institution, ask)

    def msgid(step: str) -> str:
        return message_id(institution, ask, step, attempt)

    with platform.uow() as uow:
        visit = visits.register(uow=uow, actor=actor, msgid=msgid("R"), med_type=ask.med_type,
                                **credential)
    try:
        with platform.uow() as uow:
            visits.upload_fees(uow=uow, actor=actor, msgid=msgid("U"), mdtrt_id=visit.mdtrt_id,
                               lines=lines)
        with platform.uow() as uow:
            return visits.settle(uow=uow, actor=actor, msgid=msgid("S"), mdtrt_id=visit.mdtrt_id,
                                 use_account=ask.use_account, medfee_sumamt=total,
                                 **credential).setl_id
    except DomainError:
        for step, original, infno in (("X", "U", "2204"), ("Y", "R", "2201")):
            with platform.uow() as uow:
                visits.reverse(uow=uow, actor=actor, msgid=msgid(step), omsgid=msgid(original),
                               oinfno=infno)
        raise


def _live_attempt(platform: Platform, institution: str, ask: fhir.ClaimAsk) -> int:
    """The first attempt of this Claim whose registration was not reversed."""
    with platform.uow(read_only=True) as uow:
        for attempt in range(MAX_ATTEMPTS):
            reversed_ = uow.session.execute(select(models.HandledMessage.reversed).where(
                models.HandledMessage.fixmedins_code == institution,
                models.HandledMessage.msgid == message_id(institution, ask, "R", attempt))
            ).scalar_one_or_none()
            if not reversed_:
                return attempt
    raise ClaimAttemptsExhausted(attempts=MAX_ATTEMPTS)


def cancel_claim(*, platform: Platform, actor: Actor, institution: str, ask: fhir.ClaimAsk,
                 setl_id: str) -> None:
    """Cancel the Claim's settlement (2208); already cancelled (through either door): done."""
    with platform.uow(read_only=True) as uow:
        settlement = visits.get_settlement(uow=uow, actor=actor, setl_id=setl_id)
    if settlement.state == "cancelled":
        return
    try:
        with platform.uow() as uow:
            visits.cancel(uow=uow, actor=actor, msgid=message_id(institution, ask, "C"),
                          setl_id=setl_id, mdtrt_id=settlement.mdtrt_id)
    except SettlementCancelled:  # cancelled meanwhile through the national interface
        pass
