"""Top-ups (圈存) and card contacts: the transit wallet's online side.

A top-up order is paid first, then written to the card (四.11): the citizen-card counter, the
self-service machine and the phone (NFC) all follow the same steps —

1. `contact`: the card is read (balance, online counter) and whatever is still pending for it
   is finished first (below);
2. `create_top_up`: limits and the 1000 CNY cap are checked against that reading, then the
   money is taken through the `PaymentGateway` (idempotent per order) and posted to the ledger;
3. `write_top_up`: INITIALIZE FOR LOAD → MAC2 from the load host → CREDIT FOR LOAD → TAC.

The platform writes down every MAC2 it issues (counter, old balance, card random, date-time)
and commits that before the MAC2 leaves: if the card goes away during the credit, the order
stays `pending_write` (灰记录). At the next contact on any channel `rules.decide_recovery`
reads the card's counter, balance and log: the load happened (the order is done; its TAC is
fetched with GET TRANSACTION PROVE when it is still the card's last transaction) or it did
not (the same order is written again with a new MAC2, 补写). A second MAC2 is only issued while
the card's online counter still shows the first one unused, so a top-up is never credited
twice, and no second order is taken for a card while one is open. Orders with no contact for
the policy's 7 days are refunded by `jobs.refund_stale_top_ups`.

Steps that talk to a card or a payment provider span several transactions by nature (the
card and the acquirer do not join ours); each state change is still one unit of work with its
audit record, its outbox event and its ledger journal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified

from yikatong.chip import sw, terminal
from yikatong.chip.apdu import command
from yikatong.chip.apps import purse as purse_app
from yikatong.chip.errors import BalanceLimitExceeded, TransactionInterrupted
from yikatong.chip.host import LoadHost, LoadRequest, verify_tac
from yikatong.chip.protocols import CardReader, CardRemoved
from yikatong.chip.records import LoadRecord
from yikatong.chip.terminal import PendingLoad, PurseView
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import as_utc, local_date
from yikatong.core.errors import IdempotencyKeyReused
from yikatong.core.killpoints import killpoint
from yikatong.core.money import Fen
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import UnitOfWork
from yikatong.transit import deny_list, riders, rules
from yikatong.transit.errors import (
    CardCounterExhausted,
    CardReadingRequired,
    ChannelNotForTopUp,
    TopUpNeedsReview,
    TopUpNotFound,
    TopUpNotWritable,
    TopUpNotWritten,
    TopUpPending,
    WalletClosed,
    WalletExpired,
    WrongCardForOrder,
)
from yikatong.transit.fare_config import FareConfig, default_fare_config
from yikatong.transit.models import TopUpOrder, TransitWallet
from yikatong.transit.policy import WalletPolicy
from yikatong.transit.postings import post
from yikatong.transit.protocols import (
    Payer,
    PayerKind,
    Payment,
    PaymentDeclined,
    PaymentGateway,
    PaymentState,
)
from yikatong.transit.rules import OrderState, Recovery, TopUpChannel

COUNTER_EXHAUSTED = "counter_exhausted"  # why an order was refunded: the card takes no more loads

# ---------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class TopUpView:
    order_no: str
    asn: str
    amount: Fen
    channel: str
    state: str
    payer_kind: str
    balance_read: Fen
    payment_reference: str | None
    expected_counter: int | None
    write_attempts: int
    tac: str | None
    tac_verified: bool | None
    recovered: bool
    needs_review: bool
    failure_reason: str | None
    created_at: datetime
    paid_at: datetime | None
    done_at: datetime | None
    refunded_at: datetime | None
    rider_update: riders.RiderUpdate | None = None  # told at the contact that wrote the order


@dataclass(frozen=True)
class SettledOrder:
    order_no: str
    outcome: str  # confirmed | written | refunded | needs_review | refund_conflict | deferred (a rebate)


@dataclass(frozen=True)
class CardReading:
    """What a contact saw, after finishing the card's pending top-ups."""

    asn: str
    issuer_id: str
    card_number: str
    blocked: bool
    balance: Fen | None
    online_counter: int | None
    offline_counter: int | None
    expiry: date | None
    settled: tuple[SettledOrder, ...] = ()
    rider_update: riders.RiderUpdate | None = None  # the card's rider category rewritten (riders.py)


def _view(order: TopUpOrder) -> TopUpView:
    return TopUpView(
        order_no=order.order_no, asn=order.asn, amount=order.amount, channel=order.channel,
        state=order.state, payer_kind=order.payer_kind, balance_read=order.balance_read,
        payment_reference=order.payment_reference, expected_counter=order.expected_counter,
        write_attempts=order.write_attempts, tac=order.tac, tac_verified=order.tac_verified,
        recovered=order.recovered, needs_review=order.needs_review, failure_reason=order.failure_reason,
        created_at=order.created_at, paid_at=order.paid_at, done_at=order.done_at,
        refunded_at=order.refunded_at,
    )


# ---------------------------------------------------------------------------------------
# Personalisation


def rider_category_at_issue(*, birth_date: date, issue_date: date, fares: FareConfig | None = None,
                            uow: UnitOfWork | None = None, person_id: int | None = None) -> str:
    """The rider category a new card carries in file 0017: the registry's category of the
    holder on the issue day (riders.registry_rider) — an active grant in force that day
    (student, disabled: set against a proof at an outlet), else the holder's age for the
    categories the fare configuration gives an age (70+ in Changzhou), else adult. Without a
    `uow` and `person_id` only the age is looked at. A category that changes later is rewritten
    at the card's next online contact (riders.keep_rider_current)."""
    fares = fares or default_fare_config()
    if uow is None or person_id is None:
        return fares.rider_by_age(birth_date, issue_date).value
    return riders.registry_rider(uow=uow, person_id=person_id, birth_date=birth_date, on=issue_date,
                                 fares=fares).value


# ---------------------------------------------------------------------------------------
# Seams and small helpers


def policy_of(platform) -> WalletPolicy:
    return platform.get(WalletPolicy)


def card_time(platform, when: datetime | None = None) -> datetime:
    """The date-time a card transaction carries: to the second, as the card keeps it."""
    return (when or platform.clock.now()).replace(microsecond=0)


def contact_channel(actor: Actor) -> TopUpChannel:
    """The channel a card is presented through (the admin counts as a citizen-card counter).
    A channel without a card reader (online) presents no card: ChannelNotForTopUp."""
    if actor.role is Role.ADMIN:
        try:
            channel = rules.top_up_channel(actor.role, actor.channel)
        except ChannelNotForTopUp:
            return TopUpChannel.CITIZEN_OUTLET
        return TopUpChannel.CITIZEN_OUTLET if channel in rules.WRITTEN_LATER else channel
    channel = rules.top_up_channel(actor.role, actor.channel)
    if channel in rules.WRITTEN_LATER:
        raise ChannelNotForTopUp(role=str(actor.role), channel=str(actor.channel))
    return channel


def _order(uow: UnitOfWork, order_no: str, *, lock: bool = False) -> TopUpOrder:
    query = select(TopUpOrder).where(TopUpOrder.order_no == order_no)
    if lock:
        query = query.with_for_update()
    order = uow.session.execute(query).scalar_one_or_none()
    if order is None:
        raise TopUpNotFound()
    return order


def _wallet(uow: UnitOfWork, asn: str) -> TransitWallet | None:
    return uow.session.execute(select(TransitWallet).where(TransitWallet.asn == asn)).scalar_one_or_none()


def _open_order_nos(uow: UnitOfWork, asn: str, states) -> list[str]:
    return list(uow.session.execute(
        select(TopUpOrder.order_no).where(TopUpOrder.asn == asn, TopUpOrder.state.in_([str(s) for s in states]))
        .order_by(TopUpOrder.id)).scalars())


def _audit(uow: UnitOfWork, actor: Actor, order: TopUpOrder, action: str, before: str | None,
           **details) -> None:
    uow.audit(actor=actor, action=action, entity_type="transit_top_up", entity_id=order.order_no,
              before={"state": before} if before else None, after={"state": order.state, **details})


def _set_state(order: TopUpOrder, target: OrderState, now: datetime) -> str:
    before = order.state
    rules.check_transition(before, target)
    order.state = str(target)
    order.updated_at = now
    return before


# ---------------------------------------------------------------------------------------
# Reading


def get_top_up(*, uow: UnitOfWork, order_no: str, actor: Actor | None = None) -> TopUpView:
    """One order; a holder sees only the orders they placed (others read as not found)."""
    order = _order(uow, order_no)
    if actor is not None and actor.role is Role.HOLDER and not actor.owns(order.created_by_user_id):
        raise TopUpNotFound()
    return _view(order)


def list_top_ups(*, uow: UnitOfWork, asn: str, limit: int = 50) -> list[TopUpView]:
    orders = uow.session.execute(
        select(TopUpOrder).where(TopUpOrder.asn == asn).order_by(TopUpOrder.id.desc()).limit(min(limit, 500)))
    return [_view(order) for order in orders.scalars()]


def load_records(*, uow: UnitOfWork, asn: str | None = None, since: datetime | None = None) -> list[LoadRecord]:
    """The completed loads as chip `LoadRecord`s (what clearing and the shadow balance need),
    oldest first. A load confirmed without its TAC (the card had moved on) has tac ''."""
    query = select(TopUpOrder).where(TopUpOrder.state == str(OrderState.DONE)).order_by(TopUpOrder.done_at)
    if asn is not None:
        query = query.where(TopUpOrder.asn == asn)
    if since is not None:
        query = query.where(TopUpOrder.done_at >= since)
    return [_load_record(order) for order in uow.session.execute(query).scalars()]


def _load_record(order: TopUpOrder) -> LoadRecord:
    return _pending_load(order).record(bytes.fromhex(order.tac or ""), recovered=order.recovered)


def _pending_load(order: TopUpOrder) -> PendingLoad:
    """The order's last load attempt as the terminal library describes a load in flight."""
    return PendingLoad(
        asn=bytes.fromhex(order.asn), issuer_id=bytes.fromhex(order.issuer_id),
        terminal_id=bytes.fromhex(order.write_terminal_id or ""), amount=order.amount,
        old_balance=order.write_old_balance or 0, counter=order.expected_counter or 0,
        key_version=order.load_key_version or 0, alg_id=order.load_alg_id or 0, when=order.write_at,
    )


# ---------------------------------------------------------------------------------------
# A card presented on any channel


def contact(*, platform, reader: CardReader, actor: Actor, when: datetime | None = None) -> CardReading:
    """Read the card, note what was seen, finish its pending top-ups (confirm or write), and
    bring its rider category in line with the registry (riders.keep_rider_current).

    Raises CardRemoved when the card leaves before it was read, TopUpNotWritten when it leaves
    during a write (the order stays pending for the next contact)."""
    when = card_time(platform, when)
    channel = contact_channel(actor)
    view = _with_exhausted_counter(reader, terminal.read_purse(reader))
    asn = view.public.asn.hex().upper()
    _record_sighting(platform, view, channel, balance=view.balance, online=view.online_counter)
    settled, balance, online, rider_update = [], view.balance, view.online_counter, None
    if not view.blocked:
        # Before the orders: a relayed contact replays its use case each round, and the last
        # command of a write must stay the last one (a written order is not written again).
        rider_update = riders.keep_rider_current(platform=platform, reader=reader, actor=actor, view=view,
                                                 when=when)
        with platform.uow() as uow:
            open_orders = _open_order_nos(uow, asn, rules.WRITABLE_STATES)
        for order_no in open_orders:
            outcome, record = _settle(platform, reader, order_no, view, actor, when, channel)
            settled.append(SettledOrder(order_no, outcome))
            if record is not None:
                balance, online = record.balance_after, record.counter + 1
        if any(item.outcome == "written" for item in settled):
            _record_sighting(platform, view, channel, balance=balance, online=online)
        settled.extend(_check_refunded_orders(platform, asn, view, actor))
        riders.note_told(platform=platform, asn=asn, update=rider_update)
    return CardReading(
        asn=asn, issuer_id=view.public.issuer_id.hex().upper(), card_number=view.public.card_number,
        blocked=view.blocked, balance=balance, online_counter=online,
        offline_counter=view.offline_counter, expiry=view.public.expiry, settled=tuple(settled),
        rider_update=rider_update,
    )


def _with_exhausted_counter(reader: CardReader, view: PurseView) -> PurseView:
    """The reading, with the online counter at FFFF when the card says it is used up.

    `read_purse` takes the counter from an INITIALIZE FOR LOAD probe, or from the 0018 log when
    the card refuses the probe; a card whose counter is used up refuses it (9402), and once its
    last load has left the log the reading shows no counter at all. Ask once more then."""
    if view.blocked or view.online_counter is not None:
        return view
    probe = bytes([purse_app.KEY_INDEX]) + (1).to_bytes(4, "big") + bytes(6)
    answer = terminal.exchange(reader, command(0x80, 0x50, 0x00, 0x02, probe, le=0x10))
    if answer.sw == sw.COUNTER_EXHAUSTED:
        return dataclasses.replace(view, online_counter=rules.MAX_COUNTER)
    return view


def _record_sighting(platform, view: PurseView, channel: TopUpChannel, *, balance: Fen | None,
                     online: int | None) -> None:
    asn = view.public.asn.hex().upper()
    for attempt in (1, 2):
        with platform.uow() as uow:
            wallet = _wallet(uow, asn)
            if wallet is None:
                wallet = TransitWallet(asn=asn, issuer_id=view.public.issuer_id.hex().upper(), state="open")
                uow.session.add(wallet)
            wallet.expires_on = view.public.expiry
            if not view.blocked:
                wallet.last_balance = balance
                wallet.last_online_counter = online
                wallet.last_offline_counter = view.offline_counter
            wallet.last_seen_at = uow.now()
            wallet.last_seen_channel = str(channel)
            try:
                uow.commit()
                return
            except IntegrityError:  # first sighting of this card on two channels at once
                if attempt == 2:
                    raise


def _evidence(view: PurseView) -> rules.CardEvidence:
    loads = tuple(
        rules.LoggedLoad(entry.counter, entry.amount, entry.terminal_id, entry.when)
        for entry in view.transactions if rules.is_load(entry.tx_type)
    )
    return rules.CardEvidence(view.online_counter, view.balance, loads)


def _attempt(order: TopUpOrder) -> rules.LoadAttempt | None:
    if order.expected_counter is None:
        return None
    return rules.LoadAttempt(order.expected_counter, order.amount, order.write_old_balance or 0,
                             bytes.fromhex(order.write_terminal_id or ""), order.write_at)


def _settle(platform, reader: CardReader, order_no: str, view: PurseView, actor: Actor, when: datetime,
            channel: TopUpChannel) -> tuple[str, LoadRecord | None]:
    with platform.uow() as uow:
        order = _order(uow, order_no)
    decision = rules.decide_recovery(_attempt(order), _evidence(view))
    if decision is Recovery.CONFIRMED:
        _complete(platform, order_no, _recovered_record(reader, order), actor, recovered=True)
        return "confirmed", None
    if decision is Recovery.UNDECIDABLE:
        _flag_review(platform, order_no, actor, "card_counter_unexplained")
        return "needs_review", None
    rebate = order.payer_kind in rules.CREDIT_PAYERS  # a rebate or a venue refund
    if rules.counter_exhausted(view.online_counter):
        if rebate:  # no payer to refund a rebate to: it waits for a person (or the next card)
            return "deferred", None
        # Paid before the card's counter was known to be used up: it can never be written.
        refund_order(platform=platform, order_no=order_no, reason=COUNTER_EXHAUSTED, actor=actor)
        return "refunded", None
    try:
        record = _write(platform, reader, order_no, actor, when, channel)
    except BalanceLimitExceeded:
        if rebate:  # written once the holder has spent below the cap
            return "deferred", None
        refund_order(platform=platform, order_no=order_no, reason="balance_cap", actor=actor)
        return "refunded", None
    return "written", record


def _recovered_record(reader: CardReader, order: TopUpOrder) -> LoadRecord | None:
    """The load's TAC from GET TRANSACTION PROVE while it is still the card's last transaction."""
    return terminal.recover_load(reader, _pending_load(order))


def _flag_review(platform, order_no: str, actor: Actor, reason: str) -> None:
    with platform.uow() as uow:
        order = _order(uow, order_no, lock=True)
        if order.needs_review:
            return
        order.needs_review = True
        order.updated_at = uow.now()
        _audit(uow, actor, order, "transit.top_up_needs_review", None, reason=reason)
        uow.emit("transit.top_up_needs_review", aggregate_type="transit_top_up", aggregate_id=order_no,
                 payload={"order_no": order_no, "asn": order.asn, "state": order.state, "reason": reason})
        uow.commit()


def _check_refunded_orders(platform, asn: str, view: PurseView, actor: Actor) -> list[SettledOrder]:
    """A refunded order the card turns out to have credited after all (it came back after the
    7 days): the holder has the money twice; flag it for a person (nothing is taken back)."""
    with platform.uow() as uow:
        candidates = uow.session.execute(
            select(TopUpOrder).where(TopUpOrder.asn == asn, TopUpOrder.state == str(OrderState.REFUNDED),
                                     TopUpOrder.expected_counter.is_not(None),
                                     TopUpOrder.needs_review.is_(False))).scalars().all()
    flagged = []
    for order in candidates:
        if rules.decide_recovery(_attempt(order), _evidence(view)) is Recovery.CONFIRMED:
            _flag_review(platform, order.order_no, actor, "refunded_but_credited")
            flagged.append(SettledOrder(order.order_no, "refund_conflict"))
    return flagged


# ---------------------------------------------------------------------------------------
# Ordering and paying


def _request_hash(asn: str, amount: object, channel: TopUpChannel, payer: Payer) -> str:
    text = json.dumps([asn, amount, str(channel), str(payer.kind), payer.reference], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def create_top_up(*, platform, actor: Actor, idempotency_key: str, asn: str, amount: Fen,
                  payer: Payer) -> TopUpView:
    """Order a top-up of `amount` fen for the card `asn` and take the money.

    The card must have been read on a contact within the policy's minutes (its balance is the
    one the cap is checked against), its wallet open, and no other order of it open. A retry
    with the same idempotency key returns the same order and never pays twice; the same key
    with a different request raises IdempotencyKeyReused. Raises InvalidTopUpAmount,
    BalanceCapExceeded, CardReadingRequired, TopUpPending, WalletClosed, WalletExpired (file
    0015's expiry read at the contact has passed), ChannelNotForTopUp, PayerNotAccepted,
    PaymentDeclined (the order is failed), PaymentUnavailable (the order waits; retry with the
    same key).
    """
    channel = rules.top_up_channel(actor.role, actor.channel)
    rules.check_payer(channel, PayerKind(payer.kind))
    request_hash = _request_hash(asn, amount, channel, payer)
    order_no = _find_or_create_order(platform, actor, idempotency_key, asn, amount, channel, payer, request_hash)
    with platform.uow() as uow:
        order = _order(uow, order_no)
    if order.state == OrderState.CREATED:
        _take_payment(platform, order, actor)
    with platform.uow() as uow:
        return _view(_order(uow, order_no))


def _find_or_create_order(platform, actor: Actor, idempotency_key: str, asn: str, amount: Fen,
                          channel: TopUpChannel, payer: Payer, request_hash: str) -> str:
    policy = policy_of(platform)
    for attempt in (1, 2):
        with platform.uow() as uow:
            existing = _order_of_key(uow, idempotency_key, request_hash)
            if existing is not None:
                return existing
            rules.check_top_up_amount(amount, policy)
            try:
                balance = _checked_reading(uow, asn, policy, fresh=rules.needs_fresh_reading(channel))
            except TopUpPending:
                # The open order may be this request's own: a first try that this retry
                # overtook, committed while the retry waited for the wallet's lock.
                existing = _order_of_key(uow, idempotency_key, request_hash)
                if existing is None:
                    raise
                return existing
            rules.check_cap(balance, amount, policy)
            now = uow.now()
            order = TopUpOrder(
                order_no=f"TU{uuid.uuid4().hex[:18].upper()}", idempotency_key=idempotency_key,
                request_hash=request_hash, asn=asn, issuer_id=_wallet(uow, asn).issuer_id, amount=amount,
                channel=str(channel), outlet_code=actor.branch_code if channel != TopUpChannel.NFC else None,
                payer_kind=str(payer.kind), payer_reference=payer.reference[:64], state=str(OrderState.CREATED),
                balance_read=balance, created_by=actor.user_id, created_by_user_id=actor.account_id, created_at=now, updated_at=now,
            )
            uow.session.add(order)
            uow.session.flush()
            _audit(uow, actor, order, "transit.top_up_created", None, amount=amount, channel=str(channel),
                   balance_read=balance)
            try:
                uow.commit()
            except IntegrityError:  # the same key at the same moment: answer with that order
                if attempt == 2:
                    raise
                continue
            killpoint("transit.top_up.ordered")  # the order committed, no money taken
            return order.order_no
    raise AssertionError("unreachable")


def _order_of_key(uow: UnitOfWork, idempotency_key: str, request_hash: str) -> str | None:
    """The order an earlier try with this key made; IdempotencyKeyReused for another request."""
    existing = uow.session.execute(
        select(TopUpOrder).where(TopUpOrder.idempotency_key == idempotency_key)).scalar_one_or_none()
    if existing is not None and existing.request_hash != request_hash:
        raise IdempotencyKeyReused(key=idempotency_key)
    return existing.order_no if existing is not None else None


def _checked_reading(uow: UnitOfWork, asn: str, policy: WalletPolicy, *, fresh: bool = True) -> Fen:
    """The card's balance from a fresh contact (`fresh`; otherwise the last one the platform
    saw, for an order written at the next contact), when its wallet may take a top-up.

    The wallet row is locked and its version bumped, so two orders for one card at the same
    moment cannot both see "no open order": the second waits (PostgreSQL) or fails with
    ConcurrentChange."""
    wallet = uow.session.execute(
        select(TransitWallet).where(TransitWallet.asn == asn).with_for_update()).scalar_one_or_none()
    minutes = policy.pending.reading_valid_minutes
    if wallet is None or wallet.last_seen_at is None or wallet.last_balance is None:
        raise CardReadingRequired(minutes=minutes)
    if fresh and uow.now() - as_utc(wallet.last_seen_at) > policy.reading_valid_for:
        raise CardReadingRequired(minutes=minutes)
    if wallet.state != "open" or deny_list.is_listed(uow=uow, asn=asn):
        raise WalletClosed()
    if wallet.expires_on is not None and local_date(uow.now()) > wallet.expires_on:
        raise WalletExpired(expires_on=wallet.expires_on.isoformat())
    if rules.counter_exhausted(wallet.last_online_counter):
        raise CardCounterExhausted()
    open_orders = _open_order_nos(uow, asn, rules.OPEN_STATES)
    if open_orders:
        raise TopUpPending(order_no=open_orders[0])
    flag_modified(wallet, "state")
    return wallet.last_balance


def payment_key(order_no: str) -> str:
    """The idempotency key the acquirer sees for an order: one payment per order, ever."""
    return f"transit-top-up:{order_no}"


def _take_payment(platform, order: TopUpOrder, actor: Actor) -> None:
    gateway: PaymentGateway = platform.get(PaymentGateway)
    key = payment_key(order.order_no)
    try:
        payment = gateway.authorise(key=key, amount=order.amount,
                                    payer=Payer(PayerKind(order.payer_kind), order.payer_reference),
                                    description=f"交通钱包充值 {order.order_no}")
        if payment.state == PaymentState.AUTHORISED:
            payment = gateway.capture(key=key)
    except PaymentDeclined:
        _fail(platform, order.order_no, "payment_declined", actor)
        raise
    killpoint("transit.top_up.captured")  # the acquirer has the money, the order does not say so
    record_payment_outcome(platform=platform, order_no=order.order_no, payment=payment, actor=actor)


def record_payment_outcome(*, platform, order_no: str, payment: Payment | None, actor: Actor) -> str:
    """Bring a created order in line with what the acquirer says: captured → paid (and posted),
    anything else → failed. Returns the order's state."""
    if payment is not None and payment.state == PaymentState.CAPTURED:
        with platform.uow() as uow:
            order = _order(uow, order_no, lock=True)
            if order.state != OrderState.CREATED:
                return order.state
            before = _set_state(order, OrderState.PAID, uow.now())
            order.acquirer, order.payment_reference, order.paid_at = payment.acquirer, payment.reference, uow.now()
            post(uow=uow, request_id=f"transit:top-up:{order_no}:paid", kind="transit.top_up_paid",
                 debit=rules.payment_account(payment.acquirer, order.payer_kind, order.outlet_code),
                 credit=rules.TOP_UP_UNWRITTEN, amount=order.amount, memo=order_no)
            _audit(uow, actor, order, "transit.top_up_paid", before, payment_reference=payment.reference)
            uow.emit("transit.top_up_paid", aggregate_type="transit_top_up", aggregate_id=order_no,
                     payload={"order_no": order_no, "asn": order.asn, "amount": order.amount,
                              "channel": order.channel})
            killpoint("transit.top_up.paying")  # inside the transaction: lost with it
            uow.commit()
            killpoint("transit.top_up.paid")  # paid and posted, not written to the card
            return order.state
    return _fail(platform, order_no, "payment_not_captured", actor)


def _fail(platform, order_no: str, reason: str, actor: Actor) -> str:
    with platform.uow() as uow:
        order = _order(uow, order_no, lock=True)
        if order.state != OrderState.CREATED:
            return order.state
        before = _set_state(order, OrderState.FAILED, uow.now())
        order.failure_reason = reason
        _audit(uow, actor, order, "transit.top_up_failed", before, reason=reason)
        uow.commit()
        return order.state


# ---------------------------------------------------------------------------------------
# Writing to the card


def write_top_up(*, platform, reader: CardReader, actor: Actor, order_no: str,
                 when: datetime | None = None) -> TopUpView:
    """Write a paid order to the card in the reader (a contact: anything else pending for this
    card is finished too). Idempotent: a done order is returned as it is. Raises
    WrongCardForOrder, TopUpNotWritable (not paid, refunded), TopUpNotWritten (the card left;
    the order is kept), TopUpNeedsReview."""
    with platform.uow() as uow:
        order = _view(_order(uow, order_no))
    if order.state == OrderState.DONE:
        return order
    if order.state not in rules.WRITABLE_STATES:
        raise TopUpNotWritable(order_no=order_no, **rules.ORDER_STATES.fields("state", order.state))
    reading = contact(platform=platform, reader=reader, actor=actor, when=when)
    if reading.asn != order.asn:
        raise WrongCardForOrder(order_no=order_no)
    with platform.uow() as uow:
        order = _view(_order(uow, order_no))
    if order.state == OrderState.REFUNDED and order.failure_reason == COUNTER_EXHAUSTED:
        raise CardCounterExhausted()
    if order.state in (OrderState.DONE, OrderState.REFUNDED):
        return dataclasses.replace(order, rider_update=reading.rider_update)
    if order.needs_review:
        raise TopUpNeedsReview(order_no=order_no)
    raise TopUpNotWritable(order_no=order_no, **rules.ORDER_STATES.fields("state", order.state))


def top_up_at_terminal(*, platform, reader: CardReader, actor: Actor, idempotency_key: str, amount: Fen,
                       payer: Payer, when: datetime | None = None) -> TopUpView:
    """The counter / self-service flow in one go: read the card, order and pay, write."""
    reading = contact(platform=platform, reader=reader, actor=actor, when=when)
    if reading.blocked:
        raise WalletClosed()
    order = create_top_up(platform=platform, actor=actor, idempotency_key=idempotency_key, asn=reading.asn,
                          amount=amount, payer=payer)
    written = write_top_up(platform=platform, reader=reader, actor=actor, order_no=order.order_no, when=when)
    # The card's rider category was brought up to date at the first contact, if at all.
    return dataclasses.replace(written, rider_update=written.rider_update or reading.rider_update)


def _write(platform, reader: CardReader, order_no: str, actor: Actor, when: datetime,
           channel: TopUpChannel) -> LoadRecord:
    policy = policy_of(platform)
    host = _OrderLoadHost(platform, order_no, actor, when, balance_limit=policy.wallet.balance_cap)
    with platform.uow() as uow:
        amount = _order(uow, order_no).amount
    try:
        record = terminal.load(reader, host, amount, policy.load_terminal(str(channel)), when)
    except (TransactionInterrupted, CardRemoved):
        raise TopUpNotWritten(order_no=order_no) from None
    killpoint("transit.top_up.credited")  # the card has the money, the order is pending_write
    _complete(platform, order_no, record, actor, recovered=False)
    return record


class _OrderLoadHost:
    """The load host for one order: it writes the attempt down (and commits) before the MAC2
    leaves, and refuses a MAC2 the card could credit on top of an earlier one."""

    def __init__(self, platform, order_no: str, actor: Actor, when: datetime, *, balance_limit: Fen) -> None:
        self._platform = platform
        self._order_no = order_no
        self._actor = actor
        self._when = when
        self._host = LoadHost(platform.get(KeyStore), balance_limit=balance_limit)
        self.balance_limit = balance_limit

    def authorise_load(self, request: LoadRequest) -> bytes:
        with self._platform.uow() as uow:
            order = _order(uow, self._order_no, lock=True)
            if order.state not in rules.WRITABLE_STATES:
                raise TopUpNotWritable(order_no=order.order_no,
                                       **rules.ORDER_STATES.fields("state", order.state))
            if request.asn.hex().upper() != order.asn:
                raise WrongCardForOrder(order_no=order.order_no)
            random = request.random.hex().upper()
            same_attempt = order.expected_counter == request.online_counter and order.write_random == random
            if order.expected_counter is not None and request.online_counter != order.expected_counter:
                # The card's counter moved since our last MAC2: that one may have been credited.
                raise TopUpNeedsReview(order_no=order.order_no)
            mac2 = self._host.authorise_load(request)
            if not same_attempt:
                before = _set_state(order, OrderState.PENDING_WRITE, uow.now())
                order.expected_counter = request.online_counter
                order.write_old_balance = request.old_balance
                order.write_random = random
                order.write_terminal_id = request.terminal_id.hex().upper()
                order.write_at = self._when
                order.write_attempts += 1
                order.load_key_version, order.load_alg_id = request.key_version, request.alg_id
                _audit(uow, self._actor, order, "transit.top_up_write_authorised", before,
                       attempt=order.write_attempts, counter=request.online_counter)
                uow.commit()
                killpoint("transit.top_up.mac2_issued")  # the attempt is written down, the card not credited
            return mac2


def _complete(platform, order_no: str, record: LoadRecord | None, actor: Actor, *, recovered: bool) -> None:
    """The card credited the order: done, TAC kept (and checked), money moved to the float."""
    tac_ok = None if record is None else verify_tac(record, platform.get(KeyStore))
    with platform.uow() as uow:
        order = _order(uow, order_no, lock=True)
        if order.state == OrderState.DONE:
            return
        before = _set_state(order, OrderState.DONE, uow.now())
        order.done_at = uow.now()
        order.recovered = recovered
        order.tac = record.tac if record is not None else None
        order.tac_verified = tac_ok
        if tac_ok is False:
            order.needs_review = True
        post(uow=uow, request_id=f"transit:top-up:{order_no}:loaded", kind="transit.top_up_loaded",
             debit=rules.TOP_UP_UNWRITTEN, credit=rules.WALLET_FLOAT, amount=order.amount, memo=order_no)
        _audit(uow, actor, order, "transit.top_up_done", before, recovered=recovered, tac_verified=tac_ok,
               counter=order.expected_counter)
        uow.emit("transit.top_up_done", aggregate_type="transit_top_up", aggregate_id=order_no,
                 payload={"order_no": order_no, "asn": order.asn, "amount": order.amount,
                          "online_counter": order.expected_counter, "recovered": recovered,
                          "tac": order.tac, "tac_verified": tac_ok})
        killpoint("transit.top_up.completing")  # inside the transaction: lost with it
        uow.commit()
    killpoint("transit.top_up.done")


# ---------------------------------------------------------------------------------------
# Refunding an order that was never written


def refund_order(*, platform, order_no: str, reason: str, actor: Actor) -> TopUpView:
    """Give a paid, unwritten order's money back through the acquirer.

    The order is first claimed (`refunding`, committed) so no MAC2 can be issued for it any more;
    then the acquirer refunds (same key: never twice); then the ledger. A PaymentUnavailable
    leaves it `refunding` for the job to retry."""
    with platform.uow() as uow:
        order = _order(uow, order_no, lock=True)
        if order.payer_kind in rules.CREDIT_PAYERS:  # a rebate (or venue refund) has no payer: it is only ever written
            raise TopUpNotWritable(order_no=order_no, **rules.ORDER_STATES.fields("state", order.state))
        if order.state in (OrderState.PAID, OrderState.PENDING_WRITE):
            before = _set_state(order, OrderState.REFUNDING, uow.now())
            _audit(uow, actor, order, "transit.top_up_refund_started", before, reason=reason)
            uow.commit()
        elif order.state != OrderState.REFUNDING:
            raise TopUpNotWritable(order_no=order_no, **rules.ORDER_STATES.fields("state", order.state))
    payment = platform.get(PaymentGateway).refund(key=payment_key(order_no))
    with platform.uow() as uow:
        order = _order(uow, order_no, lock=True)
        if order.state == OrderState.REFUNDING:
            before = _set_state(order, OrderState.REFUNDED, uow.now())
            order.refunded_at = uow.now()
            order.failure_reason = reason
            post(uow=uow, request_id=f"transit:top-up:{order_no}:refunded", kind="transit.top_up_refunded",
                 debit=rules.TOP_UP_UNWRITTEN,
                 credit=rules.payment_account(payment.acquirer, order.payer_kind, order.outlet_code),
                 amount=order.amount, memo=order_no)
            _audit(uow, actor, order, "transit.top_up_refunded", before, reason=reason)
            uow.emit("transit.top_up_refunded", aggregate_type="transit_top_up", aggregate_id=order_no,
                     payload={"order_no": order_no, "asn": order.asn, "amount": order.amount, "reason": reason})
            uow.commit()
        return _view(order)
