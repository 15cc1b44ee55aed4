"""`ykt serve --workers N`: uvicorn's supervisor over N worker processes, on a listening socket
whose connections get TCP_NODELAY.

uvicorn (0.54) binds the shared socket itself with the protocol number left at 0; accepted
connections inherit it, and asyncio turns Nagle's algorithm off only on sockets that say
IPPROTO_TCP. With Nagle on, every answer after the first on a keep-alive connection waits for
the client's delayed ACK: about 40 ms each, whatever the request (measured: /healthz on two
workers 1,090 rps with p50 44 ms at any concurrency). Known upstream: Kludex/uvicorn#3149.
The single-process path is unaffected (asyncio binds from getaddrinfo, which names TCP).

`HeadWithBodyProtocol`: uvicorn's httptools protocol, writing an answer's head and the start
of its body to the socket at once (see its docstring).

`settle_heap`: what a serving process does once it has started, before its first request
(see its docstring).
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import gc
import socket

from uvicorn import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.supervisors import Multiprocess

WORKER_APP = "yikatong.api.app:worker_app"
# How long uvicorn's supervisor waits for a worker's answer to its ping before it kills the
# worker and starts another (uvicorn's default: 5 s). A worker importing the platform on a
# loaded machine took longer (load average 14 on two cores): every worker was killed while
# starting, again and again, and the server never answered.
HEALTHCHECK_SECONDS = 30


class HeadWithBodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, whose answers leave in one write where they left in two.

    uvicorn writes an answer's head (status line and headers) to the transport as soon as the
    application sends `http.response.start`, and its body when it sends the body: two
    `send` calls on an idle socket, two segments on the wire, and the client woken twice, for
    every answer of a few hundred bytes (a third of a card read's samples under load were the
    socket writes: bench/request_path.py). Here the head is held (`_HeadHeldForBody`) and
    written in front of the answer's next write (its body), or on a close, or as soon as the
    application gives the event loop back (`_WritesHeldHeadWhenItWaits`), whichever comes
    first: the same bytes in the same order, and the head on the wire before anything else
    runs on the loop, as before (an application that awaits something between its head and its
    body, a stream or a file, has its head sent while it waits)."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app) -> None:
        # uvicorn's own, with the cycle's transport and coroutine wrapped. Neither wrapper
        # refers back to the cycle: a cycle of references would keep each request's objects
        # alive until the garbage collector's next pass.
        transport = cycle.transport = _HeadHeldForBody(cycle.transport)
        coroutine = _WritesHeldHeadWhenItWaits(cycle.run_asgi(app), transport)
        if self.config.reset_contextvars:
            task = self.loop.create_task(coroutine, context=contextvars.Context())
        else:
            task = self.loop.create_task(coroutine)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)


# What uvicorn writes before an answer when a request expects it (httptools_impl.receive).
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _HeadHeldForBody:
    """One request's view of the connection's transport (HeadWithBodyProtocol): the answer's
    head (its first write, but for a `100 Continue` before it) is held and written in front of
    the next write, or on close, or by `write_held`."""

    __slots__ = ("_transport", "_held", "_head_seen")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif not self._head_seen and data != CONTINUE:
            self._head_seen = True
            self._held = data
            return
        self._transport.write(data)

    def write_held(self) -> None:
        """Write the held head now, if one is still held."""
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def close(self) -> None:
        self.write_held()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class _WritesHeldHeadWhenItWaits(collections.abc.Coroutine):
    """A request's coroutine (uvicorn's `run_asgi`) as its task runs it, step by step, with
    the held head written at the end of every step: when the application awaits something
    (or is done), its head is on the wire, whether its body came in that step or not."""

    __slots__ = ("_coroutine", "_transport")

    def __init__(self, coroutine, transport: _HeadHeldForBody) -> None:
        self._coroutine = coroutine
        self._transport = transport

    def send(self, value):
        try:
            return self._coroutine.send(value)
        finally:
            self._transport.write_held()

    def throw(self, *error):
        try:
            return self._coroutine.throw(*error)
        finally:
            self._transport.write_held()

    def close(self) -> None:
        self._coroutine.close()

    def __await__(self):  # a task drives it by send and throw; nothing awaits it
        return self._coroutine.__await__()


class TcpConfig(Config):
    """uvicorn's Config whose bound TCP socket names its protocol (see the module docstring)."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            # The same descriptor, described truthfully: accepted sockets (and the copies the
            # worker processes rebuild) now report IPPROTO_TCP, and asyncio sets TCP_NODELAY.
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
            sock.set_inheritable(True)
        return sock


def serve_workers(*, host: str, port: int, workers: int, log_config: dict | None = None) -> None:
    """Serve the API from `workers` processes until interrupted (as `uvicorn.run` does for
    workers > 1, with TcpConfig); `log_config` (observability.logs) is applied in each."""
    extra = {"log_config": log_config} if log_config is not None else {}
    config = TcpConfig(WORKER_APP, factory=True, workers=workers, host=host, port=port,
                       http=HeadWithBodyProtocol, log_level="info", timeout_worker_healthcheck=HEALTHCHECK_SECONDS, **extra)
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def settle_heap() -> None:
    """Collect once, then move every object alive now (modules, routes, models, validators,
    the platform: about half a million of them) out of the garbage collector's sight
    (`gc.freeze`), for the life of a serving process.

    CPython's full collection walks every tracked object, and runs once the objects promoted
    since the last one reach a quarter of the old ones. With the platform's start-up heap
    each one paused the event loop 100-375 ms (seven during a worker's start-up, measured
    with gc.callbacks). Under a card read's load few objects survive a request, so they come
    seldom (none in 10 s at 1,800 reads a second: the p99 of the bench is not theirs), but
    each that comes is a third of a second of every request in flight. Frozen objects are
    never collected, so only what start-up made and keeps is frozen (a serving process keeps
    its application until it ends); cycles made later are collected as before, in
    collections that walk a few thousand objects. Called by the application's lifespan when
    `ykt serve` made it (`create_app(..., settle_heap=True)`), not in tests, whose many
    applications must stay collectable."""
    gc.collect()
    gc.freeze()
