from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import yikatong

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[..., int]  # run(platform) -> how many things it handled


def all_jobs() -> list[Job]:
    jobs: list[Job] = []
    for module in sorted(pkgutil.iter_modules(yikatong.__path__), key=lambda m: m.name):
        name = f"yikatong.{module.name}.jobs"
        if not module.ispkg:
            continue
        try:
            jobs.extend(importlib.import_module(name).JOBS)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
    return jobs


def run_once(platform, jobs: list[Job] | None = None) -> dict[str, int]:
    """Run every job once; a failing job is logged and does not stop the others."""
    results = {}
    for job in jobs or all_jobs():
        try:
            results[job.name] = job.run(platform)
        except Exception:
            log.exception("job %s failed", job.name)
            results[job.name] = -1
    return results


def run_forever(platform, *, stop: Callable[[], bool] = lambda: False, tick: float = 0.2) -> None:
    jobs = all_jobs()
    next_run = {job.name: 0.0 for job in jobs}
    while not stop():
        now = time.monotonic()
        for job in jobs:
            if now >= next_run[job.name]:
                run_once(platform, [job])
                next_run[job.name] = now + job.every_seconds
        time.sleep(tick)
