"""Pension eligibility confirmation (待遇资格认证) and death: the pure rules.

No I/O and no clock: days and periods come in as arguments. A period is a pay month,
"YYYY-MM". A confirmation on day D holds through the same day `window_months` later
(`valid_until`, inclusive); a month is payable when the confirmation holds on its first day
and the person was alive on it (the month of death is paid when `pay_month_of_death`).
The figures are in config/certification-changzhou.toml with their sources.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from yikatong.core.errors import InvalidInput

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Channel(StrEnum):
    CARD = "card"      # the physical card at a self-service machine or an outlet reader
    ECARD = "ecard"    # the e-card, online
    OUTLET = "outlet"  # an outlet operator at the counter, identity documents seen


class Status(StrEnum):
    ACTIVE = "active"        # confirmed, within the window
    SUSPENDED = "suspended"  # the window lapsed: payment suspended until the next confirmation
    DECEASED = "deceased"    # payments stopped from the month after death


class Refusal(StrEnum):
    """What `pension_payable` answers instead of None (the seam's reason codes)."""

    NOT_CERTIFIED = "not_certified"
    DECEASED = "deceased"


STATUS_WORDS = {
    Status.ACTIVE: ("已认证", "confirmed"),
    Status.SUSPENDED: ("逾期未认证，暂停发放", "lapsed: payment suspended"),
    Status.DECEASED: ("已身故，停发", "deceased: payments stopped"),
}
CHANNEL_WORDS = {
    Channel.CARD: ("社会保障卡", "social security card"),
    Channel.ECARD: ("电子社保卡", "e-card"),
    Channel.OUTLET: ("网点柜面", "outlet counter"),
}


@dataclass(frozen=True)
class Policy:
    window_months: int = 12
    reminder_days_before: int = 30
    back_pay_on_resume: bool = True
    pay_month_of_death: bool = True
    channels: tuple[str, ...] = ("card", "ecard", "outlet")
    payee_code: str = "CZ-SI"
    programme: str = "pension"


def check_period(period: str) -> str:
    if not isinstance(period, str) or not PERIOD.match(period):
        raise InvalidInput(reason_zh="期间须为 YYYY-MM", reason_en="a period must be YYYY-MM")
    return period


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def first_day(period: str) -> date:
    check_period(period)
    return date(int(period[:4]), int(period[5:]), 1)


def next_period(period: str) -> str:
    start = first_day(period)
    return period_of(date(start.year + start.month // 12, start.month % 12 + 1, 1))


def periods_from(first: str, last: str) -> list[str]:
    """Every period from `first` through `last` (empty when last is earlier)."""
    out, current = [], check_period(first)
    while current <= check_period(last):
        out.append(current)
        current = next_period(current)
    return out


def add_months(day: date, months: int) -> date:
    """The same day `months` later, the month's last day where it has fewer days."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def valid_until(certified_on: date, policy: Policy) -> date:
    """The last day a confirmation made on `certified_on` holds."""
    return add_months(certified_on, policy.window_months)


def lapsed(until: date, today: date) -> bool:
    return today > until


def reminder_due(until: date, reminded_for: date | None, today: date, policy: Policy) -> bool:
    """Whether the holder should be texted now: within the reminder window, not lapsed yet,
    and not texted already for this window."""
    return (reminded_for != until and not lapsed(until, today)
            and today >= until - timedelta(days=policy.reminder_days_before))


def suspended_from(until: date) -> str:
    """The first month not payable after a confirmation valid through `until`."""
    return next_period(period_of(until))


def back_pay_periods(first_suspended: str, certified_on: date) -> list[str]:
    """The months a confirmation on `certified_on` pays back after a suspension from
    `first_suspended` (through the month of the confirmation)."""
    return periods_from(first_suspended, period_of(certified_on))


def last_paid_period(died_on: date, policy: Policy) -> str:
    month = period_of(died_on)
    if policy.pay_month_of_death:
        return month
    # Not even the month of death: the last paid month is the one before.
    start = first_day(month)
    return period_of(start - timedelta(days=1))


def stop_from_day(died_on: date, policy: Policy) -> date:
    """The day enrolments end at death: the first day of the first unpaid month."""
    return first_day(next_period(last_paid_period(died_on, policy)))


def overpaid(period: str, died_on: date, policy: Policy) -> bool:
    """Whether a payment for `period` was made after the entitlement ended at death."""
    return check_period(period) > last_paid_period(died_on, policy)


def payable_reason(*, until: date | None, died_on: date | None, period: str,
                   policy: Policy) -> Refusal | None:
    """None when the month is payable, else why not (death first)."""
    if died_on is not None and overpaid(period, died_on, policy):
        return Refusal.DECEASED
    if until is None or first_day(period) > until:
        return Refusal.NOT_CERTIFIED
    return None


def status_on(*, until: date | None, died_on: date | None, today: date) -> Status:
    if died_on is not None:
        return Status.DECEASED
    if until is None or lapsed(until, today):
        return Status.SUSPENDED
    return Status.ACTIVE
