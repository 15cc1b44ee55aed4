"""Tables of the employers domain: which person an employer employs, and since when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class EmployeeLink(Base):
    """An employer ↔ employee link, made when the employer's batch registers the person.
    While it is open the employer's agents may see and register that person; ending it
    (the person left) takes that access away. Rows are never deleted: they are the record
    of who could see whom."""

    __tablename__ = "employee_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    employer_uscc: Mapped[str] = mapped_column(String(18))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    made_by: Mapped[str] = mapped_column(String(64))
    employer_batch_id: Mapped[int | None] = mapped_column(ForeignKey("employer_batches.id"))
    ended_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_employee_links_employer_person", "employer_uscc", "person_id"),)
