"""The reference bank in-process behind the platform's BankGateway: activation and held
payments (四.9), the account (三.3), the 10-year validity (二.2), losses both ways (四.6–7),
closure after an exchange (四.8)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.banking.helpers import (
    SYSTEM,
    act,
    at_bank,
    balance,
    cards_view,
    chip_for,
    chip_proof,
    holder,
    produce,
    register_pan,
    teller,
)
from yikatong.banking import jobs, payments, service
from yikatong.banking.errors import (
    AccountLost,
    AccountNotActivated,
    BalanceRemains,
    CardPresentExpired,
    CountryNotSupported,
    CryptogramInvalid,
    CryptogramMismatch,
    CryptogramReplayed,
    CurrencyNotSupported,
    HolderNotPresent,
    UnknownAccount,
)
from yikatong.banking.link import BankRelay
from yikatong.banking.payments import ChipProof
from yikatong.cards import service as cards
from yikatong.cards.bank_rules import bank_loss_rule
from yikatong.cards.protocols import BankGateway
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import IdempotencyKeyReused
from yikatong.crypto.protocols import KeyStore
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import InsufficientFunds

pytestmark = pytest.mark.db
PEOPLE = itertools.count(10_000)  # Hypothesis examples share one database


def activated(platform, bank, *, person_id: int, bank_code: str = "ICBC", **produce_args):
    card = produce(platform, person_id=person_id, bank_code=bank_code, **produce_args)
    register_pan(bank, card)
    at_bank(bank, service.activate_at_branch, actor=teller(bank_code), bank_code=bank_code,
            pan=card.pan, id_document_checked=True, card_checked=True)
    return card


def account(bank, card):
    with bank.uow() as uow:
        return service.account_view(uow=uow, bank_code=card.bank_code, pan=card.pan)


def pay(bank, card, request_id: str, amount: int, **extra):
    return at_bank(bank, payments.online_payment, actor=SYSTEM, bank_code=card.bank_code,
                   pan=card.pan, amount_fen=amount, request_id=request_id,
                   merchant="12333 contribution", **extra)


def credit(bank, card, request_id: str, amount: int, **extra):
    return at_bank(bank, payments.credit, actor=SYSTEM, bank_code=card.bank_code, pan=card.pan,
                   amount_fen=amount, request_id=request_id, payer="pension fund", **extra)


def tx_count(bank, card) -> int:
    with bank.uow() as uow:
        return len(payments.transactions(uow=uow, bank_code=card.bank_code, pan=card.pan))


# ---------------------------------------------------------------------------------------
# Activation (四.9)


def test_the_bank_opens_the_account_when_the_card_is_produced(bank_platform, bank):
    card = produce(bank_platform, person_id=1)
    with bank.uow() as uow:
        view = service.account_view_by_card(uow=uow, bank_code="ICBC", card_no=card.card_no)
    assert (view.status, view.issue_date, view.valid_until) == ("not_activated", card.issue_date,
                                                               card.financial_valid_until)
    assert view.hr_status == "normal"  # the hand-over's HR status reached the bank too


def test_until_activation_payments_and_benefits_are_held_then_released(bank_platform, bank):
    card = produce(bank_platform, person_id=2)
    register_pan(bank, card)
    benefit = credit(bank, card, "pension-2026-03", 180_000)
    contribution = pay(bank, card, "contribution-2026-03", 50_000)
    for held in (benefit, contribution):
        assert held.status == "held" and held.reason_code == "not_activated"
        assert "激活" in held.reason_zh and "activate" in held.reason_en
    assert balance(bank, "ICBC", card.pan) == 0
    with bank.uow() as uow:
        queue = payments.held_payments(uow=uow, bank_code="ICBC", pan=card.pan)
    assert [t.request_id for t in queue] == ["pension-2026-03", "contribution-2026-03"]
    assert cards_view(bank_platform, card.card_no).financial_status == "inactive"

    with pytest.raises(HolderNotPresent):
        at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
                id_document_checked=True, card_checked=False)
    assert account(bank, card).status == "not_activated"

    view = at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC",
                   pan=card.pan, id_document_checked=True, card_checked=True)
    assert (view.status, view.balance_fen, view.held_payments) == ("active", 130_000, 0)
    with bank.uow() as uow:
        done = {t.request_id: t.status for t in payments.transactions(uow=uow, bank_code="ICBC",
                                                                      pan=card.pan)}
    assert done == {"pension-2026-03": "posted", "contribution-2026-03": "posted"}
    # the bank's `activated` event reached the platform at once (relay after the commit)
    assert cards_view(bank_platform, card.card_no).financial_status == "active"


def test_a_held_payment_that_cannot_go_through_fails_with_its_reason(bank_platform, bank):
    card = produce(bank_platform, person_id=3)
    register_pan(bank, card)
    pay(bank, card, "exam-fee", 5_000)  # nothing on the account when it is released
    at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            id_document_checked=True, card_checked=True)
    with bank.uow() as uow:
        [failed] = payments.transactions(uow=uow, bank_code="ICBC", pan=card.pan)
    assert (failed.status, failed.reason_code) == ("failed", InsufficientFunds.code)
    assert balance(bank, "ICBC", card.pan) == 0


def test_card_present_and_cash_are_refused_before_activation(bank_platform, bank):
    card = produce(bank_platform, person_id=4)
    register_pan(bank, card)
    with pytest.raises(AccountNotActivated):
        at_bank(bank, payments.deposit, actor=teller(), bank_code="ICBC", pan=card.pan,
                amount_fen=100, request_id="cash-1")
    assert tx_count(bank, card) == 0


def test_loss_and_replacement_still_work_without_activation(bank_platform, bank):
    card = produce(bank_platform, person_id=5)
    register_pan(bank, card)
    at_bank(bank, service.report_loss_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            kind="formal_loss")
    view = cards_view(bank_platform, card.card_no)
    assert (view.hr_status, view.financial_status) == ("formal_loss", "formal_loss")
    with bank_platform.uow() as uow:
        assert cards.check_replacement_allowed(uow=uow, person_id=5) == card.card_no


# ---------------------------------------------------------------------------------------
# The account (三.3): CNY, China, idempotent, never negative


def test_cny_and_china_only(bank_platform, bank):
    card = activated(bank_platform, bank, person_id=6)
    credit(bank, card, "in-1", 10_000)
    before = (balance(bank, "ICBC", card.pan), tx_count(bank, card))
    with pytest.raises(CurrencyNotSupported):
        pay(bank, card, "usd", 100, currency="USD")
    with pytest.raises(CountryNotSupported):
        pay(bank, card, "hk", 100, country="HK")
    with pytest.raises(CurrencyNotSupported):
        credit(bank, card, "hkd-in", 100, currency="HKD")
    with pytest.raises(CountryNotSupported):
        at_bank(bank, payments.transfer, actor=SYSTEM, bank_code="ICBC", pan=card.pan,
                to_account="6222620000000000018", amount_fen=100, request_id="abroad",
                country="US")
    assert (balance(bank, "ICBC", card.pan), tx_count(bank, card)) == before


def test_every_posting_is_idempotent_by_request_id(bank_platform, bank):
    card = activated(bank_platform, bank, person_id=7)
    first = credit(bank, card, "subsidy-42", 20_000)
    again = credit(bank, card, "subsidy-42", 20_000)
    assert again == first and balance(bank, "ICBC", card.pan) == 20_000
    with pytest.raises(IdempotencyKeyReused):
        credit(bank, card, "subsidy-42", 30_000)
    with bank.uow() as uow:
        lines = ledger.statement(uow=uow, code=f"bank:ICBC:customer:{card.pan}").lines
    assert [line.amount for line in lines] == [20_000]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["in", "out"]), st.integers(1, 50_000)),
                      min_size=1, max_size=12))
def test_the_balance_never_goes_negative(bank_platform, bank, steps):
    card = activated(bank_platform, bank, person_id=next(PEOPLE))
    expected = 0
    for number, (direction, amount) in enumerate(steps):
        if direction == "in":
            credit(bank, card, f"{card.card_no}-in-{number}", amount)
            expected += amount
        elif amount > expected:
            with pytest.raises(InsufficientFunds):
                pay(bank, card, f"{card.card_no}-out-{number}", amount)
        else:
            pay(bank, card, f"{card.card_no}-out-{number}", amount)
            expected -= amount
        assert balance(bank, "ICBC", card.pan) == expected >= 0


def test_transfer_to_an_account_of_another_partner_bank(bank_platform, bank):
    payer = activated(bank_platform, bank, person_id=9)
    payee = produce(bank_platform, person_id=10, bank_code="BOC")
    register_pan(bank, payee)
    credit(bank, payer, "salary", 50_000)
    sent = at_bank(bank, payments.transfer, actor=SYSTEM, bank_code="ICBC", pan=payer.pan,
                   to_account=payee.pan, amount_fen=12_000, request_id="rent")
    assert (sent.status, sent.balance_fen) == ("posted", 38_000)
    with bank.uow() as uow:  # the payee is not activated: the money waits there
        [waiting] = payments.held_payments(uow=uow, bank_code="BOC", pan=payee.pan)
    assert (waiting.kind, waiting.amount_fen, waiting.counterparty) == ("transfer_in", 12_000,
                                                                        payer.pan)
    at_bank(bank, service.activate_at_branch, actor=teller("BOC"), bank_code="BOC",
            pan=payee.pan, id_document_checked=True, card_checked=True)
    assert balance(bank, "BOC", payee.pan) == 12_000
    with bank.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced


def test_another_banks_account_is_unknown_here(bank_platform, bank):
    card = activated(bank_platform, bank, person_id=11)
    with pytest.raises(UnknownAccount):
        at_bank(bank, payments.credit, actor=SYSTEM, bank_code="CCB", pan=card.pan,
                amount_fen=1, request_id="x", payer="p")


# ---------------------------------------------------------------------------------------
# Card-present transactions against the chip, and the 10-year validity (二.2)


def test_pos_purchase_verifies_the_chips_cryptogram(bank_platform, bank, clock):
    card = activated(bank_platform, bank, person_id=12)
    credit(bank, card, "in", 100_000)
    keystore = bank_platform.get(KeyStore)
    reader = chip_for(card, keystore)

    def purchase(request_id, proof, amount=8_800):
        return at_bank(bank, payments.card_present, actor=SYSTEM, keystore=keystore,
                       bank_code="ICBC", pan=card.pan, kind="pos_purchase", amount_fen=amount,
                       request_id=request_id, chip=proof, merchant="POS 320400-0001")

    good = chip_proof(reader, amount=8_800, when=clock.now())
    assert purchase("pos-1", good).balance_fen == 91_200
    assert purchase("pos-1", good).balance_fen == 91_200  # a retry is answered, not re-posted
    with pytest.raises(CryptogramReplayed):
        purchase("pos-2", good)  # the same cryptogram under a new request id

    fresh = chip_proof(reader, amount=8_800, when=clock.now())
    flipped = bytes([fresh.arqc[0] ^ 0x01]) + fresh.arqc[1:]
    with pytest.raises(CryptogramInvalid):
        purchase("pos-3", ChipProof(**{**fresh.__dict__, "arqc": flipped}))
    with pytest.raises(CryptogramMismatch):
        purchase("pos-4", fresh, amount=1)  # the chip signed 88.00, not 0.01
    other = produce(bank_platform, person_id=13)
    with pytest.raises(CryptogramMismatch):  # another card's chip on this account
        purchase("pos-5", chip_proof(chip_for(other, keystore), amount=8_800, when=clock.now()))
    assert balance(bank, "ICBC", card.pan) == 91_200
    assert purchase("pos-6", fresh).balance_fen == 82_400


def test_after_ten_years_card_present_is_refused_online_and_credits_work(bank_platform, bank, clock):
    card = activated(bank_platform, bank, person_id=14, issue_date=date(2016, 3, 2))
    credit(bank, card, "in", 50_000)
    reader = chip_for(card, bank_platform.get(KeyStore))
    clock.set(datetime(2026, 3, 1, 15, 59, tzinfo=UTC))  # 2026-03-01 23:59 CST: the last day
    proof = chip_proof(reader, amount=1_000, when=clock.now())
    at_bank(bank, payments.card_present, actor=SYSTEM, keystore=bank_platform.get(KeyStore),
            bank_code="ICBC", pan=card.pan, kind="withdrawal", amount_fen=1_000,
            request_id="atm-last-day", chip=proof, channel="atm")
    clock.advance(minutes=1)  # 2026-03-02 CST: ten years are over
    for kind in ("pos_purchase", "withdrawal"):
        proof = chip_proof(reader, amount=1_000, when=clock.now())
        with pytest.raises(CardPresentExpired):
            at_bank(bank, payments.card_present, actor=SYSTEM, keystore=bank_platform.get(KeyStore),
                    bank_code="ICBC", pan=card.pan, kind=kind, amount_fen=1_000,
                    request_id=f"late-{kind}", chip=proof)
    assert pay(bank, card, "online-after", 2_000).status == "posted"
    assert credit(bank, card, "pension-after", 3_000).status == "posted"
    assert balance(bank, "ICBC", card.pan) == 50_000 - 1_000 - 2_000 + 3_000
    view = account(bank, card)
    assert (view.financial_status, view.card_present_allowed, view.online_allowed,
            view.credit_allowed) == ("expired", False, True, True)
    with bank_platform.uow() as uow:  # the platform's own view agrees
        assert cards.capabilities(uow=uow, card_no=card.card_no).as_dict() == {
            "card_present": False, "online": True, "credit": True}


# ---------------------------------------------------------------------------------------
# Losses both ways (四.6–7)


def test_formal_loss_at_a_branch_reaches_the_platform_for_both_functions(bank_platform, bank):
    card = activated(bank_platform, bank, person_id=15)
    credit(bank, card, "in", 10_000)
    at_bank(bank, service.report_loss_at_branch, actor=teller(branch="ICBC-CZ-007"),
            bank_code="ICBC", pan=card.pan, kind="formal_loss")
    view = cards_view(bank_platform, card.card_no)
    assert (view.hr_status, view.financial_status) == ("formal_loss", "formal_loss")
    hr_block = next(b for b in view.blocks_in_force if b.function == "hr")
    assert (hr_block.channel, hr_block.branch_code, hr_block.set_by_role) == (
        "bank_branch", "ICBC-CZ-007", "bank")
    with pytest.raises(AccountLost):
        pay(bank, card, "while-lost", 100)
    assert credit(bank, card, "benefit-while-lost", 500).status == "posted"

    at_bank(bank, service.unblock_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan)
    view = cards_view(bank_platform, card.card_no)
    assert (view.hr_status, view.financial_status) == ("normal", "active")
    assert pay(bank, card, "usable-again", 100).status == "posted"
    assert account(bank, card).hr_status == "normal"  # and the platform told the bank back


def test_formal_loss_online_reaches_the_bank_which_protects_the_account(bank_platform, bank):
    card = activated(bank_platform, bank, person_id=16)
    outcome = act(bank_platform, cards.report_loss, actor=holder(16), card_no=card.card_no,
                  kind="formal")
    # Online covers HR; the financial side follows the bank, and the answer says at once what
    # ICBC's declared rule does (before the card's status changes through the bank's event).
    assert "临时挂失（5 天）" in outcome.referral_zh
    assert "protective temporary loss at once (5 days)" in outcome.referral_en
    view = account(bank, card)
    assert (view.hr_status, view.status) == ("formal_loss", "temporary_loss")
    [loss] = view.losses_in_force
    assert (loss.source, loss.channel) == ("platform_sync", "online_portal")
    assert cards_view(bank_platform, card.card_no).financial_status == "active"
    jobs.relay_bank_events(bank_platform)  # the worker's relay, every 0.2 s
    assert cards_view(bank_platform, card.card_no).financial_status == "temporary_loss"

    act(bank_platform, cards.unblock, actor=holder(16), card_no=card.card_no)
    view = cards_view(bank_platform, card.card_no)
    assert (view.hr_status, view.financial_status) == ("normal", "active")
    assert account(bank, card).status == "active"


@pytest.mark.parametrize("bank_code", ["JNRCB", "CCB"])  # declared "note"; the default
def test_a_bank_with_the_note_policy_only_records_an_online_formal_loss(bank_platform, bank, bank_code):
    card = activated(bank_platform, bank, person_id=17, bank_code=bank_code)
    outcome = act(bank_platform, cards.report_loss, actor=holder(17), card_no=card.card_no,
                  kind="formal")
    assert outcome.referral_en.endswith("the financial function is untouched")
    jobs.relay_bank_events(bank_platform)
    view = account(bank, card)
    assert (view.hr_status, view.status) == ("formal_loss", "active")
    assert cards_view(bank_platform, card.card_no).financial_status == "active"


@pytest.mark.parametrize("bank_code", ["CCB", "JNRCB"])
def test_temporary_loss_at_a_branch_follows_the_banks_rule(bank_platform, bank, clock, bank_code):
    rule = bank_loss_rule(bank_code)
    card = activated(bank_platform, bank, person_id=18, bank_code=bank_code)
    at_bank(bank, service.report_loss_at_branch, actor=teller(bank_code), bank_code=bank_code,
            pan=card.pan, kind="temporary_loss")
    view = cards_view(bank_platform, card.card_no)
    assert (view.hr_status, view.financial_status) == ("normal", "temporary_loss")
    clock.advance(rule.temporary_loss_duration)
    assert jobs.run_bank_rules(bank_platform) == (1 if rule.auto_lift else 0)
    expected = "active" if rule.auto_lift else "temporary_loss"
    assert account(bank, card).status == expected
    assert cards_view(bank_platform, card.card_no).financial_status == expected


def test_a_teller_reporting_through_the_platform_reaches_the_bank_in_the_same_request(
        bank_platform, bank):
    card = activated(bank_platform, bank, person_id=19)
    outcome = act(bank_platform, cards.report_loss, actor=teller(), card_no=card.card_no,
                  kind="formal")
    assert (outcome.card.hr_status, outcome.card.financial_status) == ("formal_loss", "formal_loss")
    assert account(bank, card).status == "formal_loss"
    act(bank_platform, cards.unblock, actor=teller(), card_no=card.card_no)
    assert account(bank, card).status == "active"
    assert cards_view(bank_platform, card.card_no).financial_status == "active"


def test_the_banks_answer_arrives_even_if_the_platforms_transaction_failed(bank_platform, bank):
    card = activated(bank_platform, bank, person_id=20)
    gateway = bank_platform.get(BankGateway)
    first = gateway.report_financial_loss(bank_code="ICBC", card_no=card.card_no, pan=card.pan,
                                          kind="formal_loss", channel="bank_branch",
                                          reported_at=bank_platform.clock.now())
    # ... and the platform's transaction that asked rolled back: its copy did not change.
    assert cards_view(bank_platform, card.card_no).financial_status == "active"
    again = gateway.report_financial_loss(bank_code="ICBC", card_no=card.card_no, pan=card.pan,
                                          kind="formal_loss", channel="bank_branch",
                                          reported_at=bank_platform.clock.now())
    assert again.events == first.events  # a repeated request: the bank's first answer
    # The relay lets an answered event wait a moment for the asking transaction; this one
    # will never commit, so do not wait for it here.
    bank_platform.get(BankRelay).grace_seconds = 0
    jobs.relay_bank_events(bank_platform)
    assert cards_view(bank_platform, card.card_no).financial_status == "formal_loss"


def test_each_platform_event_is_applied_once_at_the_bank(bank_platform, bank):
    from yikatong.events.dispatcher import as_event
    from yikatong.events.models import OutboxEvent

    card = produce(bank_platform, person_id=21)
    with bank_platform.uow() as uow:
        from sqlalchemy import select

        produced = as_event(uow.session.execute(select(OutboxEvent).where(
            OutboxEvent.aggregate_id == card.card_no, OutboxEvent.type == "card.produced")).scalar_one())
    with bank.uow() as uow:  # delivered once already by the in-process bus
        assert service.handle_platform_event(uow=uow, bank_code="ICBC", event=produced) is False
        assert [m.type for m in service.processed_messages(uow=uow, bank_code="ICBC")
                if m.card_no == card.card_no][:1] == ["card.produced"]


# ---------------------------------------------------------------------------------------
# Exchange: the old account is closed at the bank (四.8)


def test_exchange_raises_a_closure_task_which_the_branch_completes(bank_platform, bank):
    old = activated(bank_platform, bank, person_id=22)
    credit(bank, old, "in", 7_500)
    act(bank_platform, cards.record_wallet_refund, refunded_fen=0, card_no=old.card_no,
        actor=Actor(user_id="smk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                    branch_code="SMK-DIRECT-01"))
    new = produce(bank_platform, person_id=22, kind="exchange", predecessor=old.card_no)
    assert cards_view(bank_platform, old.card_no).state == "retired"
    with bank.uow() as uow:
        [task] = service.closure_tasks(uow=uow, bank_code="ICBC")
    assert (task.card_no, task.successor_card_no, task.balance_fen) == (old.card_no, new.card_no,
                                                                        7_500)
    with pytest.raises(BalanceRemains):
        at_bank(bank, service.complete_closure, actor=teller(), bank_code="ICBC",
                task_id=task.task_id)
    register_pan(bank, new)
    at_bank(bank, payments.transfer, actor=teller(), bank_code="ICBC", pan=old.pan,
            to_account=new.pan, amount_fen=7_500, request_id="move-balance", channel="counter")
    done = at_bank(bank, service.complete_closure, actor=teller(), bank_code="ICBC",
                   task_id=task.task_id)
    assert (done.status, done.balance_fen) == ("completed", 0)
    assert cards_view(bank_platform, old.card_no).bank_financial_status == "closed"
    from sqlalchemy import select

    from yikatong.cards.models import BankAccountClosureTask
    with bank_platform.uow() as uow:
        platform_task = uow.session.execute(select(BankAccountClosureTask)).scalar_one()
    assert (platform_task.status, platform_task.bank_task_id) == ("completed", task.task_id)
    with bank.uow() as uow:
        assert service.closure_tasks(uow=uow, bank_code="ICBC") == []
    assert account(bank, old).status == "closed"


def test_the_closure_request_names_the_successor_and_a_late_event_changes_nothing(bank_platform, bank, clock):
    """The bank's task shows where the money goes as soon as the gateway asks, not only once the
    platform's `card.bank_account_closure_requested` event arrives; that event, arriving after
    the branch completed the task, neither opens another nor fails."""
    from yikatong.events.protocols import Event

    old = activated(bank_platform, bank, person_id=24)
    task_id = bank_platform.get(BankGateway).request_account_closure(
        bank_code="ICBC", card_no=old.card_no, pan=old.pan, reason="exchanged",
        requested_at=clock.now(), successor_card_no="C99999999")
    with bank.uow() as uow:
        [task] = service.closure_tasks(uow=uow, bank_code="ICBC")
    assert (task.task_id, task.card_no, task.successor_card_no) == (task_id, old.card_no, "C99999999")
    at_bank(bank, service.complete_closure, actor=teller(), bank_code="ICBC", task_id=task_id)
    late = Event(event_id="platform-evt-late", type="card.bank_account_closure_requested",
                 aggregate_type="card", aggregate_id=old.card_no, partner="ICBC",
                 occurred_at=clock.now(), seq=9,
                 payload={"card_no": old.card_no, "successor_card_no": "C99999999",
                          "reason": "exchanged", "bank_code": "ICBC", "bank_task_id": task_id})
    with bank.uow() as uow:
        assert service.handle_platform_event(uow=uow, bank_code="ICBC", event=late)
        uow.commit()
    with bank.uow() as uow:
        tasks = service.closure_tasks(uow=uow, bank_code="ICBC", status=None)
    assert [(t.task_id, t.status) for t in tasks] == [(task_id, "completed")]


def test_messages_that_cannot_apply_are_recorded_and_never_block_a_stream(bank_platform, bank, clock):
    from yikatong.banking.link import apply_bank_message
    from yikatong.events.protocols import Event

    card = produce(bank_platform, person_id=23)
    register_pan(bank, card)
    clash = Event(event_id="platform-evt-1", type="card.produced", aggregate_type="card",
                  aggregate_id="Z00000001", partner="ICBC", occurred_at=clock.now(), seq=1,
                  payload={"pan": card.pan, "issue_date": "2026-03-02"})  # another card's number
    with bank.uow() as uow:
        assert service.handle_platform_event(uow=uow, bank_code="ICBC", event=clash)
        uow.commit()
    with bank.uow() as uow:
        [record] = [m for m in service.processed_messages(uow=uow, bank_code="ICBC")
                    if m.message_id == "platform-evt-1"]
        assert (record.outcome, record.note) == ("ignored", "refused: bank_account_number_mismatch")
        assert service.account_view_by_card(uow=uow, bank_code="ICBC",
                                             card_no=card.card_no).pan == card.pan
    stray = Event(event_id="ICBC-stray", type="bank.formal_loss", aggregate_type="card",
                  aggregate_id="Z00000002", partner="ICBC", occurred_at=clock.now(), seq=1,
                  payload={"pan": card.pan, "channel": "bank_branch"})  # a card nobody issued
    assert apply_bank_message(bank_platform, stray) is False
    wrong_account = Event(event_id="ICBC-wrong", type="bank.formal_loss", aggregate_type="card",
                          aggregate_id=card.card_no, partner="ICBC", occurred_at=clock.now(),
                          seq=2, payload={"pan": "6212260000000000000", "channel": "bank_branch"})
    assert apply_bank_message(bank_platform, wrong_account) is False
    assert cards_view(bank_platform, card.card_no).financial_status == "inactive"
