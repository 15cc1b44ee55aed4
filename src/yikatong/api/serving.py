"""`ykt serve --workers N`: uvicorn's supervisor over N worker processes, on a listening socket
whose connections get TCP_NODELAY.

uvicorn (0.54) binds the shared socket itself with the protocol number left at 0; accepted
connections inherit it, and asyncio turns Nagle's algorithm off only on sockets that say
IPPROTO_TCP. With Nagle on, every answer after the first on a keep-alive connection waits for
the client's delayed ACK: about 40 ms each, whatever the request (measured: /healthz on two
workers 1,090 rps with p50 44 ms at any concurrency). Known upstream: Kludex/uvicorn#3149.
The single-process path is unaffected (asyncio binds from getaddrinfo, which names TCP).

`settle_heap`: what a serving process does once it has started, before its first request
(see its docstring).
"""

from __future__ import annotations

import gc
import socket

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

WORKER_APP = "yikatong.api.app:worker_app"
# How long uvicorn's supervisor waits for a worker's answer to its ping before it kills the
# worker and starts another (uvicorn's default: 5 s). A worker importing the platform on a
# loaded machine took longer (load average 14 on two cores): every worker was killed while
# starting, again and again, and the server never answered.
HEALTHCHECK_SECONDS = 30


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
                       log_level="info", timeout_worker_healthcheck=HEALTHCHECK_SECONDS, **extra)
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
