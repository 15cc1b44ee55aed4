"""The reference bank as its own process on NATS (`ykt bank serve --bank ICBC`).

It does four things, for each bank it stands in for:

* consumes the platform's events about its cards from the bank's JetStream stream with a
  durable pull consumer, in stream order, up to `link.BANK_BATCH` at a time applied in one
  transaction, each once (`service.handle_platform_events`, processed-message rows in the
  same transaction; a batch that fails is applied again one event at a time);
* answers the platform's gateway requests on `ykt.bankrpc.<code>` (core request/reply);
* relays its own outbox to the same stream as `bank.*` messages (Nats-Msg-Id = event id,
  so a re-publish after a crash is dropped by the server), oldest first, woken by the
  commits that write to the outbox (banking.runtime; on PostgreSQL any process's, through
  NOTIFY) and polling as a fallback: every 5 s on PostgreSQL, every `relay_every` on SQLite
  (another process's commit is seen only by polling there), and every `relay_every` while
  an event waits out the grace after a gateway answer (link.sendable);
* runs its own rule: temporary losses whose time is up lift by themselves.

A node that is down loses nothing: the platform's events wait in the stream at the durable
consumer's position, and the bank's own messages wait in its outbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from yikatong.banking import disbursement, link, service, transport
from yikatong.banking.gateway import answer_request
from yikatong.banking.nats_gateway import UNAVAILABLE, AsyncLoop, connect
from yikatong.banking.runtime import ReferenceBank
from yikatong.events.nats import DEFAULT_NAMESPACE, JetStreamBus

log = logging.getLogger(__name__)

# The relay's fallback poll when no commit woke it; on SQLite it stays `relay_every`.
RELAY_FALLBACK_SECONDS = {"postgresql": 5.0}


class BankNode:
    def __init__(self, bank: ReferenceBank, *, nats_url: str, namespace: str = DEFAULT_NAMESPACE,
                 relay_every: float = 0.02, relay_fallback: float | None = None,
                 rule_every: float = 5.0,
                 consumer_poll: float = 0.5, batch_size: int = link.BANK_BATCH,
                 answer_grace: float = link.ANSWER_GRACE_SECONDS, replicas: int = 1) -> None:
        if not bank.bank_codes:
            raise ValueError("a bank node stands in for named banks (--bank)")
        self.bank = bank
        self.nats_url = nats_url
        self.namespace = namespace
        self.relay_every = relay_every
        self.relay_fallback = relay_fallback or RELAY_FALLBACK_SECONDS.get(
            bank.engine.dialect.name, relay_every)
        self._held = False  # the last relay left events waiting out their grace
        self.rule_every = rule_every
        self.consumer_poll = consumer_poll
        self.batch_size = batch_size  # 1: one transaction per event, as before batches
        self.answer_grace = answer_grace
        self.bus = JetStreamBus(nats_url, namespace=namespace, replicas=replicas)
        self.relayed = 0
        self._rpc_loop: AsyncLoop | None = None
        self._rpc_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ykt-bank-rpc")
        # Disbursement files are processed here, one batch at a time, off the RPC workers.
        self._files_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ykt-bank-files")
        self._nc = None

    def start(self) -> None:
        """Subscribe to the platform's events and start answering gateway requests."""
        for code in sorted(self.bank.bank_codes):
            self.bus.subscribe_partner(
                code, f"bank-{code}", link.bank_handler(self.bank),
                batch_handler=link.bank_batch_handler(self.bank) if self.batch_size > 1 else None,
                batch_size=self.batch_size,
                filter_subject=transport.platform_events_filter(self.namespace, code),
                poll_seconds=self.consumer_poll, ack_wait_seconds=link.ACK_WAIT_SECONDS)
        self._rpc_loop = AsyncLoop("ykt-bank-rpc")
        self._rpc_loop.run(self._serve_requests(), timeout=15)
        self.bank.outbox_wakeup.listen(self.bank.engine)

    def relay_once(self, limit: int = 500) -> int:
        """Publish the bank's waiting messages in order; returns how many were stored."""
        messages, self._held = link.waiting_messages(self.bank, limit, self.answer_grace)
        if not messages:
            return 0
        stored = self.bus.publish_batch(messages)
        link.mark_published(self.bank, [m.event_id for m in stored])
        self.relayed += len(stored)
        return len(stored)

    def run_rules_once(self) -> int:
        with self.bank.uow() as uow:
            lifted = service.expire_temporary_losses(uow=uow, bank_codes=self.bank.bank_codes)
            uow.commit()
        self._schedule_files()  # batches a crash left received
        return lifted

    def _schedule_files(self) -> None:
        try:
            self._files_executor.submit(self._process_files)
        except RuntimeError:  # shutting down: the next start picks the batches up
            pass

    def _process_files(self) -> None:
        try:
            disbursement.process_received(self.bank)
        except Exception:
            log.exception("processing disbursement files failed; the next round retries")

    def run(self, stop: Callable[[], bool]) -> None:
        """Relay and run the bank's rule until `stop()` (checked at least every second); the
        consumers run on their own. The relay runs when a commit wakes it, at the fallback
        poll, and again at once while it finds messages."""
        next_rules = next_relay = 0.0
        woken = True
        while not stop():
            try:
                if time.monotonic() >= next_rules:
                    self.run_rules_once()
                    next_rules = time.monotonic() + self.rule_every
                if woken or time.monotonic() >= next_relay:
                    if self.relay_once() > 0:
                        continue
                    next_relay = time.monotonic() + (self.relay_every if self._held
                                                     else self.relay_fallback)
                wake_at = min(next_relay, next_rules, time.monotonic() + 1.0)
                woken = self.bank.outbox_wakeup.wait(max(0.0, wake_at - time.monotonic()))
            except Exception:  # the database or NATS away for a moment: try again
                log.exception("bank node loop failed; retrying")
                time.sleep(1)

    def close(self) -> None:
        self.bank.outbox_wakeup.close()
        if self._rpc_loop is not None:
            async def close() -> None:
                if self._nc is not None and not self._nc.is_closed:
                    await self._nc.close()

            try:
                self._rpc_loop.run(close(), timeout=5)
            finally:
                self._rpc_loop.stop()
        self._rpc_executor.shutdown(wait=False)
        self._files_executor.shutdown(wait=False, cancel_futures=True)
        self.bus.close()

    async def _serve_requests(self) -> None:
        self._nc = await connect(self.nats_url, "yikatong-reference-bank", 3.0)
        loop = asyncio.get_running_loop()

        async def on_request(msg) -> None:
            answer = await loop.run_in_executor(self._rpc_executor, self._answer, msg.data)
            await msg.respond(json.dumps(answer).encode())

        for code in sorted(self.bank.bank_codes):
            await self._nc.subscribe(transport.rpc_subject(self.namespace, code),
                                     queue="reference-bank", cb=on_request)
        await self._nc.flush()

    def _answer(self, body: bytes) -> dict:
        try:
            request = json.loads(body)
            answer = answer_request(self.bank, request["operation"], request["args"])
            if request["operation"] == "submit_disbursement" and answer.get("ok"):
                self._schedule_files()  # answered at receipt, processed in the background
            return answer
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "code": "bad_request", "reason_zh": "请求格式不正确",
                    "reason_en": "malformed request"}
        except Exception:
            log.exception("answering a gateway request failed")
            return {"ok": False, "code": UNAVAILABLE, "reason_zh": "", "reason_en": ""}


def serve(bank: ReferenceBank, *, nats_url: str, namespace: str = DEFAULT_NAMESPACE,
          stop: threading.Event | None = None, replicas: int = 1) -> None:
    """Run a node until `stop` is set (or forever); streams it creates get `replicas`."""
    stop = stop or threading.Event()
    node = BankNode(bank, nats_url=nats_url, namespace=namespace, replicas=replicas)
    node.start()
    try:
        node.run(stop.is_set)
    finally:
        node.close()
