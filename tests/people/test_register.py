"""Registering applicants: one person one record, manual review and its resolution, photos."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.people.helpers import (
    BORN,
    CHECKER,
    OPERATOR,
    SSN,
    audit_actions,
    counts,
    register,
)
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import Forbidden
from yikatong.events.models import OutboxEvent
from yikatong.people import errors, service
from yikatong.people.config import PeopleConfig
from yikatong.people.samples import make_citizen_ssn, make_sample_photo

pytestmark = pytest.mark.db


def test_new_applicant_gets_a_person_code_and_is_found_by_ssn(platform):
    outcome = register(platform)
    assert outcome.outcome == "new" and outcome.review_id is None
    with platform.uow() as uow:
        person = service.get_person(uow=uow, person_id=outcome.person_id)
        found = service.find_person_by_ssn(uow=uow, ssn=SSN)
        legacy = service.find_person_by_ssn(uow=uow, ssn=SSN[:6] + SSN[8:17])
        photo = service.get_photo(uow=uow, person_id=outcome.person_id)
    assert found == person == legacy
    assert (person.ssn, person.name, person.gender, person.birth_date) == (SSN, "周晓东", "M", BORN)
    assert person.person_code.startswith("320400") and len(person.person_code) == 16
    assert person.document_type == "resident_id_card" and person.has_photo
    assert photo == make_sample_photo()
    assert audit_actions(platform, "person", person.id) == ["person.create"]


def test_person_codes_are_unique(platform):
    first = register(platform)
    other_born = date(1985, 11, 20)
    second = register(platform, name="李芳", gender="F", birth_date=other_born,
                      document_number=make_citizen_ssn("320404", other_born, "F", seq=2))
    with platform.uow() as uow:
        codes = {service.get_person(uow=uow, person_id=o.person_id).person_code
                 for o in (first, second)}
    assert len(codes) == 2


def test_same_document_again_is_the_existing_person_whose_record_is_kept(platform):
    """Registering an applicant on file never overwrites the phone (the key to the holder's
    account: changed only with proof), the address or the photo (a correction with a second
    operator); what differs is named in the audit record."""
    from yikatong.audit.models import AuditRecord
    from yikatong.people.samples import make_sample_photo

    first = register(platform, address="江苏省常州市天宁区示例路 1 号")
    with platform.uow() as uow:
        photo = service.get_photo(uow=uow, person_id=first.person_id)
    again = register(platform, phone="13900000002", address="江苏省常州市别处路 9 号",
                     photo_jpeg=make_sample_photo(seed=99))
    assert again.outcome == "existing" and again.person_id == first.person_id
    with platform.uow() as uow:
        kept = service.get_person(uow=uow, person_id=first.person_id)
        assert (kept.phone, kept.address) == ("13900000001", "江苏省常州市天宁区示例路 1 号")
        assert service.get_photo(uow=uow, person_id=first.person_id) == photo
        matched = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "person.applicant_matched")).scalars().one()
    assert matched.after["differs_from_record_kept"] == ["phone", "address", "photo"]
    assert counts(platform)["persons"] == 1


def test_household_register_then_id_card_is_the_same_person(platform):
    child = date(2011, 5, 5)
    number = make_citizen_ssn("320402", child, "F", seq=4)
    first = register(platform, name="周一诺", gender="F", birth_date=child, document_number=number,
                     document_type="household_register", document_valid_until=None)
    later = register(platform, name="周一诺", gender="F", birth_date=child, document_number=number)
    assert later.outcome == "existing" and later.person_id == first.person_id
    assert counts(platform)["person_documents"] == 2


def test_other_document_same_name_birth_gender_goes_to_manual_review(platform):
    register(platform)
    before = counts(platform)
    outcome = register(platform, document_type="temporary_id_card",
                       document_number=make_citizen_ssn("320404", BORN, "M", seq=3))
    assert outcome.outcome == "manual_review" and outcome.person_id is None
    after = counts(platform)
    assert after["persons"] == before["persons"] and after["identity_reviews"] == 1
    with platform.uow() as uow:
        (review,) = service.list_reviews(uow=uow)
    assert review.match_reason == "same_name_birth_gender" and review.has_applicant_photo
    assert review.candidate.ssn == SSN


def test_same_number_with_other_data_goes_to_manual_review(platform):
    register(platform)
    outcome = register(platform, name="周晓冬")  # one character differs
    assert outcome.outcome == "manual_review"
    with platform.uow() as uow:
        assert service.list_reviews(uow=uow)[0].match_reason == "document_seen_other_data"
    assert counts(platform)["persons"] == 1


def test_document_number_seen_under_another_type_goes_to_manual_review(platform):
    register(platform, name="John Smith", document_type="passport", document_number="E1234567",
             nationality="USA", document_valid_until=None)
    outcome = register(platform, name="Jane Doe", gender="F", birth_date=date(1980, 1, 2),
                       document_type="hk_macao_travel_permit", document_number="H12345670",
                       nationality="HKG", document_valid_until=None)
    assert outcome.outcome == "new"
    outcome = register(platform, name="Jim Roe", birth_date=date(1970, 1, 2), nationality="GBR",
                       document_type="passport", document_number="H12345670",
                       document_valid_until=None)
    assert outcome.outcome == "manual_review"


def _review(platform) -> int:
    register(platform)
    return register(platform, document_type="temporary_id_card",
                    document_number=make_citizen_ssn("320404", BORN, "M", seq=3)).review_id


def test_resolving_as_merge_adds_the_document_to_the_existing_person(platform):
    review_id = _review(platform)
    with platform.uow() as uow:
        proposed = service.resolve_review(uow=uow, actor=OPERATOR, review_id=review_id,
                                          resolution="merge", reason="same person, checked photo")
        uow.commit()
    assert proposed.status == "pending_approval" and counts(platform)["person_documents"] == 1
    with platform.uow() as uow:
        view = service.approve_review(uow=uow, actor=CHECKER, review_id=review_id)
        uow.commit()
    assert view.status == "merged" and view.resolved_by == "op-2"
    totals = counts(platform)
    assert totals["persons"] == 1 and totals["person_documents"] == 2
    assert audit_actions(platform, "identity_review", review_id) == [
        "identity_review.open", "identity_review.merge_proposed", "identity_review.merged"]
    with pytest.raises(errors.ReviewAlreadyResolved), platform.uow() as uow:
        service.resolve_review(uow=uow, actor=CHECKER, review_id=review_id,
                               resolution="distinct", reason="again")


def test_resolving_as_distinct_creates_the_second_person(platform):
    review_id = _review(platform)
    with platform.uow() as uow:
        view = service.resolve_review(uow=uow, actor=CHECKER, review_id=review_id,
                                      resolution="distinct", reason="namesakes")
        uow.commit()
    assert view.status == "distinct"
    with platform.uow() as uow:
        person = service.get_person(uow=uow, person_id=view.resolved_person_id)
    assert person.ssn == make_citizen_ssn("320404", BORN, "M", seq=3) and person.has_photo
    assert counts(platform)["persons"] == 2


def test_only_operators_resolve_reviews(platform):
    review_id = _review(platform)
    agent = Actor(user_id="hr-1", role=Role.EMPLOYER_AGENT, channel=Channel.EMPLOYER)
    with pytest.raises(Forbidden), platform.uow() as uow:
        service.resolve_review(uow=uow, actor=agent, review_id=review_id, resolution="merge",
                               reason="x")


def test_foreigner_with_passport_gets_an_assigned_ssn(platform):
    outcome = register(platform, name="John Smith", document_type="passport",
                       document_number="e1234567", nationality="usa", document_valid_until=None)
    config = PeopleConfig()
    with platform.uow() as uow:
        person = service.get_person(uow=uow, person_id=outcome.person_id)
    assert person.ssn.startswith(config.assigned_ssn_prefix)
    assert len(person.ssn) == config.assigned_ssn_length <= config.assigned_ssn_max_length
    assert person.nationality == "USA"


def test_photo_required_from_age_seven_not_below(platform):
    six = date(2019, 3, 3)  # turns 7 the day after AS_OF
    outcome = register(platform, name="周一诺", birth_date=six, photo_jpeg=None, gender="F",
                       document_type="household_register", document_valid_until=None,
                       document_number=make_citizen_ssn("320402", six, "F", seq=2))
    assert outcome.outcome == "new"
    before = counts(platform)
    with pytest.raises(errors.PhotoRequired):
        register(platform, photo_jpeg=None)
    assert counts(platform) == before


def test_bad_photo_reports_every_failure_and_changes_nothing(platform):
    with pytest.raises(errors.PhotoRejected) as caught:
        register(platform, photo_jpeg=make_sample_photo(dpi=72, width=300, texture=False))
    failures = {f["code"] for f in caught.value.details["failures"]}
    assert failures == {"photo_wrong_resolution", "photo_wrong_dimensions"}
    assert [w["code"] for w in caught.value.details["warnings"]] == ["photo_file_size_unusual"]
    assert counts(platform) == dict.fromkeys(counts(platform), 0)


def test_small_photo_is_registered_with_a_warning(platform):
    outcome = register(platform, photo_jpeg=make_sample_photo(texture=False))
    assert outcome.outcome == "new" and outcome.warnings == ["photo_file_size_unusual"]


def test_upload_photo_replaces_and_refuses_bad_ones(platform):
    person_id = register(platform).person_id
    replacement = make_sample_photo(seed=99)
    with platform.uow() as uow:
        report = service.upload_photo(uow=uow, actor=OPERATOR, person_id=person_id,
                                      jpeg=replacement)
        uow.commit()
    assert report.accepted
    with pytest.raises(errors.PhotoRejected), platform.uow() as uow:
        service.upload_photo(uow=uow, actor=OPERATOR, person_id=person_id, jpeg=b"junk")
    with platform.uow() as uow:
        assert service.get_photo(uow=uow, person_id=person_id) == replacement


def test_mark_had_provincial_card(platform):
    person_id = register(platform).person_id
    with platform.uow() as uow:
        service.mark_had_provincial_card(uow=uow, actor=OPERATOR, person_id=person_id)
        uow.commit()
    with platform.uow() as uow:
        assert service.get_person(uow=uow, person_id=person_id).had_provincial_card
    assert audit_actions(platform, "person", person_id)[-1] == "person.mark_had_provincial_card"


def test_unknown_person(platform):
    with pytest.raises(errors.PersonNotFound), platform.uow() as uow:
        service.get_person(uow=uow, person_id=404)
    with platform.uow() as uow:
        assert service.find_person_by_ssn(uow=uow, ssn=SSN) is None


def test_repeated_registration_waits_on_the_same_review(platform):
    review_id = _review(platform)
    again = register(platform, document_type="temporary_id_card",
                     document_number=make_citizen_ssn("320404", BORN, "M", seq=3))
    assert again.review_id == review_id and counts(platform)["identity_reviews"] == 1


def test_resolution_is_announced_for_waiting_applications(platform):
    review_id = _review(platform)
    with platform.uow() as uow:
        service.resolve_review(uow=uow, actor=OPERATOR, review_id=review_id,
                               resolution="merge", reason="same person")
        uow.commit()
    with platform.uow() as uow:
        view = service.approve_review(uow=uow, actor=CHECKER, review_id=review_id)
        uow.commit()
    with platform.uow() as uow:
        (event,) = uow.session.execute(select(OutboxEvent).where(
            OutboxEvent.type == "person.identity_review_resolved")).scalars()
    assert event.payload == {"review_id": review_id, "person_id": view.resolved_person_id,
                             "resolution": "merged"}


def test_household_register_refused_once_an_id_card_is_on_record(platform):
    teen = date(2011, 5, 5)
    number = make_citizen_ssn("320402", teen, "F", seq=4)
    register(platform, name="周一诺", gender="F", birth_date=teen, document_number=number)
    with pytest.raises(errors.HouseholdRegisterWithIdCard):
        register(platform, name="周一诺", gender="F", birth_date=teen, document_number=number,
                 document_type="household_register", document_valid_until=None)
