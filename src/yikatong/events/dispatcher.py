"""Publishes outbox rows in order (per card). A crash between commit and publish loses
nothing: the row stays unpublished and goes out on the next run (consumers dedupe by
event_id). `DispatchLoop` runs it when a commit wakes it (events.wakeup), and polls slowly
in case a wake-up was missed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import select, update

from yikatong.events.models import OutboxEvent
from yikatong.events.protocols import Event, EventBus
from yikatong.events.wakeup import OutboxWakeup

log = logging.getLogger(__name__)


def as_event(row: OutboxEvent) -> Event:
    return Event(
        event_id=row.event_id, type=row.type, aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id, partner=row.partner, payload=row.payload,
        occurred_at=row.occurred_at, seq=row.seq,
    )


def publish_events(bus: EventBus, events: list[Event]) -> list[Event]:
    """Publish events; returns those the bus stored, in order. A bus with `publish_batch`
    (JetStream) takes the whole list in one call and pipelines it, keeping each card's order;
    any other bus gets one event at a time and the run stops at the first failure."""
    if hasattr(bus, "publish_batch"):
        try:
            return bus.publish_batch(events)
        except Exception:  # e.g. timed out as a whole: nothing counts, repeats are deduped
            log.exception("publishing a batch of %d events failed; will retry", len(events))
            return []
    for count, event in enumerate(events):
        try:
            bus.publish(event)
        except Exception:
            log.exception("publishing event %s failed; will retry", event.event_id)
            return events[:count]
    return events


# One dispatch at a time per process (the after-commit hook and the worker thread), so
# in-process consumers do not see the same event twice from two dispatches racing. A call
# that finds a dispatch under way (another thread's, or this thread's own when a consumer
# commits events of its own) asks that dispatch for one more round instead of waiting.
_dispatching = threading.Lock()
_another_round = threading.Event()


def dispatch_pending(platform, bus: EventBus | None = None, *, limit: int = 500) -> int:
    """Publish unpublished events, oldest first, until none are left; stop at the first
    failure (the bus keeps each card's order: events.nats). Returns how many this call
    published.

    Publishing happens outside any transaction: in-process consumers write to the database
    themselves, and on SQLite a transaction held open here would lock them out. A crash after
    publishing and before marking re-publishes on the next run; consumers dedupe by event_id.
    """
    bus = bus or platform.get(EventBus)
    if not _dispatching.acquire(blocking=False):
        _another_round.set()
        return 0
    try:
        total = 0
        while True:
            _another_round.clear()
            read, published = _dispatch_batch(platform, bus, limit)
            total += published
            if published < read or (read < limit and not _another_round.is_set()):
                return total
    finally:
        _dispatching.release()


_EVENT_COLUMNS = (OutboxEvent.event_id, OutboxEvent.type, OutboxEvent.aggregate_type,
                  OutboxEvent.aggregate_id, OutboxEvent.partner, OutboxEvent.payload,
                  OutboxEvent.occurred_at, OutboxEvent.seq)


def _dispatch_batch(platform, bus: EventBus, limit: int) -> tuple[int, int]:
    """One batch: read, publish, mark. Returns (read, published).

    Plain statements rather than ORM objects: reading 500 rows as objects and flushing an
    UPDATE for each took longer than publishing them pipelined."""
    from yikatong.events.webhooks import enqueue_deliveries  # webhooks imports as_event

    with platform.uow() as uow:
        events = [Event(**row._mapping) for row in uow.session.execute(
            select(*_EVENT_COLUMNS).where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.seq).limit(limit))]
    if not events:
        return 0, 0
    stored = {event.seq for event in publish_events(bus, events)}
    with platform.uow() as uow:
        # Only acked rows are marked, and only once (another dispatcher may have marked one).
        marked = set(uow.session.execute(
            update(OutboxEvent).where(OutboxEvent.seq.in_(stored), OutboxEvent.published_at.is_(None))
            .values(published_at=uow.now()).returning(OutboxEvent.seq)).scalars()) if stored else set()
        # The first row left (the bus down, an ack missing, a handler failed) counts an
        # attempt; all of them go again on the next run.
        unsent = [event.seq for event in events if event.seq not in stored]
        if unsent:
            uow.session.execute(update(OutboxEvent).where(OutboxEvent.seq == unsent[0])
                                .values(attempts=OutboxEvent.attempts + 1))
        # Same transaction as the mark: a row is queued for webhooks exactly once.
        enqueue_deliveries(uow, [event for event in events if event.seq in marked])
        uow.commit()
    return len(events), len(stored)


# The fallback poll: how often the loop dispatches when nothing woke it. On PostgreSQL every
# process's commit wakes it, so polling is only a safety net; on SQLite a commit in another
# process (a separate `ykt worker`) is seen only by polling, so it stays as frequent as before.
FALLBACK_SECONDS = {"postgresql": 5.0}
SQLITE_FALLBACK_SECONDS = 0.2


class DispatchLoop:
    """Dispatches whenever a commit wakes it, and at least every `fallback_seconds`."""

    def __init__(self, platform, bus: EventBus | None = None, *,
                 fallback_seconds: float | None = None) -> None:
        self.platform = platform
        self.bus = bus
        dialect = platform.engine.dialect.name
        self.fallback_seconds = fallback_seconds or FALLBACK_SECONDS.get(dialect, SQLITE_FALLBACK_SECONDS)
        self.wakeup: OutboxWakeup = platform.get(OutboxWakeup)
        self.dispatched = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, stop: Callable[[], bool]) -> None:
        """Until `stop()` (checked at least every second)."""
        self.wakeup.listen(self.platform.engine)
        next_poll = time.monotonic() + self.fallback_seconds
        try:
            while not stop():
                left = next_poll - time.monotonic()
                if left > 0 and not self.wakeup.wait(min(left, 1.0)):
                    continue
                next_poll = time.monotonic() + self.fallback_seconds
                try:
                    self.dispatched += dispatch_pending(self.platform, self.bus)
                except Exception:  # the database away for a moment: the rows wait for the next round
                    log.exception("dispatching the outbox failed; will retry")
        finally:
            self.wakeup.close()

    def start(self) -> DispatchLoop:
        """Run in a daemon thread until `stop()`."""
        self._thread = threading.Thread(target=self.run, args=(self._stopping.is_set,),
                                        name="ykt-dispatch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread `start` began (and with it the listening connection)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
