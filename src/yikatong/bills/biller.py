"""The biller seam: a utility (water, electricity, gas) that bills its customers through the
platform and reads back what was paid and refunded.

`BillerSystem` is the contract; `ReferenceBiller` the in-repo utility (CZ-WATER, CZ-POWER,
CZ-GAS) that meters its customers deterministically, issues bills with due dates, and
reconciles its bills against the platform's receipts (paid, refunded, still due). A real
utility posts through the API as Role.BILLER (`POST /api/v1/bills/payee/bills`) and reads
`GET /api/v1/bills/payee/receipts`; the reference one calls the same use cases in-process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.money import Fen


@dataclass(frozen=True)
class Customer:
    person_id: int
    id_number: str


@dataclass(frozen=True)
class IssuedBill:
    """A bill as the utility makes it: its own number, the customer account (户号), the
    period, the amount and the due date."""

    bill_no: str
    id_number: str
    account_ref: str
    period: str
    amount_fen: Fen
    due_date: date
    usage: int  # m³ or kWh


@dataclass
class Reconciliation:
    """The utility's bills of a period against the platform's receipts."""

    paid: list[str] = field(default_factory=list)      # bill numbers
    refunded: list[str] = field(default_factory=list)
    unpaid: list[str] = field(default_factory=list)


class BillerSystem(Protocol):
    code: str

    def bills_for(self, *, period: str, customers: Iterable[Customer]) -> list[IssuedBill]:
        """The period's bills for these customers (the same every time it is asked: a bill
        number names one bill)."""
        ...

    def reconcile(self, *, bills: Iterable[IssuedBill], receipts: Iterable) -> Reconciliation:
        """Which of its bills the receipts (bills.service.ReceiptView) show paid, refunded,
        or not yet paid."""
        ...


# Example tariffs (fen per unit) and monthly usage ranges; placeholders, not Changzhou's prices.
TARIFFS = {"water": (335, 8, 30, "W"), "electricity": (53, 150, 450, "E"), "gas": (305, 10, 40, "G")}


class ReferenceBiller:
    """The in-repo utility: usage from a hash of (customer, period), amount = usage × tariff,
    due on the 15th of the month after the period."""

    def __init__(self, code: str, kind: str) -> None:
        self.code, self.kind = code, kind
        self.tariff, self.low, self.high, self.prefix = TARIFFS[kind]

    @property
    def actor(self) -> Actor:
        return Actor(user_id=f"biller:{self.code}", role=Role.BILLER, channel=Channel.PARTNER_API,
                     branch_code=self.code)

    def bills_for(self, *, period: str, customers: Iterable[Customer]) -> list[IssuedBill]:
        year, month = (int(part) for part in period.split("-"))
        due = date(year + (month == 12), month % 12 + 1, 15)
        made = []
        for customer in customers:
            digest = hashlib.sha256(f"{self.code}:{customer.person_id}:{period}".encode()).digest()
            usage = self.low + digest[0] % (self.high - self.low + 1)
            made.append(IssuedBill(
                bill_no=f"{self.code}-{period}-{customer.person_id}", id_number=customer.id_number,
                account_ref=f"{self.prefix}{customer.person_id:08d}", period=period,
                amount_fen=usage * self.tariff, due_date=due, usage=usage))
        return made

    def reconcile(self, *, bills: Iterable[IssuedBill], receipts: Iterable) -> Reconciliation:
        status = {r.external_ref: r.status for r in receipts if r.payee_code == self.code}
        result = Reconciliation()
        for bill in bills:
            found = status.get(bill.bill_no)
            (result.paid if found == "paid" else result.refunded if found == "refunded"
             else result.unpaid).append(bill.bill_no)
        return result


def reference_billers() -> dict[str, ReferenceBiller]:
    from yikatong.bills.figures import figures

    return {b.code: ReferenceBiller(b.code, b.kind) for b in figures().billers}


def issue_reference_bills(*, uows: Callable, biller: BillerSystem, period: str, limit: int,
                          progress: Callable[[int, int], None] | None = None) -> list[int]:
    """The biller's bills of `period` for up to `limit` card holders, posted through the same
    use case as the API's (idempotent by bill number): the bill ids."""
    from yikatong.bills import service

    with uows() as uow:
        customers = [Customer(p, ssn) for p, ssn in service.iter_reference_customers(uow=uow, limit=limit)]
    issued = biller.bills_for(period=period, customers=customers)
    ids = []
    for done, bill in enumerate(issued, start=1):
        with uows() as uow:
            ids.append(service.post_utility_bill(
                uow=uow, actor=biller.actor, id_number=bill.id_number, account_ref=bill.account_ref,
                bill_no=bill.bill_no, period=bill.period, amount_fen=bill.amount_fen,
                due_date=bill.due_date).id)
        if progress is not None:
            progress(done, len(issued))
    return ids
