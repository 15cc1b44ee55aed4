"""Pension yearly eligibility confirmation (待遇资格认证): who confirms, how, what it does to
payment, and the seam the pension run asks (`pension_payable`, `payable_person_ids`).

Each pensioner confirms once a window (12 months, config): the holder with the card (live,
not retired, not under formal loss) at a self-service machine or outlet reader, the holder
with the e-card online, or an outlet operator at the counter with identity documents seen.
Thirty days ahead the holder is texted (`send_reminders`); after the window the pension is
suspended (`lapse_due`); a later confirmation resumes it and the suspended months become
payable again (back pay, listed on the suspension for the paying office). Death (recovery.py)
stops payment from the month after death whatever the confirmation says.

The rules are certification_rules.py; figures and sources in
config/certification-changzhou.toml. Every change is one transaction with one audit record.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

from sqlalchemy import and_, exists, or_, select

from yikatong.benefits import certification_rules as rules
from yikatong.benefits.certification_models import (
    PensionCertification,
    PensionEligibility,
    PensionSuspension,
)
from yikatong.benefits.certification_rules import Channel, Policy, Status
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError, Forbidden, InvalidInput, NotFound
from yikatong.core.masking import mask_name, mask_ssn
from yikatong.db.uow import UnitOfWork
from yikatong.notices.rules import TEMPLATES, Template

CONFIG = Path(__file__).parent / "config" / "certification-changzhou.toml"
OFFICE = "CZ-SI"  # the social insurance agency pays the pension
OUTLET_ROLES = frozenset({Role.SS_OUTLET, Role.CITIZEN_OUTLET, Role.ADMIN})
OFFICE_ROLES = frozenset({Role.PAYING_OFFICE, Role.ADMIN})
# Above this many ids, one scan of the pensioners beats chunks of IN lists (the 1M run).
SCAN_ABOVE = 5000

# The holder's notices (the notices domain renders and records them).
TEMPLATES.setdefault("pension_certification_due", Template(
    "您的养老金待遇资格认证将于 {valid_until} 到期，请持社会保障卡到自助终端或网点、或通过电子社保卡完成认证。",
    "Your pension eligibility confirmation runs out on {valid_until}: confirm with your social "
    "security card at a self-service machine or outlet, or online with your e-card."))
TEMPLATES.setdefault("pension_suspended", Template(
    "您的养老金待遇资格认证已于 {valid_until} 到期，自 {period} 起暂停发放；完成认证后恢复发放并补发。",
    "Your pension eligibility confirmation ran out on {valid_until}: payment is suspended from "
    "{period}. Confirm and it resumes, with the suspended months paid."))


# ---------------------------------------------------------------------------------------
# Errors


class NotAPensioner(NotFound):
    code = "not_a_pensioner"
    zh = "未找到该人员的养老金待遇记录"
    en = "This person receives no pension"

    def __init__(self) -> None:
        super().__init__(what="pensioner")


class PensionerDeceased(DomainError):
    code = "pensioner_deceased"
    http_status = 409
    zh = "该人员已登记身故，无需认证"
    en = "This person is recorded as deceased; there is nothing to confirm"


class CardNotUsableForCertification(DomainError):
    code = "card_not_usable_for_certification"
    http_status = 409
    zh = "该社会保障卡不能用于认证（{why_zh}）"
    en = "This card cannot be used to confirm ({why_en})"


class EcardNotUsableForCertification(DomainError):
    code = "ecard_not_usable_for_certification"
    http_status = 409
    zh = "电子社保卡当前不可用（{why_zh}），请持卡到网点认证"
    en = "The e-card cannot be used now ({why_en}); confirm at an outlet with your card"


class CertificationChannelRefused(Forbidden):
    code = "certification_channel_refused"
    zh = "此渠道不能办理该认证"
    en = "This channel cannot record this confirmation"


# ---------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class EligibilityView:
    person_id: int
    name_masked: str
    ssn_masked: str
    office_code: str
    since: date
    valid_until: date
    status: str = field(metadata={  # derived from the clock
        "description": "active | suspended | deceased / 已认证 · 暂停发放 · 已身故"})
    due: bool = field(metadata={"description": "inside the reminder window, not lapsed / 临近到期"})
    suspended_from: str | None
    died_on: date | None
    status_zh: str
    status_en: str


@dataclass(frozen=True)
class CertificationView:
    id: int
    person_id: int
    channel: str
    certified_on: date
    valid_until: date
    certified_at: datetime
    card_no: str | None
    outlet_code: str | None
    recorded_by: str
    resumed: bool                       # this confirmation ended a suspension
    back_pay_periods: tuple[str, ...]   # the months it paid back


@dataclass(frozen=True)
class SuspensionView:
    id: int
    person_id: int
    from_period: str
    suspended_at: datetime
    resumed_at: datetime | None
    back_pay_periods: tuple[str, ...]
    back_pay_status: str


# ---------------------------------------------------------------------------------------
# Policy


@cache
def policy(path: str | None = None) -> Policy:
    """The rules as data (config/certification-changzhou.toml unless `path`)."""
    data = tomllib.loads(Path(path or CONFIG).read_text(encoding="utf-8"))
    cert, death = data.get("certification", {}), data.get("death", {})
    return Policy(window_months=int(cert.get("window_months", 12)),
                  reminder_days_before=int(cert.get("reminder_days_before", 30)),
                  back_pay_on_resume=bool(cert.get("back_pay_on_resume", True)),
                  channels=tuple(cert.get("channels", ("card", "ecard", "outlet"))),
                  pay_month_of_death=bool(death.get("pay_month_of_death", True)),
                  payee_code=str(death.get("payee_code", OFFICE)),
                  programme=str(death.get("programme", "pension")))


def today(uow: UnitOfWork) -> date:
    return local_date(uow.now())


# ---------------------------------------------------------------------------------------
# The seam the pension run asks (BENEFITS.md seam 3)


def pension_payable(uow: UnitOfWork, person_id: int, period: str) -> str | None:
    """None when the pension for `period` ("YYYY-MM") may be paid to the person, else the
    reason code: `not_certified` (no confirmation holding on the month's first day, or not a
    known pensioner) or `deceased` (a month after the month of death)."""
    rules.check_period(period)
    row = uow.session.get(PensionEligibility, person_id)
    reason = rules.payable_reason(until=row.valid_until if row else None,
                                  died_on=row.died_on if row else None, period=period,
                                  policy=policy())
    return str(reason) if reason else None


def payable_person_ids(uow: UnitOfWork, person_ids, period: str) -> set[int]:
    """Of `person_ids`, those whose pension for `period` may be paid: set-based, one indexed
    query per chunk (or one scan of the pensioners for a large run)."""
    wanted = set(person_ids)
    if not wanted:
        rules.check_period(period)
        return set()
    query = select(PensionEligibility.person_id).where(_payable_in(period))
    if len(wanted) > SCAN_ABOVE:
        return wanted & set(uow.session.execute(query).scalars())
    ids, found = sorted(wanted), set()
    for at in range(0, len(ids), 1000):
        chunk = ids[at:at + 1000]
        found.update(uow.session.execute(
            query.where(PensionEligibility.person_id.in_(chunk))).scalars())
    return found


def payable_condition(person_id, period: str):
    """SQL, true where the person `person_id` (a column) may be paid the pension of `period`:
    what `payable_person_ids` answers, for a caller that selects set-based (a run's
    unpayable payments, without reading every payee and pensioner into Python)."""
    return exists(select(PensionEligibility.person_id).where(
        PensionEligibility.person_id == person_id, _payable_in(period)))


def _payable_in(period: str):
    """Confirmed for the period and alive on its first day (month of death paid) or, if the
    policy does not pay that month, on the next month's first day."""
    rules.check_period(period)
    start = rules.first_day(period)
    alive_from = start if policy().pay_month_of_death else rules.first_day(rules.next_period(period))
    return and_(PensionEligibility.valid_until >= start,
                or_(PensionEligibility.died_on.is_(None), PensionEligibility.died_on >= alive_from))


# ---------------------------------------------------------------------------------------
# Pensioners


def register_pensioner(*, uow: UnitOfWork, actor: Actor, person_id: int, since: date,
                       office_code: str = OFFICE) -> EligibilityView:
    """Start following a pensioner: the pension's start counts as the first confirmation
    (the retirement approval saw the person). Idempotent: an existing pensioner is
    returned unchanged. The reference paying office calls it when it enrols a pension."""
    _require_office(actor)
    row = uow.session.get(PensionEligibility, person_id)
    if row is None:
        from yikatong.people.service import get_person

        get_person(uow=uow, person_id=person_id)  # PersonNotFound for an unknown person
        now = uow.now()
        row = PensionEligibility(person_id=person_id, office_code=office_code, since=since,
                                 valid_until=rules.valid_until(since, policy()),
                                 status=str(Status.ACTIVE), created_at=now, updated_at=now)
        uow.session.add(row)
        uow.session.flush()
        uow.audit(actor=actor, action="pension.pensioner_registered", entity_type="pension",
                  entity_id=person_id, after=_snapshot(row))
        uow.commit()
    return _eligibility_view(uow, row)


def follow_enrolled_pensioners(*, uow: UnitOfWork, actor: Actor, limit: int = 10000) -> int:
    """Follow every person with an active pension enrolment (bnfcore's `enrol`) who is not
    followed yet, from the enrolment's first month (its first day counts as the first
    confirmation). One audit record names them; commits; returns how many were added."""
    try:
        from yikatong.benefits.models import Enrolment
    except ImportError:
        return 0
    pol = policy()
    rows = uow.session.execute(
        select(Enrolment.person_id, Enrolment.start_period)
        .where(Enrolment.programme_code == pol.programme, Enrolment.status == "active",
               Enrolment.person_id.not_in(select(PensionEligibility.person_id)))
        .order_by(Enrolment.person_id, Enrolment.start_period).limit(limit)).all()
    firsts: dict[int, str] = {}
    for person_id, start in rows:
        firsts.setdefault(person_id, start)
    if not firsts:
        return 0
    now = uow.now()
    for person_id, start in firsts.items():
        since = rules.first_day(start)
        uow.session.add(PensionEligibility(
            person_id=person_id, office_code=OFFICE, since=since,
            valid_until=rules.valid_until(since, pol), status=str(Status.ACTIVE),
            created_at=now, updated_at=now))
    uow.session.flush()
    uow.audit(actor=actor, action="pension.pensioners_followed", entity_type="pension_batch",
              entity_id=f"follow:{now.isoformat()}", after={"person_ids": sorted(firsts)})
    uow.commit()
    return len(firsts)


def eligibility_of(*, uow: UnitOfWork, person_id: int) -> EligibilityView:
    row = uow.session.get(PensionEligibility, person_id)
    if row is None:
        raise NotAPensioner()
    return _eligibility_view(uow, row)


def pensioners(*, uow: UnitOfWork, actor: Actor, status: str | None = None,
               limit: int = 200) -> list[EligibilityView]:
    """The paying office's list: every pensioner with the state derived now; `status`
    one of due | suspended | deceased | active (due: in the reminder window)."""
    _require_office(actor)
    query = select(PensionEligibility).order_by(PensionEligibility.valid_until,
                                                PensionEligibility.person_id)
    if actor.role == Role.PAYING_OFFICE:
        query = query.where(PensionEligibility.office_code == actor.branch_code)
    day = today(uow)
    if status == "deceased":
        query = query.where(PensionEligibility.died_on.is_not(None))
    elif status == "suspended":
        query = query.where(PensionEligibility.died_on.is_(None),
                            PensionEligibility.valid_until < day)
    elif status in ("due", "active"):
        query = query.where(PensionEligibility.died_on.is_(None),
                            PensionEligibility.valid_until >= day)
    elif status:
        raise InvalidInput(reason_zh="状态须为 due、suspended、deceased 或 active",
                           reason_en="status must be due, suspended, deceased or active")
    views = [_eligibility_view(uow, row) for row in uow.session.execute(query.limit(limit)).scalars()]
    if status == "due":
        views = [v for v in views if v.due]
    elif status == "active":
        views = [v for v in views if not v.due]
    return views


def certifications_of(*, uow: UnitOfWork, person_id: int, limit: int = 20) -> list[CertificationView]:
    rows = uow.session.execute(select(PensionCertification).where(
        PensionCertification.person_id == person_id).order_by(
        PensionCertification.id.desc()).limit(limit)).scalars()
    return [_certification_view(uow, row) for row in rows]


def suspensions_of(*, uow: UnitOfWork, person_id: int) -> list[SuspensionView]:
    rows = uow.session.execute(select(PensionSuspension).where(
        PensionSuspension.person_id == person_id).order_by(PensionSuspension.id)).scalars()
    return [_suspension_view(row) for row in rows]


# ---------------------------------------------------------------------------------------
# Confirming


def confirm(*, uow: UnitOfWork, actor: Actor, person_id: int, channel: str, request_id: str,
            card_no: str | None = None, documents: str | None = None) -> CertificationView:
    """Record a confirmation for the person through `channel` (card | ecard | outlet) and
    commit. A holder confirms for themself with the card or the e-card; an outlet operator
    confirms at the counter (`documents`: what identity documents were seen), or with the
    card read at the counter. Resumes a suspended pension. Idempotent by `request_id`."""
    request_id = (request_id or "").strip()
    if not request_id or len(request_id) > 160:
        raise InvalidInput(reason_zh="缺少请求编号（最多160字符）",
                           reason_en="a request id is required (at most 160 characters)")
    earlier = uow.session.execute(select(PensionCertification).where(
        PensionCertification.request_id == request_id)).scalar_one_or_none()
    if earlier is not None:
        if earlier.person_id != person_id or earlier.channel != channel:
            raise InvalidInput(reason_zh="请求编号已用于另一次认证",
                               reason_en="this request id was used for another confirmation")
        return _certification_view(uow, earlier)
    pol = policy()
    try:
        how = Channel(channel)
    except ValueError:
        raise InvalidInput(reason_zh="认证渠道须为 card、ecard 或 outlet",
                           reason_en="the channel must be card, ecard or outlet") from None
    if str(how) not in pol.channels:
        raise CertificationChannelRefused()
    _check_actor(actor, how, person_id)
    row = uow.session.get(PensionEligibility, person_id)
    if row is None:
        raise NotAPensioner()
    if row.died_on is not None:
        raise PensionerDeceased()
    ecard_no = None
    if how == Channel.CARD:
        card_no = _check_card(uow, person_id, card_no)
    elif how == Channel.ECARD:
        ecard_no = _check_ecard(uow, person_id)
    else:
        documents = (documents or "").strip()
        if not documents or len(documents) > 200:
            raise InvalidInput(reason_zh="请记录核验的身份证件（最多200字符）",
                               reason_en="record the identity documents seen (at most 200 characters)")
        card_no = None
    now, day = uow.now(), today(uow)
    before = _snapshot(row)
    until = max(rules.valid_until(day, pol), row.valid_until)
    record = PensionCertification(
        person_id=person_id, channel=str(how), certified_on=day, valid_until=until,
        card_no=card_no, ecard_no=ecard_no,
        outlet_code=actor.branch_code if actor.role in OUTLET_ROLES else None,
        documents=documents if how == Channel.OUTLET else None, recorded_by=actor.user_id,
        request_id=request_id, certified_at=now)
    uow.session.add(record)
    uow.session.flush()
    back_pay: list[str] = []
    if rules.lapsed(row.valid_until, day) or row.status == Status.SUSPENDED:
        suspension = _open_suspension(uow, row, now)
        back_pay = (rules.back_pay_periods(suspension.from_period, day)
                    if pol.back_pay_on_resume else [])
        suspension.resumed_at = now
        suspension.resumed_by_certification_id = record.id
        suspension.back_pay_periods = back_pay
        suspension.back_pay_status = "due" if back_pay else "none"
        suspension.open_key = None
    row.valid_until = until
    row.status = str(Status.ACTIVE)
    row.suspended_from = None
    row.last_certification_id = record.id
    row.updated_at = now
    uow.session.flush()
    uow.audit(actor=actor, action="pension.certified", entity_type="pension", entity_id=person_id,
              before=before, after={**_snapshot(row), "channel": str(how), "card_no": card_no,
                                    "certification_id": record.id, "back_pay_periods": back_pay})
    uow.emit("pension.certified", aggregate_type="pension", aggregate_id=person_id,
             payload={"person_id": person_id, "channel": str(how), "certified_on": day.isoformat(),
                      "valid_until": until.isoformat(), "back_pay_periods": back_pay})
    uow.commit()
    return _certification_view(uow, record)


# ---------------------------------------------------------------------------------------
# Jobs: reminders and lapses (jobs.py / `ykt benefits certification remind|lapse`)


def send_reminders(*, uow: UnitOfWork, actor: Actor, limit: int = 5000) -> int:
    """Text every pensioner whose confirmation runs out within the reminder window, once per
    window; one audit record names them. Commits; returns how many were texted."""
    from yikatong.notices.service import notify_person

    pol, day = policy(), today(uow)
    horizon = date.fromordinal(day.toordinal() + pol.reminder_days_before)
    rows = list(uow.session.execute(select(PensionEligibility).where(
        PensionEligibility.died_on.is_(None), PensionEligibility.valid_until >= day,
        PensionEligibility.valid_until <= horizon).order_by(PensionEligibility.person_id)
        .limit(limit)).scalars())
    texted = []
    for row in rows:
        if not rules.reminder_due(row.valid_until, row.reminded_for, day, pol):
            continue
        notify_person(uow=uow, person_id=row.person_id, template="pension_certification_due",
                      params={"valid_until": row.valid_until.isoformat()},
                      subject=f"pension:{row.person_id}:due:{row.valid_until.isoformat()}")
        row.reminded_for = row.valid_until
        row.updated_at = uow.now()
        texted.append(row.person_id)
    if texted:
        uow.audit(actor=actor, action="pension.reminders_sent", entity_type="pension_batch",
                  entity_id=f"remind:{day.isoformat()}", after={"person_ids": texted})
        uow.commit()
    return len(texted)


def lapse_due(*, uow: UnitOfWork, actor: Actor, limit: int = 5000) -> int:
    """Suspend the pension of everyone whose confirmation ran out (one suspension each, the
    holder texted); one audit record names them. Commits; returns how many were suspended."""
    from yikatong.notices.service import notify_person

    day, now = today(uow), uow.now()
    rows = list(uow.session.execute(select(PensionEligibility).where(
        PensionEligibility.died_on.is_(None), PensionEligibility.status == str(Status.ACTIVE),
        PensionEligibility.valid_until < day).order_by(PensionEligibility.person_id)
        .limit(limit)).scalars())
    for row in rows:
        suspension = _open_suspension(uow, row, now)
        row.status = str(Status.SUSPENDED)
        row.suspended_from = suspension.from_period
        row.updated_at = now
        notify_person(uow=uow, person_id=row.person_id, template="pension_suspended",
                      params={"valid_until": row.valid_until.isoformat(),
                              "period": suspension.from_period},
                      subject=f"pension:{row.person_id}:suspended:{suspension.from_period}")
    if rows:
        uow.session.flush()
        uow.audit(actor=actor, action="pension.suspended", entity_type="pension_batch",
                  entity_id=f"lapse:{day.isoformat()}",
                  after={"person_ids": [r.person_id for r in rows],
                         "from_periods": {str(r.person_id): r.suspended_from for r in rows}})
        uow.commit()
    return len(rows)


def arrears(*, uow: UnitOfWork, person_ids=None) -> dict[int, list[str]]:
    """Back pay the pension run owes: person → the months paid back on resumption, for the
    suspensions not yet marked paid."""
    query = select(PensionSuspension).where(PensionSuspension.back_pay_status == "due")
    if person_ids is not None:
        query = query.where(PensionSuspension.person_id.in_(list(person_ids)))
    out: dict[int, list[str]] = {}
    for row in uow.session.execute(query.order_by(PensionSuspension.id)).scalars():
        out.setdefault(row.person_id, []).extend(row.back_pay_periods or [])
    return out


def mark_back_paid(*, uow: UnitOfWork, actor: Actor, person_id: int) -> int:
    """The run paid the person's back pay: their due suspensions become paid. Commits."""
    _require_office(actor)
    rows = list(uow.session.execute(select(PensionSuspension).where(
        PensionSuspension.person_id == person_id,
        PensionSuspension.back_pay_status == "due")).scalars())
    for row in rows:
        row.back_pay_status = "paid"
    if rows:
        uow.audit(actor=actor, action="pension.back_pay_paid", entity_type="pension",
                  entity_id=person_id, after={"suspension_ids": [r.id for r in rows]})
        uow.commit()
    return len(rows)


# ---------------------------------------------------------------------------------------
# Helpers


def _require_office(actor: Actor) -> None:
    if actor.role not in OFFICE_ROLES and actor.role != Role.SYSTEM:
        raise Forbidden(zh="仅待遇发放机构可以办理", en="Only the paying office may do this")
    if actor.role == Role.PAYING_OFFICE and actor.branch_code != OFFICE:
        raise Forbidden(zh="养老金由社保经办机构发放", en="The pension is run by the social insurance agency")


def _check_actor(actor: Actor, how: Channel, person_id: int) -> None:
    if actor.role == Role.HOLDER:
        if actor.person_id != person_id:
            raise Forbidden(zh="只能为本人认证", en="You may confirm only for yourself")
        if how == Channel.OUTLET:
            raise CertificationChannelRefused()
        return
    if actor.role in OUTLET_ROLES:
        if how == Channel.ECARD:  # the e-card is the holder's own, online
            raise CertificationChannelRefused()
        return
    if actor.role == Role.SYSTEM and how == Channel.CARD:  # a self-service machine's node
        return
    raise CertificationChannelRefused()


def _check_card(uow: UnitOfWork, person_id: int, card_no: str | None) -> str:
    from yikatong.cards.errors import CardNotFound, InvalidCardNo
    from yikatong.cards.rules import CardState, HrStatus
    from yikatong.cards.service import get_card

    if not card_no:
        raise InvalidInput(reason_zh="请读取社会保障卡", reason_en="read the social security card")
    try:
        card = get_card(uow=uow, card_no=card_no.strip().upper())
    except (CardNotFound, InvalidCardNo):
        raise CardNotUsableForCertification(why_zh="卡号无效", why_en="unknown card") from None
    if card.person_id != person_id:
        raise CardNotUsableForCertification(why_zh="不是本人的卡", why_en="not this person's card")
    if card.state != CardState.IN_USE:
        words = {CardState.RETIRED: ("卡片已停用", "the card is retired"),
                 CardState.CANCELLED: ("卡片已作废", "the card is cancelled"),
                 CardState.PRODUCED: ("卡片尚未领取", "the card was not handed over")}
        zh, en = words.get(CardState(card.state), ("卡片不可用", "the card is not in use"))
        raise CardNotUsableForCertification(why_zh=zh, why_en=en)
    if card.hr_status == HrStatus.FORMAL_LOSS:
        raise CardNotUsableForCertification(why_zh="卡片已正式挂失", why_en="the card is under formal loss")
    return card.card_no


def _check_ecard(uow: UnitOfWork, person_id: int) -> str:
    from yikatong.ecard.errors import EcardNotFound
    from yikatong.ecard.service import get_ecard

    try:
        ecard = get_ecard(uow=uow, person_id=person_id)
    except EcardNotFound:
        raise EcardNotUsableForCertification(why_zh="未申领电子社保卡", why_en="no e-card") from None
    if not ecard.usable:  # revoked, suspended, lost and not re-authorised, or no consent
        if ecard.reason == "ok":  # the e-card itself is fine: no channel has the holder's consent
            raise EcardNotUsableForCertification(why_zh="尚未授权任何渠道使用",
                                                 why_en="no channel has your consent")
        raise EcardNotUsableForCertification(why_zh=ecard.reason_zh or ecard.state_zh,
                                             why_en=ecard.reason_en or ecard.state_en)
    return ecard.ecard_no


def _open_suspension(uow: UnitOfWork, row: PensionEligibility, now: datetime) -> PensionSuspension:
    """The person's open suspension, made now if the lapse job had not run yet."""
    found = uow.session.execute(select(PensionSuspension).where(
        PensionSuspension.open_key == row.person_id)).scalar_one_or_none()
    if found is not None:
        return found
    suspension = PensionSuspension(
        person_id=row.person_id, from_period=rules.suspended_from(row.valid_until),
        suspended_at=now, back_pay_status="none", open_key=row.person_id)
    uow.session.add(suspension)
    uow.session.flush()
    return suspension


def _snapshot(row: PensionEligibility) -> dict:
    return {"person_id": row.person_id, "status": row.status,
            "valid_until": row.valid_until.isoformat(), "suspended_from": row.suspended_from,
            "died_on": row.died_on.isoformat() if row.died_on else None}


def _eligibility_view(uow: UnitOfWork, row: PensionEligibility) -> EligibilityView:
    from yikatong.people.errors import PersonNotFound
    from yikatong.people.service import get_person

    try:
        person = get_person(uow=uow, person_id=row.person_id)
        name, ssn = mask_name(person.name), mask_ssn(person.ssn)
    except PersonNotFound:
        name, ssn = "", ""
    day, pol = today(uow), policy()
    status = rules.status_on(until=row.valid_until, died_on=row.died_on, today=day)
    due = status == Status.ACTIVE and rules.reminder_due(row.valid_until, None, day, pol)
    zh, en = rules.STATUS_WORDS[status]
    first_unpaid = row.suspended_from or (rules.suspended_from(row.valid_until)
                                          if status == Status.SUSPENDED else None)
    return EligibilityView(person_id=row.person_id, name_masked=name, ssn_masked=ssn,
                           office_code=row.office_code, since=row.since,
                           valid_until=row.valid_until, status=str(status), due=due,
                           suspended_from=first_unpaid, died_on=row.died_on,
                           status_zh=zh, status_en=en)


def _certification_view(uow: UnitOfWork, row: PensionCertification) -> CertificationView:
    suspension = uow.session.execute(select(PensionSuspension).where(
        PensionSuspension.resumed_by_certification_id == row.id)).scalar_one_or_none()
    return CertificationView(
        id=row.id, person_id=row.person_id, channel=row.channel, certified_on=row.certified_on,
        valid_until=row.valid_until, certified_at=row.certified_at, card_no=row.card_no,
        outlet_code=row.outlet_code, recorded_by=row.recorded_by,
        resumed=suspension is not None,
        back_pay_periods=tuple(suspension.back_pay_periods or ()) if suspension else ())


def _suspension_view(row: PensionSuspension) -> SuspensionView:
    return SuspensionView(id=row.id, person_id=row.person_id, from_period=row.from_period,
                          suspended_at=row.suspended_at, resumed_at=row.resumed_at,
                          back_pay_periods=tuple(row.back_pay_periods or ()),
                          back_pay_status=row.back_pay_status)
