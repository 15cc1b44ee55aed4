"""The in-process bus: the default, so `make run` needs no broker."""

from __future__ import annotations

from collections import defaultdict, deque

from yikatong.events.protocols import Event, Handler

RECENT_DELIVERIES = 1000


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        # The latest deliveries, for inspection and tests; bounded, since `ykt serve` runs
        # this bus for as long as the platform is up.
        self.delivered: deque[Event] = deque(maxlen=RECENT_DELIVERIES)

    def subscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def publish(self, event: Event) -> None:
        for handler in [*self._handlers[event.type], *self._handlers["*"]]:
            handler(event)
        self.delivered.append(event)
