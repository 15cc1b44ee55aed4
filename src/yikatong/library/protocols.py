"""The seam between the platform and a library's own system (issue 15, seed 三.7).

The library keeps items and loans in its own system (`LibrarySystem`: a reference one lives in
this package, a real integrated library system can stand behind the same interface); the
platform is the authority on the patron (`PatronAuthority`): who a reader is, and whether the
card or e-card code shown at the kiosk may borrow now. The reader number is the person's, not
the card's, so loans survive a replacement card.

The SIP2 server (library/sip2) speaks to kiosks and only calls these two interfaces: it resolves
the patron identifier a kiosk sends (card number, social security number, reader number or an
e-card QR token) through the authority, then asks the library system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol


class PatronBlock(StrEnum):
    """Why a patron may not borrow now; the kiosk shows the block's message."""

    NOT_A_READER = "not_a_reader"        # the holder has not opted in to the reader card
    CARD_NOT_USABLE = "card_not_usable"  # this card is lost, frozen, retired or replaced
    PERSON_DECEASED = "person_deceased"
    OVERDUE = "overdue"                  # the library system's block: items overdue
    FEES_OWED = "fees_owed"              # the library system's block: fees above the limit
    LIMIT_REACHED = "limit_reached"      # as many items out as the rules allow


@dataclass(frozen=True)
class Patron:
    """A reader as the platform knows them, resolved from what was presented."""

    reader_no: str               # the person's reader number (stable across replacement cards)
    person_id: int
    display_name: str            # the name as a kiosk may show it (masked: 张*三)
    presented: str               # "card", "ssn", "reader_no" or "ecard"
    card_no: str | None          # the card presented, if any
    blocks: tuple[PatronBlock, ...] = ()  # the platform's blocks (card and person)

    @property
    def may_borrow(self) -> bool:
        return not self.blocks


class PatronAuthority(Protocol):
    def resolve(self, identifier: str, *, now: datetime) -> Patron | None:
        """The patron behind a card number, social security number, reader number or e-card
        token; None when nobody matches (a kiosk answers "invalid patron")."""
        ...


@dataclass(frozen=True)
class Loan:
    item_barcode: str
    title: str
    loaned_on: date
    due_on: date
    renewals: int
    overdue: bool


@dataclass(frozen=True)
class Hold:
    item_barcode: str
    title: str
    placed_on: date
    ready: bool


@dataclass(frozen=True)
class Fee:
    fee_id: str
    amount_fen: int
    reason: str                  # "overdue", "lost", "damaged"
    item_barcode: str | None


@dataclass(frozen=True)
class PatronAccount:
    """What the library system holds on a reader: loans, holds, fees and its own blocks."""

    reader_no: str
    loans: tuple[Loan, ...] = ()
    holds: tuple[Hold, ...] = ()
    fees: tuple[Fee, ...] = ()
    blocks: tuple[PatronBlock, ...] = ()   # overdue / fees / limit, decided by the loan rules
    loan_limit: int = 0
    hold_limit: int = 0
    overdue_limit: int = 0

    @property
    def fees_owed_fen(self) -> int:
        return sum(fee.amount_fen for fee in self.fees)


@dataclass(frozen=True)
class Item:
    barcode: str
    title: str
    location: str                # permanent location (shelf / branch)
    on_loan_to: str | None       # reader number
    due_on: date | None
    holds: int = 0


@dataclass(frozen=True)
class LibraryOutcome:
    """The answer to a checkout, checkin, renewal or fee payment: `ok` or a refusal with a
    bilingual message a kiosk can show."""

    ok: bool
    code: str                    # "ok" or a machine code ("item_not_found", "overdue", …)
    zh: str = ""
    en: str = ""
    item: Item | None = None
    due_on: date | None = None
    fee: Fee | None = None
    alert: bool = False          # checkin: the item must go aside (a hold is waiting)
    details: dict = field(default_factory=dict)


class LibrarySystem(Protocol):
    """The library's own system (items and loans). Every call that changes something carries the
    kiosk's transaction time and is idempotent for the same (reader, item, action, time)."""

    def account(self, reader_no: str, *, now: datetime) -> PatronAccount: ...

    def item(self, barcode: str) -> Item | None: ...

    def checkout(self, reader_no: str, barcode: str, *, now: datetime) -> LibraryOutcome: ...

    def checkin(self, barcode: str, *, now: datetime, location: str = "") -> LibraryOutcome: ...

    def renew(self, reader_no: str, barcode: str, *, now: datetime) -> LibraryOutcome: ...

    def pay_fee(self, reader_no: str, amount_fen: int, *, now: datetime,
                fee_id: str | None = None, transaction_id: str = "") -> LibraryOutcome: ...
