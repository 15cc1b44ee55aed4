"""Helpers for the card tests: cards entered as a factory would deliver them, actors per role."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from yikatong.applications.rules import luhn_complete
from yikatong.cards import service
from yikatong.core.actor import Actor, Channel, Role

_serial = itertools.count(1)


def new_card_numbers(bank_prefix: str = "621226") -> dict:
    n = next(_serial)
    return {"card_no": f"T{n:08d}", "card_id_code": f"320400D156000005{n:016X}",
            "chip_serial": f"CHIP{n:012d}", "asn": f"{n:020d}",
            "pan": luhn_complete(f"{bank_prefix}{n:012d}")}


SYSTEM = Actor.system("tests")
ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)
PHONE = Actor(user_id="agent", role=Role.PHONE_AGENT, channel=Channel.PHONE_12333)
OUTLET = Actor(user_id="outlet", role=Role.SS_OUTLET, channel=Channel.OUTLET, branch_code="SS-TN-01")
CITIZEN_OUTLET = Actor(user_id="smk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                       branch_code="SMK-DIRECT-01")


def holder(person_id: int, channel: Channel = Channel.ONLINE_PORTAL) -> Actor:
    return Actor(user_id=f"holder{person_id}", role=Role.HOLDER, channel=channel,
                 person_id=person_id)


def bank_branch(bank_code: str = "ICBC", branch: str = "ICBC-CZ-001") -> Actor:
    return Actor(user_id=f"{bank_code.lower()}-teller", role=Role.BANK,
                 channel=Channel.BANK_BRANCH, bank_code=bank_code, branch_code=branch)


def produce(platform, *, person_id: int, kind: str = "first", bank_code: str = "ICBC",
            predecessor: str | None = None, issue_date: date = date(2026, 3, 2),
            bank_prefix: str = "621226"):
    with platform.uow() as uow:
        view = service.register_produced_card(
            uow=uow, actor=SYSTEM, application_id=None, person_id=person_id, kind=kind,
            bank_code=bank_code, issue_date=issue_date, predecessor_card_no=predecessor,
            **new_card_numbers(bank_prefix))
        uow.commit()
    return view


def hand_over(platform, card_no: str):
    with platform.uow() as uow:
        view = service.hand_over(uow=uow, actor=OUTLET, card_no=card_no)
        uow.commit()
    return view


def card_in_use(platform, *, person_id: int, bank_code: str = "ICBC", activate: bool = True,
                issue_date: date = date(2026, 3, 2), bank_prefix: str = "621226") -> str:
    card_no = produce(platform, person_id=person_id, bank_code=bank_code,
                      issue_date=issue_date, bank_prefix=bank_prefix).card_no
    hand_over(platform, card_no)
    if activate:
        with platform.uow() as uow:
            service.activate_financial(uow=uow, actor=bank_branch(bank_code, f"{bank_code}-1"),
                                       card_no=card_no)
            uow.commit()
    return card_no


def act(platform, operation, **kwargs):
    """Run one service call in its own unit of work and commit it."""
    with platform.uow() as uow:
        result = operation(uow=uow, **kwargs)
        uow.commit()
    return result


def read(platform, card_no: str):
    with platform.uow() as uow:
        return service.get_card(uow=uow, card_no=card_no)


@pytest.fixture
def person_ids():
    return itertools.count(1000)


def row_counts(platform) -> dict[str, int]:
    """How many rows every table holds: a refused request must leave all of them unchanged."""
    from sqlalchemy import func, inspect, select, table

    # The tables this database has (other domains may import more models while tests run),
    # but the throttle's counters: every holder call counts there, refused or not.
    names = [name for name in inspect(platform.engine).get_table_names()
             if name != "throttle_counters"]
    with platform.uow() as uow:
        return {name: uow.session.execute(select(func.count()).select_from(table(name)))
                .scalar_one() for name in names}


def events_of(platform, card_no: str) -> list:
    from sqlalchemy import select

    from yikatong.events.models import OutboxEvent

    with platform.uow() as uow:
        return list(uow.session.execute(select(OutboxEvent).where(
            OutboxEvent.aggregate_id == card_no).order_by(OutboxEvent.seq)).scalars())


def audits_of(platform, card_no: str) -> list:
    from sqlalchemy import select

    from yikatong.audit.models import AuditRecord

    with platform.uow() as uow:
        return list(uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "card", AuditRecord.entity_id == card_no)
            .order_by(AuditRecord.seq)).scalars())


@pytest.fixture(autouse=True)
def simple_bank(request):
    """The cards tests pin the cards package's own SimpleBankGateway (its loss rules are the
    ones in cards/bank_loss_rules.toml); test_bank_integration builds a platform of its own
    with whatever bank is registered."""
    if "platform" not in request.fixturenames:
        return None
    from yikatong.cards.bank_gateway import SimpleBankGateway
    from yikatong.cards.protocols import BankGateway

    gateway = SimpleBankGateway()
    request.getfixturevalue("platform").provide(BankGateway, gateway)
    return gateway


_people = itertools.count(301)


def person_with_card(platform, *, name: str = "王小明", phone: str = "13912345678",
                     activate: bool = True, bank_prefix: str = "621226"):
    """A registered person (ID number, name, phone on file) with an activated card in use:
    (ID number, person id, card number). For the 12333 identity questions."""
    from yikatong.applications.reference import synthetic_photo
    from yikatong.people.samples import make_citizen_ssn
    from yikatong.people.service import find_person_by_ssn, register_applicant

    serial = next(_people)
    born = date(1985, 5, 17) + timedelta(days=serial)  # same name, other person: no review
    ssn = make_citizen_ssn("320402", born, "M", seq=(2 * serial + 1) % 1000)  # odd: a man; the birth day keeps it unique
    act(platform, register_applicant, actor=ADMIN, name=name, document_type="resident_id_card",
        document_number=ssn, gender="M", birth_date=born, nationality="CHN", phone=phone,
        document_valid_until=date(2036, 1, 1), as_of=date(2026, 3, 2),
        photo_jpeg=synthetic_photo(ssn))
    with platform.uow() as uow:
        person_id = find_person_by_ssn(uow=uow, ssn=ssn).id
    return ssn, person_id, card_in_use(platform, person_id=person_id, activate=activate,
                                       bank_prefix=bank_prefix)
