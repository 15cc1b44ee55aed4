"""The venue's ticket terminal taking the transit wallet: a T-Union purchase on an emulated card,
torn debits settled at the next presentation, and the records cleared by the existing clearing
with the venue operator as the terminal's operator (its payable credited)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.clearing.conftest import DAY, World, at
from yikatong.chip import terminal
from yikatong.chip.emulator import TearPoint
from yikatong.chip.host import LoadHost, verify_tac
from yikatong.chip.psam import Psam
from yikatong.clearing import fileformat, reports
from yikatong.clearing.national import NationalClearingHouse
from yikatong.clearing.rules import operator_payable
from yikatong.clearing.simulation import new_card
from yikatong.core.actor import Actor, Channel, Role
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.tourism.terminal import VenueTerminal, clearing_operator, reference_of

VENUE_ACTOR = Actor(user_id="venue-cashier", role=Role.VENUE_OPERATOR, channel=Channel.VENUE,
                    branch_code="CZ-DINO")
KEYS = InMemoryKeyStore(seed=b"venue-terminal-tests")


@pytest.fixture
def world(platform, tmp_path, clock) -> World:
    platform.provide(KeyStore, KEYS)
    return World(platform, KEYS, NationalClearingHouse(tmp_path / "national", clock=clock))


def venue_terminal(number: int = 1) -> VenueTerminal:
    return VenueTerminal(Psam(KEYS, terminal_id=bytes.fromhex(f"30407000{number:04d}")), venue_code="CZ-DINO-PARK",
                         operator_code="CZ-DINO")


def test_clearing_operator_codes():
    assert clearing_operator("CZ-DINO") == "CZDINO"
    with pytest.raises(ValueError):
        clearing_operator("--")


@pytest.mark.db
def test_a_wallet_payment_is_a_purchase_cleared_to_the_venue_operator(world):
    card = world.card(balance=30_000)
    till = venue_terminal()
    short = till.charge(card.present(), 40_000, at(10))
    assert not short.paid and short.reason == "insufficient_balance" and "余额不足" in short.zh
    paid = till.charge(card.present(), 22_800, at(10, 5))
    assert paid.paid and paid.reference == reference_of(paid.record) and paid.record.balance_after == 7_200
    assert verify_tac(paid.record, KEYS)
    content = till.clearing_file("DINO-0001", created=at(23))
    assert fileformat.parse(content).header.operator == "CZDINO"
    result = world.upload(content, VENUE_ACTOR)
    assert (result.cleared, result.rejected, result.settled_amount) == (1, 0, 22_800)
    [posting] = result.postings
    assert (posting.operator, posting.credit) == ("CZDINO", operator_payable("3040", "CZDINO"))
    assert world.account(operator_payable("3040", "CZDINO")) in (22_800, -22_800)
    with world.platform.uow() as uow:
        lines = reports.settlement_report(uow=uow, day=at(10).date()).lines
    assert any(line.operator == "CZDINO" and line.amount == 22_800 for line in lines)
    again = world.upload(content, VENUE_ACTOR)
    assert again.replayed and world.trial_balance().balanced


@pytest.mark.parametrize(("point", "debited"), [(TearPoint.AFTER_COMMIT, True), (TearPoint.BEFORE_COMMIT, False)])
def test_a_torn_payment_is_settled_when_the_card_comes_back(point, debited):
    card = new_card(901 if debited else 902, city="3040", day=DAY, keystore=KEYS, house=None, algorithm="SM4")
    terminal.load(card.present(), LoadHost(KEYS), 10_000, bytes.fromhex("304010000001"), at(6))
    till = venue_terminal(2)
    card.reader.card.arm_tear(point, ins=0x54)
    torn = till.charge(card.reader, 6_000, at(10))
    assert not torn.paid and torn.reason == "card_removed"
    retried = till.charge(card.present(), 6_000, at(10) + timedelta(seconds=20))
    assert retried.paid and retried.recovered == debited
    [record] = till.drain()  # one debit, whichever way the tear went
    assert record.amount == 6_000 and record.balance_after == 4_000

