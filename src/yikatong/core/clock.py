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


def as_utc(instant: datetime) -> datetime:
    """Databases without time zones (SQLite) hand back naive datetimes: they are UTC."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
