"""The reference bank's runtime: its own database, clock, keys and the banks it stands in for.

The bank keeps its tables in a database of its own, as a real bank would: on SQLite a file
beside the platform's (`var/yikatong-bank.db`), on PostgreSQL the same database unless
`YKT_BANK_DATABASE_URL` names another. A separate file on SQLite is not only realism: the
platform calls the bank from inside its own transaction, and SQLite lets one writer at a time
hold a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.orm import Session

from yikatong.banking import models
from yikatong.banking.bankfiles import FileDrop, root_of
from yikatong.banking.errors import NotServedHere
from yikatong.core.clock import Clock
from yikatong.crypto.protocols import KeyStore
from yikatong.db.base import Base
from yikatong.db.engine import make_engine, make_session_factory, normalise_url
from yikatong.db.uow import UnitOfWork
from yikatong.events.wakeup import OutboxWakeup, announce

log = logging.getLogger(__name__)

# The bank's relay (banking.node) sleeps on this, woken by commits that wrote to its outbox.
BANK_OUTBOX_CHANNEL = "ykt_bank_outbox"
_OUTBOX_WRITTEN = "bank_outbox_written"  # in Session.info, until the transaction ends

# The bank's own tables, and the shared ones its unit of work writes (ledger, audit).
BANK_TABLES = (
    models.BankAccount.__tablename__, models.BankLoss.__tablename__,
    models.BankClosureTask.__tablename__, models.BankTransaction.__tablename__,
    models.BankOutboxMessage.__tablename__, models.BankProcessedMessage.__tablename__,
    models.BankDisbursementBatch.__tablename__, models.BankDisbursementRow.__tablename__,
    "ledger_accounts", "ledger_journals", "ledger_postings", "audit_records",
    "audit_checkpoint_heads",  # read by UnitOfWork.audit for chains whose records are archived
    "audit_record_keys",  # written by UnitOfWork.audit on PostgreSQL (audit.models)
)


def bank_database_url(settings) -> str:
    """YKT_BANK_DATABASE_URL, else a `-bank` sibling of a SQLite file, else the platform's."""
    explicit = getattr(settings, "bank_database_url", None) or os.environ.get("YKT_BANK_DATABASE_URL")
    if explicit:
        return explicit
    url = settings.database_url
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        path = Path(url.removeprefix("sqlite:///"))
        return f"sqlite:///{path.with_name(f'{path.stem}-bank{path.suffix}')}"
    return url


def ensure_schema(engine: Engine) -> None:
    """Create the bank's tables where they are missing (migrations own them on PostgreSQL)."""
    import yikatong.audit.models  # noqa: F401  (registers the tables the bank writes)
    import yikatong.ledger.models  # noqa: F401

    Base.metadata.create_all(engine, tables=[Base.metadata.tables[name] for name in BANK_TABLES])
    if engine.dialect.name == "sqlite":
        _add_missing_columns(engine, models.BankAccount.__table__)
        _add_missing_columns(engine, models.BankTransaction.__table__)


def _add_missing_columns(engine: Engine, table) -> None:
    """A bank file written by an older release lacks the newer (nullable) columns: add them,
    since no migration runs on the bank's own SQLite file (on PostgreSQL revision 0011 does)."""
    present = {column["name"] for column in inspect(engine).get_columns(table.name)}
    missing = [column for column in table.columns if column.name not in present and column.nullable]
    with engine.begin() as connection:
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def note_outbox_written(session: Session) -> None:
    """A bulk (Core) insert wrote to the outbox: wake the relay when it commits."""
    session.info[_OUTBOX_WRITTEN] = True


def _wake_on_outbox_commits(session_factory, wakeup: OutboxWakeup) -> None:
    """Every bank transaction that writes to the outbox wakes the relay once it commits, on
    whichever path it commits (use cases, the consumers, the gateway's answers): in this
    process through `wakeup`, and on PostgreSQL in every process listening (NOTIFY, sent only
    if the transaction commits)."""

    def writes_outbox(session: Session) -> bool:
        return session.info.get(_OUTBOX_WRITTEN, False) or any(
            isinstance(row, models.BankOutboxMessage) for row in session.new)

    @event.listens_for(session_factory, "before_flush")
    def note_outbox(session: Session, *_: object) -> None:
        if writes_outbox(session):
            session.info[_OUTBOX_WRITTEN] = True

    @event.listens_for(session_factory, "before_commit")
    def announce_outbox(session: Session) -> None:
        if writes_outbox(session):
            session.info[_OUTBOX_WRITTEN] = True
            announce(session, BANK_OUTBOX_CHANNEL)

    @event.listens_for(session_factory, "after_commit")
    def wake(session: Session) -> None:
        if session.info.pop(_OUTBOX_WRITTEN, False):
            wakeup.notify()

    @event.listens_for(session_factory, "after_soft_rollback")
    def forget(session: Session, _transaction: object) -> None:
        if not session.in_transaction():
            session.info.pop(_OUTBOX_WRITTEN, None)


class ReferenceBank:
    """One running reference bank, standing in for `bank_codes` (None: all 15)."""

    def __init__(self, *, engine: Engine, clock: Clock, keystore: Callable[[], KeyStore],
                 bank_codes: Iterable[str] | None = None, owns_engine: bool = False,
                 files: FileDrop | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.session_factory = make_session_factory(engine)
        self.bank_codes = frozenset(bank_codes) if bank_codes else None
        self.after_commit: list[Callable[[], None]] = []
        self.outbox_wakeup = OutboxWakeup(BANK_OUTBOX_CHANNEL)
        _wake_on_outbox_commits(self.session_factory, self.outbox_wakeup)
        self._keystore = keystore
        self._owns_engine = owns_engine
        # The file drop the bank reads disbursement files from and writes results to.
        self.files = files or FileDrop(root_of(None))
        ensure_schema(engine)

    @classmethod
    def for_platform(cls, platform) -> ReferenceBank:
        """The in-process bank of a platform: same clock and key store, its own database."""
        from yikatong.crypto.protocols import KeyStore as KeyStoreProtocol

        url = bank_database_url(platform.settings)
        same = normalise_url(url) == normalise_url(platform.settings.database_url)
        engine = platform.engine if same else make_engine(url)
        return cls(engine=engine, clock=platform.clock, owns_engine=not same,
                   keystore=lambda: platform.get(KeyStoreProtocol),
                   files=FileDrop(root_of(platform.settings)))

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.clock)

    def commit(self, uow: UnitOfWork) -> None:
        """Commit a bank use case, then tell the relay there may be news for the platform."""
        uow.commit()
        for hook in self.after_commit:
            try:
                hook()
            except Exception:  # the relay job retries; the bank's change is committed
                log.exception("after-commit hook of the reference bank failed")

    @property
    def keystore(self) -> KeyStore:
        return self._keystore()

    def serves(self, bank_code: str) -> bool:
        return self.bank_codes is None or bank_code in self.bank_codes

    def check_serves(self, bank_code: str) -> None:
        if not self.serves(bank_code):
            raise NotServedHere(bank_code=bank_code)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()
