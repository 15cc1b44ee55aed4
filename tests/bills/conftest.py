"""Helpers for the bills tests: registered people whose card accounts are open at the
reference bank (activated, with money), the actors of the payees and offices."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.banking.helpers import at_bank, produce, register_pan, teller
from tests.medical.conftest import registered
from yikatong.banking import payments
from yikatong.banking import service as bank_service
from yikatong.banking.runtime import ReferenceBank
from yikatong.banking.wiring import use_reference_bank
from yikatong.core.actor import Actor, Channel, Role

WATER = Actor(user_id="water", role=Role.BILLER, channel=Channel.PARTNER_API, branch_code="CZ-WATER")
GAS = Actor(user_id="gas", role=Role.BILLER, channel=Channel.PARTNER_API, branch_code="CZ-GAS")
EXAM_OFFICE = Actor(user_id="exam-office", role=Role.HR_OFFICER, channel=Channel.AGENCY)
SI_OFFICE = Actor(user_id="si", role=Role.PAYING_OFFICE, channel=Channel.AGENCY, branch_code="CZ-SI")
ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)
_names = itertools.count(1)


def holder(person_id: int) -> Actor:
    return Actor(user_id=f"holder{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id)


@pytest.fixture
def bank_platform(platform) -> Iterator:
    use_reference_bank(platform)
    yield platform
    if ReferenceBank in platform._services:
        platform.get(ReferenceBank).close()


@pytest.fixture
def bank(bank_platform) -> ReferenceBank:
    return bank_platform.get(ReferenceBank)


def payer(platform, bank, *, money: int = 500_000, activate: bool = True):
    """A registered person with a card in use whose account is open at the reference bank,
    activated with `money` fen on it: (ID number, person id, card view)."""
    ssn, person_id = registered(platform, name="李缴费")
    card = produce(platform, person_id=person_id)
    register_pan(bank, card)
    if activate:
        at_bank(bank, bank_service.activate_at_branch, actor=teller(), bank_code=card.bank_code,
                pan=card.pan, id_document_checked=True, card_checked=True)
        if money:
            at_bank(bank, payments.deposit, actor=teller(), bank_code=card.bank_code, pan=card.pan,
                    amount_fen=money, request_id=f"cash-{card.card_no}")
    return ssn, person_id, card


def balance(bank, card) -> int:
    with bank.uow() as uow:
        return payments.balance(uow, payments.account_by_pan(uow, card.bank_code, card.pan))


def act(platform, operation, **kwargs):
    with platform.uow() as uow:
        return operation(uow=uow, **kwargs)
