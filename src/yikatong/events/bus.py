"""The in-process bus: the default, so `make run` needs no broker."""

from __future__ import annotations

import logging
from collections import defaultdict

from yikatong.events.protocols import Event, Handler

log = logging.getLogger(__name__)


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self.delivered: list[Event] = []

    def subscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def publish(self, event: Event) -> None:
        for handler in [*self._handlers[event.type], *self._handlers["*"]]:
            handler(event)
        self.delivered.append(event)
