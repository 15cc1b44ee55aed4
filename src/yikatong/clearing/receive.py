"""Clearing and settlement (清分结算), first step of the day: receive a file.

`receive_file` takes any file of docs/clearing-batch-format.md in one transaction:

1. the file is parsed and checked whole (fields, counts, totals, SM3 digest): a bad file is
   refused with a 4xx error and nothing changes; a file id seen before with the same digest
   answers what it answered then, with another digest it is a conflict;
2. every TAC of our cards (issuer city 3040) is verified in bulk with the vectorised
   verifiers, under the TAC master of the record's (key version, algorithm); other issuers'
   cards wait for the national clearing house's verdict (`export_national`, then the house's
   result file), because their keys are the house's, never ours;
3. duplicates (same card, counter kind and counter) are refused by the database's unique
   index;
4. purchases are posted to the ledger aggregated per (file, operator, card issuer): our
   cards' fares from the wallet float, others' as receivables from their issuer, each to the
   payable of the terminal's operator. What the card paid is what is settled. The float may
   not go negative: what our cards spent that never came through a top-up (a tampered card)
   is debited to the suspense expense account `clearing:unfunded_spend` instead, and the card
   is flagged (`unfunded_spend`) and deny-listed; the upload never fails for it.

`day_review.review_day` then takes a whole day (China Standard Time) once its files are in — they arrive
in any order, and a fare depends on the card's earlier taps wherever they were made: every tap
is re-rated with the fare engine from the card's records before it and a mismatch is flagged;
our cards' counter gaps are flagged; flags that later files explain are resolved.

Flagged records go to `clearing_exceptions` with their reason (zh + en). Cards whose TAC failed
are put on the transit deny list.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from yikatong.clearing import fileformat, rules
from yikatong.clearing.batches import RECEIVABLE, BatchResult, Stages, batch_row
from yikatong.clearing.errors import (
    BatchConflict,
    NotYourOperator,
    WrongFileKind,
)
from yikatong.clearing.fileformat import (
    ClearingFile,
    FileKind,
)
from yikatong.clearing.models import ClearingBatch, RecordStatus
from yikatong.clearing.national_files import acknowledge, apply_verdicts
from yikatong.clearing.records import FileClearing, Flag, insert_records, store_flags
from yikatong.clearing.rules import Reason
from yikatong.clearing.settlement import deny_forged, flag_unfunded, post_settlements
from yikatong.clearing.tacs import verify_tacs
from yikatong.core.actor import Actor, Role
from yikatong.core.errors import DomainError
from yikatong.core.killpoints import killpoint
from yikatong.core.memory import cyclic_gc_paused
from yikatong.core.money import Fen
from yikatong.crypto.protocols import KeyStore
from yikatong.db.engine import writer_turn
from yikatong.db.uow import UnitOfWork
from yikatong.observability.metrics import count_clearing_file, count_refused_clearing_file
from yikatong.transit.fare_config import FareConfig, default_fare_config


def upload_batch(*, platform, actor: Actor, content: bytes | str, processes: int = 1,
                 stages: dict[str, float] | None = None) -> BatchResult:
    """Receive a file in its own transaction (the API's and the CLI's entry). Two uploads of one
    file at once: the second gets the first one's answer; two uploads that open the same ledger
    account at once: the second is received again, finding it open.

    The file is read, verified and its rows prepared before the transaction; on SQLite the
    transaction then waits for its turn among bulk writers (`writer_turn`). Counted in the
    metrics (observability.metrics: files by kind and outcome, records by status, time)."""
    started = time.perf_counter()
    try:
        result = _upload_retrying(platform, actor, content, processes, stages)
    except DomainError:
        count_refused_clearing_file()
        raise
    count_clearing_file(result, time.perf_counter() - started)
    return result


def _upload_retrying(platform, actor: Actor, content: bytes | str, processes: int,
                     stages: dict[str, float] | None) -> BatchResult:
    for attempt in (1, 2):
        try:
            return _upload_once(platform, actor, content, processes, stages)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@cyclic_gc_paused()  # around the call: the file's millions of objects are freed before it resumes
def _upload_once(platform, actor: Actor, content: bytes | str, processes: int,
                 stages: dict[str, float] | None) -> BatchResult:
    timer = Stages(stages)
    incoming = read_file(content, actor=actor, keystore=platform.get(KeyStore), dialect=platform.engine.dialect.name,
                         processes=processes, stages=stages)
    with writer_turn(platform.engine), platform.uow() as uow:
        result = _receive(uow, actor, incoming, timer)
        with timer("commit"):
            uow.commit()
    killpoint("clearing.upload.committed")  # the file is in, the sender has no answer yet
    return result


def fares_of(platform) -> FareConfig:
    try:
        return platform.get(FareConfig)
    except LookupError:
        return default_fare_config()


@cyclic_gc_paused()
def receive_file(*, uow: UnitOfWork, actor: Actor, content: bytes | str, keystore: KeyStore,
                 kinds: frozenset[FileKind] = RECEIVABLE, processes: int = 1,
                 stages: dict[str, float] | None = None) -> BatchResult:
    """Receive one clearing file (see the module docstring) in the caller's transaction. Raises
    BatchMalformed, BatchCountMismatch, BatchDigestMismatch (4xx, nothing changed),
    BatchConflict (the id was used for other content), WrongFileKind, NotYourOperator,
    UnknownNationalFile.

    `processes` > 1 lets the TAC verification of a large file fork workers (batch jobs only,
    never inside a threaded server); `stages` collects seconds per stage when given.
    """
    incoming = read_file(content, actor=actor, keystore=keystore, dialect=uow.session.get_bind().dialect.name,
                         kinds=kinds, processes=processes, stages=stages)
    return _receive(uow, actor, incoming, Stages(stages))


@dataclass
class _Incoming:
    """A file read and checked, with what can be worked out before its transaction."""

    file: ClearingFile
    state: FileClearing | None  # record files: verified, rows prepared


def read_file(content: bytes | str, *, actor: Actor, keystore: KeyStore, dialect: str,
              kinds: frozenset[FileKind] = RECEIVABLE, processes: int = 1,
              stages: dict[str, float] | None = None) -> _Incoming:
    """The pure part of receiving: parse, check who may send it, verify the TACs and prepare
    the rows. Uploads running side by side (on SQLite one writer at a time) overlap it."""
    timer = Stages(stages)
    with timer("parse"):
        clearing_file = fileformat.parse(content)
    header = clearing_file.header
    if header.kind not in kinds:
        raise WrongFileKind(kind=str(header.kind), expected="/".join(sorted(kinds)))
    if actor.role is Role.TRANSIT_OPERATOR and (header.kind is not FileKind.TERMINAL
                                                 or header.operator != actor.branch_code):
        raise NotYourOperator(operator=actor.branch_code or "-")
    if header.kind is FileKind.NATIONAL_RESULT:
        return _Incoming(clearing_file, None)
    state = FileClearing(clearing_file, dialect)
    with timer("verify"):
        verify_tacs(state, keystore, processes)
    with timer("rows"):
        state.prepare_rows()
    return _Incoming(clearing_file, state)


def _receive(uow: UnitOfWork, actor: Actor, incoming: _Incoming, timer: Stages) -> BatchResult:
    clearing_file = incoming.file
    header = clearing_file.header
    existing = batch_row(uow, header.file_id)
    if existing is not None:
        if existing.direction != "in" or existing.digest != clearing_file.digest:
            raise BatchConflict(batch_id=header.file_id)
        return BatchResult.from_dict(existing.result, replayed=True)
    batch = _new_batch(uow, clearing_file, actor)
    if header.kind is FileKind.NATIONAL_RESULT:
        result = apply_verdicts(uow, actor, batch, clearing_file)
    else:
        result = _clear(uow, actor, batch, clearing_file, incoming.state, timer)
    batch.result = result.as_dict()
    summary = {k: v for k, v in batch.result.items() if k != "postings"}
    uow.audit(actor=actor, action="clearing.file_received", entity_type="clearing_batch",
              entity_id=header.file_id, after=summary)
    uow.emit("clearing.file_received", aggregate_type="clearing_batch", aggregate_id=header.file_id,
             payload=summary)
    return result


def _new_batch(uow: UnitOfWork, clearing_file: ClearingFile, actor: Actor) -> ClearingBatch:
    header, trailer = clearing_file.header, clearing_file.trailer
    batch = ClearingBatch(
        file_id=header.file_id, kind=str(header.kind), direction="in", sender=header.sender,
        operator=header.operator, terminal_id=header.terminal_id, reference=header.reference or None,
        digest=clearing_file.digest, record_count=header.count, total_1=trailer.total_1,
        total_2=trailer.total_2, received_at=uow.now(), received_by=actor.user_id, result={},
    )
    uow.session.add(batch)
    uow.session.flush()
    return batch


def _clear(uow: UnitOfWork, actor: Actor, batch: ClearingBatch, clearing_file: ClearingFile, state: FileClearing,
           timer: Stages) -> BatchResult:
    """Clear a record file whose TACs `state` has verified and whose rows it has prepared."""
    records, kind = clearing_file.records, clearing_file.header.kind
    with timer("insert"):
        insert_records(uow, batch, state)
    killpoint("clearing.upload.inserted")  # the file's records in the transaction, nothing posted
    with timer("settle"):
        settled = state.settled_purchases()
        unfunded: dict[str, Fen] = {}
        postings = post_settlements(uow, batch.file_id, rules.settlement_groups(state.frame, settled), records,
                         unfunded=unfunded)
    killpoint("clearing.upload.posted")  # records and ledger postings in the transaction
    flag_unfunded(uow, actor, state, settled, unfunded)
    deny_forged(uow, actor, {records[f.index].asn for f in state.flags if f.reason is Reason.FORGED
                              and state.own[f.index]})
    with timer("exceptions"):
        store_flags(uow, batch, state)
    counts = _counts(state)
    acknowledgement = acknowledge(uow, actor, batch) if kind is FileKind.NATIONAL_IN else None
    return BatchResult(
        file_id=batch.file_id, kind=batch.kind, records=len(records),
        cleared=counts[RecordStatus.CLEARED], pending_national=counts[RecordStatus.PENDING_NATIONAL],
        rejected=counts[RecordStatus.REJECTED], exceptions=_reason_counts(state.flags),
        settled_amount=sum(p.amount for p in postings), postings=postings, acknowledgement=acknowledgement,
    )


def _counts(state: FileClearing) -> dict[str, int]:
    counts = {RecordStatus.CLEARED: 0, RecordStatus.PENDING_NATIONAL: 0, RecordStatus.REJECTED: 0}
    for status in state.status:
        counts[status] += 1
    return counts


def _reason_counts(flags: Iterable[Flag]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for flag in flags:
        counts[str(flag.reason)] += 1
    return dict(sorted(counts.items()))
