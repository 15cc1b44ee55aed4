"""Idempotent consumers: a partner that receives an event twice applies it once.

Transports deliver at least once (a redelivery after a lost ack, a re-publish after the
duplicate window). The consumer records (consumer, event_id) in `event_inbox` in the same
transaction as the event's effect; the unique constraint makes a second application
impossible even when two deliveries race.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from yikatong.db.uow import UnitOfWork
from yikatong.events.models import InboxRecord
from yikatong.events.protocols import Event, Handler

__all__ = ["InboxRecord", "already_applied", "consume_once", "once_handler"]

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


def once_handler(platform, consumer: str, apply_fn: ApplyFn) -> Handler:
    """A bus handler that applies each event once, one transaction per event."""

    def handle(event: Event) -> None:
        with platform.uow() as uow:
            if consume_once(uow, consumer, event, apply_fn):
                uow.commit()

    return handle
