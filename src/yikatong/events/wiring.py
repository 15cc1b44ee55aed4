from __future__ import annotations

import logging

from yikatong.events.bus import InProcessBus
from yikatong.events.protocols import EventBus
from yikatong.events.wakeup import OutboxWakeup

log = logging.getLogger(__name__)


def configure(platform) -> None:
    if platform.settings.nats_url:
        # Lazy: the connection opens on the first publish, not when a Platform is built.
        from yikatong.events.nats import JetStreamBus

        platform.provide(EventBus, factory=lambda plat: JetStreamBus(
            plat.settings.nats_url, replicas=plat.settings.nats_replicas))
    else:
        platform.provide(EventBus, InProcessBus())
    platform.after_commit.append(lambda: _dispatch_quietly(platform))
    # Wakes this process's dispatch loop (events.dispatcher.DispatchLoop) after a commit.
    wakeup = OutboxWakeup()
    platform.provide(OutboxWakeup, wakeup)
    platform.after_commit.append(wakeup.notify)


def _dispatch_quietly(platform) -> None:
    """Deliver in-process right after a commit; what fails stays in the outbox for the worker."""
    from yikatong.events.dispatcher import dispatch_pending

    if platform.settings.nats_url:  # an external transport: the worker publishes
        return
    try:
        dispatch_pending(platform)
    except Exception:
        log.exception("in-process dispatch failed; the worker will retry")
