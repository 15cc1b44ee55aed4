"""Background work of the notices, run by `ykt worker`.

* `notices.sync_from_outbox`: reads the card and application events behind its own cursor
  and sends each holder notice once (the same inbox consumer as the bus subscription in
  wiring.py), so nothing is missed with NATS or when an in-process handler failed.
* `notices.expiry_reminders`: texts each holder whose card's financial function ends soon,
  once per card.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from yikatong.core.errors import DomainError
from yikatong.db.uow import UnitOfWork
from yikatong.events.dispatcher import as_event
from yikatong.events.inbox import consume_once
from yikatong.events.models import OutboxEvent
from yikatong.events.protocols import Event
from yikatong.notices import service
from yikatong.notices.models import NoticeEventCursor
from yikatong.worker.runner import Job

log = logging.getLogger(__name__)

CONSUMER = "notices.sms"
EVENT_TYPES = ("card.temporary_loss_reported", "card.formal_loss_reported", "card.unblocked",
               "application.ready_for_pickup",
               "card.financial_status_changed")  # a bank's payment_held among them


def apply(uow: UnitOfWork, event: Event) -> None:
    service.notify_for_event(uow=uow, event=event)


def sync_from_outbox(platform, *, limit: int = 200) -> int:
    """Send the notices of events committed since the last run; returns how many were read."""
    with platform.uow() as uow:
        cursor = uow.session.get(NoticeEventCursor, CONSUMER)
        events = [as_event(row) for row in uow.session.execute(
            select(OutboxEvent).where(OutboxEvent.type.in_(EVENT_TYPES),
                                      OutboxEvent.seq > (cursor.last_seq if cursor else 0))
            .order_by(OutboxEvent.seq).limit(limit)).scalars()]
    for handled, event in enumerate(events):
        try:
            with platform.uow() as uow:
                _advance(uow, event.seq)
                consume_once(uow, CONSUMER, event, apply)
                uow.commit()
        except DomainError as error:  # e.g. a record gone: skip this notice, do not stall
            log.warning("notice for event %s skipped: %s", event.event_id, error.code)
            with platform.uow() as uow:
                _advance(uow, event.seq)
                uow.commit()
        except Exception:
            log.exception("notice for event %s failed; retrying next run", event.event_id)
            return handled
    return len(events)


def _advance(uow: UnitOfWork, seq: int) -> None:
    cursor = uow.session.get(NoticeEventCursor, CONSUMER)
    if cursor is None:
        uow.session.add(NoticeEventCursor(consumer=CONSUMER, last_seq=seq))
    else:
        cursor.last_seq = seq
    uow.session.flush()


def expiry_reminders(platform) -> int:
    with platform.uow() as uow:
        sent = service.send_expiry_reminders(uow=uow)
        uow.commit()
    return sent


JOBS = [
    Job("notices.sync_from_outbox", every_seconds=5, run=sync_from_outbox),
    Job("notices.expiry_reminders", every_seconds=3600, run=expiry_reminders),
]
