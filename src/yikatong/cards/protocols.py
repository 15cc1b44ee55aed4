"""Seams of the card lifecycle to the outside: the partner bank and the transit wallet.

The partner bank owns the financial status of a card (四.6–9): the platform asks the bank
through `BankGateway` and keeps a copy that changes only when a `BankEvent` is applied by
`cards.service.apply_bank_event` (idempotent by the bank's event id). The transit wallet is
owned by the chip and the transit back office; before an exchange the core asks
`WalletBalance` whether money is still on it (四.13). A replacement's application belongs to
the applications domain, which sits above cards: when a lost card is found, cards cancels the
produced replacement card itself and the application through `PendingReplacements`, which
applications registers at wiring time, so cards never imports applications.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from yikatong.core.errors import DomainError
from yikatong.core.money import Fen

if TYPE_CHECKING:
    from yikatong.core.actor import Actor
    from yikatong.db.uow import UnitOfWork


class BankEventType(StrEnum):
    ACTIVATED = "activated"              # 激活: the holder activated the account at a branch
    TEMPORARY_LOSS = "temporary_loss"    # the bank put a temporary loss on the account
    FORMAL_LOSS = "formal_loss"          # the bank recorded a formal loss
    UNBLOCKED = "unblocked"              # the bank lifted its loss (by request or by its rule)
    ACCOUNT_CLOSED = "account_closed"    # the account was closed (e.g. after an exchange)
    EXPIRED = "expired"                  # the financial function passed its validity
    PAYMENT_HELD = "payment_held"        # a payment waits for activation (四.9); note: amount in fen


class FinancialStatus(StrEnum):
    INACTIVE = "inactive"                # produced, not yet activated at the bank
    ACTIVE = "active"
    TEMPORARY_LOSS = "temporary_loss"
    FORMAL_LOSS = "formal_loss"
    EXPIRED = "expired"
    CLOSED = "closed"


@dataclass(frozen=True)
class BankEvent:
    """Something the bank did to a card's account, as it tells the platform.

    `event_id` is the bank's own identifier: the platform applies an event id once.
    `ends_at` (temporary loss only) is when the bank's rule lifts the loss by itself, if it
    does. `task_id` (account_closed only) is the closure task the bank completed.
    """

    event_id: str
    bank_code: str
    card_no: str
    pan: str
    type: BankEventType
    occurred_at: datetime
    channel: str | None = None
    ends_at: datetime | None = None
    task_id: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class BankAck:
    """The bank's answer to a request: its reference, and the events it decided at once.

    A bank that decides in real time returns the resulting events here (the platform applies
    them in the same transaction as the request); a bank that decides later sends them through
    `POST /cards/bank-events` or `BankGateway.poll_events`.
    """

    bank_reference: str
    events: tuple[BankEvent, ...] = field(default_factory=tuple)


class BankUnavailable(DomainError):
    """The bank did not answer: the platform changes nothing and the caller may retry."""

    code = "bank_unavailable"
    http_status = 503
    zh = "合作银行系统暂时无法连接，请稍后重试"
    en = "The partner bank cannot be reached at the moment; try again later"


class BankRefused(DomainError):
    """The bank answered and refused the request; `reason_zh`/`reason_en` say why."""

    code = "bank_refused"
    http_status = 409
    zh = "合作银行拒绝了该请求：{reason_zh}"
    en = "The partner bank refused the request: {reason_en}"


class BankReadNotOffered(DomainError):
    """The card's bank does not let the platform read the account (an optional service)."""

    code = "bank_read_not_offered"
    http_status = 409
    zh = "开户银行未开通通过本平台查询余额和交易的服务，请通过银行渠道查询"
    en = "The card's bank does not offer its balance and payments here; ask the bank itself"


@dataclass(frozen=True)
class BankPayment:
    """One payment on the account as the bank tells it: `status` posted, held (waiting for
    the account's activation) or failed; `kind` the bank's word (deposit, credit, online…)."""

    kind: str
    amount_fen: Fen
    incoming: bool               # money into the account (else out of it)
    status: str
    channel: str
    counterparty: str | None
    at: datetime


# The words of a payment's kind and status, for the holder's page.
PAYMENT_KIND_WORDS = {
    "deposit": ("存款", "deposit"), "withdrawal": ("取款", "withdrawal"),
    "pos_purchase": ("刷卡消费", "card purchase"), "online_payment": ("网上支付", "online payment"),
    "transfer_out": ("转出", "transfer out"), "transfer_in": ("转入", "transfer in"),
    "credit": ("入账（待遇、工资等）", "money paid in (benefits, pay …)"),
    "direct_debit": ("授权扣款（缴费、账单）", "paid with your authorisation (contributions, bills)"),
    "refund": ("退款", "refund"),
}
PAYMENT_STATUS_WORDS = {
    "posted": ("已入账", "done"),
    "held": ("待激活后入账", "held until the account is activated"),
    "failed": ("未成功", "failed"),
}


@dataclass(frozen=True)
class AccountStatement:
    """The account's balance and its latest payments, newest first, with the payments held for
    activation (all of them, oldest first), as the bank saw them `as_of`."""

    balance_fen: Fen
    as_of: datetime
    payments: tuple[BankPayment, ...] = ()
    held: tuple[BankPayment, ...] = ()


# Why the bank refused a payment from the account (BankPaymentResult.reason_code).
PAYMENT_NOT_ACTIVATED = "account_not_activated"
PAYMENT_INSUFFICIENT_FUNDS = "insufficient_funds"
PAYMENT_ACCOUNT_LOST = "account_lost"        # temporary or formal loss in force
PAYMENT_ACCOUNT_FROZEN = "account_frozen"    # frozen at the bank (e.g. a court order)
PAYMENT_ACCOUNT_CLOSED = "account_closed"
PAYMENT_UNKNOWN_ACCOUNT = "unknown_account"
PAYMENT_CARD_REPLACED = "card_replaced"      # the old card of a handed-over replacement
PAYMENT_NOT_REFUNDABLE = "not_refundable"    # no such original payment, or refunded in full
PAYMENT_REFUSALS = (PAYMENT_NOT_ACTIVATED, PAYMENT_INSUFFICIENT_FUNDS, PAYMENT_ACCOUNT_LOST,
                    PAYMENT_ACCOUNT_FROZEN, PAYMENT_ACCOUNT_CLOSED, PAYMENT_UNKNOWN_ACCOUNT,
                    PAYMENT_CARD_REPLACED, PAYMENT_NOT_REFUNDABLE)


@dataclass(frozen=True)
class BankPaymentResult:
    """The bank's answer to `pay_from_account` / `refund_to_account` / `credit_to_account`.

    `status` is "posted" (the money moved; `bank_reference` is the bank's transaction
    reference, `balance_fen` the account's balance after it) or "refused" with `reason_code`
    one of PAYMENT_REFUSALS and the bank's words in `reason_zh` / `reason_en`. The answer is
    final for its request id: asking again with the same id and content returns it unchanged
    (a refused payment tried again later needs a new request id).
    """

    request_id: str
    status: str                  # posted | refused | held (money in, until activation)
    amount_fen: Fen
    bank_reference: str | None = None
    reason_code: str | None = None
    reason_zh: str | None = None
    reason_en: str | None = None
    at: datetime | None = None
    balance_fen: Fen | None = None

    @property
    def posted(self) -> bool:
        return self.status == "posted"


class BankGateway(Protocol):
    """The platform's door to the 15 partner banks (routed by `bank_code`).

    Every method either returns a `BankAck` (the bank took the request) or raises
    `BankUnavailable` (nothing happened, retry is safe) or `BankRefused` (the bank said no).
    The platform never changes its financial copy from a request alone: only the events the
    bank returns or sends change it.
    """

    def activate(self, *, bank_code: str, card_no: str, pan: str,
                 activated_at: datetime, branch_code: str | None) -> BankAck:
        """The holder activates the financial function at a branch of the card's bank (四.9).
        A bank that accepts answers with an `activated` event."""
        ...

    def report_financial_loss(self, *, bank_code: str, card_no: str, pan: str, kind: str,
                              channel: str, reported_at: datetime) -> BankAck:
        """Put a temporary (`kind="temporary_loss"`) or formal (`"formal_loss"`) loss on the
        account. The bank applies its own rule (how long a temporary loss lasts and whether it
        lifts by itself) and answers with the matching event (with `ends_at` if it ends)."""
        ...

    def lift_financial_loss(self, *, bank_code: str, card_no: str, pan: str, channel: str,
                            lifted_at: datetime) -> BankAck:
        """Lift the loss on the account (解挂); answers with an `unblocked` event."""
        ...

    def request_account_closure(self, *, bank_code: str, card_no: str, pan: str,
                                reason: str, requested_at: datetime,
                                successor_card_no: str | None = None) -> str:
        """Ask the bank to close the account of a retired card (after an exchange the holder
        closes it at a branch, 四.8; the money left moves to the successor card's account).
        Returns the bank's task id; completion arrives later as an `account_closed` event
        carrying that task id."""
        ...

    def financial_status(self, *, bank_code: str, pan: str) -> FinancialStatus:
        """What the bank itself says the account's status is now (for reconciliation)."""
        ...

    def poll_events(self, *, now: datetime) -> list[BankEvent]:
        """Events the bank produced on its own since the last poll (a temporary loss lifted by
        its rule, an account closed at the branch), for banks that cannot push them."""
        ...

    def account_statement(self, *, bank_code: str, pan: str, limit: int) -> AccountStatement:
        """OPTIONAL: the account's balance, its `limit` latest payments and the payments held
        for activation, for the holder's own page. A bank need not offer it: one that does not
        raises `BankReadNotOffered` (and the page says so); `BankUnavailable` as above."""
        ...


    def pay_from_account(self, *, bank_code: str, pan: str, amount_fen: Fen, request_id: str,
                         payee_code: str, authorisation: str) -> BankPaymentResult:
        """Take money from the card's account for `payee_code` (a biller, the social insurance
        agency …), on the holder's `authorisation` (the platform's reference of the consent:
        a mandate id or a one-off confirmation id), which the bank records with the
        transaction. The bank posts it into the payee's settlement account with it. Refused
        (not raised) when the account is not activated, short of money, lost, frozen or
        closed. Idempotent by `request_id` (the same id with other content: `BankRefused`)."""
        ...

    def refund_to_account(self, *, bank_code: str, pan: str, amount_fen: Fen, request_id: str,
                          original_request_id: str) -> BankPaymentResult:
        """Give back all or part of an earlier `pay_from_account` (from the payee's settlement
        account to the card's account); refused with `not_refundable` when there is no such
        posted payment on this account or the refunds would pass its amount. Money in, so it
        is accepted while the card is lost. Idempotent by `request_id`."""
        ...

    def credit_to_account(self, *, bank_code: str, pan: str, amount_fen: Fen, request_id: str,
                          payer_code: str, reference: str) -> BankPaymentResult:
        """A payer's credit to the card's account, not tied to an earlier debit (a campaign
        sponsor's transit rebate, say): from `payer_code`'s settlement account at the bank,
        with the payer's `reference` on the holder's statement. Money in, so it is accepted
        while the card is lost; `held` (posted on activation) when the account is not yet
        activated; refused (not raised) with `account_closed`, `account_frozen` or
        `unknown_account`. Idempotent by `request_id`: the same id and content answers the
        first result again and moves nothing (the same id with other content: `BankRefused`);
        a refused credit tried again later needs a new request id."""
        ...

    def submit_disbursement(self, *, bank_code: str, batch_id: str, file_name: str,
                            sm3_hex: str) -> str:
        """Hand the bank a disbursement (代发) file already in its file drop
        (`<root>/<bank_code>/to_bank/<file_name>`, docs/bank-files.md): only the name and the
        SM3 of the file travel. The bank checks the header and the checksum (`BankRefused`
        when they are wrong) and answers its receipt id; the same batch again answers the same
        receipt and is never paid twice."""
        ...

    def disbursement_result(self, *, bank_code: str, batch_id: str) -> str | None:
        """The name of the batch's result file in `<root>/<bank_code>/from_bank/` once the
        bank wrote it, else None (still processing)."""
        ...


class WalletBalance(Protocol):
    """Whether the card's transit wallet (T-Union e-purse) still holds money that was not
    refunded (退值) at a directly-run citizen-card outlet (四.13).

    The transit issue fills this in from its cleared records; until then the default reads the
    refunds that citizen-card outlet operators record (`cards.wallet.RecordedWalletRefunds`).
    """

    def unrefunded_balance(self, *, uow: UnitOfWork, card_no: str) -> Fen | None:
        """The balance still on the wallet in fen (0 = nothing left to refund), or None when it
        is not known (the card could not be read and no refund was recorded). Reads in the
        caller's transaction so the answer and the exchange decision agree."""
        ...


class CardPinUnavailable(DomainError):
    """The card's PIN cannot be checked now (the card cannot be reached)."""

    code = "card_pin_unavailable"
    http_status = 409
    zh = "暂时无法核验卡片密码，请携带身份证和卡片到服务网点办理"
    en = "The card's PIN cannot be checked now; please come to an outlet with your ID card and card"


class CardPinCheck(Protocol):
    def verify(self, *, card_no: str, pin: str) -> None:
        """Check `pin` against the card's own PIN (the social security application's, set at
        personalisation and changed by the holder at a terminal). The card counts wrong
        tries itself and locks after three, whoever asks.

        Returns when the PIN is right. Raises chip.errors.WrongPin(remaining) or
        chip.errors.PinLocked, and CardPinUnavailable when the card cannot be reached.
        The PIN is never logged or stored.
        """
        ...


class PendingReplacements(Protocol):
    def cancel_pending_replacement(self, *, uow: UnitOfWork, actor: Actor, person_id: int,
                                   reason: str) -> bool:
        """Cancel the person's replacement application not yet handed over (the lost card was
        found and unblocked), in the caller's transaction. Returns whether there was one."""
        ...
