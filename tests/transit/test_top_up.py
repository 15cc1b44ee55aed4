"""Top-ups (圈存) end to end on emulated cards: every channel, every failure branch, recovery at
the next contact on another channel, never twice, refunds after 7 days, idempotent retries."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from tests.conftest import ONLY_ON_POSTGRES, overtake
from tests.transit.conftest import (
    BANK_CARD,
    CASH,
    COUNTER,
    E_WALLET,
    MACHINE,
    SS_COUNTER,
    account,
    assert_books_balance,
    phone,
)
from yikatong.chip import terminal
from yikatong.chip.emulator import TearPoint
from yikatong.chip.errors import CardRefused, CounterExhausted
from yikatong.chip.host import LoadHost
from yikatong.chip.protocols import CardRemoved
from yikatong.core.errors import IdempotencyKeyReused
from yikatong.transit import jobs, rules, service
from yikatong.transit.errors import (
    BalanceCapExceeded,
    CardCounterExhausted,
    CardReadingRequired,
    ChannelNotForTopUp,
    InvalidTopUpAmount,
    PayerNotAccepted,
    TopUpNotWritten,
    TopUpPending,
)
from yikatong.transit.models import ReferencePayment
from yikatong.transit.policy import WalletPolicy
from yikatong.transit.protocols import (
    Payer,
    PayerKind,
    PaymentDeclined,
    PaymentGateway,
    PaymentUnavailable,
)

pytestmark = pytest.mark.db


def read(platform, card, actor=COUNTER):
    return service.contact(platform=platform, reader=card.present(), actor=actor)


def order(platform, card, amount=5000, *, actor=COUNTER, payer=CASH, key=None):
    read(platform, card, actor)
    return service.create_top_up(platform=platform, actor=actor, idempotency_key=key or f"key-{card.asn}-{amount}",
                                 asn=card.asn, amount=amount, payer=payer)


def write(platform, card, order_no, actor=COUNTER):
    return service.write_top_up(platform=platform, reader=card.present(), actor=actor, order_no=order_no)


def payments(platform) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(ReferencePayment)).scalar_one()


def get(platform, order_no):
    with platform.uow() as uow:
        return service.get_top_up(uow=uow, order_no=order_no)


def assert_money(platform, *, on_cards: int, unwritten: int = 0):
    assert account(platform, rules.WALLET_FLOAT) == on_cards
    assert account(platform, rules.TOP_UP_UNWRITTEN) == unwritten
    assert_books_balance(platform)


# --- success on each channel --------------------------------------------------------------------


@pytest.mark.parametrize(("actor", "payer", "algorithm"), [
    (COUNTER, CASH, "SM4"), (MACHINE, BANK_CARD, "SM4"), (phone(), E_WALLET, "SM4"), (COUNTER, BANK_CARD, "3DES"),
], ids=["counter-cash", "self-service-bank-card", "nfc-e-wallet", "counter-3des-card"])
def test_a_top_up_on_each_channel_lands_on_the_card_once(wallet_platform, make_card, actor, payer, algorithm):
    card = make_card(algorithm=algorithm)
    paid = order(wallet_platform, card, 5000, actor=actor, payer=payer)
    assert paid.state == "paid" and paid.balance_read == 0
    assert_money(wallet_platform, on_cards=0, unwritten=5000)
    done = write(wallet_platform, card, paid.order_no, actor)
    assert done.state == "done" and done.tac_verified and not done.recovered and done.write_attempts == 1
    assert card.balance == 5000 and card.online_counter == 1
    channel = rules.top_up_channel(actor.role, actor.channel)
    log = terminal.read_purse(card.present()).transactions
    assert log[0].terminal_id == wallet_platform.get(WalletPolicy).load_terminal(str(channel))
    assert_money(wallet_platform, on_cards=5000)
    paid_into = rules.payment_account("reference", str(payer.kind), actor.branch_code)
    assert paid_into == (f"transit:till:{actor.branch_code}" if payer is CASH else
                         f"transit:receivable:reference:{payer.kind}")
    assert account(wallet_platform, paid_into) == 5000
    with wallet_platform.uow() as uow:
        [record] = service.load_records(uow=uow, asn=card.asn)
    assert (record.amount, record.balance_after, record.counter, record.tac) == (5000, 5000, 0, done.tac)


def test_counter_and_self_service_top_up_in_one_go(wallet_platform, make_card):
    card = make_card()
    first = service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=MACHINE,
                                       idempotency_key="machine-1", amount=20000, payer=BANK_CARD)
    second = service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=COUNTER,
                                        idempotency_key="counter-1", amount=30000, payer=CASH)
    assert (first.state, second.state, second.balance_read) == ("done", "done", 20000)
    assert card.balance == 50000 and card.online_counter == 2
    assert_money(wallet_platform, on_cards=50000)


# --- limits and the cap, before any money -------------------------------------------------------


@pytest.mark.parametrize("amount", [0, 50, 5050, 50100, -100, 100.0])
def test_amounts_outside_the_limits_are_refused_before_payment(wallet_platform, make_card, amount):
    card = make_card()
    with pytest.raises(InvalidTopUpAmount):
        order(wallet_platform, card, amount)
    assert payments(wallet_platform) == 0


def test_the_cap_is_checked_against_the_card_reading_before_money_is_taken(wallet_platform, make_card):
    card = make_card()
    service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=COUNTER,
                               idempotency_key="fill", amount=50000, payer=CASH)
    service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=COUNTER,
                               idempotency_key="fill-2", amount=30000, payer=CASH)
    with pytest.raises(BalanceCapExceeded) as refused:
        order(wallet_platform, card, 20100, key="too-much")
    assert "1001.00" in refused.value.message_en
    assert payments(wallet_platform) == 2
    exactly = order(wallet_platform, card, 20000, key="to-the-cap")
    assert write(wallet_platform, card, exactly.order_no).state == "done"
    assert card.balance == 100000
    assert_money(wallet_platform, on_cards=100000)


def test_the_card_enforces_the_cap_again(wallet_platform, make_card, clock):
    """With a platform policy above the card's own cap, the card refuses the load; no money is
    lost: the order stays paid and is refunded after the pending period."""
    policy = wallet_platform.get(WalletPolicy)
    wallet_platform.provide(WalletPolicy, policy.with_changes(wallet={"balance_cap": 150000},
                                                              top_up={"max_amount": 100000}))
    card = make_card()
    service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=COUNTER,
                               idempotency_key="base", amount=90000, payer=CASH)
    paid = order(wallet_platform, card, 20000, key="over-the-chip-cap")
    with pytest.raises(CardRefused):
        write(wallet_platform, card, paid.order_no)
    assert card.balance == 90000 and get(wallet_platform, paid.order_no).state == "paid"
    clock.advance(days=7, minutes=1)
    assert jobs.refund_stale_top_ups(wallet_platform) == 1
    assert get(wallet_platform, paid.order_no).state == "refunded"
    assert_money(wallet_platform, on_cards=90000)


def test_an_order_needs_a_fresh_card_reading(wallet_platform, make_card, clock):
    card = make_card()
    with pytest.raises(CardReadingRequired):
        service.create_top_up(platform=wallet_platform, actor=COUNTER, idempotency_key="blind", asn=card.asn,
                              amount=1000, payer=CASH)
    read(wallet_platform, card)
    clock.advance(minutes=16)
    with pytest.raises(CardReadingRequired):
        service.create_top_up(platform=wallet_platform, actor=COUNTER, idempotency_key="stale", asn=card.asn,
                              amount=1000, payer=CASH)
    assert payments(wallet_platform) == 0


def test_who_tops_up_through_which_channel(wallet_platform, make_card):
    card = make_card()
    read(wallet_platform, card)
    with pytest.raises(ChannelNotForTopUp):
        service.create_top_up(platform=wallet_platform, actor=SS_COUNTER, idempotency_key="ss", asn=card.asn,
                              amount=1000, payer=CASH)
    with pytest.raises(PayerNotAccepted):
        service.create_top_up(platform=wallet_platform, actor=phone(), idempotency_key="cash-by-phone",
                              asn=card.asn, amount=1000, payer=CASH)


# --- idempotency and payment failures ----------------------------------------------------------


def test_a_retried_request_pays_once_and_loads_once(wallet_platform, make_card):
    card = make_card()
    results = [service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=phone(),
                                          idempotency_key="app-retry-1", amount=10000, payer=E_WALLET)
               for _ in range(3)]
    assert {view.order_no for view in results} == {results[0].order_no}
    assert all(view.state == "done" for view in results)
    assert payments(wallet_platform) == 1
    assert card.balance == 10000 and card.online_counter == 1
    assert_money(wallet_platform, on_cards=10000)
    with pytest.raises(IdempotencyKeyReused):
        order(wallet_platform, card, 20000, actor=phone(), payer=E_WALLET, key="app-retry-1")


@ONLY_ON_POSTGRES
def test_a_retry_that_overtakes_the_first_try_answers_its_order(wallet_platform, make_card, monkeypatch):
    """The first try has made its order but not committed when the retry (same key) comes: the
    retry waits for the wallet's lock, then finds the card's open order is its own first try's,
    and answers it; the money is taken once."""
    card = make_card()
    read(wallet_platform, card)
    request = dict(platform=wallet_platform, actor=COUNTER, idempotency_key="overtaken-order", asn=card.asn,
                   amount=5000, payer=CASH)
    holding, commit_allowed, audit = threading.Event(), threading.Event(), service._audit

    def audit_then_wait(uow, actor, order, action, *args, **details):
        audit(uow, actor, order, action, *args, **details)
        if action == "transit.top_up_created" and threading.current_thread().name == "first try":
            holding.set()  # the order made, the wallet's lock held, nothing committed
            assert commit_allowed.wait(timeout=20)

    monkeypatch.setattr(service, "_audit", audit_then_wait)
    outcome = overtake(wallet_platform, lambda: service.create_top_up(**request).order_no, holding, commit_allowed)
    assert isinstance(outcome["first try"], str) and outcome["retry"] == outcome["first try"], outcome
    assert payments(wallet_platform) == 1 and get(wallet_platform, outcome["first try"]).state == "paid"


def test_a_declined_payment_fails_the_order_and_moves_nothing(wallet_platform, make_card):
    card = make_card()
    with pytest.raises(PaymentDeclined):
        order(wallet_platform, card, 5000, payer=Payer(PayerKind.BANK_CARD, "DECLINE-6222****0001"), key="no")
    with wallet_platform.uow() as uow:
        [failed] = service.list_top_ups(uow=uow, asn=card.asn)
    assert failed.state == "failed" and failed.failure_reason == "payment_declined"
    again = order(wallet_platform, card, 5000, key="yes")
    assert write(wallet_platform, card, again.order_no).state == "done"
    assert_money(wallet_platform, on_cards=5000)


class FlakyCapture:
    """The reference acquirer, but the first capture's answer is lost."""

    def __init__(self, inner: PaymentGateway) -> None:
        self.inner, self.name, self.lost = inner, inner.name, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def capture(self, *, key):
        payment = self.inner.capture(key=key)
        if not self.lost:
            self.lost += 1
            raise PaymentUnavailable()
        return payment


def test_a_lost_payment_answer_is_settled_by_retry_without_paying_twice(wallet_platform, make_card):
    card = make_card()
    wallet_platform.provide(PaymentGateway, FlakyCapture(wallet_platform.get(PaymentGateway)))
    with pytest.raises(PaymentUnavailable):
        order(wallet_platform, card, 5000, key="flaky")
    with wallet_platform.uow() as uow:
        [waiting] = service.list_top_ups(uow=uow, asn=card.asn)
    assert waiting.state == "created"
    assert_money(wallet_platform, on_cards=0, unwritten=0)
    with pytest.raises(TopUpPending):  # no second order while this one is open
        order(wallet_platform, card, 5000, key="another")
    retried = order(wallet_platform, card, 5000, key="flaky")
    assert retried.order_no == waiting.order_no and retried.state == "paid"
    assert payments(wallet_platform) == 1
    assert_money(wallet_platform, on_cards=0, unwritten=5000)


def test_a_lost_payment_answer_is_reconciled_by_the_job(wallet_platform, make_card, clock):
    card = make_card()
    wallet_platform.provide(PaymentGateway, FlakyCapture(wallet_platform.get(PaymentGateway)))
    with pytest.raises(PaymentUnavailable):
        order(wallet_platform, card, 5000, key="flaky")
    assert jobs.reconcile_unconfirmed_payments(wallet_platform) == 0  # too early
    clock.advance(minutes=31)
    assert jobs.reconcile_unconfirmed_payments(wallet_platform) == 1
    with wallet_platform.uow() as uow:
        [paid] = service.list_top_ups(uow=uow, asn=card.asn)
    assert paid.state == "paid"
    assert write(wallet_platform, card, paid.order_no, phone()).state == "done"
    assert_money(wallet_platform, on_cards=5000)


def test_an_authorisation_never_captured_is_voided_by_the_job(wallet_platform, make_card, clock):
    card = make_card()
    gateway = wallet_platform.get(PaymentGateway)

    class DiesBeforeCapture(FlakyCapture):
        def capture(self, *, key):
            raise PaymentUnavailable()

    wallet_platform.provide(PaymentGateway, DiesBeforeCapture(gateway))
    with pytest.raises(PaymentUnavailable):
        order(wallet_platform, card, 5000, key="half")
    wallet_platform.provide(PaymentGateway, gateway)
    clock.advance(minutes=31)
    assert jobs.reconcile_unconfirmed_payments(wallet_platform) == 1
    with wallet_platform.uow() as uow:
        [failed] = service.list_top_ups(uow=uow, asn=card.asn)
    assert failed.state == "failed"
    assert gateway.status(key=service.payment_key(failed.order_no)).state == "voided"
    assert_money(wallet_platform, on_cards=0)


# --- the write fails after payment: every APDU, both sides of the commit -------------------------


class Recorder:
    """A reader that notes the INS of every command it relays."""

    def __init__(self, reader) -> None:
        self.reader, self.sent = reader, []

    def connect(self):
        return self.reader.connect()

    def disconnect(self):
        return self.reader.disconnect()

    def transmit(self, apdu):
        self.sent.append(apdu[1])
        return self.reader.transmit(apdu)


def commands_of_a_write(wallet_platform, make_card) -> list[int]:
    card = make_card()
    paid = order(wallet_platform, card, 5000, key="dry-run")
    recorder = Recorder(card.present())
    service.write_top_up(platform=wallet_platform, reader=recorder, actor=COUNTER, order_no=paid.order_no)
    return recorder.sent


CREDIT, INIT, SELECT = 0x52, 0x50, 0xA4


def test_a_tear_at_every_apdu_is_recovered_on_another_channel_and_never_loads_twice(wallet_platform, make_card):
    """The write is torn at each command, before and after the card's commit; the next contact
    (through the phone) confirms the load or writes it again. Every case ends with the money on
    the card exactly once and the books balanced."""
    sent = commands_of_a_write(wallet_platform, make_card)
    assert sent.count(CREDIT) == 1 and len(sent) >= 10
    load_starts = [i for i, ins in enumerate(sent, start=1) if ins == SELECT][1]  # after the reading
    outcomes = set()
    total = 5000
    for index, ins in enumerate(sent, start=1):
        for point in TearPoint:
            card = make_card()
            paid = order(wallet_platform, card, 5000, key=f"tear-{index}-{point}")
            card.chip.arm_tear(point, at_command=index)
            reader = card.present()
            with pytest.raises(CardRemoved) as torn:
                service.write_top_up(platform=wallet_platform, reader=reader, actor=COUNTER, order_no=paid.order_no)
            credited = ins == CREDIT and point is TearPoint.AFTER_COMMIT
            assert card.balance == (5000 if credited else 0)
            pending = get(wallet_platform, paid.order_no)
            issued_mac2 = ins == CREDIT
            assert pending.state == ("pending_write" if issued_mac2 else "paid")
            assert isinstance(torn.value, TopUpNotWritten) == (index >= load_starts)
            reading = service.contact(platform=wallet_platform, reader=card.present(), actor=phone())
            done = get(wallet_platform, paid.order_no)
            outcomes.add((reading.settled[0].outcome, done.write_attempts))
            assert done.state == "done" and done.tac_verified
            assert done.recovered == credited
            assert done.write_attempts == (1 if credited else 2 if issued_mac2 else 1)
            assert card.balance == 5000 and card.online_counter == 1
            assert reading.balance == 5000
            total += 5000
    assert outcomes == {("confirmed", 1), ("written", 2), ("written", 1)}
    assert_money(wallet_platform, on_cards=total)


def test_a_confirmed_load_whose_proof_is_gone_is_done_without_its_tac(wallet_platform, make_card, keystore):
    from tests.transit.conftest import psam

    card = make_card()
    paid = order(wallet_platform, card, 5000)
    card.chip.arm_tear(TearPoint.AFTER_COMMIT, ins=CREDIT)
    with pytest.raises(TopUpNotWritten):
        write(wallet_platform, card, paid.order_no)
    terminal.purchase(card.present(), psam(keystore, "304050000001"), 200, wallet_platform.clock.now())
    reading = read(wallet_platform, card, MACHINE)
    done = get(wallet_platform, paid.order_no)
    assert reading.settled[0].outcome == "confirmed"
    assert done.state == "done" and done.tac is None and done.recovered
    assert card.balance == 4800
    assert_money(wallet_platform, on_cards=5000)  # the bus fare leaves the float when cleared


def test_a_card_that_cannot_tell_goes_to_a_person(wallet_platform, make_card, keystore):
    """The load rotated out of the card's 10-record log and the balance moved on: undecidable."""
    from tests.transit.conftest import psam

    card = make_card()
    paid = order(wallet_platform, card, 5000)
    card.chip.arm_tear(TearPoint.AFTER_COMMIT, ins=CREDIT)
    with pytest.raises(TopUpNotWritten):
        write(wallet_platform, card, paid.order_no)
    bus = psam(keystore, "304050000001")
    reader = card.present()
    for _ in range(10):
        terminal.purchase(reader, bus, 120, wallet_platform.clock.now())
    reading = read(wallet_platform, card, phone())
    review = get(wallet_platform, paid.order_no)
    assert reading.settled[0].outcome == "needs_review"
    assert review.state == "pending_write" and review.needs_review
    assert card.online_counter == 1  # nothing was written again


def test_no_second_order_while_one_is_pending(wallet_platform, make_card):
    card = make_card()
    paid = order(wallet_platform, card, 5000)
    card.chip.arm_tear(TearPoint.BEFORE_COMMIT, ins=CREDIT)
    with pytest.raises(TopUpNotWritten):
        write(wallet_platform, card, paid.order_no)
    card.reader.remove()
    with pytest.raises(TopUpPending):
        service.create_top_up(platform=wallet_platform, actor=COUNTER, idempotency_key="second",
                              asn=card.asn, amount=1000, payer=CASH)
    # the next contact anywhere finishes the pending one; then a new order is fine
    service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=MACHINE,
                               idempotency_key="second", amount=1000, payer=BANK_CARD)
    assert card.balance == 6000 and card.online_counter == 2
    assert get(wallet_platform, paid.order_no).write_attempts == 2
    assert_money(wallet_platform, on_cards=6000)


# --- no contact for 7 days ------------------------------------------------------------------------


@pytest.mark.parametrize("torn_at", [INIT, CREDIT])
def test_a_pending_top_up_without_contact_for_7_days_is_refunded(wallet_platform, make_card, clock, torn_at):
    card = make_card()
    paid = order(wallet_platform, card, 5000, payer=BANK_CARD)
    card.chip.arm_tear(TearPoint.BEFORE_COMMIT, ins=torn_at)
    with pytest.raises(CardRemoved):
        write(wallet_platform, card, paid.order_no)
    clock.advance(days=6, hours=23)
    assert jobs.refund_stale_top_ups(wallet_platform) == 0
    clock.advance(hours=1)
    assert jobs.refund_stale_top_ups(wallet_platform) == 1
    refunded = get(wallet_platform, paid.order_no)
    assert refunded.state == "refunded" and refunded.failure_reason == "no_contact"
    gateway = wallet_platform.get(PaymentGateway)
    assert gateway.status(key=service.payment_key(paid.order_no)).state == "refunded"
    assert jobs.refund_stale_top_ups(wallet_platform) == 0
    assert account(wallet_platform, rules.acquirer_receivable("reference", "bank_card")) == 0
    assert_money(wallet_platform, on_cards=0)
    # the card comes back: nothing is written (the order is closed) and it can be topped up again
    again = service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=COUNTER,
                                       idempotency_key="after-refund", amount=2000, payer=CASH)
    assert again.state == "done" and card.balance == 2000


def test_a_contact_restarts_the_7_days(wallet_platform, make_card, clock):
    card = make_card()
    paid = order(wallet_platform, card, 5000)
    card.chip.arm_tear(TearPoint.BEFORE_COMMIT, ins=CREDIT)
    with pytest.raises(TopUpNotWritten):
        write(wallet_platform, card, paid.order_no)
    clock.advance(days=5)
    card.chip.arm_tear(TearPoint.BEFORE_COMMIT, ins=CREDIT)  # torn again on the phone
    with pytest.raises(TopUpNotWritten):
        write(wallet_platform, card, paid.order_no, phone())
    clock.advance(days=5)
    assert jobs.refund_stale_top_ups(wallet_platform) == 0
    clock.advance(days=2)
    assert jobs.refund_stale_top_ups(wallet_platform) == 1
    assert card.balance == 0 and get(wallet_platform, paid.order_no).write_attempts == 2


def test_a_refunded_top_up_the_card_had_credited_is_flagged(wallet_platform, make_card, clock):
    card = make_card()
    paid = order(wallet_platform, card, 5000)
    card.chip.arm_tear(TearPoint.AFTER_COMMIT, ins=CREDIT)
    with pytest.raises(TopUpNotWritten):
        write(wallet_platform, card, paid.order_no)
    card.reader.remove()
    clock.advance(days=8)
    assert jobs.refund_stale_top_ups(wallet_platform) == 1
    reading = read(wallet_platform, card, phone())
    assert [(item.order_no, item.outcome) for item in reading.settled] == [(paid.order_no, "refund_conflict")]
    flagged = get(wallet_platform, paid.order_no)
    assert flagged.state == "refunded" and flagged.needs_review
    assert card.balance == 5000
    assert_money(wallet_platform, on_cards=0)  # the float does not know the money is on the card


# --- a card whose load counter is used up (2 bytes: FFFF) ------------------------------------


def purse_of(card):
    return next(df.purse for df in card.chip.mf.walk() if df.purse is not None)


@pytest.mark.parametrize("wrapping", [False, True], ids=["locking-card", "wrapping-card"])
def test_the_last_load_is_at_fffe_then_top_ups_are_refused_before_money_is_taken(wallet_platform, make_card,
                                                                                keystore, wrapping):
    """Our cards lock at FFFF; a card variant that would wrap to 0000 reports FFFF instead and
    is refused all the same: by the platform before the payment, by the terminal library
    before the host's MAC2."""
    card = make_card(wrapping_counters=wrapping)
    purse_of(card).online_counter = 0xFFFE
    last = service.top_up_at_terminal(platform=wallet_platform, reader=card.present(), actor=COUNTER,
                                      idempotency_key="last-load", amount=2000, payer=CASH)
    assert last.state == "done" and last.expected_counter == 0xFFFE and card.online_counter == 0xFFFF
    assert read(wallet_platform, card).online_counter == 0xFFFF
    paid_before = payments(wallet_platform)
    with pytest.raises(CardCounterExhausted) as refused:
        order(wallet_platform, card, 1000, key="one-too-many")
    assert "换卡" in refused.value.message_zh and "exchange the card" in refused.value.message_en
    assert refused.value.http_status == 409
    assert payments(wallet_platform) == paid_before and card.balance == 2000 and card.online_counter == 0xFFFF
    with pytest.raises(CounterExhausted) as at_the_card:
        terminal.load(card.present(), LoadHost(keystore), 1000, bytes.fromhex("304010000001"),
                      wallet_platform.clock.now())
    assert at_the_card.value.details["sw"] == ("9000" if wrapping else "9402")
    assert "换卡" in at_the_card.value.message_zh and "exchange the card" in at_the_card.value.message_en
    assert card.balance == 2000 and card.online_counter == 0xFFFF  # never wrapped to 0000
    assert_money(wallet_platform, on_cards=2000)


def test_a_used_up_counter_is_found_even_when_the_log_no_longer_shows_a_load(wallet_platform, make_card):
    """The card refuses the reading's load probe (9402) and its 0018 log holds no load to count
    from: the contact asks once more and records the counter as used up."""
    card = make_card()
    purse_of(card).online_counter = 0xFFFF
    assert terminal.read_purse(card.present()).online_counter is None
    assert read(wallet_platform, card, MACHINE).online_counter == 0xFFFF
    with pytest.raises(CardCounterExhausted):
        service.create_top_up(platform=wallet_platform, actor=MACHINE, idempotency_key="no-log",
                              asn=card.asn, amount=1000, payer=CASH)
    assert payments(wallet_platform) == 0
    assert_money(wallet_platform, on_cards=0)


@pytest.mark.parametrize("wrapping", [False, True], ids=["locking-card", "wrapping-card"])
def test_an_order_paid_before_the_counter_was_used_up_is_refunded_at_the_write(wallet_platform, make_card,
                                                                               wrapping):
    """An order paid while the card still took loads (an order from before this check, or a
    card loaded elsewhere meanwhile) can never be written: refunded, and the reason told."""
    card = make_card(wrapping_counters=wrapping)
    paid = order(wallet_platform, card, 3000, payer=BANK_CARD)
    assert paid.state == "paid"
    purse_of(card).online_counter = 0xFFFF
    with pytest.raises(CardCounterExhausted):
        write(wallet_platform, card, paid.order_no)
    refunded = get(wallet_platform, paid.order_no)
    assert (refunded.state, refunded.failure_reason) == ("refunded", "counter_exhausted")
    assert card.balance == 0 and card.online_counter == 0xFFFF
    assert_money(wallet_platform, on_cards=0, unwritten=0)


def test_no_top_up_is_taken_for_a_wallet_validators_refuse(wallet_platform, make_card, clock):
    """Validators refuse a card after its file 0015 expiry (test_validator), so the platform
    takes no money for such a wallet; the day before, it still does."""
    from datetime import date

    from yikatong.core.clock import local_date
    from yikatong.transit.errors import WalletExpired

    today = local_date(clock.now())
    card = make_card(transit_expiry=today)
    read(wallet_platform, card)
    assert order(wallet_platform, card, 1000, key="last-day").state == "paid"
    expired = make_card(transit_expiry=date.fromordinal(today.toordinal() - 1))
    read(wallet_platform, expired)
    with pytest.raises(WalletExpired) as refused:
        order(wallet_platform, expired, 1000, key="too-late")
    assert refused.value.code == "transit_wallet_expired"
    assert payments(wallet_platform) == 1
