"""Background work of the database (`ykt worker`): the coming months' partitions, made before
their rows arrive, and the archiving of months past their retention (db.archive), on
PostgreSQL. Nothing on SQLite."""

from __future__ import annotations

import logging
from pathlib import Path

from psycopg.errors import LockNotAvailable
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from yikatong.core.clock import local_date
from yikatong.db.partitioning import PARTITIONED, ensure_months, month_of, next_month
from yikatong.worker.runner import Job

log = logging.getLogger(__name__)
MONTHS_AHEAD = 2


def make_coming_months(platform) -> int:
    """This month's partition and the next MONTHS_AHEAD ones, where missing."""
    if platform.engine.dialect.name != "postgresql":
        return 0
    first = month_of(local_date(platform.clock.now()))
    last = first
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    created = []
    for spec in PARTITIONED:
        created += _months_of_one_table(platform, spec, first, last)
    if created:
        log.info("partitions made: %s", ", ".join(created))
    return len(created)


# Making a month's partition takes an ACCESS EXCLUSIVE lock on its table until the commit. With
# every table in one transaction the job deadlocked with a request that writes two of the
# tables in the other order (an outbox event and its audit record), and PostgreSQL aborted the
# request (tests/banking/test_broker_faults.py on PostgreSQL, 3 runs of 3). A transaction per
# table holds one such lock at a time. The timeout keeps the lock's queue from stalling every
# writer of the table behind a long transaction; a busy table waits for the next run (the job
# makes the months two ahead, so a day missed costs nothing).
LOCK_TIMEOUT = "5s"


def _months_of_one_table(platform, spec, first, last) -> list[str]:
    try:
        with platform.engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            return ensure_months(connection, spec, first, last)
    except OperationalError as error:
        if not isinstance(error.orig, LockNotAvailable):
            raise
        log.warning("%s busy: its coming months are made next time", spec.table)
        return []


def archive_old_months(platform) -> int:
    """Archive the months past their retention to YKT_ARCHIVE_DIR (nothing when it is unset)."""
    from yikatong.db.archive import archive_old_months as archive
    from yikatong.db.errors import ArchivingInProgress

    if platform.engine.dialect.name != "postgresql" or not platform.settings.archive_dir:
        return 0
    try:
        outcomes = archive(platform, directory=Path(platform.settings.archive_dir))
    except ArchivingInProgress:
        log.info("`ykt db archive` is archiving now; the job tries again tomorrow")
        return 0
    for outcome in outcomes:
        if outcome.archived:
            log.info("archived %s (%d rows) to %s", outcome.partition, outcome.rows, outcome.file)
        else:
            log.warning("%s kept past its retention: %s", outcome.partition, outcome.reason)
    return sum(outcome.archived for outcome in outcomes)


JOBS = [
    Job("db.make_coming_months", every_seconds=24 * 3600, run=make_coming_months),
    Job("db.archive_old_months", every_seconds=24 * 3600, run=archive_old_months),
]
