"""Keep the ID→account map current: subscribe it to the card events (in-process bus); with
NATS the worker's `benefits.sync_account_map` job reads the outbox instead."""

from __future__ import annotations

import logging

from yikatong.events.inbox import once_handler
from yikatong.events.protocols import Event, EventBus

log = logging.getLogger(__name__)


def configure(platform) -> None:  # noqa: ARG001 - no seam of its own to register
    return None


def connect(platform) -> None:
    if platform.settings.nats_url:
        return
    from yikatong.benefits.jobs import CONSUMER, EVENT_TYPES, apply

    handle = once_handler(platform, CONSUMER, apply)

    def handle_quietly(event: Event) -> None:
        # A failed update must not hold back the dispatcher; the catch-up job applies it later.
        try:
            handle(event)
        except Exception:
            log.exception("account map update for event %s failed; the catch-up job will retry",
                          event.event_id)

    bus = platform.get(EventBus)
    for event_type in EVENT_TYPES:
        bus.subscribe(event_type, handle_quietly)

    # pension: a card retired at death stops payments and records recoveries (recovery.py)
    from yikatong.benefits import certification_wiring

    certification_wiring.connect(platform)
