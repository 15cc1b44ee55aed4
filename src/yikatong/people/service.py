"""Use cases of the people domain. Each runs in the caller's unit of work (the caller commits)
and leaves one audit record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from yikatong.core.actor import Actor
from yikatong.core.errors import ConcurrentChange
from yikatong.db.uow import UnitOfWork
from yikatong.people import errors, rules
from yikatong.people.config import PeopleConfig
from yikatong.people.models import IdentityReview, Person, PersonDocument, PersonPhoto
from yikatong.people.photo import PhotoReport, check_photo

DEFAULT_CONFIG = PeopleConfig()


@dataclass(frozen=True)
class ApplicantOutcome:
    person_id: int | None
    outcome: str                      # "existing" | "new" | "manual_review"
    review_id: int | None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PersonView:
    id: int
    name: str
    ssn: str
    gender: str
    birth_date: date
    nationality: str
    phone: str | None
    address: str | None
    person_code: str
    document_type: str | None
    has_photo: bool
    had_provincial_card: bool


# --- reading ---------------------------------------------------------------------------


def _load(uow: UnitOfWork, person_id: int) -> Person:
    person = uow.session.get(Person, person_id)
    if person is None:
        raise errors.PersonNotFound(person_id=person_id)
    return person


def _view(uow: UnitOfWork, person: Person) -> PersonView:
    document_type = uow.session.execute(
        select(PersonDocument.document_type).where(PersonDocument.person_id == person.id)
        .order_by(PersonDocument.id.desc()).limit(1)
    ).scalar_one_or_none()
    has_photo = uow.session.get(PersonPhoto, person.id) is not None
    return PersonView(
        id=person.id, name=person.name, ssn=person.ssn or "", gender=person.gender,
        birth_date=person.birth_date, nationality=person.nationality, phone=person.phone,
        address=person.address, person_code=person.person_code or "",
        document_type=document_type, has_photo=has_photo,
        had_provincial_card=person.had_provincial_card,
    )


def get_person(*, uow: UnitOfWork, person_id: int) -> PersonView:
    """The person's record; raises PersonNotFound."""
    return _view(uow, _load(uow, person_id))


def get_photo(*, uow: UnitOfWork, person_id: int) -> bytes | None:
    """The person's current photo (JPEG bytes), or None if none is on file."""
    _load(uow, person_id)
    photo = uow.session.get(PersonPhoto, person_id)
    return photo.jpeg if photo else None


def normalise_ssn(ssn: str) -> str:
    text = "".join((ssn or "").split()).upper()
    if len(text) == 15 and text.isdigit():
        return rules.upgrade_legacy_15(text)
    return text


def find_person_by_ssn(*, uow: UnitOfWork, ssn: str) -> PersonView | None:
    """The person holding this social security number (a legacy 15-digit form also finds it)."""
    person = uow.session.execute(
        select(Person).where(Person.ssn == normalise_ssn(ssn))
    ).scalar_one_or_none()
    return _view(uow, person) if person else None


# --- registering an applicant ----------------------------------------------------------


def _snapshot(person: Person) -> dict[str, Any]:
    return {
        "name": person.name, "ssn": person.ssn, "gender": person.gender,
        "birth_date": person.birth_date.isoformat(), "nationality": person.nationality,
        "phone": person.phone, "address": person.address, "person_code": person.person_code,
        "had_provincial_card": person.had_provincial_card,
    }


def _checked_photo(photo_jpeg: bytes | None) -> PhotoReport | None:
    if photo_jpeg is None:
        return None
    report = check_photo(photo_jpeg)
    if not report.accepted:
        raise photo_rejected(report)
    return report


def photo_rejected(report: PhotoReport) -> errors.PhotoRejected:
    failures = [{"code": r.code, "zh": r.zh, "en": r.en, "measured": r.measured}
                for r in report.failures]
    warnings = [{"code": r.code, "zh": r.zh, "en": r.en, "measured": r.measured}
                for r in report.warnings]
    return errors.PhotoRejected(
        summary_zh="；".join(r.zh for r in report.failures),
        summary_en="; ".join(r.en for r in report.failures),
        failures=failures, warnings=warnings,
    )


def _same_core(person: Person, name: str, birth_date: date, gender: str) -> bool:
    return (person.name, person.birth_date, person.gender) == (name, birth_date, gender)


def _match(uow: UnitOfWork, doc: rules.DocumentCheck, name: str, birth_date: date,
           gender: str) -> tuple[Person | None, str | None]:
    """(person, None) for the same person; (person, reason) for a review; (None, None): new."""
    session = uow.session
    seen = session.execute(
        select(PersonDocument).where(PersonDocument.document_type == doc.document_type.value,
                                     PersonDocument.number == doc.number)
    ).scalar_one_or_none()
    holder = session.get(Person, seen.person_id) if seen else None
    if holder is None and doc.ssn:
        holder = session.execute(select(Person).where(Person.ssn == doc.ssn)).scalar_one_or_none()
    if holder is not None:
        if _same_core(holder, name, birth_date, gender):
            return holder, None
        return holder, "document_seen_other_data"
    number_owner = session.execute(
        select(PersonDocument.person_id).where(PersonDocument.number == doc.number).limit(1)
    ).scalar_one_or_none()
    if number_owner is not None:
        return session.get(Person, number_owner), "document_number_seen"
    namesake = session.execute(
        select(Person).where(Person.name == name, Person.birth_date == birth_date,
                             Person.gender == gender).order_by(Person.id).limit(1)
    ).scalar_one_or_none()
    if namesake is not None:
        return namesake, "same_name_birth_gender"
    return None, None


def register_applicant(
    *, uow: UnitOfWork, actor: Actor, name: str, document_type: str, document_number: str,
    gender: str, birth_date: date, nationality: str, phone: str | None = None,
    address: str | None = None, document_valid_until: date | None = None,
    photo_jpeg: bytes | None = None, as_of: date, holds_id_card: bool = False,
    config: PeopleConfig = DEFAULT_CONFIG,
) -> ApplicantOutcome:
    """Check the applicant's document, ID number and photo, then find or create the person.

    Same document (or same ssn) with the same name, birth date and gender → "existing";
    a match under another document, or the same number with other data → "manual_review"
    (no second person); otherwise "new" with a person code. Raises the document's refusal,
    InvalidIdNumber, IdNumberMismatch, PhotoRejected (every failing rule) or PhotoRequired.
    """
    name = rules.check_name(name)
    doc = rules.check_document(
        document_type=document_type, number=document_number, nationality=nationality,
        birth_date=birth_date, gender=gender, valid_until=document_valid_until, as_of=as_of,
        holds_id_card=holds_id_card,
    )
    report = _checked_photo(photo_jpeg)
    warnings = doc.warnings + ([r.code for r in report.warnings] if report else [])
    applicant = {
        "name": name, "gender": gender, "birth_date": birth_date.isoformat(),
        "nationality": rules.check_nationality(nationality), "phone": phone,
        "address": address, "document_type": doc.document_type.value,
        "document_number": doc.number, "document_valid_until":
            document_valid_until.isoformat() if document_valid_until else None,
        "ssn": doc.ssn,
    }
    person, review_reason = _match(uow, doc, name, birth_date, gender)
    needs_photo = photo_jpeg is None and rules.photo_required(birth_date, as_of)
    if needs_photo and not (person and not review_reason and _has_photo(uow, person.id)):
        raise errors.PhotoRequired()
    if person is not None and review_reason is None:
        _update_existing(uow, actor, person, applicant, photo_jpeg)
        return ApplicantOutcome(person.id, "existing", None, warnings)
    if person is not None:
        review = _open_review(uow, actor, person, review_reason, applicant, photo_jpeg)
        return ApplicantOutcome(None, "manual_review", review.id, warnings)
    person = create_person(uow=uow, actor=actor, applicant=applicant, photo_jpeg=photo_jpeg,
                           config=config)
    return ApplicantOutcome(person.id, "new", None, warnings)


def _has_photo(uow: UnitOfWork, person_id: int) -> bool:
    return uow.session.get(PersonPhoto, person_id) is not None


def _flush(uow: UnitOfWork) -> None:
    # Two outlets registering the same applicant at once: the unique document / ssn
    # constraint lets one win; the other is told to retry (and then finds the person).
    try:
        uow.session.flush()
    except IntegrityError as error:
        uow.session.rollback()
        raise ConcurrentChange() from error


def _record_document(uow: UnitOfWork, person: Person, applicant: dict[str, Any]) -> None:
    doc_type, number = applicant["document_type"], applicant["document_number"]
    valid_until = applicant["document_valid_until"]
    valid_until = date.fromisoformat(valid_until) if valid_until else None
    existing = uow.session.execute(
        select(PersonDocument).where(PersonDocument.document_type == doc_type,
                                     PersonDocument.number == number)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.person_id != person.id:
            raise errors.DocumentTaken()
        existing.valid_until = valid_until
        return
    uow.session.add(PersonDocument(person_id=person.id, document_type=doc_type, number=number,
                                   valid_until=valid_until, recorded_at=uow.now()))


def _store_photo(uow: UnitOfWork, actor: Actor, person_id: int, jpeg: bytes) -> None:
    photo = uow.session.get(PersonPhoto, person_id)
    if photo is None:
        photo = PersonPhoto(person_id=person_id)
        uow.session.add(photo)
    photo.jpeg, photo.size_bytes = jpeg, len(jpeg)
    photo.uploaded_at, photo.uploaded_by = uow.now(), actor.user_id


def _update_existing(uow: UnitOfWork, actor: Actor, person: Person, applicant: dict[str, Any],
                     photo_jpeg: bytes | None) -> None:
    before = _snapshot(person)
    for contact in ("phone", "address"):
        if applicant[contact]:
            setattr(person, contact, applicant[contact])
    person.updated_at = uow.now()
    _record_document(uow, person, applicant)
    if photo_jpeg is not None:
        _store_photo(uow, actor, person.id, photo_jpeg)
    _flush(uow)
    uow.audit(actor=actor, action="person.applicant_matched", entity_type="person",
              entity_id=person.id, before=before,
              after={**_snapshot(person), "document_type": applicant["document_type"],
                     "photo_replaced": photo_jpeg is not None})


def create_person(*, uow: UnitOfWork, actor: Actor, applicant: dict[str, Any],
                  photo_jpeg: bytes | None, config: PeopleConfig = DEFAULT_CONFIG,
                  audit_reason: str | None = None) -> Person:
    """Insert the person with its document and photo; assign the person code (and an ssn for
    those without a citizen, permit or PR number) from the person's id."""
    if applicant["ssn"] and uow.session.execute(
            select(Person.id).where(Person.ssn == applicant["ssn"])).first():
        raise errors.SsnTaken()
    now = uow.now()
    person = Person(
        name=applicant["name"], ssn=applicant["ssn"], gender=applicant["gender"],
        birth_date=date.fromisoformat(applicant["birth_date"]),
        nationality=applicant["nationality"], phone=applicant["phone"],
        address=applicant["address"], created_at=now, updated_at=now,
    )
    uow.session.add(person)
    _flush(uow)
    person.person_code = rules.person_code(config.person_code_region, person.id)
    if person.ssn is None:
        person.ssn = rules.assigned_ssn(config.assigned_ssn_prefix, person.id,
                                        config.assigned_ssn_length)
    _record_document(uow, person, applicant)
    if photo_jpeg is not None:
        _store_photo(uow, actor, person.id, photo_jpeg)
    _flush(uow)
    uow.audit(actor=actor, action="person.create", entity_type="person", entity_id=person.id,
              after={**_snapshot(person), "document_type": applicant["document_type"]},
              reason=audit_reason)
    return person


def _open_review(uow: UnitOfWork, actor: Actor, candidate: Person, reason: str,
                 applicant: dict[str, Any], photo_jpeg: bytes | None) -> IdentityReview:
    review = IdentityReview(
        status="open", match_reason=reason, candidate_person_id=candidate.id,
        applicant=applicant, applicant_photo=photo_jpeg, created_at=uow.now(),
        created_by=actor.user_id,
    )
    uow.session.add(review)
    _flush(uow)
    uow.audit(actor=actor, action="identity_review.open", entity_type="identity_review",
              entity_id=review.id,
              after={"match_reason": reason, "candidate_person_id": candidate.id,
                     "applicant": applicant})
    return review


def mark_had_provincial_card(*, uow: UnitOfWork, actor: Actor, person_id: int) -> None:
    """Record that the person holds (or held) a Jiangsu social security card: such people
    exchange at an outlet only (seed 四.5)."""
    person = _load(uow, person_id)
    if person.had_provincial_card:
        return
    before = _snapshot(person)
    person.had_provincial_card = True
    person.updated_at = uow.now()
    uow.audit(actor=actor, action="person.mark_had_provincial_card", entity_type="person",
              entity_id=person.id, before=before, after=_snapshot(person))
