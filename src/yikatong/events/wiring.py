from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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


class HeldDelivery:
    """Whether a commit made while the in-process delivery was held (`held_until_answered`)
    left events to deliver."""

    def __init__(self) -> None:
        self.due = False


_HELD: ContextVar[HeldDelivery | None] = ContextVar("ykt_delivery_held", default=None)


@contextmanager
def held_until_answered() -> Iterator[HeldDelivery]:
    """While the block runs (and in the threads it hands work to: they run in a copy of its
    context), a commit does not deliver its events in process: it marks them due, for the
    caller to `deliver_pending` once the request's answer is sent (api.deps.
    write_in_thread). The events wait in the outbox meanwhile, as they do for any
    dispatch: delivered once each, in order, whoever dispatches them."""
    held = HeldDelivery()
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)


def _dispatch_quietly(platform) -> None:
    """Deliver in-process right after a commit (unless held: `held_until_answered`); what
    fails stays in the outbox for the worker."""
    if platform.settings.nats_url:  # an external transport: the worker publishes
        return
    held = _HELD.get()
    if held is not None:
        held.due = True
        return
    deliver_pending(platform)


def deliver_pending(platform) -> None:
    """Deliver in process what the outbox holds; a failure is logged, the worker retries."""
    from yikatong.events.dispatcher import dispatch_pending

    try:
        dispatch_pending(platform)
    except Exception:
        log.exception("in-process dispatch failed; the worker will retry")
