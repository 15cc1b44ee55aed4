"""Publishes outbox rows in order (per card). A crash between commit and publish loses
nothing: the row stays unpublished and goes out on the next run (consumers dedupe by
event_id). `DispatchLoop` runs it when a commit wakes it (events.wakeup), and polls slowly
in case a wake-up was missed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Text, cast, func, select, update

from yikatong.core.killpoints import killpoint
from yikatong.events.codec import StoredEvent, as_event
from yikatong.events.models import OutboxEvent, WebhookEndpoint
from yikatong.events.protocols import Event, EventBus
from yikatong.events.wakeup import OutboxWakeup
from yikatong.events.webhooks import enqueue_deliveries

__all__ = ["DispatchLoop", "as_event", "dispatch_pending", "publish_events", "start_publishing"]

log = logging.getLogger(__name__)


def publish_events(bus: EventBus, events: list[StoredEvent]) -> list[StoredEvent | Event]:
    """Publish outbox rows; returns those the bus stored, in order. A bus with `publish_batch`
    (JetStream) takes the whole list in one call and pipelines it, keeping each card's order,
    and puts each row's payload on the wire as stored (events.codec); the in-process bus takes
    the Events as one run (`publish_run`: a consumer may apply them in one transaction); any
    other bus gets one Event at a time. The run stops at the first failure."""
    if hasattr(bus, "publish_batch"):
        try:
            return bus.publish_batch(events)
        except Exception:  # e.g. timed out as a whole: nothing counts, repeats are deduped
            log.exception("publishing a batch of %d events failed; will retry", len(events))
            return []
    decoded = [row.event() for row in events]
    if hasattr(bus, "publish_run"):  # the in-process bus: a consumer may take the run at once
        return bus.publish_run(decoded)
    for count, event in enumerate(decoded):
        try:
            bus.publish(event)
        except Exception:
            log.exception("publishing event %s failed; will retry", event.event_id)
            return decoded[:count]
    return decoded


def start_publishing(bus: EventBus, events: list[StoredEvent]) -> Callable[[], list[StoredEvent | Event]]:
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

    def stored() -> list[StoredEvent]:
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
    its own thread), the dispatcher marks the one before and reads the one after next in
    one transaction; the next batch goes out only once every event of this one is stored,
    so nothing overtakes a failed event.

    A batch read ahead takes rows after the last one read (those are not marked yet). The
    run ends with a short batch, unless a dispatch asked for another round meanwhile; a row
    committed late with a lower seq than the batch read ahead is left for the dispatch its
    commit causes (events.wakeup)."""
    total = 0
    events = _read_fresh(platform, limit)
    if events:
        killpoint("events.dispatch.read")  # committed, not published: goes out on the next run
    waiting = start_publishing(bus, events) if events else None
    upcoming = _read_after(platform, limit, events)
    while events:
        stored = waiting()
        total += len(stored)
        complete = len(stored) == len(events)
        if complete and upcoming:
            waiting = start_publishing(bus, upcoming)
        killpoint("events.dispatch.published")  # consumers have it, the row is not marked
        following = _mark(platform, events, stored,
                          read_after=upcoming if complete else [], limit=limit)
        if not complete:
            return total
        if not upcoming and _another_round.is_set():
            upcoming = _read_fresh(platform, limit)
            if upcoming:
                waiting = start_publishing(bus, upcoming)
                following = _read_after(platform, limit, upcoming)
        events, upcoming = upcoming, following
    return total


def _read_fresh(platform, limit: int) -> list[StoredEvent]:
    """The oldest unpublished events; the request for another round is served by this read.
    One select, read as a statement on its own (Platform.statement_read_uow: on PostgreSQL
    no BEGIN and ROLLBACK around it, on SQLite no write lock taken to read)."""
    _another_round.clear()
    with platform.statement_read_uow() as uow:
        return _read_pending(uow, limit)


def _read_after(platform, limit: int, batch: list[StoredEvent]) -> list[StoredEvent]:
    """The batch after a full `batch` (none after a short one: it took all there was)."""
    if len(batch) < limit:
        return []
    with platform.statement_read_uow() as uow:
        return _read_pending(uow, limit, after=batch[-1].seq)


# Event's fields, in its order; the payload as the text stored (events.codec.StoredEvent).
_EVENT_COLUMNS = (OutboxEvent.event_id, OutboxEvent.type, OutboxEvent.aggregate_type,
                  OutboxEvent.aggregate_id, OutboxEvent.partner, cast(OutboxEvent.payload, Text),
                  OutboxEvent.occurred_at, OutboxEvent.seq)
_PENDING = select(*_EVENT_COLUMNS).where(OutboxEvent.published_at.is_(None))


def _read_pending(uow, limit: int, *, after: int | None = None) -> list[StoredEvent]:
    """The oldest unpublished events (after seq `after`). Plain statements rather than ORM
    objects: reading 500 rows as objects and flushing an UPDATE for each took longer than
    publishing them pipelined. The payload is read as text: decoding it only to encode it
    again for the wire was a third of this thread's CPU."""
    query = _PENDING if after is None else _PENDING.where(OutboxEvent.seq > after)
    rows = uow.connection().execute(query.order_by(OutboxEvent.seq).limit(limit))
    return [StoredEvent(*row) for row in rows]


_OUTBOX = OutboxEvent.__table__
# Whether the row's partner has a webhook endpoint, asked by the marking statement itself
# (one round trip less per batch than asking after it; the same transaction either way).
# (IN rather than a correlated EXISTS: SQLite's RETURNING drops table names, which would make
# the correlation compare the endpoint's partner with itself.)
_HAS_ENDPOINT = _OUTBOX.c.partner.in_(select(WebhookEndpoint.__table__.c.partner))


def _mark(platform, events: list[StoredEvent], stored: list[StoredEvent | Event], *,
          read_after: list[StoredEvent] = (), limit: int = 0) -> list[StoredEvent]:
    """Mark the stored events published and count an attempt on the first one left; in the
    same transaction, read the batch after `read_after` (when it was full), which is returned."""
    seqs = {event.seq for event in stored}
    with platform.uow() as uow:
        # Only acked rows are marked, and only once (another dispatcher may have marked one).
        marked = {row[0]: row[1] for row in uow.connection().execute(
            update(_OUTBOX).where(_among(seqs), _OUTBOX.c.published_at.is_(None))
            .values(published_at=uow.now()).returning(*_marking_columns(uow)))} if seqs else {}
        # The first row left (the bus down, an ack missing, a handler failed) counts an
        # attempt; all of them go again on the next run.
        unsent = [event.seq for event in events if event.seq not in seqs]
        if unsent:
            uow.connection().execute(update(_OUTBOX).where(_OUTBOX.c.seq == unsent[0])
                                     .values(attempts=_OUTBOX.c.attempts + 1))
        # Same transaction as the mark: a row is queued for webhooks exactly once.
        published = [event for event in events if event.seq in marked]
        enqueue_deliveries(uow, published, with_endpoint={
            event.partner for event in published if marked[event.seq]})  # NULL (no partner) or False: none
        following = _read_pending(uow, limit, after=read_after[-1].seq) \
            if read_after and len(read_after) == limit else []
        uow.commit()
    return following


def _marking_columns(uow) -> tuple:
    """What the marking UPDATE returns: the seq, whether the partner has a webhook endpoint,
    and on PostgreSQL a column whose only effect is that this transaction's commit does not
    wait for its WAL to reach the disk (or a synchronous standby): that wait took about as
    long as the UPDATE. Asked inside the UPDATE (an InitPlan run once) rather than by a SET
    LOCAL of its own, which cost a round trip per batch, as long as the wait under load.

    Safe because losing a mark is the crash between publishing and marking: a server crash
    or failover within the WAL writer's delay (well under a second) forgets the mark, and the
    webhook deliveries queued with it, together; the rows go out again and are marked again,
    the repeats dropped by their Msg-Id within JetStream's duplicate window and by the
    partners' inboxes after it."""
    if uow.session.get_bind().dialect.name == "postgresql":
        return _OUTBOX.c.seq, _HAS_ENDPOINT, _ASYNC_COMMIT
    return _OUTBOX.c.seq, _HAS_ENDPOINT


_ASYNC_COMMIT = select(func.set_config("synchronous_commit", "off", True)).scalar_subquery()


def _among(seqs: set[int]):
    """`seq IN seqs`; as a range when they are consecutive (seq is unique, so the range holds
    these rows and no other): one bound pair instead of hundreds of parameters."""
    low, high = min(seqs), max(seqs)
    if high - low + 1 == len(seqs):
        return _OUTBOX.c.seq.between(low, high)
    return _OUTBOX.c.seq.in_(seqs)


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
