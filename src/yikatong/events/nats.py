"""NATS JetStream transport: the EventBus when `YKT_NATS_URL` is set.

Streams and subjects (namespace `ykt` in production; tests use their own):

* one durable stream per partner bank, `YKT_BANK_<CODE>` holding `ykt.bank.<code>.>`, and
  `YKT_PLATFORM` holding `ykt.platform.>` for events without a partner;
* one subject per event: `ykt.bank.<code>.<aggregate_id>.<type>` (`ykt.platform.<aggregate_id>.<type>`),
  so a consumer may filter one card with `ykt.bank.<code>.<card>.>`.

Publishing waits for JetStream's ack, so a `publish` that returns is stored. Each message
carries `Nats-Msg-Id: <event_id>`: when the dispatcher dies after publishing but before
marking the outbox row, its re-publish falls inside the stream's duplicate window and is
dropped by the server; after the window the partner's inbox (`events.inbox`) drops it.

`publish_batch` (the dispatcher's) pipelines: the events of different cards are in flight
together, while each card's events go one after another, the next sent only once the one
before it is acked. Every ack is checked; an event whose ack fails or times out is not
reported stored (its outbox row stays unpublished), and its card's later events are not
sent, so a failure can never let a later event of a card overtake an earlier one. Across
cards the stream order may differ from the outbox order within one batch; nothing relies on
it (consumers apply in stream order, which is outbox order per card). Awaiting each ack in
turn ran at 3,300 events/s; pipelined, see bench/outbox_nats.py.

Consumers (`subscribe_durable`) are pull consumers with explicit acks and
`max_ack_pending=1`: the server hands out the next message only after the previous one is
acked, so a consumer applies events in stream order, which is publication order, which is
outbox order per card. A handler that raises gets the message again after a growing delay,
and nothing behind it is delivered meanwhile. We chose this over per-card parallelism (a
consumer per card subject, or client-side per-card queues) because it is obviously
correct, needs no per-card state, and a bank applies a few events per second per card
holder at most; the cost is that one poisoned event holds up its partner's whole stream,
which is what an operator must see anyway. A consumer that was down picks up where its
durable position was, so a bank that is down for an hour receives everything, in order.

nats-py is asyncio; the platform is synchronous. Each bus owns one event-loop thread and
the sync methods submit coroutines to it and wait (`_LoopThread`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js import api

from yikatong.events.codec import decode_event, encode_event
from yikatong.events.protocols import Event, Handler

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_NAMESPACE = "ykt"
_PARTNER_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_UNSAFE_IN_TOKEN = re.compile(r"[\s.*>]")
_UNSAFE_IN_TYPE = re.compile(r"[\s*>]")  # dots kept: "card.lost" becomes two subject tokens


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
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a sync bus method was called from the bus's own loop thread")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class DurableSubscription:
    """A running pull consumer. `stop()` ends this process's consumption; the durable
    consumer and its position stay on the server for the next start."""

    def __init__(self, stream: str, durable_name: str, handler: Handler) -> None:
        self.stream = stream
        self.durable_name = durable_name
        self.handler = handler
        self.applied = 0
        self.failures = 0
        self._stopping = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ykt-{durable_name}")
        self._task: asyncio.Future | None = None

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                self._task.result(timeout)
            except Exception:  # cancelled or failed while stopping: nothing left to do
                log.debug("consumer %s stopped with an error", self.durable_name, exc_info=True)
        self._executor.shutdown(wait=True)


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
    ) -> None:
        self.url = url
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

    # -- EventBus --------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Store the event in its partner's stream and wait for the ack, or raise."""
        self.publish_with_ack(event)

    def publish_with_ack(self, event: Event) -> api.PubAck:
        """As `publish`, returning JetStream's ack (`duplicate` is True for a re-publish)."""
        return self._loop.run(self._publish(event), timeout=self.publish_timeout + self.connect_timeout + 5)

    def publish_batch(self, events: Sequence[Event]) -> list[Event]:
        """Publish pipelined (module docstring); returns the events JetStream acked, in batch
        order. Failures are logged and leave their events out: an event whose ack failed or
        timed out, the later events of its card, and everything from the first event that
        names no usable stream on (nothing may overtake it). One hand-off to the I/O thread
        for the whole batch."""
        bound = self.publish_timeout * 2 + self.connect_timeout * 2 + 10
        return self._loop.run(self._publish_pipelined(events), timeout=bound)

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
        filter_subject: str | None = None,
        ack_wait_seconds: float = 30.0,
        redelivery_base_seconds: float = 1.0,
        redelivery_cap_seconds: float = 60.0,
        poll_seconds: float = 0.5,
    ) -> DurableSubscription:
        """Apply every message of `stream` with `handler`, one at a time, in stream order.

        The durable consumer `durable_name` is created on first use (from the start of the
        stream) and remembers its position across restarts. A handler that returns acks the
        message; one that raises gets it again after base·2^(n-1) seconds (capped), with
        nothing behind it delivered meanwhile. A message that is not an event is terminated
        (logged, never redelivered) so it cannot block the stream forever.
        """
        subscription = DurableSubscription(stream, durable_name, handler)
        psub = self._loop.run(
            self._pull_subscription(stream, durable_name, filter_subject, ack_wait_seconds),
            timeout=self.connect_timeout + 10,
        )
        subscription._task = asyncio.run_coroutine_threadsafe(
            self._consume(psub, subscription, redelivery_base_seconds, redelivery_cap_seconds,
                          poll_seconds),
            self._loop.loop,
        )
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
                        self.url, name="yikatong", connect_timeout=self.connect_timeout,
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
            await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            config = api.StreamConfig(
                name=name, subjects=[stream_subject(partner, self.namespace)],
                storage=api.StorageType.FILE, retention=api.RetentionPolicy.LIMITS,
                max_age=self.max_age_seconds, duplicate_window=self.duplicate_window_seconds,
            )
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await js.stream_info(name)  # created meanwhile by another process: fine
        self._streams.add(name)
        return name

    async def _publish(self, event: Event) -> api.PubAck:
        stream = await self._ensure_stream(event.partner)
        js = await self._jetstream()
        return await js.publish(
            subject_for(event, self.namespace), encode_event(event),
            timeout=self.publish_timeout, stream=stream,
            headers={"Nats-Msg-Id": event.event_id},
        )

    async def _publish_pipelined(self, events: Sequence[Event]) -> list[Event]:
        chains: dict[tuple[str, str], list[tuple[Event, str]]] = {}
        for event in events:
            try:
                stream = await self._ensure_stream(event.partner)
            except Exception:  # a partner code naming no stream, or NATS away: cut here
                log.exception("event %s has no stream to go to; it and the rest wait", event.event_id)
                break
            chains.setdefault((stream, event.aggregate_id), []).append((event, stream))
        js = await self._jetstream()
        stored: set[str] = set()

        async def publish_chain(chain: list[tuple[Event, str]]) -> None:
            for event, stream in chain:
                try:
                    await asyncio.wait_for(await js.publish_async(
                        subject_for(event, self.namespace), encode_event(event),
                        wait_stall=self.publish_timeout, stream=stream,
                        headers={"Nats-Msg-Id": event.event_id},
                    ), timeout=self.publish_timeout)
                except Exception:  # no ack, a JetStream error, or none in time
                    log.exception("publishing event %s to JetStream failed; it and the later "
                                  "events of %s wait for the next run", event.event_id, event.aggregate_id)
                    return
                stored.add(event.event_id)

        await asyncio.gather(*(publish_chain(chain) for chain in chains.values()))
        return [event for event in events if event.event_id in stored]

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
        self, stream: str, durable_name: str, filter_subject: str | None, ack_wait: float
    ):
        js = await self._jetstream()
        if filter_subject is None:
            info = await js.stream_info(stream)
            subjects = info.config.subjects or []
            if len(subjects) != 1:
                raise ValueError(f"stream {stream} has {len(subjects)} subjects; pass filter_subject")
            filter_subject = subjects[0]
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT, deliver_policy=api.DeliverPolicy.ALL,
            max_ack_pending=1, ack_wait=ack_wait, max_deliver=-1,
        )
        return await js.pull_subscribe(filter_subject, durable=durable_name, stream=stream, config=config)

    async def _consume(
        self, psub, subscription: DurableSubscription, base: float, cap: float, poll: float
    ) -> None:
        loop = asyncio.get_running_loop()
        while not subscription._stopping.is_set():
            try:
                messages = await psub.fetch(1, timeout=poll)
            except nats.errors.TimeoutError:
                continue
            except Exception:  # disconnected: nats-py reconnects underneath; try again soon
                log.warning("fetch on %s failed; retrying", subscription.durable_name, exc_info=True)
                await asyncio.sleep(poll)
                continue
            for message in messages:
                await self._apply(message, subscription, loop, base, cap)
        await psub.unsubscribe()

    async def _apply(self, message, subscription: DurableSubscription, loop, base, cap) -> None:
        try:
            event = decode_event(message.data)
        except (ValueError, KeyError, TypeError):
            log.error("terminating a message on %s that is not an event", message.subject)
            await message.term()
            return
        try:
            await loop.run_in_executor(subscription._executor, subscription.handler, event)
        except Exception:
            subscription.failures += 1
            attempt = message.metadata.num_delivered or 1
            delay = min(cap, base * 2 ** (attempt - 1))
            log.warning("consumer %s failed on event %s (delivery %d); redelivering in %.1fs",
                        subscription.durable_name, event.event_id, attempt, delay, exc_info=True)
            await message.nak(delay=delay)
            return
        await message.ack()
        subscription.applied += 1


async def _log_connection_error(error: Exception) -> None:
    log.warning("NATS connection: %s", error)
