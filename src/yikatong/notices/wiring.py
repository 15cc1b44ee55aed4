"""Register the development SMS outbox (unless a deployment registered its carrier) and
subscribe the holder notices to the card and application events.

With the in-process bus each notice is sent right after its event's commit, once
(events.inbox); with NATS the worker's `notices.sync_from_outbox` job reads the outbox.
"""

from __future__ import annotations

import logging

from yikatong.events.inbox import once_handler
from yikatong.events.protocols import Event, EventBus
from yikatong.notices.protocols import SmsGateway
from yikatong.notices.reference import DevelopmentSmsOutbox

log = logging.getLogger(__name__)


def configure(platform) -> None:
    if not platform.has(SmsGateway):
        platform.provide(SmsGateway, factory=lambda p: DevelopmentSmsOutbox(p.engine, p.clock))


def connect(platform) -> None:
    if platform.settings.nats_url:
        return
    from yikatong.notices.jobs import CONSUMER, EVENT_TYPES, apply

    handle = once_handler(platform, CONSUMER, apply)

    def handle_quietly(event: Event) -> None:
        # A failed notice must not hold back the dispatcher; the catch-up job sends it later.
        try:
            handle(event)
        except Exception:
            log.exception("notice for event %s failed; the catch-up job will retry", event.event_id)

    bus = platform.get(EventBus)
    for event_type in EVENT_TYPES:
        bus.subscribe(event_type, handle_quietly)
