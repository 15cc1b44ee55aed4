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

from yikatong.core.killpoints import killpoint
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


def start_publishing(bus: EventBus, events: list[Event]) -> Callable[[], list[Event]]:
    """Begin publishing `events`; returns a call that waits and gives what `publish_events`
    would. A bus with `start_publish_batch` (JetStream) publishes on its own thread meanwhile;
    any other bus publishes here, before this returns."""
    if not hasattr(bus, "start_publish_batch"):
        stored = publish_events(bus, events)
        return lambda: stored
    try:
        future = bus.start_publish_batch(events)
    except Exception:
        log.exception("publishing a batch of %d events failed; will retry", len(events))
        return list

    def stored() -> list[Event]:
        try:
            return future.result(bus.batch_deadline)
        except Exception:  # e.g. timed out as a whole: nothing counts, repeats are deduped
            future.cancel()
            log.exception("publishing a batch of %d events failed; will retry", len(events))
            return []

    return stored


# One dispatch at a time per process (the after-commit hook and the worker thread), so
# in-process consumers do not see the same event twice from two dispatches racing. A call
# that finds a dispatch under way (another thread's, or this thread's own when a consumer
# commits events of its own) asks that dispatch for one more round instead of waiting.
_dispatching = threading.Lock()
_another_round = threading.Event()


def dispatch_pending(platform, bus: EventBus | None = None, *, limit: int = 1000) -> int:
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
        return _dispatch_batches(platform, bus, limit)
    finally:
        _dispatching.release()


def _dispatch_batches(platform, bus: EventBus, limit: int) -> int:
    """Batch after batch, overlapped: while one batch is on its way (JetStream publishes on
    its own thread), the next is read and the one before is marked; the next batch goes out
    only once every event of this one is stored, so nothing overtakes a failed event.

    The batch read ahead takes rows after the one in flight (those are not marked yet). The
    run ends with a short batch, unless a dispatch asked for another round meanwhile; a row
    committed late with a lower seq than the batch read ahead is left for the dispatch its
    commit causes (events.wakeup)."""
    total = 0
    events = _read_fresh(platform, limit)
    if events:
        killpoint("events.dispatch.read")  # committed, not published: goes out on the next run
    waiting = start_publishing(bus, events) if events else None
    while events:
        upcoming = _read_pending(platform, limit, after=events[-1].seq) if len(events) == limit else []
        stored = waiting()
        total += len(stored)
        complete = len(stored) == len(events)
        if complete and upcoming:
            waiting = start_publishing(bus, upcoming)
        killpoint("events.dispatch.published")  # consumers have it, the row is not marked
        _mark(platform, events, stored)
        if not complete:
            return total
        if not upcoming and _another_round.is_set():
            upcoming = _read_fresh(platform, limit)
            if upcoming:
                waiting = start_publishing(bus, upcoming)
        events = upcoming
    return total


def _read_fresh(platform, limit: int) -> list[Event]:
    """The oldest unpublished events; the request for another round is served by this read."""
    _another_round.clear()
    return _read_pending(platform, limit)


_EVENT_COLUMNS = (OutboxEvent.event_id, OutboxEvent.type, OutboxEvent.aggregate_type,
                  OutboxEvent.aggregate_id, OutboxEvent.partner, OutboxEvent.payload,
                  OutboxEvent.occurred_at, OutboxEvent.seq)  # Event's fields, in its order


def _read_pending(platform, limit: int, *, after: int | None = None) -> list[Event]:
    """The oldest unpublished events (after seq `after`). Plain statements rather than ORM
    objects: reading 500 rows as objects and flushing an UPDATE for each took longer than
    publishing them pipelined."""
    query = select(*_EVENT_COLUMNS).where(OutboxEvent.published_at.is_(None))
    if after is not None:
        query = query.where(OutboxEvent.seq > after)
    with platform.uow() as uow:
        return [Event(*row) for row in uow.session.execute(query.order_by(OutboxEvent.seq).limit(limit))]


def _mark(platform, events: list[Event], stored: list[Event]) -> None:
    """Mark the stored events published; count an attempt on the first one left."""
    from yikatong.events.webhooks import enqueue_deliveries  # webhooks imports as_event

    seqs = {event.seq for event in stored}
    with platform.uow() as uow:
        # Only acked rows are marked, and only once (another dispatcher may have marked one).
        marked = set(uow.session.execute(
            update(OutboxEvent).where(_among(seqs), OutboxEvent.published_at.is_(None))
            .values(published_at=uow.now()).returning(OutboxEvent.seq)).scalars()) if seqs else set()
        # The first row left (the bus down, an ack missing, a handler failed) counts an
        # attempt; all of them go again on the next run.
        unsent = [event.seq for event in events if event.seq not in seqs]
        if unsent:
            uow.session.execute(update(OutboxEvent).where(OutboxEvent.seq == unsent[0])
                                .values(attempts=OutboxEvent.attempts + 1))
        # Same transaction as the mark: a row is queued for webhooks exactly once.
        enqueue_deliveries(uow, [event for event in events if event.seq in marked])
        uow.commit()


def _among(seqs: set[int]):
    """`seq IN seqs`; as a range when they are consecutive (seq is unique, so the range holds
    these rows and no other): one bound pair instead of hundreds of parameters."""
    low, high = min(seqs), max(seqs)
    if high - low + 1 == len(seqs):
        return OutboxEvent.seq.between(low, high)
    return OutboxEvent.seq.in_(seqs)


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
