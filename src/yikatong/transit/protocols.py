"""Seams of the transit wallet to the outside: the payment acquirer that takes top-up money,
and the back office's shadow balance of a card.

Implementations: `acquirer.ReferenceAcquirer` (the in-repo acquirer, its own table), and for
the shadow balance `refunds.LastKnownBalance` until the clearing package's
`clearing.shadow_balances.shadow_balance` is there (wiring picks whichever exists). Errors a caller
must handle are defined here, beside the protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from yikatong.core.errors import DomainError
from yikatong.core.money import Fen

if TYPE_CHECKING:
    from yikatong.db.uow import UnitOfWork


class PayerKind(StrEnum):
    BANK_CARD = "bank_card"      # UnionPay debit/credit card at a POS or online
    E_WALLET = "e_wallet"        # an e-wallet app (WeChat Pay, Alipay, UnionPay QuickPass …)
    CASH = "cash"                # cash at a citizen-card outlet counter


class PaymentState(StrEnum):
    AUTHORISED = "authorised"
    CAPTURED = "captured"
    VOIDED = "voided"            # authorised, then released without capture
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Payer:
    """Who pays: the kind and a reference the acquirer understands (a masked card number, an
    e-wallet order id, an outlet's till). Never a full card number or a password."""

    kind: PayerKind
    reference: str


@dataclass(frozen=True)
class Payment:
    """The acquirer's view of one payment, identified by the caller's idempotency key."""

    key: str
    reference: str  # the acquirer's own reference
    acquirer: str   # which acquirer (ledger accounts are kept per acquirer and payer kind)
    payer_kind: PayerKind
    amount: Fen
    state: PaymentState
    at: datetime


class PaymentDeclined(DomainError):
    """The acquirer answered and refused: nothing was taken."""

    code = "transit_payment_declined"
    http_status = 402
    zh = "支付被拒绝：{reason_zh}"
    en = "The payment was declined: {reason_en}"


class PaymentUnavailable(DomainError):
    """The acquirer did not answer: whether it took the money is unknown until the same key is
    tried again (the acquirer answers a repeated key with the first outcome)."""

    code = "transit_payment_unavailable"
    http_status = 503
    zh = "支付渠道暂时无法连接，请稍后用同一订单重试"
    en = "The payment provider cannot be reached; retry the same order later"


class PaymentGateway(Protocol):
    """The acquirer that takes top-up money (bank cards, e-wallet apps, cash at the counter).

    Every call carries the caller's idempotency `key` (one per top-up order): a repeated call
    with the same key returns the first outcome and never moves money twice. Raises
    `PaymentDeclined` (refused, nothing moved) or `PaymentUnavailable` (no answer; retry with
    the same key).
    """

    name: str

    def authorise(self, *, key: str, amount: Fen, payer: Payer, description: str) -> Payment:
        """Reserve `amount` from the payer. The same key with a different amount or payer
        raises IdempotencyKeyReused."""
        ...

    def capture(self, *, key: str) -> Payment:
        """Take the authorised money (state captured). Capturing twice returns the capture."""
        ...

    def void(self, *, key: str) -> Payment:
        """Release an authorisation that was not captured (state voided)."""
        ...

    def refund(self, *, key: str) -> Payment:
        """Give captured money back to the payer in full (state refunded); a second refund
        returns the first."""
        ...

    def status(self, *, key: str) -> Payment | None:
        """What the acquirer knows of the key, or None when it never saw it."""
        ...


class ShadowBalance(Protocol):
    """The back office's balance of a card's wallet, rebuilt from top-ups and cleared taps
    (the clearing package owns it). Used to refund a card that can no longer be read."""

    def balance(self, *, uow: UnitOfWork, asn: str) -> Fen | None:
        """The shadow balance in fen, or None when the back office knows nothing of the card."""
        ...
