"""Pure decisions of the transit wallet: top-up limits, order states, how a pending load is
recovered from what the card shows, ledger account codes, what a rider-category grant may
say. No I/O; time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from yikatong.core.actor import Channel, Role
from yikatong.core.choices import echo
from yikatong.core.clock import as_utc
from yikatong.core.errors import Conflict
from yikatong.core.money import Fen, format_fen
from yikatong.core.states import StateTable, StateWords
from yikatong.crypto import pboc
from yikatong.transit.errors import (
    BalanceCapExceeded,
    ChannelNotForTopUp,
    InvalidTopUpAmount,
    PayerNotAccepted,
    RiderCategoryByAge,
    RiderCategoryUnknown,
    RiderGrantEndNotAfterToday,
    RiderGrantNeedsEnd,
    RiderGrantTooLong,
    RiderProofKindNotAccepted,
)
from yikatong.transit.fare_config import FareConfig
from yikatong.transit.fare_rules import RiderCategory
from yikatong.transit.policy import WalletPolicy
from yikatong.transit.protocols import PayerKind

# --- channels -------------------------------------------------------------------------------


class TopUpChannel(StrEnum):
    CITIZEN_OUTLET = "citizen_outlet"  # 市民卡网点柜台
    SELF_SERVICE = "self_service"      # 市民卡自助充值机
    NFC = "nfc"                        # 手机 NFC（常州行 APP）
    # 网上充值 (the holder's web page): paid at once, written to the card at its next contact
    # on any channel (service.contact); the cap is checked on the last balance the platform saw
    # and again when the card is written (over the cap: refunded).
    ONLINE = "online"


_CHANNEL_OF_ACTOR = {
    Channel.CITIZEN_OUTLET: TopUpChannel.CITIZEN_OUTLET,
    Channel.SELF_SERVICE: TopUpChannel.SELF_SERVICE,
    Channel.ONLINE_APP: TopUpChannel.NFC,
    Channel.ONLINE_PORTAL: TopUpChannel.ONLINE,
}
_ROLES_OF_CHANNEL = {
    TopUpChannel.CITIZEN_OUTLET: {Role.CITIZEN_OUTLET},
    TopUpChannel.SELF_SERVICE: {Role.CITIZEN_OUTLET},
    TopUpChannel.NFC: {Role.HOLDER},
    TopUpChannel.ONLINE: {Role.HOLDER},
}
ACCEPTED_PAYERS = {
    TopUpChannel.CITIZEN_OUTLET: {PayerKind.CASH, PayerKind.BANK_CARD, PayerKind.E_WALLET},
    TopUpChannel.SELF_SERVICE: {PayerKind.CASH, PayerKind.BANK_CARD, PayerKind.E_WALLET},
    TopUpChannel.NFC: {PayerKind.BANK_CARD, PayerKind.E_WALLET},
    TopUpChannel.ONLINE: {PayerKind.BANK_CARD, PayerKind.E_WALLET},
}
# The payer kind of a travel-discount rebate credited to the wallet (discounts.rebates): a paid
# order written at the next contact like any other, but there is no payer to refund it to.
REBATE_PAYER = "rebate"
# The payer kind of a wallet-paid venue ticket refunded unused (tourism.service.refund): the
# venue operator's clearing payable pays it back to the wallet, written at the next contact.
VENUE_REFUND_PAYER = "venue_refund"
# Credits with no payer behind them: only ever written (waiting at the cap), never refunded,
# never stale.
CREDIT_PAYERS = frozenset({REBATE_PAYER, VENUE_REFUND_PAYER})
# Channels with no card in front of them: a top-up is written at the card's next contact.
WRITTEN_LATER = frozenset({TopUpChannel.ONLINE})
# The channels in words (where a wallet was last seen, where an order was placed).
CHANNEL_WORDS = {
    TopUpChannel.CITIZEN_OUTLET: ("市民卡网点柜台", "a citizen-card outlet counter"),
    TopUpChannel.SELF_SERVICE: ("市民卡自助充值机", "a self-service top-up machine"),
    TopUpChannel.NFC: ("手机 NFC", "a phone's NFC"),
    TopUpChannel.ONLINE: ("网上充值", "online"),
}
WALLET_STATES = StateTable({
    "open": StateWords("可用", "in use"),
    "closed": StateWords("已关闭", "closed", "余额已退或待退", "its balance is or will be refunded"),
})
REFUND_STATES = StateTable({
    "closing": StateWords("退值办理中", "refund under way", "在直营网点读卡后退款",
                          "refunded once the card is read at a directly-run outlet"),
    "waiting": StateWords("等待退值", "waiting for the refund", "等待期满后按记录退款",
                          "refunded from the records after the waiting period"),
    "refunded": StateWords("已退值", "refunded"),
})


def needs_fresh_reading(channel: TopUpChannel) -> bool:
    """A top-up with the card in front of the terminal is checked against a reading taken just
    before; one written later is checked against the last balance seen (and again at the write)."""
    return channel not in WRITTEN_LATER


def top_up_channel(role: Role, channel: Channel) -> TopUpChannel:
    """The top-up channel an actor works through; the admin may use any. Raises
    ChannelNotForTopUp for anyone else (a bank teller, a 12333 agent …)."""
    top_up = _CHANNEL_OF_ACTOR.get(channel)
    if top_up is None or (role is not Role.ADMIN and role not in _ROLES_OF_CHANNEL[top_up]):
        raise ChannelNotForTopUp(role=str(role), channel=str(channel))
    return top_up


def check_payer(channel: TopUpChannel, payer_kind: PayerKind) -> None:
    if payer_kind not in ACCEPTED_PAYERS[channel]:
        raise PayerNotAccepted(channel=str(channel), payer_kind=str(payer_kind))


# --- amounts --------------------------------------------------------------------------------


def check_top_up_amount(amount: object, policy: WalletPolicy) -> Fen:
    """A top-up amount in fen within the policy's limits and steps (whole yuan by default)."""
    limits = policy.top_up

    def refuse(zh: str, en: str) -> InvalidTopUpAmount:
        return InvalidTopUpAmount(min_yuan=format_fen(limits.min_amount), max_yuan=format_fen(limits.max_amount),
                                  step_yuan=format_fen(limits.step), reason_zh=zh, reason_en=en)

    if isinstance(amount, bool) or not isinstance(amount, int):
        raise refuse("金额须为整数分", "the amount must be an integer number of fen")
    if amount < limits.min_amount or amount > limits.max_amount:
        raise refuse(f"{format_fen(amount)} 元超出范围", f"{format_fen(amount)} CNY is out of range")
    if amount % limits.step:
        raise refuse(f"{format_fen(amount)} 元不是整 {format_fen(limits.step)} 元",
                     f"{format_fen(amount)} CNY is not a multiple of {format_fen(limits.step)} CNY")
    return amount


def check_cap(balance: Fen, amount: Fen, policy: WalletPolicy) -> None:
    """Refuse before any money is taken when the card would pass its cap (the card checks again)."""
    cap = policy.wallet.balance_cap
    if balance + amount > cap:
        raise BalanceCapExceeded(after_yuan=format_fen(balance + amount), cap_yuan=format_fen(cap))


# --- transaction counters -------------------------------------------------------------------

# The card's online (load) and offline (purchase) counters are 2 bytes. A transaction carries the
# counter before its increment, so FFFE is the last usable one; at FFFF our cards refuse (9402).
# A card that wrapped to 0000 instead would repeat (card, counter) pairs that clearing takes for
# duplicates, so the platform never transacts at FFFF either: the card must be exchanged.
MAX_COUNTER = 0xFFFF


def counter_exhausted(counter: int | None) -> bool:
    return counter is not None and counter >= MAX_COUNTER


# --- order states ---------------------------------------------------------------------------


class OrderState(StrEnum):
    CREATED = "created"              # recorded, payment not confirmed
    PAID = "paid"                    # money taken, nothing sent to the card yet
    PENDING_WRITE = "pending_write"  # MAC2 issued; the card may or may not have credited (灰记录)
    DONE = "done"                    # the card credited itself (TAC received or recovered)
    REFUNDING = "refunding"          # claimed by the refund job: no MAC2 may be issued any more
    REFUNDED = "refunded"            # the money went back to the payer
    FAILED = "failed"                # no money taken (declined, or never confirmed)


OPEN_STATES = frozenset({OrderState.CREATED, OrderState.PAID, OrderState.PENDING_WRITE,
                         OrderState.REFUNDING})
WRITABLE_STATES = frozenset({OrderState.PAID, OrderState.PENDING_WRITE})
_TRANSITIONS = {
    OrderState.CREATED: {OrderState.PAID, OrderState.FAILED},
    OrderState.PAID: {OrderState.PENDING_WRITE, OrderState.DONE, OrderState.REFUNDING},
    OrderState.PENDING_WRITE: {OrderState.PENDING_WRITE, OrderState.DONE, OrderState.REFUNDING},
    OrderState.REFUNDING: {OrderState.REFUNDED},
    OrderState.DONE: set(),
    OrderState.REFUNDED: set(),
    OrderState.FAILED: set(),
}


# The order states in words with the next step, for refusals (see yikatong.core.states).
ORDER_STATES = StateTable({
    OrderState.CREATED: StateWords("已下单，待付款确认", "placed, waiting for the payment",
                                   "付款确认后写卡", "once paid, it is written to the card"),
    OrderState.PAID: StateWords("已付款，待写卡", "paid, not yet written to the card",
                                "把卡放到读卡器或闸机上写卡", "hold the card to a reader to write it"),
    OrderState.PENDING_WRITE: StateWords(
        "写卡未确认", "written to the card but not yet confirmed",
        "下次刷卡时自动确认，或 7 天后退款", "confirmed at the card's next tap, or refunded after 7 days"),
    OrderState.DONE: StateWords("已到账", "credited to the card"),
    OrderState.REFUNDING: StateWords("退款中", "being refunded", "款项退回付款方",
                                     "the money goes back to the payer"),
    OrderState.REFUNDED: StateWords("已退款", "refunded to the payer"),
    OrderState.FAILED: StateWords("未成功（未扣款）", "failed (no money taken)", "如需充值请重新下单",
                                  "place a new order to top up"),
})
# Rider category grants (transit.models.GrantState).
GRANT_STATES = StateTable({
    "active": StateWords("有效", "in force"),
    "revoked": StateWords("已撤销", "revoked"),
    "expired": StateWords("已过期", "expired", "如仍符合条件请重新办理", "grant it again if the rider still qualifies"),
})


class IllegalOrderTransition(Conflict):
    code = "transit_order_transition"
    zh = "充值订单当前为“{source_zh}”，不能转为“{target_zh}”；下一步：{source_next_zh}"
    en = "The top-up order is {source_en}; it cannot become {target_en}. Next: {source_next_en}"


def check_transition(source: str, target: OrderState) -> None:
    if target not in _TRANSITIONS[OrderState(source)]:
        raise IllegalOrderTransition(**ORDER_STATES.fields("source", source),
                                     **ORDER_STATES.fields("target", target))


def stale_since(last_activity: Iterable[datetime | None]) -> datetime | None:
    """The latest of the given instants (the last time anything happened to a pending order)."""
    instants = [as_utc(moment) for moment in last_activity if moment is not None]
    return max(instants) if instants else None


# --- recovering a pending load --------------------------------------------------------------


class Recovery(StrEnum):
    WRITE = "write"              # nothing was ever sent: write now
    CONFIRMED = "confirmed"      # the card credited our load: the order is done
    REWRITE = "rewrite"          # the card did not credit it: write again with a new MAC2 (补写)
    UNDECIDABLE = "undecidable"  # the card cannot tell: a person must check


@dataclass(frozen=True)
class LoadAttempt:
    """The last MAC2 the platform issued for an order."""

    counter: int  # the online counter at INITIALIZE FOR LOAD (before increment)
    amount: Fen
    old_balance: Fen
    terminal_id: bytes
    card_time: datetime  # the date-time MACed into MAC2 (to the second)


@dataclass(frozen=True)
class LoggedLoad:
    """A load as the card's transaction log (file 0018) shows it."""

    counter: int
    amount: Fen
    terminal_id: bytes
    when: datetime | None


@dataclass(frozen=True)
class CardEvidence:
    online_counter: int | None
    balance: Fen | None
    loads: tuple[LoggedLoad, ...]  # the 0018 entries of type load


def decide_recovery(attempt: LoadAttempt | None, card: CardEvidence) -> Recovery:
    """Did the card credit the last MAC2 of a pending order? (domain-rules §5.3)

    The card adds 1 to its online counter with every credit, and never credits a MAC2 after a
    new INITIALIZE FOR LOAD (the session key changes). So: counter still at the attempt's →
    not credited, write again; counter past it → the 0018 entry of that counter says whether
    it was our load (amount, terminal, date-time); when that entry has rotated out of the log,
    counter = attempt + 1 and balance = old balance + amount is taken as proof.
    """
    if attempt is None:
        return Recovery.WRITE
    counter = card.online_counter
    if counter is None or counter < attempt.counter:
        return Recovery.UNDECIDABLE
    if counter == attempt.counter:
        return Recovery.REWRITE
    logged = next((load for load in card.loads if load.counter == attempt.counter), None)
    if logged is not None:
        ours = (logged.amount == attempt.amount and logged.terminal_id == attempt.terminal_id
                and (logged.when is None or as_utc(logged.when) == as_utc(attempt.card_time)))
        return Recovery.CONFIRMED if ours else Recovery.REWRITE
    if counter == attempt.counter + 1 and card.balance == attempt.old_balance + attempt.amount:
        return Recovery.CONFIRMED
    return Recovery.UNDECIDABLE


def is_load(tx_type: int) -> bool:
    return tx_type in (pboc.TX_EP_LOAD, pboc.TX_ED_LOAD)


# --- ledger accounts ------------------------------------------------------------------------
# Shared with clearing (it posts cleared taps against the float): import these, do not retype.

WALLET_FLOAT = "transit:wallet_float"          # liability: money on cards (卡内沉淀资金)
TOP_UP_UNWRITTEN = "transit:top_up_unwritten"  # liability: paid, not yet on a card (灰记录)
REFUNDS_PAYABLE = "transit:refunds_payable"    # liability: refunds owed to holders (unreadable cards)


def acquirer_receivable(acquirer: str, payer_kind: str) -> str:
    """Asset: top-up money the acquirer owes the transit company (negative after refunds of
    money it already settled)."""
    return f"transit:receivable:{acquirer}:{payer_kind}"


def payment_account(acquirer: str, payer_kind: str, outlet_code: str | None) -> str:
    """Where a top-up's money sits once paid: cash in the outlet's till, anything else with the
    acquirer."""
    if payer_kind == PayerKind.CASH and outlet_code:
        return outlet_till(outlet_code)
    return acquirer_receivable(acquirer, payer_kind)


def outlet_till(outlet_code: str) -> str:
    """Asset: cash in a citizen-card outlet's till (negative when it paid out more than it took,
    the difference coming from the safe)."""
    return f"transit:till:{outlet_code}"


def account_settings(code: str) -> tuple[str, bool]:
    """(ledger account kind, whether it may go negative) of one of the codes above."""
    if code.startswith(("transit:receivable:", "transit:till:")):
        return "asset", True
    if code in (WALLET_FLOAT, TOP_UP_UNWRITTEN, REFUNDS_PAYABLE):
        return "liability", False
    raise ValueError(f"not a transit ledger account: {code}")


# --- rider categories set against a proof (grants.py) ---------------------------------------


def grantable_riders(fares: FareConfig) -> list[RiderCategory]:
    """The categories an outlet grants against a proof: the configured ones without an age."""
    return [rider for rider, rule in fares.riders.items() if rule.min_age is None]


def check_grant(*, category: str, proof_kind: str, valid_until: date | None, today: date,
                fares: FareConfig) -> RiderCategory:
    """The category of a grant asked for today, or the first thing wrong with the request:
    RiderCategoryUnknown, RiderCategoryByAge, RiderProofKindNotAccepted, RiderGrantNeedsEnd,
    RiderGrantEndNotAfterToday, RiderGrantTooLong."""
    rider = next((r for r in fares.riders if r.value == category), None)
    if rider is None:
        raise RiderCategoryUnknown(category=echo(category),
                                   allowed=[r.value for r in grantable_riders(fares)])
    rule = fares.riders[rider]
    if rule.min_age is not None:
        raise RiderCategoryByAge(category=category, min_age=rule.min_age)
    if proof_kind not in rule.proof_kinds:
        raise RiderProofKindNotAccepted(category=category, proof_kind=proof_kind,
                                        accepted=", ".join(rule.proof_kinds) or "-")
    if valid_until is None and rule.valid_until_required:
        raise RiderGrantNeedsEnd(category=category)
    if valid_until is not None and valid_until <= today:
        raise RiderGrantEndNotAfterToday(valid_until=valid_until.isoformat(), today=today.isoformat())
    if rule.longest_days is not None and valid_until is not None \
            and valid_until > (latest := today + timedelta(days=rule.longest_days)):
        raise RiderGrantTooLong(category=category, longest_days=rule.longest_days, latest=latest.isoformat())
    return rider


def grant_in_force(valid_from: date, valid_until: date | None, day: date) -> bool:
    """Whether an active grant covers `day` (both ends inclusive; no end: until revoked)."""
    return valid_from <= day and (valid_until is None or day <= valid_until)


def preferred_rider(categories: Iterable[RiderCategory], fares: FareConfig) -> RiderCategory | None:
    """Of several categories a holder has at once (a disabled student), the one the card
    should carry: the one charged least anywhere (the lowest discount rate naming it), ties
    going to the category declared first. The card holds one category; the holder keeps the
    best of what they proved."""
    order = list(fares.riders)

    def cheapest(rider: RiderCategory) -> tuple[Fraction, int]:
        rates = [row.rate.fraction for row in fares.discounts if row.riders and rider in row.riders]
        return min(rates, default=Fraction(1)), order.index(rider) if rider in order else len(order)

    return min(categories, key=cheapest, default=None)


def mask_proof_reference(reference: str) -> str:
    """A certificate number as lists and audit records show it: the last few characters only."""
    keep = 4 if len(reference) >= 10 else 2 if len(reference) >= 4 else 0
    return "*" * (len(reference) - keep) + reference[len(reference) - keep:]


# A wallet refund (退值, transit.refunds; models.WalletRefund) in words, for the counter's pages.
WALLET_REFUND_STATES = StateTable({
    "closing": StateWords("退值中", "being refunded", "持卡在读卡器上完成退值",
                          "finish it with the card on the reader"),
    "waiting": StateWords("坏卡已登记，等待期满", "unreadable card registered, waiting",
                          "期满后按记录退值", "refunded from the records when the wait ends"),
    "refunded": StateWords("已退值", "refunded"),
})
WALLET_REFUND_KINDS = {"card_read": ("读卡退值", "refund with the card read"),
                       "unreadable": ("坏卡退值", "refund of an unreadable card")}
