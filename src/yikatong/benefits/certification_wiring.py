"""Subscribe the pension's death handling to the card's `card.retired` events (in-process bus):
each death is applied once (events.inbox), right after the card's commit; with NATS the
worker's `pension.deaths_from_outbox` job reads the outbox instead."""

from __future__ import annotations

import logging

from yikatong.events.inbox import once_handler
from yikatong.events.protocols import Event, EventBus

log = logging.getLogger(__name__)


def connect(platform) -> None:
    if platform.settings.nats_url:
        return
    from yikatong.benefits import recovery

    handle = once_handler(platform, recovery.CONSUMER, recovery.apply)

    def handle_quietly(event: Event) -> None:
        # A failure must not hold back the dispatcher; the catch-up job applies it later.
        try:
            handle(event)
        except Exception:
            log.exception("pension death for event %s failed; the catch-up job will retry",
                          event.event_id)

    bus = platform.get(EventBus)
    for event_type in recovery.EVENT_TYPES:
        bus.subscribe(event_type, handle_quietly)
