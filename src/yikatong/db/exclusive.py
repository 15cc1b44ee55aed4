"""One holder at a time of a named piece of work, across threads and processes.

`serialised(session, name)`: for work that is one transaction (read, decide, write). A second
caller waits for the first's transaction to end and then reads what it committed. PostgreSQL:
a transaction advisory lock. SQLite needs nothing: every write transaction takes the one
write lock up front (BEGIN IMMEDIATE). Without it, two callers at once on PostgreSQL both read
the state before either wrote (two reviews flagging the same gap twice, two settlements of
one month, one crashing on the unique key).

`exclusively(engine, name, busy=…)`: for long work that is many transactions.

A benefits run is many transactions, one per step, each starting from the state the last one
committed. Two runners of the same run at once (a second click, the CLI beside the API) each
carried batch states read before the other advanced them: the second rewrote a settled
batch's file with no rows and left the run unpayable. Work like that takes `exclusively`,
and a second caller is refused at once (the caller's own error) instead of waiting behind a
run of minutes.

The lock dies with its holder, so a killed run can be resumed at once:
- PostgreSQL: a session advisory lock on a connection of its own, held for the work. The
  server drops it when the connection closes, a killed process's too. (Behind a pooler in
  transaction mode a session lock means nothing: connect the platform to the server.)
- SQLite: flock on a file beside the database, one file per name (never removed: a removed
  lock file lets a late opener lock a file nobody else sees). flock excludes threads of one
  process too, as each opens the file on its own.
- SQLite in memory (one process): a lock per name in this process.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def serialised(session: Session, name: str) -> None:
    """Wait until no other transaction holds `name`, and hold it until this one ends. Call it
    first in the transaction: what the session read before it may be stale."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(name)})


def exclusively(engine: Engine, name: str, *, busy: Exception) -> AbstractContextManager[None]:
    """Hold `name` for the block, or raise `busy` at once when another holder has it."""
    if engine.dialect.name == "postgresql":
        return _advisory_lock(engine, name, busy)
    if not engine.url.database or engine.url.database == ":memory:":
        return _in_process_lock(name, busy)
    return _file_lock(Path(f"{engine.url.database}-exclusive") / f"{_digest(name).hex()}.lock", busy)


def _digest(name: str) -> bytes:
    """Eight bytes of the name: its lock file's name (hex) or PostgreSQL's key (a bigint)."""
    return hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()


def _key(name: str) -> int:
    return int.from_bytes(_digest(name), "big", signed=True)


@contextmanager
def _advisory_lock(engine: Engine, name: str, busy: Exception) -> Iterator[None]:
    key = _key(name)
    # Autocommit: the lock is the session's, no transaction needs to hold it (two COMMITs fewer
    # a hold: a worker job takes one every turn, the bank's relay five times a second).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
            raise busy
        try:
            yield
        finally:
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            except Exception:  # the lock must not go back to the pool with the connection
                log.warning("could not release %s; closing its connection", name, exc_info=True)
                connection.invalidate()


@contextmanager
def _file_lock(path: Path, busy: Exception) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_IN_PROCESS: dict[str, threading.Lock] = {}
_IN_PROCESS_GUARD = threading.Lock()


@contextmanager
def _in_process_lock(name: str, busy: Exception) -> Iterator[None]:
    with _IN_PROCESS_GUARD:
        lock = _IN_PROCESS.setdefault(name, threading.Lock())
    if not lock.acquire(blocking=False):
        raise busy
    try:
        yield
    finally:
        lock.release()
