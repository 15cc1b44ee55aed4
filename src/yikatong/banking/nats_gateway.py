"""`BankGateway` over NATS: the platform asks the bank's own process (`ykt bank serve`) with a
core NATS request on `ykt.bankrpc.<code>` and waits for its answer (docs/bank-interface.md).

Request  `{"operation": "report_financial_loss", "args": {"bank_code": …, "card_no": …, …}}`
Answer   `{"ok": true, "events": [BankEvent…], "task_id": …, "status": …}`
         or `{"ok": false, "code": …, "reason_zh": …, "reason_en": …}`

No answer within the timeout (bank process down, no NATS) is `BankUnavailable`: the platform
changes nothing and the caller may retry; a repeated request gets the bank's first answer.
The bank's own later events (a loss it lifts by its rule, an account closed at a branch) come
over JetStream instead, so `poll_events` has nothing to return.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
import nats.errors

from yikatong.banking import transport
from yikatong.banking.gateway import RequestingGateway
from yikatong.cards.protocols import BankUnavailable
from yikatong.events.nats import DEFAULT_NAMESPACE, server_urls

log = logging.getLogger(__name__)
T = TypeVar("T")
UNAVAILABLE = "bank_unavailable"


class AsyncLoop:
    """An asyncio loop on a daemon thread, so synchronous code can use nats-py."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


async def connect(url: str, name: str, timeout: float) -> nats.NATS:
    return await asyncio.wait_for(
        nats.connect(server_urls(url), name=name, connect_timeout=timeout, max_reconnect_attempts=-1,
                     reconnect_time_wait=0.5),
        timeout=timeout * 2)


class NatsBankGateway(RequestingGateway):
    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE, timeout: float = 3.0,
                 connect_timeout: float = 2.0) -> None:
        self.url = url
        self.namespace = namespace
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._loop = AsyncLoop("ykt-bank-gateway")
        self._nc: nats.NATS | None = None

    def close(self) -> None:
        async def close() -> None:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.close()

        try:
            self._loop.run(close(), timeout=5)
        finally:
            self._loop.stop()

    def _ask(self, operation: str, **args: Any) -> dict[str, Any]:
        subject = transport.rpc_subject(self.namespace, args["bank_code"])
        body = json.dumps({"operation": operation, "args": args}).encode()
        try:
            reply = self._loop.run(self._request(subject, body),
                                   timeout=self.timeout + 2 * self.connect_timeout + 1)
        except (nats.errors.Error, TimeoutError, OSError) as error:
            log.warning("bank %s did not answer %s: %r", args["bank_code"], operation, error)
            raise BankUnavailable() from error
        answer = json.loads(reply.data)
        if answer.get("code") == UNAVAILABLE:
            raise BankUnavailable()
        return answer

    async def _request(self, subject: str, body: bytes):
        if self._nc is None or self._nc.is_closed:
            self._nc = await connect(self.url, "yikatong-bank-gateway", self.connect_timeout)
        return await self._nc.request(subject, body, timeout=self.timeout)
