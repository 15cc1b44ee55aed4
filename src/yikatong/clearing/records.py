"""A record file while it is cleared: each record's status and flags (`FileClearing`), the rows
inserted through the unique index (a refused row is a duplicate of an earlier file's record), and
the exceptions stored for the flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import insert, select, tuple_

from yikatong.clearing import bulk, fileformat, rules
from yikatong.clearing.batches import CHUNK, chunks
from yikatong.clearing.errors import (
    BatchMalformed,
)
from yikatong.clearing.fileformat import (
    LOAD_TYPES,
    BatchRecord,
    ClearingFile,
    FileKind,
    card_datetime,
)
from yikatong.clearing.models import ClearedRecord, ClearingBatch, ClearingException, RecordStatus
from yikatong.clearing.rules import Reason
from yikatong.db.uow import UnitOfWork

# ---------------------------------------------------------------------------------------------
# Clearing a record file


@dataclass
class Flag:
    index: int
    reason: Reason
    details: dict[str, Any]


class FileClearing:
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
        self.flags: list[Flag] = []
        self.first: list[int] = []  # live records, each the first of its card and counter in the file
        self.rows: bulk.Prepared = []  # their prepared rows (bulk.prepare_rows)
        for index, own in enumerate(self.own):
            if not own and kind is not FileKind.TERMINAL:
                self.reject(index, Reason.UNVERIFIABLE, why_zh="不是本发卡机构的卡", why_en="not a card we issued")

    def reject(self, index: int, reason: Reason, **details: Any) -> None:
        self.status[index] = RecordStatus.REJECTED
        self.flags.append(Flag(index, reason, details))

    def flag(self, index: int, reason: Reason, **details: Any) -> None:
        self.flags.append(Flag(index, reason, details))

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


# --- rows ------------------------------------------------------------------------------------


def insert_records(uow: UnitOfWork, batch: ClearingBatch, state: FileClearing) -> None:
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
    for chunk in chunks(records, CHUNK):
        rows = uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter, ClearingBatch.file_id,
                   ClearedRecord.tac)
            .join(ClearingBatch, ClearingBatch.id == ClearedRecord.batch_id)
            .where(tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                   .in_([r.key for r in chunk]), ClearedRecord.status != RecordStatus.REJECTED))
        for asn, kind, counter, file_id, tac in rows:
            found[(asn, kind, counter)] = (file_id, tac)
    return found


def store_flags(uow: UnitOfWork, batch: ClearingBatch, state: FileClearing) -> None:
    now = uow.now()
    rows = [flag_row(batch.id, (record := state.records[flag.index]).seq, record.asn, record.counter_kind,
                      record.counter, card_datetime(record.card_time).date(), flag.reason, flag.details, now)
            for flag in state.flags]
    if rows:
        uow.session.execute(insert(ClearingException), rows)


def flag_row(batch_id: int, seq: int, asn: str, counter_kind: str, counter: int, tx_date: date, reason: Reason,
              details: dict[str, Any], now) -> dict[str, Any]:
    zh, en = rules.describe(reason, **details)
    return dict(batch_id=batch_id, seq=seq, asn=asn, counter_kind=counter_kind, counter=counter, tx_date=tx_date,
                reason=str(reason), zh=zh[:1024], en=en[:1024], details=details, opened_at=now, resolved_at=None,
                resolution=None)
