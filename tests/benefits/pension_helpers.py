"""Helpers for the pension confirmation and recovery tests: real people with real cards (the
applications service walks them to hand-over), registered as pensioners, and a stand-in for
the benefits service's payments (seam 3) where a test needs given payments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from tests.applications.conftest import new_applicant, walk_to_hand_over
from tests.ecard.conftest import Holder, submit
from yikatong.benefits import certification
from yikatong.cards.protocols import BankPaymentResult
from yikatong.core.actor import Actor, Channel, Role

OFFICE = Actor(user_id="si-officer", role=Role.PAYING_OFFICE, channel=Channel.AGENCY,
               branch_code="CZ-SI")
COUNTER = Actor(user_id="outlet-7", role=Role.SS_OUTLET, channel=Channel.OUTLET,
                branch_code="SS-TN-01")
ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)


def at(day: date, hour: int = 2) -> datetime:
    """A moment of `day` in Changzhou (02:00 UTC is 10:00 there)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def holder_with_card(platform, *, consent: tuple[str, ...] = ("official_app",)) -> Holder:
    app = submit(platform, new_applicant(phone="13912345678"))  # a phone for the notices
    person = Holder(platform, app.person_id, None, app.id)
    person.card_no = walk_to_hand_over(platform, app.id).card_no
    for channel in consent:
        person.grant(channel)
    return person


def pensioner(platform, *, since: date, consent: tuple[str, ...] = ("official_app",)) -> Holder:
    person = holder_with_card(platform, consent=consent)
    with platform.uow() as uow:
        certification.register_pensioner(uow=uow, actor=OFFICE, person_id=person.person_id,
                                         since=since)
    return person


def self_service(person: Holder) -> Actor:
    """The holder at a self-service machine (the card read there)."""
    return Actor(user_id=f"holder{person.person_id}", role=Role.HOLDER,
                 channel=Channel.SELF_SERVICE, person_id=person.person_id)


def confirm(platform, actor: Actor, person_id: int, channel: str, request_id: str, **kwargs):
    with platform.uow() as uow:
        return certification.confirm(uow=uow, actor=actor, person_id=person_id, channel=channel,
                                     request_id=request_id, **kwargs)


@dataclass(frozen=True)
class Paid:
    """A payment as `benefits.service.payments_of` shows it (the fields recovery reads)."""

    programme: str
    period: str
    amount_fen: int
    status: str
    bank_code: str = "ICBC"


@dataclass
class PaymentsStandIn:
    """benefits.service's `payments_of` / `stop_payments` for given payments."""

    payments: dict[int, list[Paid]] = field(default_factory=dict)
    stopped: list[tuple[int, date, str]] = field(default_factory=list)

    def payments_of(self, *, uow, person_id: int) -> list[Paid]:
        return list(self.payments.get(person_id, []))

    def stop_payments(self, *, uow, actor, person_id: int, from_day: date, reason: str) -> None:
        self.stopped.append((person_id, from_day, reason))


class DebitingBank:
    """The platform's bank gateway with a scripted `pay_from_account`: answers refused with
    the next of `refusals`, then posted; every request recorded. Everything else delegates."""

    def __init__(self, real, refusals: list[str] | None = None) -> None:
        self._real = real
        self.refusals = list(refusals or [])
        self.requests: list[dict] = []
        self._answers: dict[str, BankPaymentResult] = {}

    def __getattr__(self, name):
        return getattr(self._real, name)

    def pay_from_account(self, *, bank_code, pan, amount_fen, request_id, payee_code, authorisation):
        self.requests.append(dict(bank_code=bank_code, pan=pan, amount_fen=amount_fen,
                                  request_id=request_id, payee_code=payee_code,
                                  authorisation=authorisation))
        if request_id in self._answers:  # idempotent by request id, as the seam promises
            return self._answers[request_id]
        if self.refusals:
            answer = BankPaymentResult(request_id=request_id, status="refused", amount_fen=amount_fen,
                                       reason_code=self.refusals.pop(0))
        else:
            answer = BankPaymentResult(request_id=request_id, status="posted", amount_fen=amount_fen,
                                       bank_reference=f"REF-{len(self._answers) + 1}")
        self._answers[request_id] = answer
        return answer


class BankWithoutDebit:
    """A bank gateway that does not offer `pay_from_account` (before seam 2)."""

    def __init__(self, real) -> None:
        self._real = real

    def __getattr__(self, name):
        if name in ("pay_from_account", "refund_to_account"):
            raise AttributeError(name)
        return getattr(self._real, name)
