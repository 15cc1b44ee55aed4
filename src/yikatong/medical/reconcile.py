"""Daily reconciliation between the platform and a designated institution (3201 totals, 3202
details): the two sides' records agree to the fen, or every difference is named.

What counts for a period of Changzhou days [begin, end]: every settlement the institution made
in it (+), and every cancellation made in it (−, on the day of the cancellation), so a day's
figures never change afterwards. Figures: the number of settlements (net of cancellations),
medfee_sumamt, fund_pay_sumamt, acct_pay and psn_cash_pay, in fen.

`compare_totals` and `compare_details` are pure; `platform_totals` and `platform_details` read
the settlements (medical_settlements) of the institution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select

from yikatong.core.clock import CST
from yikatong.db.uow import UnitOfWork
from yikatong.medical.models import Settlement

FIGURES = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")
MAX_DAYS = 31  # one reconciliation covers at most a month


@dataclass(frozen=True)
class Totals:
    count: int = 0
    medfee_sumamt: int = 0
    fund_pay_sumamt: int = 0
    acct_pay: int = 0
    psn_cash_pay: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, **{name: getattr(self, name) for name in FIGURES}}


@dataclass(frozen=True)
class Record:
    """One settlement as a side has it: settled, or cancelled (refd_setl_flag 1)."""

    setl_id: str
    medfee_sumamt: int
    fund_pay_sumamt: int
    acct_pay: int
    psn_cash_pay: int
    cancelled: bool = False


@dataclass(frozen=True)
class TotalsResult:
    agree: bool
    platform: Totals
    institution: Totals
    differences: dict[str, int] = field(default_factory=dict)  # institution − platform, where ≠


@dataclass(frozen=True)
class Difference:
    setl_id: str
    kind: str  # missing_at_institution | missing_at_platform | amounts_differ | state_differs
    platform: Record | None
    institution: Record | None
    fields: tuple[str, ...] = ()


def compare_totals(platform: Totals, institution: Totals) -> TotalsResult:
    ours, theirs = platform.as_dict(), institution.as_dict()
    differences = {name: theirs[name] - ours[name] for name in ours if theirs[name] != ours[name]}
    return TotalsResult(agree=not differences, platform=platform, institution=institution,
                        differences=differences)


def compare_details(platform: Iterable[Record], institution: Iterable[Record]) -> list[Difference]:
    """Every settlement the two sides do not have alike, by setl_id (the platform's order,
    then the institution's extra ones in its order)."""
    ours = {record.setl_id: record for record in platform}
    theirs: dict[str, Record] = {}
    for record in institution:
        theirs.setdefault(record.setl_id, record)
    found: list[Difference] = []
    for setl_id, mine in ours.items():
        other = theirs.get(setl_id)
        if other is None:
            found.append(Difference(setl_id, "missing_at_institution", mine, None))
        elif other.cancelled != mine.cancelled:
            found.append(Difference(setl_id, "state_differs", mine, other))
        else:
            fields = tuple(name for name in FIGURES if getattr(mine, name) != getattr(other, name))
            if fields:
                found.append(Difference(setl_id, "amounts_differ", mine, other, fields))
    found.extend(Difference(setl_id, "missing_at_platform", None, other)
                 for setl_id, other in theirs.items() if setl_id not in ours)
    return found


def _bounds(begin: date, end: date) -> tuple[datetime, datetime]:
    start = datetime.combine(begin, time(0), tzinfo=CST)
    return start, datetime.combine(end + timedelta(days=1), time(0), tzinfo=CST)


def _rows(uow: UnitOfWork, fixmedins_code: str, begin: date, end: date, *,
          insutype: str | None, med_type: str | None) -> list[Settlement]:
    start, stop = _bounds(begin, end)
    query = select(Settlement).where(
        Settlement.fixmedins_code == fixmedins_code,
        or_((Settlement.settled_at >= start) & (Settlement.settled_at < stop),
            (Settlement.cancelled_at >= start) & (Settlement.cancelled_at < stop)),
    ).order_by(Settlement.id)
    if insutype:
        query = query.where(Settlement.insutype == insutype)
    if med_type:
        query = query.where(Settlement.med_type == med_type)
    return list(uow.session.execute(query).scalars())


def _in(moment: datetime | None, start: datetime, stop: datetime) -> bool:
    if moment is None:
        return False
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return start <= moment < stop


def platform_totals(*, uow: UnitOfWork, fixmedins_code: str, begin: date, end: date,
                    insutype: str | None = None, med_type: str | None = None) -> Totals:
    start, stop = _bounds(begin, end)
    count, sums = 0, dict.fromkeys(FIGURES, 0)
    for row in _rows(uow, fixmedins_code, begin, end, insutype=insutype, med_type=med_type):
        for moment, sign in ((row.settled_at, 1), (row.cancelled_at, -1)):
            if _in(moment, start, stop):
                count += sign
                for name in FIGURES:
                    sums[name] += sign * getattr(row, name)
    return Totals(count=count, **sums)


def platform_details(*, uow: UnitOfWork, fixmedins_code: str, begin: date, end: date,
                     insutype: str | None = None, med_type: str | None = None) -> list[Record]:
    """The settlements settled in the period, each as it stands now (cancelled or not), and
    those settled before but cancelled in it."""
    return [Record(setl_id=row.setl_id, cancelled=row.cancelled_at is not None,
                   **{name: getattr(row, name) for name in FIGURES})
            for row in _rows(uow, fixmedins_code, begin, end, insutype=insutype, med_type=med_type)]


def record_of(values: Mapping[str, int], *, setl_id: str, cancelled: bool) -> Record:
    return Record(setl_id=setl_id, cancelled=cancelled, **{name: values[name] for name in FIGURES})
