"""Engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# Connections a pool keeps, and the most threads of a server process that use the database at
# once (api.app sets the thread pool to this size). SQLAlchemy's default keeps 5 and opens up
# to 10 more on demand, closing each of those as it comes back: with the 40 threads of
# anyio's default thread pool a loaded server opened and closed a connection every few
# requests (on PostgreSQL 50 new backends a second at c=50, each a fork and a login; on
# SQLite the PRAGMAs of every new connection), and a second worker process only opened more.
# The overflow stays for a thread that holds one connection while it asks for another.
POOL_SIZE = 20
MAX_OVERFLOW = 10


def make_engine(url: str, **kwargs) -> Engine:
    url = normalise_url(url)
    in_memory = url.startswith("sqlite") and make_url(url).database in (None, "", ":memory:")
    if not in_memory and "poolclass" not in kwargs:  # a file or a server: a QueuePool
        kwargs = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW, **kwargs}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS,
                                                  "factory": TurnTakingConnection}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if path and path != ":memory:":
            turn = _write_turn(str(Path(path).resolve()))
            event.listen(engine, "connect", lambda dbapi_connection, _record: setattr(
                dbapi_connection, "turn", turn))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _note_return)
    event.listen(engine, "checkout", _pinging_if_idle(engine.dialect))
    return engine


# A pooled PostgreSQL connection is pinged before use only once it has sat idle this long.
# pool_pre_ping pinged on every checkout: a round trip to the server per pool checkout, 1 in 5
# of a card read's. What the ping is for is a connection that died while it sat in the pool
# (the server restarted, a firewall or idle timeout dropped it), which takes idleness; one
# handed back milliseconds ago under load is as alive as the pool can know. A connection
# dropped within the window fails its request once, and SQLAlchemy then invalidates every
# older connection of the pool (its disconnect handling), so the next ones reconnect.
PING_AFTER_IDLE_SECONDS = 5.0
_RETURNED_AT = "ykt_returned_at"


def _note_return(_dbapi_connection, record) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _pinging_if_idle(dialect):
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or back in the pool a moment ago
        try:
            dialect.do_ping(dbapi_connection)  # what pool_pre_ping sends
        except Exception as error:  # dead: the pool discards it and checks out another
            raise exc.DisconnectionError() from error
    return ping_if_idle


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoint the write-ahead log at about 100 MB instead of SQLite's 4 MB: a clearing file
    # writes tens of MB in one commit, and each checkpoint copies every page it changed back
    # into the database; fewer, larger checkpoints copy a page that several files changed once
    # (a day's uploads: 2.9 s of checkpoints instead of 4.5 s).
    cursor.execute("PRAGMA wal_autocheckpoint=25000")
    cursor.close()


# The execution option of a connection that only reads (`reading_engine`).
READ_ONLY = "ykt_read_only"
BUSY_SECONDS = 30  # how long a SQLite writer waits for the write lock before it fails


def _sqlite_begin(conn) -> None:
    # One writer at a time: a transaction takes the write lock up front, so two
    # concurrent use cases serialise instead of failing half-way with 'database is locked'.
    # A read-only one (reading_engine) begins deferred instead: in WAL mode readers never wait
    # for the writer or for each other, so a read is not queued behind every other request.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi_connection = conn.connection.dbapi_connection
    take_turn = getattr(dbapi_connection, "take_turn", None)
    if take_turn is not None:
        take_turn()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        dbapi_connection.give_turn()
        raise


# The writers of one SQLite file in this process take turns at a lock of their own before
# they ask SQLite for its write lock. SQLite lets a writer that finds the lock taken sleep
# and try again (its busy handler: 1, 2, 5, 10 … 100 ms), so under load most writers slept
# while the lock was free: twenty threads counting e-card checks (a throttle counter each)
# got 90 checks a second through. Waiting at a lock here wakes the next writer the moment
# the last one commits. Writers in other processes still meet at SQLite's lock.
class WriteTurn:
    """One SQLite file's write turn in this process: a plain lock (`acquire`, `release`, `with`),
    and the event loops waiting for it (`when_released`): a writer on the event loop must not
    block at the lock (db.sqlite_loop_writes), so it asks to be woken when a thread gives the
    turn back and tries again then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._on_release: list[Callable[[], None]] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()
        if self._on_release:
            waiting, self._on_release = self._on_release, []
            for wake in waiting:
                with contextlib.suppress(Exception):  # a closed loop: the release stands
                    wake()

    def locked(self) -> bool:
        return self._lock.locked()

    def when_released(self, wake: Callable[[], None]) -> None:
        """Call `wake` (on the releasing thread, once) at the next release. Ask before trying
        the turn again, so that a release in between is not missed."""
        self._on_release.append(wake)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_exc) -> None:
        self.release()


_WRITE_TURNS: dict[str, WriteTurn] = {}
_WRITE_TURNS_LOCK = threading.Lock()


def _write_turn(path: str) -> WriteTurn:
    with _WRITE_TURNS_LOCK:
        return _WRITE_TURNS.setdefault(path, WriteTurn())


class TurnTakingConnection(sqlite3.Connection):
    """A sqlite3 connection that holds its file's write turn (`_write_turn`) from BEGIN
    IMMEDIATE (`_sqlite_begin`) until its commit or rollback has finished, or it closes.

    A plain lock, not a reentrant one: a commit may come from another thread than the BEGIN
    (any thread may release it). A writer that already holds the turn and opens a second
    write transaction could never have had SQLite's lock either; it waits BUSY_SECONDS here,
    then at SQLite, and fails as it did before."""

    turn: WriteTurn | None = None
    _holds_turn = False

    def take_turn(self) -> None:
        if self.turn is not None and not self._holds_turn:
            self._holds_turn = self.turn.acquire(timeout=BUSY_SECONDS)

    def give_turn(self) -> None:
        if self._holds_turn:
            self._holds_turn = False
            self.turn.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_turn()


def reading_engine(engine: Engine) -> Engine:
    """The same engine (same pool) for transactions that only read: on SQLite they do not
    take the write lock (_sqlite_begin); elsewhere nothing changes."""
    return engine.execution_options(**{READ_ONLY: True})


@contextmanager
def writer_turn(engine: Engine) -> Iterator[None]:
    """Bulk writers of one SQLite database take turns, the write-ahead log's checkpoint
    included: wrap a bulk transaction in it, commit inside.

    Processes taking turns at writing otherwise each begin their transaction while the last
    one's automatic checkpoint is still running, so the log is never rewound: over a day of
    clearing files it grew to 1 GB and every page lookup and commit got slower (uploads of a
    million records 20.6 s instead of 16.6 s on two processes). A lock file beside the database
    (flock: threads and processes alike) lets the next writer start only after the checkpoint.
    PostgreSQL needs no such thing."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}-writer-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)
