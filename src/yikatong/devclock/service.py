"""Reading and moving the platform clock in development mode.

The clock lives in the server's memory; a move is recorded in the audit trail (entity
`dev_clock`) and applied only after that record commits, so the trail names every jump.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from yikatong.core.actor import Actor
from yikatong.core.clock import as_utc, local_text
from yikatong.db.uow import UnitOfWork
from yikatong.devclock.errors import ClockMoveUnclear, ClockNotMovable, ClockWouldGoBack


@dataclass(frozen=True)
class ClockView:
    now: datetime
    now_local: str
    moved: bool


def read(clock) -> ClockView:
    """The clock's time now, and whether it was moved away from real time."""
    now = as_utc(clock.now())
    return ClockView(now=now, now_local=_local(now), moved=is_moved(clock))


def is_moved(clock) -> bool:
    """A MovableClock knows; a clock without that notion (system, fixed) is never "moved"."""
    return bool(getattr(clock, "moved", False))


def target(now: datetime, *, set_to: datetime | None, advance_by: timedelta) -> datetime:
    """Where the clock should go: an instant, or now plus a span (exactly one of them)."""
    if (set_to is None) == (advance_by == timedelta(0)):
        raise ClockMoveUnclear()
    goal = as_utc(set_to) if set_to is not None else now + advance_by
    if goal < now:
        raise ClockWouldGoBack(now=_local(now), requested=_local(goal))
    return goal


def move(
    *,
    uow: UnitOfWork,
    clock,
    actor: Actor,
    set_to: datetime | None,
    advance_by: timedelta,
    remember: Callable[[ClockView], None] = lambda _view: None,
) -> ClockView:
    """Record the move (and, through `remember`, the answer a retry replays) and commit; then
    move the clock forward. Answers the clock as the move leaves it."""
    if not callable(getattr(clock, "advance", None)):
        raise ClockNotMovable()
    now = as_utc(clock.now())
    goal = target(now, set_to=set_to, advance_by=advance_by)
    uow.audit(
        actor=actor,
        action="dev_clock.moved",
        entity_type="dev_clock",
        entity_id="platform",
        before={"now": now.isoformat()},
        after={"now": goal.isoformat()},
    )
    remember(ClockView(now=goal, now_local=_local(goal), moved=True))
    uow.commit()
    # a running clock went on a few microseconds since `now`: land on the goal, not past it
    clock.advance(max(goal - as_utc(clock.now()), timedelta(0)))
    return read(clock)


def _local(instant: datetime) -> str:
    return local_text(instant, "%Y-%m-%d %H:%M:%S")
