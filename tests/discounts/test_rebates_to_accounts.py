"""Transit rebates credited to the card's bank account (a campaign with `credit_to: account`):
the run records one credit per card and sponsor, the delivery asks the bank
(BankGateway.credit_to_account, the reference bank in process) with no platform transaction
open and records its answer once; a crash or a bank that does not answer leaves it for the
next run, which the bank answers with its first result (never credited twice); a refusal
falls back to the wallet; a card without a live account or wallet goes to the other one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.banking.helpers import OUTLET, at_bank, balance, register_pan, teller
from tests.discounts import test_rebates as _rebates
from tests.discounts.test_rebates import campaign, holder_card, ride_file, run
from tests.transit.conftest import COUNTER, assert_books_balance
from yikatong.audit.models import AuditRecord
from yikatong.banking import service as bank_service
from yikatong.banking.models import BankTransaction
from yikatong.banking.runtime import ReferenceBank
from yikatong.banking.wiring import use_reference_bank
from yikatong.cards import service as cards
from yikatong.cards.protocols import BankGateway, BankUnavailable
from yikatong.discounts import rebates
from yikatong.discounts.rebate_models import RebateAccountCredit, TransitRebate
from yikatong.transit import service as transit
from yikatong.transit.models import DenyListEntry, TopUpOrder

pytestmark = pytest.mark.db

world = _rebates.world  # the clearing tests' transit world (fixture)


@pytest.fixture
def bank(world):
    use_reference_bank(world.platform)
    yield world.platform.get(ReferenceBank)
    world.platform.get(ReferenceBank).close()


def banked_card(world, bank, *, activate: bool = True):
    """One of our cards, handed over, its account opened at the reference bank and activated:
    (sim card, person id, card view)."""
    card, person = holder_card(world)
    with world.platform.uow() as uow:
        view = cards.current_card_for(uow=uow, person_id=person)
    with world.platform.uow() as uow:
        cards.hand_over(uow=uow, actor=OUTLET, card_no=view.card_no)
        uow.commit()
    register_pan(bank, view)
    if activate:
        at_bank(bank, bank_service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=view.pan,
                id_document_checked=True, card_checked=True)
    with world.platform.uow() as uow:
        view = cards.get_card(uow=uow, card_no=view.card_no)
    return card, person, view


def ride(world, card):
    return ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))])


def credits(platform):
    with platform.uow() as uow:
        return list(uow.session.execute(select(RebateAccountCredit).order_by(RebateAccountCredit.id)).scalars())


def wallet_orders(platform):
    with platform.uow() as uow:
        return list(uow.session.execute(select(TopUpOrder).where(TopUpOrder.payer_kind == "rebate")).scalars())


def test_an_account_rebate_is_credited_at_the_bank_once(world, bank):
    platform = world.platform
    campaign(platform, credit_to="account")
    card, _, view = banked_card(world, bank)
    assert view.financial_status == "active"
    result = run(platform, ride(world, card))
    assert result.amount > 0 and (result.credits, result.account_credits) == (0, 1)
    [credit] = credits(platform)
    assert (credit.state, credit.amount, credit.card_no, credit.sponsor_code) == (
        "pending", result.amount, view.card_no, "CZ-HRSS")
    assert wallet_orders(platform) == []
    assert world.account(rebates.ACCOUNT_REBATES_UNDELIVERED) == result.amount
    with platform.uow() as uow:  # the tap's row names the credit
        assert uow.session.execute(select(TransitRebate.credit_ref)).scalar_one() == credit.request_id

    assert rebates.deliver_account_credits(platform) == 1
    [credit] = credits(platform)
    assert (credit.state, credit.attempts, credit.reason_code) == ("posted", 1, None) and credit.bank_reference
    assert balance(bank, "ICBC", view.pan) == result.amount
    with bank.uow() as uow:
        tx = uow.session.execute(select(BankTransaction).where(
            BankTransaction.request_id == credit.request_id)).scalar_one()
        assert (tx.kind, tx.counterparty, tx.status, tx.amount_fen) == ("credit", "CZ-HRSS", "posted", result.amount)
    # the sponsor paid it at its bank: nothing undelivered, nothing owed to the platform
    assert world.account(rebates.ACCOUNT_REBATES_UNDELIVERED) == 0
    assert world.account(rebates.sponsor_receivable("CZ-HRSS")) == 0
    assert rebates.deliver_account_credits(platform) == 0
    assert balance(bank, "ICBC", view.pan) == result.amount
    with platform.uow() as uow:
        [record] = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "discounts.rebate_account_credit")).scalars().all()
        assert record.after["state"] == "posted"
    assert_books_balance(platform)


def test_a_crash_after_the_bank_answered_is_retried_and_credited_once(world, bank, monkeypatch):
    platform = world.platform
    campaign(platform, credit_to="account")
    card, _, view = banked_card(world, bank)
    result = run(platform, ride(world, card))

    def crash(*args, **kwargs):
        raise RuntimeError("killed after the bank credited, before the answer was recorded")

    monkeypatch.setattr(rebates, "_record_answer", crash)
    with pytest.raises(RuntimeError):
        rebates.deliver_account_credits(platform)
    monkeypatch.undo()
    [credit] = credits(platform)
    assert (credit.state, credit.attempts) == ("pending", 1)
    assert balance(bank, "ICBC", view.pan) == result.amount  # the bank did it

    assert rebates.deliver_account_credits(platform) == 1  # asked again: the bank's first answer
    [credit] = credits(platform)
    assert (credit.state, credit.attempts) == ("posted", 2)
    assert balance(bank, "ICBC", view.pan) == result.amount  # not twice
    with bank.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(BankTransaction).where(
            BankTransaction.request_id == credit.request_id)).scalar_one() == 1
    assert world.account(rebates.ACCOUNT_REBATES_UNDELIVERED) == 0
    assert_books_balance(platform)


def test_a_bank_that_does_not_answer_is_asked_again_on_a_later_run(world, bank, monkeypatch):
    platform = world.platform
    campaign(platform, credit_to="account")
    card, _, view = banked_card(world, bank)
    result = run(platform, ride(world, card))
    gateway = platform.get(BankGateway)

    def down(**ask):
        raise BankUnavailable()

    monkeypatch.setattr(gateway, "credit_to_account", down)
    assert rebates.deliver_account_credits(platform) == 0
    assert [(c.state, c.attempts) for c in credits(platform)] == [("pending", 1)]
    monkeypatch.undo()
    assert rebates.deliver_account_credits(platform) == 1
    assert [(c.state, c.attempts) for c in credits(platform)] == [("posted", 2)]
    assert balance(bank, "ICBC", view.pan) == result.amount


def test_a_refused_credit_goes_to_the_wallet_and_the_next_contact_writes_it(world, bank):
    platform = world.platform
    campaign(platform, credit_to="account")
    card, _, view = banked_card(world, bank)
    result = run(platform, ride(world, card))
    at_bank(bank, bank_service.freeze_account, actor=teller(), bank_code="ICBC", pan=view.pan, reason="court order")
    assert rebates.deliver_account_credits(platform) == 1
    [credit] = credits(platform)
    assert (credit.state, credit.reason_code) == ("to_wallet", "account_frozen")
    [order] = wallet_orders(platform)
    assert (order.order_no, order.amount, order.state) == (credit.order_no, result.amount, "paid")
    reading = transit.contact(platform=platform, reader=card.present(), actor=COUNTER)
    assert [s.outcome for s in reading.settled] == ["written"]
    assert world.account(rebates.ACCOUNT_REBATES_UNDELIVERED) == 0
    assert world.account(rebates.sponsor_receivable("CZ-HRSS")) == result.amount  # the platform funded the wallet
    assert_books_balance(platform)


def test_refused_with_the_wallet_closed_too_is_undeliverable_and_owed_by_nobody(world, bank):
    platform = world.platform
    campaign(platform, credit_to="account")
    card, _, view = banked_card(world, bank)
    run(platform, ride(world, card))
    at_bank(bank, bank_service.freeze_account, actor=teller(), bank_code="ICBC", pan=view.pan, reason="court order")
    with platform.uow() as uow:
        uow.session.add(DenyListEntry(asn=card.asn, reason="refunded", version=1, listed_at=uow.now()))
        uow.commit()
    assert rebates.deliver_account_credits(platform) == 1
    assert [c.state for c in credits(platform)] == ["undeliverable"]
    assert wallet_orders(platform) == []
    assert world.account(rebates.ACCOUNT_REBATES_UNDELIVERED) == 0
    assert world.account(rebates.sponsor_receivable("CZ-HRSS")) == 0


def test_without_a_live_account_an_account_rebate_goes_to_the_wallet(world, bank):
    platform = world.platform
    campaign(platform, credit_to="account")
    card, _, view = banked_card(world, bank, activate=False)  # not activated at the bank
    assert view.financial_status == "inactive"
    result = run(platform, ride(world, card))
    assert (result.credits, result.account_credits) == (1, 0) and credits(platform) == []
    assert [o.amount for o in wallet_orders(platform)] == [result.amount]


def test_without_a_live_wallet_a_wallet_rebate_goes_to_the_account_and_with_neither_it_is_left_out(world, bank):
    platform = world.platform
    campaign(platform)  # to the wallet
    card, _, view = banked_card(world, bank)
    unbanked, _ = holder_card(world)  # produced, no live account
    with platform.uow() as uow:
        for asn in (card.asn, unbanked.asn):
            uow.session.add(DenyListEntry(asn=asn, reason="refunded", version=1, listed_at=uow.now()))
        uow.commit()
    result = run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")),
                                     [(card, (8, 0)), (unbanked, (8, 5))]))
    assert (result.taps, result.left_out, result.credits, result.account_credits) == (1, 1, 0, 1)
    assert rebates.deliver_account_credits(platform) == 1
    assert balance(bank, "ICBC", view.pan) == result.amount
    assert_books_balance(platform)


def test_the_worker_job_and_the_cli_deliver(world, bank, monkeypatch):
    from tests.conftest import cli_on
    from yikatong.discounts.jobs import JOBS

    platform = world.platform
    campaign(platform, credit_to="account")
    card, _, view = banked_card(world, bank)
    other, _, other_view = banked_card(world, bank)
    run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0)), (other, (8, 5))]))
    [job] = [j for j in JOBS if j.name == "discounts.credit_rebates_to_accounts"]
    assert job.run(platform, limit=1) == 1
    ykt = cli_on(platform, monkeypatch)
    delivered = ykt("discounts", "rebates", "deliver")
    assert delivered.exit_code == 0 and "1 answered" in delivered.output, delivered.output
    listed = ykt("discounts", "rebates", "credits", "--state", "posted")
    assert listed.exit_code == 0 and view.card_no in listed.output and other_view.card_no in listed.output
    assert job.run(platform) == 0
