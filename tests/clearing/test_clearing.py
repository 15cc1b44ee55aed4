"""Clearing end to end on emulated cards and the transit validators: TACs, duplicates, gaps,
fares, settlement, the national clearing house, shadow balances and the reports."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from importlib import resources

import pytest
from sqlalchemy import func, select

from tests.clearing.conftest import CLEARING, CZ, DAY, World, at, later, operator_actor
from yikatong.chip import terminal
from yikatong.chip.host import LoadHost
from yikatong.clearing import fileformat, national_files, reports, shadow_balances, top_ups
from yikatong.clearing.errors import BatchConflict, NotYourOperator
from yikatong.clearing.fileformat import FileKind, Verdict
from yikatong.clearing.models import ClearedRecord, RecordStatus
from yikatong.clearing.national import NationalClearingHouse
from yikatong.clearing.rules import UNFUNDED_SPEND, Reason
from yikatong.core.money import apply_rate
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.transit import deny_list
from yikatong.transit.fare_config import DEFAULT_CONFIG_FILE, fare_config_from_dict
from yikatong.transit.rules import WALLET_FLOAT

pytestmark = pytest.mark.db
BUS_FARE = apply_rate(200, 60, 100)  # line 1, Changzhou–Wujin: 2 CNY at 60%
SUZHOU = "3050"


def test_a_batch_is_cleared_settled_and_the_books_balance(world):
    cards = [world.card(), world.card(algorithm="3DES"), world.card()]
    line = world.bus()
    for minute, card in enumerate(cards):
        world.tap(line, card, at(8, minute))
    world.tap(line, cards[0], at(12))
    float_before = world.account(WALLET_FLOAT)
    result = world.upload(world.terminal_file(line))
    assert (result.records, result.cleared, result.rejected, result.exceptions) == (4, 4, 0, {})
    (posting,) = result.postings  # one journal for the batch's (operator, issuer), not one per tap
    assert (posting.count, posting.amount) == (4, 4 * BUS_FARE)
    assert world.account("clearing:payable:3040:CZBUS") == 4 * BUS_FARE
    assert world.account(WALLET_FLOAT) == float_before - 4 * BUS_FARE
    assert world.trial_balance().balanced


def test_a_re_uploaded_batch_answers_the_same_and_clears_nothing_twice(world):
    card = world.card()
    line = world.bus()
    world.tap(line, card, at(8))
    content = world.terminal_file(line)
    first = world.upload(content)
    counts = world.counts()
    again = world.upload(content)
    assert again.replayed and again.as_dict() == first.as_dict()
    assert world.counts() == counts


def test_the_same_batch_id_with_other_content_is_a_conflict(world):
    card = world.card()
    line = world.bus()
    world.tap(line, card, at(8))
    world.tap(line, card, at(9))
    records = world.records(line)
    world.upload(world.terminal_file(line, records[:1], file_id="B-1"))
    counts = world.counts()
    with pytest.raises(BatchConflict) as conflict:
        world.upload(world.terminal_file(line, records, file_id="B-1"))
    assert conflict.value.http_status == 409 and world.counts() == counts


def test_an_operator_uploads_only_its_own_batches(world):
    line = world.bus()
    world.tap(line, world.card(), at(8))
    with pytest.raises(NotYourOperator):
        world.upload(world.terminal_file(line), operator_actor("CZMETRO"))


def test_duplicates_are_rejected_and_never_settled(world):
    card = world.card()
    line = world.bus()
    world.tap(line, card, at(8))
    (record,) = world.records(line)
    world.upload(world.terminal_file(line, [record]))
    second = world.upload(world.terminal_file(line, [record, record._replace(counter=record.counter)]))
    assert (second.cleared, second.rejected, second.settled_amount) == (0, 2, 0)
    duplicates = world.exceptions(Reason.DUPLICATE)
    assert len(duplicates) == 2 and all(d.details["same_tac"] is not False for d in duplicates)
    assert "重复" in duplicates[0].zh and "duplicate" in duplicates[0].en
    assert world.account("clearing:payable:3040:CZBUS") == BUS_FARE
    with world.platform.uow() as uow:
        live = uow.session.execute(select(func.count()).select_from(ClearedRecord).where(
            ClearedRecord.asn == card.asn, ClearedRecord.status != RecordStatus.REJECTED)).scalar_one()
    assert live == 1


def test_a_forged_tac_is_rejected_flagged_and_the_card_deny_listed(world):
    card = world.card()
    line = world.bus()
    world.tap(line, card, at(8))
    (record,) = world.records(line)
    forged = record._replace(amount=record.amount - 50, balance_after=record.balance_after + 50)  # TAC kept
    result = world.upload(world.terminal_file(line, [forged]))
    assert (result.cleared, result.rejected, result.exceptions) == (0, 1, {Reason.FORGED: 1})
    (flag,) = world.exceptions(Reason.FORGED)
    assert flag.asn == card.asn and "TAC" in flag.zh and "forged" in flag.en
    with world.platform.uow() as uow:
        assert deny_list.is_listed(uow=uow, asn=card.asn)
    assert world.account("clearing:payable:3040:CZBUS") == 0
    genuine = world.upload(world.terminal_file(line, [record]))  # the real record still clears
    assert genuine.cleared == 1


def test_a_counter_gap_is_flagged_and_resolved_when_the_missing_record_arrives(world):
    card = world.card()
    morning, evening = world.bus(), world.bus("B1")
    world.tap(morning, card, at(8))
    world.tap(evening, card, at(18))
    world.tap(morning, card, at(19))
    morning_records = world.records(morning)
    world.upload(world.terminal_file(morning, morning_records))  # counters 0 and 2: 1 is missing
    assert world.review().gaps_opened == 1
    (gap,) = world.exceptions(Reason.COUNTER_GAP)
    assert (gap.counter, gap.counter_kind) == (morning_records[1].counter, "offline")
    assert "断号" in gap.zh and "counter gap" in gap.en
    world.upload(world.terminal_file(evening))
    review = world.review()
    assert (review.gaps_opened, review.gaps_resolved, review.open_gaps) == (0, 1, 0)
    assert world.exceptions(Reason.COUNTER_GAP) == []
    (resolved,) = world.exceptions(Reason.COUNTER_GAP, open_only=False)
    assert resolved.resolved_at is not None and "arrived" in resolved.resolution


def test_a_fare_mismatch_is_flagged_and_the_card_amount_settled(world):
    """A validator with an outdated fare table charged 3 CNY; the card's TAC is genuine, so the
    record is settled as paid and flagged for review."""
    data = tomllib.loads(resources.files("yikatong.transit").joinpath("config", DEFAULT_CONFIG_FILE)
                         .read_text("utf-8"))
    for line in data["bus_lines"]:
        if line["line"] == "1":
            line["fare"] = 500
    old_fares = fare_config_from_dict(data)
    card = world.card()
    line = world.bus(fares=old_fares)
    paid = world.tap(line, card, at(8)).amount
    assert paid == apply_rate(500, 60, 100) != BUS_FARE
    result = world.upload(world.terminal_file(line))
    assert result.cleared == 1 and result.settled_amount == paid
    assert world.review().mismatches_opened == 1
    assert world.review().mismatches_opened == 0  # reviewing again opens nothing twice
    (flag,) = world.exceptions(Reason.FARE_MISMATCH)
    assert (flag.details["charged"], flag.details["expected"]) == (paid, BUS_FARE)
    assert "按实扣结算" in flag.zh and "settled as paid" in flag.en
    with world.platform.uow() as uow:
        stored = uow.session.execute(select(ClearedRecord.amount).where(ClearedRecord.asn == card.asn)).scalar_one()
    assert stored == paid


def test_a_transfer_arriving_late_resolves_the_fare_flag_it_explains(world):
    """The second bus's transfer deduction comes from the first bus, whose batch arrives later."""
    card = world.card()
    first, second = world.bus("1"), world.bus("B1")
    world.tap(first, card, at(8))
    transfer = world.tap(second, card, at(8, 30))
    assert transfer.amount == apply_rate(200 - 100, 60, 100)
    world.upload(world.terminal_file(second))
    world.review()
    (flag,) = world.exceptions(Reason.FARE_MISMATCH)  # alone, the tap looks like a full fare
    assert flag.details["expected"] == BUS_FARE and flag.details["charged"] == transfer.amount
    world.upload(world.terminal_file(first))
    review = world.review()
    assert (review.taps, review.mismatches_opened, review.mismatches_resolved, review.open_mismatches) == (2, 0, 1, 0)
    assert world.exceptions(Reason.FARE_MISMATCH) == []
    (resolved,) = world.exceptions(Reason.FARE_MISMATCH, open_only=False)
    assert "fare confirmed" in resolved.resolution


@pytest.mark.parametrize("processes", [1, 2])
def test_the_review_rates_a_tap_from_the_cards_taps_of_the_day_before(world, processes):
    """A transfer across midnight: the day's review finds the card's earlier taps by its
    counter, whatever day they were made, and two worker processes splitting the day's cards
    find what one does."""
    transfers, mismatched = world.card(), world.card()
    first, second = world.bus("1"), world.bus("B1")
    world.tap(first, transfers, at(23, 40))
    transfer = world.tap(second, transfers, at(23, 40) + timedelta(minutes=40))
    assert transfer.amount == apply_rate(200 - 100, 60, 100)
    world.tap(first, mismatched, at(8))
    old = world.validator(second.place, fares=_fares_with_line_fare("B1", 500))
    overcharged = world.tap(old, mismatched, at(8) + timedelta(days=1))
    for validator in (first, second, old):
        world.upload(world.terminal_file(validator))
    next_day = DAY + timedelta(days=1)
    review = world.review(next_day, processes=processes)
    assert (review.cards, review.taps, review.mismatches_opened, review.gaps_opened) == (2, 2, 1, 0)
    (flag,) = world.exceptions(Reason.FARE_MISMATCH)
    assert (flag.asn, flag.details["charged"]) == (mismatched.asn, overcharged.amount)


def _fares_with_line_fare(line: str, fare: int):
    data = tomllib.loads(resources.files("yikatong.transit").joinpath("config", DEFAULT_CONFIG_FILE)
                         .read_text("utf-8"))
    for bus_line in data["bus_lines"]:
        if bus_line["line"] == line:
            bus_line["fare"] = fare
    return fare_config_from_dict(data)


def test_another_citys_card_is_cleared_through_the_national_house(world):
    visitor, ours = world.card(SUZHOU), world.card()
    line = world.bus()
    world.tap(line, visitor, at(8))
    world.tap(line, ours, at(8, 1))
    result = world.upload(world.terminal_file(line))
    assert (result.cleared, result.pending_national) == (1, 1)
    assert world.account(f"clearing:receivable:0101{SUZHOU}FFFFFFFF") == 0  # not before the house says so
    _incoming, verdicts = world.exchange_with_house()
    assert (verdicts.kind, verdicts.cleared, verdicts.rejected) == (FileKind.NATIONAL_RESULT, 1, 0)
    fare = visitor.charged
    assert world.account(f"clearing:receivable:0101{SUZHOU}FFFFFFFF") == fare
    assert world.account("clearing:payable:3040:CZBUS") == fare + ours.charged
    assert world.house.positions() == {(SUZHOU, CZ): fare}
    assert world.exchange_with_house() == (None, None)  # nothing waits any more
    assert world.trial_balance().balanced


def test_the_house_refuses_a_forged_visitor_record(world):
    visitor = world.card(SUZHOU)
    line = world.bus()
    world.tap(line, visitor, at(8))
    (record,) = world.records(line)
    world.upload(world.terminal_file(line, [record._replace(amount=1, balance_after=record.balance_after + 99)]))
    _incoming, verdicts = world.exchange_with_house()
    assert (verdicts.cleared, verdicts.rejected) == (0, 1)
    (flag,) = world.exceptions(Reason.NATIONAL_REFUSED)
    assert flag.details["verdict"] == Verdict.FORGED and "全国清分中心" in flag.zh
    with world.platform.uow() as uow:
        assert deny_list.is_listed(uow=uow, asn=visitor.asn)
    assert world.account(f"clearing:receivable:0101{SUZHOU}FFFFFFFF") == 0


def test_our_card_used_elsewhere_comes_back_from_the_house_and_is_paid_from_the_float(world):
    ours = world.card()
    suzhou_bus = world.bus("SZ1", "SZBUS", city=SUZHOU)
    world.tap(suzhou_bus, ours, at(10))
    world.house.collect(world.records(suzhou_bus))
    float_before = world.account(WALLET_FLOAT)
    incoming, _verdicts = world.exchange_with_house()
    assert (incoming.kind, incoming.cleared) == (FileKind.NATIONAL_IN, 1)
    assert world.account(f"clearing:payable:{SUZHOU}:SZBUS") == ours.charged
    assert world.account(WALLET_FLOAT) == float_before - ours.charged
    assert world.house.positions() == {(CZ, SUZHOU): ours.charged}
    with world.platform.uow() as uow:
        ack = fileformat.parse(national_files.file_content(uow=uow, file_id=incoming.acknowledgement))
    assert [v.verdict for v in ack.verdicts] == [Verdict.ACCEPTED]


def test_shadow_balances_follow_loads_and_fares_and_find_a_tampered_card(world):
    honest, tampered = world.card(balance=3000), world.card(balance=3000)
    line = world.bus()
    world.tap(line, honest, at(8))
    world.tap(line, tampered, at(8, 1))
    world.upload_loads()
    world.upload(world.terminal_file(line))
    assert world.shadow(honest) == honest.balance == 3000 - BUS_FARE
    for df in tampered.chip.mf.walk():  # someone writes 50 CNY onto the chip
        if df.purse is not None:
            df.purse.balance += 5000
    world.tap(line, tampered, at(9))
    world.upload(world.terminal_file(line))
    with world.platform.uow() as uow:
        (found,) = shadow_balances.balance_disagreements(uow=uow)
    assert found.asn == tampered.asn and found.difference == 5000
    assert found.card_balance == tampered.balance and found.shadow_balance == tampered.balance - 5000


def test_the_shadow_balance_of_an_unknown_card_is_unknown(world):
    with world.platform.uow() as uow:
        assert shadow_balances.shadow_balance(uow=uow, asn="0" * 20) is None


def test_settlement_report_totals_equal_the_cleared_records_and_reconcile(world):
    cards = [world.card(), world.card(), world.card(SUZHOU)]
    line, metro_out = world.bus(), world.gate_out("0105")
    for minute, card in enumerate(cards):
        world.tap(line, card, at(8, minute))
        world.tap(metro_out, card, at(9, minute))  # exits without entries: the maximum fare
    world.upload_loads()
    world.upload(world.terminal_file(line))
    world.upload(world.terminal_file(metro_out))
    world.exchange_with_house()
    review = world.review()
    assert (review.taps, review.open_mismatches, review.open_gaps) == (6, 0, 0)
    with world.platform.uow() as uow:
        report = reports.settlement_report(uow=uow, day=DAY)
        reconciliation = reports.reconcile(uow=uow, day=DAY)
        cleared = uow.session.execute(select(func.sum(ClearedRecord.amount)).where(
            ClearedRecord.status == RecordStatus.CLEARED, ClearedRecord.counter_kind == "offline")).scalar_one()
    assert report.total_amount == cleared == sum(card.charged for card in cards)
    assert report.total_count == 6 and report.pending_count == 0
    assert set(report.by_operator()) == {(CZ, "CZBUS"), (CZ, "CZMETRO")}
    assert report.loads_amount == sum(card.loaded for card in cards if card.own)
    assert reconciliation.ok and len(reconciliation.cards) == 2
    assert all(check.agrees for check in reconciliation.accounts)


def test_top_ups_of_the_transit_service_count_in_the_shadow_balance(world):
    """Through the real top-up flow: money in through the acquirer and ledger, the load into
    clearing with import_top_ups."""
    from tests.transit.conftest import CASH, COUNTER
    from yikatong.transit import service as transit

    card = world.card(balance=0)
    transit.top_up_at_terminal(platform=world.platform, reader=card.present(), actor=COUNTER,
                               idempotency_key="clearing-top-up-1", amount=2000, payer=CASH, when=at(7))
    assert world.shadow(card) == 2000  # known from the top-up service before clearing saw the load
    with world.platform.uow() as uow:
        imported = top_ups.import_top_ups(uow=uow, actor=CLEARING, keystore=world.keystore)
        uow.commit()
    assert (imported.kind, imported.cleared) == (FileKind.TOP_UPS, 1)
    line = world.bus()
    world.tap(line, card, later(at(8), minutes=1))
    world.upload(world.terminal_file(line))
    assert world.shadow(card) == card.balance == 2000 - BUS_FARE
    with world.platform.uow() as uow:
        assert top_ups.import_top_ups(uow=uow, actor=CLEARING, keystore=world.keystore) is None


def test_a_tac_key_with_another_diversification_is_checked_record_by_record(platform, tmp_path, clock):
    """The bulk verifiers take issuer-then-ASN keys; a one-level (ASN only) TAC master is
    checked one record at a time, with the same verdicts."""
    keys = InMemoryKeyStore(seed=b"one-level TAC keys", diversification={"tac": "asn"})
    platform.provide(KeyStore, keys)
    world = World(platform, keys, NationalClearingHouse(tmp_path / "national", clock=clock))
    card = world.card()
    line = world.bus()
    world.tap(line, card, at(8))
    world.tap(line, card, at(9))
    genuine, altered = world.records(line)
    result = world.upload(world.terminal_file(line, [genuine, altered._replace(amount=altered.amount + 1)]))
    assert (result.cleared, result.rejected, result.exceptions) == (1, 1, {Reason.FORGED: 1})


def test_a_card_spending_money_never_topped_up_is_settled_flagged_and_deny_listed(world):
    """A tampered card (loaded without any top-up reaching the float) must not make the upload
    fail on the float's no-negative rule: its unfunded part goes to the suspense account."""
    honest = world.card(balance=200)
    tampered = world.card(balance=0)
    terminal.load(tampered.present(), LoadHost(world.keystore), 3000, bytes.fromhex(f"{CZ}10000001"), at(5, 30))
    tampered.loaded += 3000  # on the card, never paid for: nothing reaches the float
    world.upload_loads()  # the honest card's top-up is cleared: its shadow balance covers its fare
    line = world.bus()
    world.tap(line, honest, at(8))
    world.tap(line, tampered, at(8, 5))
    world.tap(line, tampered, at(11))  # past the transfer window: two full fares
    result = world.upload(world.terminal_file(line))
    assert (result.cleared, result.rejected, result.exceptions) == (3, 0, {Reason.UNFUNDED_SPEND: 1})
    (posting,) = result.postings
    assert (posting.amount, posting.unfunded) == (3 * BUS_FARE, 2 * BUS_FARE)
    assert world.account(WALLET_FLOAT) == 200 - BUS_FARE  # what the honest card still holds
    assert world.account(UNFUNDED_SPEND) == 2 * BUS_FARE
    assert world.account("clearing:payable:3040:CZBUS") == 3 * BUS_FARE  # the operator is paid in full
    assert world.trial_balance().balanced
    (flag,) = world.exceptions(Reason.UNFUNDED_SPEND)
    assert flag.asn == tampered.asn and "未经充值" in flag.zh and "never came through a top-up" in flag.en
    with world.platform.uow() as uow:
        assert deny_list.is_listed(uow=uow, asn=tampered.asn)
        assert not deny_list.is_listed(uow=uow, asn=honest.asn)
