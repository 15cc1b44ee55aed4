"""Use cases of the people domain. Each runs in the caller's unit of work (the caller commits)
and leaves an audit record on each entity it changes (resolving a review as "distinct" also
creates a person: one record on the review, one on the new person)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import ConcurrentChange, Forbidden, InvalidInput
from yikatong.db.uow import UnitOfWork
from yikatong.people import errors, rules
from yikatong.people.config import PeopleConfig
from yikatong.people.models import (
    IdentityReview,
    JiangsuCardRecord,
    Person,
    PersonCorrection,
    PersonDocument,
    PersonPhoto,
)
from yikatong.people.photo import PhotoReport, check_photo

DEFAULT_CONFIG = PeopleConfig()


@dataclass(frozen=True)
class ApplicantOutcome:
    person_id: int | None
    outcome: Literal["existing", "new", "manual_review"]
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

    @property
    def birth_year(self) -> int:
        return self.birth_date.year

    @property
    def ssn_masked(self) -> str:
        """The identity number as every list shows it (people/privacy.py)."""
        return rules.mask_ssn(self.ssn)


# --- reading ---------------------------------------------------------------------------


def _load(uow: UnitOfWork, person_id: int) -> Person:
    person = uow.session.get(Person, person_id)
    if person is None:
        raise errors.PersonNotFound(person_id=person_id)
    return person


def current_document(*, uow: UnitOfWork, person_id: int) -> tuple[str, str] | None:
    """(document type, number) of the identity document last recorded for the person."""
    row = uow.session.execute(
        select(PersonDocument.document_type, PersonDocument.number)
        .where(PersonDocument.person_id == person_id)
        .order_by(PersonDocument.id.desc()).limit(1)
    ).first()
    return (row.document_type, row.number) if row else None


def _view(uow: UnitOfWork, person: Person) -> PersonView:
    document = current_document(uow=uow, person_id=person.id)
    document_type = document[0] if document else None
    has_photo = uow.session.get(PersonPhoto, person.id) is not None
    return PersonView(
        id=person.id, name=person.name, ssn=person.ssn or "", gender=person.gender,
        birth_date=person.birth_date, nationality=person.nationality, phone=person.phone,
        address=person.address, person_code=person.person_code or "",
        document_type=document_type, has_photo=has_photo,
        # the old flag, or any card the platform issued or ended or an outlet saw declared
        had_provincial_card=person.had_provincial_card or uow.session.execute(
            select(JiangsuCardRecord.id).where(JiangsuCardRecord.person_id == person.id).limit(1)
        ).first() is not None,
    )


def get_person(*, uow: UnitOfWork, person_id: int) -> PersonView:
    """The person's record; raises PersonNotFound."""
    return _view(uow, _load(uow, person_id))


def disclose_person(*, uow: UnitOfWork, actor: Actor, person_id: int, reason_code: str,
                    note: str) -> tuple[PersonView, bytes | None]:
    """The whole record and photo, for a reader who sees them masked by default, once, with a
    reason: one audit record names who read it, why and what was shown."""
    view = get_person(uow=uow, person_id=person_id)
    jpeg = get_photo(uow=uow, person_id=person_id)
    shown = ["name", "ssn", "birth_date", "phone", "address"] + (["photo"] if jpeg else [])
    uow.audit(actor=actor, action="person.disclose", entity_type="person", entity_id=person_id,
              after={"reason_code": reason_code, "fields": shown}, reason=note)
    return view, jpeg


def get_photo(*, uow: UnitOfWork, person_id: int) -> bytes | None:
    """The person's current photo (JPEG bytes), or None if none is on file."""
    _load(uow, person_id)
    photo = uow.session.get(PersonPhoto, person_id)
    return photo.jpeg if photo else None


def normalise_ssn(ssn: str) -> str:
    text = "".join((ssn or "").split()).upper()
    if len(text) == 15 and text.isascii() and text.isdigit():
        return rules.upgrade_legacy_15(text)
    return text


def find_person_by_ssn(*, uow: UnitOfWork, ssn: str) -> PersonView | None:
    """The person holding this social security number (a legacy 15-digit form also finds it)."""
    person = uow.session.execute(
        select(Person).where(Person.ssn == normalise_ssn(ssn))
    ).scalar_one_or_none()
    return _view(uow, person) if person else None


@dataclass(frozen=True)
class PersonBasics:
    """The few fields a caller that only names the person needs (no document, photo or card
    lookups): for the medical interface's identification on every visit message."""

    id: int
    name: str
    gender: str
    birth_date: date
    ssn: str


_BASICS = (Person.id, Person.name, Person.gender, Person.birth_date, Person.ssn)


def person_basics(*, uow: UnitOfWork, person_id: int) -> PersonBasics:
    """One narrow select of the person's id, name, gender, birth date and ssn; PersonNotFound."""
    row = uow.session.execute(select(*_BASICS).where(Person.id == person_id)).first()
    if row is None:
        raise errors.PersonNotFound(person_id=person_id)
    return PersonBasics(id=row.id, name=row.name, gender=row.gender, birth_date=row.birth_date,
                        ssn=row.ssn or "")


def find_person_basics_by_ssn(*, uow: UnitOfWork, ssn: str) -> PersonBasics | None:
    """`find_person_by_ssn` narrowed to PersonBasics: one select, same matching."""
    row = uow.session.execute(select(*_BASICS).where(Person.ssn == normalise_ssn(ssn))).first()
    if row is None:
        return None
    return PersonBasics(id=row.id, name=row.name, gender=row.gender, birth_date=row.birth_date,
                        ssn=row.ssn or "")


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
    """The refusal listing every failing rule (and the warnings) in its details."""
    def findings(results):
        return [{"code": r.code, "zh": r.zh, "en": r.en, "measured": r.measured}
                for r in results]

    return errors.PhotoRejected(
        summary_zh="；".join(r.zh for r in report.failures),
        summary_en="; ".join(r.en for r in report.failures),
        failures=findings(report.failures), warnings=findings(report.warnings),
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
    if (person is not None and doc.document_type is rules.DocumentType.HOUSEHOLD_REGISTER
            and _has_document(uow, person.id, rules.DocumentType.RESIDENT_ID_CARD)):
        raise errors.HouseholdRegisterWithIdCard()
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


def _has_document(uow: UnitOfWork, person_id: int, document_type: str) -> bool:
    return uow.session.execute(
        select(PersonDocument.id).where(PersonDocument.person_id == person_id,
                                        PersonDocument.document_type == document_type)
    ).first() is not None


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
    """An application for a person on file fills in what the record lacks and never
    overwrites what it holds: the phone is the key to the holder's account (changed only with
    proof, people.api phone routes) and the address and photo change through a correction
    with a second operator. What the applicant gave differently is named in the audit."""
    before = _snapshot(person)
    ignored = []
    for contact in ("phone", "address"):
        given, held = applicant[contact], getattr(person, contact)
        if given and not held:
            setattr(person, contact, given)
        elif given and given != held:
            ignored.append(contact)
    person.updated_at = uow.now()
    _record_document(uow, person, applicant)
    photo_added = photo_jpeg is not None and not _has_photo(uow, person.id)
    if photo_added:
        _store_photo(uow, actor, person.id, photo_jpeg)
    elif photo_jpeg is not None:
        ignored.append("photo")
    _flush(uow)
    uow.audit(actor=actor, action="person.applicant_matched", entity_type="person",
              entity_id=person.id, before=before,
              after={**_snapshot(person), "document_type": applicant["document_type"],
                     "photo_added": photo_added, "differs_from_record_kept": ignored})


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
    """A review for the applicant's document; the one already open if there is one, so a
    repeated registration does not queue the same decision twice."""
    pending = uow.session.execute(
        select(IdentityReview).where(
            IdentityReview.status.in_(("open", "pending_approval")),
            IdentityReview.document_type == applicant["document_type"],
            IdentityReview.document_number == applicant["document_number"])
    ).scalar_one_or_none()
    if pending is not None:
        return pending
    review = IdentityReview(
        status="open", match_reason=reason, candidate_person_id=candidate.id,
        document_type=applicant["document_type"], document_number=applicant["document_number"],
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


# --- ever held a Jiangsu card (四.5) ------------------------------------------------------

CARD_RECORD_SOURCES = ("issued", "ended", "declared")


@dataclass(frozen=True)
class JiangsuCardRecordView:
    id: int
    person_id: int
    card_no: str
    source: str = field(metadata={"description": "issued | ended | declared"})
    recorded_at: datetime
    recorded_by: str


def record_jiangsu_card(*, uow: UnitOfWork, actor: Actor, person_id: int, card_no: str,
                        source: str) -> JiangsuCardRecordView:
    """Note that the person held this card (once per card and source: a retry adds nothing).
    Written in the caller's transaction; the caller's own audit record covers issued/ended."""
    if source not in CARD_RECORD_SOURCES:
        raise ValueError(f"unknown Jiangsu card record source {source!r}")
    known = uow.session.execute(select(JiangsuCardRecord).where(
        JiangsuCardRecord.person_id == person_id, JiangsuCardRecord.card_no == card_no,
        JiangsuCardRecord.source == source)).scalar_one_or_none()
    if known is None:
        known = JiangsuCardRecord(person_id=person_id, card_no=card_no, source=source,
                                  recorded_at=uow.now(), recorded_by=actor.user_id)
        uow.session.add(known)
        uow.session.flush()
    return _card_record_view(known)


def declare_provincial_card(*, uow: UnitOfWork, actor: Actor, person_id: int,
                            old_card_no: str) -> JiangsuCardRecordView:
    """An old-generation provincial card presented at an outlet: the person held a Jiangsu
    card, so online first issue is closed to them (四.5). Audited; a retry changes nothing."""
    _load(uow, person_id)
    number = rules.check_old_card_no(old_card_no)
    before = len(jiangsu_card_records(uow=uow, person_id=person_id))
    record = record_jiangsu_card(uow=uow, actor=actor, person_id=person_id, card_no=number,
                                 source="declared")
    if len(jiangsu_card_records(uow=uow, person_id=person_id)) != before:
        uow.audit(actor=actor, action="person.provincial_card_declared", entity_type="person",
                  entity_id=person_id, after={"record_id": record.id, "card_no": number})
    return record


def jiangsu_card_records(*, uow: UnitOfWork, person_id: int) -> list[JiangsuCardRecordView]:
    """Every record that the person held a Jiangsu card, oldest first."""
    rows = uow.session.execute(select(JiangsuCardRecord).where(
        JiangsuCardRecord.person_id == person_id).order_by(JiangsuCardRecord.id)).scalars()
    return [_card_record_view(row) for row in rows]


def ever_held_jiangsu_card(*, uow: UnitOfWork, person_id: int) -> bool:
    """Whether anything records that the person held a Jiangsu card (flag or record)."""
    person = _load(uow, person_id)
    return person.had_provincial_card or uow.session.execute(select(JiangsuCardRecord.id).where(
        JiangsuCardRecord.person_id == person_id).limit(1)).first() is not None


def _card_record_view(row: JiangsuCardRecord) -> JiangsuCardRecordView:
    return JiangsuCardRecordView(id=row.id, person_id=row.person_id, card_no=row.card_no,
                                 source=row.source, recorded_at=row.recorded_at,
                                 recorded_by=row.recorded_by)


# --- listing and photos ----------------------------------------------------------------


def list_people(*, uow: UnitOfWork, name: str | None = None, ssn: str | None = None,
                limit: int = 50, offset: int = 0) -> tuple[list[PersonView], int]:
    """A page of people (optionally by exact name or ssn) and the total; the doors mask
    the ssn."""
    query = select(Person)
    if name:
        query = query.where(Person.name == name.strip())
    if ssn:
        query = query.where(Person.ssn == normalise_ssn(ssn))
    total = uow.session.execute(
        select(func.count()).select_from(query.subquery())
    ).scalar_one()
    people = uow.session.execute(
        query.order_by(Person.id).limit(limit).offset(offset)
    ).scalars().all()
    return [_view(uow, person) for person in people], total


def upload_photo(*, uow: UnitOfWork, actor: Actor, person_id: int, jpeg: bytes) -> PhotoReport:
    """Check the photo against every rule and store it; raises PhotoRejected with all
    failures (the stored photo is then left as it was)."""
    person = _load(uow, person_id)
    report = _checked_photo(jpeg)
    previous = uow.session.get(PersonPhoto, person.id)
    before = {"size_bytes": previous.size_bytes} if previous else None
    _store_photo(uow, actor, person.id, jpeg)
    person.updated_at = uow.now()  # bumps the version: two uploads at once cannot both win
    uow.audit(actor=actor, action="person.photo_replace", entity_type="person",
              entity_id=person.id, before=before,
              after={"size_bytes": len(jpeg), "warnings": [r.code for r in report.warnings]})
    return report


def record_disclosure(*, uow: UnitOfWork, actor: Actor, person_id: int, reason: str) -> None:
    """Audit that an operator was shown the person's full identity number, and why."""
    _load(uow, person_id)
    if not (reason or "").strip():
        raise errors.InvalidPersonData(reason_zh="查看完整证件号码须说明理由",
                                       reason_en="a reason is needed to see the full number")
    uow.audit(actor=actor, action="person.disclose_ssn", entity_type="person",
              entity_id=person_id, reason=reason.strip())


# --- manual review of possible duplicates ----------------------------------------------

OPERATOR_ROLES = frozenset({Role.ADMIN, Role.SS_OUTLET, Role.CITIZEN_OUTLET})


@dataclass(frozen=True)
class ReviewView:
    id: int
    status: str
    match_reason: str
    candidate: PersonView
    applicant: dict[str, Any]
    has_applicant_photo: bool
    created_by: str
    resolved_by: str | None
    resolved_person_id: int | None
    resolution_reason: str | None
    proposed_person_id: int | None = None
    proposed_by: str | None = None
    proposal_reason: str | None = None


def _require_operator(actor: Actor) -> None:
    if actor.role not in OPERATOR_ROLES:
        raise Forbidden()


def _review_view(uow: UnitOfWork, review: IdentityReview) -> ReviewView:
    return ReviewView(
        id=review.id, status=review.status, match_reason=review.match_reason,
        candidate=get_person(uow=uow, person_id=review.candidate_person_id),
        applicant=dict(review.applicant), has_applicant_photo=review.applicant_photo is not None,
        created_by=review.created_by, resolved_by=review.resolved_by,
        resolved_person_id=review.resolved_person_id,
        resolution_reason=review.resolution_reason,
        proposed_person_id=review.proposed_person_id, proposed_by=review.proposed_by,
        proposal_reason=review.proposal_reason,
    )


REVIEW_STATUSES = ("open", "pending_approval", "merged", "distinct")
CORRECTION_STATUSES = ("pending", "approved", "rejected")


def _check_status_filter(status: str | None, known: tuple[str, ...]) -> None:
    # An unknown status would silently list nothing, which reads as "nothing to do".
    if status and status not in known:
        raise InvalidInput(reason_zh=f"未知状态 {status}（可选：{'、'.join(known)}）",
                           reason_en=f"unknown status {status} (one of {', '.join(known)})")


def list_reviews(*, uow: UnitOfWork, status: str | None = "open") -> list[ReviewView]:
    _check_status_filter(status, REVIEW_STATUSES)
    query = select(IdentityReview).order_by(IdentityReview.id)
    if status:
        query = query.where(IdentityReview.status == status)
    return [_review_view(uow, r) for r in uow.session.execute(query).scalars()]


def _load_review(uow: UnitOfWork, review_id: int) -> IdentityReview:
    review = uow.session.get(IdentityReview, review_id)
    if review is None:
        raise errors.ReviewNotFound(review_id=review_id)
    return review


def get_review(*, uow: UnitOfWork, review_id: int) -> ReviewView:
    return _review_view(uow, _load_review(uow, review_id))


def review_candidates(review: IdentityReview) -> list[int]:
    """The people a review may attach the applicant to (besides a new person)."""
    return [review.candidate_person_id]


def resolve_review(
    *, uow: UnitOfWork, actor: Actor, review_id: int, resolution: str, reason: str,
    person_id: int | None = None, config: PeopleConfig = DEFAULT_CONFIG,
) -> ReviewView:
    """"merge": the applicant is one of the review's candidates (`person_id`, default the
    candidate); attaching them to an existing person waits for a second operator
    (`approve_review`), so the review is pending approval, not closed.
    "distinct": a different person, created now; the review is closed.
    Anybody but a candidate is refused (NotAReviewCandidate, with the allowed ids).
    Audited on the review (and on a new person)."""
    _require_operator(actor)
    review = _load_review(uow, review_id)
    if review.status == "pending_approval":
        raise errors.ReviewAwaitingApproval()
    if review.status != "open":
        raise errors.ReviewAlreadyResolved()
    if resolution not in ("merge", "distinct") or not (reason or "").strip():
        raise errors.InvalidPersonData(
            reason_zh="处理结果须为 merge（同一人）或 distinct（不同人），并说明理由",
            reason_en="resolution must be 'merge' or 'distinct', with a reason")
    allowed = review_candidates(review)
    if person_id is not None and (resolution == "distinct" or person_id not in allowed):
        raise errors.NotAReviewCandidate(allowed_person_ids=allowed)
    if resolution == "merge":
        return _propose_merge(uow, actor, review, person_id or allowed[0], reason.strip())
    person = create_person(uow=uow, actor=actor, applicant=dict(review.applicant),
                           photo_jpeg=review.applicant_photo, config=config,
                           audit_reason=f"identity review {review.id}: {reason.strip()}")
    _close_review(uow, actor, review, person, "distinct", reason.strip())
    return _review_view(uow, review)


def _propose_merge(uow: UnitOfWork, actor: Actor, review: IdentityReview, person_id: int,
                   reason: str) -> ReviewView:
    """The maker's half of a merge: nothing is attached until a second operator approves."""
    _load(uow, person_id)
    review.status = "pending_approval"
    review.proposed_person_id, review.proposal_reason = person_id, reason
    review.proposed_by, review.proposed_by_user_id = actor.user_id, actor.account_id
    review.proposed_at = uow.now()
    _flush(uow)
    uow.audit(actor=actor, action="identity_review.merge_proposed",
              entity_type="identity_review", entity_id=review.id, before={"status": "open"},
              after={"status": review.status, "person_id": person_id}, reason=reason)
    return _review_view(uow, review)


def _close_review(uow: UnitOfWork, actor: Actor, review: IdentityReview, person: Person,
                  status: str, reason: str) -> None:
    """Record who the applicant is, audit it, and let the held application go on."""
    before = {"status": review.status}
    review.status = status
    review.resolved_at, review.resolved_by = uow.now(), actor.user_id
    review.resolved_person_id, review.resolution_reason = person.id, reason
    _flush(uow)
    uow.audit(actor=actor, action=f"identity_review.{status}",
              entity_type="identity_review", entity_id=review.id, before=before,
              after={"status": status, "person_id": person.id,
                     "document_type": review.applicant["document_type"],
                     "proposed_by": review.proposed_by},
              reason=reason)
    # Whoever waits on the applicant (an application held for this review) goes on from here.
    uow.emit("person.identity_review_resolved", aggregate_type="identity_review",
             aggregate_id=review.id, payload={"review_id": review.id, "person_id": person.id,
                                              "resolution": status})


def _awaiting_checker(uow: UnitOfWork, actor: Actor, review_id: int) -> IdentityReview:
    _require_operator(actor)
    review = _load_review(uow, review_id)
    if review.status != "pending_approval":
        raise errors.ReviewNotAwaitingApproval()
    if review.proposed_by == actor.user_id or (
            review.proposed_by_user_id is not None and actor.owns(review.proposed_by_user_id)):
        raise errors.ReviewMakerCannotApprove()
    return review


def approve_review(*, uow: UnitOfWork, actor: Actor, review_id: int,
                   reason: str | None = None) -> ReviewView:
    """The second operator confirms the merge: the applicant's document (and photo) go to
    the proposed person and the review closes as merged."""
    review = _awaiting_checker(uow, actor, review_id)
    person = _load(uow, review.proposed_person_id)
    _record_document(uow, person, dict(review.applicant))
    if review.applicant_photo is not None:
        _store_photo(uow, actor, person.id, review.applicant_photo)
    person.updated_at = uow.now()
    _close_review(uow, actor, review, person, "merged",
                  review.proposal_reason + (f" / {reason.strip()}" if reason and reason.strip() else ""))
    return _review_view(uow, review)


def reject_review(*, uow: UnitOfWork, actor: Actor, review_id: int, reason: str) -> ReviewView:
    """The second operator turns the merge down: nothing was attached, the review is open
    again for another decision."""
    review = _awaiting_checker(uow, actor, review_id)
    if not (reason or "").strip():
        raise errors.InvalidPersonData(reason_zh="请说明驳回理由", reason_en="a reason is required")
    proposed = {"person_id": review.proposed_person_id, "proposed_by": review.proposed_by}
    review.status = "open"
    review.proposed_person_id = review.proposed_by = review.proposed_by_user_id = None
    review.proposed_at = review.proposal_reason = None
    _flush(uow)
    uow.audit(actor=actor, action="identity_review.merge_rejected",
              entity_type="identity_review", entity_id=review.id,
              before={"status": "pending_approval", **proposed}, after={"status": "open"},
              reason=reason.strip())
    return _review_view(uow, review)


# --- corrections of core data (maker-checker) -------------------------------------------

# Fields printed on side B (name, ssn) or written to the chip's EF06 (birth date, gender):
# changing any of them means the card in the holder's hand is wrong and must be exchanged.
CORRECTABLE_FIELDS = ("name", "ssn", "birth_date", "gender")


@dataclass(frozen=True)
class CorrectionView:
    id: int
    person_id: int
    status: str
    before: dict[str, Any]
    changes: dict[str, Any]
    reason: str
    proposed_by: str
    decided_by: str | None
    decision_reason: str | None


def _correction_view(correction: PersonCorrection) -> CorrectionView:
    return CorrectionView(
        id=correction.id, person_id=correction.person_id, status=correction.status,
        before=dict(correction.before), changes=dict(correction.changes),
        reason=correction.reason, proposed_by=correction.proposed_by,
        decided_by=correction.decided_by, decision_reason=correction.decision_reason,
    )


def _core(person: Person) -> dict[str, Any]:
    snapshot = _snapshot(person)
    return {name: snapshot[name] for name in CORRECTABLE_FIELDS}


def _normalised_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(CORRECTABLE_FIELDS)
    if unknown:
        raise errors.InvalidPersonData(
            reason_zh="只能更正姓名、社会保障号码、出生日期、性别",
            reason_en=f"only {', '.join(CORRECTABLE_FIELDS)} can be corrected "
                      f"(not {', '.join(sorted(unknown))})")
    result: dict[str, Any] = {}
    for name, value in changes.items():
        if value is None:
            continue
        if name == "name":
            value = rules.check_name(value)
        elif name == "ssn":
            value = normalise_ssn(value)
        elif name == "birth_date":
            value = (value if isinstance(value, date) else date.fromisoformat(value)).isoformat()
        result[name] = value
    return result


def _check_corrected(uow: UnitOfWork, person: Person, after: dict[str, Any],
                     as_of: date) -> None:
    """The corrected core data must hang together like a new registration's would."""
    info = rules.classify_id_number(after["ssn"], today=as_of)
    if person.nationality == rules.CHINA and info.kind != "citizen":
        raise errors.DocumentNumberKindMismatch(expected_zh="公民身份号码",
                                                expected_en="citizen identity number")
    rules.check_agreement(info, birth_date=date.fromisoformat(after["birth_date"]),
                          gender=after["gender"])
    if after["ssn"] != person.ssn and uow.session.execute(
            select(Person.id).where(Person.ssn == after["ssn"], Person.id != person.id)).first():
        raise errors.SsnTaken()


def propose_correction(*, uow: UnitOfWork, actor: Actor, person_id: int,
                       changes: dict[str, Any], reason: str) -> CorrectionView:
    """Record a correction of core data; it changes nothing until another operator approves."""
    _require_operator(actor)
    person = _load(uow, person_id)
    if not (reason or "").strip():
        raise errors.InvalidPersonData(reason_zh="请说明更正理由", reason_en="a reason is required")
    before = _core(person)
    wanted = {k: v for k, v in _normalised_changes(changes).items() if before[k] != v}
    if not wanted:
        raise errors.NothingToCorrect()
    _check_corrected(uow, person, {**before, **wanted}, local_date(uow.now()))
    correction = PersonCorrection(
        person_id=person.id, status="pending", before=before, changes=wanted,
        reason=reason.strip(), proposed_by=actor.user_id,
        proposed_by_user_id=actor.account_id, proposed_at=uow.now(),
    )
    uow.session.add(correction)
    _flush(uow)
    uow.audit(actor=actor, action="person_correction.propose", entity_type="person_correction",
              entity_id=correction.id, after={"person_id": person.id, "before": before,
                                              "changes": wanted}, reason=correction.reason)
    return _correction_view(correction)


def _load_correction(uow: UnitOfWork, correction_id: int) -> PersonCorrection:
    correction = uow.session.get(PersonCorrection, correction_id)
    if correction is None:
        raise errors.CorrectionNotFound(correction_id=correction_id)
    return correction


def get_correction(*, uow: UnitOfWork, correction_id: int) -> CorrectionView:
    """One correction, as the second operator sees it before deciding; CorrectionNotFound."""
    return _correction_view(_load_correction(uow, correction_id))


def _pending(uow: UnitOfWork, actor: Actor, correction_id: int) -> PersonCorrection:
    _require_operator(actor)
    correction = _load_correction(uow, correction_id)
    if correction.status != "pending":
        raise errors.CorrectionAlreadyDecided()
    if correction.proposed_by == actor.user_id or (
            correction.proposed_by_user_id is not None and actor.owns(correction.proposed_by_user_id)):
        raise errors.MakerCannotApprove()
    return correction


def approve_correction(*, uow: UnitOfWork, actor: Actor, correction_id: int,
                       reason: str | None = None) -> CorrectionView:
    """A second operator applies the correction: audited with before/after, and
    `person.printed_data_changed` is emitted so an exchange card can be made."""
    correction = _pending(uow, actor, correction_id)
    person = _load(uow, correction.person_id)
    before = _core(person)
    if before != correction.before:
        raise errors.CorrectionOutdated()
    after = {**before, **correction.changes}
    _check_corrected(uow, person, after, local_date(uow.now()))
    full_before = _snapshot(person)
    if after["ssn"] != person.ssn:
        _renumber_documents(uow, person, old=person.ssn, new=after["ssn"])
    person.name, person.ssn, person.gender = after["name"], after["ssn"], after["gender"]
    person.birth_date = date.fromisoformat(after["birth_date"])
    person.updated_at = uow.now()
    correction.status, correction.decided_by = "approved", actor.user_id
    correction.decided_at, correction.decision_reason = uow.now(), reason
    _flush(uow)
    fields = sorted(correction.changes)
    uow.audit(actor=actor, action="person.correct", entity_type="person", entity_id=person.id,
              before=full_before, after={**_snapshot(person), "correction_id": correction.id,
                                         "proposed_by": correction.proposed_by},
              reason=correction.reason)
    uow.emit("person.printed_data_changed", aggregate_type="person", aggregate_id=person.id,
             payload={"person_id": person.id, "fields": fields, "correction_id": correction.id})
    return _correction_view(correction)


def _renumber_documents(uow: UnitOfWork, person: Person, *, old: str | None, new: str) -> None:
    # A citizen's ID card, temporary ID and household register carry the ssn itself: a
    # corrected ssn means those documents were recorded with the wrong number.
    for document in uow.session.execute(
        select(PersonDocument).where(PersonDocument.person_id == person.id,
                                     PersonDocument.number == old)
    ).scalars():
        document.number = new


def reject_correction(*, uow: UnitOfWork, actor: Actor, correction_id: int,
                      reason: str) -> CorrectionView:
    """A second operator turns the correction down; the person is not touched."""
    correction = _pending(uow, actor, correction_id)
    if not (reason or "").strip():
        raise errors.InvalidPersonData(reason_zh="请说明驳回理由", reason_en="a reason is required")
    correction.status, correction.decided_by = "rejected", actor.user_id
    correction.decided_at, correction.decision_reason = uow.now(), reason.strip()
    _flush(uow)
    uow.audit(actor=actor, action="person_correction.reject", entity_type="person_correction",
              entity_id=correction.id, before={"status": "pending"},
              after={"status": "rejected"}, reason=reason.strip())
    return _correction_view(correction)


def list_corrections(*, uow: UnitOfWork, status: str | None = "pending",
                     person_id: int | None = None) -> list[CorrectionView]:
    _check_status_filter(status, CORRECTION_STATUSES)
    query = select(PersonCorrection).order_by(PersonCorrection.id)
    if status:
        query = query.where(PersonCorrection.status == status)
    if person_id is not None:
        query = query.where(PersonCorrection.person_id == person_id)
    return [_correction_view(c) for c in uow.session.execute(query).scalars()]


# --- the phone number on file: the key to the holder's account ----------------------------

OUTLET_ROLES = frozenset({Role.SS_OUTLET, Role.CITIZEN_OUTLET, Role.ADMIN})
AT_OUTLET = ("服务网点柜台办理", "at an outlet counter")
ONLINE_WITH_CODE_AND_PIN = ("网上凭原手机验证码和卡片密码办理", "online with the old number's code and the card's PIN")


def change_phone_at_outlet(*, uow: UnitOfWork, actor: Actor, person_id: int, phone: str) -> PersonView:
    """The holder in person at an outlet counter (the operator saw the ID card): the phone
    on file changes and the old number is told."""
    if actor.role not in OUTLET_ROLES:
        raise Forbidden()
    return _change_phone(uow, actor, _load(uow, person_id), phone, how=AT_OUTLET)


def send_phone_change_code(*, uow: UnitOfWork, actor: Actor) -> str:
    """Text a code to the holder's current (old) number for a change online; returns the
    masked number."""
    from yikatong.auth.binding import send_code_to_holder

    return send_code_to_holder(uow=uow, actor=actor, purpose="phone_change")


def change_own_phone(*, uow: UnitOfWork, actor: Actor, phone: str, code: str, pin: str,
                     pin_check) -> PersonView:
    """The holder online: the code texted to the old number AND the PIN of the card in use
    (checked by the card, `cards.protocols.CardPinCheck`). The old number is told."""
    from yikatong.auth.binding import SMS, prove_with_code
    from yikatong.cards.service import current_card_for
    from yikatong.notices.rules import normalise_mobile

    if actor.role != Role.HOLDER or actor.person_id is None:
        raise Forbidden(zh="只有持卡人本人可以办理", en="Only the holder may do this")
    normalise_mobile(phone)  # a malformed number is refused before the code is used up
    card = current_card_for(uow=uow, person_id=actor.person_id)
    if card is None:
        raise errors.NoCardForPhoneChange()
    prove_with_code(uow=uow, actor=actor, kind=SMS, purpose="phone_change",
                    person_id=actor.person_id, code=code)
    pin_check.verify(card_no=card.card_no, pin=pin)
    return _change_phone(uow, actor, _load(uow, actor.person_id), phone,
                         how=ONLINE_WITH_CODE_AND_PIN)


def _change_phone(uow: UnitOfWork, actor: Actor, person: Person, phone: str, *,
                  how: tuple[str, str]) -> PersonView:
    from yikatong.notices.rules import mask_phone, normalise_mobile
    from yikatong.notices.service import send_sms

    new, old = normalise_mobile(phone), person.phone
    if new == old:
        raise InvalidInput(reason_zh="新手机号与原手机号相同", reason_en="the new number is the one on file")
    person.phone = new
    person.updated_at = uow.now()
    uow.session.flush()
    uow.audit(actor=actor, action="person.phone_changed", entity_type="person", entity_id=person.id,
              before={"phone": mask_phone(old)}, after={"phone": mask_phone(new), "how": how[1]})
    if old:
        send_sms(uow=uow, template="phone_changed", phone=old, person_id=person.id,
                 params={"new_phone": mask_phone(new), "how_zh": how[0], "how_en": how[1]})
    return _view(uow, person)
