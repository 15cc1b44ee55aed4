"""Liveness, readiness and the metrics door.

- `GET /healthz` (api.app): the process answers; nothing else is looked at (a load balancer's
  liveness probe: restarting a process does not bring a database back).
- `GET /readyz` (public, like /healthz: load balancers carry no credential): the database
  answers `SELECT 1` and, when the platform publishes through NATS (`YKT_NATS_URL`), the
  broker accepts a connection and answers a JetStream account request, each within
  `TIMEOUT` seconds. 200 with each check's time, or 503 problem+json `not_ready` naming what
  failed (`details.failed`) and how (`timeout`, or the error's class; the error itself goes
  to the log, never to an anonymous caller). One round of checks serves every probe for
  `CACHE_SECONDS`, so probes cannot be turned into a flood of connections.
- `GET /metrics` (the access table: the `monitoring` role and the card centre's admin):
  Prometheus text (metrics.exposition), with the database's figures (collectors).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from yikatong.core.errors import DomainError

log = logging.getLogger(__name__)

TIMEOUT = 1.0
CACHE_SECONDS = 1.0
PROBLEM = "application/problem+json"
# The database check blocks: its own two threads, so a hung database never takes the request
# thread pool's threads (the checks already waiting time out and answer 503).
_checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ykt-readyz")


class NotReady(DomainError):
    code = "not_ready"
    http_status = 503
    zh = "服务暂不可用：{failed_text} 检查未通过"
    en = "Not ready: the {failed_text} check failed"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    seconds: float
    error: str | None = None

    def as_dict(self) -> dict:
        answer = {"ok": self.ok, "ms": round(self.seconds * 1000, 1)}
        if self.error:
            answer["error"] = self.error
        return answer


def database_ok(platform) -> None:
    with platform.engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


async def broker_ok(url: str, timeout: float) -> None:
    """A connection to the NATS servers of `url` (comma-separated) and a JetStream request."""
    import nats

    async def quiet(_error) -> None:  # the outcome is the check's, not nats-py's log lines
        return None

    connection = await nats.connect(servers=[part.strip() for part in url.split(",")],
                                    connect_timeout=timeout, allow_reconnect=False,
                                    max_reconnect_attempts=0, error_cb=quiet)
    try:
        await connection.jetstream(timeout=timeout).account_info()
    finally:
        await connection.close()


async def _timed(name: str, work, timeout: float) -> Check:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(work, timeout)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.1f s", name, timeout)
        return Check(name, False, time.perf_counter() - started, f"timeout after {timeout:g} s")
    except Exception as error:
        log.warning("readiness: %s failed: %s", name, error)
        return Check(name, False, time.perf_counter() - started, type(error).__name__)
    return Check(name, True, time.perf_counter() - started)


async def readiness(platform, *, timeout: float | None = None) -> list[Check]:
    """Every check, at once, each within `timeout` seconds (default TIMEOUT)."""
    timeout = TIMEOUT if timeout is None else timeout
    loop = asyncio.get_running_loop()
    checks = [_timed("database", loop.run_in_executor(_checks, database_ok, platform), timeout)]
    if platform.settings.nats_url:
        checks.append(_timed("broker", broker_ok(platform.settings.nats_url, timeout), timeout))
    return list(await asyncio.gather(*checks))


class _Readiness:
    """The last round of checks of one application, and the lock that makes one round at a time."""

    def __init__(self) -> None:
        self.lock: asyncio.Lock | None = None
        self.at = float("-inf")
        self.checks: list[Check] = []
        self.platform = None  # whose checks these are

    async def current(self, platform) -> list[Check]:
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if platform is not self.platform or time.monotonic() - self.at > CACHE_SECONDS:
                self.checks = await readiness(platform)
                self.at, self.platform = time.monotonic(), platform
            return self.checks


def answer(checks: list[Check]) -> JSONResponse:
    failed = [check.name for check in checks if not check.ok]
    body = {check.name: check.as_dict() for check in checks}
    if not failed:
        return JSONResponse({"status": "ready", "checks": body})
    problem = NotReady(failed_text=", ".join(failed), failed=failed).to_problem()
    problem["checks"] = body
    return JSONResponse(problem, status_code=503, media_type=PROBLEM,
                        headers={"Retry-After": "1", "Cache-Control": "no-store"})


def add_routes(app) -> None:
    from yikatong.observability.collectors import PlatformCollector
    from yikatong.observability.metrics import exposition

    app.state.readiness = _Readiness()
    app.state.metrics_collector = PlatformCollector(lambda: app.state.platform)

    @app.get("/readyz", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        return answer(await request.app.state.readiness.current(request.app.state.platform))

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text(request: Request) -> Response:
        body, content_type = await run_in_threadpool(
            exposition, [request.app.state.metrics_collector])
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
