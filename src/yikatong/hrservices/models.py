"""Tables of the HR services: cases and their documents (the bytes kept apart, as people keeps
photos, so a case list stays light)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class HrCase(Base):
    __tablename__ = "hr_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    service_code: Mapped[str] = mapped_column(String(48), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    channel: Mapped[str] = mapped_column(String(16))           # online / outlet
    outlet_code: Mapped[str | None] = mapped_column(String(32))
    # the credential the case was opened with: "card" or "ecard", and the card's number
    credential: Mapped[str] = mapped_column(String(8))
    card_no: Mapped[str | None] = mapped_column(String(16))
    particulars: Mapped[dict]                                   # what the opener wrote
    opened_by: Mapped[str] = mapped_column(String(64))          # login name, for display
    opened_by_user_id: Mapped[int | None] = mapped_column(index=True)
    officer: Mapped[str | None] = mapped_column(String(64))     # the reviewing HR officer
    officer_user_id: Mapped[int | None]
    requested: Mapped[dict | None]                              # kinds asked for and the note
    decision_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[dict | None]                                # what the decision led to
    history: Mapped[list]                                       # [{step, state, at, by, role}]
    opened_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class HrCaseDocument(Base):
    __tablename__ = "hr_case_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("hr_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int]
    sm3: Mapped[str] = mapped_column(String(72))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]


class HrCaseDocumentContent(Base):
    """A document's bytes, kept apart (people.models.PersonPhoto does the same for photos)."""

    __tablename__ = "hr_case_document_contents"

    document_id: Mapped[int] = mapped_column(ForeignKey("hr_case_documents.id"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
