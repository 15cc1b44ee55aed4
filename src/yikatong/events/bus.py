"""The in-process bus: the default, so `make run` needs no broker."""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable

from yikatong.events.protocols import Event, Handler

log = logging.getLogger(__name__)

RECENT_DELIVERIES = 1000

RunHandler = Callable[[list[Event]], None]


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        # Consumers of every event that can take a dispatch's run at once (subscribe_runs).
        self._run_consumers: list[tuple[Handler, RunHandler]] = []
        # The latest deliveries, for inspection and tests; bounded, since `ykt serve` runs
        # this bus for as long as the platform is up.
        self.delivered: deque[Event] = deque(maxlen=RECENT_DELIVERIES)

    def subscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def subscribe_runs(self, handler: Handler, run_handler: RunHandler) -> None:
        """A consumer of every event that takes a dispatch's run of events in one call
        (`publish_run`): `run_handler(events)` applies them all in order, or raises having
        applied none (one transaction); then `handler` takes them one at a time, as `publish`
        gives every event, so one bad event costs the others nothing."""
        self._run_consumers.append((handler, run_handler))

    def publish(self, event: Event) -> None:
        for handler in [*self._handlers[event.type], *self._handlers["*"],
                        *(one for one, _run in self._run_consumers)]:
            handler(event)
        self.delivered.append(event)

    def publish_run(self, events: list[Event]) -> list[Event]:
        """`publish` each event in order, except that each consumer subscribed with
        `subscribe_runs` takes the run in one call, after the others. Returns the events
        every consumer took: all of them, or those before the first one a handler failed on
        (logged; the run stops there as events.dispatcher.publish_events stops, and the rest
        goes again on the next dispatch: each consumer applies an event once)."""
        taken = len(events)
        for count, event in enumerate(events):
            try:
                for handler in [*self._handlers[event.type], *self._handlers["*"]]:
                    handler(event)
            except Exception:
                log.exception("delivering event %s failed; will retry", event.event_id)
                taken = count
                break
        for one, run in self._run_consumers:
            taken = _take_run(one, run, events[:taken])
        self.delivered.extend(events[:taken])
        return events[:taken]


def _take_run(one: Handler, run: RunHandler, events: list[Event]) -> int:
    """How many of `events` the consumer took: the run at once, or when that fails one by
    one up to the first that fails."""
    if not events:
        return 0
    try:
        run(events)
        return len(events)
    except Exception as error:  # often a race a retry wins; one by one says if not
        log.info("a run of %d events failed (%r); delivering them one by one", len(events), error)
    for count, event in enumerate(events):
        try:
            one(event)
        except Exception:
            log.exception("delivering event %s failed; will retry", event.event_id)
            return count
    return len(events)
