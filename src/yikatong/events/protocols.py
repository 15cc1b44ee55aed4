"""The seam between the outbox and whatever carries events to partners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """An event as it leaves the platform (a published outbox row)."""

    event_id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    partner: str | None
    payload: dict[str, Any]
    occurred_at: datetime
    seq: int


Handler = Callable[[Event], None]


class EventBus(Protocol):
    def publish(self, event: Event) -> None:
        """Deliver the event durably or raise; the dispatcher retries what raised.

        Consumers may see an event more than once (at-least-once); they apply it once by
        its event_id.
        """
        ...

    def subscribe(self, event_type: str, handler: Handler) -> None:
        """Call handler for every event of this type ('*' for all) published from now on."""
        ...
