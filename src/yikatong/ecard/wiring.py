"""Subscribe the e-card to the physical card's and the applications' events.

With the in-process bus (the default) each event is applied right after its producer's
commit, once (events.inbox). With NATS no live subscription is made here (it would open the
connection when a Platform is built and deliver at most once): the worker's
`ecard.sync_from_outbox` job reads the outbox instead, and it also catches up whatever an
in-process handler failed on.
"""

from __future__ import annotations

import logging

from yikatong.events.inbox import once_handler
from yikatong.events.protocols import Event, EventBus

log = logging.getLogger(__name__)


def configure(platform) -> None:
    """No seams of its own: the signing key comes from the crypto package's KeyStore."""


def connect(platform) -> None:
    if platform.settings.nats_url:
        return
    from yikatong.ecard.jobs import CONSUMER, EVENT_TYPES, applier

    handle = once_handler(platform, CONSUMER, applier(platform))

    def handle_quietly(event: Event) -> None:
        # A failure must not hold back the dispatcher (it would re-publish this event to
        # every consumer); the catch-up job applies it later.
        try:
            handle(event)
        except Exception:
            log.exception("e-card sync of event %s failed; the catch-up job will retry",
                          event.event_id)

    bus = platform.get(EventBus)
    for event_type in EVENT_TYPES:
        bus.subscribe(event_type, handle_quietly)
