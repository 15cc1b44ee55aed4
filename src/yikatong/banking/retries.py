"""Run a transaction again when it lost a race with another writer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from yikatong.core.errors import ConcurrentChange

T = TypeVar("T")


def with_retries(apply: Callable[[], T], attempts: int = 3) -> T:
    """Run one transaction (`apply` opens, does and commits it) again when it lost a race.

    The usual races (PostgreSQL; SQLite serialises writers): the bank's consumer and a
    gateway request or a teller updating the same account (a stale version); the platform
    applying a bank event in the transaction that asked the bank while the same event arrives
    through the stream (the second writer waits on the unique event id, fails, and on the
    retry finds it applied). Retrying at once beats a redelivery, which would hold up the
    whole stream behind the message.
    """
    for attempt in range(1, attempts + 1):
        try:
            return apply()
        except (IntegrityError, OperationalError, StaleDataError, ConcurrentChange):
            if attempt == attempts:
                raise
            time.sleep(0.02 * attempt)
    raise AssertionError("unreachable")
