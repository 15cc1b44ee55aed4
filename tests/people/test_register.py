"""Registering applicants: documents, photo, one person one record (contract functions)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from yikatong.people import errors, service
from yikatong.people.models import IdentityReview, Person
from yikatong.people.samples import make_citizen_ssn, make_sample_photo

pytestmark = pytest.mark.db

AS_OF = date(2026, 3, 2)
BORN = date(1990, 3, 7)


def _register(platform, actor, **overrides):
    fields = dict(
        name="周晓东", document_type="resident_id_card",
        document_number=make_citizen_ssn("320402", BORN, "M", seq=1), gender="M",
        birth_date=BORN, nationality="CHN", phone="13900000001",
        document_valid_until=date(2030, 1, 1), photo_jpeg=make_sample_photo(), as_of=AS_OF,
    )
    fields.update(overrides)
    with platform.uow() as uow:
        outcome = service.register_applicant(uow=uow, actor=actor, **fields)
        uow.commit()
    return outcome


def _count(platform, model) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_new_applicant_gets_a_person_code_and_is_found_by_ssn(platform, admin_actor):
    outcome = _register(platform, admin_actor)
    assert outcome.outcome == "new" and outcome.review_id is None
    with platform.uow() as uow:
        person = service.get_person(uow=uow, person_id=outcome.person_id)
        found = service.find_person_by_ssn(uow=uow, ssn="320402199003070013")
        photo = service.get_photo(uow=uow, person_id=outcome.person_id)
    assert found == person
    assert person.person_code.startswith("320400") and len(person.person_code) == 16
    assert person.document_type == "resident_id_card" and person.has_photo
    assert photo == make_sample_photo()


def test_same_document_again_is_the_existing_person(platform, admin_actor):
    first = _register(platform, admin_actor)
    again = _register(platform, admin_actor, phone="13900000002")
    assert again.outcome == "existing" and again.person_id == first.person_id
    assert _count(platform, Person) == 1


def test_other_document_same_name_birth_gender_goes_to_manual_review(platform, admin_actor):
    _register(platform, admin_actor)
    outcome = _register(platform, admin_actor, document_type="temporary_id_card",
                        document_number=make_citizen_ssn("320404", BORN, "M", seq=3))
    assert outcome.outcome == "manual_review" and outcome.person_id is None
    assert _count(platform, Person) == 1 and _count(platform, IdentityReview) == 1


def test_photo_required_from_age_seven_not_below(platform, admin_actor):
    six = date(2019, 3, 3)  # turns 7 the day after AS_OF
    outcome = _register(platform, admin_actor, name="周一诺", birth_date=six, photo_jpeg=None,
                        document_type="household_register",
                        document_number=make_citizen_ssn("320402", six, "F", seq=2), gender="F",
                        document_valid_until=None)
    assert outcome.outcome == "new"
    with pytest.raises(errors.PhotoRequired):
        _register(platform, admin_actor, photo_jpeg=None)
    assert _count(platform, Person) == 1
