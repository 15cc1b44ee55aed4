"""Pure ledger rules: legs, signs, balances. No I/O.

Sign convention: a posting's amount is in fen, debit positive and credit negative, so the
postings of a journal sum to zero. An account's balance is kept on its normal side:
debits minus credits for assets and expenses, credits minus debits for liabilities,
equity and income. A customer's deposit at a bank (a liability of the bank) is therefore a
positive balance, and "never negative" means the same thing for every kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from enum import StrEnum

from yikatong.core.errors import InvalidInput
from yikatong.core.money import MAX_BALANCE_FEN, Fen, format_fen
from yikatong.ledger.errors import (
    BalanceLimitExceeded,
    InvalidAmount,
    UnbalancedJournal,
    UnsupportedCurrency,
)

CURRENCY = "CNY"
MAX_CODE_LENGTH = 128

Leg = tuple[str, Fen]


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


_DEBIT_NORMAL = {AccountKind.ASSET, AccountKind.EXPENSE}


def normal_sign(kind: AccountKind | str) -> int:
    """+1 when a debit raises the balance (asset, expense), −1 otherwise."""
    return 1 if AccountKind(kind) in _DEBIT_NORMAL else -1


def balance_change(kind: AccountKind | str, amount: Fen) -> Fen:
    """How a posting of `amount` (debit +, credit −) moves the balance of an account of `kind`."""
    return normal_sign(kind) * amount


def check_currency(currency: str) -> str:
    if currency != CURRENCY:
        raise UnsupportedCurrency(currency=str(currency)[:8])
    return currency


def check_amount(amount: object) -> Fen:
    """An exact integer number of fen; floats, bools, Decimals and strings are refused."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(reason_zh=f"不是整数分（{type(amount).__name__}）",
                            reason_en=f"not an integer fen amount ({type(amount).__name__})")
    if amount == 0:
        raise InvalidAmount(reason_zh="金额为零", reason_en="zero amount")
    if abs(amount) > MAX_BALANCE_FEN:
        raise InvalidAmount(reason_zh=f"金额超过上限 {format_fen(MAX_BALANCE_FEN)} 元",
                            reason_en=f"the amount exceeds the bound of {format_fen(MAX_BALANCE_FEN)} CNY")
    return amount


def check_balance_bound(balance: Fen) -> Fen:
    """A balance within ±MAX_BALANCE_FEN (core.money): a posting that would take an account past
    it is refused, so no sum of balances and amounts overflows a 64-bit column."""
    if abs(balance) > MAX_BALANCE_FEN:
        raise BalanceLimitExceeded(limit_yuan=format_fen(MAX_BALANCE_FEN))
    return balance


def check_code(code: object) -> str:
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH or code != code.strip():
        raise InvalidInput(reason_zh="账户代码无效", reason_en="invalid account code")
    return code


def check_request_id(request_id: object) -> str:
    if not isinstance(request_id, str) or not request_id or len(request_id) > 128:
        raise InvalidInput(reason_zh="请求编号无效", reason_en="invalid request id")
    return request_id


def check_journal_text(kind: object, memo: object) -> None:
    """A journal kind (1–32 characters) and memo (at most 256) that fit their columns."""
    if not isinstance(kind, str) or not 0 < len(kind) <= 32:
        raise InvalidInput(reason_zh="业务类型无效", reason_en="invalid journal kind")
    if not isinstance(memo, str) or len(memo) > 256:
        raise InvalidInput(reason_zh="摘要过长", reason_en="memo too long")


def account_kind(kind: object) -> AccountKind:
    try:
        return AccountKind(kind)
    except ValueError:
        raise InvalidInput(reason_zh="账户类别无效", reason_en="invalid account kind") from None


def validate_legs(legs: Iterable[object]) -> list[Leg]:
    """The legs as (code, fen) pairs, if there are at least two and they sum to zero."""
    checked: list[Leg] = []
    for leg in legs:
        if not isinstance(leg, tuple | list) or len(leg) != 2:
            raise InvalidAmount(reason_zh="分录须为（账户, 金额）", reason_en="a leg is (account code, amount)")
        checked.append((check_code(leg[0]), check_amount(leg[1])))
    if len(checked) < 2:
        raise InvalidAmount(reason_zh="至少需要两条分录", reason_en="a journal needs at least two legs")
    total = sum(amount for _, amount in checked)
    if total != 0:
        raise UnbalancedJournal(total=total)
    return checked


def legs_fingerprint(kind: str, legs: Iterable[Leg]) -> str:
    """Identifies a request's content for idempotency; the order of legs does not matter."""
    canonical = json.dumps([kind, sorted(legs)], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def net_by_account(legs: Iterable[Leg]) -> dict[str, Fen]:
    """The net amount per account (an account may appear in several legs)."""
    net: dict[str, Fen] = {}
    for code, amount in legs:
        net[code] = net.get(code, 0) + amount
    return net
