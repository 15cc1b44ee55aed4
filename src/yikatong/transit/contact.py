"""Card contacts driven by the server: a phone (NFC) or a terminal only relays APDUs.

The device opens a contact (read the card, write a paid top-up, or refund at a direct outlet)
and is told the next command APDU; it sends it to the card and posts the card's answer (or
that the card went away); the platform answers with the next command, until the outcome.

How: the platform runs the very same use case a terminal with a local reader runs
(`service.contact`, `service.write_top_up`, `refunds.refund_wallet`), against a
`ScriptedReader` that replays the answers recorded so far and stops at the first command
without one. Each round re-runs the use case from the start over the transcript; the terminal
library is deterministic given the card's answers and the contact's fixed date-time, and every
step with an effect outside the card is idempotent (the load host recognises the same attempt
by the card's counter and random and answers the same MAC2), so a replay reaches the same
command again. The transcript is kept server-side, so a device cannot rewrite an earlier
answer; what a device could forge is checked cryptographically where money is concerned (MAC1
before a MAC2 is issued, the TAC after the credit).

One command per round (the next one depends on the answer): a read of a card with full logs is
about 30 rounds.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from functools import partial
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select

from yikatong.auth.service import (
    credential_answers,
    credential_params,
    credential_width,
    with_credential,
)
from yikatong.cards import service as cards
from yikatong.chip.protocols import CardRemoved
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.db.raw import OneTrip, RawSelect
from yikatong.db.statement import RawStatement
from yikatong.transit import refunds, service
from yikatong.transit.errors import ContactNotFound, ContactOutOfStep, DeviceTransmitError
from yikatong.transit.models import CardContactSession

MAX_EXCHANGES = 200
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2}){2,260}$")


class Purpose(StrEnum):
    READ = "read"        # read the card (and finish its pending top-ups)
    TOP_UP = "top_up"    # write a paid order (subject: order_no)
    REFUND = "refund"    # 退值 at a directly-run outlet (subject: card_no)


class NeedCommand(BaseException):
    """Control flow, not an error: the use case wants to send a command nobody answered yet.
    A BaseException so that no `except Exception` on the way can swallow it."""

    def __init__(self, apdu: bytes) -> None:
        super().__init__("next command")
        self.apdu = apdu


class ScriptedReader:
    """A CardReader over a recorded transcript: [command hex, answer hex or None (card left)]."""

    name = "scripted (device relay)"

    def __init__(self, exchanges: list[list[str | None]]) -> None:
        self._exchanges = exchanges
        self._next = 0

    def connect(self) -> bytes:
        return b""

    def disconnect(self) -> None:
        return None

    def transmit(self, apdu: bytes) -> bytes:
        sent = bytes(apdu).hex().upper()
        if self._next == len(self._exchanges):
            raise NeedCommand(bytes(apdu))
        recorded, answer = self._exchanges[self._next]
        if recorded != sent:
            raise ContactOutOfStep()
        self._next += 1
        if answer is None:
            raise CardRemoved()
        return bytes.fromhex(answer)


@dataclasses.dataclass(frozen=True)
class ContactStep:
    contact_id: str
    purpose: str
    state: Literal["awaiting_card", "done", "failed"]
    command: str | None = dataclasses.field(
        metadata={"description": "the APDU (hex) to send to the card next"})
    result: dict | None
    problem: dict | None
    exchanges: int


Operation = Callable[..., Any]


def _operations() -> dict[Purpose, Operation]:
    return {
        Purpose.READ: lambda platform, reader, actor, subject, when: service.contact(
            platform=platform, reader=reader, actor=actor, when=when),
        Purpose.TOP_UP: lambda platform, reader, actor, subject, when: service.write_top_up(
            platform=platform, reader=reader, actor=actor, order_no=subject, when=when),
        Purpose.REFUND: lambda platform, reader, actor, subject, when: refunds.refund_wallet(
            platform=platform, reader=reader, actor=actor, card_no=subject, when=when),
    }


def start_contact(*, platform, actor: Actor, purpose: Purpose | str, subject: str | None = None) -> ContactStep:
    """Open a contact and get the first command. Checks what can be checked before the card is
    there (the order exists and is the actor's, the outlet may refund).

    The first round runs before the contact is stored (over an empty transcript it needs
    nothing stored: the actor, purpose, subject and date-time are the contact's own), and the
    contact is stored with its outcome in one transaction, where storing it, reading it back
    and storing the round took three."""
    purpose = Purpose(purpose)
    service.contact_channel(actor)
    now = platform.clock.now()
    if purpose is not Purpose.READ:
        with platform.uow(read_only=True) as uow:
            if purpose is Purpose.TOP_UP:
                service.get_top_up(uow=uow, order_no=subject or "", actor=actor)
            else:
                if not subject:
                    raise InvalidInput(reason_zh="退值须提供卡号", reason_en="a refund needs the card number")
                refunds.check_direct_outlet(uow, actor)
                cards.get_card(uow=uow, card_no=subject)  # a malformed or unknown card opens no contact
    started_at = service.card_time(platform, now)
    awaiting, result, problem = _first_round(platform, actor, purpose, subject, started_at)
    with platform.uow() as uow:
        row = _new_contact(actor, purpose, subject, started_at, awaiting, result, problem,
                           uow.now())
        # The row as one plain INSERT (the ORM's flush of a new object cost more than the
        # statement: its unit of work, its identity map, the version counter's own select)
        _CONTACT_INSERT.rows(uow.connection(), row)
        uow.commit()
    return ContactStep(row["id"], row["purpose"], row["state"], awaiting, result, problem, 0)


async def start_read_on_loop(*, platform, actor: Actor) -> ContactStep | None:
    """`start_contact` of a read on PostgreSQL, all on the event loop: its first round (over
    an empty transcript a read asks the card for its first command before anything else, so
    the round reads and writes nothing: CPU only) and the contact stored by one INSERT on the
    loop's own connection, in autocommit its own transaction (db.loop_reads.LoopReads.write),
    where a thread-pool hop took BEGIN, the ORM's INSERT and COMMIT. The same row, the same
    step. None where the loop has no connection (nothing was sent): the caller starts the
    contact on a thread."""
    reads = platform.loop_reads()
    if reads is None:
        return None
    service.contact_channel(actor)
    started_at = service.card_time(platform, platform.clock.now())
    awaiting, result, problem = _first_round(platform, actor, Purpose.READ, None, started_at)
    row = _new_contact(actor, Purpose.READ, None, started_at, awaiting, result, problem,
                       platform.clock.now())
    if await reads.write(_CONTACT_INSERT, row) is None:
        return None
    return ContactStep(row["id"], row["purpose"], row["state"], awaiting, result, problem, 0)


def _new_contact(actor: Actor, purpose: Purpose, subject: str | None, started_at: datetime,
                 awaiting: str | None, result: Any, problem: dict | None, now: datetime) -> dict:
    """A new contact's columns (its version the first, as the ORM's version counter sets it)."""
    return dict(
        id=str(uuid.uuid4()), purpose=str(purpose), subject=subject, actor_user=actor.user_id,
        actor_user_id=actor.account_id,
        actor_role=str(actor.role), actor_channel=str(actor.channel), actor_branch=actor.branch_code,
        actor_person=actor.person_id, started_at=started_at, exchanges=[],
        awaiting=awaiting, result=result, problem=problem,
        state="awaiting_card" if awaiting else "failed" if problem else "done",
        updated_at=now, version=1,
    )


def answer_contact(*, platform, actor: Actor, contact_id: str, response: str | None,
                   card_removed: bool = False) -> ContactStep:
    """The card's answer to the last command (hex, with SW1 SW2), or that the card left."""
    if not card_removed and (response is None or not _HEX.match(response)):
        raise DeviceTransmitError()
    with platform.uow() as uow:
        session = _session(uow, contact_id, actor)
        if session.state != "awaiting_card" or session.awaiting is None:
            return _step(session)
        if len(session.exchanges) >= MAX_EXCHANGES:
            raise ContactOutOfStep()
        session.exchanges = [*session.exchanges, [session.awaiting, None if card_removed else response.upper()]]
        session.awaiting = None
        session.updated_at = uow.now()
        uow.commit()
    return _round(platform, contact_id)


def read_contact(*, uow, actor: Actor, contact_id: str) -> ContactStep:
    """A contact's current step, in the caller's read-only unit of work (a terminal polls it):
    the same refusal and the same step as `_step(_session(…))`, from one plain select of the
    columns it needs instead of an ORM object (db.raw)."""
    row = _CONTACT_STEP.first(uow.connection(), {"contact_id": contact_id})
    if row is None or (not actor.owns(row.actor_user_id) and actor.role is not Role.ADMIN):
        raise ContactNotFound()
    return ContactStep(row.id, row.purpose, row.state, row.awaiting, row.result, row.problem,
                       len(row.exchanges))


def contact_read_trip(contact_id: str, secret: str) -> OneTrip:
    """The credential lookup of `secret` and `read_contact`'s select in one statement (one
    round trip where they were two; api.deps.ReadAccess.answer)."""
    return OneTrip(_CONTACT_READ, {**credential_params(secret), "contact_id": contact_id},
                   partial(_cut_contact_read, contact_id, secret))


def _cut_contact_read(contact_id: str, secret: str, dialect, rows: list) -> dict:
    [row] = rows
    found = credential_answers(dialect, row, secret)
    step = row[credential_width(dialect):]
    found[_CONTACT_STEP.key({"contact_id": contact_id})] = (
        [_CONTACT_STEP.row(dialect, step)] if step[0] is not None else [])  # the id: found
    return found


_CONTACTS = CardContactSession.__table__
_CONTACT_STEP = RawSelect(select(_CONTACTS.c.id, _CONTACTS.c.purpose, _CONTACTS.c.state,
                                 _CONTACTS.c.awaiting, _CONTACTS.c.result, _CONTACTS.c.problem,
                                 _CONTACTS.c.exchanges, _CONTACTS.c.actor_user_id)
                          .where(_CONTACTS.c.id == bindparam("contact_id")), "ContactStepRow")
_CONTACT_READ = RawSelect(with_credential(_CONTACT_STEP._statement), "ContactReadRow")
_CONTACT_INSERT = RawStatement(
    insert(_CONTACTS).values({column.key: bindparam(column.key, type_=column.type)
                              for column in _CONTACTS.c}).returning(_CONTACTS.c.id),
    "ContactInsert")


def _session(uow, contact_id: str, actor: Actor) -> CardContactSession:
    session = uow.session.get(CardContactSession, contact_id)
    if session is None or (not actor.owns(session.actor_user_id) and actor.role is not Role.ADMIN):
        raise ContactNotFound()
    return session


def _round(platform, contact_id: str) -> ContactStep:
    """Re-run the contact's use case over its transcript up to the next command or the end."""
    with platform.uow() as uow:
        session = uow.session.get(CardContactSession, contact_id)
        exchanges, purpose, subject, when = list(session.exchanges), Purpose(session.purpose), session.subject, session.started_at
        actor = Actor(user_id=session.actor_user, role=Role(session.actor_role), channel=Channel(session.actor_channel),
                      branch_code=session.actor_branch, person_id=session.actor_person,
                      account_id=session.actor_user_id)
    awaiting, result, problem = _run(platform, exchanges, actor, purpose, subject, when)
    with platform.uow() as uow:
        session = uow.session.get(CardContactSession, contact_id)
        session.awaiting = awaiting
        session.result, session.problem = result, problem
        session.state = "awaiting_card" if awaiting else "failed" if problem else "done"
        session.updated_at = uow.now()
        uow.commit()
        return _step(session)


def _first_round(platform, actor: Actor, purpose: Purpose, subject: str | None,
                 when: datetime) -> tuple[str | None, Any, dict | None]:
    """The first round over an empty transcript, as `_round` runs it with the actor as a
    stored contact gives it back (`_round` builds it from the contact's columns)."""
    stored = Actor(user_id=actor.user_id, role=Role(str(actor.role)), channel=Channel(str(actor.channel)),
                   branch_code=actor.branch_code, person_id=actor.person_id, account_id=actor.account_id)
    return _run(platform, [], stored, purpose, subject, when)


def _run(platform, exchanges: list, actor: Actor, purpose: Purpose, subject: str | None,
         when: datetime) -> tuple[str | None, Any, dict | None]:
    """(the next command, or the outcome as JSON, or the problem) of one round."""
    try:
        outcome = _operations()[purpose](platform, ScriptedReader(exchanges), actor, subject, when)
    except NeedCommand as need:
        return need.apdu.hex().upper(), None, None
    except DomainError as error:
        return None, None, error.to_problem()
    return None, jsonable(outcome), None


def _step(session: CardContactSession) -> ContactStep:
    return ContactStep(session.id, session.purpose, session.state, session.awaiting, session.result,
                       session.problem, len(session.exchanges))


def jsonable(value: Any) -> Any:
    """A view (dataclass) as JSON-ready data: dates as ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
