"""Death: payments stop, and pensions paid for months after the death are recovered.

The card lifecycle records the death (a card retired with reason `deceased`, its
`card.retired` event carrying `died_on` when the outlet entered the date on the death
certificate, else the day of the cancellation stands for it). `record_death` (the event's
handler, wiring.py) marks the pensioner deceased, ends the person's enrolments through
bnfcore's `benefits.service.stop_payments` (seam 3) from the first unpaid month, and records
one recovery per pension payment made for a later month (unique per programme, person and
period: a replayed event or a second death report never recovers twice).

`collect` takes the money back through the bank: the card account is debited with the
recovery's own request id (seam 2 `pay_from_account`, idempotent at the bank). Until the bank
offers that debit (branch `bankfile`), or when it refuses, the recovery stays `owed`, visible
to the paying office with the reason, and the next run tries again.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from yikatong.benefits import certification_rules as rules
from yikatong.benefits.certification import OFFICE, _require_office, policy
from yikatong.benefits.certification_models import PensionEligibility, PensionRecovery
from yikatong.benefits.certification_rules import Status
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import InvalidInput
from yikatong.db.uow import UnitOfWork
from yikatong.events.protocols import Event

log = logging.getLogger(__name__)

CONSUMER = "benefits.pension_death"
EVENT_TYPES = ("card.retired",)
OVERPAID_STATUSES = frozenset({"posted", "held"})  # money that reached (or waits in) the account
SYSTEM = Actor.system("benefits.pension")


OWED, RECOVERED = "owed", "recovered"
STATUS_WORDS = {OWED: ("待追回", "owed"), RECOVERED: ("已追回", "recovered")}


@dataclass(frozen=True)
class RecoveryView:
    id: int
    person_id: int
    programme: str
    period: str
    amount_fen: int
    died_on: date
    office_code: str
    bank_code: str | None
    card_no: str | None
    status: str = field(metadata={"description": "owed | recovered / 待追回 · 已追回"})
    attempts: int
    last_refusal: str | None
    bank_reference: str | None
    recovered_at: datetime | None
    status_zh: str
    status_en: str


@dataclass(frozen=True)
class DeathOutcome:
    person_id: int
    died_on: date
    stopped_from: date
    recoveries: tuple[RecoveryView, ...]
    new_recoveries: int
    payments_stopped: bool  # False when the benefits service is not there to ask


def benefits_service():
    """bnfcore's `yikatong.benefits.service` (seam 3), or None where it is not installed."""
    name = "yikatong.benefits.service"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None


# ---------------------------------------------------------------------------------------
# The card event


def apply(uow: UnitOfWork, event: Event) -> None:
    """The handler of `card.retired`: a death stops payments and records recoveries."""
    payload = event.payload
    if payload.get("reason") != "deceased" or payload.get("person_id") is None:
        return
    died = payload.get("died_on")
    died_on = date.fromisoformat(died) if died else local_date(event.occurred_at)
    record_death(uow=uow, actor=SYSTEM, person_id=int(payload["person_id"]), died_on=died_on,
                 card_no=payload.get("card_no"), source=f"event:{event.event_id}")


def record_death(*, uow: UnitOfWork, actor: Actor, person_id: int, died_on: date,
                 card_no: str | None = None, source: str = "") -> DeathOutcome:
    """Mark the pensioner deceased, stop the person's payments from the first unpaid month
    and record a recovery for each pension payment for a later month. Does not commit (the
    caller does, with the inbox row of the event). Safe to repeat: a known death keeps its
    first date, and recoveries are unique per payment."""
    if died_on > local_date(uow.now()):
        raise InvalidInput(reason_zh="死亡日期不能晚于今天", reason_en="the date of death cannot be in the future")
    pol = policy()
    row = uow.session.get(PensionEligibility, person_id)
    if row is not None and row.died_on is not None:
        died_on = row.died_on  # the first recorded date stands; a repeat changes nothing
    elif row is not None:
        before = {"status": row.status, "died_on": None}
        row.died_on = died_on
        row.status = str(Status.DECEASED)
        row.updated_at = uow.now()
        uow.session.flush()
        uow.audit(actor=actor, action="pension.deceased", entity_type="pension",
                  entity_id=person_id, before=before,
                  after={"status": row.status, "died_on": died_on.isoformat(),
                         "card_no": card_no, "source": source})
    stop_from = rules.stop_from_day(died_on, pol)
    service = benefits_service()
    created: list[PensionRecovery] = []
    if service is not None:
        service.stop_payments(uow=uow, actor=actor, person_id=person_id, from_day=stop_from,
                              reason="deceased")
        created = _record_overpayments(uow, actor, service, person_id=person_id,
                                       died_on=died_on, card_no=card_no,
                                       office_code=row.office_code if row else OFFICE)
    else:
        log.warning("benefits.service is not installed: payments of person %s not stopped", person_id)
    if created:
        uow.audit(actor=actor, action="pension.recoveries_recorded", entity_type="pension",
                  entity_id=person_id,
                  after={"recoveries": [{"id": r.id, "period": r.period, "amount_fen": r.amount_fen}
                                        for r in created], "died_on": died_on.isoformat()})
    return DeathOutcome(person_id=person_id, died_on=died_on, stopped_from=stop_from,
                        recoveries=tuple(recoveries_of(uow=uow, person_id=person_id)),
                        new_recoveries=len(created), payments_stopped=service is not None)


def rescan_deceased(*, uow: UnitOfWork, actor: Actor, within_days: int = 400) -> int:
    """Record the overpayments that reached a deceased pensioner's account after the death was
    applied (a batch in flight at the bank then, its result read later): every pensioner who
    died within `within_days` is looked at again. Commits; returns how many were recorded."""
    service = benefits_service()
    if service is None:
        return 0
    since = date.fromordinal(local_date(uow.now()).toordinal() - within_days)
    rows = list(uow.session.execute(select(PensionEligibility).where(
        PensionEligibility.died_on.is_not(None), PensionEligibility.died_on >= since)
        .order_by(PensionEligibility.person_id)).scalars())
    created: list[PensionRecovery] = []
    for row in rows:
        created += _record_overpayments(uow, actor, service, person_id=row.person_id,
                                        died_on=row.died_on, card_no=None,
                                        office_code=row.office_code)
    if created:
        uow.audit(actor=actor, action="pension.recoveries_recorded", entity_type="pension_batch",
                  entity_id=f"rescan:{uow.now().isoformat()}",
                  after={"recoveries": [{"id": r.id, "person_id": r.person_id, "period": r.period,
                                         "amount_fen": r.amount_fen} for r in created]})
        uow.commit()
    return len(created)


def _record_overpayments(uow: UnitOfWork, actor: Actor, service, *, person_id: int,
                         died_on: date, card_no: str | None,
                         office_code: str) -> list[PensionRecovery]:
    pol = policy()
    existing = set(uow.session.execute(select(PensionRecovery.period).where(
        PensionRecovery.programme == pol.programme,
        PensionRecovery.person_id == person_id)).scalars())
    now, created = uow.now(), []
    for payment in service.payments_of(uow=uow, person_id=person_id):
        if (payment.programme != pol.programme or payment.status not in OVERPAID_STATUSES
                or not rules.overpaid(payment.period, died_on, pol) or payment.period in existing):
            continue
        recovery = PensionRecovery(
            person_id=person_id, programme=pol.programme, period=payment.period,
            amount_fen=int(payment.amount_fen), died_on=died_on, office_code=office_code,
            bank_code=getattr(payment, "bank_code", None), card_no=card_no, status=OWED,
            request_id=f"recover:{pol.programme}:{person_id}:{payment.period}"[:64],
            attempts=0, created_at=now, updated_at=now)
        uow.session.add(recovery)
        existing.add(payment.period)
        created.append(recovery)
    uow.session.flush()
    return created


# ---------------------------------------------------------------------------------------
# Recovering through the bank


def collect(*, uow: UnitOfWork, actor: Actor, person_id: int | None = None,
            limit: int = 500) -> list[RecoveryView]:
    """Ask the bank to debit each owed recovery (of the person, or all) from the card
    account it was paid into, by the recovery's own request id (the bank answers a repeat
    with its first result). Posted → recovered; refused, or no debit at the bank yet →
    stays owed with the reason. Commits; returns the recoveries tried."""
    _require_office(actor)
    from yikatong.cards.protocols import BankGateway

    query = select(PensionRecovery).where(PensionRecovery.status == OWED).order_by(PensionRecovery.id)
    if person_id is not None:
        query = query.where(PensionRecovery.person_id == person_id)
    if actor.role == Role.PAYING_OFFICE:
        query = query.where(PensionRecovery.office_code == actor.branch_code)
    rows = list(uow.session.execute(query.limit(limit)).scalars())
    if not rows:
        return []
    gateway = uow.get(BankGateway)
    debit = getattr(gateway, "pay_from_account", None)
    pol, now, service = policy(), uow.now(), benefits_service()
    for row in rows:
        row.updated_at = now
        if debit is None:
            row.last_refusal = "bank_debit_unavailable"
            continue
        pan = _pan_of(uow, row)
        if pan is None or row.bank_code is None:
            row.last_refusal = "no_account"
            continue
        # The bank's answer is final per request id: a refused debit is asked again under the
        # next attempt's id. The attempt is counted only with the answer (same transaction),
        # so a crash after the bank posted repeats the same id and gets the first answer.
        result = debit(bank_code=row.bank_code, pan=pan, amount_fen=row.amount_fen,
                       request_id=f"{row.request_id}:{row.attempts + 1}",
                       payee_code=pol.payee_code, authorisation=f"pension-recovery:{row.id}")
        row.attempts += 1
        if result.status == "posted":
            row.status = RECOVERED
            row.recovered_at = now
            row.last_refusal = None
            row.bank_reference = result.bank_reference
            if service is not None and hasattr(service, "mark_recovered"):
                service.mark_recovered(uow=uow, actor=actor, programme_code=row.programme,
                                       period=row.period, person_id=row.person_id,
                                       reason="recovered_after_death")
        else:
            row.last_refusal = (result.reason_code or result.status or "refused")[:64]
    uow.session.flush()
    uow.audit(actor=actor, action="pension.recovery_collected", entity_type="pension_batch",
              entity_id=f"collect:{now.isoformat()}",
              after={"recoveries": [{"id": r.id, "status": r.status, "reason": r.last_refusal}
                                    for r in rows]})
    uow.commit()
    return [_view(r) for r in rows]


def recoveries_of(*, uow: UnitOfWork, person_id: int) -> list[RecoveryView]:
    rows = uow.session.execute(select(PensionRecovery).where(
        PensionRecovery.person_id == person_id).order_by(PensionRecovery.period)).scalars()
    return [_view(r) for r in rows]


def recoveries(*, uow: UnitOfWork, actor: Actor, status: str | None = None,
               limit: int = 500) -> list[RecoveryView]:
    """The paying office's list of recoveries (its own), owed first."""
    _require_office(actor)
    query = select(PensionRecovery).order_by(PensionRecovery.status.desc(), PensionRecovery.id)
    if status:
        if status not in STATUS_WORDS:
            raise InvalidInput(reason_zh="状态须为 owed 或 recovered",
                               reason_en="status must be owed or recovered")
        query = query.where(PensionRecovery.status == status)
    if actor.role == Role.PAYING_OFFICE:
        query = query.where(PensionRecovery.office_code == actor.branch_code)
    return [_view(r) for r in uow.session.execute(query.limit(limit)).scalars()]


def _pan_of(uow: UnitOfWork, row: PensionRecovery) -> str | None:
    """The account the overpaid pension went into: the payment's own, else the card's."""
    from yikatong.cards.errors import CardNotFound
    from yikatong.cards.service import current_card_for, get_card

    paid = _payment_account(uow, row)
    if paid is not None:
        return paid
    try:
        if row.card_no:
            return get_card(uow=uow, card_no=row.card_no).pan
    except CardNotFound:
        pass
    card = current_card_for(uow=uow, person_id=row.person_id)
    return card.pan if card else None


def _payment_account(uow: UnitOfWork, row: PensionRecovery) -> str | None:
    try:
        from yikatong.benefits.models import Payment
    except ImportError:
        return None
    return uow.session.execute(select(Payment.pan).where(
        Payment.programme_code == row.programme, Payment.period == row.period,
        Payment.person_id == row.person_id, Payment.pan.is_not(None)).limit(1)).scalar()


def _view(row: PensionRecovery) -> RecoveryView:
    zh, en = STATUS_WORDS.get(row.status, (row.status, row.status))
    return RecoveryView(id=row.id, person_id=row.person_id, programme=row.programme,
                        period=row.period, amount_fen=row.amount_fen, died_on=row.died_on,
                        office_code=row.office_code, bank_code=row.bank_code, card_no=row.card_no,
                        status=row.status, attempts=row.attempts, last_refusal=row.last_refusal,
                        bank_reference=row.bank_reference, recovered_at=row.recovered_at,
                        status_zh=zh, status_en=en)
