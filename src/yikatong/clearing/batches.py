"""Clearing files as the database keeps them: the answer a received file gave (given again for
the same file), the constants every stage shares, and the small helpers they share."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from yikatong.clearing import rules
from yikatong.clearing.errors import (
    BatchNotFound,
)
from yikatong.clearing.fileformat import (
    BatchRecord,
    FileKind,
)
from yikatong.clearing.models import ClearingBatch
from yikatong.core.actor import Actor, Role
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork

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


def batch_row(uow: UnitOfWork, file_id: str) -> ClearingBatch | None:
    return uow.session.execute(select(ClearingBatch).where(ClearingBatch.file_id == file_id)).scalar_one_or_none()


class Stages:
    def __init__(self, stages: dict[str, float] | None) -> None:
        self.stages = stages

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        if self.stages is not None:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def record_of_row(row: Any) -> BatchRecord:
    return BatchRecord(
        row.seq, row.asn, row.issuer_id, row.terminal_id, row.terminal_serial, row.tx_type, row.amount,
        row.balance_after, row.counter, row.card_time, row.tac, row.key_version, row.alg_id, row.city, row.operator,
        row.mode, row.tap, row.line, row.station, row.region, row.card_kind, row.rider, bool(row.recovered),
    )


def get_batch(*, uow: UnitOfWork, file_id: str, actor: Actor | None = None) -> BatchResult:
    """A received file's result; a transit operator sees only its own operator's files."""
    batch = batch_row(uow, file_id)
    if batch is None or batch.direction != "in" or (
            actor is not None and actor.role is Role.TRANSIT_OPERATOR and batch.operator != actor.branch_code):
        raise BatchNotFound()
    return BatchResult.from_dict(batch.result, replayed=True)
