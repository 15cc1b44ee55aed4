"""Background work of the benefits domain, run by `ykt worker`.

* `benefits.sync_account_map`: reads the card events behind its own cursor and recomputes
  each person's entry of the ID→account map (the same inbox consumer as the bus subscription
  in wiring.py), so nothing is missed with NATS or when an in-process handler failed.
"""

from __future__ import annotations

from yikatong.benefits import certification_jobs
from yikatong.benefits.accounts import CARD_EVENTS, apply_card_event
from yikatong.benefits.models import AccountMapCursor
from yikatong.db.uow import UnitOfWork
from yikatong.events.inbox import drain_outbox
from yikatong.events.protocols import Event
from yikatong.worker.runner import Job

CONSUMER = "benefits.account_map"
EVENT_TYPES = CARD_EVENTS


def apply(uow: UnitOfWork, event: Event) -> None:
    apply_card_event(uow, event)


def sync_account_map(platform, *, limit: int = 500) -> int:
    """Apply the card events committed since the last run; returns how many were read."""
    return drain_outbox(platform, consumer=CONSUMER, cursor_model=AccountMapCursor,
                        event_types=EVENT_TYPES, apply_fn=apply, limit=limit)


def catch_up(platform) -> None:
    """Read every pending card event (before a run maps its payees)."""
    while sync_account_map(platform) >= 500:
        pass


JOBS = [Job("benefits.sync_account_map", every_seconds=5, run=sync_account_map),
        *certification_jobs.JOBS]  # pension: reminders, lapses, deaths, recoveries
