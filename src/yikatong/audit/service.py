"""Checkpoints of the audit trail and its verification (docs/audit.md).

A checkpoint takes two short transactions: `settled_record_bound` (waits for the audit
writers in flight, reads the highest id, ends at once) and `make_checkpoint` (signs the heads
of the chains changed since the checkpoint before). `verify_trail` reads; `record_verification`
keeps its outcome and raises the alert.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from yikatong.audit import errors
from yikatong.audit.models import (
    AuditCheckpoint,
    AuditCheckpointHead,
    AuditRecord,
    AuditVerification,
)
from yikatong.audit.rules import (
    GENESIS,
    SIGNER_ID,
    Bound,
    Head,
    Problem,
    Vouched,
    changes_root,
    check_chain,
    checkpoint_hash,
    checkpoint_problem,
    signed_message,
)
from yikatong.core.errors import DomainError
from yikatong.crypto import sm2
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import UnitOfWork

SIGNING_PURPOSE = "audit_signing"
FAILED_EVENT = "audit.verification_failed"
LOCK_TIMEOUT = "5s"  # how long a checkpoint may hold new audit writers back while it waits


# --- making checkpoints --------------------------------------------------------------------


def settled_record_bound(*, uow: UnitOfWork) -> int:
    """The highest audit record id, at a moment when no audit record is uncommitted: every
    record with a lower id is committed (or rolled back), every later one gets a higher id.

    On PostgreSQL a SHARE lock on the table waits for the transactions writing audit records
    now and holds new ones back until this transaction ends, which the caller does at once
    (AuditWritersBusy after LOCK_TIMEOUT). SQLite writers already take turns."""
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        try:
            session.execute(text(f"LOCK TABLE {AuditRecord.__tablename__} IN SHARE MODE"))
        except OperationalError as error:
            raise errors.AuditWritersBusy() from error
    return session.execute(select(func.coalesce(func.max(AuditRecord.id), 0))).scalar_one()


def latest_checkpoint(*, uow: UnitOfWork) -> AuditCheckpoint | None:
    return uow.session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).scalar_one_or_none()


def make_checkpoint(*, uow: UnitOfWork, keys: KeyStore, upto_record_id: int) -> AuditCheckpoint | None:
    """Sign the heads of every chain changed by the records after the previous checkpoint up
    to `upto_record_id` (from `settled_record_bound`); None when there are no such records.
    CheckpointRace when another checkpoint took the same place in the checkpoint chain."""
    previous = latest_checkpoint(uow=uow)
    start = previous.upto_record_id if previous else 0
    if upto_record_id <= start:
        return None
    heads: dict[tuple[str, str], Head] = {}
    records = begun = 0
    for row in uow.session.execute(
        select(AuditRecord.entity_type, AuditRecord.entity_id, AuditRecord.seq, AuditRecord.hash,
               AuditRecord.id)
        .where(AuditRecord.id > start, AuditRecord.id <= upto_record_id)
        .order_by(AuditRecord.id)
    ):
        head = Head(*row)
        heads[head.chain] = head  # a chain's seqs rise with its ids: the last one is its head
        records += 1
        begun += head.seq == 1
    key = keys.get(SIGNING_PURPOSE, algorithm="SM2")
    fields: dict[str, Any] = dict(
        seq=previous.seq + 1 if previous else 1, at=uow.now(), upto_record_id=upto_record_id,
        record_count=(previous.record_count if previous else 0) + records,
        chain_count=(previous.chain_count if previous else 0) + begun,
        changed_count=len(heads), changes_root=changes_root(heads.values()),
        prev_hash=previous.hash if previous else GENESIS, key_version=key.version,
    )
    digest = checkpoint_hash(fields)
    signature = sm2.Sm2Signer(key.key, SIGNER_ID).sign(signed_message(digest))
    checkpoint = AuditCheckpoint(**fields, hash=digest, signature=signature.hex())
    uow.session.add(checkpoint)
    uow.session.add_all(AuditCheckpointHead(checkpoint_seq=checkpoint.seq, **head._asdict())
                        for head in heads.values())
    try:
        uow.session.flush()
    except IntegrityError as error:
        uow.session.rollback()
        raise errors.CheckpointRace() from error
    return checkpoint


# --- verifying -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationReport:
    from_checkpoint: int | None  # None: every chain from its first record
    to_checkpoint: int | None  # the newest checkpoint, None when there is none yet
    chains: int
    records: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.order) if self.problems else None


def verify_trail(*, uow: UnitOfWork, keys: KeyStore, from_checkpoint: int | None = None,
                 witness: dict[str, Any] | None = None) -> VerificationReport:
    """Check the checkpoint chain (hashes, links, SM2 signatures, stored heads) and every
    chain's records after `from_checkpoint` (None: from each chain's first record) against
    the heads each checkpoint vouches for. Records at or before the starting checkpoint's
    heads are not read, so they may be archived. Records committed after the newest
    checkpoint need only link correctly. CheckpointNotFound for an unknown start."""
    checkpoints = list(uow.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars())
    start = _starting_checkpoint(checkpoints, from_checkpoint)
    heads = _heads_by_checkpoint(uow)
    problems = _checkpoint_problems(checkpoints, heads, keys, _previously_verified(uow))
    if witness is not None:
        problems += _witness_problems(checkpoints, witness, keys)
    anchors, vouched, latest_heads, chain_problems = _fold(checkpoints, heads, start)
    problems += chain_problems
    latest = checkpoints[-1] if checkpoints else None
    chains = records = 0
    rows = _records_after(uow, start.upto_record_id if start else 0)
    for chain, group in itertools.groupby(rows, key=lambda r: (r["entity_type"], r["entity_id"])):
        problem, read = check_chain(
            chain, group, anchor=anchors.get(chain, (0, GENESIS)), vouched=vouched.pop(chain, ()),
            bound=Bound(latest.seq, latest.upto_record_id, latest_heads.get(chain, 0)) if latest else None,
        )
        chains, records = chains + 1, records + read
        if problem is not None:
            problems.append(problem)
    for chain, points in vouched.items():  # vouched for after the start, no record present
        problem, _ = check_chain(chain, [], anchor=anchors.get(chain, (0, GENESIS)), vouched=points)
        chains += 1
        if problem is not None:
            problems.append(problem)
    if not problems and latest is not None:
        problems += _count_problems(uow, start, latest)
    return VerificationReport(from_checkpoint=start.seq if start else None,
                              to_checkpoint=latest.seq if latest else None,
                              chains=chains, records=records, problems=problems)


def _starting_checkpoint(checkpoints: list[AuditCheckpoint], wanted: int | None) -> AuditCheckpoint | None:
    if wanted is None:
        return None
    for checkpoint in checkpoints:
        if checkpoint.seq == wanted:
            return checkpoint
    raise errors.CheckpointNotFound(wanted)


def _heads_by_checkpoint(uow: UnitOfWork) -> dict[int, list[Head]]:
    heads: dict[int, list[Head]] = defaultdict(list)
    for row in uow.session.execute(
        select(AuditCheckpointHead.checkpoint_seq, AuditCheckpointHead.entity_type,
               AuditCheckpointHead.entity_id, AuditCheckpointHead.seq, AuditCheckpointHead.hash,
               AuditCheckpointHead.record_id)
    ):
        heads[row[0]].append(Head(*row[1:]))
    return heads


def _previously_verified(uow: UnitOfWork) -> int:
    """The newest checkpoint an earlier verification reached (0: none)."""
    return uow.session.execute(select(func.coalesce(func.max(AuditVerification.to_checkpoint), 0))).scalar_one()


def _checkpoint_problems(checkpoints: list[AuditCheckpoint], heads: dict[int, list[Head]],
                         keys: KeyStore, verified_up_to: int) -> list[Problem]:
    """Each checkpoint: its hash, its link to the one before, its signature, its heads."""
    problems: list[Problem] = []
    verifiers: dict[int, sm2.Sm2Verifier | str] = {}
    previous: AuditCheckpoint | None = None
    for checkpoint in checkpoints:
        fields = {name: getattr(checkpoint, name) for name in (
            "seq", "at", "upto_record_id", "record_count", "chain_count", "changed_count",
            "changes_root", "prev_hash", "key_version")}
        stored = heads.get(checkpoint.seq, [])
        expected_prev = (previous.seq, previous.hash) if previous else (0, GENESIS)
        if checkpoint_hash(fields) != checkpoint.hash:
            problems.append(checkpoint_problem("checkpoint_altered", checkpoint.seq))
        elif (checkpoint.seq - 1, checkpoint.prev_hash) != expected_prev:
            problems.append(checkpoint_problem("checkpoint_link", checkpoint.seq, previous=checkpoint.seq - 1))
        elif (why := _signature_fault(checkpoint, keys, verifiers)) is not None:
            problems.append(checkpoint_problem("checkpoint_signature", checkpoint.seq, why=why))
        elif changes_root(stored) != checkpoint.changes_root or len(stored) != checkpoint.changed_count:
            problems.append(checkpoint_problem("checkpoint_heads", checkpoint.seq))
        previous = checkpoint
    newest = checkpoints[-1].seq if checkpoints else 0
    if verified_up_to > newest:  # the newest checkpoints were deleted after a verification saw them
        problems.append(checkpoint_problem("checkpoint_missing", verified_up_to, newest=newest))
    return problems


# --- copies of checkpoints kept outside the database ---------------------------------------

_CHECKPOINT_FIELDS = ("seq", "at", "upto_record_id", "record_count", "chain_count", "changed_count",
                      "changes_root", "prev_hash", "key_version", "hash", "signature")


def checkpoint_document(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """A checkpoint as a self-standing JSON document (its hash and SM2 signature included)."""
    document = {name: getattr(checkpoint, name) for name in _CHECKPOINT_FIELDS}
    document["at"] = checkpoint.at.isoformat()
    return document


def export_checkpoint(checkpoint: AuditCheckpoint, directory: Path) -> Path:
    """Write the checkpoint to `directory` (write-once storage, another host) as
    checkpoint-<seq>.json: whoever owns the database cannot take it back."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{checkpoint.seq:08d}.json"
    temporary = path.with_suffix(".part")
    temporary.write_text(json.dumps(checkpoint_document(checkpoint), indent=1), encoding="utf-8")
    temporary.replace(path)
    return path


def read_witness(path: Path) -> dict[str, Any]:
    """An exported checkpoint: the file itself, or the newest one in a directory of them."""
    if path.is_dir():
        files = sorted(path.glob("checkpoint-*.json"))
        if not files:
            raise errors.CheckpointNotFound(0)
        path = files[-1]
    return json.loads(path.read_text(encoding="utf-8"))


def _witness_problems(checkpoints: list[AuditCheckpoint], witness: dict[str, Any],
                      keys: KeyStore) -> list[Problem]:
    seq = int(witness["seq"])
    copy = AuditCheckpoint(**{**witness, "at": datetime.fromisoformat(witness["at"])})
    if (why := _signature_fault(copy, keys, {})) is not None or checkpoint_hash(
            {name: getattr(copy, name) for name in _CHECKPOINT_FIELDS[:-2]}) != copy.hash:
        return [checkpoint_problem("export_signature", seq, why=why or "hash")]
    stored = next((c for c in checkpoints if c.seq == seq), None)
    if stored is None:
        return [checkpoint_problem("export_missing", seq, newest=checkpoints[-1].seq if checkpoints else 0)]
    if (stored.hash, stored.signature) != (copy.hash, copy.signature):
        return [checkpoint_problem("export_differs", seq)]
    return []


def _signature_fault(checkpoint: AuditCheckpoint, keys: KeyStore,
                     verifiers: dict[int, sm2.Sm2Verifier | str]) -> str | None:
    version = checkpoint.key_version
    if version not in verifiers:
        try:
            public_key = keys.get(SIGNING_PURPOSE, version, "SM2").public_key
            verifiers[version] = sm2.Sm2Verifier(public_key, SIGNER_ID)
        except DomainError as error:  # unknown or revoked key version
            verifiers[version] = f"{SIGNING_PURPOSE} v{version}: {error.code}"
    verifier = verifiers[version]
    if isinstance(verifier, str):
        return verifier
    try:
        signature = bytes.fromhex(checkpoint.signature)
    except ValueError:
        return "not hex"
    if not verifier.verify(signed_message(checkpoint.hash), signature):
        return "bad signature"
    return None


def _fold(checkpoints: list[AuditCheckpoint], heads: dict[int, list[Head]], start: AuditCheckpoint | None):
    """From the checkpoints' head rows: each chain's anchor (its head at the start), the heads
    later checkpoints vouch for, and each chain's head at the newest checkpoint."""
    current: dict[tuple[str, str], tuple[int, str]] = {}
    anchors: dict[tuple[str, str], tuple[int, str]] = {}
    vouched: dict[tuple[str, str], list[Vouched]] = defaultdict(list)
    problems: list[Problem] = []
    for checkpoint in checkpoints:
        for head in heads.get(checkpoint.seq, []):
            current[head.chain] = (head.seq, head.hash)
            if start is None or checkpoint.seq > start.seq:
                vouched[head.chain].append(Vouched(checkpoint.seq, head.seq, head.hash, head.record_id))
        if len(current) != checkpoint.chain_count:
            problems.append(checkpoint_problem("checkpoint_chains", checkpoint.seq,
                                               expected=checkpoint.chain_count, found=len(current)))
        if start is not None and checkpoint.seq == start.seq:
            anchors = dict(current)
    latest_heads = {chain: seq for chain, (seq, _) in current.items()}
    return anchors, vouched, latest_heads, problems


_RECORD_COLUMNS = [AuditRecord.__table__.c[name] for name in (
    "id", "at", "actor_id", "role", "channel", "action", "entity_type", "entity_id", "seq",
    "before", "after", "reason", "prev_hash", "hash")]


def _records_after(uow: UnitOfWork, after_id: int) -> Iterator[dict[str, Any]]:
    """Records with id > after_id, chain by chain in seq order, streamed."""
    result = uow.session.execute(
        select(*_RECORD_COLUMNS).where(AuditRecord.id > after_id)
        .order_by(AuditRecord.entity_type, AuditRecord.entity_id, AuditRecord.seq)
        .execution_options(yield_per=2000)
    )
    for row in result:
        yield row._asdict()


def _count_problems(uow: UnitOfWork, start: AuditCheckpoint | None, latest: AuditCheckpoint) -> list[Problem]:
    """Records the checkpoints counted between the start and the newest one, against those present."""
    low = start.upto_record_id if start else 0
    found = uow.session.execute(select(func.count()).select_from(AuditRecord).where(
        AuditRecord.id > low, AuditRecord.id <= latest.upto_record_id)).scalar_one()
    expected = latest.record_count - (start.record_count if start else 0)
    if found == expected:
        return []
    return [checkpoint_problem("record_count", latest.seq, expected=expected, found=found)]


def archive_point(*, uow: UnitOfWork) -> int | None:
    """The point a verification of what is present starts from; None when nothing was
    archived: the newer of the newest checkpoint whose bound is below every present record and
    the checkpoint the last archived month of the trail names (db.archive: its bound covers
    every archived record, though records of the next month may have lower ids)."""
    oldest = uow.session.execute(select(func.min(AuditRecord.id))).scalar_one()
    query = select(func.max(AuditCheckpoint.seq))
    if oldest is not None:
        query = query.where(AuditCheckpoint.upto_record_id < oldest)
    below_present = uow.session.execute(query).scalar_one()
    points = [point for point in (below_present, archived_checkpoint(uow=uow)) if point is not None]
    return max(points) if points else None


def archived_checkpoint(*, uow: UnitOfWork) -> int | None:
    """The checkpoint the last archived month of the trail names (db.archive), None when no
    month was archived: `ykt audit verify` starts there. Unlike `archive_point` it does not
    follow the oldest present record, so deleting the oldest records is still found."""
    from yikatong.db.models import PartitionArchive

    return uow.session.execute(select(func.max(PartitionArchive.audit_checkpoint))).scalar_one()


# --- the outcome and the alert -------------------------------------------------------------


def record_verification(*, uow: UnitOfWork, report: VerificationReport, triggered_by: str) -> AuditVerification:
    """Keep the outcome where an operator reads it; a failure also goes out as the
    `audit.verification_failed` event (the outbox), naming the first bad record."""
    first = report.first_problem
    verification = AuditVerification(
        at=uow.now(), ok=report.ok, from_checkpoint=report.from_checkpoint,
        to_checkpoint=report.to_checkpoint, chains=report.chains, records=report.records,
        problem_count=len(report.problems), first_problem=first.as_dict() if first else None,
        triggered_by=triggered_by,
    )
    uow.session.add(verification)
    uow.session.flush()
    if not report.ok:
        uow.emit(FAILED_EVENT, aggregate_type="audit_verification", aggregate_id=verification.id,
                 payload={"verification_id": verification.id, "problems": len(report.problems),
                          "first_problem": verification.first_problem})
    return verification


def last_verification(*, uow: UnitOfWork) -> AuditVerification | None:
    return uow.session.execute(
        select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)
    ).scalar_one_or_none()


def recent_start(*, uow: UnitOfWork) -> int | None:
    """Where a check of the recent trail starts: the checkpoint before the newest one a
    successful verification reached, so the records that one vouched for are read again
    (a verification from checkpoint K does not read what K itself vouched for). None: from
    each chain's first record (no good verification yet)."""
    reached = uow.session.execute(
        select(func.max(AuditVerification.to_checkpoint)).where(AuditVerification.ok.is_(True))
    ).scalar_one()
    if not reached or reached <= 1:
        return None
    return max(reached - 1, archive_point(uow=uow) or 0) or None


# --- reading the trail (the card centre's audit page) --------------------------------------

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class RecordSearch:
    """What an administrator looks for; every field optional, all given ones must match
    (times: `since` inclusive, `until` exclusive)."""

    entity_type: str | None = None
    entity_id: str | None = None
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list:
        wanted = [(AuditRecord.entity_type, self.entity_type), (AuditRecord.entity_id, self.entity_id),
                  (AuditRecord.actor_id, self.actor_id), (AuditRecord.action, self.action)]
        found = [column == value for column, value in wanted if value]
        if self.since is not None:
            found.append(AuditRecord.at >= self.since)
        if self.until is not None:
            found.append(AuditRecord.at < self.until)
        return found


@dataclass(frozen=True)
class RecordPage:
    """One page of records, newest first; `has_next` without counting the whole trail."""

    records: list[AuditRecord]
    page: int
    per_page: int
    has_next: bool

    @property
    def lowest_id(self) -> int | None:
        return min((r.id for r in self.records), default=None)


def search_records(*, uow: UnitOfWork, search: RecordSearch, page: int = 1, per_page: int = 50) -> RecordPage:
    """Records matching `search`, newest first, page by page (`page` from 1). The images are
    shown as stored: personal data was masked before they were hashed (UnitOfWork.audit)."""
    page, per_page = max(1, page), max(1, min(per_page, MAX_PAGE_SIZE))
    rows = list(uow.session.execute(
        select(AuditRecord).where(*search.conditions()).order_by(AuditRecord.id.desc())
        .offset((page - 1) * per_page).limit(per_page + 1)).scalars())
    return RecordPage(records=rows[:per_page], page=page, per_page=per_page, has_next=len(rows) > per_page)


def checkpoint_before(*, uow: UnitOfWork, record_id: int) -> int | None:
    """The newest checkpoint that ends before `record_id`: a verification from it reads that
    record and everything after (None: no such checkpoint, verify from each chain's start)."""
    return uow.session.execute(
        select(func.max(AuditCheckpoint.seq)).where(AuditCheckpoint.upto_record_id < record_id)
    ).scalar_one()
