"""Helpers for the bank tests: cards as the factory delivers them, actors, chips, one call per
transaction."""

from __future__ import annotations

import itertools
import os
from datetime import date, timedelta

from stdnum import luhn

from yikatong.banking import payments
from yikatong.banking.payments import ChipProof
from yikatong.banking.runtime import ReferenceBank
from yikatong.cards import service as cards
from yikatong.chip.bankcard import read_debit, request_arqc
from yikatong.chip.emulator import Card
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.reader import EmulatorReader
from yikatong.core.actor import Actor, Channel, Role

_serial = itertools.count(1)
SYSTEM = Actor.system("tests")
OUTLET = Actor(user_id="outlet", role=Role.SS_OUTLET, channel=Channel.OUTLET, branch_code="SS-TN-01")


def teller(bank_code: str = "ICBC", branch: str | None = None) -> Actor:
    return Actor(user_id=f"{bank_code.lower()}-teller", role=Role.BANK, channel=Channel.BANK_BRANCH,
                 bank_code=bank_code, branch_code=branch or f"{bank_code}-CZ-001")


def holder(person_id: int, channel: Channel = Channel.ONLINE_PORTAL) -> Actor:
    return Actor(user_id=f"holder{person_id}", role=Role.HOLDER, channel=channel, person_id=person_id)


def card_numbers(prefix: str = "621226") -> dict:
    n = next(_serial) + os.getpid() % 1000 * 10_000
    body = f"{prefix}{n:012d}"
    return {"card_no": f"B{n:08d}", "card_id_code": f"320400D156000005{n:016X}",
            "chip_serial": f"CHIP{n:012d}", "asn": f"{n:020d}", "pan": body + luhn.calc_check_digit(body)}


def act(platform, operation, **kwargs):
    """One platform use case in its own unit of work, committed."""
    with platform.uow() as uow:
        result = operation(uow=uow, **kwargs)
        uow.commit()
    return result


def at_bank(bank: ReferenceBank, operation, **kwargs):
    """One bank use case in its own unit of work, committed (relayed to the platform)."""
    with bank.uow() as uow:
        result = operation(uow=uow, **kwargs)
        bank.commit(uow)
    return result


def produce(platform, *, person_id: int, bank_code: str = "ICBC", issue_date: date | None = None,
            kind: str = "first", predecessor: str | None = None):
    """A card the factory delivered and the holder received (in use, not activated)."""
    issue_date = issue_date or date(2026, 3, 2)
    view = act(platform, cards.register_produced_card, actor=SYSTEM, application_id=None,
               person_id=person_id, kind=kind, bank_code=bank_code, issue_date=issue_date,
               predecessor_card_no=predecessor, **card_numbers())
    act(platform, cards.hand_over, actor=OUTLET, card_no=view.card_no)
    return cards_view(platform, view.card_no)


def cards_view(platform, card_no: str):
    with platform.uow() as uow:
        return cards.get_card(uow=uow, card_no=card_no)


def register_pan(bank: ReferenceBank, card) -> None:
    """The production list tells the bank the card's account number (until the platform's
    card.produced event carries it)."""
    from yikatong.banking import service

    at_bank(bank, service.open_account, bank_code=card.bank_code, card_no=card.card_no,
            pan=card.pan, issue_date=card.issue_date)


def chip_for(card, keystore) -> EmulatorReader:
    """The card's chip, personalised with the platform's keys, in an emulated reader."""
    data = CardPersonalisation(
        card_no=card.card_no, card_id_code=card.card_id_code, ssn="320402199003070013",
        name="测试乙", gender="1", nation="01", birthplace="320402", birth_date=date(1990, 3, 7),
        issue_date=card.issue_date, expiry_date=card.issue_date + timedelta(days=3652),
        region_code="320400", pan=card.pan, pan_sequence=1,
        pan_expiry=card.financial_valid_until, asn=card.asn[-20:].rjust(20, "0"))
    reader = EmulatorReader(Card(personalise(data, keystore)))
    reader.connect()
    return reader


def chip_proof(reader, *, amount: int, when, unpredictable: bytes = b"\x11\x22\x33\x44") -> ChipProof:
    card = read_debit(reader)
    result = request_arqc(reader, card, amount=amount, when=when, unpredictable_number=unpredictable)
    return ChipProof(**result.verification())


def balance(bank: ReferenceBank, bank_code: str, pan: str) -> int:
    with bank.uow() as uow:
        return payments.balance(uow, payments.account_by_pan(uow, bank_code, pan))
