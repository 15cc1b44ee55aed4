"""NATS JetStream transport: the EventBus when `YKT_NATS_URL` is set.

Streams and subjects (namespace `ykt` in production; tests use their own):

* one durable stream per partner bank, `YKT_BANK_<CODE>` holding `ykt.bank.<code>.>`, and
  `YKT_PLATFORM` holding `ykt.platform.>` for events without a partner;
* one subject per event: `ykt.bank.<code>.<aggregate_id>.<type>` (`ykt.platform.<aggregate_id>.<type>`),
  so a consumer may filter one card with `ykt.bank.<code>.<card>.>`;
* each stream on `replicas` servers (`YKT_NATS_REPLICAS`: 1 on a single server, 3 on a
  three-node cluster, where a stream keeps taking and handing out messages while one node is
  down: tests/banking/test_broker_faults.py).

Publishing waits for JetStream's ack, so a `publish` that returns is stored. Each message
carries `Nats-Msg-Id: <event_id>`: when the dispatcher dies after publishing but before
marking the outbox row, its re-publish falls inside the stream's duplicate window and is
dropped by the server; after the window the partner's inbox (`events.inbox`) drops it.

`publish_batch` (the dispatcher's) pipelines: it writes the whole batch in outbox order on
one connection without waiting, then reads every ack, matched to its message by the reply
subject on one subscription of the bus's own (`_AckInbox`; one deadline for the batch). The
server stores a connection's messages in the order it receives them, so the stream keeps
the outbox order. Only acked events count as stored: an event whose ack is an error or does
not come in time keeps its outbox row unpublished and goes again on the next run (a copy
that was stored after all is dropped by its Msg-Id). Awaiting each ack before sending the
next ran at 3,300 events/s on our 2-core machine; pipelined, see bench/outbox_nats.py.

What pipelining gives up: awaiting each ack, nothing after a failed event was ever sent.
Pipelined, the events behind it are already on their way, so when one message is refused
or lost while later ones are stored, a later event of the same card can be stored before
the failed one's retry. With our streams the server refuses no single message (no
per-message limits; a payload over the server's limit is refused by the client before
anything behind it is written), so it takes a connection dropping between two events of
one card in the same batch with the first lost on the wire. The consumer guards each card's
order: every event carries its outbox `seq`, and the bank records but does not apply an
event older than the last one of its kind it handled for that card (banking.service
ORDERED_STATES), so a retry arriving late never leaves it with a stale state. The
alternative we tried, sending a card's next event only after its previous one's ack, keeps
each card's order on the wire but not the order across cards, which the banks' consumers see.

Consumers (`subscribe_durable`) are pull consumers with explicit acks. Each fetch takes
up to `batch_size` messages (`max_ack_pending` is the same, so the server hands out no more
until they are acked) and the consumer applies them in stream order, which is publication
order, which is outbox order per card; it fetches again only when every one of them is
applied. With a `batch_handler` the whole fetch is applied in one call (one transaction at
the bank: a backlog drains at thousands of events per second instead of a few hundred);
when that fails, the events are applied one by one with `handler`, so one bad event costs
its batch neighbours nothing. A handler that raises is called again after a growing delay,
in this process, and nothing behind it is applied meanwhile (the batch stays unacked, its
ack deadline extended). We chose this over per-card parallelism (a consumer per card
subject, or client-side per-card queues) because it is obviously correct and needs no
per-card state; the cost is that one poisoned event holds up its partner's whole stream,
which is what an operator must see anyway. A consumer that was down (or stopped while
retrying) picks up where its durable position was, so a bank that is down for an hour
receives everything, in order.

nats-py is asyncio; the platform is synchronous. Each bus owns one event-loop thread and
the sync methods submit coroutines to it and wait (`_LoopThread`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js import api

from yikatong.events.codec import StoredEvent, decode_event, encode_event
from yikatong.events.protocols import Event, Handler

log = logging.getLogger(__name__)
T = TypeVar("T")
BatchHandler = Callable[[list[Event]], None]

DEFAULT_NAMESPACE = "ykt"
_PARTNER_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_UNSAFE_IN_TOKEN = re.compile(r"[\s.*>]")
_UNSAFE_IN_TYPE = re.compile(r"[\s*>]")  # dots kept: "card.lost" becomes two subject tokens


def server_urls(url: str) -> list[str]:
    """The servers of `YKT_NATS_URL`: one URL, or a cluster's comma-separated (the client
    connects to any of them and moves to another when its server goes away)."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError("no NATS server URL")
    return urls


def _check_partner(partner: str) -> str:
    if not _PARTNER_CODE.match(partner):
        raise ValueError(f"partner code {partner!r} is not usable in a stream name")
    return partner


def partner_stream(partner: str | None, namespace: str = DEFAULT_NAMESPACE) -> str:
    """`YKT_BANK_ICBC` for partner ICBC; `YKT_PLATFORM` for events without a partner."""
    prefix = namespace.upper()
    if partner is None:
        return f"{prefix}_PLATFORM"
    return f"{prefix}_BANK_{_check_partner(partner).upper()}"


def stream_subject(partner: str | None, namespace: str = DEFAULT_NAMESPACE) -> str:
    """The subject wildcard a partner's stream holds."""
    if partner is None:
        return f"{namespace}.platform.>"
    return f"{namespace}.bank.{_check_partner(partner).lower()}.>"


def subject_for(event: Event, namespace: str = DEFAULT_NAMESPACE) -> str:
    """`ykt.bank.icbc.<aggregate_id>.<type>`; characters NATS reserves become `_`."""
    aggregate = _UNSAFE_IN_TOKEN.sub("_", event.aggregate_id) or "_"
    tokens = [_UNSAFE_IN_TYPE.sub("_", part) or "_" for part in event.type.split(".")]
    return f"{stream_subject(event.partner, namespace)[:-1]}{aggregate}.{'.'.join(tokens)}"


class _LoopThread:
    """An asyncio loop on its own daemon thread; `run` waits for a coroutine from sync code."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coroutine).result(timeout)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a sync bus method was called from the bus's own loop thread")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass(frozen=True)
class _Pace:
    """How a consumer waits: for new messages, and before calling a failed handler again."""

    poll: float
    retry_base: float
    retry_cap: float
    ack_wait: float

    def retry_delay(self, attempt: int) -> float:
        return min(self.retry_cap, self.retry_base * 2 ** (attempt - 1))


class DurableSubscription:
    """A running pull consumer. `stop()` ends this process's consumption; the durable
    consumer and its position stay on the server for the next start."""

    def __init__(self, stream: str, durable_name: str, handler: Handler,
                 batch_handler: BatchHandler | None = None, batch_size: int = 1) -> None:
        self.stream = stream
        self.durable_name = durable_name
        self.handler = handler
        self.batch_handler = batch_handler
        self.batch_size = batch_size
        self.applied = 0
        self.failures = 0
        self.batches = 0  # applied whole by batch_handler
        self._stopping = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ykt-{durable_name}")
        self._task: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the bus's loop, once consuming
        self._fetching: asyncio.Future | None = None  # the fetch waiting for messages (loop only)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._loop is not None and not self._loop.is_closed():
            # A fetch waits up to the poll interval for a message: end it now rather than
            # wait for it (a consumer with a long poll held every stop for the whole timeout).
            self._loop.call_soon_threadsafe(self._cancel_fetch)
        if self._task is not None:
            try:
                self._task.result(timeout)
            except Exception:  # cancelled or failed while stopping: nothing left to do
                log.debug("consumer %s stopped with an error", self.durable_name, exc_info=True)
        self._executor.shutdown(wait=True)

    def _cancel_fetch(self) -> None:
        """On the loop, after `_stopping` is set: `_consume` either has not yet checked the flag
        (it stops there) or waits in this fetch (there is no await between the two)."""
        if self._fetching is not None:
            self._fetching.cancel()


class JetStreamBus:
    """EventBus over NATS JetStream. Thread-safe; connects on first use."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        publish_timeout: float = 5.0,
        connect_timeout: float = 3.0,
        duplicate_window_seconds: float = 600.0,
        max_age_seconds: float = 30 * 24 * 3600.0,
        replicas: int = 1,
    ) -> None:
        if replicas < 1:
            raise ValueError("a stream needs at least one replica")
        self.url = url
        self.replicas = replicas
        self.namespace = namespace
        self.publish_timeout = publish_timeout
        self.connect_timeout = connect_timeout
        self.duplicate_window_seconds = duplicate_window_seconds
        self.max_age_seconds = max_age_seconds
        self._loop = _LoopThread(f"ykt-nats-{namespace}")
        self._nc: nats.NATS | None = None
        self._js = None
        self._closed = False
        self._connect_lock: asyncio.Lock | None = None
        self._streams: set[str] = set()
        self._subscriptions: list[DurableSubscription] = []
        self._core_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ykt-nats-sub")
        self._acks: _AckInbox | None = None  # the pipelined publishes' replies (loop only)

    # -- EventBus --------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Store the event in its partner's stream and wait for the ack, or raise."""
        self.publish_with_ack(event)

    def publish_with_ack(self, event: Event) -> api.PubAck:
        """As `publish`, returning JetStream's ack (`duplicate` is True for a re-publish)."""
        return self._loop.run(self._publish(event), timeout=self.publish_timeout + self.connect_timeout + 5)

    def publish_batch(self, events: Sequence[Event | StoredEvent]) -> list[Event | StoredEvent]:
        """Publish pipelined (module docstring); returns the events JetStream acked, in batch
        order (outbox rows, `StoredEvent`, go with their payload as stored). Failures are logged and leave their events out: an event whose ack is an error
        or does not come in time, and everything from the first event that names no usable
        stream on (nothing behind it is sent). One hand-off to the I/O thread for the batch."""
        return self._loop.run(self._publish_pipelined(events), timeout=self.batch_deadline)

    @property
    def batch_deadline(self) -> float:
        """How long a `publish_batch` may take at most (connecting included)."""
        return self.publish_timeout * 2 + self.connect_timeout * 2 + 10

    def start_publish_batch(self, events: Sequence[Event | StoredEvent]) -> Future:
        """`publish_batch` without waiting: a future of the stored events, so the caller
        (the dispatcher) reads and marks rows while the batch is on its way."""
        return self._loop.submit(self._publish_pipelined(events))

    def subscribe(self, event_type: str, handler: Handler) -> None:
        """Live (non-durable) delivery of new events of this type ('*' for all), at most once.

        Partners that must not miss an event use `subscribe_durable` instead.
        """
        self._loop.run(self._subscribe_core(event_type, handler), timeout=self.connect_timeout + 5)

    # -- streams and durable consumers -----------------------------------------------------

    def stream_for(self, partner: str | None) -> str:
        return partner_stream(partner, self.namespace)

    def ensure_stream(self, partner: str | None) -> str:
        """Create the partner's stream if it is missing; returns its name."""
        return self._loop.run(self._ensure_stream(partner), timeout=self.connect_timeout + 10)

    def subscribe_durable(
        self,
        stream: str,
        durable_name: str,
        handler: Handler,
        *,
        batch_handler: BatchHandler | None = None,
        batch_size: int = 1,
        filter_subject: str | None = None,
        ack_wait_seconds: float = 30.0,
        redelivery_base_seconds: float = 1.0,
        redelivery_cap_seconds: float = 60.0,
        poll_seconds: float = 0.5,
    ) -> DurableSubscription:
        """Apply every message of `stream` in stream order: up to `batch_size` at a time,
        with `batch_handler` (all of them in one call) when given, else or when it fails
        one by one with `handler`.

        The durable consumer `durable_name` is created on first use (from the start of the
        stream) and remembers its position across restarts. Messages are acked once applied;
        a handler that raises is called again after base·2^(n-1) seconds (capped), with
        nothing behind it applied meanwhile. A message that is not an event is terminated
        (logged, never redelivered) so it cannot block the stream forever.
        """
        subscription = DurableSubscription(stream, durable_name, handler, batch_handler,
                                           max(1, batch_size))
        psub = self._loop.run(
            self._pull_subscription(stream, durable_name, filter_subject, ack_wait_seconds,
                                    subscription.batch_size),
            timeout=self.connect_timeout + 10,
        )
        pace = _Pace(poll=poll_seconds, retry_base=redelivery_base_seconds,
                     retry_cap=redelivery_cap_seconds, ack_wait=ack_wait_seconds)
        subscription._loop = self._loop.loop
        subscription._task = asyncio.run_coroutine_threadsafe(
            self._consume(psub, subscription, pace), self._loop.loop)
        self._subscriptions.append(subscription)
        return subscription

    def subscribe_partner(
        self, partner: str | None, durable_name: str, handler: Handler, **options: Any
    ) -> DurableSubscription:
        """`subscribe_durable` on the partner's stream, creating the stream if needed."""
        return self.subscribe_durable(self.ensure_stream(partner), durable_name, handler, **options)

    def stream_message_count(self, stream: str) -> int:
        async def count() -> int:
            info = await (await self._jetstream()).stream_info(stream)
            return info.state.messages

        return self._loop.run(count(), timeout=10)

    def delete_stream(self, stream: str) -> bool:
        async def delete() -> bool:
            try:
                return await (await self._jetstream()).delete_stream(stream)
            except nats.js.errors.NotFoundError:
                return False
            finally:
                self._streams.discard(stream)

        return self._loop.run(delete(), timeout=10)

    def close(self) -> None:
        """Stop this process's consumers and disconnect; the bus is unusable afterwards."""
        if self._closed:
            return
        self._closed = True
        for subscription in self._subscriptions:
            subscription.stop()
        self._subscriptions.clear()

        async def close_connection() -> None:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.close()

        try:
            self._loop.run(close_connection(), timeout=10)
        finally:
            self._loop.stop()
            self._core_executor.shutdown(wait=False)

    # -- inside the loop thread ------------------------------------------------------------

    async def _connection(self) -> nats.NATS:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._nc is None or self._nc.is_closed:
                # nats-py retries a first connection forever when reconnects are unlimited;
                # bound it so a publish fails (and the dispatcher retries) instead of hanging.
                self._nc = await asyncio.wait_for(
                    nats.connect(
                        server_urls(self.url), name="yikatong", connect_timeout=self.connect_timeout,
                        max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                        error_cb=_log_connection_error,
                    ),
                    timeout=self.connect_timeout * 2,
                )
                self._js = self._nc.jetstream(timeout=self.publish_timeout)
                self._streams.clear()
            return self._nc

    async def _jetstream(self):
        await self._connection()
        return self._js

    async def _ensure_stream(self, partner: str | None) -> str:
        name = partner_stream(partner, self.namespace)
        if name in self._streams:
            return name
        js = await self._jetstream()
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            config = api.StreamConfig(
                name=name, subjects=[stream_subject(partner, self.namespace)],
                storage=api.StorageType.FILE, retention=api.RetentionPolicy.LIMITS,
                max_age=self.max_age_seconds, duplicate_window=self.duplicate_window_seconds,
                num_replicas=self.replicas,
            )
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await js.stream_info(name)  # created meanwhile by another process: fine
        else:
            if (info.config.num_replicas or 1) < self.replicas:
                # A stream made on one server, now on a cluster: JetStream copies it to the
                # new replicas itself. Never scaled down here (another process's setting).
                await js.update_stream(replace(info.config, num_replicas=self.replicas))
                await self._replicas_current(js, name)
        self._streams.add(name)
        return name

    async def _replicas_current(self, js, name: str, timeout: float = 10.0) -> None:
        """Until every replica of a stream just scaled up holds its copy (the server refuses
        a new consumer meanwhile: "insufficient resources"), or `timeout`: callers retry."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            cluster = (await js.stream_info(name)).cluster
            peers = (cluster.replicas or []) if cluster else []
            if cluster and cluster.leader and len(peers) >= self.replicas - 1 \
                    and all(peer.current for peer in peers):
                return
            await asyncio.sleep(0.1)
        log.warning("stream %s: its new replicas are not current after %.0fs", name, timeout)

    async def _publish(self, event: Event) -> api.PubAck:
        stream = await self._ensure_stream(event.partner)
        js = await self._jetstream()
        return await js.publish(
            subject_for(event, self.namespace), encode_event(event),
            timeout=self.publish_timeout, stream=stream,
            headers={"Nats-Msg-Id": event.event_id},
        )

    async def _publish_pipelined(self, events: Sequence[Event | StoredEvent]) -> list[Event | StoredEvent]:
        addressed: list[tuple[Event | StoredEvent, str]] = []
        for event in events:
            try:
                addressed.append((event, await self._ensure_stream(event.partner)))
            except Exception:  # a partner code naming no stream, or NATS away: cut here
                log.exception("event %s has no stream to go to; it and the rest wait", event.event_id)
                break
        nc = await self._connection()
        acks = await self._ack_inbox(nc)
        batch = _Batch(len(addressed))
        sent = 0
        for event, stream in addressed:  # written in order, none waiting for an ack
            reply = acks.expect(batch, sent, stream)
            try:
                await nc.publish(subject_for(event, self.namespace), _wire(event), reply=reply,
                                 headers={"Nats-Msg-Id": event.event_id,
                                          api.Header.EXPECTED_STREAM: stream})
            except Exception:  # refused before it was written (e.g. too large): cut here
                acks.forget(reply)
                log.exception("event %s could not be sent; it and the rest wait", event.event_id)
                break
            sent += 1
        batch.expect_only(sent)
        if sent:
            await asyncio.wait([batch.all_in], timeout=self.publish_timeout)  # one deadline for all
        acks.forget_batch(batch)
        stored = []
        for position, (event, _) in enumerate(addressed[:sent]):
            refusal = batch.outcomes[position]
            if refusal is _NO_ACK:
                log.error("no ack for event %s within %.1fs; will retry", event.event_id,
                          self.publish_timeout)
            elif refusal is not None:
                log.error("JetStream refused event %s (%s); will retry", event.event_id, refusal)
            else:
                stored.append(event)
        return stored

    async def _ack_inbox(self, nc) -> _AckInbox:
        """The reply subscription of this connection (nats-py renews it on a reconnect; a new
        connection gets a new one)."""
        if self._acks is None or self._acks.connection is not nc:
            self._acks = _AckInbox(nc)
            await nc.subscribe(f"{self._acks.prefix}.*", cb=self._acks.on_reply)
        return self._acks

    async def _subscribe_core(self, event_type: str, handler: Handler) -> None:
        nc = await self._connection()
        loop = asyncio.get_running_loop()

        async def on_message(msg) -> None:
            try:
                event = decode_event(msg.data)
            except (ValueError, KeyError, TypeError):
                log.error("ignoring a message on %s that is not an event", msg.subject)
                return
            if event_type in ("*", event.type):
                try:
                    await loop.run_in_executor(self._core_executor, handler, event)
                except Exception:
                    log.exception("live handler failed for event %s", event.event_id)

        await nc.subscribe(f"{self.namespace}.>", cb=on_message)

    async def _pull_subscription(
        self, stream: str, durable_name: str, filter_subject: str | None, ack_wait: float,
        batch_size: int,
    ):
        js = await self._jetstream()
        if filter_subject is None:
            info = await js.stream_info(stream)
            subjects = info.config.subjects or []
            if len(subjects) != 1:
                raise ValueError(f"stream {stream} has {len(subjects)} subjects; pass filter_subject")
            filter_subject = subjects[0]
        try:
            existing = await js.consumer_info(stream, durable_name)
        except nats.js.errors.NotFoundError:
            existing = None
        if existing is not None and (existing.config.max_ack_pending != batch_size
                                     or abs((existing.config.ack_wait or 0) - ack_wait) > 0.001):
            # A consumer made by an earlier release (one at a time, a longer ack wait): let it
            # hand out batches, and redeliver what a killed process held after this ack wait.
            await js.add_consumer(stream, config=replace(existing.config, max_ack_pending=batch_size,
                                                         ack_wait=ack_wait))
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT, deliver_policy=api.DeliverPolicy.ALL,
            max_ack_pending=batch_size, ack_wait=ack_wait, max_deliver=-1,
        )
        return await js.pull_subscribe(filter_subject, durable=durable_name, stream=stream, config=config)

    async def _consume(self, psub, subscription: DurableSubscription, pace: _Pace) -> None:
        backlog = 0  # how many messages the server had behind the last one fetched
        while not subscription._stopping.is_set():
            fetching = asyncio.ensure_future(self._fetch(psub, subscription.batch_size, pace.poll,
                                                         backlog=backlog))
            backlog = 0  # known again only from what this fetch brings
            subscription._fetching = fetching
            try:
                messages = await fetching
            except asyncio.CancelledError:
                if fetching.cancelled() and subscription._stopping.is_set():
                    # Stopped while waiting (DurableSubscription.stop). A message the fetch held
                    # unacked is redelivered after the ack wait; the inbox drops a repeat.
                    break
                raise
            except nats.errors.TimeoutError:
                continue
            except Exception:  # disconnected: nats-py reconnects underneath; try again soon
                log.warning("fetch on %s failed; retrying", subscription.durable_name, exc_info=True)
                await asyncio.sleep(pace.poll)
                continue
            finally:
                subscription._fetching = None
            backlog = _pending_after(messages)
            await self._apply_fetched(messages, subscription, pace)
        await psub.unsubscribe()

    @staticmethod
    async def _fetch(psub, batch_size: int, poll: float, *, backlog: int = 0) -> list:
        """The next message as soon as there is one, with those already waiting behind it
        (up to `batch_size` in all). Two fetches, asking only for what the server says is
        there: after a first message nats-py's fetch(n) keeps waiting for the other n-1 until
        the pull request ends (a status from the server or `poll`), so a lone event could
        otherwise wait on a batch that is not coming.

        While a backlog drains (`backlog`: what the server had behind the last message of
        the previous fetch, still there unless another instance took it), one fetch of that
        many: nats-py asks for them with no_wait first, which answers at once with what is
        there, so a batch costs one round trip instead of two. (Only if another instance took
        them meanwhile does that fetch wait, as the second fetch below would, for up to
        `poll`.)"""
        if backlog > 0:
            return await psub.fetch(min(backlog, batch_size), timeout=poll)
        messages = await psub.fetch(1, timeout=poll)
        waiting = min(_pending_after(messages), batch_size - 1)
        if waiting > 0:
            try:
                messages += await psub.fetch(waiting, timeout=poll)
            except nats.errors.TimeoutError:  # taken meanwhile by another instance
                pass
        return messages

    async def _apply_fetched(self, messages, subscription: DurableSubscription, pace: _Pace) -> None:
        """Apply a fetch in order: whole with the batch handler, else (or when that fails)
        one by one; ack what was applied. Stopping while a handler keeps failing hands the
        rest back to the server at once (nak), in order, for the next start."""
        loop = asyncio.get_running_loop()
        fetched = []
        for message in messages:
            try:
                fetched.append((message, decode_event(message.data)))
            except (ValueError, KeyError, TypeError):
                log.error("terminating a message on %s that is not an event", message.subject)
                await message.term()
        if subscription.batch_handler is not None and len(fetched) > 1:
            try:
                await loop.run_in_executor(subscription._executor, subscription.batch_handler,
                                           [event for _, event in fetched])
            except Exception as error:  # often a race a retry wins; one by one says if not
                log.info("consumer %s: a batch of %d failed (%r); applying them one by one",
                         subscription.durable_name, len(fetched), error)
            else:
                for message, _ in fetched:
                    await message.ack()
                subscription.applied += len(fetched)
                subscription.batches += 1
                return
        for position, (message, event) in enumerate(fetched):
            waiting = [later for later, _ in fetched[position:]]
            if not await self._apply_one(event, waiting, subscription, pace):
                for later in waiting:
                    await later.nak()
                return
            await message.ack()
            subscription.applied += 1

    async def _apply_one(self, event: Event, waiting: list, subscription: DurableSubscription,
                         pace: _Pace) -> bool:
        """Call the handler until it returns (True), or the consumer stops (False)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while not subscription._stopping.is_set():
            attempt += 1
            try:
                await loop.run_in_executor(subscription._executor, subscription.handler, event)
                return True
            except Exception:
                subscription.failures += 1
                delay = pace.retry_delay(attempt)
                log.warning("consumer %s failed on event %s (attempt %d); again in %.1fs",
                            subscription.durable_name, event.event_id, attempt, delay, exc_info=True)
                await self._hold(waiting, delay, subscription, pace)
        return False

    @staticmethod
    async def _hold(waiting: list, delay: float, subscription: DurableSubscription, pace: _Pace) -> None:
        """Wait `delay` seconds, keeping the server from redelivering the held messages
        (their ack deadline extended) and returning early when the consumer stops."""
        clock = asyncio.get_running_loop().time
        deadline, extended = clock() + delay, clock()
        while not subscription._stopping.is_set() and clock() < deadline:
            await asyncio.sleep(min(deadline - clock(), 0.5))
            if clock() - extended >= pace.ack_wait / 3:
                extended = clock()
                for message in waiting:
                    await message.in_progress()


def _pending_after(messages: list) -> int:
    """How many messages the server had for the consumer behind the last of `messages`."""
    return messages[-1].metadata.num_pending if messages else 0


_NO_ACK = "no ack"  # a batch's outcome for a message whose ack has not come (yet)


class _Batch:
    """The acks of one pipelined batch: `outcomes[i]` is None once message i is stored, the
    refusal when JetStream refused it, `_NO_ACK` until its ack comes."""

    def __init__(self, count: int) -> None:
        self.outcomes: list[str | None] = [_NO_ACK] * count
        self.left = count
        self.all_in: asyncio.Future = asyncio.get_running_loop().create_future()

    def record(self, position: int, refusal: str | None) -> None:
        if self.outcomes[position] is _NO_ACK:
            self.outcomes[position] = refusal
            self.left -= 1
            if self.left == 0 and not self.all_in.done():
                self.all_in.set_result(None)

    def expect_only(self, sent: int) -> None:
        """Only the first `sent` messages went out: the rest will never be acked."""
        self.left -= len(self.outcomes) - sent
        if self.left <= 0 and not self.all_in.done():
            self.all_in.set_result(None)


class _AckInbox:
    """Matches JetStream's acks to the pipelined messages by reply subject, on one wildcard
    subscription of ours. nats-py's publish_async does the same per message with a future, a
    semaphore wait, a random token and a PubAck object each: about a third of the publishing
    thread's time, which shares the process (and its GIL) with the dispatcher's reads and
    marks. Every ack is still read: stored means a JSON ack without an error, from the stream
    the message was addressed to (the Nats-Expected-Stream header asks the server the same)."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.prefix = connection.new_inbox()
        self._waiting: dict[str, tuple[_Batch, int, str]] = {}
        self._tokens = itertools.count()

    def expect(self, batch: _Batch, position: int, stream: str) -> str:
        """The reply subject for message `position` of `batch`, sent to `stream`."""
        token = str(next(self._tokens))
        self._waiting[token] = (batch, position, stream)
        return f"{self.prefix}.{token}"

    def forget(self, reply: str) -> None:
        self._waiting.pop(reply.rpartition(".")[2], None)

    def forget_batch(self, batch: _Batch) -> None:
        """After the batch's deadline: an ack coming later is dropped (the row goes again)."""
        if batch.left > 0:
            for token in [token for token, (waiting, _, _) in self._waiting.items() if waiting is batch]:
                del self._waiting[token]

    async def on_reply(self, msg) -> None:
        waiting = self._waiting.pop(msg.subject.rpartition(".")[2], None)
        if waiting is not None:
            batch, position, stream = waiting
            batch.record(position, _refusal(msg, stream))


def _refusal(msg, stream: str) -> str | None:
    """None for JetStream's ack that `stream` stored the message; else why not."""
    try:
        ack = json.loads(msg.data)
    except ValueError:  # e.g. a status message without a body: 503 no responders
        status = (msg.headers or {}).get(api.Header.STATUS)
        return f"no ack but status {status}" if status else "an answer that is not an ack"
    if not isinstance(ack, dict):
        return "an answer that is not an ack"
    if "error" in ack:
        return repr(ack["error"])
    if ack.get("stream") != stream or not isinstance(ack.get("seq"), int):
        return f"an ack from stream {ack.get('stream')!r}"
    return None


def _wire(event: Event | StoredEvent) -> bytes:
    """The message body: an outbox row's payload as stored (the dispatcher's), else encoded."""
    return event.wire() if isinstance(event, StoredEvent) else encode_event(event)


async def _log_connection_error(error: Exception) -> None:
    log.warning("NATS connection: %s", error)
