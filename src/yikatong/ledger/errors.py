"""What the ledger refuses, with stable codes (zh + en). Nothing in a ledger error carries
an account code: codes may contain a card number."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, InvalidInput, NotFound


class InvalidAmount(InvalidInput):
    code = "ledger_invalid_amount"
    zh = "金额须为非零整数（分）：{reason_zh}"
    en = "Amounts must be non-zero integers in fen: {reason_en}"


class UnbalancedJournal(InvalidInput):
    code = "ledger_unbalanced"
    zh = "借贷不平衡：分录合计 {total} 分"
    en = "The postings do not balance: they sum to {total} fen"


class UnsupportedCurrency(InvalidInput):
    code = "ledger_unsupported_currency"
    zh = "仅支持人民币，不支持 {currency}"
    en = "Only CNY is supported, not {currency}"


class InsufficientFunds(DomainError):
    code = "ledger_insufficient_funds"
    http_status = 409
    zh = "余额不足：尚缺 {shortfall} 分"
    en = "Insufficient funds: {shortfall} fen short"


class BalanceLimitExceeded(DomainError):
    code = "ledger_balance_limit"
    http_status = 422
    zh = "超出账户余额上限（{limit_yuan} 元）"
    en = "The account balance would pass its bound ({limit_yuan} CNY)"


class AccountNotFound(NotFound):
    code = "ledger_account_not_found"
    zh = "未找到账务账户"
    en = "Ledger account not found"


class AccountExists(Conflict):
    code = "ledger_account_exists"
    zh = "账务账户已存在且属性不同"
    en = "The ledger account already exists with different settings"
