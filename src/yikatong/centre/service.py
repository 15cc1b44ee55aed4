"""The card centre's dashboards: read-only counts over the domains' own tables.

Every figure is counted by the database (one grouped query per chart), never by loading rows.
Days are Beijing days reckoned from the platform clock: a day's bounds are computed here as
UTC instants and each day is one `SUM(CASE ...)` column, so bucketing is the same on SQLite
and PostgreSQL (no dialect's date functions, no time zone setting of the server).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, select

from yikatong.applications.models import Application
from yikatong.cards.models import BankEventRecord, Card, CardBlock
from yikatong.cards.rules import LOSS_KINDS
from yikatong.clearing.fileformat import ONLINE
from yikatong.clearing.models import ClearedRecord, RecordStatus
from yikatong.core.clock import CST, as_utc, local_date
from yikatong.db.uow import UnitOfWork
from yikatong.events.models import OutboxEvent
from yikatong.transit.models import TopUpOrder

DEFAULT_DAYS = 14
MAX_DAYS = 92  # a quarter: one column per day in the grouped query


@dataclass(frozen=True)
class Series:
    """One named line of a chart: its machine code and one count per bucket."""

    key: str
    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class ByDay:
    """Counts per Beijing day (oldest first), one series per state."""

    days: tuple[date, ...]
    series: tuple[Series, ...]

    def day_totals(self) -> tuple[int, ...]:
        return tuple(sum(values) for values in zip(*(s.values for s in self.series), strict=True)) \
            if self.series else tuple(0 for _ in self.days)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.series)


@dataclass(frozen=True)
class LossRow:
    channel: str
    kind: str
    count: int


@dataclass(frozen=True)
class TopUpRow:
    channel: str
    state: str
    count: int
    amount_fen: int


@dataclass(frozen=True)
class ClearingRow:
    """One operator's cleared records in the window: purchases and loads (integer fen)."""

    operator: str
    purchases: int
    purchase_fen: int
    loads: int
    load_fen: int
    rejected: int


@dataclass(frozen=True)
class BankLag:
    """How far one bank's view is behind the platform's, as far as the platform can tell:
    the events for it not yet delivered (and the oldest one's age), the last one delivered,
    and the last message the bank sent (its acknowledgement that it is alive and applying)."""

    bank_code: str
    undelivered: int
    oldest_undelivered_at: datetime | None
    lag_seconds: int  # age of the oldest undelivered event (0: nothing waiting)
    last_delivered_at: datetime | None
    last_bank_message_at: datetime | None


@dataclass(frozen=True)
class Dashboard:
    today: date
    applications: ByDay
    cards: ByDay
    losses: tuple[LossRow, ...]
    top_ups: tuple[TopUpRow, ...]
    clearing: tuple[ClearingRow, ...]
    banks: tuple[BankLag, ...]


def dashboard(*, uow: UnitOfWork, days: int = DEFAULT_DAYS) -> Dashboard:
    """Every chart of the card centre's first page, over the last `days` Beijing days."""
    window = last_days(local_date(uow.now()), days)
    return Dashboard(
        today=window[-1],
        applications=applications_by_day(uow=uow, days=window),
        cards=cards_by_day(uow=uow, days=window),
        losses=losses_by_channel(uow=uow, days=window),
        top_ups=top_ups_by_channel(uow=uow, days=window),
        clearing=clearing_by_operator(uow=uow, days=window),
        banks=bank_sync_lag(uow=uow),
    )


def last_days(today: date, count: int) -> tuple[date, ...]:
    count = max(1, min(count, MAX_DAYS))
    return tuple(today - timedelta(days=back) for back in range(count - 1, -1, -1))


def day_start(day: date) -> datetime:
    """The UTC instant a Beijing day begins."""
    return datetime.combine(day, time(0), tzinfo=CST).astimezone(UTC)


def _bounds(days: Sequence[date]) -> tuple[datetime, datetime]:
    return day_start(days[0]), day_start(days[-1] + timedelta(days=1))


def _by_day(uow: UnitOfWork, moment, group, days: Sequence[date], *where) -> ByDay:
    """Rows counted per (group, Beijing day of `moment`) in the window, in one query."""
    columns = [func.sum(case((and_(moment >= day_start(day), moment < day_start(day + timedelta(days=1))), 1),
                             else_=0)) for day in days]
    low, high = _bounds(days)
    rows = uow.session.execute(
        select(group, *columns).where(moment >= low, moment < high, *where).group_by(group).order_by(group))
    series = tuple(Series(str(key), tuple(int(v or 0) for v in values)) for key, *values in rows)
    return ByDay(days=tuple(days), series=series)


def applications_by_day(*, uow: UnitOfWork, days: Sequence[date]) -> ByDay:
    """Applications submitted each day, by the state each is in now."""
    return _by_day(uow, Application.submitted_at, Application.status, days)


def cards_by_day(*, uow: UnitOfWork, days: Sequence[date]) -> ByDay:
    """Cards produced each day, by the state each is in now."""
    return _by_day(uow, Card.produced_at, Card.state, days)


def losses_by_channel(*, uow: UnitOfWork, days: Sequence[date]) -> tuple[LossRow, ...]:
    """Losses reported in the window (either function), by the channel and kind of the report."""
    low, high = _bounds(days)
    rows = uow.session.execute(
        select(CardBlock.channel, CardBlock.kind, func.count())
        .where(CardBlock.kind.in_([str(kind) for kind in LOSS_KINDS]),
               CardBlock.started_at >= low, CardBlock.started_at < high)
        .group_by(CardBlock.channel, CardBlock.kind).order_by(CardBlock.channel, CardBlock.kind))
    return tuple(LossRow(channel, kind, count) for channel, kind, count in rows)


def top_ups_by_channel(*, uow: UnitOfWork, days: Sequence[date]) -> tuple[TopUpRow, ...]:
    """Transit top-up orders placed in the window, by channel and the state each is in now."""
    low, high = _bounds(days)
    rows = uow.session.execute(
        select(TopUpOrder.channel, TopUpOrder.state, func.count(), func.coalesce(func.sum(TopUpOrder.amount), 0))
        .where(TopUpOrder.created_at >= low, TopUpOrder.created_at < high)
        .group_by(TopUpOrder.channel, TopUpOrder.state).order_by(TopUpOrder.channel, TopUpOrder.state))
    return tuple(TopUpRow(channel, state, count, int(amount)) for channel, state, count, amount in rows)


def clearing_by_operator(*, uow: UnitOfWork, days: Sequence[date]) -> tuple[ClearingRow, ...]:
    """Card transactions cleared in the window (by their Beijing transaction date), by the
    transit operator that sent them: purchases and loads settled or awaiting the national
    house, and the records refused."""
    live = ClearedRecord.status != RecordStatus.REJECTED
    load = ClearedRecord.counter_kind == ONLINE

    def counted(condition):
        return func.sum(case((condition, 1), else_=0))

    def summed(condition):
        return func.sum(case((condition, ClearedRecord.amount), else_=0))

    rows = uow.session.execute(
        select(ClearedRecord.operator,
               counted(and_(live, ~load)), summed(and_(live, ~load)),
               counted(and_(live, load)), summed(and_(live, load)),
               counted(~live))
        .where(ClearedRecord.tx_date >= days[0], ClearedRecord.tx_date <= days[-1])
        .group_by(ClearedRecord.operator).order_by(ClearedRecord.operator))
    return tuple(ClearingRow(operator, *(int(v or 0) for v in values)) for operator, *values in rows)


def bank_sync_lag(*, uow: UnitOfWork) -> tuple[BankLag, ...]:
    """Per partner bank (every bank with a card, or an event addressed to it)."""
    now = as_utc(uow.now())
    waiting = {partner: (count, oldest) for partner, count, oldest in uow.session.execute(
        select(OutboxEvent.partner, func.count(), func.min(OutboxEvent.occurred_at))
        .where(OutboxEvent.partner.is_not(None), OutboxEvent.published_at.is_(None))
        .group_by(OutboxEvent.partner))}
    delivered = dict(uow.session.execute(
        select(OutboxEvent.partner, func.max(OutboxEvent.published_at))
        .where(OutboxEvent.partner.is_not(None), OutboxEvent.published_at.is_not(None))
        .group_by(OutboxEvent.partner)).all())
    heard = dict(uow.session.execute(
        select(BankEventRecord.bank_code, func.max(BankEventRecord.received_at))
        .group_by(BankEventRecord.bank_code)).all())
    banks = set(uow.session.execute(select(Card.bank_code).distinct()).scalars())
    return tuple(_lag(bank, waiting.get(bank, (0, None)), delivered.get(bank), heard.get(bank), now)
                 for bank in sorted(banks | set(waiting) | set(delivered) | set(heard)))


def _lag(bank: str, waiting: tuple[int, datetime | None], delivered: datetime | None,
         heard: datetime | None, now: datetime) -> BankLag:
    count, oldest = waiting
    lag = max(0, int((now - as_utc(oldest)).total_seconds())) if oldest is not None else 0
    return BankLag(bank_code=bank, undelivered=count, oldest_undelivered_at=oldest, lag_seconds=lag,
                   last_delivered_at=delivered, last_bank_message_at=heard)


def keys_of(rows: Iterable, name: str) -> tuple[str, ...]:
    """The distinct values of one field of rows, in first-seen order (a chart's categories)."""
    return tuple(dict.fromkeys(getattr(row, name) for row in rows))
