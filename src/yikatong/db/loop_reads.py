"""The hot reads' one statement on PostgreSQL, run on the event loop itself (api.deps.
ReadAccess.answer): a few psycopg AsyncConnections of the loop's own, in autocommit. On
SQLite, the same statement on the loop's own sqlite3 connection (`SqliteLoopReads`, below).

On a thread, a PostgreSQL card read spent more of a worker's CPU on getting there and back than
on the read: the hand-over to the thread pool and back, the interpreter passed between the
loop and twenty threads after every round trip, SQLAlchemy's checkout and check-in of a pooled
connection (its events, the AUTOCOMMIT characteristic set and reset), and a psycopg cursor with
its own adapters map (bench/request_path.py has the figures). Here the loop sends the one
statement (db.raw.OneTrip) and serves other requests until the answer is in.

What it sees is what `Platform.statement_read_uow` sees: a statement on its own at the
server's READ COMMITTED (the platform only uses this where that is the default), on a
connection made with the engine's own connect arguments (its type adapters: the same values
reach the same result processors). A connection that fails is closed and the read goes the
thread's way (which pings and reconnects as the pool does); nothing is cached but the
connections.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from sqlalchemy import Engine, event

from yikatong.db.raw import OneTrip, RawSelect

log = logging.getLogger(__name__)

# At most this many statements of one worker process in flight at once on its loop (made only
# as reads overlap: a quiet worker keeps as few as it needed). Not for the server's sake but the
# worker's: with 4 under load (wrk c=50) each answer woke the loop on its own (0.95 epoll_wait
# a read) and a read cost 0.38-0.41 ms of worker CPU; with 16 the loop wakes 0.23 times a read,
# takes the answers, requests and sends of several reads together (about the same instructions,
# run hot in the caches) and a read costs 0.28-0.32 ms, near SQLite's
# 0.27 (bench/request_path.py, 2026-12-06 read6). 32 saved another 0.01-0.02 ms for twice the
# backends. Per worker, beside the engine's pool (POOL_SIZE + MAX_OVERFLOW).
LOOP_CONNECTIONS = 16


class LoopReads:
    """One event loop's connections (made when first needed, up to LOOP_CONNECTIONS), each a
    db.loop_connection.LoopConnection: its socket registered with the loop once, not for
    every statement."""

    def __init__(self, engine: Engine, size: int = LOOP_CONNECTIONS) -> None:
        self._engine = engine
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list = []
        # Each connection's one cursor, kept: a new cursor a statement copies the connection's
        # adapters map and is closed again (1.5 % of a card read's samples under load).
        self._cursors: dict = {}
        self._made = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        # The engine's pool closes its connections on dispose (shutdown, a test's end): these too.
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    async def answers(self, trip: OneTrip) -> dict | None:
        """`trip`'s answers (db.raw.answered), or None if the statement could not run here
        (the caller reads on a thread instead)."""
        return await self._run(trip.answers_async)

    async def rows(self, statement: RawSelect, params: dict) -> list | None:
        """The rows of one statement (a db.raw.RawSelect, or a db.statement.RawStatement that
        writes: on these autocommit connections it is its own transaction), or None if it
        could not run here (the caller runs it on a thread instead)."""
        return await self._run(lambda cursor, dialect: statement.rows_async(cursor, dialect, params))

    async def write(self, statement, params: dict) -> list | None:
        """The rows of one statement that writes (a db.statement.RawStatement), its own
        transaction on these autocommit connections, committed as a COMMIT on a thread commits
        it (synchronous_commit as the server has it). None only if no connection could be had,
        before anything was sent (the caller writes on a thread instead). Once sent, a failure
        is raised, never retried elsewhere (the write may have been committed): a refusal of
        the server (a unique key) as SQLAlchemy raises it (`IntegrityError`, as on a thread),
        a connection lost as the driver's error (the request fails, as on a thread)."""
        from sqlalchemy import exc

        connection = await self._take()
        if connection is None:
            return None
        dialect = self._engine.dialect
        try:
            rows = await statement.rows_async(self._cursor_of(connection), dialect, params)
        except BaseException as error:
            if connection.closed or connection.broken or not isinstance(error, dialect.loaded_dbapi.Error):
                self._discard(connection)
            else:  # the server refused the statement: its implicit transaction rolled back
                self._give_back(connection)
            if isinstance(error, dialect.loaded_dbapi.Error):
                raise exc.DBAPIError.instance(None, None, error, dialect.loaded_dbapi.Error,
                                              dialect=dialect) from error
            raise
        self._give_back(connection)
        return rows

    async def _run(self, send):
        connection = await self._take()
        if connection is None:
            return None
        try:
            found = await send(self._cursor_of(connection), self._engine.dialect)
        except Exception as error:  # a broken or refused connection: the thread's way
            log.warning("a read on the event loop's connection failed (%s); read on a thread",
                        type(error).__name__)
            self._discard(connection)
            return None
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            self._discard(connection)
            raise
        self._give_back(connection)
        return found

    async def _take(self):
        self._on_this_loop()
        if self._idle:
            return self._idle.pop()
        if self._made < self._size:
            self._made += 1
            try:
                return await self._connect()
            except Exception as error:
                self._made -= 1
                log.warning("no connection for reads on the event loop (%s)", type(error).__name__)
                return None
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                self._give_back(waiter.result())  # handed over as the request went away
            raise

    def _cursor_of(self, connection):
        cursor = self._cursors.get(connection)
        if cursor is None:
            cursor = self._cursors[connection] = connection.cursor()
        return cursor

    def _hand_to_waiter(self, connection) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _give_back(self, connection) -> None:
        if connection.closed:
            self._discard(connection)
        elif not self._hand_to_waiter(connection):
            self._idle.append(connection)

    def _discard(self, connection) -> None:
        self._made -= 1
        self._cursors.pop(connection, None)
        _finish(connection)
        self._hand_to_waiter(None)  # a waiter reads on a thread; the next request reconnects

    async def _connect(self):
        from yikatong.db.loop_connection import LoopConnection

        args, params = self._engine.dialect.create_connect_args(self._engine.url)
        return await LoopConnection.connect(*args, **params, autocommit=True)

    def _on_this_loop(self) -> None:
        """Connections belong to the loop that made them: another loop (a test's second
        client) starts afresh, the old loop's idle connections are closed."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        self.close()
        self._loop = loop
        self._waiters = collections.deque()

    def close(self) -> None:
        """Close the idle connections (at shutdown, or for another loop)."""
        for connection in self._idle:
            _finish(connection)
        self._idle, self._made, self._cursors = [], 0, {}


def _finish(connection) -> None:
    """Close `connection`, its socket first no longer watched by the loop (a closed
    descriptor's number can be reused by the next socket: db.loop_connection)."""
    with contextlib.suppress(Exception):
        connection.stop_watching()
    with contextlib.suppress(Exception):
        connection.pgconn.finish()


class SqliteLoopReads:
    """On SQLite, a hot read's one statement (db.raw.OneTrip) on the event loop's own DBAPI
    connection, outside any transaction of SQLAlchemy's (api.deps.ReadAccess.answer).

    The read ran in a read-only unit of work on the loop (Platform.loop_read_uow): a pool
    checkout, SQLAlchemy's BEGIN (its `begin` event, our `_sqlite_begin`, a statement
    through its whole execution path), the statement, then a ROLLBACK and a check-in: under
    load 18 % of a card read's CPU, four times the statement's own. The statement is one
    SELECT, and SQLite runs a statement outside a transaction as a read transaction of its
    own, one snapshot of the write-ahead log from its first step to its last row: exactly
    what that unit of work's one statement saw between BEGIN (deferred) and ROLLBACK. So
    here the connection (the loop engine's, checked out once: its PRAGMAs and type handling)
    stays out of the pool, its one cursor is kept, and a read is the statement and its
    fetch. Nothing is cached but the connection: every read sees what was committed before it
    began. A statement that fails closes the connection and the read goes the unit of work's
    way (a new one is made for the next read). One event loop at a time holds it (a server
    process has one): a read from another loop (a test's second client) gives it back and
    takes a new one; a read of the first loop that this cuts short goes the unit of work's
    way."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine  # the loop's own engine (Platform.loop_read_uow)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection = None  # checked out of the engine's pool, kept
        self._cursor = None
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def answers(self, trip: OneTrip) -> dict | None:
        """`trip`'s answers (db.raw.answered), or None if the statement could not run here
        (the caller reads in a unit of work instead). Call it on the event loop."""
        loop = asyncio.get_running_loop()
        try:
            if loop is not self._loop or self._cursor is None:
                self.close()
                self._loop = loop
                self._connection = self._engine.raw_connection()
                self._cursor = self._connection.dbapi_connection.cursor()
            return trip.answers_on_cursor(self._cursor, self._engine.dialect)
        except Exception as error:  # a broken connection or a refused statement
            log.warning("a read on the event loop's SQLite connection failed (%s); read in a "
                        "unit of work", type(error).__name__)
            self.close()
            return None

    def close(self) -> None:
        """Give the connection back to the pool (at shutdown, for another loop, on failure)."""
        cursor, connection = self._cursor, self._connection
        self._cursor = self._connection = None
        with contextlib.suppress(Exception):
            if cursor is not None:
                cursor.close()
        with contextlib.suppress(Exception):
            if connection is not None:
                connection.close()
