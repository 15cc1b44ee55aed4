"""Wakes the outbox dispatcher when an event is committed, instead of it polling.

* A commit in this process: the unit of work's after-commit hook calls `OutboxWakeup.notify`
  (registered by events.wiring; it runs only for a commit that emitted events).
* A commit in any process, on PostgreSQL: the unit of work sends `NOTIFY ykt_outbox` inside
  the transaction that emits (`announce`), which PostgreSQL delivers only once that
  transaction commits, and never for one rolled back; `OutboxWakeup.listen` keeps a
  connection on `LISTEN ykt_outbox`.

A wake-up can be missed (the listening connection was down for a moment; on SQLite a commit
in another process, since SQLite has no notifications), so the dispatch loop also polls,
slowly: a missed wake-up delays an event, it never loses one. With the dispatcher polling
every 0.2 s, a formal loss took p50 124 ms / p99 185 ms from the platform's commit to the
bank's (bench/bank_loss_sync.py); woken on commit, see that bench.

The reference bank's relay wakes the same way on its own channel (banking.runtime,
`BANK_OUTBOX_CHANNEL`).
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "ykt_outbox"
RECONNECT_SECONDS = 1.0


def announce(session: Session, channel: str = CHANNEL) -> None:
    """In the transaction about to commit outbox events: tell listeners once it commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


def listens_across_processes(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class OutboxWakeup:
    """A flag the dispatch loop sleeps on; set by commits (this process's, and on PostgreSQL
    every process's once `listen` runs) on `channel`."""

    def __init__(self, channel: str = CHANNEL) -> None:
        self.channel = channel
        self._flag = threading.Event()
        self._closing = threading.Event()
        self._listener: threading.Thread | None = None
        self._lock = threading.Lock()

    def notify(self) -> None:
        self._flag.set()

    def wait(self, timeout: float) -> bool:
        """Sleep until notified or `timeout` passes; True when notified. Clears the flag, so a
        commit after this returns wakes the next wait (the dispatch after it reads rows
        committed before the flag was cleared)."""
        woke = self._flag.wait(timeout)
        self._flag.clear()
        return woke

    def listen(self, engine: Engine) -> bool:
        """Start listening for other processes' commits on the engine's PostgreSQL database
        (once; a daemon thread that reconnects by itself). False when it cannot (SQLite)."""
        if not listens_across_processes(engine):
            return False
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen_forever,
                                                  args=(connect_args(engine), self._closing),
                                                  name=f"{self.channel}-listen", daemon=True)
                self._listener.start()
        return True

    def close(self) -> None:
        """Stop listening (a later `listen` starts again)."""
        with self._lock:
            self._closing.set()
            if self._listener is not None:
                self._listener.join(timeout=5)
            self._listener = None
            self._closing = threading.Event()

    def _listen_forever(self, args: dict, closing: threading.Event) -> None:
        while not closing.is_set():
            try:
                with psycopg.connect(autocommit=True, **args) as connection:
                    connection.execute(f"LISTEN {self.channel}")
                    self.notify()  # what was committed while no one listened
                    while not closing.is_set():
                        for _ in connection.notifies(timeout=1.0):
                            self.notify()
            except psycopg.Error as error:
                log.warning("listening for outbox commits failed (%s); again in %.0f s",
                            error, RECONNECT_SECONDS)
                self.notify()  # the fallback's job, done at once: a notification may be lost
                closing.wait(RECONNECT_SECONDS)


def connect_args(engine: Engine) -> dict:
    """What the engine's pool connects with, for a connection of our own: the same hosts in
    the same order and target_session_attrs, so with a primary and a standby named
    (`?host=a:5432&host=b:5432&target_session_attrs=read-write`) the listener, like the pool,
    finds whichever server takes writes (docs/failover.md). A URL rendered back to text
    would keep only the last host."""
    _, params = engine.dialect.create_connect_args(engine.url)
    params.pop("context", None)  # SQLAlchemy's adapters, for its own connections
    return params
