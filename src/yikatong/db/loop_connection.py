"""The event loop's PostgreSQL connections (db.loop_reads.LoopReads): psycopg's AsyncConnection
with a cheaper wait for the server's answer, and cursors that encode a statement once.

psycopg's own `AsyncConnection.wait` (psycopg.waiting.wait_async) registers the socket with the
loop for each wait and removes it after: an `epoll_ctl` to add and one to remove, the
selector's bookkeeping both ways, a future and a timer (`call_later` of its 0.1 s interrupt
check, cancelled again) for every statement. For a hot read on the loop that was about a
quarter of the statement's CPU in the worker (bench/request_path.py: 92-102 → 67-71 µs a
statement, four in flight). Here the socket is registered once and stays registered while
the connection lives: a wait is a future that the reader callback resolves.

Between statements a healthy connection's socket has nothing to read, so the registration
costs nothing while the connection is idle. What arrives unasked (a notice, the server
closing the connection) is read into libpq's buffer where psycopg finds it on the next
statement, as it would have; a socket that cannot be read any more (closed) is no longer
watched, and the statement that next uses the connection fails as it would have, so
LoopReads discards it. `stop_watching` comes before the connection is closed (`close`
does it; LoopReads calls it before `pgconn.finish()`): a closed descriptor's number can be
reused by the next socket.

Waits that psycopg's own way handles differently stay its way: a wait with a timeout,
and a statement whose sending did not fit in the socket's buffer (a write-wait) is
waited for with a writer registered for that wait only. A wait cut short (the request
cancelled) leaves the query running: LoopReads discards such a connection at once
(closing it ends the server's side), where psycopg's own wait first sent a cancel
request and waited up to 5 s for it.

psycopg encodes a `str` statement to bytes on every execute and hashes those new bytes to
find its parsed form and its prepared name: for the card read's 4 KB statement 6 % of the
statement's instructions in the worker. `LoopCursor` hands it the same bytes object each
time (bytes keep their hash), encoded as psycopg encodes it (the connection's encoding).

psycopg keeps a statement's conversion (placeholders to $n) only up to 4,096 bytes and 50
parameters (MAX_CACHED_STATEMENT_LENGTH / _PARAMS), leaving out the ORMs' VALUES lists of
every length; what the loop's connections send are the platform's own statements, few and
fixed, among them the e-card check's 13 KB and the redeem's 19 KB, which psycopg converted
again on every call (18 and 30 µs). `KeptQuery`, the cursors' query class (as psycopg's
ClientCursor has its own), keeps those too, at most KEPT_LONG_STATEMENTS of them, by the
statement's bytes (LoopCursor's: their hash computed once); the shorter ones go psycopg's
way, its cache."""

from __future__ import annotations

import asyncio
from functools import lru_cache

import psycopg
from psycopg import errors
from psycopg._queries import (
    MAX_CACHED_STATEMENT_LENGTH,
    MAX_CACHED_STATEMENT_PARAMS,
    PostgresQuery,
    _query2pg_nocache,
)
from psycopg.waiting import Ready, Wait

# The most statements a cursor keeps encoded: the hot paths' statements, written in the code.
ENCODED_STATEMENTS = 256
# The most long statements whose conversion KeptQuery keeps (of a worker's loop connections).
KEPT_LONG_STATEMENTS = 32


@lru_cache(maxsize=KEPT_LONG_STATEMENTS)
def _converted(query: bytes, encoding: str):
    return _query2pg_nocache(query, encoding)


class KeptQuery(PostgresQuery):
    """psycopg's PostgresQuery that also keeps the conversion of a statement longer than psycopg
    caches or with more parameters (see the module docstring)."""

    __slots__ = ()
    kept = _converted  # (its cache_info() for a test)

    def convert(self, query, vars) -> None:
        if vars is not None and type(query) is bytes and (
                len(query) > MAX_CACHED_STATEMENT_LENGTH or len(vars) > MAX_CACHED_STATEMENT_PARAMS):
            self.query, self._want_formats, self._order, self._parts = _converted(query, self._tx.encoding)
            self.dump(vars)
            return
        super().convert(query, vars)


class LoopCursor(psycopg.AsyncCursor):
    """An AsyncCursor that encodes each `str` statement once and keeps the conversion of the
    long ones (`KeptQuery`; see the module docstring)."""

    _query_cls = KeptQuery

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._encoded: dict[str, bytes] = {}

    def execute(self, query, params=None, **options):
        """AsyncCursor.execute (its coroutine, awaited by the caller: no frame of its own)."""
        if type(query) is str:
            encoded = self._encoded.get(query)
            if encoded is None:
                encoded = query.encode(self.connection.info.encoding)
                if len(self._encoded) < ENCODED_STATEMENTS:
                    self._encoded[query] = encoded
            query = encoded
        return super().execute(query, params, **options)


class LoopConnection(psycopg.AsyncConnection):
    """An AsyncConnection whose socket stays registered with the event loop, and whose cursors
    are LoopCursors (see the module docstring). Use it on one loop: the one of its first
    wait."""

    _loop: asyncio.AbstractEventLoop | None = None
    _watched: int | None = None  # the socket registered with _loop, if any
    _waiting: asyncio.Future | None = None  # the current wait's future
    _woken = False  # the reader resolved a wait whose task has not read the socket yet

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = LoopCursor

    async def wait(self, gen, interval: float = 0.1, timeout: float | None = None):
        if timeout is not None:  # psycopg's own way keeps its deadline
            self.stop_watching()
            return await super().wait(gen, interval, timeout)
        try:
            state = next(gen)
            while True:
                if state & Wait.W:
                    state = gen.send(await self._ready_to_write(state))
                else:
                    await self._readable()
                    state = gen.send(Ready.R)
        except StopIteration as done:
            return done.value
        except OSError as error:  # as psycopg's wait: the socket is gone
            raise errors.OperationalError("connection socket closed") from error

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        if self._watched is None:
            self._loop, self._watched = loop, self.pgconn.socket
            loop.add_reader(self._watched, self._on_readable)
        waiting = self._waiting = loop.create_future()
        try:
            await waiting
        finally:
            if self._waiting is waiting:  # (a wait cancelled late must not end the next one)
                self._waiting = None

    def _on_readable(self) -> None:
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            self._woken = True
            waiting.set_result(None)
            return
        if self._woken:
            # The loop polls again before the woken task has read the socket, and reports it
            # once more: the task reads it (or has read it) now.
            self._woken = False
            return
        try:  # unasked: into libpq's buffer (a notice), so the socket stops being readable
            self.pgconn.consume_input()
        except Exception:  # closed by the server: the next statement finds out
            self.stop_watching()

    async def _ready_to_write(self, state: int) -> int:
        """A wait for the socket to take the rest of a statement (and for an answer, if asked
        too): a writer registered for this wait only, the reader as always."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fileno = self.pgconn.socket
        loop.add_writer(fileno, lambda: ready.done() or ready.set_result(Ready.W))
        try:
            if state & Wait.R:
                reading = asyncio.ensure_future(self._readable())
                done, _ = await asyncio.wait({ready, reading}, return_when=asyncio.FIRST_COMPLETED)
                reading.cancel()
                return (Ready.W if ready in done else 0) | (Ready.R if reading in done else 0)
            return await ready
        finally:
            loop.remove_writer(fileno)

    async def close(self) -> None:
        self.stop_watching()
        await super().close()

    def stop_watching(self) -> None:
        """No longer watch the socket (before closing the connection, or handing its waits back
        to psycopg), from the loop's thread or any other. A loop already closed has nothing
        registered any more."""
        if self._watched is None:
            return
        loop, fileno = self._loop, self._watched
        self._loop = self._watched = None
        self._woken = False
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            loop.remove_reader(fileno)
        else:  # closed from another thread (a test's client on a loop of its own)
            loop.call_soon_threadsafe(loop.remove_reader, fileno)
