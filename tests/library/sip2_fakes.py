"""Small in-memory PatronAuthority, LibrarySystem and KioskAccounts for the SIP2 tests: just
enough loan rules to answer like a library (limit, 30 days, one renewal, fees)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from yikatong.core.clock import local_date
from yikatong.library.protocols import (
    Fee,
    Item,
    LibraryOutcome,
    Loan,
    Patron,
    PatronAccount,
    PatronBlock,
)
from yikatong.library.sip2.accounts import KioskAccount

KIOSK_LOGIN, KIOSK_PASSWORD = "kiosk-czlib", "fake-kiosk-secret"


@dataclass
class FakeAuthority:
    patrons: dict[str, Patron] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def resolve(self, identifier: str, *, now: datetime) -> Patron | None:
        self.calls.append(identifier)
        return self.patrons.get(identifier)


@dataclass
class FakeLibrary:
    items: dict[str, Item] = field(default_factory=dict)
    loans: dict[str, Loan] = field(default_factory=dict)       # barcode -> loan
    borrower: dict[str, str] = field(default_factory=dict)     # barcode -> reader_no
    fees: dict[str, list[Fee]] = field(default_factory=dict)   # reader_no -> fees
    limit: int = 5
    changes: list[tuple] = field(default_factory=list)

    def add_item(self, barcode: str, title: str, location: str = "总馆二楼") -> None:
        self.items[barcode] = Item(barcode=barcode, title=title, location=location,
                                   on_loan_to=None, due_on=None)

    def account(self, reader_no: str, *, now: datetime) -> PatronAccount:
        loans = tuple(loan for barcode, loan in self.loans.items()
                      if self.borrower[barcode] == reader_no)
        fees = tuple(self.fees.get(reader_no, ()))
        blocks = []
        if any(loan.overdue for loan in loans):
            blocks.append(PatronBlock.OVERDUE)
        if len(loans) >= self.limit:
            blocks.append(PatronBlock.LIMIT_REACHED)
        return PatronAccount(reader_no=reader_no, loans=loans, fees=fees, blocks=tuple(blocks),
                             loan_limit=self.limit, hold_limit=3, overdue_limit=1)

    def item(self, barcode: str) -> Item | None:
        return self.items.get(barcode)

    def checkout(self, reader_no: str, barcode: str, *, now: datetime) -> LibraryOutcome:
        item = self.items.get(barcode)
        if item is None:
            return LibraryOutcome(False, "item_not_found", "未找到该图书", "Item not found")
        if item.on_loan_to is not None:
            return LibraryOutcome(False, "on_loan", "该书已借出", "Already on loan", item=item)
        if len(self.account(reader_no, now=now).loans) >= self.limit:
            return LibraryOutcome(False, "limit_reached", "已达到可借册数上限",
                                  "The loan limit is reached", item=item)
        due = local_date(now) + timedelta(days=30)
        self.loans[barcode] = Loan(barcode, item.title, local_date(now), due, 0, False)
        self.borrower[barcode] = reader_no
        self.items[barcode] = item = replace(item, on_loan_to=reader_no, due_on=due)
        self.changes.append(("checkout", reader_no, barcode, now))
        return LibraryOutcome(True, "ok", item=item, due_on=due)

    def checkin(self, barcode: str, *, now: datetime, location: str = "") -> LibraryOutcome:
        item = self.items.get(barcode)
        if item is None:
            return LibraryOutcome(False, "item_not_found", "未找到该图书", "Item not found")
        if item.on_loan_to is None:
            return LibraryOutcome(False, "not_on_loan", "该书未借出", "Not on loan", item=item)
        del self.loans[barcode], self.borrower[barcode]
        self.items[barcode] = item = replace(item, on_loan_to=None, due_on=None)
        self.changes.append(("checkin", barcode, now, location))
        return LibraryOutcome(True, "ok", "还书成功", "Returned", item=item)

    def renew(self, reader_no: str, barcode: str, *, now: datetime) -> LibraryOutcome:
        loan = self.loans.get(barcode)
        if loan is None or self.borrower[barcode] != reader_no:
            return LibraryOutcome(False, "not_your_loan", "您未借此书", "Not on loan to you")
        if loan.renewals >= 1:
            return LibraryOutcome(False, "renewals_used", "已续借过，不能再续借",
                                  "Already renewed once", item=self.items[barcode])
        due = loan.due_on + timedelta(days=30)
        self.loans[barcode] = replace(loan, due_on=due, renewals=loan.renewals + 1)
        self.items[barcode] = item = replace(self.items[barcode], due_on=due)
        self.changes.append(("renew", reader_no, barcode, now))
        return LibraryOutcome(True, "ok", item=item, due_on=due)

    def pay_fee(self, reader_no: str, amount_fen: int, *, now: datetime,
                fee_id: str | None = None, transaction_id: str = "") -> LibraryOutcome:
        owed = self.fees.get(reader_no, [])
        fee = next((f for f in owed if f.fee_id == fee_id), owed[0] if owed else None)
        if fee is None or fee.amount_fen != amount_fen:
            return LibraryOutcome(False, "no_such_fee", "没有这笔费用", "No such fee")
        owed.remove(fee)
        self.changes.append(("pay_fee", reader_no, amount_fen, transaction_id))
        return LibraryOutcome(True, "ok", "缴费成功", "Fee paid", fee=fee)


@dataclass
class FakeAccounts:
    library_code: str = "CZLIB"
    attempts: list[str] = field(default_factory=list)

    def authenticate(self, login: str, password: str, *, library_code: str, location: str,
                     address: str, now: datetime) -> KioskAccount | None:
        self.attempts.append(login)
        if (login, password, library_code) == (KIOSK_LOGIN, KIOSK_PASSWORD, self.library_code):
            return KioskAccount(login=login, library_code=library_code)
        return None
