"""Helpers for the tourism tests: the reference venues loaded, card holders whose accounts are
open at the reference bank, venue staff actors, and people registered with a chosen birth date
(the free categories are by age)."""

from __future__ import annotations

import itertools
from datetime import date

from tests.bills.conftest import bank, bank_platform, payer  # noqa: F401  (fixtures re-exported)
from yikatong.core.actor import Actor, Channel, Role
from yikatong.tourism import service

ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)
DINO_STAFF = Actor(user_id="venue", role=Role.VENUE_OPERATOR, channel=Channel.VENUE, branch_code="CZ-DINO")
TMH_STAFF = Actor(user_id="tmh", role=Role.VENUE_OPERATOR, channel=Channel.VENUE, branch_code="CZ-TMH")
_people = itertools.count(300)


def holder(person_id: int) -> Actor:
    return Actor(user_id=f"holder{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id)


def act(platform, operation, **kwargs):
    """One use case in its own unit of work, committed."""
    with platform.uow() as uow:
        result = operation(uow=uow, **kwargs)
        uow.commit()
    return result


def load_venues(platform) -> int:
    return act(platform, service.load_reference_data, actor=ADMIN)


def person_born(platform, born: date, *, name: str = "张游客") -> int:
    """A registered person (no card) born on `born`: their id."""
    from tests.medical.conftest import TODAY
    from yikatong.applications.reference import synthetic_photo
    from yikatong.people.samples import make_citizen_ssn
    from yikatong.people.service import register_applicant

    serial = next(_people)
    ssn = make_citizen_ssn("320402", born, "M", seq=(2 * serial + 1) % 1000)
    outcome = act(platform, register_applicant, actor=ADMIN, name=name, document_type="resident_id_card",
        document_number=ssn, gender="M", birth_date=born, nationality="CHN", phone="13812345678",
        document_valid_until=date(2036, 1, 1), as_of=TODAY, photo_jpeg=synthetic_photo(ssn))
    assert outcome.person_id is not None, outcome
    return outcome.person_id
