"""The benefits rules, pure (no I/O, time passed in): periods and the working-day calendar,
programme eligibility and amounts, batch splitting, the bank file rows (seam 1 in
BENEFITS.md), and the reconciliation arithmetic (paid + held + failed = due)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

# --- periods ------------------------------------------------------------------------------

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(text: str) -> tuple[int, int]:
    """'2026-12' → (2026, 12); ValueError otherwise."""
    match = PERIOD.match(text or "")
    if not match:
        raise ValueError(f"not a period YYYY-MM: {text!r}")
    return int(match.group(1)), int(match.group(2))


def is_period(text: str) -> bool:
    return bool(PERIOD.match(text or ""))


def add_months(period: str, months: int) -> str:
    year, month = parse_period(period)
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(start: str, end: str) -> int:
    """How many periods from `start` to `end` inclusive (0 if end is before start)."""
    (y1, m1), (y2, m2) = parse_period(start), parse_period(end)
    return max(0, (y2 * 12 + m2) - (y1 * 12 + m1) + 1)


def covers(start: str, end: str | None, period: str) -> bool:
    """Whether an enrolment from `start` to `end` (None: open) covers `period`."""
    return start <= period and (end is None or period <= end)


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


# --- the working-day calendar -------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """Weekends and public holidays off, make-up weekend working days (调休) on."""

    holidays: frozenset[date] = frozenset()
    working_weekends: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.working_weekends:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def on_or_before(self, day: date) -> date:
        """The working day itself, else the last working day before it."""
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day


def pay_date(period: str, pay_day: int, calendar: Calendar) -> date:
    """The period's pay day (e.g. the 15th), moved earlier over weekends and holidays."""
    year, month = parse_period(period)
    return calendar.on_or_before(date(year, month, min(pay_day, 28)))


# --- eligibility and amounts (the reference paying office's rules) --------------------------

DEGREES = ("bachelor", "master", "doctor")


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def unemployment_months(contribution_years: float, duration: Iterable[Iterable[int]]) -> int:
    """Months of unemployment benefit for the years contributed (条例 art. 17): the last
    [from_years, months] step reached; 0 below the first step."""
    months = 0
    for from_years, step_months in sorted((int(a), int(b)) for a, b in duration):
        if contribution_years >= from_years:
            months = step_months
    return months


def percent_of(amount_fen: int, percent: int) -> int:
    """`percent`% of an amount in fen, rounded half up to the fen."""
    return (amount_fen * percent + 50) // 100


def unemployment_monthly_fen(rules: Mapping) -> int:
    return percent_of(int(rules["min_wage_monthly_fen"]), int(rules["percent_of_min_wage"]))


def ineligibility(programme: str, rules: Mapping, *, birth: date, gender: str, day: date,
                  facts: Mapping) -> str | None:
    """Why a person is not entitled to the programme on `day` (a reason code), or None.

    The limits are the programme's data: pension age by gender, the talent subsidies' age
    limit, degree and Changzhou residence."""
    age = age_on(birth, day)
    if programme == "pension":
        minimum = rules["age_min_male"] if gender == "M" else rules["age_min_female"]
        return "below_pension_age" if age < int(minimum) else None
    if "age_max" in rules and age > int(rules["age_max"]):
        return "over_age_limit"
    degree = facts.get("degree")
    if "degree_min" in rules or "monthly_by_degree_fen" in rules or "one_off_by_degree_fen" in rules:
        minimum = rules.get("degree_min", DEGREES[0])
        if degree not in DEGREES or DEGREES.index(degree) < DEGREES.index(minimum):
            return "degree_below_minimum"
    if "requires_residence" in rules and not str(facts.get("residence", "")).startswith(
            str(rules["requires_residence"])):
        return "not_resident"
    if programme == "unemployment" and unemployment_months(
            float(facts.get("contribution_years", 0)), rules["duration"]) == 0:
        return "contributions_too_short"
    return None


def reads_facts(programme: str, rules: Mapping) -> bool:
    """Whether `ineligibility`, `amount_fen` or the programme's months read an enrolment's
    facts: the pension's figures are the age and the enrolment's own amount."""
    return programme != "pension" or any(
        key in rules for key in ("monthly_by_degree_fen", "one_off_by_degree_fen"))


def amount_fen(programme: str, rules: Mapping, *, monthly_fen: int | None,
               facts: Mapping) -> int:
    """The amount of one period: the enrolment's own figure, else the programme's rule."""
    if monthly_fen is not None:
        return monthly_fen
    if programme == "unemployment":
        return unemployment_monthly_fen(rules)
    for table in ("monthly_by_degree_fen", "one_off_by_degree_fen"):
        if table in rules:
            return int(rules[table].get(facts.get("degree"), 0))
    return 0


# --- batches and the bank file (seam 1) -------------------------------------------------------

STATUSES = ("posted", "held", "failed")
FAILURE_REASONS = ("account_closed", "account_frozen", "name_mismatch", "unknown_account",
                   "row_ref_reused")  # the last: a platform error the bank reports, not retried
# Failures decided by the platform before any bank sees the row.
PLATFORM_REASONS = ("no_card", "not_certified", "deceased")
# A retry can help (a new card, a lifted freeze, a corrected name, a later certification).
RETRYABLE = frozenset({"account_closed", "account_frozen", "name_mismatch", "unknown_account",
                       "no_card", "not_certified"})
REF_PART = re.compile(r"^[A-Za-z0-9_-]+$")
BATCH_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def split_batches(count: int, cap: int) -> list[int]:
    """Sizes of the batches `count` rows make with at most `cap` rows each."""
    if cap < 1:
        raise ValueError("a batch holds at least one row")
    full, rest = divmod(count, cap)
    return [cap] * full + ([rest] if rest else [])


def batch_id(programme: str, period: str, bank_code: str, seq: int) -> str:
    """`<programme>-<period>-<bank>-<nnnn>` (≤ 64 chars, [A-Za-z0-9-])."""
    value = f"{programme.replace('_', '')}-{period}-{bank_code}-{seq:04d}"
    if not BATCH_ID.match(value):
        raise ValueError(f"not a batch id: {value!r}")
    return value


def row_ref(programme: str, period: str, payment_id: int, attempt: int) -> str:
    """`<programme>:<period>:<payee>:<attempt>`: the same row to the bank on every resubmission
    of one attempt; a new attempt is a new row."""
    value = f"{programme}:{period}:{payment_id}:{attempt}"
    if len(value) > 64:
        raise ValueError("row reference longer than 64 characters")
    return value


def parse_row_ref(value: str) -> tuple[str, str, int, int]:
    programme, period, payment_id, attempt = value.split(":")
    return programme, period, int(payment_id), int(attempt)


def file_row(*, ref: str, pan: str, name: str, amount: int, memo: str) -> list[str]:
    check_row_amount(amount)
    return [ref, pan, name, str(amount), memo]


def check_row_amount(amount: int) -> None:
    if amount <= 0:
        raise ValueError("a disbursement row pays a positive amount")


def check_result_row(status: str, reason_code: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    if status == "failed" and reason_code not in FAILURE_REASONS:
        raise ValueError(f"unknown failure reason {reason_code!r}")


# --- reconciliation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    count: int = 0
    fen: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.count + other.count, self.fen + other.fen)


@dataclass(frozen=True)
class Reconciliation:
    """A run's figures for its paying office: every payee of the list is paid (posted), held
    by the bank for activation (a success) or failed; nothing is still pending once the run
    is complete, and the three add up to what the list says is due."""

    due: Tally
    posted: Tally
    held: Tally
    failed: Tally
    pending: Tally

    @property
    def accounted(self) -> Tally:
        return self.posted + self.held + self.failed + self.pending

    @property
    def balanced(self) -> bool:
        return self.accounted == self.due

    @property
    def complete(self) -> bool:
        return self.balanced and self.pending.count == 0

    def as_dict(self) -> dict:
        return {name: {"count": tally.count, "fen": tally.fen} for name, tally in (
            ("due", self.due), ("posted", self.posted), ("held", self.held),
            ("failed", self.failed), ("pending", self.pending))} | {
            "balanced": self.balanced, "complete": self.complete}


def reconcile(due: Tally, by_status: Mapping[str, Tally]) -> Reconciliation:
    """Sort the payments' totals by status into the reconciliation (`retrying` counts as
    failed until a later attempt posts)."""
    failed = by_status.get("failed", Tally()) + by_status.get("retrying", Tally())
    # a payment recovered later (an overpayment after death) was paid all the same
    posted = by_status.get("posted", Tally()) + by_status.get("recovered", Tally())
    return Reconciliation(due=due, posted=posted,
                          held=by_status.get("held", Tally()), failed=failed,
                          pending=by_status.get("pending", Tally()))
