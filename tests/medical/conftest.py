"""Helpers for the medical tests: insured people with cards (through the cards and people
services), the medical insurance office and institutions as actors."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from tests.cards.conftest import ADMIN, act, person_with_card
from yikatong.core.actor import Actor, Channel, Role
from yikatong.medical import service

OFFICE = Actor(user_id="office-1", role=Role.MEDICAL_OFFICE, channel=Channel.MEDICAL_DESK)
HOSPITAL = "H32040200001"   # a Level 3 hospital of the reference list
COMMUNITY = "H32040200007"  # a community health centre
PHARMACY = "P32040200101"
OTHER_HOSPITAL = "H32040400002"
EMPLOYER = "91320411MA1Q2W3E4F"
TODAY = date(2026, 3, 2)  # the clock fixture's day in Changzhou


def institution(code: str = HOSPITAL) -> Actor:
    return Actor(user_id=f"his-{code}", role=Role.MEDICAL_INSTITUTION, channel=Channel.HOSPITAL,
                 branch_code=code)


_people = itertools.count(1)


def registered(platform, *, name: str = "王小明") -> tuple[str, int]:
    """A registered person without a card: (ID number, person id)."""
    from yikatong.applications.reference import synthetic_photo
    from yikatong.people.samples import make_citizen_ssn
    from yikatong.people.service import find_person_by_ssn, register_applicant

    serial = next(_people)
    born = date(1960, 1, 1) + timedelta(days=37 * serial)
    ssn = make_citizen_ssn("320402", born, "F", seq=2 * serial)
    act(platform, register_applicant, actor=ADMIN, name=name, document_type="resident_id_card",
        document_number=ssn, gender="F", birth_date=born, nationality="CHN", phone="13812345678",
        document_valid_until=date(2036, 1, 1), as_of=TODAY, photo_jpeg=synthetic_photo(ssn))
    with platform.uow() as uow:
        return ssn, find_person_by_ssn(uow=uow, ssn=ssn).id


def insured(platform, *, scheme: str = "310", retired: bool = False, credit: int = 50_000,
            start: date = date(2026, 1, 1), admdvs: str = "320402", name: str = "王小明"):
    """A person with a card in use (not bank-activated), enrolled from `start` and with
    `credit` fen in the personal account: (ID number, person id, card number)."""
    ssn, person_id, card_no = person_with_card(platform, name=name, activate=False)
    enrol(platform, person_id, scheme=scheme, retired=retired, credit=credit, start=start,
          admdvs=admdvs)
    return ssn, person_id, card_no


def enrol(platform, person_id: int, *, scheme: str = "310", retired: bool = False,
          credit: int = 0, start: date = date(2026, 1, 1), admdvs: str = "320402") -> None:
    employer = EMPLOYER if scheme == "310" and not retired else None
    act(platform, service.enrol, actor=OFFICE, person_id=person_id, scheme=scheme,
        insured_admdvs=admdvs, start_date=start, retired=retired, employer_uscc=employer)
    if credit:
        act(platform, service.credit_account, actor=OFFICE, person_id=person_id, amount=credit,
            request_id=f"credit-{person_id}-init")


@pytest.fixture
def reference(platform):
    """The packaged institutions loaded, as at start-up."""
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=Actor.system("setup"))
    return platform
