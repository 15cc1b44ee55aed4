"""Reports of the clearing day: the settlement report, the reconciliation, and the exceptions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select

from yikatong.clearing import fileformat, rules
from yikatong.clearing.batches import SETTLEMENT_KIND
from yikatong.clearing.models import ClearedRecord, ClearingBatch, ClearingException, RecordStatus
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import AccountNotFound


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
    # streamed in card order, a card reconciled as soon as its last record has gone by: memory
    # follows the cards, not their records (a day can hold ten million)
    movements = uow.session.execute(
        select(r.asn, r.counter_kind, r.amount, r.balance_after)
        .where(r.tx_date == day, r.own_card.is_(True), r.status == RecordStatus.CLEARED)
        .order_by(r.asn, r.card_time, r.counter_kind.desc(), r.counter)
        .execution_options(yield_per=50_000))
    cards: list[rules.CardDay] = []
    current: list[rules.CardMovement] = []
    for asn, kind, amount, balance_after in movements:
        if current and current[0].asn != asn:
            cards.append(rules.card_day(current))
            current = []
        current.append(rules.CardMovement(asn, kind == fileformat.ONLINE, amount, balance_after))
    if current:
        cards.append(rules.card_day(current))
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
