"""Background work of the notices, run by `ykt worker`.

* `notices.sync_from_outbox`: reads the card and application events behind its own cursor
  and sends each holder notice once (the same inbox consumer as the bus subscription in
  wiring.py), so nothing is missed with NATS or when an in-process handler failed.
* `notices.expiry_reminders`: texts each holder whose card's financial function ends soon,
  once per card.
"""

from __future__ import annotations

from yikatong.db.uow import UnitOfWork
from yikatong.events.inbox import drain_outbox
from yikatong.events.protocols import Event
from yikatong.notices import service
from yikatong.notices.models import NoticeEventCursor
from yikatong.worker.runner import Job

CONSUMER = "notices.sms"
EVENT_TYPES = ("card.temporary_loss_reported", "card.formal_loss_reported", "card.unblocked",
               "application.ready_for_pickup",
               "card.financial_status_changed")  # a bank's payment_held among them


def apply(uow: UnitOfWork, event: Event) -> None:
    service.notify_for_event(uow=uow, event=event)


def sync_from_outbox(platform, *, limit: int = 200) -> int:
    """Send the notices of events committed since the last run; returns how many were read."""
    return drain_outbox(platform, consumer=CONSUMER, cursor_model=NoticeEventCursor,
                        event_types=EVENT_TYPES, apply_fn=apply, limit=limit)


def expiry_reminders(platform) -> int:
    with platform.uow() as uow:
        sent = service.send_expiry_reminders(uow=uow)
        uow.commit()
    return sent


JOBS = [
    Job("notices.sync_from_outbox", every_seconds=5, run=sync_from_outbox),
    Job("notices.expiry_reminders", every_seconds=3600, run=expiry_reminders),
]
