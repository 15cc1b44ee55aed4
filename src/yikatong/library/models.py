"""Tables of the library: the platform's readers (the patron authority's own record: a reader
number per person, opted in by the holder) and the reference library system's items, loans,
holds and fees (a real library system keeps these in its own database; here they sit beside
the platform's tables, touched only through library.system / library.service)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class Reader(Base):
    """A person who opted in to use the card as their reader card. The reader number is the
    person's: a replacement or exchange card finds the same reader, and so the same loans.
    Opting out keeps the number (the loans still name it) and sets `withdrawn_at`; opting in
    again clears it."""

    __tablename__ = "library_readers"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), unique=True)
    reader_no: Mapped[str] = mapped_column(String(16), unique=True)
    opted_in_at: Mapped[datetime]
    opted_in_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class LibraryItem(Base):
    """One copy of a title, by its barcode, in one library's collection."""

    __tablename__ = "library_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    barcode: Mapped[str] = mapped_column(String(32), unique=True)
    library_code: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(120))
    call_no: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(64))  # permanent location (branch / shelf)
    status: Mapped[str] = mapped_column(String(16))    # available | on_loan | on_hold_shelf | withdrawn
    price_fen: Mapped[int]                              # replacement cost, for a lost-item fee
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class LibraryLoan(Base):
    """An item lent to a reader. `open_key` is the item's barcode while the loan is open and
    NULL once returned: an item has at most one open loan (a unique index, so two desks
    lending the same copy at once cannot both succeed)."""

    __tablename__ = "library_loans"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("library_items.id"), index=True)
    reader_no: Mapped[str] = mapped_column(String(16), index=True)
    open_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    loaned_at: Mapped[datetime]
    due_on: Mapped[date] = mapped_column(index=True)
    renewals: Mapped[int] = mapped_column(default=0)
    last_renewed_at: Mapped[datetime | None]
    card_no: Mapped[str | None] = mapped_column(String(9))  # the card presented, if any
    presented: Mapped[str] = mapped_column(String(16))       # card | ssn | reader_no | ecard | desk
    channel: Mapped[str] = mapped_column(String(32))
    returned_at: Mapped[datetime | None]
    return_location: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_library_loans_reader_open", "reader_no", "returned_at"),)


class LibraryHold(Base):
    """A reader's request for an item on loan; when it is returned the hold becomes ready and
    the item waits on the hold shelf for that reader."""

    __tablename__ = "library_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("library_items.id"), index=True)
    reader_no: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16))  # waiting | ready | fulfilled | cancelled
    placed_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class LibraryFee(Base):
    """A fee a reader owes (overdue, lost, damaged), and what was paid of it."""

    __tablename__ = "library_fees"

    id: Mapped[int] = mapped_column(primary_key=True)
    fee_id: Mapped[str] = mapped_column(String(32), unique=True)
    reader_no: Mapped[str] = mapped_column(String(16), index=True)
    amount_fen: Mapped[int]
    paid_fen: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(String(16))
    item_barcode: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime | None]                    # when it was paid in full
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class LibraryFeePayment(Base):
    """A payment toward a reader's fees (oldest first). `transaction_id` is the kiosk's or
    desk's: the same payment sent again is recorded once."""

    __tablename__ = "library_fee_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    reader_no: Mapped[str] = mapped_column(String(16), index=True)
    amount_fen: Mapped[int]
    paid_at: Mapped[datetime]
    paid_by: Mapped[str] = mapped_column(String(64))
    fee_ids: Mapped[list]
