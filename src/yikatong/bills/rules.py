"""Pure rules of payments out: amounts in fen, contribution bounds, what a mandate covers, when
a payment can be refunded, receipt numbers. No database, no clock (time is passed in)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from yikatong.bills.errors import (
    BaseOutOfRange,
    GradeNotAllowed,
    MonthsNotAllowed,
    SubjectsInvalid,
)
from yikatong.bills.figures import Exam, Flexible, ResidentPension
from yikatong.core.money import Fen


class BillKind(StrEnum):
    FLEXIBLE = "flexible_contribution"      # 灵活就业社保费
    RESIDENT_MEDICAL = "resident_medical"   # 城乡居民医保
    RESIDENT_PENSION = "resident_pension"   # 城乡居民养老保险
    EXAM_FEE = "exam_fee"                   # 人事考试报名费
    UTILITY = "utility"                     # 水电燃气


class BillStatus(StrEnum):
    DUE = "due"              # 待缴
    PAID = "paid"            # 已缴
    REFUNDED = "refunded"    # 已退款
    CANCELLED = "cancelled"  # 已作废 (the biller withdrew it before payment)


class PaymentStatus(StrEnum):
    PAID = "paid"
    REFUNDED = "refunded"


KIND_WORDS = {
    BillKind.FLEXIBLE: ("灵活就业人员社会保险费", "flexible-employment social insurance"),
    BillKind.RESIDENT_MEDICAL: ("城乡居民基本医疗保险费", "residents' medical insurance"),
    BillKind.RESIDENT_PENSION: ("城乡居民基本养老保险费", "residents' pension insurance"),
    BillKind.EXAM_FEE: ("人事考试报名费", "personnel exam fee"),
    BillKind.UTILITY: ("公共事业费", "utility bill"),
}
STATUS_WORDS = {
    BillStatus.DUE: ("待缴", "due"), BillStatus.PAID: ("已缴", "paid"),
    BillStatus.REFUNDED: ("已退款", "refunded"), BillStatus.CANCELLED: ("已作废", "withdrawn"),
    PaymentStatus.REFUNDED: ("已退款", "refunded"),
}
UTILITY_WORDS = {"water": ("水费", "water"), "electricity": ("电费", "electricity"),
                 "gas": ("燃气费", "gas")}


def basis_points(amount: Fen, bp: int) -> Fen:
    """amount × bp / 10 000, rounded half up to the fen (money never becomes a float)."""
    return (amount * bp + 5000) // 10000


@dataclass(frozen=True)
class BaseBounds:
    low_fen: Fen
    high_fen: Fen


def base_bounds(flexible: Flexible) -> BaseBounds:
    """The monthly contribution base a flexible worker may choose: 60 %–300 % of the average
    wage (国办发〔2019〕13号), in fen."""
    wage = flexible.average_monthly_wage_fen
    return BaseBounds(basis_points(wage, flexible.base_min_bp), basis_points(wage, flexible.base_max_bp))


def flexible_amount(flexible: Flexible, *, base_fen: Fen, months: int) -> Fen:
    """What a flexible worker pays for `months` at the chosen monthly base: base × 20 % per
    month. BaseOutOfRange or MonthsNotAllowed otherwise."""
    bounds = base_bounds(flexible)
    if not isinstance(base_fen, int) or not bounds.low_fen <= base_fen <= bounds.high_fen:
        raise BaseOutOfRange(low_yuan=f"{bounds.low_fen / 100:.2f}", high_yuan=f"{bounds.high_fen / 100:.2f}")
    if months not in flexible.months_allowed:
        raise MonthsNotAllowed(allowed=" / ".join(str(m) for m in flexible.months_allowed))
    return basis_points(base_fen, flexible.rate_bp) * months


def pension_amount(pension: ResidentPension, *, grade_fen: Fen) -> Fen:
    """A residents' pension contribution is one of the grades (档次), paid for a year."""
    if grade_fen not in pension.grades_fen:
        raise GradeNotAllowed()
    return grade_fen


def exam_amount(exam: Exam, *, chosen: list[str], offered: list[str]) -> Fen:
    """50 CNY (example) per subject chosen among those the exam offers, each at most once."""
    if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(offered):
        raise SubjectsInvalid(count=len(offered))
    return exam.fee_per_subject_fen * len(chosen)


def flexible_period(start: date, months: int) -> str:
    """The period a flexible contribution covers: "2026-03" for a month, "2026" for a year
    (a yearly payment starts in January)."""
    return f"{start.year:04d}" if months == 12 else f"{start.year:04d}-{start.month:02d}"


def payable(status: str) -> bool:
    return status == BillStatus.DUE


def refundable(status: str) -> bool:
    return status == PaymentStatus.PAID


def mandate_covers(*, mandate_payee: str, mandate_limit_fen: Fen | None, payee_code: str,
                   amount_fen: Fen) -> bool:
    """A standing mandate (代扣) pays a payee's bills up to its limit per payment (no limit if
    None)."""
    return mandate_payee == payee_code and (mandate_limit_fen is None or amount_fen <= mandate_limit_fen)


def mandate_due(due_date: date, today: date) -> bool:
    """A mandate pays a bill on or after its due date (never early, so the holder can still
    look at it)."""
    return due_date <= today


def receipt_no(paid_at: datetime, payment_id: int) -> str:
    """The receipt's number: date and the payment's row, e.g. JF20260302000123."""
    return f"JF{paid_at:%Y%m%d}{payment_id:06d}"


def payment_request_id(payment_key: str) -> str:
    """The bank request id of a payment: stable per idempotency key and at most 64 characters
    (the bank's limit). A key too long to carry whole is carried as its SHA-256, never cut
    short: two keys sharing a prefix must not become one bank request."""
    whole = f"bill:{payment_key}"
    if len(whole) <= 64:
        return whole
    return "bill:sha256:" + hashlib.sha256(payment_key.encode()).hexdigest()[:52]


def refund_request_id(receipt: str) -> str:
    return f"bill-refund:{receipt}"


# The bank's refusal reasons (seam 2) → this domain's error class names (errors.py).
BANK_REASONS = {
    "not_activated": "AccountNotActivated", "account_not_activated": "AccountNotActivated",
    "bank_account_not_activated": "AccountNotActivated",
    "insufficient_funds": "InsufficientFunds", "ledger_insufficient_funds": "InsufficientFunds",
    "lost": "CardLost", "account_lost": "CardLost", "bank_account_lost": "CardLost",
    "closed": "AccountClosed", "account_closed": "AccountClosed", "bank_account_closed": "AccountClosed",
}
