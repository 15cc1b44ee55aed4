"""Refund before exchange (退值, 四.13): only at directly-run outlets, the wallet closed on the
card and deny-listed, the exchange then allowed; unreadable cards refunded after the wait."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.transit.conftest import (
    BANK_CARD,
    CASH,
    COUNTER,
    MACHINE,
    PARTNER_COUNTER,
    SS_COUNTER,
    account,
    assert_books_balance,
    phone,
    psam,
)
from yikatong.cards import service as cards
from yikatong.cards.errors import TransitBalanceNotRefunded
from yikatong.chip import terminal
from yikatong.chip.emulator import TearPoint
from yikatong.chip.protocols import CardRemoved
from yikatong.core.errors import DomainError
from yikatong.events.models import OutboxEvent
from yikatong.transit import deny_list, jobs, refunds, rules, service
from yikatong.transit.errors import (
    CardNotRegistered,
    RefundNotAtDirectOutlet,
    TopUpNotWritten,
    UnreadableRefundNotAllowed,
)
from yikatong.transit.protocols import ShadowBalance
from yikatong.transit.validator import RefusalReason, Validator, bus

pytestmark = pytest.mark.db


def top_up(platform, card, amount, key, actor=COUNTER, payer=CASH):
    return service.top_up_at_terminal(platform=platform, reader=card.present(), actor=actor,
                                      idempotency_key=key, amount=amount, payer=payer)


def refund(platform, card, actor=COUNTER, card_no=None):
    return refunds.refund_wallet(platform=platform, reader=card.present(), actor=actor,
                                 card_no=card_no or card.card_no)


def exchange_allowed(platform, card, damaged=False):
    with platform.uow() as uow:
        return cards.check_exchange_allowed(uow=uow, person_id=card.person_id, card_damaged=damaged)


def purse(card):
    return next(df.purse for df in card.chip.mf.walk() if df.purse is not None)


def events(platform, kind):
    with platform.uow() as uow:
        return [e.payload for e in uow.session.execute(
            select(OutboxEvent).where(OutboxEvent.type == kind).order_by(OutboxEvent.seq)).scalars()]


def test_refund_at_a_direct_outlet_closes_the_wallet_and_lets_the_exchange_through(wallet_platform, make_card,
                                                                                   keystore):
    card = make_card()
    top_up(wallet_platform, card, 5000, "refund-1")
    rode = Validator(psam(keystore, "304050000001"), bus("3040", "1", "CZBUS")).tap(
        card.present(), wallet_platform.clock.now())
    assert rode.accepted and rode.amount == 120
    with pytest.raises(TransitBalanceNotRefunded):  # the platform last saw 50.00 on it
        exchange_allowed(wallet_platform, card)

    done = refund(wallet_platform, card)

    assert (done.state, done.amount, done.balance_source, done.kind) == ("refunded", 4880, "card", "card_read")
    assert purse(card).blocked == "permanent"
    assert exchange_allowed(wallet_platform, card) == card.card_no
    with wallet_platform.uow() as uow:
        assert deny_list.is_listed(uow=uow, asn=card.asn)
    assert events(wallet_platform, "transit.deny_list_changed")[-1] == {
        "version": 1, "asn": card.asn, "action": "add", "reason": "wallet_refunded"}
    assert account(wallet_platform, rules.outlet_till("SMK-DIRECT-01")) == 5000 - 4880  # cash in, cash out
    assert account(wallet_platform, rules.WALLET_FLOAT) == 120  # the bus fare, until clearing moves it
    assert_books_balance(wallet_platform)
    # the closed wallet: refused at validators, no more top-ups, the refund is not paid twice
    again = Validator(psam(keystore, "304050000002"), bus("3040", "2", "CZBUS")).tap(
        card.present(), wallet_platform.clock.now())
    assert again.refusal.reason is RefusalReason.WALLET_BLOCKED
    with pytest.raises(DomainError):
        top_up(wallet_platform, card, 1000, "after-close")
    assert refund(wallet_platform, card) == done
    assert account(wallet_platform, rules.WALLET_FLOAT) == 120


@pytest.mark.parametrize("actor", [PARTNER_COUNTER, SS_COUNTER, MACHINE, phone()],
                         ids=["partner-outlet", "ss-outlet", "self-service", "holder"])
def test_refund_is_refused_anywhere_but_a_direct_outlet(wallet_platform, make_card, actor):
    card = make_card()
    top_up(wallet_platform, card, 5000, "not-here")
    with pytest.raises(RefundNotAtDirectOutlet) as refused:
        refund(wallet_platform, card, actor=actor)
    assert "直营网点" in refused.value.message_zh and "directly-run" in refused.value.message_en
    assert purse(card).blocked == "no" and purse(card).balance == 5000
    with pytest.raises(TransitBalanceNotRefunded):
        exchange_allowed(wallet_platform, card)


def test_a_pending_top_up_is_written_before_the_refund(wallet_platform, make_card):
    card = make_card()
    service.contact(platform=wallet_platform, reader=card.present(), actor=phone())
    paid = service.create_top_up(platform=wallet_platform, actor=phone(), idempotency_key="pending",
                                 asn=card.asn, amount=3000, payer=BANK_CARD)
    card.chip.arm_tear(TearPoint.BEFORE_COMMIT, ins=0x52)
    with pytest.raises(TopUpNotWritten):
        service.write_top_up(platform=wallet_platform, reader=card.present(), actor=phone(), order_no=paid.order_no)
    with pytest.raises(TransitBalanceNotRefunded):  # balance not known while a top-up is open
        exchange_allowed(wallet_platform, card)
    done = refund(wallet_platform, card)
    assert done.amount == 3000
    with wallet_platform.uow() as uow:
        assert service.get_top_up(uow=uow, order_no=paid.order_no).state == "done"
    assert account(wallet_platform, rules.WALLET_FLOAT) == 0
    assert_books_balance(wallet_platform)


@pytest.mark.parametrize("point", list(TearPoint))
def test_a_refund_torn_at_the_block_resumes_without_paying_twice(wallet_platform, make_card, point):
    card = make_card()
    top_up(wallet_platform, card, 5000, "torn-refund")
    card.chip.arm_tear(point, ins=0x1E)
    with pytest.raises(CardRemoved):
        refund(wallet_platform, card)
    with wallet_platform.uow() as uow:
        half = refunds.get_refund(uow=uow, card_no=card.card_no)
    assert (half.state, half.amount) == ("closing", 5000)
    assert purse(card).blocked == ("permanent" if point is TearPoint.AFTER_COMMIT else "no")
    with pytest.raises(TransitBalanceNotRefunded):
        exchange_allowed(wallet_platform, card)
    done = refund(wallet_platform, card)
    assert (done.state, done.amount) == ("refunded", 5000)
    assert purse(card).blocked == "permanent"
    assert account(wallet_platform, rules.WALLET_FLOAT) == 0
    assert account(wallet_platform, rules.outlet_till("SMK-DIRECT-01")) == 0
    assert_books_balance(wallet_platform)


def test_refund_of_an_empty_wallet_and_of_the_wrong_card(wallet_platform, make_card):
    card, other = make_card(), make_card()
    with pytest.raises(TransitBalanceNotRefunded):  # never read: not known to be empty
        exchange_allowed(wallet_platform, card)
    with pytest.raises(CardNotRegistered):
        refund(wallet_platform, other, card_no=card.card_no)
    assert purse(other).blocked == "no"
    done = refund(wallet_platform, card)
    assert (done.amount, done.state) == (0, "refunded")
    assert exchange_allowed(wallet_platform, card) == card.card_no
    assert_books_balance(wallet_platform)


# --- a card that cannot be read ------------------------------------------------------------


def register_unreadable(platform, card, actor=SS_COUNTER):
    with platform.uow() as uow:
        view = refunds.register_unreadable_wallet(uow=uow, actor=actor, card_no=card.card_no)
        uow.commit()
    return view


def test_an_unreadable_card_is_deny_listed_at_once_and_refunded_after_the_wait(wallet_platform, make_card, clock,
                                                                               keystore):
    card = make_card()
    top_up(wallet_platform, card, 8000, "damaged")
    wallet_platform.provide(ShadowBalance, refunds.LastKnownBalance())  # clearing not consulted
    waiting = register_unreadable(wallet_platform, card)
    assert waiting.state == "waiting" and waiting.due_at - waiting.created_at == timedelta(days=30)
    assert exchange_allowed(wallet_platform, card) == card.card_no  # the exchange is not held up
    with wallet_platform.uow() as uow:
        delta = deny_list.changes_since(uow=uow, since=0)
    assert delta.added == [card.asn] and delta.complete
    assert register_unreadable(wallet_platform, card) == waiting  # once per card
    clock.advance(days=29)
    assert jobs.refund_unreadable_wallets(wallet_platform) == 0
    clock.advance(days=1)
    assert jobs.refund_unreadable_wallets(wallet_platform) == 1
    with wallet_platform.uow() as uow:
        done = refunds.get_refund(uow=uow, card_no=card.card_no)
    assert (done.state, done.amount, done.balance_source) == ("refunded", 8000, "last_known")
    assert account(wallet_platform, rules.REFUNDS_PAYABLE) == 8000
    assert account(wallet_platform, rules.WALLET_FLOAT) == 0
    assert jobs.refund_unreadable_wallets(wallet_platform) == 0
    assert_books_balance(wallet_platform)


def test_the_unreadable_refund_uses_the_shadow_balance_when_clearing_offers_one(wallet_platform, make_card, clock):
    class Shadow:
        def balance(self, *, uow, asn):
            return 7650  # two taps cleared after the last contact

    card = make_card()
    top_up(wallet_platform, card, 8000, "damaged-shadow")
    wallet_platform.provide(ShadowBalance, Shadow())
    register_unreadable(wallet_platform, card, actor=COUNTER)
    clock.advance(days=31)
    assert jobs.refund_unreadable_wallets(wallet_platform) == 1
    with wallet_platform.uow() as uow:
        done = refunds.get_refund(uow=uow, card_no=card.card_no)
    assert (done.amount, done.balance_source) == (7650, "shadow")
    assert account(wallet_platform, rules.WALLET_FLOAT) == 350
    assert_books_balance(wallet_platform)


@pytest.mark.parametrize("actor", [PARTNER_COUNTER, phone()], ids=["partner-outlet", "holder"])
def test_only_exchange_counters_register_unreadable_cards(wallet_platform, make_card, actor):
    card = make_card()
    with pytest.raises(UnreadableRefundNotAllowed):
        register_unreadable(wallet_platform, card, actor=actor)
    with wallet_platform.uow() as uow:
        assert not deny_list.is_listed(uow=uow, asn=card.asn)


def test_an_unreadable_card_that_reads_after_all_is_refunded_from_the_card(wallet_platform, make_card, keystore):
    card = make_card()
    top_up(wallet_platform, card, 8000, "not-so-damaged")
    terminal.purchase(card.present(), psam(keystore, "304050000009"), 500, wallet_platform.clock.now())
    register_unreadable(wallet_platform, card)
    done = refund(wallet_platform, card)
    assert (done.kind, done.amount, done.balance_source) == ("card_read", 7500, "card")
    assert jobs.refund_unreadable_wallets(wallet_platform) == 0
    assert_books_balance(wallet_platform)


@pytest.mark.parametrize(("counter", "amount"), [("offline_counter", 5000), ("online_counter", 0)])
def test_a_card_whose_counter_is_used_up_can_still_be_refunded_for_its_exchange(wallet_platform, make_card,
                                                                                  counter, amount):
    """The remedy the gate and the counter name (refund, then exchange) must work on such a
    card: the refund's algorithm probe falls back to a transaction kind the card still takes."""
    card = make_card()
    if amount:
        top_up(wallet_platform, card, amount, f"before-{counter}")
    setattr(purse(card), counter, 0xFFFF)
    done = refund(wallet_platform, card)
    assert (done.state, done.amount) == ("refunded", amount)
    assert purse(card).blocked == "permanent"
    assert exchange_allowed(wallet_platform, card) == card.card_no
    assert_books_balance(wallet_platform)
