"""The unit of work: one use case, one transaction, its audit record and its outbox events.

It rolls back unless `commit()` is called. Services never commit sessions themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from yikatong.audit.models import AuditCheckpointHead, AuditRecord, AuditRecordKey
from yikatong.audit.rules import GENESIS, record_hash, without_personal_data
from yikatong.core.actor import Actor
from yikatong.core.clock import Clock
from yikatong.core.errors import ConcurrentChange, IdempotencyKeyReused
from yikatong.db.idempotency import IdempotencyRecord, request_fingerprint
from yikatong.db.statement import RawStatement
from yikatong.events.models import OutboxEvent
from yikatong.events.wakeup import announce

# The newest record of one entity's chain; built once (building a select costs more CPU than
# running it), run on the connection's own cursor (db.statement).
_AUDIT_HEAD = RawStatement(select(AuditRecord.seq, AuditRecord.hash)
                           .where(AuditRecord.entity_type == bindparam("entity_type"),
                                  AuditRecord.entity_id == bindparam("entity_id"))
                           .order_by(AuditRecord.seq.desc()).limit(1), "AuditHead")

_ARCHIVED_HEAD = RawStatement(select(AuditCheckpointHead.seq, AuditCheckpointHead.hash)
                              .where(AuditCheckpointHead.entity_type == bindparam("entity_type"),
                                     AuditCheckpointHead.entity_id == bindparam("entity_id"))
                              .order_by(AuditCheckpointHead.checkpoint_seq.desc()).limit(1), "ArchivedHead")


# UnitOfWork.audit(insert_now=True)'s statements: plain INSERTs, nothing read back, run on the
# connection's own cursor (db.statement: no SQLAlchemy execution path). On PostgreSQL the
# record and its key in one statement (the key's INSERT a data-modifying CTE of the record's):
# one round trip where two were; the key's primary key refuses a second seq as before, failing
# the whole statement.
_AUDIT_COLUMNS = ("at", "actor_id", "role", "channel", "action", "entity_type", "entity_id", "seq", "before",
                  "after", "reason", "prev_hash", "hash")
_AUDIT_INSERT = RawStatement(insert(AuditRecord.__table__).inline(), "AuditInsert", columns=_AUDIT_COLUMNS)
_AUDIT_WITH_KEY_INSERT = RawStatement(insert(AuditRecord.__table__).inline().add_cte(
    insert(AuditRecordKey.__table__).values(entity_type=bindparam("key_entity_type"),
                                            entity_id=bindparam("key_entity_id"),
                                            seq=bindparam("key_seq")).cte("audit_key")),
    "AuditWithKeyInsert", columns=_AUDIT_COLUMNS)


class BesideAudit:
    """A plain INSERT (nothing read back) that can carry the audit records held for it
    (`UnitOfWork.audit(hold=True)`, `UnitOfWork.insert_beside_audit`): on PostgreSQL one held
    record and its key are data-modifying CTEs of the same statement (one round trip where two
    were; the key's primary key refuses a second seq as before, failing the whole statement);
    else each is its own INSERT, before this one. Built once per table and columns."""

    def __init__(self, table: Any, name: str, columns: tuple[str, ...]) -> None:
        self.alone = RawStatement(insert(table).inline(), name, columns=columns)
        taken = set(columns)
        if taken & {f"audit_{c}" for c in _AUDIT_COLUMNS} or taken & {"key_entity_type", "key_entity_id", "key_seq"}:
            raise ValueError(f"{name}: a column's name is one of the audit record's parameters")
        records = AuditRecord.__table__
        record = insert(records).values({
            name_: bindparam(f"audit_{name_}", type_=records.c[name_].type) for name_ in _AUDIT_COLUMNS
        }).cte("held_audit")
        key = insert(AuditRecordKey.__table__).values(
            entity_type=bindparam("key_entity_type"), entity_id=bindparam("key_entity_id"),
            seq=bindparam("key_seq")).cte("held_audit_key")
        self.with_audit = RawStatement(insert(table).inline().add_cte(key).add_cte(record), f"{name}WithAudit",
                                       columns=columns)


def audit_fields(*, at, actor: Actor, action: str, entity_type: str, entity_id: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None,
                 reason: str | None, last) -> dict[str, Any]:
    """An audit record's columns but its hash (`record_hash` of these), chained to `last`,
    the chain's head ((seq, hash), or None for a chain not begun), personal data masked:
    what `UnitOfWork.audit` stores."""
    return dict(
        at=at, actor_id=actor.user_id, role=str(actor.role),
        channel=str(actor.channel), action=action, entity_type=entity_type,
        entity_id=entity_id, seq=(last.seq + 1) if last else 1,
        before=without_personal_data(before), after=without_personal_data(after),
        reason=without_personal_data(reason), prev_hash=last.hash if last else GENESIS,
    )


class UnitOfWork:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        after_commit: list[Callable[[], None]] | None = None,
        seams: Any = None,
        *,
        read_only: bool = False,
    ) -> None:
        self._session_factory = session_factory
        self.read_only = read_only
        self.clock = clock
        self._seams = seams  # the Platform that made this unit of work
        self._after_commit = after_commit or []
        self._session: Session | None = None
        self._reading: Connection | None = None  # a read-only unit of work's own connection
        self._writing: tuple[Any, Connection] | None = None  # (session transaction, its connection)
        self.events: list[OutboxEvent] = []
        self._held_audit: list[tuple[Any, dict]] = []  # (session transaction, row): audit(hold=True)

    def __enter__(self) -> UnitOfWork:
        # A read-only unit of work opens its connection, and a session on it, only when first
        # asked: a hot read that needs plain selects only (the card read, api.lean) then
        # never pays for a session (a third of a plain select-and-close on SQLite).
        self._session = None if self.read_only else self._session_factory()
        self._reading = None
        self._writing = None
        self._held_audit = []
        self.events = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        # close() rolls back what was not committed and detaches loaded objects without
        # expiring them, so results stay readable after the block.
        self._writing = None
        self._held_audit = []  # not committed: never written
        if self._session is not None:
            self._session.close()
        if self._reading is not None:
            self._reading.close()  # rolls the read's transaction back

    @property
    def session(self) -> Session:
        if self._session is None:  # read-only: a session on this unit of work's connection
            self._session = self._session_factory(bind=self.connection())
        return self._session

    def connection(self) -> Connection:
        """The connection of this unit of work's transaction (for plain Core selects)."""
        if not self.read_only:
            # The session's connection, kept while its transaction is the same and active: a
            # hot path asks for it once per statement, and Session.connection() costs a
            # state-machine check and a bind look-up each time. A transaction ended, or made
            # inactive by a failed flush, asks the session again (which then raises as before).
            session = self.session
            transaction = session.get_transaction()
            writing = self._writing
            if writing is not None and writing[0] is transaction and transaction.is_active:
                return writing[1]
            connection = session.connection()
            self._writing = (session.get_transaction(), connection)
            return connection
        if self._reading is None:
            engine = self._session_factory.kw["bind"]
            self._reading = engine.connect()
            self._reading.begin()
        return self._reading

    def commit(self) -> None:
        if self.read_only:  # a reader's session is not allowed to write (Platform.uow)
            raise ReadOnlyUnitOfWork()
        try:
            if self._held_audit:  # not taken by a statement (`insert_beside_audit`): written now
                self._write_held_audit()
            if self.events:  # wakes the dispatcher of any process once this commits
                announce(self.session)
            self.session.commit()
        except StaleDataError as error:
            self.session.rollback()
            raise ConcurrentChange() from error
        except IntegrityError as error:
            self.session.rollback()
            if is_audit_collision(error):
                raise ConcurrentChange() from error
            raise
        if self.events:
            for hook in self._after_commit:
                hook()

    def now(self):
        return self.clock.now()

    def get(self, protocol: Any) -> Any:
        """The implementation of a seam registered on the platform that made this uow."""
        if self._seams is None:
            raise LookupError(f"this unit of work has no platform to find {protocol!r} on")
        return self._seams.get(protocol)

    def audit(
        self,
        *,
        actor: Actor,
        action: str,
        entity_type: str,
        entity_id: str | int,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
        new_entity: bool = False,
        insert_now: bool = False,
        hold: bool = False,
    ) -> AuditRecord | None:
        """Add the audit record of this change, chained to the entity's previous record.

        Personal data in `before`, `after` and `reason` is masked here, for every caller
        (audit.rules.without_personal_data); the hash covers what is stored.

        `new_entity`: the entity's row was inserted in this transaction under a unique key
        never used before (a fresh random id the insert's unique index accepted), so its chain
        begins here (seq 1 after GENESIS) and the previous record is not looked up. A wrong
        claim cannot fork a chain: the unique (entity_type, entity_id, seq) index (on PostgreSQL,
        where audit_records is partitioned, the key table audit_record_keys) refuses the
        second seq 1 and the change fails as ConcurrentChange.

        `insert_now`: the record (and its key) written at once by a plain INSERT in this
        transaction instead of an ORM object flushed later (returns None): the same row, hash
        and chain, without the ORM's unit-of-work bookkeeping on a hot path (the medical door).
        A collision on the chain's key is raised here (IntegrityError, `is_audit_collision`)
        rather than at commit; the caller's transaction is then to be rolled back.

        `hold` (with `insert_now`): the record is made now (its seq, hash and time as above)
        and written by the next `insert_beside_audit` of this transaction, in the same
        statement as that INSERT on PostgreSQL (one round trip fewer); else before the next
        read of any audit chain (`_chain_head`), or at `commit`, whichever comes first. A held
        record is never written after a rollback of its transaction; inside a savepoint it is
        written at once (a savepoint rolled back takes it back, as before)."""
        entity_id = str(entity_id)
        last = None if new_entity else self._chain_head(entity_type, entity_id)
        fields = audit_fields(at=self.now(), actor=actor, action=action, entity_type=entity_type,
                              entity_id=entity_id, before=before, after=after, reason=reason,
                              last=last)
        if insert_now:
            row = {**fields, "hash": record_hash(fields)}
            session = self.session
            if hold and not session.in_nested_transaction():
                self.connection()  # the transaction begun, so the record belongs to it
                self._held_audit.append((session.get_transaction(), row))
                return None
            self._write_audit(row)
            return None
        record = AuditRecord(**fields, hash=record_hash(fields))
        self.session.add(record)
        if self._partitioned_audit():  # the key that makes two writers of one seq collide
            self.session.add(AuditRecordKey(entity_type=entity_type, entity_id=entity_id, seq=fields["seq"]))
        return record

    def _write_audit(self, row: dict) -> None:
        connection = self.connection()  # on its own cursor: no SQLAlchemy execution path
        if self._partitioned_audit():
            _AUDIT_WITH_KEY_INSERT.execute(connection, {**row, "key_entity_type": row["entity_type"],
                                                        "key_entity_id": row["entity_id"], "key_seq": row["seq"]})
        else:
            _AUDIT_INSERT.execute(connection, row)

    def _take_held_audit(self) -> list[dict]:
        """The records held in this transaction (`audit(hold=True)`), taken (not to be written
        again); those of an earlier transaction (rolled back) are dropped."""
        held, self._held_audit = self._held_audit, []
        if not held:
            return []
        transaction = self.session.get_transaction()
        if transaction is None or not transaction.is_active:
            return []
        return [row for made_in, row in held if made_in is transaction]

    def _write_held_audit(self) -> None:
        for row in self._take_held_audit():
            self._write_audit(row)

    def insert_beside_audit(self, statement: BesideAudit, values: dict[str, Any]) -> None:
        """`statement`'s INSERT of `values` in this transaction, the audit records held for
        it (`audit(hold=True)`) written with it: one of them by the same statement on
        PostgreSQL, else each by its own INSERT first. Raises IntegrityError as the INSERTs
        would (an audit collision: `is_audit_collision`)."""
        held = self._take_held_audit()
        connection = self.connection()
        if len(held) == 1 and self._partitioned_audit():
            row = held[0]
            statement.with_audit.execute(connection, {
                **values, **{f"audit_{name}": row[name] for name in _AUDIT_COLUMNS},
                "key_entity_type": row["entity_type"], "key_entity_id": row["entity_id"], "key_seq": row["seq"]})
            return
        for row in held:
            self._write_audit(row)
        statement.alone.execute(connection, values)

    def _partitioned_audit(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _chain_head(self, entity_type: str, entity_id: str):
        """(seq, hash) of the chain's newest record, None for a chain not begun. A chain whose
        records are all archived (db.archive: whole checkpoint ranges) goes on from its newest
        head a signed checkpoint holds."""
        if self._held_audit:  # held records (`audit(hold=True)`) are part of the chains: written first
            self._write_held_audit()
        session = self.session
        if session.new or session.dirty or session.deleted:  # records added and not flushed yet
            session.flush()  # written first, as the session's own select would (autoflush)
        chain, connection = {"entity_type": entity_type, "entity_id": entity_id}, self.connection()
        return _AUDIT_HEAD.first(connection, chain) or _ARCHIVED_HEAD.first(connection, chain)

    def emit(
        self,
        type: str,
        *,
        aggregate_type: str,
        aggregate_id: str | int,
        payload: dict[str, Any],
        partner: str | None = None,
    ) -> OutboxEvent:
        """Write an event to the outbox; it leaves after commit through the dispatcher."""
        event = OutboxEvent(
            event_id=str(uuid.uuid4()), type=type, aggregate_type=aggregate_type,
            aggregate_id=str(aggregate_id), partner=partner, payload=payload,
            occurred_at=self.now(), attempts=0,
        )
        self.session.add(event)
        self.events.append(event)
        return event

    def replay(self, scope: str, key: str | None, request: Any) -> dict | None:
        """The stored response of an earlier request with this idempotency key, if any."""
        if key is None:
            return None
        stored = self.session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        ).scalar_one_or_none()
        if stored is None:
            return None
        if stored.request_hash != request_fingerprint(request):
            raise IdempotencyKeyReused(key=key)
        return stored.response

    def replay_or_raise(self, scope: str, key: str | None, request: Any, refusal: Exception) -> dict:
        """After `refusal`, which a first try with this key may have caused by committing since
        this request's `replay` check (a retry overtaking its first try): that try's stored
        response. Without one the refusal stands and is raised. Rolls back what this request did."""
        self.session.rollback()
        stored = self.replay(scope, key, request)
        if stored is None:
            raise refusal
        return stored

    def remember(self, scope: str, key: str | None, request: Any, response: dict) -> None:
        """Store the response under the idempotency key, in this same transaction."""
        if key is None:
            return
        self.session.add(IdempotencyRecord(
            scope=scope, key=key, request_hash=request_fingerprint(request),
            response=response, created_at=self.now(),
        ))


class ReadOnlyUnitOfWork(RuntimeError):
    """A unit of work opened for reading (`Platform.uow(read_only=True)`) was asked to commit:
    a programming error, not a refusal."""

    def __init__(self) -> None:
        super().__init__("this unit of work was opened read-only; open platform.uow() to write")


UowFactory = Callable[[], UnitOfWork]


def is_audit_collision(error: IntegrityError) -> bool:
    """Two transactions recorded a change of one entity at once: both took the same next
    number of its audit chain (the unique entity/seq index of audit_records, or on PostgreSQL
    the primary key of audit_record_keys)."""
    return "audit_record" in str(error.orig)
