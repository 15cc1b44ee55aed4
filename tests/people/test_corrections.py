"""Corrections of core data need a second operator (maker-checker)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.people.helpers import CHECKER, OPERATOR, SSN, register
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import Forbidden
from yikatong.events.models import OutboxEvent
from yikatong.people import errors, service
from yikatong.people.rules import mask_ssn
from yikatong.people.samples import make_citizen_ssn

pytestmark = pytest.mark.db

NEW_BORN = date(1990, 3, 8)
NEW_SSN = make_citizen_ssn("320402", NEW_BORN, "M", seq=1)


def propose(platform, person_id, actor=OPERATOR, **changes):
    with platform.uow() as uow:
        view = service.propose_correction(uow=uow, actor=actor, person_id=person_id,
                                          changes=changes, reason="typo at the counter")
        uow.commit()
    return view


def decide(platform, action, correction_id, actor=CHECKER, reason="checked the ID card"):
    with platform.uow() as uow:
        view = getattr(service, f"{action}_correction")(
            uow=uow, actor=actor, correction_id=correction_id, reason=reason)
        uow.commit()
    return view


def person(platform, person_id):
    with platform.uow() as uow:
        return service.get_person(uow=uow, person_id=person_id)


def events(platform) -> list[OutboxEvent]:
    with platform.uow() as uow:
        return list(uow.session.execute(
            select(OutboxEvent).where(OutboxEvent.type == "person.printed_data_changed")
        ).scalars())


def test_proposal_changes_nothing_until_a_second_operator_approves(platform):
    person_id = register(platform).person_id
    untouched = person(platform, person_id)
    correction = propose(platform, person_id, name="周晓冬", ssn=NEW_SSN, birth_date=NEW_BORN)
    assert correction.status == "pending" and person(platform, person_id) == untouched
    assert correction.changes == {"name": "周晓冬", "ssn": NEW_SSN,
                                  "birth_date": NEW_BORN.isoformat()}

    with pytest.raises(errors.MakerCannotApprove):
        decide(platform, "approve", correction.id, actor=OPERATOR)
    assert person(platform, person_id) == untouched and events(platform) == []

    approved = decide(platform, "approve", correction.id)
    assert approved.status == "approved" and approved.decided_by == CHECKER.user_id
    after = person(platform, person_id)
    assert (after.name, after.ssn, after.birth_date) == ("周晓冬", NEW_SSN, NEW_BORN)
    with platform.uow() as uow:
        assert service.find_person_by_ssn(uow=uow, ssn=NEW_SSN).id == person_id
        record = uow.session.execute(
            select(AuditRecord).where(AuditRecord.action == "person.correct")).scalar_one()
    assert record.actor_id == CHECKER.user_id and record.reason == "typo at the counter"
    # the trail keeps ID numbers and names masked (UnitOfWork.audit), never in full
    assert (record.before["ssn"], record.after["ssn"]) == (mask_ssn(SSN), mask_ssn(NEW_SSN))
    assert record.after["name"] == "周*冬" and SSN not in str(record.before)
    assert record.after["proposed_by"] == OPERATOR.user_id
    (event,) = events(platform)
    assert event.aggregate_id == str(person_id)
    assert event.payload == {"person_id": person_id, "fields": ["birth_date", "name", "ssn"],
                             "correction_id": correction.id}


def test_the_corrected_ssn_renumbers_the_citizen_documents(platform):
    person_id = register(platform).person_id
    correction = propose(platform, person_id, ssn=NEW_SSN, birth_date=NEW_BORN)
    decide(platform, "approve", correction.id)
    again = register(platform, document_number=NEW_SSN, birth_date=NEW_BORN, photo_jpeg=None)
    assert again.outcome == "existing" and again.person_id == person_id


def test_rejected_correction_changes_nothing(platform):
    person_id = register(platform).person_id
    untouched = person(platform, person_id)
    correction = propose(platform, person_id, name="周晓冬")
    rejected = decide(platform, "reject", correction.id, reason="name was right")
    assert rejected.status == "rejected" and rejected.decision_reason == "name was right"
    assert person(platform, person_id) == untouched and events(platform) == []
    with pytest.raises(errors.CorrectionAlreadyDecided):
        decide(platform, "approve", correction.id)


def test_maker_cannot_reject_either(platform):
    person_id = register(platform).person_id
    correction = propose(platform, person_id, name="周晓冬")
    with pytest.raises(errors.MakerCannotApprove):
        decide(platform, "reject", correction.id, actor=OPERATOR)


def test_correction_must_agree_with_the_id_number(platform):
    person_id = register(platform).person_id
    with pytest.raises(errors.IdNumberMismatch):
        propose(platform, person_id, birth_date=NEW_BORN)  # the ssn still says 1990-03-07
    with pytest.raises(errors.IdNumberMismatch):
        propose(platform, person_id, gender="F")
    with pytest.raises(errors.InvalidIdNumber):
        propose(platform, person_id, ssn="320402199003070014")
    with pytest.raises(errors.NothingToCorrect):
        propose(platform, person_id, name="周晓东")
    with pytest.raises(errors.InvalidPersonData):
        propose(platform, person_id, phone="1")


def test_ssn_of_another_person_is_refused(platform):
    person_id = register(platform).person_id
    other_born = date(1985, 11, 20)
    other_ssn = make_citizen_ssn("320404", other_born, "F", seq=2)
    register(platform, name="李芳", gender="F", birth_date=other_born, document_number=other_ssn)
    with pytest.raises(errors.SsnTaken):
        propose(platform, person_id, ssn=other_ssn, birth_date=other_born, gender="F")


def test_a_correction_made_stale_by_another_is_refused(platform):
    person_id = register(platform).person_id
    first = propose(platform, person_id, name="周晓冬")
    second = propose(platform, person_id, name="周小东")
    decide(platform, "approve", first.id)
    with pytest.raises(errors.CorrectionOutdated):
        decide(platform, "approve", second.id)
    assert person(platform, person_id).name == "周晓冬"


def test_only_operators_take_part(platform):
    person_id = register(platform).person_id
    phone_agent = Actor(user_id="p-1", role=Role.PHONE_AGENT, channel=Channel.PHONE_12333)
    with pytest.raises(Forbidden):
        propose(platform, person_id, actor=phone_agent, name="周晓冬")
    correction = propose(platform, person_id, name="周晓冬")
    with pytest.raises(Forbidden):
        decide(platform, "approve", correction.id, actor=phone_agent)
    with platform.uow() as uow:
        assert [c.id for c in service.list_corrections(uow=uow)] == [correction.id]
