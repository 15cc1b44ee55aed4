from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import yikatong
from yikatong.db.exclusive import exclusively

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[..., int]  # run(platform) -> how many things it handled


@dataclass(frozen=True)
class Loop:
    """Work that waits for its own wake-up (e.g. the outbox dispatcher, woken by commits)
    instead of a timer: the worker runs it in a thread of its own until told to stop."""

    name: str
    run: Callable[..., None]  # run(platform, stop) until stop() is true


def all_jobs() -> list[Job]:
    return [job for module in _jobs_modules() for job in module.JOBS]


def all_loops() -> list[Loop]:
    return [loop for module in _jobs_modules() for loop in getattr(module, "LOOPS", [])]


def _jobs_modules() -> list:
    modules = []
    for module in sorted(pkgutil.iter_modules(yikatong.__path__), key=lambda m: m.name):
        name = f"yikatong.{module.name}.jobs"
        if not module.ispkg:
            continue
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
    return modules


class _RunningElsewhere(Exception):
    pass


def run_once(platform, jobs: list[Job] | None = None) -> dict[str, int]:
    """Run every job once; a failing job is logged and does not stop the others.

    A job runs in one worker at a time (db.exclusive): `ykt serve` runs the jobs beside the
    API and a deployment may start `ykt worker` too, and most jobs read what to do in one
    transaction and do it in others (two expiry-reminder runs at once texted a holder
    twice). A job another worker is running now is skipped this time (counted 0)."""
    results = {}
    for job in jobs or all_jobs():
        try:
            with exclusively(platform.engine, f"worker.job:{job.name}", busy=_RunningElsewhere()):
                results[job.name] = job.run(platform)
        except _RunningElsewhere:
            log.info("job %s is running in another worker; skipped this time", job.name)
            results[job.name] = 0
        except Exception:
            log.exception("job %s failed", job.name)
            results[job.name] = -1
    return results


def run_forever(platform, *, stop: Callable[[], bool] = lambda: False, tick: float = 0.2) -> None:
    loops = [threading.Thread(target=_keep_running, args=(loop, platform, stop), name=loop.name,
                              daemon=True) for loop in all_loops()]
    for thread in loops:
        thread.start()
    jobs = all_jobs()
    next_run = {job.name: 0.0 for job in jobs}
    while not stop():
        now = time.monotonic()
        for job in jobs:
            if now >= next_run[job.name]:
                run_once(platform, [job])
                next_run[job.name] = now + job.every_seconds
        time.sleep(tick)
    for thread in loops:
        thread.join(timeout=10)


def _keep_running(loop: Loop, platform, stop: Callable[[], bool]) -> None:
    """A loop that fails is logged and started again, a second later."""
    while not stop():
        try:
            loop.run(platform, stop)
        except Exception:
            log.exception("loop %s failed; restarting", loop.name)
            time.sleep(1)
