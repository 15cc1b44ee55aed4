"""Tamper-evident audit trail: one record per state change, chained per entity with SM3, and
signed checkpoints of every chain's head (docs/audit.md)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, Index, String, Table, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base
from yikatong.db.partitioning import attach_events


class AuditRecord(Base):
    """Who did what to which record, when, through which channel, with before and after.

    Records of one entity form a hash chain (`seq`, `prev_hash`, `hash`); the unique
    (entity_type, entity_id, seq) also makes two concurrent writers on one entity collide
    instead of both winning. Personal data in `before`/`after` is masked by
    UnitOfWork.audit before it is hashed (audit.rules.PERSONAL_FIELDS).
    """

    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("entity_type", "entity_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    before: Mapped[dict | None]
    after: Mapped[dict | None]
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditRecordKey(Base):
    """(entity_type, entity_id, seq) of every audit record on PostgreSQL, where audit_records is
    partitioned by month (db.partitioning) and its unique key must include `at`, so it no
    longer stops two writers taking one seq of a chain. This plain table's primary key does:
    written with the record (UnitOfWork.audit), it makes them collide as before. The keys of
    archived months are removed with them (db.archive). SQLite keeps the records' own unique
    key and leaves this table empty."""

    __tablename__ = "audit_record_keys"

    entity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class AuditCheckpoint(Base):
    """A signed statement of every chain's head at one point; checkpoints chain to each other.

    Every audit record with id ≤ `upto_record_id` was committed when it was taken (it waits
    for writers in flight), none above it. It stores the heads of the chains changed since
    the checkpoint before (AuditCheckpointHead); `changes_root` is SM3 over those, so the
    heads of all chains at checkpoint N are those of checkpoints 1..N, each covered by a
    signed hash. `signature` is SM2 by the key store's `audit_signing` key `key_version`.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    at: Mapped[datetime]
    upto_record_id: Mapped[int]
    record_count: Mapped[int]  # records with id ≤ upto_record_id
    chain_count: Mapped[int]  # chains begun by then
    changed_count: Mapped[int]  # head rows stored with this checkpoint
    changes_root: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int]
    signature: Mapped[str] = mapped_column(String(128))


class AuditCheckpointHead(Base):
    """One chain's head (its newest record's seq, hash and id) as checkpoint `checkpoint_seq` saw it."""

    __tablename__ = "audit_checkpoint_heads"
    __table_args__ = (
        UniqueConstraint("checkpoint_seq", "entity_type", "entity_id"),
        # A chain's newest vouched head, for a writer whose chain's records are all archived
        # (UnitOfWork.audit continues the chain from it).
        Index("ix_audit_checkpoint_heads_chain", "entity_type", "entity_id", "checkpoint_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_seq: Mapped[int]
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int]


class AuditVerification(Base):
    """The outcome of one `ykt audit verify` or scheduled check: what an operator reads (and
    what the failure alert points to)."""

    __tablename__ = "audit_verifications"
    __table_args__ = (Index("ix_audit_verifications_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    ok: Mapped[bool]
    from_checkpoint: Mapped[int | None]  # None: from each chain's first record
    to_checkpoint: Mapped[int | None]  # the newest checkpoint it checked against
    chains: Mapped[int]
    records: Mapped[int]
    problem_count: Mapped[int]
    first_problem: Mapped[dict | None]
    triggered_by: Mapped[str] = mapped_column(String(64))


# --- append-only: the database itself refuses UPDATE and DELETE --------------------------

APPEND_ONLY_TABLES = ("audit_records", "audit_checkpoints", "audit_checkpoint_heads", "audit_verifications")

# Row triggers: TRUNCATE (test fixtures, a deliberate purge by the table owner) fires none.
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION ykt_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def postgres_trigger(table: str) -> str:
    return (f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ykt_refuse_change()")


def sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
        for verb in ("UPDATE", "DELETE")
    ]


def _attach_append_only(table: Table) -> None:
    # On the table, not in a migration only: tests and the reference bank build their schema
    # with create_all, and must get the same refusals.
    # DDL formats its text with %: the function's own % placeholders are doubled.
    function = DDL(POSTGRES_FUNCTION.replace("%", "%%"))
    event.listen(table, "after_create", function.execute_if(dialect="postgresql"))
    event.listen(table, "after_create", DDL(postgres_trigger(table.name)).execute_if(dialect="postgresql"))
    for statement in sqlite_triggers(table.name):
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="sqlite"))


for _model in (AuditRecord, AuditCheckpoint, AuditCheckpointHead, AuditVerification):
    _attach_append_only(_model.__table__)

# Partitioned by month of `at` on PostgreSQL (db.partitioning), after the trigger above is made.
attach_events(AuditRecord.__table__)
