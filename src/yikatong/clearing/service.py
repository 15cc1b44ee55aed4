"""Clearing and settlement (清分结算): receive files, verify, settle, report.

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

`review_day` then takes a whole day (China Standard Time) once its files are in — they arrive
in any order, and a fare depends on the card's earlier taps wherever they were made: every tap
is re-rated with the fare engine from the card's records before it and a mismatch is flagged;
our cards' counter gaps are flagged; flags that later files explain are resolved.

Flagged records go to `clearing_exceptions` with their reason (zh + en). Cards whose TAC failed
are put on the transit deny list.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import and_, case, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError

from yikatong.chip.secure import purse_factors
from yikatong.clearing import bulk, fileformat, rules
from yikatong.clearing.errors import (
    BatchConflict,
    BatchCountMismatch,
    BatchMalformed,
    BatchNotFound,
    NotYourOperator,
    UnknownNationalFile,
    WrongFileKind,
)
from yikatong.clearing.fileformat import (
    LOAD_TYPES,
    BatchRecord,
    ClearingFile,
    FileKind,
    Verdict,
    VerdictLine,
    card_datetime,
)
from yikatong.clearing.models import ClearedRecord, ClearingBatch, ClearingException, RecordStatus
from yikatong.clearing.rules import FareCheck, Reason
from yikatong.core.actor import Actor, Role
from yikatong.core.memory import cyclic_gc_paused
from yikatong.core.money import Fen
from yikatong.crypto import pboc
from yikatong.crypto.des_batch import verify_tacs_3des
from yikatong.crypto.errors import KeyNotFound, KeyUnusable, UnknownAlgorithm
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm4_batch import verify_tacs_sm4
from yikatong.db.engine import writer_turn
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import AccountNotFound
from yikatong.transit import rules as transit_rules
from yikatong.transit.fare_config import FareConfig, default_fare_config

SENDER = f"YKT-{rules.HOME_CITY}"  # how our clearing centre signs the files it sends
RECEIVABLE = frozenset({FileKind.TERMINAL, FileKind.TOP_UPS, FileKind.NATIONAL_IN, FileKind.NATIONAL_RESULT})
SETTLEMENT_KIND = "clearing.settlement"
CHUNK = 500  # cards per query when a batch's cards are looked up


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Posting:
    city: str
    operator: str
    issuer_id: str
    count: int
    amount: Fen
    debit: str
    credit: str
    unfunded: Fen = 0  # of `amount`, debited to rules.UNFUNDED_SPEND instead of `debit` (never topped up)


@dataclass(frozen=True)
class BatchResult:
    """What receiving a file did; the same answer is given again for the same file."""

    file_id: str
    kind: str
    records: int
    cleared: int = 0
    pending_national: int = 0
    rejected: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)  # reason → how many this file raised
    settled_amount: Fen = 0
    postings: list[Posting] = field(default_factory=list)
    acknowledgement: str | None = None  # NATIONAL_IN: the id of our answer file to the house
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("replayed")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, replayed: bool) -> BatchResult:
        postings = [Posting(**p) for p in data.get("postings", [])]
        return cls(**{**data, "postings": postings}, replayed=replayed)


# ---------------------------------------------------------------------------------------------
# Receiving a file


def upload_batch(*, platform, actor: Actor, content: bytes | str, processes: int = 1,
                 stages: dict[str, float] | None = None) -> BatchResult:
    """Receive a file in its own transaction (the API's and the CLI's entry). Two uploads of one
    file at once: the second gets the first one's answer; two uploads that open the same ledger
    account at once: the second is received again, finding it open.

    The file is read, verified and its rows prepared before the transaction; on SQLite the
    transaction then waits for its turn among bulk writers (`writer_turn`)."""
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
    timer = _Stages(stages)
    incoming = read_file(content, actor=actor, keystore=platform.get(KeyStore), dialect=platform.engine.dialect.name,
                         processes=processes, stages=stages)
    with writer_turn(platform.engine), platform.uow() as uow:
        result = _receive(uow, actor, incoming, timer)
        with timer("commit"):
            uow.commit()
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
    return _receive(uow, actor, incoming, _Stages(stages))


@dataclass
class _Incoming:
    """A file read and checked, with what can be worked out before its transaction."""

    file: ClearingFile
    state: _Clearing | None  # record files: verified, rows prepared


def read_file(content: bytes | str, *, actor: Actor, keystore: KeyStore, dialect: str,
              kinds: frozenset[FileKind] = RECEIVABLE, processes: int = 1,
              stages: dict[str, float] | None = None) -> _Incoming:
    """The pure part of receiving: parse, check who may send it, verify the TACs and prepare
    the rows. Uploads running side by side (on SQLite one writer at a time) overlap it."""
    timer = _Stages(stages)
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
    state = _Clearing(clearing_file, dialect)
    with timer("verify"):
        _verify_tacs(state, keystore, processes)
    with timer("rows"):
        state.prepare_rows()
    return _Incoming(clearing_file, state)


def _receive(uow: UnitOfWork, actor: Actor, incoming: _Incoming, timer: _Stages) -> BatchResult:
    clearing_file = incoming.file
    header = clearing_file.header
    existing = _batch_row(uow, header.file_id)
    if existing is not None:
        if existing.direction != "in" or existing.digest != clearing_file.digest:
            raise BatchConflict(batch_id=header.file_id)
        return BatchResult.from_dict(existing.result, replayed=True)
    batch = _new_batch(uow, clearing_file, actor)
    if header.kind is FileKind.NATIONAL_RESULT:
        result = _apply_verdicts(uow, actor, batch, clearing_file)
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


def _batch_row(uow: UnitOfWork, file_id: str) -> ClearingBatch | None:
    return uow.session.execute(select(ClearingBatch).where(ClearingBatch.file_id == file_id)).scalar_one_or_none()


class _Stages:
    def __init__(self, stages: dict[str, float] | None) -> None:
        self.stages = stages

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        if self.stages is not None:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# Clearing a record file


@dataclass
class _Flag:
    index: int
    reason: Reason
    details: dict[str, Any]


class _Clearing:
    """The state of one record file while it is cleared: a status per record and its flags."""

    def __init__(self, clearing_file: ClearingFile, dialect: str) -> None:
        self.file, self.records, self.dialect = clearing_file, clearing_file.records, dialect
        kind = clearing_file.header.kind
        purchase = next((r for r in self.records if not r.is_load), None) if kind is FileKind.TOP_UPS else None
        if purchase is not None:
            raise BatchMalformed(line=purchase.seq + 1, reason_zh="充值文件只能有充值记录",
                                 reason_en="a top-up file holds loads only")
        # The records' typed columns, for the passes over the whole file (TACs, repeats).
        self.frame = clearing_file.frame if clearing_file.frame is not None else fileformat.frame_of(self.records)
        self.own = rules.own_cards(self.frame).tolist()
        waiting = RecordStatus.PENDING_NATIONAL if kind is FileKind.TERMINAL else RecordStatus.REJECTED
        self.status = [RecordStatus.CLEARED if own else waiting for own in self.own]
        self.flags: list[_Flag] = []
        self.first: list[int] = []  # live records, each the first of its card and counter in the file
        self.rows: bulk.Prepared = []  # their prepared rows (bulk.prepare_rows)
        for index, own in enumerate(self.own):
            if not own and kind is not FileKind.TERMINAL:
                self.reject(index, Reason.UNVERIFIABLE, why_zh="不是本发卡机构的卡", why_en="not a card we issued")

    def reject(self, index: int, reason: Reason, **details: Any) -> None:
        self.status[index] = RecordStatus.REJECTED
        self.flags.append(_Flag(index, reason, details))

    def flag(self, index: int, reason: Reason, **details: Any) -> None:
        self.flags.append(_Flag(index, reason, details))

    def live(self) -> list[int]:
        return [i for i, status in enumerate(self.status) if status != RecordStatus.REJECTED]

    def settled_purchases(self) -> list[int]:
        """The cleared purchases, which the file's postings pay for."""
        load = self.frame["tx_type"].is_in(list(LOAD_TYPES)).to_numpy()
        return np.flatnonzero((np.asarray(self.status) == RecordStatus.CLEARED) & ~load).tolist()

    def prepare_rows(self) -> None:
        """Refuse the file's own repeats and prepare the rows of the rest (pure: done before
        the write transaction, which only has to insert them)."""
        self.first, repeats = rules.split_repeats(self.frame, self.live())
        for index in repeats:
            record = self.records[index]
            self.reject(index, Reason.DUPLICATE, counter_kind=record.counter_kind, counter=record.counter,
                        first_seen=self.file.header.file_id, same_tac=None)
        self.rows = bulk.prepare_rows(self.dialect, self.records, self.first, self.own, self.status, self.frame)


def _clear(uow: UnitOfWork, actor: Actor, batch: ClearingBatch, clearing_file: ClearingFile, state: _Clearing,
           timer: _Stages) -> BatchResult:
    """Clear a record file whose TACs `state` has verified and whose rows it has prepared."""
    records, kind = clearing_file.records, clearing_file.header.kind
    with timer("insert"):
        _insert(uow, batch, state)
    with timer("settle"):
        settled = state.settled_purchases()
        unfunded: dict[str, Fen] = {}
        postings = _post(uow, batch.file_id, rules.settlement_groups(state.frame, settled), records,
                         unfunded=unfunded)
    _flag_unfunded(uow, actor, state, settled, unfunded)
    _deny_forged(uow, actor, {records[f.index].asn for f in state.flags if f.reason is Reason.FORGED
                              and state.own[f.index]})
    with timer("exceptions"):
        _store_flags(uow, batch, state)
    counts = _counts(state)
    acknowledgement = _acknowledge(uow, actor, batch) if kind is FileKind.NATIONAL_IN else None
    return BatchResult(
        file_id=batch.file_id, kind=batch.kind, records=len(records),
        cleared=counts[RecordStatus.CLEARED], pending_national=counts[RecordStatus.PENDING_NATIONAL],
        rejected=counts[RecordStatus.REJECTED], exceptions=_reason_counts(state.flags),
        settled_amount=sum(p.amount for p in postings), postings=postings, acknowledgement=acknowledgement,
    )


def _counts(state: _Clearing) -> dict[str, int]:
    counts = {RecordStatus.CLEARED: 0, RecordStatus.PENDING_NATIONAL: 0, RecordStatus.REJECTED: 0}
    for status in state.status:
        counts[status] += 1
    return counts


def _reason_counts(flags: Iterable[_Flag]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for flag in flags:
        counts[str(flag.reason)] += 1
    return dict(sorted(counts.items()))


# --- TACs --------------------------------------------------------------------------------------


def _verify_tacs(state: _Clearing, keystore: KeyStore, processes: int) -> None:
    live = np.asarray(state.live(), dtype=np.int64)
    ours = live[np.asarray(state.own, dtype=bool)[live]] if len(live) else live
    has_tac = (state.frame["tac"] != "").to_numpy()[ours]
    for index in ours[~has_tac].tolist():  # the load a platform confirmed from the card's counter (no TAC seen)
        state.flag(index, Reason.LOAD_WITHOUT_TAC)
    for group in rules.tac_groups(state.frame, ours[has_tac].tolist()):
        try:
            valid = _verify_group(group, keystore, processes)
        except (KeyNotFound, KeyUnusable, UnknownAlgorithm) as error:
            for index in group.indexes:
                state.reject(index, Reason.UNVERIFIABLE, why_zh=error.message_zh, why_en=error.message_en)
            continue
        for index, ok in zip(group.indexes, valid, strict=True):
            if not ok:
                state.reject(index, Reason.FORGED)


def _verify_group(group: rules.TacGroup, keystore: KeyStore, processes: int) -> np.ndarray:
    """One bulk verification: the master of (version, algorithm), issuer levels of its
    diversification applied once, the card level (ASN) per record inside the verifier."""
    profile = pboc.profile_for(group.alg_id)
    master = keystore.get("tac", version=group.key_version, algorithm=profile.name)
    factors = master.diversification.factors
    if not factors or factors[-1] != "asn" or any(name != "issuer_id" for name in factors[:-1]):
        return _verify_each(group, master, profile)
    issuer_factors = [bytes.fromhex(group.issuer_id)] * (len(factors) - 1)
    verify = verify_tacs_sm4 if profile.block_size == 16 else verify_tacs_3des
    processes = processes if len(group.indexes) >= 100_000 else 1  # forking costs more than it saves
    return verify(master.key, group.asns, group.tac_inputs, group.tacs, issuer_factors=issuer_factors,
                  processes=processes)


def _verify_each(group: rules.TacGroup, master, profile) -> np.ndarray:
    """One record at a time, for a key whose diversification the bulk verifiers do not take
    (the card level must be the ASN, after issuer-ID levels)."""
    issuer = bytes.fromhex(group.issuer_id)
    return np.array([
        pboc.mac_equal(profile.tac(master.card_key(purse_factors(issuer, asn.tobytes())), data.tobytes()), tac.tobytes())
        for asn, data, tac in zip(group.asns, group.tac_inputs, group.tacs, strict=True)], dtype=bool)


# --- rows ------------------------------------------------------------------------------------


def _insert(uow: UnitOfWork, batch: ClearingBatch, state: _Clearing) -> None:
    """Live records through the unique index (what it refuses is a duplicate of an earlier
    file's record), then every refused record as a rejected row."""
    connection = uow.session.connection()
    records = state.records
    refused = bulk.insert_live(connection, state.rows, batch_id=batch.id) or set()
    if refused:
        earlier = _earlier_copies(uow, [records[seq - 1] for seq in sorted(refused)])
        for seq in sorted(refused):
            record = records[seq - 1]
            first_seen, tac = earlier.get(record.key, ("?", None))
            state.reject(seq - 1, Reason.DUPLICATE, counter_kind=record.counter_kind, counter=record.counter,
                         first_seen=first_seen, same_tac=tac == record.tac)
    rejected = [i for i, status in enumerate(state.status) if status == RecordStatus.REJECTED]
    bulk.insert_plain(connection, bulk.prepare_rows(state.dialect, records, rejected, state.own, RecordStatus.REJECTED,
                                                    state.frame), batch_id=batch.id)


def _earlier_copies(uow: UnitOfWork, records: list[BatchRecord]) -> dict[tuple, tuple[str, str]]:
    """(file id, TAC) of the live row each of these records duplicates."""
    found = {}
    for chunk in _chunks(records, CHUNK):
        rows = uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter, ClearingBatch.file_id,
                   ClearedRecord.tac)
            .join(ClearingBatch, ClearingBatch.id == ClearedRecord.batch_id)
            .where(tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                   .in_([r.key for r in chunk]), ClearedRecord.status != RecordStatus.REJECTED))
        for asn, kind, counter, file_id, tac in rows:
            found[(asn, kind, counter)] = (file_id, tac)
    return found


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- postings ----------------------------------------------------------------------------


def _post(uow: UnitOfWork, file_id: str, groups: list[rules.SettlementGroup], records: Sequence[BatchRecord],
          unfunded: dict[str, Fen] | None = None) -> list[Posting]:
    """One journal per (file, operator, issuer); zero-fare groups (free riders) post nothing.

    Our cards' fares come out of the wallet float, which never goes negative. When a group
    would overdraw it, money was spent that never came through a top-up (a tampered card): the
    cards of the group whose shadow balance is now negative are found and their unfunded
    spending in the group (at least the float's shortfall) is debited to the suspense expense
    account rules.UNFUNDED_SPEND instead; `unfunded` receives those cards (asn → fen), for
    the caller to flag and deny-list. The upload goes through either way. `records` are
    what the groups' indexes point into."""
    postings = []
    for group in groups:
        debit, credit = group.accounts()
        short = 0
        if group.amount:
            for code in (debit, credit):
                _open_account(uow, code)
            legs = [(debit, group.amount), (credit, -group.amount)]
            if debit == transit_rules.WALLET_FLOAT and unfunded is not None:
                short = _unfunded_part(uow, group, records, unfunded)
                if short:
                    _open_account(uow, rules.UNFUNDED_SPEND)
                    legs = [leg for leg in [(debit, group.amount - short), (rules.UNFUNDED_SPEND, short),
                                            (credit, -group.amount)] if leg[1]]
            ledger.post(uow=uow, request_id=f"clearing:{file_id}:{group.city}:{group.operator}:{group.issuer_id}",
                        kind=SETTLEMENT_KIND, legs=legs, memo=f"{file_id}: {group.count} records / 笔")
        postings.append(Posting(group.city, group.operator, group.issuer_id, group.count, group.amount, debit, credit,
                                short))
    return postings


def _unfunded_part(uow: UnitOfWork, group: rules.SettlementGroup, records: Sequence[BatchRecord],
                   unfunded: dict[str, Fen]) -> Fen:
    """How much of an own-card group the float cannot pay (0 almost always: one balance read)."""
    available = max(ledger.balance(uow=uow, code=transit_rules.WALLET_FLOAT), 0)
    if group.amount <= available:
        return 0
    spent: dict[str, Fen] = defaultdict(int)
    for r in (records[i] for i in group.indexes):
        spent[r.asn] += r.amount
    attributed = 0
    for asn, amount in sorted(spent.items()):
        shadow = shadow_balance(uow=uow, asn=asn) or 0  # this file's purchases already count
        if shadow < 0:
            unfunded[asn] = unfunded.get(asn, 0) + min(-shadow, amount)
            attributed += min(-shadow, amount)
    return min(group.amount, max(group.amount - available, attributed))


def _flag_unfunded(uow: UnitOfWork, actor: Actor, state: _Clearing, settled: list[int],
                   unfunded: dict[str, Fen]) -> None:
    """Each card that spent money it was never loaded with: an exception on its last settled
    purchase of the file, and the deny list (its records are still settled: the operator
    carried the rider)."""
    if not unfunded:
        return
    from yikatong.transit import deny_list

    last = {state.records[i].asn: i for i in settled}
    for asn, amount in sorted(unfunded.items()):
        state.flag(last[asn], Reason.UNFUNDED_SPEND, unfunded=amount)
        deny_list.add(uow=uow, asn=asn, reason=rules.UNFUNDED_DENY_REASON, actor=actor)


def _open_account(uow: UnitOfWork, code: str) -> None:
    if code == rules.UNFUNDED_SPEND:
        kind, allow_negative = "expense", False
    elif code.startswith("transit:"):
        kind, allow_negative = transit_rules.account_settings(code)
    else:
        kind, allow_negative = rules.account_kind(code), False
    ledger.open_account(uow=uow, code=code, kind=kind, allow_negative=allow_negative)


def _deny_forged(uow: UnitOfWork, actor: Actor, asns: Iterable[str]) -> None:
    from yikatong.transit import deny_list

    for asn in sorted(asns):
        deny_list.add(uow=uow, asn=asn, reason=deny_list.DenyReason.TAC_FAILED, actor=actor)


def _store_flags(uow: UnitOfWork, batch: ClearingBatch, state: _Clearing) -> None:
    now = uow.now()
    rows = [_flag_row(batch.id, (record := state.records[flag.index]).seq, record.asn, record.counter_kind,
                      record.counter, card_datetime(record.card_time).date(), flag.reason, flag.details, now)
            for flag in state.flags]
    if rows:
        uow.session.execute(insert(ClearingException), rows)


# ---------------------------------------------------------------------------------------------
# The national clearing house: files out and verdicts in


def export_national(*, uow: UnitOfWork, actor: Actor) -> str | None:
    """Put every other issuer's record waiting for the house into a NATIONAL_OUT file; returns
    its file id (write it out with `file_content`), or None when nothing waits."""
    waiting = uow.session.execute(
        select(ClearedRecord).where(ClearedRecord.status == RecordStatus.PENDING_NATIONAL,
                                    ClearedRecord.national_file.is_(None))
        .order_by(ClearedRecord.batch_id, ClearedRecord.seq)).scalars().all()
    if not waiting:
        return None
    sent_before = uow.session.execute(select(func.count()).select_from(ClearingBatch).where(
        ClearingBatch.kind == FileKind.NATIONAL_OUT)).scalar_one()
    file_id = f"{rules.HOME_CITY}-NOUT-{sent_before + 1:06d}"
    records = [_record_of_row(row) for row in waiting]
    for seq, row in enumerate(waiting, start=1):
        row.national_file, row.national_seq = file_id, seq
    content = fileformat.render_records(FileKind.NATIONAL_OUT, file_id, SENDER, records, created=uow.now())
    _store_sent(uow, actor, FileKind.NATIONAL_OUT, file_id, content, reference=None)
    return file_id


def _acknowledge(uow: UnitOfWork, actor: Actor, batch: ClearingBatch) -> str:
    """Our answer to a NATIONAL_IN file (which of its records we accepted), stored as sent."""
    file_id = f"{rules.HOME_CITY}-NACK-{batch.id:08d}"
    _store_sent(uow, actor, FileKind.NATIONAL_ACK, file_id, _ack_content(uow, batch, file_id, uow.now()),
                reference=batch.file_id)
    return file_id


def _ack_content(uow: UnitOfWork, batch: ClearingBatch, file_id: str, created) -> str:
    refusals = {seq: reason for seq, reason in uow.session.execute(
        select(ClearingException.seq, ClearingException.reason).where(
            ClearingException.batch_id == batch.id, ClearingException.reason.in_(list(rules.REJECTING))))}
    verdict_of = {Reason.DUPLICATE: Verdict.DUPLICATE, Reason.UNVERIFIABLE: Verdict.UNKNOWN_ISSUER}
    rows = uow.session.execute(select(ClearedRecord).where(ClearedRecord.batch_id == batch.id)
                               .order_by(ClearedRecord.seq)).scalars()
    verdicts = [VerdictLine(0, row.seq, row.asn, row.counter_kind, row.counter, row.amount,
                            verdict_of.get(refusals.get(row.seq), Verdict.FORGED)
                            if row.status == RecordStatus.REJECTED else Verdict.ACCEPTED)
                for row in rows]
    return fileformat.render_verdicts(FileKind.NATIONAL_ACK, file_id, SENDER, batch.file_id, verdicts, created=created)


def _store_sent(uow: UnitOfWork, actor: Actor, kind: FileKind, file_id: str, content: str,
                reference: str | None) -> None:
    sent = fileformat.parse(content)
    uow.session.add(ClearingBatch(
        file_id=file_id, kind=str(kind), direction="out", sender=SENDER, operator="", terminal_id="",
        reference=reference, digest=sent.digest, record_count=sent.header.count, total_1=sent.trailer.total_1,
        total_2=sent.trailer.total_2, received_at=card_datetime(sent.header.created), received_by=actor.user_id,
        result={}))
    uow.session.flush()
    uow.audit(actor=actor, action="clearing.file_sent", entity_type="clearing_batch", entity_id=file_id,
              after={"kind": str(kind), "records": sent.header.count, "digest": sent.digest})


def file_content(*, uow: UnitOfWork, file_id: str) -> str:
    """The text of a file we sent, rebuilt from the database (byte for byte: its digest is
    checked against the one recorded when it was sent)."""
    batch = _batch_row(uow, file_id)
    if batch is None or batch.direction != "out":
        raise BatchNotFound()
    if batch.kind == FileKind.NATIONAL_OUT:
        rows = uow.session.execute(select(ClearedRecord).where(ClearedRecord.national_file == file_id)
                                   .order_by(ClearedRecord.national_seq)).scalars()
        content = fileformat.render_records(FileKind.NATIONAL_OUT, file_id, SENDER, [_record_of_row(r) for r in rows],
                                            created=batch.received_at)
    else:
        answered = _batch_row(uow, batch.reference or "")
        content = _ack_content(uow, answered, file_id, batch.received_at)
    if fileformat.parse(content).digest != batch.digest:
        raise BatchConflict(batch_id=file_id)
    return content


def _apply_verdicts(uow: UnitOfWork, actor: Actor, batch: ClearingBatch, clearing_file: ClearingFile) -> BatchResult:
    """The house's verdicts on a NATIONAL_OUT file: accepted records are cleared and settled
    (receivable from the card's issuer, payable to our operator); refused ones are rejected."""
    reference = clearing_file.header.reference
    sent = _batch_row(uow, reference)
    if sent is None or sent.kind != FileKind.NATIONAL_OUT:
        raise UnknownNationalFile(reference=reference)
    rows = {row.national_seq: row for row in uow.session.execute(
        select(ClearedRecord).where(ClearedRecord.national_file == reference)).scalars()}
    accepted, flags = [], []
    for number, verdict in enumerate(clearing_file.verdicts, start=2):
        row = rows.get(verdict.ref_seq)
        if row is None or (row.asn, row.counter_kind, row.counter, row.amount) != (
                verdict.asn, verdict.counter_kind, verdict.counter, verdict.amount):
            raise BatchCountMismatch(reason_zh=f"第 {number} 行答复的记录与上送文件不符",
                                     reason_en=f"line {number} answers a record the sent file does not hold")
        if row.status != RecordStatus.PENDING_NATIONAL:
            continue
        if verdict.verdict is Verdict.ACCEPTED:
            row.status, row.settled_by = RecordStatus.CLEARED, batch.id
            accepted.append(row)
        else:
            row.status = RecordStatus.REJECTED
            zh, en = rules.describe(Reason.NATIONAL_REFUSED, verdict=str(verdict.verdict))
            flags.append(ClearingException(
                batch_id=row.batch_id, seq=row.seq, asn=row.asn, counter_kind=row.counter_kind, counter=row.counter,
                tx_date=row.tx_date, reason=Reason.NATIONAL_REFUSED, zh=zh, en=en,
                details={"verdict": str(verdict.verdict), "result_file": batch.file_id}, opened_at=uow.now()))
    uow.session.add_all(flags)
    uow.session.flush()
    records = [_record_of_row(row) for row in accepted]
    postings = _post(uow, batch.file_id, rules.settlement_groups(fileformat.frame_of(records), range(len(records))),
                     records)
    _deny_forged(uow, actor, {f.asn for f in flags if f.details["verdict"] == Verdict.FORGED})
    return BatchResult(
        file_id=batch.file_id, kind=batch.kind, records=len(clearing_file.verdicts), cleared=len(accepted),
        rejected=len(flags), exceptions={str(Reason.NATIONAL_REFUSED): len(flags)} if flags else {},
        settled_amount=sum(p.amount for p in postings), postings=postings,
    )


def _record_of_row(row: Any) -> BatchRecord:
    return BatchRecord(
        row.seq, row.asn, row.issuer_id, row.terminal_id, row.terminal_serial, row.tx_type, row.amount,
        row.balance_after, row.counter, row.card_time, row.tac, row.key_version, row.alg_id, row.city, row.operator,
        row.mode, row.tap, row.line, row.station, row.region, row.card_kind, row.rider, bool(row.recovered),
    )


# ---------------------------------------------------------------------------------------------
# Top-ups from the transit top-up service


def import_top_ups(*, uow: UnitOfWork, actor: Actor, keystore: KeyStore) -> BatchResult | None:
    """Clear the completed top-ups the transit service recorded and clearing has not seen
    (their ledger postings are the top-up service's; here they count for the shadow balance and
    the card-side reconciliation). None when there is nothing new."""
    from yikatong.transit import service as transit

    loads = [load for load in transit.load_records(uow=uow) if load.terminal_id and load.when is not None]
    known = set()
    for chunk in _chunks(loads, CHUNK):
        known.update(uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter).where(
                tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                .in_([(load.asn, fileformat.ONLINE, load.counter) for load in chunk]),
                ClearedRecord.status != RecordStatus.REJECTED)).all())
    fresh = [fileformat.record_of(load, city=rules.HOME_CITY, operator="TOPUP") for load in loads
             if (load.asn, load.counter) not in known]
    if not fresh:
        return None
    sent_before = uow.session.execute(select(func.count()).select_from(ClearingBatch).where(
        ClearingBatch.kind == FileKind.TOP_UPS)).scalar_one()
    content = fileformat.render_records(FileKind.TOP_UPS, f"{rules.HOME_CITY}-TOPUP-{sent_before + 1:06d}",
                                        "transit", fresh, created=uow.now())
    return receive_file(uow=uow, actor=actor, content=content, keystore=keystore,
                        kinds=frozenset({FileKind.TOP_UPS}))


# ---------------------------------------------------------------------------------------------
# Shadow balances


def shadow_balance(*, uow: UnitOfWork, asn: str) -> Fen | None:
    """The back office's balance of one of our cards: its completed top-ups (cleared, and those
    the top-up service recorded that clearing has not seen yet) less its cleared purchases.
    None when neither knows anything of the card."""
    from yikatong.transit import service as transit

    rows = uow.session.execute(
        select(ClearedRecord.counter_kind, ClearedRecord.counter, ClearedRecord.amount).where(
            ClearedRecord.asn == asn, ClearedRecord.status == RecordStatus.CLEARED)).all()
    loads = {counter: amount for kind, counter, amount in rows if kind == fileformat.ONLINE}
    for load in transit.load_records(uow=uow, asn=asn):
        loads.setdefault(load.counter, load.amount)
    if not rows and not loads:
        return None
    return sum(loads.values()) - sum(amount for kind, _counter, amount in rows if kind == fileformat.OFFLINE)


@dataclass(frozen=True)
class Disagreement:
    asn: str
    card_balance: Fen  # balance-after of the card's last cleared record
    shadow_balance: Fen
    last_seen: str  # the card time of that record

    @property
    def difference(self) -> Fen:
        return self.card_balance - self.shadow_balance


def balance_disagreements(*, uow: UnitOfWork) -> list[Disagreement]:
    """Our cards whose balance as last seen in a record differs from the shadow balance."""
    r = ClearedRecord
    live = and_(r.own_card.is_(True), r.status == RecordStatus.CLEARED)
    signed = func.sum(func.coalesce(_signed_amount(r), 0))
    shadows = dict(uow.session.execute(select(r.asn, signed).where(live).group_by(r.asn)).all())
    rank = func.row_number().over(partition_by=r.asn, order_by=(r.card_time.desc(), r.batch_id.desc(), r.seq.desc()))
    last = select(r.asn, r.balance_after, r.card_time, rank.label("rank")).where(live).subquery()
    found = []
    for asn, balance, card_time in uow.session.execute(
            select(last.c.asn, last.c.balance_after, last.c.card_time).where(last.c.rank == 1)):
        if balance != shadows.get(asn, 0):
            # the top-up service may know loads clearing has not seen yet
            shadow = shadow_balance(uow=uow, asn=asn)
            if shadow is not None and balance != shadow:
                found.append(Disagreement(asn, balance, shadow, card_time))
    return sorted(found, key=lambda d: d.asn)


def _signed_amount(r):
    return case((r.counter_kind == fileformat.ONLINE, r.amount), else_=-r.amount)


# ---------------------------------------------------------------------------------------------
# The daily review: fares re-rated and counters checked once the day's files are in
#
# A day's records arrive in any order (each validator uploads when it can, the house's files
# come later), and a tap's fare depends on the card's earlier taps, wherever they were made. So
# the second opinion on fares, and the look for missing counters, run over the whole day at
# once: every tap is re-rated exactly once, and a flag means the records really disagree.


@dataclass(frozen=True)
class ReviewResult:
    day: date
    cards: int
    taps: int
    not_rated: int  # taps the fare engine has no fares for (e.g. another city's metro)
    mismatches_opened: int
    mismatches_resolved: int
    gaps_opened: int
    gaps_resolved: int
    open_mismatches: int  # of the day, after this review
    open_gaps: int  # of all days, after this review


@cyclic_gc_paused()  # forked workers inherit the pause
def review_day(*, uow: UnitOfWork, actor: Actor, day: date, fares: FareConfig, processes: int = 1,
               stages: dict[str, float] | None = None) -> ReviewResult:
    """Re-rate every live tap of the day (China Standard Time) from the card's records before it,
    flag what the card paid differently (never altering it), and flag our cards' missing
    counters. Flags that later files explain are resolved, so the review is run when the day's
    files are in and again after late ones (it is idempotent).

    `processes` > 1 splits the day's cards between that many forked workers, each reading and
    re-rating its own share on its own connection, so they see what is committed (batch jobs
    only, never inside a server)."""
    timer = _Stages(stages)
    flags = _open_flags(uow, Reason.FARE_MISMATCH, day)
    with timer("review: read and re-rate"):
        cards = _review_cards(uow, day, fares, processes, set(flags))
    with timer("review: flags"):
        opened, resolved, still_open = _review_fares(uow, day, cards.checks, flags)
        gaps_opened, gaps_resolved, gaps_open = _review_gaps(uow, day, cards.unexplained)
    result = ReviewResult(day, cards.cards, cards.rated, cards.not_rated, opened, resolved, gaps_opened,
                          gaps_resolved, still_open, gaps_open)
    uow.audit(actor=actor, action="clearing.day_reviewed", entity_type="clearing_day", entity_id=day.isoformat(),
              after={**asdict(result), "day": day.isoformat()})
    return result


# A tap as the review reads it (plain tuples: a day can be millions), its place and card folded
# into one text each by the database: fewer objects to make per row, one cache lookup each.
# The file format allows no "|" inside a field.
_TAP_COLUMNS = ("batch_id", "seq", "asn", "counter", "card_time", "amount",
                "CASE WHEN mode <> '' THEN city || '|' || mode || '|' || tap || '|' || line || '|' || station || '|' "
                "|| region END AS place",
                "issuer_id || '|' || card_kind || '|' || rider AS card")
_BATCH, _SEQ, _ASN, _COUNTER, _TIME, _AMOUNT, _PLACE, _CARD = range(len(_TAP_COLUMNS))
_COUNTER_KIND, _OWN = len(_TAP_COLUMNS), len(_TAP_COLUMNS) + 1  # the day's read adds these


@dataclass
class _CardsReviewed:
    """What re-rating a share of the day's cards gave: the checks that matter (mismatches and
    records with an open flag) and our cards' records whose previous counter is not among the
    day's (batch id, seq, asn, counter kind, counter)."""

    cards: int = 0
    rated: int = 0
    not_rated: int = 0
    checks: list[FareCheck] = field(default_factory=list)
    unexplained: list[tuple] = field(default_factory=list)

    def add(self, other: _CardsReviewed) -> _CardsReviewed:
        return _CardsReviewed(self.cards + other.cards, self.rated + other.rated, self.not_rated + other.not_rated,
                              self.checks + other.checks, self.unexplained + other.unexplained)


_JOBS: dict[str, Any] = {}  # shared with forked workers, as crypto.batch does


def _review_cards(uow: UnitOfWork, day: date, fares: FareConfig, processes: int,
                  flagged: set[tuple[int, int]]) -> _CardsReviewed:
    """Every card of the day re-rated: in this transaction, or in `processes` shares by forked
    workers that send back only what matters (a day's million checks are not pickled). The
    workers read through the driver and never use polars, whose thread pool (started here by
    an upload) does not survive a fork."""
    connection = uow.session.connection()
    if processes <= 1 or connection.engine.url.database in (None, "", ":memory:"):  # workers could not see it
        return _review_share(bulk.Reader.of(connection), day, fares, flagged, 0, 1)
    _JOBS.update(engine=connection.engine, day=day, fares=fares, flagged=flagged, shares=processes)
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            shares = pool.map(_review_share_in_worker, range(processes))
    finally:
        _JOBS.clear()
    total = _CardsReviewed()
    for share in shares:
        total = total.add(share)
    return total


def _review_share_in_worker(share: int) -> _CardsReviewed:
    engine = _JOBS["engine"]
    engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    with bulk.Reader.snapshot(engine) as reader:
        return _review_share(reader, _JOBS["day"], _JOBS["fares"], _JOBS["flagged"], share, _JOBS["shares"])


def _review_share(reader: bulk.Reader, day: date, fares: FareConfig, flagged: set[tuple[int, int]], share: int,
                  shares: int) -> _CardsReviewed:
    """Read one share of the day's cards (`share` of `shares`, split by ASN), their history,
    and re-rate them."""
    taps, own_rows = _day_taps(reader, day, share, shares)
    history = _history_before(reader, {asn: min(row[_COUNTER] for row in rows) for asn, rows in taps.items()})
    reviewed = _replay(taps, history, fares, flagged)
    reviewed.unexplained = _unexplained_counters(own_rows)
    return reviewed


def _day_taps(reader: bulk.Reader, day: date, share: int, shares: int) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """(the share's live taps of the day by card, in card order; our cards' live records of the
    day), in one read through the driver."""
    rows = reader.fetch(f"SELECT {', '.join(_TAP_COLUMNS)}, counter_kind, own_card FROM {bulk.TABLE} "
                        f"WHERE tx_date = ? AND status <> 'rejected'{reader.share_of_cards(share, shares)}",
                        (reader.day(day),))
    by_card: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        if row[_PLACE] is not None:
            by_card[row[_ASN]].append(row)
    for taps in by_card.values():  # a card's few taps sort faster here than a day's in the database
        taps.sort(key=_card_order)
    return by_card, [row for row in rows if row[_OWN]]


def _card_order(row) -> tuple[str, int]:
    return row[_TIME], row[_COUNTER]


def _history_before(reader: bulk.Reader, first_counters: dict[str, int]) -> dict[str, list]:
    """Each card's last 2 × HISTORY_DEPTH live taps before its first tap of the day, oldest
    first. A tap is a purchase, so the card's offline counter orders its taps: what came before
    is a range of the unique (card, counter kind, counter) index, whatever day it was made."""
    by_card = reader.taps_before(_TAP_COLUMNS, first_counters, 2 * rules.HISTORY_DEPTH)
    for rows in by_card.values():
        rows.sort(key=_card_order)
    return by_card


def _unexplained_counters(own_rows: list[tuple]) -> list[tuple]:
    """Our cards' records of the day whose previous counter is not among the day's records, as
    (batch id, seq, asn, counter kind, counter) (the share holds every record of its cards, so
    this needs no other share)."""
    present = set(zip(map(itemgetter(_ASN), own_rows), map(itemgetter(_COUNTER_KIND), own_rows),
                      map(itemgetter(_COUNTER), own_rows), strict=True))
    return [(row[_BATCH], row[_SEQ], row[_ASN], row[_COUNTER_KIND], row[_COUNTER]) for row in own_rows
            if row[_COUNTER] > 0 and (row[_ASN], row[_COUNTER_KIND], row[_COUNTER] - 1) not in present]


@lru_cache(maxsize=200_000)
def _when(card_time: str):
    return card_datetime(card_time)


@lru_cache(maxsize=100_000)
def _place(key: str) -> rules.Place | None:
    return rules.place_of_fields(*key.split("|"))


@lru_cache(maxsize=1_000)
def _card_context(key: str) -> rules.CardContext:
    return rules.card_context(*key.split("|"))


def _replay(taps: dict[str, list], history: dict[str, list], fares: FareConfig,
            flagged: set[tuple[int, int]]) -> _CardsReviewed:
    """Re-rate each card's day after its history; keep the checks that matter. A check's `ref`
    is the tap's row."""
    memo, replay = rules.fare_memo(fares), rules.replay_places
    reviewed = _CardsReviewed(cards=len(taps))
    for asn, rows in taps.items():
        earlier = [(None, where, _when(row[_TIME]), row[_AMOUNT]) for row in history.get(asn, ())
                   if (where := _place(row[_PLACE])) is not None]
        items = earlier + [(row, where, _when(row[_TIME]), row[_AMOUNT]) for row in rows
                           if (where := _place(row[_PLACE])) is not None]
        if len(items) == len(earlier):
            continue
        for check in replay(items, _card_context(rows[0][_CARD]), memo, report_from=len(earlier)):
            reviewed.rated += 1
            reviewed.not_rated += check.expected is None
            if check.mismatch or check.ref[:2] in flagged:
                reviewed.checks.append(check)
    return reviewed


def _open_flags(uow: UnitOfWork, reason: Reason, day: date | None = None) -> dict[tuple[int, int], ClearingException]:
    query = select(ClearingException).where(ClearingException.reason == reason,
                                            ClearingException.resolved_at.is_(None))
    if day is not None:
        query = query.where(ClearingException.tx_date == day)
    return {(flag.batch_id, flag.seq): flag for flag in uow.session.execute(query).scalars()}


def _review_fares(uow: UnitOfWork, day: date, checks: list[FareCheck],
                  flags: dict[tuple[int, int], ClearingException]) -> tuple[int, int, int]:
    """(opened, resolved, open after) fare flags of the day; `checks` holds at least every
    mismatch and every re-rated record with an open flag in `flags`."""
    now, new, resolved = uow.now(), [], 0
    for check in checks:
        batch_id, seq, asn, counter = check.ref[_BATCH], check.ref[_SEQ], check.ref[_ASN], check.ref[_COUNTER]
        flag = flags.pop((batch_id, seq), None)
        if check.mismatch:
            if flag is None:
                details = {"charged": check.charged, "expected": check.expected, "trail_zh": check.zh,
                           "trail_en": check.en}
                new.append(_flag_row(batch_id, seq, asn, fileformat.OFFLINE, counter, day, Reason.FARE_MISMATCH,
                                     details, now))
        elif flag is not None:
            flag.resolved_at, flag.resolution = now, "re-rated with the day's records: fare confirmed / 复核票价相符"
            resolved += 1
    for flag in flags.values():  # its record is no longer a live tap of the day (e.g. refused by the house)
        flag.resolved_at, flag.resolution = now, "the record is no longer cleared / 记录已不予结算"
        resolved += 1
    if new:
        uow.session.execute(insert(ClearingException), new)
    still_open = uow.session.execute(select(func.count()).select_from(ClearingException).where(
        ClearingException.reason == Reason.FARE_MISMATCH, ClearingException.resolved_at.is_(None),
        ClearingException.tx_date == day)).scalar_one()
    return len(new), resolved, still_open


def _review_gaps(uow: UnitOfWork, day: date, unexplained: list[tuple]) -> tuple[int, int, int]:
    """(opened, resolved, open after): our cards' records of the day whose previous counter is
    neither among the day's records (`unexplained`, as _CardsReviewed keeps them) nor cleared on
    another day; and earlier gaps that records have since filled. Other issuers' counters are
    theirs to watch."""
    earlier: set[tuple] = set()
    for chunk in _chunks(unexplained, CHUNK):
        earlier.update(uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter).where(
                tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                .in_([(asn, kind, counter - 1) for _batch, _seq, asn, kind, counter in chunk]),
                ClearedRecord.status != RecordStatus.REJECTED)).all())
    gaps = [row for row in unexplained if (row[2], row[3], row[4] - 1) not in earlier]
    flags = _open_flags(uow, Reason.COUNTER_GAP)
    now = uow.now()
    new = [_flag_row(batch_id, seq, asn, kind, counter, day, Reason.COUNTER_GAP,
                     {"counter_kind": kind, "counter": counter}, now)
           for batch_id, seq, asn, kind, counter in gaps if (batch_id, seq) not in flags]
    resolved = 0
    open_flags = list(flags.values())
    for chunk in _chunks(open_flags, CHUNK):
        present = set(uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter).where(
                tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                .in_([(f.asn, f.counter_kind, f.counter - 1) for f in chunk]),
                ClearedRecord.status != RecordStatus.REJECTED)).all())
        for flag in chunk:
            if (flag.asn, flag.counter_kind, flag.counter - 1) in present:
                flag.resolved_at, flag.resolution = now, "the missing record has arrived / 缺失记录已到达"
                resolved += 1
    if new:
        uow.session.execute(insert(ClearingException), new)
    return len(new), resolved, len(open_flags) - resolved + len(new)


def _flag_row(batch_id: int, seq: int, asn: str, counter_kind: str, counter: int, tx_date: date, reason: Reason,
              details: dict[str, Any], now) -> dict[str, Any]:
    zh, en = rules.describe(reason, **details)
    return dict(batch_id=batch_id, seq=seq, asn=asn, counter_kind=counter_kind, counter=counter, tx_date=tx_date,
                reason=str(reason), zh=zh[:1024], en=en[:1024], details=details, opened_at=now, resolved_at=None,
                resolution=None)


# ---------------------------------------------------------------------------------------------
# Reports


@dataclass(frozen=True)
class SettlementLine:
    city: str  # where the terminal stands
    operator: str
    issuer_id: str
    own_card: bool
    count: int
    amount: Fen


@dataclass(frozen=True)
class SettlementReport:
    """Cleared purchases of one day (China Standard Time), per operator and card issuer."""

    day: date
    lines: list[SettlementLine]
    pending_count: int  # other issuers' records still waiting for the national house
    pending_amount: Fen
    rejected_count: int
    loads_count: int
    loads_amount: Fen

    @property
    def total_count(self) -> int:
        return sum(line.count for line in self.lines)

    @property
    def total_amount(self) -> Fen:
        return sum(line.amount for line in self.lines)

    def by_operator(self) -> dict[tuple[str, str], Fen]:
        totals: dict[tuple[str, str], Fen] = defaultdict(int)
        for line in self.lines:
            totals[(line.city, line.operator)] += line.amount
        return dict(sorted(totals.items()))

    def by_issuer(self) -> dict[str, Fen]:
        totals: dict[str, Fen] = defaultdict(int)
        for line in self.lines:
            totals[line.issuer_id] += line.amount
        return dict(sorted(totals.items()))


def settlement_report(*, uow: UnitOfWork, day: date) -> SettlementReport:
    r = ClearedRecord
    grouped = uow.session.execute(
        select(r.city, r.operator, r.issuer_id, r.own_card, func.count(), func.sum(r.amount))
        .where(r.tx_date == day, r.status == RecordStatus.CLEARED, r.counter_kind == fileformat.OFFLINE)
        .group_by(r.city, r.operator, r.issuer_id, r.own_card).order_by(r.city, r.operator, r.issuer_id))
    lines = [SettlementLine(city, operator, issuer, bool(own), count, amount or 0)
             for city, operator, issuer, own, count, amount in grouped]

    def tally(*conditions) -> tuple[int, Fen]:
        count, amount = uow.session.execute(
            select(func.count(), func.coalesce(func.sum(r.amount), 0)).where(r.tx_date == day, *conditions)).one()
        return count, amount

    pending = tally(r.status == RecordStatus.PENDING_NATIONAL)
    rejected = tally(r.status == RecordStatus.REJECTED)
    loads = tally(r.status == RecordStatus.CLEARED, r.counter_kind == fileformat.ONLINE)
    return SettlementReport(day, lines, pending[0], pending[1], rejected[0], loads[0], loads[1])


@dataclass(frozen=True)
class AccountCheck:
    code: str
    ledger: Fen  # what the settlement journals moved in the account
    records: Fen  # what the cleared records settled into it

    @property
    def agrees(self) -> bool:
        return self.ledger == self.records


@dataclass(frozen=True)
class Reconciliation:
    day: date
    cards: list[rules.CardDay]  # our cards with records that day
    accounts: list[AccountCheck]  # every clearing account, over all days
    records_total: Fen  # cleared purchases of the day
    report_total: Fen  # the settlement report's total for the day

    @property
    def card_mismatches(self) -> list[rules.CardDay]:
        return [card for card in self.cards if card.difference]

    @property
    def ok(self) -> bool:
        return (not self.card_mismatches and all(a.agrees for a in self.accounts)
                and self.records_total == self.report_total)


def reconcile(*, uow: UnitOfWork, day: date) -> Reconciliation:
    """Every fen of the day accounted for: per card, opening + loads − debits = closing from
    the balances its records show; per clearing account, the settlement journals equal the
    records settled into it; the report's total equals the cleared records'."""
    r = ClearedRecord
    movements = uow.session.execute(
        select(r.asn, r.counter_kind, r.amount, r.balance_after)
        .where(r.tx_date == day, r.own_card.is_(True), r.status == RecordStatus.CLEARED)
        .order_by(r.asn, r.card_time, r.counter_kind.desc(), r.counter))
    by_card: dict[str, list[rules.CardMovement]] = defaultdict(list)
    for asn, kind, amount, balance_after in movements:
        by_card[asn].append(rules.CardMovement(asn, kind == fileformat.ONLINE, amount, balance_after))
    cards = [rules.card_day(items) for items in by_card.values()]
    records_total = uow.session.execute(
        select(func.coalesce(func.sum(r.amount), 0)).where(
            r.tx_date == day, r.status == RecordStatus.CLEARED, r.counter_kind == fileformat.OFFLINE)).scalar_one()
    report = settlement_report(uow=uow, day=day)
    return Reconciliation(day, cards, _account_checks(uow), records_total, report.total_amount)


def _account_checks(uow: UnitOfWork) -> list[AccountCheck]:
    r = ClearedRecord
    settled = uow.session.execute(
        select(r.city, r.operator, r.issuer_id, r.own_card, func.sum(r.amount))
        .where(r.status == RecordStatus.CLEARED, r.counter_kind == fileformat.OFFLINE)
        .group_by(r.city, r.operator, r.issuer_id, r.own_card))
    expected: dict[str, Fen] = defaultdict(int)
    for city, operator, issuer_id, own, amount in settled:
        expected[rules.operator_payable(city, operator)] += amount or 0
        if not own:
            expected[rules.issuer_receivable(issuer_id)] += amount or 0
    checks = []
    for code, amount in sorted(expected.items()):
        try:
            lines = ledger.statement(uow=uow, code=code).lines
        except AccountNotFound:  # never opened: only zero fares were settled into it
            lines = []
        moved = sum(line.amount for line in lines if line.kind == SETTLEMENT_KIND)
        checks.append(AccountCheck(code, moved, amount))
    return checks


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class ExceptionView:
    id: int
    file_id: str
    seq: int
    asn: str
    counter_kind: str
    counter: int
    reason: str
    zh: str
    en: str
    details: dict
    opened_at: Any
    resolved_at: Any
    resolution: str | None


def list_exceptions(*, uow: UnitOfWork, open_only: bool = True, reason: str | None = None,
                    asn: str | None = None, limit: int = 200) -> list[ExceptionView]:
    e = ClearingException
    query = select(e, ClearingBatch.file_id).join(ClearingBatch, ClearingBatch.id == e.batch_id).order_by(e.id)
    if open_only:
        query = query.where(e.resolved_at.is_(None))
    if reason:
        query = query.where(e.reason == reason)
    if asn:
        query = query.where(e.asn == asn)
    return [ExceptionView(x.id, file_id, x.seq, x.asn, x.counter_kind, x.counter, x.reason, x.zh, x.en, x.details,
                          x.opened_at, x.resolved_at, x.resolution)
            for x, file_id in uow.session.execute(query.limit(min(limit, 10_000)))]


def get_batch(*, uow: UnitOfWork, file_id: str, actor: Actor | None = None) -> BatchResult:
    """A received file's result; a transit operator sees only its own operator's files."""
    batch = _batch_row(uow, file_id)
    if batch is None or batch.direction != "in" or (
            actor is not None and actor.role is Role.TRANSIT_OPERATOR and batch.operator != actor.branch_code):
        raise BatchNotFound()
    return BatchResult.from_dict(batch.result, replayed=True)

