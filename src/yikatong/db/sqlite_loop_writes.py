"""On a SQLite file, a short write of one statement on the event loop itself, when it need not
wait for anyone: what `db.loop_reads.LoopReads.write` is on PostgreSQL, without its round trip.

A write on a thread takes a thread-pool hop there and back, the file's write turn
(db.engine.TurnTakingConnection), BEGIN IMMEDIATE, the statement and COMMIT, each through
SQLAlchemy's execution path. SQLite writes a statement outside a transaction as a transaction
of its own, so here the statement alone is the write: no hop, no BEGIN, no COMMIT. The event
loop must never wait, so it takes the write turn only if no thread of this process holds it,
and its connection's busy timeout is zero: when another process holds SQLite's write lock the
statement fails at once with SQLITE_BUSY, before anything is written, and the caller writes on
a thread as before (`write` answers None). Nothing else changes: the same file, the same row,
the same statement; every worker process writes the same database. While a thread of this
process holds the turn (a door's transaction on a thread, its commit waiting for the disk),
`write_in_turn` waits for it on the loop, not blocking the loop: the thread that gives the turn
back wakes it (db.engine.WriteTurn). Under a writing door's load a hit that took the thread's
way instead took a hop and a transaction of its own (BEGIN IMMEDIATE, the upsert, a COMMIT
that waits for the disk) behind the door's, for every request.

What it does not do on the loop: wait for the disk. A write whose commit must reach the disk
before it is answered (synchronous=FULL, the platform's default) makes the loop wait for the
fsync, so `write` takes only writes that may be lost by a power cut, as PostgreSQL's throttle
counts are (auth.throttle: synchronous_commit off): synchronous=NORMAL in write-ahead-log
mode never corrupts the file, and the next commit that reaches the disk takes these with it.
The connection never checkpoints the log on the loop either (wal_autocheckpoint=0: a checkpoint
copies up to 100 MB back into the file): every CHECKPOINT_AFTER_WRITES of its writes it has a
thread run a passive checkpoint (which waits for nobody and nobody waits for), so that a
server whose only writes are these (a day of public checks) does not grow its log without
end; the other connections' commits still run their own at db.engine's threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3

from sqlalchemy import Engine, event, exc
from sqlalchemy.pool import NullPool

from yikatong.db.statement import RawStatement

log = logging.getLogger(__name__)

_BUSY = sqlite3.SQLITE_BUSY  # the primary code of every SQLITE_BUSY_* (its low byte)
# How long a write on the loop waits for this process's write turn (`write_in_turn`) before it
# takes the thread's way: beyond this the writers are queued deep, and a thread waits as well.
TURN_WAIT_SECONDS = 5.0
_TURN_TAKEN = object()  # `_write`'s answer when a thread of this process holds the turn
# A write here adds a page or two to the log (a throttle counter's row and its index):
# a checkpoint every this many keeps the log at a few megabytes under these writes alone.
CHECKPOINT_AFTER_WRITES = 1000


class SqliteLoopWrites:
    """One event loop's own connection to a SQLite file, for writes that may be lost by a
    power cut (`write`). Made with `make_engine`'s settings (its PRAGMAs, its type handling and
    the file's write turn); one loop at a time holds it (a server process has one; a test's
    second loop takes a new one)."""

    def __init__(self, url: str) -> None:
        from yikatong.db.engine import make_engine

        # Its own engine, without a pool: the PRAGMAs set here never reach a thread's connection.
        self._engine: Engine = make_engine(url, poolclass=NullPool)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pooled = None  # SQLAlchemy's handle, kept: dropped, it would close the connection
        self._connection = None
        self._cursor = None
        self._writes = 0  # since the last checkpoint
        self._checkpointing = False

    @property
    def dialect(self):
        return self._engine.dialect

    def write(self, statement: RawStatement, params: dict) -> list | None:
        """The rows of one statement that writes, committed on its own without waiting for
        the disk, on the event loop; None when it would have had to wait (another writer of
        this process holds the write turn, another process SQLite's lock) or no connection
        could be had: nothing was written then, the caller writes on a thread. A refusal of
        the statement (a unique key) is raised as SQLAlchemy raises it (`IntegrityError`)."""
        rows = self._write(statement, params)
        return None if rows is _TURN_TAKEN else rows

    async def write_in_turn(self, statement: RawStatement, params: dict) -> list | None:
        """`write`, but while a thread of this process holds the write turn, wait for it on
        the loop (the thread that gives it back wakes this one) and write then; None as
        `write` for another process's lock or no connection, and after TURN_WAIT_SECONDS."""
        rows = self._write(statement, params)
        if rows is not _TURN_TAKEN:
            return rows
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TURN_WAIT_SECONDS
        while True:
            released = loop.create_future()
            self._connection.turn.when_released(
                functools.partial(loop.call_soon_threadsafe, _settle, released))
            rows = self._write(statement, params)  # (given back before the wake was asked for)
            if rows is not _TURN_TAKEN:
                return rows
            if loop.time() >= deadline:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released, deadline - loop.time())

    def _write(self, statement: RawStatement, params: dict):
        """`write`'s rows, or None, or _TURN_TAKEN (a thread of this process holds the turn)."""
        try:
            connection, cursor = self._connected()
        except Exception as error:
            log.warning("no SQLite connection for writes on the event loop (%s)",
                        type(error).__name__)
            return None
        turn = getattr(connection, "turn", None)
        if turn is not None and not turn.acquire(blocking=False):
            return _TURN_TAKEN
        try:
            rows = statement.rows_on_cursor(cursor, self._engine.dialect, params)
        except sqlite3.Error as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF == _BUSY:
                return None  # SQLite's lock taken by another process: nothing written
            if not isinstance(error, sqlite3.IntegrityError):
                self.close()  # its state unknown: the next write connects afresh
            raise exc.DBAPIError.instance(None, None, error, sqlite3.Error,
                                          dialect=self._engine.dialect) from error
        finally:
            if turn is not None:
                turn.release()
        self._writes += 1
        if self._writes >= CHECKPOINT_AFTER_WRITES and not self._checkpointing:
            self._writes, self._checkpointing = 0, True
            self._loop.run_in_executor(None, self._checkpoint)
        return rows

    def _checkpoint(self) -> None:
        """A passive checkpoint of the log, on a thread of its own connection."""
        try:
            pooled = self._engine.raw_connection()  # in autocommit: no BEGIN, no write turn
            try:
                pooled.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                pooled.close()
        except Exception as error:  # the next commit of another connection checkpoints
            log.warning("a checkpoint after the event loop's writes failed (%s)",
                        type(error).__name__)
        finally:
            self._checkpointing = False

    def _connected(self):
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._cursor is None:
            self.close()
            pooled = self._engine.raw_connection()
            connection = pooled.dbapi_connection
            connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._loop, self._pooled, self._connection = loop, pooled, connection
            self._cursor = connection.cursor()
        return self._connection, self._cursor

    def close(self) -> None:
        """Close the connection (at shutdown, for another loop, after a failure)."""
        cursor, pooled = self._cursor, self._pooled
        self._cursor = self._connection = self._pooled = None
        for closing in (cursor, pooled):
            if closing is not None:
                with contextlib.suppress(Exception):
                    closing.close()


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def listen_for_disposal(engine: Engine, writes: SqliteLoopWrites) -> None:
    """Close `writes`' connection when the platform's engine is disposed (shutdown, a test's end)."""
    event.listen(engine, "engine_disposed", lambda _engine: writes.close())
