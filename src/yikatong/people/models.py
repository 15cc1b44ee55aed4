"""Tables of the people domain: persons, their documents and photo, reviews, corrections."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class Person(Base):
    """One natural person, one record (一人一档)."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    # Set in the creating transaction; nullable only between the insert and the flush that
    # gives an agency-assigned number its sequence (the person's id).
    ssn: Mapped[str | None] = mapped_column(String(20), unique=True)
    gender: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(index=True)
    nationality: Mapped[str] = mapped_column(String(3))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))
    person_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    had_provincial_card: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class PersonDocument(Base):
    """An identity document seen for a person; the same (type, number) belongs to one person."""

    __tablename__ = "person_documents"
    __table_args__ = (UniqueConstraint("document_type", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    document_type: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(32), index=True)
    valid_until: Mapped[date | None]
    recorded_at: Mapped[datetime]


class PersonPhoto(Base):
    """The person's current photo (JPEG bytes), kept apart so person queries stay light."""

    __tablename__ = "person_photos"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int]
    uploaded_at: Mapped[datetime]
    uploaded_by: Mapped[str] = mapped_column(String(64))


class IdentityReview(Base):
    """An applicant who may be an existing person: held for an operator to decide."""

    __tablename__ = "identity_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | merged | distinct
    match_reason: Mapped[str] = mapped_column(String(32))
    candidate_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    document_type: Mapped[str] = mapped_column(String(32))
    document_number: Mapped[str] = mapped_column(String(32), index=True)
    applicant: Mapped[dict]  # the applicant's data as registered (no photo)
    applicant_photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    resolution_reason: Mapped[str | None] = mapped_column(String(200))
    # A merge into an existing person waits for a second operator (maker-checker): the
    # proposed person, the maker and their reason, until approved or rejected.
    proposed_person_id: Mapped[int | None]
    proposed_by: Mapped[str | None] = mapped_column(String(64))
    proposed_by_user_id: Mapped[int | None]
    proposed_at: Mapped[datetime | None]
    proposal_reason: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class PersonCorrection(Base):
    """A proposed change of core data, applied only after a second operator approves it."""

    __tablename__ = "person_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending|approved|rejected
    before: Mapped[dict]
    changes: Mapped[dict]
    reason: Mapped[str] = mapped_column(String(200))
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_by_user_id: Mapped[int | None]  # the maker (users.id), never also the checker
    proposed_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class JiangsuCardRecord(Base):
    """That a person held a Jiangsu social security card (四.5: online first issue is only for
    people who never did). `source`: issued (the platform handed one over), ended (the
    platform retired it), declared (an old-generation provincial card presented at an outlet;
    `card_no` is then the number printed on that card)."""

    __tablename__ = "jiangsu_card_records"
    __table_args__ = (UniqueConstraint("person_id", "card_no", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key, like cards.person_id: a card may be recorded before the person's row
    # exists in this database (cards are registered from the factory's list).
    person_id: Mapped[int] = mapped_column(index=True)
    card_no: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # issued | ended | declared
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(64))


class GuardianLink(Base):
    """A guardian (监护人) linked to a child under 16 at a social security card outlet, on the
    documents shown there: the guardian then acts for the child online (people.guardians).

    In force while `ended_at` is empty and the child is under 16 on the day (computed from the
    child's birth date, so no job has to end it on the 16th birthday); ended at an outlet with
    a reason. `active_key` is "guardian:child" while not ended at an outlet and NULL after, so
    the database keeps one open link per pair. Rows are never deleted: they are the record of
    who could act for whom."""

    __tablename__ = "guardian_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    guardian_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    child_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    relation: Mapped[str] = mapped_column(String(24))  # parent | legal_guardian
    documents: Mapped[list]  # the codes of the documents shown (people.guardians.DOCUMENTS)
    active_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    outlet_code: Mapped[str] = mapped_column(String(32))
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(64))
    end_reason: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
