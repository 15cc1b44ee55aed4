"""The medical insurance domain's pages (mounted at the site root; see yikatong.pages).

* The holder (`/me/medical`): the enrolment in words, the personal account and its credits,
  every visit's settlement (what the fund paid, the account, the cash, the balance after) and
  this year's running totals against the policy's caps.
* A designated institution's staff (Role.MEDICAL_INSTITUTION, `Actor.branch_code` = its
  fixmedins_code): the institution's day (`/medical/institution`) and one settlement's slip,
  printable, with the national setlinfo figures in words; only their own institution's.
* The medical insurance office (Role.MEDICAL_OFFICE): a person's enrolment and year totals
  (the ID number masked until a reason is given, as people/web.py), enrolment and the change
  from in service to retired, and the fund's day across the institutions.

Every figure comes from `medical.service` (enrolments, accounts, totals, settlements as the
visit recorded them); the pages compute nothing but sums of what they list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import RowId, current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.medical import filing_pages
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)
router.include_router(filing_pages.router)  # /me/medical/filings

SETTLEMENTS_SHOWN = 50

# The national setlinfo fields (2207 / 2304) in words, in the order a slip reads them.
SETLINFO_WORDS: tuple[tuple[str, str, str], ...] = (
    ("medfee_sumamt", "医疗费用总额", "total medical fees"),
    ("fulamt_ownpay_amt", "全自费金额", "fully self-paid (class C and out of catalogue)"),
    ("overlmt_selfpay", "超限价自费", "self-paid above the price limit"),
    ("preselfpay_amt", "先行自付金额", "pre-self-paid (class B)"),
    ("inscp_scp_amt", "符合政策范围金额", "amount within the policy"),
    ("act_pay_dedc", "实际支付起付线", "deductible paid"),
    ("hifp_pay", "基本医疗保险统筹基金支出", "basic medical insurance pooled fund"),
    ("cvlserv_pay", "公务员医疗补助资金支出", "civil servants' medical subsidy"),
    ("hifes_pay", "企业补充医疗保险基金支出", "enterprise supplementary insurance"),
    ("hifmi_pay", "居民大病保险资金支出", "residents' serious-illness insurance"),
    ("hifob_pay", "职工大额医疗费用补助基金支出", "employees' large-amount subsidy"),
    ("maf_pay", "医疗救助基金支出", "medical assistance"),
    ("oth_pay", "其他支出", "other funds"),
    ("fund_pay_sumamt", "基金支付总额", "paid by the funds in all"),
    ("hosp_part_amt", "医院负担金额", "borne by the hospital"),
    ("psn_part_amt", "个人负担总金额", "the person's share in all"),
    ("acct_pay", "个人账户支出", "paid from the personal account"),
    ("psn_cash_pay", "个人现金支出", "paid in cash"),
    ("acct_mulaid_pay", "个人账户共济支付金额", "personal account, family mutual aid"),
    ("balc", "余额（个人账户）", "personal account balance after"),
)
MED_TYPES = {"11": ("普通门诊", "outpatient"), "21": ("普通住院", "inpatient"),
             "41": ("定点药店购药", "pharmacy purchase")}
SETTLEMENT_STATES = {"settled": ("已结算", "settled"), "cancelled": ("已撤销", "cancelled")}
VISIT_STATES = {"open": ("就诊中", "open"), "discharged": ("已出院", "discharged"),
                "settled": ("已结算", "settled"), "cancelled": ("已撤销", "cancelled")}
CROSS_REGION = {"local": ("本地就医", "in the insured region"),
                "long_term": ("异地长期居住（已备案）", "elsewhere, long-term residence filed"),
                "temporary": ("异地临时外出（已备案）", "elsewhere, temporary stay filed"),
                "not_filed": ("异地就医（未备案）", "elsewhere, not filed"),
                "emergency": ("异地急诊", "emergency elsewhere")}
CERT_TYPES = {"01": ("医保电子凭证", "e-voucher"), "02": ("居民身份证", "ID card"),
              "03": ("社会保障卡", "social security card")}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    return message


@dataclass(frozen=True)
class Caps:
    """The policy's yearly figures that apply to one enrolment (for showing progress)."""

    policy_version: str
    outpatient_cap: int
    inpatient_cap: int


def _caps(day: date, enrolment) -> Caps | None:
    """The outpatient and inpatient pooled-fund caps of the policy in force on `day` for the
    enrolment's scheme and in-service/retired status (None without an enrolment)."""
    from yikatong.medical.policy import policy_in_force
    from yikatong.medical.rules import Scheme

    if enrolment is None:
        return None
    policy = policy_in_force(day)
    scheme = policy.scheme(Scheme(enrolment.scheme))
    outpatient = scheme.outpatient
    return Caps(policy.version,
                outpatient.annual_cap_retired if enrolment.retired else outpatient.annual_cap,
                scheme.inpatient.annual_cap)


def _day(text: str | None, today: date) -> date:
    """A day typed in a query or form (YYYY-MM-DD); today when left out."""
    if not text:
        return today
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="the day must be YYYY-MM-DD") from None


def _words(**extra) -> dict:
    return {"setlinfo_words": SETLINFO_WORDS, "med_types": MED_TYPES,
            "settlement_states": SETTLEMENT_STATES, "visit_states": VISIT_STATES,
            "cross_region": CROSS_REGION, "cert_types": CERT_TYPES, **extra}


# --- the holder --------------------------------------------------------------------------------


@router.get("/me/medical")
def my_medical(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    """The holder's medical insurance: enrolment, personal account, visits, the year."""
    record = None
    if actor.person_id is not None:  # a login not yet tied to a person has no insurance
        with platform.uow(read_only=True) as uow:
            record = _person_record(uow, actor, actor.person_id)
    return render(request, "medical/my_medical.html", _words(record=record))


@dataclass(frozen=True)
class PersonRecord:
    today: date
    psn_no: str | None
    enrolment: object | None      # service.EnrolmentView in force today
    periods: list                 # every enrolment period, newest first
    balance: int
    credits: list                 # ledger statement lines of the account's credits, newest first
    settlements: list             # service.SettlementView, newest first
    totals: object                # rules.YearTotals of this year
    caps: Caps | None
    filings: list                 # chronic/special disease filings
    institutions: dict            # code → service.InstitutionView (for the names)
    cross_filings: list           # crossregion.FilingView: cross-region filings, newest first


def _person_record(uow, actor: Actor, person_id: int) -> PersonRecord:
    """A person's medical record as `actor` may read it (the holder their own: the settlements
    through visits.settlements, which scopes them)."""
    from yikatong.ledger import service as ledger
    from yikatong.medical import crossregion, service, visits

    today = service.today(uow)
    psn_no = service.psn_no_of(uow=uow, person_id=person_id)
    enrolment = service.enrolment_on(uow=uow, person_id=person_id, day=today)
    credits = []
    if psn_no is not None:
        statement = ledger.statement(uow=uow, code=service.account_code(person_id))
        credits = [line for line in reversed(statement.lines) if line.amount > 0
                   and line.kind == service.ACCOUNT_CREDIT_KIND]
    return PersonRecord(
        today=today, psn_no=psn_no, enrolment=enrolment,
        periods=list(reversed(service.enrolments(uow=uow, person_id=person_id))),
        balance=service.account_balance(uow=uow, person_id=person_id), credits=credits,
        settlements=_newest(visits.settlements(uow=uow, actor=actor, person_id=person_id)),
        institutions=_institutions(uow),
        totals=service.year_totals(uow=uow, person_id=person_id, year=today.year),
        caps=_caps(today, enrolment), filings=service.filings(uow=uow, person_id=person_id),
        cross_filings=list(reversed(crossregion.filings(uow=uow, person_id=person_id))))


def _newest(settlements: list) -> list:
    return list(reversed(settlements))[:SETTLEMENTS_SHOWN]


def _institutions(uow) -> dict:
    from yikatong.medical import service

    return {view.code: view for view in service.list_institutions(uow=uow)}


@dataclass(frozen=True)
class Slip:
    """One settlement (visits.SettlementView) with what its slip says around the figures."""

    settlement: object
    institution: object  # service.InstitutionView
    patient_name: str

    @property
    def settled_day(self) -> date:
        from yikatong.core.clock import local_date

        return local_date(self.settlement.settled_at)

    @property
    def scheme_words(self) -> tuple[str, str]:
        from yikatong.medical.service import SCHEMES

        insutype = self.settlement.insutype
        return SCHEMES.get(insutype, (insutype, insutype))

    @property
    def ratio_text(self) -> str:
        """pool_prop_selfpay (basis points) as a percentage: 9000 → 90%, 8750 → 87.5%."""
        whole, part = divmod(self.settlement.setlinfo["pool_prop_selfpay"], 100)
        return f"{whole}%" if not part else f"{whole}.{part:02d}".rstrip("0") + "%"


def _slip(uow, actor: Actor, setl_id: str) -> Slip:
    """The settlement as visits.get_settlement lets `actor` see it (an institution its own,
    the holder theirs; another's is not found)."""
    from yikatong.medical import service, visits
    from yikatong.people.service import get_person

    settlement = visits.get_settlement(uow=uow, actor=actor, setl_id=setl_id)
    return Slip(settlement, service.get_institution(uow=uow, code=settlement.fixmedins_code),
                get_person(uow=uow, person_id=settlement.person_id).name)


@router.get("/me/medical/settlements/{setl_id}")
def my_slip(request: Request, setl_id: str, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    """The holder's own settlement slip."""
    with platform.uow(read_only=True) as uow:
        slip = _slip(uow, actor, setl_id)
    return render(request, "medical/slip.html", _words(slip=slip, back="/me/medical"))


# --- the designated institution ---------------------------------------------------------------


@router.get("/medical/institution")
def institution_day(request: Request, day: str | None = None,
                    actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    """The institution's day: its visits and settlements of the day, with the totals."""
    from yikatong.medical import service

    with platform.uow(read_only=True) as uow:
        today = service.today(uow)
        error, shown = None, today
        try:
            shown = _day(day, today)
        except DomainError as refused:
            error = refused
        the_day = service.institution_day(uow=uow, actor=actor, day=shown)
    return render(request, "medical/institution_day.html", _words(
        institution=the_day.institution, day=the_day, today=today, error=error),
        status_code=error.http_status if error else 200)


@router.get("/medical/institution/settlements/{setl_id}")
def settlement_slip(request: Request, setl_id: str, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    """The settlement slip (结算单) of one settlement of the institution's, to print for the
    patient: every setlinfo figure in words."""
    from yikatong.medical import service

    with platform.uow(read_only=True) as uow:
        service.institution_of(uow, actor)  # a staff login without its institution is refused
        slip = _slip(uow, actor, setl_id)
    return render(request, "medical/slip.html", _words(
        slip=slip, back=f"/medical/institution?day={slip.settled_day.isoformat()}"))


# --- the medical insurance office --------------------------------------------------------------


@router.get("/medical/office/people")
def office_search(request: Request, actor: Actor = Depends(current_actor)):
    return render(request, "medical/office_search.html", {"q": "", "error": None})


@router.post("/medical/office/people")
def office_find(request: Request, q: str = Form(default="", max_length=40),
                actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    """Find an insured person by the full ID number or the national person number (psn_no).
    A POST: the number typed stays out of URLs, the history and access logs."""
    from yikatong.medical import service
    from yikatong.medical.errors import InsuredNotFound
    from yikatong.people.service import find_person_by_ssn

    query = q.strip()
    person_id = None
    with platform.uow(read_only=True) as uow:
        if query:
            person_id = service.person_by_psn_no(uow=uow, psn_no=query)
            if person_id is None:
                found = find_person_by_ssn(uow=uow, ssn=query)
                person_id = found.id if found else None
    if person_id is None:
        error = InsuredNotFound(cert_type_zh="证件号码或人员编号", cert_type_en="ID or person number") \
            if query else InvalidInput(reason_zh="请输入证件号码或人员编号",
                                       reason_en="enter an ID number or a person number")
        return render(request, "medical/office_search.html", {"q": query, "error": error},
                      status_code=error.http_status)
    return RedirectResponse(f"/medical/office/people/{person_id}", status_code=303)


REASONS = ("holder_present", "agent_present", "official_request")


def _office_person(request: Request, platform: Platform, actor: Actor, person_id: int, *,
                   disclosed=None, error: DomainError | None = None, status_code: int = 200,
                   form: dict | None = None):
    from yikatong.people import privacy
    from yikatong.people.service import get_person
    from yikatong.people.web import REASON_WORDS

    with platform.uow(read_only=True) as uow:
        person = get_person(uow=uow, person_id=person_id)
        whole = privacy.sees_whole(uow, actor)
        record = _person_record(uow, actor, person_id)
    shown = disclosed or (person if whole else privacy.masked(person))
    reasons = [(reason.value, REASON_WORDS[reason]) for reason in privacy.DisclosureReason
               if reason.value in REASONS]
    today = record.today.isoformat()
    return render(request, "medical/office_person.html", _words(
        person=shown, masked=not whole and disclosed is None, disclosed=disclosed is not None,
        record=record, error=error, reasons=reasons,
        form={"scheme": "310", "insured_admdvs": "320402", "employer_uscc": "",
              "employer_name": "", "start_date": today, "retired": "", "retire_on": today}
        | (form or {}),
        schemes={"310": ("职工基本医疗保险", "employee basic medical insurance"),
                 "390": ("城乡居民基本医疗保险", "urban-rural residents' basic medical insurance")}),
        status_code=status_code)


@router.get("/medical/office/people/{person_id}")
def office_person(request: Request, person_id: RowId, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    return _office_person(request, platform, actor, person_id)


@router.post("/medical/office/people/{person_id}/disclosures")
def office_disclose(request: Request, person_id: RowId, reason_code: str = Form(default=""),
                    note: str = Form(default="", max_length=200),
                    actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    """The person's record whole once, for a reason (people.service.disclose_person: audited
    with who read it and why); the answer is the page itself, not a redirect."""
    from pydantic import ValidationError

    from yikatong.auth.throttle import throttle_of
    from yikatong.pages.counter import refused_input
    from yikatong.people import service as people
    from yikatong.people.schemas import DisclosureIn

    try:
        if reason_code not in REASONS:
            raise InvalidInput(reason_zh="请选择查看原因", reason_en="choose a reason")
        body = DisclosureIn.model_validate({"reason_code": reason_code, "note": note.strip()})
        throttle_of(platform).hit("personal_data_disclosure",
                                  f"user:{actor.account_id or actor.user_id}")
        with platform.uow() as uow:
            view, _jpeg = people.disclose_person(uow=uow, actor=actor, person_id=person_id,
                                                 reason_code=body.reason_code, note=body.note)
            uow.commit()
    except ValidationError as invalid:
        error = refused_input(invalid)
        return _office_person(request, platform, actor, person_id, error=error,
                              status_code=error.http_status)
    except DomainError as error:
        return _office_person(request, platform, actor, person_id, error=error,
                              status_code=error.http_status)
    return _office_person(request, platform, actor, person_id, disclosed=view)


@router.post("/medical/office/people/{person_id}/enrolments")
def office_enrol(request: Request, person_id: RowId,
                 scheme: str = Form(default="", max_length=3),
                 insured_admdvs: str = Form(default="", max_length=6),
                 retired: str = Form(default="", max_length=3),
                 employer_uscc: str = Form(default="", max_length=18),
                 employer_name: str = Form(default="", max_length=128),
                 start_date: str = Form(default="", max_length=10),
                 actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    """Enrol the person from a day (service.enrol: a period open then is closed the day
    before)."""
    from yikatong.medical import service

    entered = {"scheme": scheme, "insured_admdvs": insured_admdvs, "retired": retired,
               "employer_uscc": employer_uscc, "employer_name": employer_name,
               "start_date": start_date}
    try:
        with platform.uow() as uow:
            service.enrol(uow=uow, actor=actor, person_id=person_id, scheme=scheme,
                          insured_admdvs=insured_admdvs.strip(),
                          start_date=_day(start_date, service.today(uow)),
                          retired=retired == "yes",
                          employer_uscc=employer_uscc.strip().upper() or None,
                          employer_name=employer_name.strip() or None)
            uow.commit()
    except DomainError as error:
        return _office_person(request, platform, actor, person_id, error=error, form=entered,
                              status_code=error.http_status)
    return RedirectResponse(f"/medical/office/people/{person_id}#enrolment", status_code=303)


@router.post("/medical/office/people/{person_id}/retirement")
def office_retire(request: Request, person_id: RowId,
                  retire_on: str = Form(default="", max_length=10),
                  actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    """An employee in service retires: a new period from `retire_on`, the same scheme, region
    and employer, retired (service.enrol closes the period in service the day before)."""
    from yikatong.medical import service
    from yikatong.medical.errors import NoOpenEnrolment

    try:
        with platform.uow() as uow:
            day = _day(retire_on, service.today(uow))
            current = service.enrolment_on(uow=uow, person_id=person_id, day=day)
            if current is None or current.end_date is not None:
                raise NoOpenEnrolment()
            service.enrol(uow=uow, actor=actor, person_id=person_id, scheme=current.scheme,
                          insured_admdvs=current.insured_admdvs, start_date=day, retired=True,
                          employer_uscc=current.employer_uscc, employer_name=current.employer_name,
                          assistance=current.assistance)
            uow.commit()
    except DomainError as error:
        return _office_person(request, platform, actor, person_id, error=error,
                              form={"retire_on": retire_on}, status_code=error.http_status)
    return RedirectResponse(f"/medical/office/people/{person_id}#enrolment", status_code=303)


@router.get("/medical/office/day")
def fund_day(request: Request, day: str | None = None, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    """The fund's day across the designated institutions: each institution's settlements and
    what the fund, the personal accounts and the patients paid."""
    from yikatong.medical import service

    with platform.uow(read_only=True) as uow:
        today = service.today(uow)
        error, shown = None, today
        try:
            shown = _day(day, today)
        except DomainError as refused:
            error = refused
        rows = service.fund_day(uow=uow, day=shown)
    return render(request, "medical/fund_day.html", _words(
        day=shown, today=today, rows=rows, total=service.DayTotals.of(rows), error=error),
        status_code=error.http_status if error else 200)
