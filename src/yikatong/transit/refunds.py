"""Refund of the wallet before a card exchange (退值, 四.13), and what the card core asks of it.

At a directly-run citizen-card outlet (`refund_wallet`): the card is read (its pending top-ups
finished first), the refund is written down with the balance read, the wallet is closed on the
card for good (APPLICATION BLOCK under secure messaging with the card's maintenance key), the
balance is paid out at the till and the wallet goes on the deny list. The wallet has no loss
status: it is open or closed.

A card that cannot be read (`register_unreadable_wallet`) does not hold up the exchange: its
wallet is deny-listed at once and refunded by `jobs.refund_unreadable_wallets` from the back
office's shadow balance once the policy's wait for late terminal uploads has passed.

`TransitWalletBalance` is the card core's `WalletBalance`: it answers from these refunds and
from what contacts last saw of the wallet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from yikatong.cards import service as cards
from yikatong.cards.wallet import RecordedWalletRefunds
from yikatong.chip import terminal
from yikatong.chip.host import secure_command
from yikatong.chip.protocols import CardReader
from yikatong.chip.secure import purse_factors
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.money import Fen
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import UnitOfWork
from yikatong.transit import deny_list, rules
from yikatong.transit.errors import (
    CardNotRegistered,
    RefundNotAtDirectOutlet,
    UnreadableRefundNotAllowed,
    WalletBlockedElsewhere,
    WalletRefundNotFound,
)
from yikatong.transit.models import TopUpOrder, TransitWallet, WalletRefund
from yikatong.transit.policy import WalletPolicy
from yikatong.transit.postings import post
from yikatong.transit.protocols import ShadowBalance
from yikatong.transit.service import contact

PERMANENT = 0x01  # APPLICATION BLOCK P2: the wallet is closed for good


@dataclass(frozen=True)
class RefundView:
    card_no: str
    asn: str
    kind: str
    state: str
    amount: Fen | None
    balance_source: str | None
    outlet_code: str | None
    created_at: datetime
    due_at: datetime | None
    refunded_at: datetime | None


def _view(refund: WalletRefund) -> RefundView:
    return RefundView(refund.card_no, refund.asn, refund.kind, refund.state, refund.amount, refund.balance_source,
                      refund.outlet_code, refund.created_at, refund.due_at, refund.refunded_at)


def get_refund(*, uow: UnitOfWork, card_no: str) -> RefundView:
    refund = uow.session.execute(select(WalletRefund).where(WalletRefund.card_no == card_no)).scalar_one_or_none()
    if refund is None:
        raise WalletRefundNotFound()
    return _view(refund)


# ---------------------------------------------------------------------------------------
# At a directly-run outlet, with the card


def check_direct_outlet(uow: UnitOfWork, actor: Actor) -> None:
    """Refunds only at the counter of a directly-run citizen-card outlet (or by the card-centre
    admin): not at a partner outlet, not at a self-service machine. The one check of both
    doors: the refund with the card here (`refund_wallet`, `register_unreadable_wallet`) and
    the card core's record of a refund (cards.service.record_wallet_refund)."""
    from yikatong.directory.errors import UnknownOutlet
    from yikatong.directory.service import get_outlet

    if actor.role is Role.ADMIN:
        return
    if actor.role is not Role.CITIZEN_OUTLET or actor.channel is not Channel.CITIZEN_OUTLET or not actor.branch_code:
        raise RefundNotAtDirectOutlet()
    try:
        outlet = get_outlet(uow=uow, outlet_code=actor.branch_code)
    except UnknownOutlet:
        raise RefundNotAtDirectOutlet() from None
    if not outlet.refunds_transit_balance:
        raise RefundNotAtDirectOutlet()


def refund_wallet(*, platform, reader: CardReader, actor: Actor, card_no: str,
                  when: datetime | None = None) -> RefundView:
    """Refund and close the wallet of the card in the reader (退值). Idempotent: a card whose
    refund is done returns it. Raises RefundNotAtDirectOutlet, CardNotRegistered (the card in
    the reader is not `card_no`), CardRemoved / TopUpNotWritten (present the card again; a
    refund half-done resumes where it stopped), WalletBlockedElsewhere."""
    with platform.uow() as uow:
        check_direct_outlet(uow, actor)
        card = cards.get_card(uow=uow, card_no=card_no)
        existing = _refund_of(uow, card.asn)
    if existing is not None and existing.state == "refunded":
        return _view(existing)
    reading = contact(platform=platform, reader=reader, actor=actor, when=when)
    if reading.asn != card.asn:
        raise CardNotRegistered(card_no=card_no)
    if not reading.blocked:
        balance = max(reading.balance or 0, 0)  # an overdraft in use is not refunded (none in Changzhou)
        _note_refund(platform, actor, card_no, reading.asn, balance, reading.offline_counter)
        _close_on_card(platform, reader, reading.issuer_id, reading.asn)
    elif existing is None or existing.state != "closing":
        raise WalletBlockedElsewhere()
    return _pay_out(platform, actor, reading.asn)


def _refund_of(uow: UnitOfWork, asn: str, *, lock: bool = False) -> WalletRefund | None:
    query = select(WalletRefund).where(WalletRefund.asn == asn)
    if lock:
        query = query.with_for_update()
    return uow.session.execute(query).scalar_one_or_none()


def _note_refund(platform, actor: Actor, card_no: str, asn: str, balance: Fen, offline_counter: int | None) -> None:
    """Write the balance about to be refunded down before the wallet is closed: once closed,
    the card no longer tells its balance."""
    with platform.uow() as uow:
        refund = _refund_of(uow, asn, lock=True)
        now = uow.now()
        if refund is None:
            refund = WalletRefund(asn=asn, card_no=card_no, requested_by=actor.user_id, created_at=now)
            uow.session.add(refund)
        # A card registered as unreadable that reads after all is refunded from the card.
        refund.kind, refund.state, refund.outlet_code = "card_read", "closing", actor.branch_code
        refund.amount, refund.balance_source, refund.offline_counter = balance, "card", offline_counter
        uow.audit(actor=actor, action="transit.wallet_refund_started", entity_type="transit_wallet",
                  entity_id=asn, after={"amount": balance, "card_no": card_no})
        uow.commit()


def _close_on_card(platform, reader: CardReader, issuer_id: str, asn: str) -> None:
    """APPLICATION BLOCK (permanent) with a MAC under the card's maintenance key."""
    key_version, alg_id = terminal.purse_key(reader)
    challenge = terminal.get_challenge(reader)
    apdu = secure_command(platform.get(KeyStore), factors=purse_factors(bytes.fromhex(issuer_id), bytes.fromhex(asn)),
                          alg_id=alg_id, challenge=challenge, cla=0x84, ins=0x1E, p2=PERMANENT,
                          key_version=key_version)
    terminal.expect(terminal.exchange(reader, apdu), "APPLICATION BLOCK")


def _pay_out(platform, actor: Actor, asn: str) -> RefundView:
    """The wallet is closed on the card: pay its balance out at the till, close and deny-list it."""
    with platform.uow() as uow:
        refund = _refund_of(uow, asn, lock=True)
        if refund.state == "refunded":
            return _view(refund)
        till = rules.outlet_till(refund.outlet_code or "central")
        post(uow=uow, request_id=f"transit:wallet-refund:{asn}", kind="transit.wallet_refunded",
             debit=rules.WALLET_FLOAT, credit=till, amount=refund.amount or 0, memo=refund.card_no)
        _finish(uow, actor, refund, deny_list.DenyReason.WALLET_REFUNDED)
        uow.commit()
        return _view(refund)


def _finish(uow: UnitOfWork, actor: Actor, refund: WalletRefund, reason: deny_list.DenyReason) -> None:
    now = uow.now()
    refund.state, refund.refunded_at = "refunded", now
    _close_wallet(uow, refund.asn, now)
    deny_list.add(uow=uow, asn=refund.asn, reason=reason, actor=actor)
    uow.audit(actor=actor, action="transit.wallet_refunded", entity_type="transit_wallet", entity_id=refund.asn,
              after={"amount": refund.amount, "source": refund.balance_source, "card_no": refund.card_no})
    uow.emit("transit.wallet_refunded", aggregate_type="transit_wallet", aggregate_id=refund.asn,
             payload={"card_no": refund.card_no, "asn": refund.asn, "amount": refund.amount,
                      "kind": refund.kind, "balance_source": refund.balance_source})


def _close_wallet(uow: UnitOfWork, asn: str, now: datetime) -> None:
    wallet = uow.session.execute(select(TransitWallet).where(TransitWallet.asn == asn)).scalar_one_or_none()
    if wallet is None:
        wallet = TransitWallet(asn=asn, issuer_id="", state="open")
        uow.session.add(wallet)
    wallet.state, wallet.closed_at = "closed", now


# ---------------------------------------------------------------------------------------
# A card that cannot be read


def register_unreadable_wallet(*, uow: UnitOfWork, actor: Actor, card_no: str) -> RefundView:
    """The card is too damaged to read: deny-list its wallet now and refund it from the shadow
    balance after the wait (so the exchange can go ahead). Idempotent per card."""
    _check_unreadable_allowed(uow, actor)
    card = cards.get_card(uow=uow, card_no=card_no)
    refund = _refund_of(uow, card.asn, lock=True)
    if refund is not None:
        return _view(refund)
    now = uow.now()
    policy = uow.get(WalletPolicy)
    refund = WalletRefund(asn=card.asn, card_no=card_no, kind="unreadable", state="waiting",
                          requested_by=actor.user_id, outlet_code=actor.branch_code, created_at=now,
                          due_at=now + policy.unreadable_wait)
    uow.session.add(refund)
    _close_wallet(uow, card.asn, now)
    deny_list.add(uow=uow, asn=card.asn, reason=deny_list.DenyReason.UNREADABLE_CARD, actor=actor)
    uow.audit(actor=actor, action="transit.wallet_unreadable_registered", entity_type="transit_wallet",
              entity_id=card.asn, after={"card_no": card_no, "due_at": refund.due_at.isoformat()})
    return _view(refund)


def _check_unreadable_allowed(uow: UnitOfWork, actor: Actor) -> None:
    """The exchange counter (social security outlet) or a directly-run citizen-card outlet."""
    if actor.role in (Role.ADMIN, Role.SS_OUTLET):
        return
    try:
        check_direct_outlet(uow, actor)
    except RefundNotAtDirectOutlet:
        raise UnreadableRefundNotAllowed() from None


def due_unreadable_refunds(*, uow: UnitOfWork, now: datetime) -> list[str]:
    rows = uow.session.execute(
        select(WalletRefund.asn).where(WalletRefund.state == "waiting", WalletRefund.due_at <= now)
        .order_by(WalletRefund.due_at)).scalars()
    return list(rows)


def refund_unreadable(*, uow: UnitOfWork, asn: str, actor: Actor) -> RefundView:
    """Pay out a waiting unreadable-card refund from the shadow balance (to refunds payable:
    the holder is paid by transfer)."""
    refund = _refund_of(uow, asn, lock=True)
    if refund is None or refund.state != "waiting":
        raise WalletRefundNotFound()
    balance, source = _shadow(uow, asn)
    refund.amount, refund.balance_source = max(balance, 0), source
    post(uow=uow, request_id=f"transit:wallet-refund:{asn}", kind="transit.wallet_refunded",
         debit=rules.WALLET_FLOAT, credit=rules.REFUNDS_PAYABLE, amount=refund.amount, memo=refund.card_no)
    _finish(uow, actor, refund, deny_list.DenyReason.UNREADABLE_CARD)
    return _view(refund)


def _shadow(uow: UnitOfWork, asn: str) -> tuple[Fen, str]:
    source = uow.get(ShadowBalance)
    balance = source.balance(uow=uow, asn=asn)
    if balance is not None and not isinstance(source, LastKnownBalance):
        return balance, "shadow"
    return LastKnownBalance().balance(uow=uow, asn=asn) or 0, "last_known"


class LastKnownBalance:
    """SHADOW-BALANCE SEAM, used until clearing's shadow balance is wired: the balance the
    platform last read from the card (contacts include every top-up), which does not yet
    subtract the taps since that contact."""

    def balance(self, *, uow: UnitOfWork, asn: str) -> Fen | None:
        wallet = uow.session.execute(select(TransitWallet).where(TransitWallet.asn == asn)).scalar_one_or_none()
        return None if wallet is None else wallet.last_balance


class ClearingShadowBalance:
    """The clearing package's shadow balance (`clearing.shadow_balances.shadow_balance`)."""

    def balance(self, *, uow: UnitOfWork, asn: str) -> Fen | None:
        from yikatong.clearing import shadow_balances

        return shadow_balances.shadow_balance(uow=uow, asn=asn)


# ---------------------------------------------------------------------------------------
# What the card core asks before an exchange


class TransitWalletBalance:
    """`cards.protocols.WalletBalance` from the transit side.

    0 once the wallet is refunded here (or its unreadable-card refund is registered, or an
    outlet recorded a refund with the card core); None while a refund is half-done, a top-up
    of the card is open, or the platform never read the card (a T-Union wallet can be loaded in
    other cities too, so never seen is not known to be empty); else the balance last read."""

    def unrefunded_balance(self, *, uow: UnitOfWork, card_no: str) -> Fen | None:
        asn = cards.get_card(uow=uow, card_no=card_no).asn
        refund = _refund_of(uow, asn)
        if refund is not None:
            return None if refund.state == "closing" else 0
        if RecordedWalletRefunds().unrefunded_balance(uow=uow, card_no=card_no) == 0:
            return 0
        open_order = uow.session.execute(
            select(TopUpOrder.id).where(TopUpOrder.asn == asn, TopUpOrder.state.in_([str(s) for s in rules.OPEN_STATES]))
            .limit(1)).first()
        if open_order is not None:
            return None
        wallet = uow.session.execute(select(TransitWallet).where(TransitWallet.asn == asn)).scalar_one_or_none()
        if wallet is None or (wallet.last_balance is None and wallet.state != "closed"):
            return None
        return 0 if wallet.state == "closed" else max(wallet.last_balance, 0)
