"""Time comes from an injectable clock so a test can move days ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

# Business dates (issue dates, expiry, fares) are reckoned in China Standard Time.
CST = timezone(timedelta(hours=8), "CST")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to: tests and the narrated demo use it."""

    # Expiry, lockouts and audit times would follow whoever moves it: never in production.
    development_only = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant


def local_date(instant: datetime) -> date:
    """The calendar date in Changzhou for an instant."""
    return as_utc(instant).astimezone(CST).date()


def local_text(instant: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """An instant as people in Changzhou read it (Beijing time), for the CLI and pages;
    "-" for none. Stored times are UTC."""
    return as_utc(instant).astimezone(CST).strftime(pattern) if instant else "-"


def parse_local(text: str) -> datetime:
    """An ISO time typed by a person: Changzhou (Beijing) time unless it names its zone."""
    instant = datetime.fromisoformat(text)
    return as_utc(instant if instant.tzinfo else instant.replace(tzinfo=CST))


def as_utc(instant: datetime) -> datetime:
    """Databases without time zones (SQLite) hand back naive datetimes: they are UTC."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


class MovableClock:
    """A running clock that can be started at a chosen instant and moved forward, never back:
    development mode shows the 7-day and 10-year rules against a running server with it
    (`ykt serve --clock`, POST /api/v1/dev/clock). Time keeps passing on the base clock."""

    # Whoever moves it decides expiry, lockouts and audit times: never in production.
    development_only = True

    def __init__(self, start: datetime | None = None, *, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta(0)
        if start is not None:
            if start.tzinfo is None:
                raise ValueError("MovableClock needs a timezone-aware start")
            self._offset = start - self._base.now()

    @property
    def moved(self) -> bool:
        """Whether it differs from the base clock (the API then names its time in a header)."""
        return self._offset != timedelta(0)

    def now(self) -> datetime:
        return self._base.now() + self._offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a movable clock never goes back")
        self._offset += delta
        return self.now()

    def set(self, instant: datetime) -> datetime:
        """Move to `instant`; refused if that is earlier than now."""
        return self.advance(instant - self.now())
