"""Shared test helpers: the standard applicant, operators, row counts, audit actions."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Actor, Channel, Role
from yikatong.people import service
from yikatong.people.models import IdentityReview, Person, PersonDocument, PersonPhoto
from yikatong.people.samples import make_citizen_ssn, make_sample_photo

AS_OF = date(2026, 3, 2)
BORN = date(1990, 3, 7)
SSN = make_citizen_ssn("320402", BORN, "M", seq=1)
OPERATOR = Actor(user_id="op-1", role=Role.SS_OUTLET, channel=Channel.OUTLET)
CHECKER = Actor(user_id="op-2", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET)
TABLES = (Person, PersonDocument, PersonPhoto, IdentityReview, AuditRecord)


def register(platform, actor=OPERATOR, **overrides):
    fields = dict(
        name="周晓东", document_type="resident_id_card", document_number=SSN, gender="M",
        birth_date=BORN, nationality="CHN", phone="13900000001",
        document_valid_until=date(2030, 1, 1), photo_jpeg=make_sample_photo(), as_of=AS_OF,
    )
    fields.update(overrides)
    with platform.uow() as uow:
        outcome = service.register_applicant(uow=uow, actor=actor, **fields)
        uow.commit()
    return outcome


def counts(platform) -> dict[str, int]:
    with platform.uow() as uow:
        return {model.__tablename__: uow.session.execute(
            select(func.count()).select_from(model)).scalar_one() for model in TABLES}


def audit_actions(platform, entity_type: str, entity_id) -> list[str]:
    with platform.uow() as uow:
        return list(uow.session.execute(
            select(AuditRecord.action).where(AuditRecord.entity_type == entity_type,
                                             AuditRecord.entity_id == str(entity_id))
            .order_by(AuditRecord.seq)).scalars())
