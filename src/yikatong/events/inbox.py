"""Idempotent consumers: a partner that receives an event twice applies it once.

Transports deliver at least once (a redelivery after a lost ack, a re-publish after the
duplicate window). The consumer records (consumer, event_id) in `event_inbox` in the same
transaction as the event's effect; the unique constraint makes a second application
impossible even when two deliveries race.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from yikatong.core.errors import DomainError
from yikatong.db.base import UTCDateTime
from yikatong.db.uow import UnitOfWork
from yikatong.events.dispatcher import as_event
from yikatong.events.models import InboxRecord, OutboxEvent
from yikatong.events.protocols import Event, Handler

__all__ = ["InboxRecord", "already_applied", "consume_all_once", "consume_once", "drain_outbox",
           "once_batch_handler", "once_handler"]

log = logging.getLogger(__name__)

ApplyFn = Callable[[UnitOfWork, Event], None]


def already_applied(uow: UnitOfWork, consumer: str, event_id: str) -> bool:
    return uow.session.execute(
        select(InboxRecord.id).where(InboxRecord.consumer == consumer, InboxRecord.event_id == event_id)
    ).first() is not None


def consume_once(uow: UnitOfWork, consumer: str, event: Event, apply_fn: ApplyFn) -> bool:
    """Apply `event` for `consumer` unless it already was; True when applied now.

    The inbox row is written (and flushed) before `apply_fn(uow, event)` runs, so a racing
    duplicate blocks or fails on the unique constraint instead of applying the effect a
    second time. Does not commit: the caller commits the effect and the inbox row together,
    and a failure in `apply_fn` leaves neither.
    """
    if already_applied(uow, consumer, event.event_id):
        return False
    try:
        # A savepoint: losing the race to another delivery of the same event is an
        # ordinary outcome (it was applied there), not an error to log.
        with uow.session.begin_nested():
            uow.session.add(InboxRecord(consumer=consumer, event_id=event.event_id,
                                        processed_at=uow.now()))
    except IntegrityError:
        return False
    apply_fn(uow, event)
    return True


def consume_all_once(uow: UnitOfWork, consumer: str, events: list[Event], apply_fn: ApplyFn) -> int:
    """`consume_once` for a batch in one transaction; returns how many were applied now.

    One INSERT … ON CONFLICT DO NOTHING RETURNING writes the inbox rows of the events not
    applied before and tells which they are, before any effect (no query first: the check
    and the claim are one statement). A delivery racing this one makes the INSERT wait for
    its transaction: committed, its events are skipped here; rolled back, claimed here. An
    event twice in the batch applies once. Does not commit."""
    first: dict[str, Event] = {}
    for event in events:
        first.setdefault(event.event_id, event)
    if not first:
        return 0
    claimed = _claim(uow, consumer, list(first))
    fresh = [event for event_id, event in first.items() if event_id in claimed]
    for event in fresh:
        apply_fn(uow, event)
    return len(fresh)


_INBOX = InboxRecord.__table__
# On PostgreSQL the batch's ids as one array: one statement text for every batch size
# (psycopg re-parses a long VALUES list of parameters each time: banking.service does the same).
_CLAIM_ARRAY = text(
    "INSERT INTO event_inbox (consumer, event_id, processed_at)"
    " SELECT :consumer, event_id, :processed_at"
    " FROM unnest(CAST(:event_ids AS VARCHAR[])) WITH ORDINALITY AS batch (event_id, position)"
    " ORDER BY position ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id",
).bindparams(bindparam("processed_at", type_=UTCDateTime))


def _claim(uow: UnitOfWork, consumer: str, event_ids: list[str]) -> set[str]:
    """Write the inbox rows of `event_ids` not there yet; the ids written now."""
    dialect = uow.session.get_bind().dialect.name
    if dialect == "postgresql":
        return set(uow.session.execute(_CLAIM_ARRAY, {"consumer": consumer, "event_ids": event_ids,
                                                      "processed_at": uow.now()}).scalars())
    statement = (sqlite.insert(_INBOX).on_conflict_do_nothing(index_elements=["consumer", "event_id"])
                 .returning(_INBOX.c.event_id))
    now = uow.now()
    return set(uow.session.execute(statement, [{"consumer": consumer, "event_id": event_id,
                                                "processed_at": now} for event_id in event_ids]).scalars())


def once_batch_handler(platform, consumer: str, apply_fn: ApplyFn) -> Callable[[list[Event]], None]:
    """A batch handler (events.nats) applying a fetch of events once each, in one transaction."""

    def handle(events: list[Event]) -> None:
        with platform.uow() as uow:
            consume_all_once(uow, consumer, events, apply_fn)
            uow.commit()

    return handle


def once_handler(platform, consumer: str, apply_fn: ApplyFn) -> Handler:
    """A bus handler that applies each event once, one transaction per event.

    The event is claimed as `consume_all_once` claims a batch (one INSERT … ON CONFLICT DO
    NOTHING RETURNING) rather than as `consume_once` does (a select, then the insert in a
    savepoint: four round trips to PostgreSQL where this is one); the same guarantee, a
    racing delivery waits for this one's transaction and then skips."""

    def handle(event: Event) -> None:
        with platform.uow() as uow:
            if consume_all_once(uow, consumer, [event], apply_fn):
                uow.commit()

    return handle


SkipFn = Callable[[UnitOfWork, Event, DomainError], None]


def drain_outbox(platform, *, consumer: str, cursor_model: type, event_types: tuple[str, ...],
                 apply_fn: ApplyFn, on_skip: SkipFn | None = None, limit: int = 200) -> int:
    """Apply, once each, the outbox events of `event_types` committed since `consumer`'s
    cursor (a row of `cursor_model`: consumer, last_seq); returns how many were read.

    The pull side of a consumer, for when the bus is NATS (no in-process subscription) or a
    handler failed: one transaction per event holding the effect, the inbox row and the
    cursor move. A DomainError (e.g. a record gone) skips the event so one bad event cannot
    stall the consumer (`on_skip` may record why, in that same transaction); any other
    failure stops the run and the event is retried next time.
    """
    with platform.uow() as uow:
        cursor = uow.session.get(cursor_model, consumer)
        events = [as_event(row) for row in uow.session.execute(
            select(OutboxEvent).where(OutboxEvent.type.in_(event_types),
                                      OutboxEvent.seq > (cursor.last_seq if cursor else 0))
            .order_by(OutboxEvent.seq).limit(limit)).scalars()]
    for handled, event in enumerate(events):
        try:
            with platform.uow() as uow:
                _advance(uow, cursor_model, consumer, event.seq)
                consume_once(uow, consumer, event, apply_fn)
                uow.commit()
        except DomainError as error:
            log.warning("%s skipped event %s: %s", consumer, event.event_id, error.code)
            with platform.uow() as uow:
                _advance(uow, cursor_model, consumer, event.seq)
                if on_skip is not None:
                    on_skip(uow, event, error)
                uow.commit()
        except Exception:
            log.exception("%s failed at event %s; retrying next run", consumer, event.event_id)
            return handled
    return len(events)


def _advance(uow: UnitOfWork, cursor_model: type, consumer: str, seq: int) -> None:
    cursor = uow.session.get(cursor_model, consumer)
    if cursor is None:
        uow.session.add(cursor_model(consumer=consumer, last_seq=seq))
    else:
        cursor.last_seq = seq
    uow.session.flush()
