"""The composition root: settings, database, clock, and the seams to the outside world.

Seams (bank gateway, card factory, card reader, key store, event bus, …) are
`typing.Protocol`s; implementations are registered here and looked up by protocol, so a
test or a deployment swaps one in (the pypi/warehouse way). Each domain may offer a
`wiring.configure(platform)` that registers its in-repo reference implementations, and a
`wiring.connect(platform)` that runs after every domain is configured (event subscriptions).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine

import yikatong
from yikatong.core.clock import Clock, SystemClock
from yikatong.core.settings import Settings
from yikatong.db.engine import make_engine, make_session_factory, reading_engine
from yikatong.db.loop_reads import LoopReads, SqliteLoopReads
from yikatong.db.sqlite_loop_writes import SqliteLoopWrites, listen_for_disposal
from yikatong.db.uow import UnitOfWork

T = TypeVar("T")


class Platform:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.clock = clock or SystemClock()
        self.engine = engine or make_engine(self.settings.database_url)
        self.session_factory = make_session_factory(self.engine)
        # Same pool; on SQLite its transactions begin without the write lock (db.engine).
        self.reading_engine = reading_engine(self.engine)
        self._read_session_factory = make_session_factory(self.reading_engine)
        self._loop_read_factory = None  # made by loop_read_uow when first asked
        self._loop_reads: LoopReads | None = None  # made by loop_reads when first asked
        self._sqlite_loop_reads: SqliteLoopReads | None = None  # made with loop_read_uow's engine
        self._sqlite_loop_writes: SqliteLoopWrites | bool | None = None  # False: not SQLite's file
        # PostgreSQL: reads whose every statement runs on its own (see statement_read_uow).
        self._statement_read_factory = None if self.engine.dialect.name == "sqlite" else \
            make_session_factory(self.reading_engine.execution_options(isolation_level="AUTOCOMMIT"))
        self.after_commit: list[Callable[[], None]] = []
        self._services: dict[Any, Any] = {}
        self._factories: dict[Any, Callable[[Platform], Any]] = {}
        # a service made once even when two threads ask first at once (re-entrant: factories
        # ask for other services)
        self._making = threading.RLock()
        wirings = [
            wiring for module in sorted(pkgutil.iter_modules(yikatong.__path__), key=lambda m: m.name)
            if module.ispkg and (wiring := _optional_module(f"yikatong.{module.name}.wiring"))
        ]
        for wiring in wirings:
            wiring.configure(self)
        # Second phase, once every seam is registered: subscriptions to the event bus.
        for wiring in wirings:
            if hasattr(wiring, "connect"):
                wiring.connect(self)

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        """A unit of work; `read_only` for a use case that only reads (a GET): it may not
        commit, and on SQLite it neither waits for nor blocks the one writer."""
        if read_only:
            return UnitOfWork(self._read_session_factory, self.clock, self.after_commit,
                              seams=self, read_only=True)
        return UnitOfWork(self.session_factory, self.clock, self.after_commit, seams=self)

    def statement_read_uow(self) -> UnitOfWork:
        """`uow(read_only=True)` that sends no BEGIN and no ROLLBACK on PostgreSQL: two round
        trips of a card read's five. It sees the same: at READ COMMITTED (the platform never
        raises a read's isolation) every statement of a transaction sees what was committed
        when that statement began, exactly as a statement on its own does. On SQLite, whose
        transaction is one snapshot for all its statements, or on a server whose default
        isolation is stricter (a transaction's snapshot there spans its statements), the same
        as uow(read_only=True)."""
        if self._statement_read_factory is None or \
                getattr(self.engine.dialect, "default_isolation_level", None) != "READ COMMITTED":
            return self.uow(read_only=True)
        return UnitOfWork(self._statement_read_factory, self.clock, self.after_commit,
                          seams=self, read_only=True)

    def loop_read_uow(self) -> UnitOfWork | None:
        """On SQLite, a read-only unit of work to run on the event loop itself (api.deps.
        ReadAccess.answer); None on a server database, whose reads wait for round trips.

        A read of a SQLite file in WAL mode waits for no lock (it begins deferred: the writer
        neither blocks it nor is blocked by it) and takes a fraction of a millisecond, less than
        handing it to a thread and back under load. Its connection is the event loop's own,
        from an engine of its own (same file, same settings): never one a thread holds, so the
        loop never waits for the request pool. An in-memory database has one connection:
        that one."""
        if not self._set_up_sqlite_loop():
            return None
        return UnitOfWork(self._loop_read_factory, self.clock, self.after_commit, seams=self,
                          read_only=True)

    def sqlite_loop_reads(self) -> SqliteLoopReads | None:
        """On a SQLite file, a hot read's one statement on the event loop's own connection,
        outside a unit of work (db.loop_reads.SqliteLoopReads: what `loop_read_uow`'s one
        statement sees). None elsewhere (an in-memory database has one connection, shared)."""
        return self._sqlite_loop_reads if self._set_up_sqlite_loop() else None

    def _set_up_sqlite_loop(self) -> bool:
        """The event loop's own engine on SQLite, made once: its session factory and, on a
        file, its `SqliteLoopReads`. False on a server database."""
        if self.engine.dialect.name != "sqlite":
            return False
        if self._loop_read_factory is None:
            database = self.engine.url.database
            engine = self.engine if database in (None, "", ":memory:") else make_engine(
                self.engine.url.render_as_string(hide_password=False), pool_size=1,
                max_overflow=-1)  # one loop, one connection; a second loop (tests) its own
            self._loop_read_factory = make_session_factory(reading_engine(engine))
            if engine is not self.engine:
                self._sqlite_loop_reads = SqliteLoopReads(engine)
        return True

    def sqlite_loop_writes(self) -> SqliteLoopWrites | None:
        """On a SQLite file, the event loop's own connection for a write of one statement that
        may be lost by a power cut (db.sqlite_loop_writes: a throttle's count). None elsewhere."""
        if self._sqlite_loop_writes is None:
            on_file = self.engine.dialect.name == "sqlite" and \
                self.engine.url.database not in (None, "", ":memory:")
            self._sqlite_loop_writes = on_file and SqliteLoopWrites(
                self.engine.url.render_as_string(hide_password=False))
            if on_file:
                listen_for_disposal(self.engine, self._sqlite_loop_writes)
        return self._sqlite_loop_writes or None

    def loop_reads(self) -> LoopReads | None:
        """On PostgreSQL at READ COMMITTED, the event loop's connections for a hot read's one
        statement (db.loop_reads): it sees what `statement_read_uow` sees. None elsewhere."""
        if self.engine.dialect.driver != "psycopg" or \
                getattr(self.engine.dialect, "default_isolation_level", None) != "READ COMMITTED":
            return None
        if self._loop_reads is None:
            self._loop_reads = LoopReads(self.engine)
        return self._loop_reads

    def provide(self, protocol: Any, implementation: Any = None, *, factory=None) -> None:
        """Register an implementation (or a lazy factory) for a seam."""
        self._services.pop(protocol, None)
        if factory is not None:
            self._factories[protocol] = factory
        else:
            self._services[protocol] = implementation

    def has(self, protocol: Any) -> bool:
        """Whether an implementation (or factory) is registered: wiring that only offers a
        default checks this, so a package that built the real thing keeps its own."""
        return protocol in self._services or protocol in self._factories

    def protocols(self) -> list[Any]:
        """Every seam with an implementation or a factory registered (the start-up check
        walks them all)."""
        return list({**self._factories, **self._services})

    def get(self, protocol: type[T] | Any) -> T:
        if protocol not in self._services:
            with self._making:
                if protocol not in self._services:
                    if protocol not in self._factories:
                        raise LookupError(f"no implementation registered for {protocol!r}")
                    self._services[protocol] = self._factories[protocol](self)
        return self._services[protocol]


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None
