"""Helpers shared by the event tests."""

from __future__ import annotations

import time
from collections.abc import Callable


def emit(platform, events: list[tuple[str, str, str | None]], **payload) -> list[str]:
    """Commit one outbox event per (type, card, partner), each in its own use case."""
    ids = []
    for number, (type_, card, partner) in enumerate(events):
        with platform.uow() as uow:
            row = uow.emit(type_, aggregate_type="card", aggregate_id=card, partner=partner,
                           payload={"n": number, **payload})
            uow.commit()
        ids.append(row.event_id)
    return ids


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_for_count(count: Callable[[], int], target: int, stall: float = 15.0,
                   what: str = "events") -> None:
    """Until `count()` reaches `target`; fails when it has not grown for `stall` seconds. A
    loaded machine slows the work down but not to a stop, so a deadline on the whole backlog
    failed under load; a deadline on progress still catches a consumer that stopped."""
    seen, deadline = count(), time.monotonic() + stall
    while seen < target:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {target} {what}: {seen} after "
                                 f"{stall:.0f} s without progress")
        time.sleep(0.05)
        now = count()
        if now > seen:
            seen, deadline = now, time.monotonic() + stall
