"""Pure rules of the reference bank (seed 二.2, 三.3–4, 四.6–9). No I/O; time passed in.

What an account may do depends on its status and the financial validity: until activation,
payments from the card and money into it are held (四.9); a lost account takes money in but
lets none out; past the 10-year validity the card cannot be used in person while online
payments and credits still work (二.2). The account is a CNY debit account for use in China
only (三.3).
"""

from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from yikatong.banking.errors import (
    AccountClosed,
    AccountLost,
    AccountNotActivated,
    AlreadyLost,
    CardPresentExpired,
    CardReplaced,
    CountryNotSupported,
    CryptogramMismatch,
    CurrencyNotSupported,
)
from yikatong.cards.bank_rules import BankLossRule
from yikatong.cards.protocols import FinancialStatus
from yikatong.chip.codec import bcd_digits
from yikatong.core.money import MAX_AMOUNT_FEN, format_fen
from yikatong.ledger.errors import InvalidAmount
from yikatong.ledger.rules import AccountKind, Leg, check_amount


class AccountStatus(StrEnum):
    NOT_ACTIVATED = "not_activated"
    ACTIVE = "active"
    TEMPORARY_LOSS = "temporary_loss"
    FORMAL_LOSS = "formal_loss"
    CLOSED = "closed"


LOST = frozenset({AccountStatus.TEMPORARY_LOSS, AccountStatus.FORMAL_LOSS})
LOSS_NAMES = {
    AccountStatus.TEMPORARY_LOSS: ("临时挂失", "a temporary loss"),
    AccountStatus.FORMAL_LOSS: ("正式挂失", "a formal loss"),
}


class TransactionKind(StrEnum):
    DEPOSIT = "deposit"                # cash paid in at the counter
    WITHDRAWAL = "withdrawal"          # cash at the counter or an ATM, with the card
    POS_PURCHASE = "pos_purchase"      # with the card at a POS
    ONLINE_PAYMENT = "online_payment"  # card not present
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    CREDIT = "credit"                  # benefits, payroll and other money paid in
    DIRECT_DEBIT = "direct_debit"      # paid to a payee on the holder's authorisation
    REFUND = "refund"                  # a direct debit given back (all or part)


CARD_PRESENT = frozenset({TransactionKind.WITHDRAWAL, TransactionKind.POS_PURCHASE})
INCOMING = frozenset({TransactionKind.DEPOSIT, TransactionKind.TRANSFER_IN, TransactionKind.CREDIT,
                      TransactionKind.REFUND})
# Cash changes hands at the counter: it cannot wait for an activation, so it is refused.
AT_THE_COUNTER = frozenset({TransactionKind.DEPOSIT}) | CARD_PRESENT
# Refused (not held) before activation: the counter's cash, and a payee's direct debit (the
# payee needs a yes or no now; the platform tells the holder to activate and pays again).
NEVER_HELD = AT_THE_COUNTER | {TransactionKind.DIRECT_DEBIT}
# Between the customer and a named party's settlement account at the bank (payee or payer).
SETTLED_WITH_A_PARTY = frozenset({TransactionKind.DIRECT_DEBIT, TransactionKind.REFUND})


class Outcome(StrEnum):
    POST = "post"
    HOLD = "hold"


def decide(*, status: str, valid_until: date | None, kind: TransactionKind,
           today: date) -> Outcome:
    """Post the transaction now, hold it until activation, or raise why it is refused."""
    status = AccountStatus(status)
    if status == AccountStatus.CLOSED:
        raise AccountClosed()
    if status == AccountStatus.NOT_ACTIVATED:
        if kind in NEVER_HELD:
            raise AccountNotActivated()
        return Outcome.HOLD
    if kind in INCOMING:
        return Outcome.POST
    if status in LOST:
        zh, en = LOSS_NAMES[status]
        raise AccountLost(kind_zh=zh, kind_en=en)
    if kind in CARD_PRESENT and card_present_expired(valid_until, today):
        raise CardPresentExpired(valid_until=valid_until.isoformat())
    return Outcome.POST


# What the holder does with the card itself; money paid in, and the branch settling the old
# account by a counter transfer (closure or move), still work after a replacement.
PAID_WITH_THE_CARD = CARD_PRESENT | {TransactionKind.ONLINE_PAYMENT, TransactionKind.DIRECT_DEBIT}
REPLACED = "replaced"


def check_not_replaced(retired_reason: str | None, successor_card_no: str | None) -> None:
    """A card whose replacement was handed over is dead on every door (四.7): no unblock, no
    activation, no payment with it, whatever the old account's status says."""
    if retired_reason == REPLACED:
        raise CardReplaced(successor=successor_card_no or "-")


def card_present_expired(valid_until: date | None, today: date) -> bool:
    """二.2: after the last valid day no counter, ATM or POS transaction with the card."""
    return valid_until is not None and today > valid_until


def financial_status(status: str, valid_until: date | None, today: date) -> FinancialStatus:
    """The account's status in the platform's terms."""
    status = AccountStatus(status)
    if status == AccountStatus.ACTIVE and card_present_expired(valid_until, today):
        return FinancialStatus.EXPIRED
    return {AccountStatus.NOT_ACTIVATED: FinancialStatus.INACTIVE,
            AccountStatus.ACTIVE: FinancialStatus.ACTIVE,
            AccountStatus.TEMPORARY_LOSS: FinancialStatus.TEMPORARY_LOSS,
            AccountStatus.FORMAL_LOSS: FinancialStatus.FORMAL_LOSS,
            AccountStatus.CLOSED: FinancialStatus.CLOSED}[status]


# ---------------------------------------------------------------------------------------
# Losses


def check_loss_possible(status: str, kind: str) -> None:
    """A formal loss may follow a temporary one (it supersedes it); nothing else stacks."""
    status = AccountStatus(status)
    if status == AccountStatus.CLOSED:
        raise AccountClosed()
    if status == AccountStatus.FORMAL_LOSS or (status in LOST and kind == status):
        zh, en = LOSS_NAMES[status]
        raise AlreadyLost(kind_zh=zh, kind_en=en)


def loss_ends_at(rule: BankLossRule, kind: str, reported_at: datetime) -> datetime | None:
    """When the bank's own rule lifts a temporary loss (None: it holds until unblocked)."""
    if kind != AccountStatus.TEMPORARY_LOSS or not rule.auto_lift:
        return None
    return reported_at + rule.temporary_loss_duration


def status_after_lift(activated: bool) -> AccountStatus:
    return AccountStatus.ACTIVE if activated else AccountStatus.NOT_ACTIVATED


def online_formal_loss_action(bank_code: str) -> str:
    """"temporary_loss" or "note", as the bank declares it (cards/bank_loss_rules.toml: the
    platform tells the holder what the bank does in its loss answer)."""
    from yikatong.cards.bank_rules import bank_loss_rule

    return bank_loss_rule(bank_code).online_formal_loss


# ---------------------------------------------------------------------------------------
# CNY and China only (三.3)

_CNY = {"CNY", "156", "0156"}
_CHINA = {"CN", "CHN", "156", "0156"}


def check_currency(currency: object) -> None:
    if str(currency).strip().upper() not in _CNY:
        raise CurrencyNotSupported(currency=str(currency)[:8])


def check_country(country: object) -> None:
    if str(country).strip().upper() not in _CHINA:
        raise CountryNotSupported(country=str(country)[:8])


# ---------------------------------------------------------------------------------------
# The chip's transaction data (CDOL1 of the debit application, chip/commands/debit.py)


@dataclass(frozen=True)
class ChipTransactionData:
    amount: int  # fen
    other_amount: int
    country: str  # ISO 3166 numeric, e.g. "156"
    currency: str  # ISO 4217 numeric, e.g. "156"
    day: str  # YYMMDD
    tx_type: int
    unpredictable_number: bytes


def parse_cdol1(data: bytes) -> ChipTransactionData:
    """9F02 amount(6) 9F03 other(6) 9F1A country(2) 5F2A currency(2) 9A date(3) 9C type(1)
    9F37 unpredictable number(4): what the chip's cryptogram covers."""
    if len(data) != 24:
        raise CryptogramMismatch(what_zh="交易数据长度应为 24 字节",
                                 what_en="the transaction data must be 24 bytes")
    try:
        digits = bcd_digits(data[:16])
        day = bcd_digits(data[16:19])
        return ChipTransactionData(
            amount=int(digits[:12]), other_amount=int(digits[12:24]),
            country=str(int(digits[24:28])), currency=str(int(digits[28:32])),
            day=day, tx_type=data[19], unpredictable_number=data[20:24])
    except ValueError:
        raise CryptogramMismatch(what_zh="交易数据不是合法的 BCD 编码",
                                 what_en="the transaction data are not valid BCD") from None


def check_chip_data(data: ChipTransactionData, *, amount: int) -> None:
    """The amount, currency and country the chip signed are the request's, CNY and China."""
    check_currency(data.currency)
    check_country(data.country)
    if data.amount != amount or data.other_amount != 0:
        raise CryptogramMismatch(
            what_zh=f"密文金额 {format_fen(data.amount)} 元，请求金额 {format_fen(amount)} 元",
            what_en=f"the chip signed CNY {format_fen(data.amount)}, the request says "
                    f"CNY {format_fen(amount)}")


# ---------------------------------------------------------------------------------------
# Ledger accounts and legs


@dataclass(frozen=True)
class BankBook:
    """One of the bank's own ledger accounts."""

    name: str
    kind: AccountKind
    allow_negative: bool


CASH = BankBook("cash", AccountKind.ASSET, True)  # the vault's float is not modelled
CARD_SETTLEMENT = BankBook("card_settlement", AccountKind.LIABILITY, False)  # owed to merchants
DUE_TO_BANKS = BankBook("due_to_banks", AccountKind.LIABILITY, False)  # transfers out
DUE_FROM_BANKS = BankBook("due_from_banks", AccountKind.ASSET, True)  # transfers in
INBOUND_CLEARING = BankBook("inbound_clearing", AccountKind.ASSET, True)  # credits from payers


def customer_code(bank_code: str, pan: str) -> str:
    return f"bank:{bank_code}:customer:{pan}"


def book_code(bank_code: str, book: BankBook) -> str:
    return f"bank:{bank_code}:{book.name}"


def settlement_code(bank_code: str, party: str) -> str:
    """A party's settlement account at the bank: a paying office (代发 payer, e.g. CZ-SI) or a
    payee of direct debits (a biller, the social insurance agency). A liability of the bank
    that may go below zero: how the party funds it or is paid out of it is outside the model."""
    return f"bank:{bank_code}:settlement:{party}"


def journal_request_id(bank_code: str, request_id: str) -> str:
    """The ledger is shared: a bank's request ids are namespaced by the bank."""
    return f"bank:{bank_code}:{request_id}"


# For a transaction between the customer and the outside: the bank's own account on the other
# side, and whether the customer's money goes out (debit of the deposit account) or comes in.
COUNTER_BOOK = {
    TransactionKind.DEPOSIT: (CASH, False),
    TransactionKind.WITHDRAWAL: (CASH, True),
    TransactionKind.POS_PURCHASE: (CARD_SETTLEMENT, True),
    TransactionKind.ONLINE_PAYMENT: (CARD_SETTLEMENT, True),
    TransactionKind.TRANSFER_OUT: (DUE_TO_BANKS, True),
    TransactionKind.TRANSFER_IN: (DUE_FROM_BANKS, False),
    TransactionKind.CREDIT: (INBOUND_CLEARING, False),
}
SETTLEMENT_OUTGOING = {TransactionKind.DIRECT_DEBIT: True, TransactionKind.REFUND: False}


def party_legs(kind: TransactionKind, *, bank_code: str, pan: str, party: str,
               amount: int) -> list[Leg]:
    """A direct debit (customer → party) or its refund (party → customer)."""
    amount = check_amount(amount)
    customer = customer_code(bank_code, pan)
    other = settlement_code(bank_code, party)
    return [(customer, amount), (other, -amount)] if SETTLEMENT_OUTGOING[kind] \
        else [(other, amount), (customer, -amount)]


def legs(kind: TransactionKind, *, bank_code: str, pan: str, amount: int,
         party: str | None = None) -> list[Leg]:
    """Debit +, credit − (ledger convention). The customer's account is a liability of the
    bank: money out is a debit of it, money in a credit. A direct debit or refund is with
    `party`'s settlement account (party_legs)."""
    if kind in SETTLED_WITH_A_PARTY:
        if not party:
            raise ValueError(f"a {kind} names its party")
        return party_legs(kind, bank_code=bank_code, pan=pan, party=party, amount=amount)
    amount = check_amount(amount)
    book, outgoing = COUNTER_BOOK[kind]
    customer = customer_code(bank_code, pan)
    other = book_code(bank_code, book)
    return [(customer, amount), (other, -amount)] if outgoing else [(other, amount),
                                                                    (customer, -amount)]


def check_positive_amount(amount: object) -> int:
    """An integer number of fen above zero and at most MAX_AMOUNT_FEN (core.money)."""
    amount = check_amount(amount)
    if amount < 0:
        raise InvalidAmount(reason_zh="金额须大于零", reason_en="the amount must be positive")
    if amount > MAX_AMOUNT_FEN:
        raise InvalidAmount(reason_zh=f"单笔金额不能超过 {format_fen(MAX_AMOUNT_FEN)} 元",
                            reason_en=f"one amount is at most {format_fen(MAX_AMOUNT_FEN)} CNY")
    return amount


def fingerprint(**request: object) -> str:
    """Identifies a money request's content, so a retry is told from a reused request id."""
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# Names (a disbursement row names its payee; the bank compares with its own record)

_NAME_DOTS = str.maketrans({"•": "·", "・": "·", "．": "·", ".": "·", "‧": "·", "∙": "·"})


@functools.lru_cache(maxsize=65536)  # a disbursement file's names repeat (common names)
def normalise_name(name: str | None) -> str | None:
    """A holder's name as the bank compares it: NFKC (full-width to half-width), no spaces,
    one kind of middle dot (少数民族 names: 买买提·艾力), Latin letters upper case."""
    if name is None:
        return None
    value = unicodedata.normalize("NFKC", name).translate(_NAME_DOTS)
    value = "".join(value.split()).upper()
    return value[:64] or None
