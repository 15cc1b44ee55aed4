"""Use cases of the library: readers (the platform's side: a holder opts in and gets a reader
number that is the person's) and the reference library system (items, loans, renewals, holds,
fees), each change one transaction with its audit record.

The reference system's operations take the kiosk's or desk's transaction time `now` and are
idempotent for the same (reader, item, action, time): a checkout of an item already lent to the
same reader answers with that loan, a renewal already made at `now` is not made twice, a
checkin of a loan already closed at `now` answers as before, a fee payment with the same
transaction id is recorded once. Refusals are answers (`LibraryOutcome(ok=False, code=…)`),
not exceptions, because a kiosk shows them; bad input from the API is a DomainError.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from yikatong.core.masking import mask_name
from yikatong.db.uow import UnitOfWork
from yikatong.library import rules
from yikatong.library.models import (
    LibraryFee,
    LibraryFeePayment,
    LibraryHold,
    LibraryItem,
    LibraryLoan,
    Reader,
)
from yikatong.library.protocols import (
    Fee,
    Hold,
    Item,
    LibraryOutcome,
    Loan,
    PatronAccount,
    PatronBlock,
)

STAFF = frozenset({Role.ADMIN, Role.SYSTEM})
KIOSK = Actor.system("library.kiosk")


# ---------------------------------------------------------------------------------------
# Errors (API input; kiosk refusals are outcomes)


class ReaderNotFound(NotFound):
    code = "library_reader_not_found"
    zh = "未找到该读者"
    en = "Reader not found"

    def __init__(self, **details) -> None:
        super().__init__(what="reader", **details)


class ItemNotFound(NotFound):
    code = "library_item_not_found"
    zh = "未找到该图书"
    en = "Item not found"

    def __init__(self, **details) -> None:
        super().__init__(what="item", **details)


class ItemExists(Conflict):
    code = "library_item_exists"
    zh = "条码 {barcode} 已被使用"
    en = "Barcode {barcode} is already in use"


class NotYourLibrary(Forbidden):
    code = "library_not_yours"
    zh = "只能管理本馆的图书"
    en = "A librarian manages their own library's items only"


class LibraryRefused(Conflict):
    """A desk action the library system refused; carries the outcome's code and words."""

    code = "library_refused"
    zh = "{reason_zh}"
    en = "{reason_en}"


# ---------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class ReaderView:
    person_id: int
    reader_no: str
    active: bool
    opted_in_at: datetime
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class ItemRow:
    barcode: str
    library_code: str
    title: str
    author: str
    call_no: str
    location: str
    status: str
    price_fen: int
    on_loan_to: str | None
    due_on: date | None
    holds: int


@dataclass(frozen=True)
class LoanRow:
    item_barcode: str
    title: str
    reader_no: str
    loaned_at: datetime
    due_on: date
    renewals: int
    overdue: bool
    presented: str
    returned_at: datetime | None


# ---------------------------------------------------------------------------------------
# Readers (the platform's record)


def _new_reader_no(uow: UnitOfWork) -> str:
    while True:
        candidate = f"CZR{secrets.randbelow(10**9):09d}"
        taken = uow.session.execute(
            select(Reader.id).where(Reader.reader_no == candidate)).first()
        if taken is None:
            return candidate


def _reader_view(reader: Reader) -> ReaderView:
    return ReaderView(person_id=reader.person_id, reader_no=reader.reader_no,
                      active=reader.withdrawn_at is None, opted_in_at=reader.opted_in_at,
                      withdrawn_at=reader.withdrawn_at)


def _holder_person(uow: UnitOfWork, actor: Actor, person_id: int | None) -> int:
    """The person a holder acts for (themself, or a child in their care); staff name one."""
    from yikatong.people.guardians import may_act_for

    if actor.role is Role.HOLDER:
        target = person_id if person_id is not None else actor.person_id
        if target is None or not may_act_for(uow, actor, target):
            raise ReaderNotFound(person_id=person_id)
        return target
    if actor.role in STAFF and person_id is not None:
        return person_id
    raise Forbidden()


def reader_of_person(uow: UnitOfWork, person_id: int) -> Reader | None:
    return uow.session.execute(
        select(Reader).where(Reader.person_id == person_id)).scalar_one_or_none()


def get_reader(*, uow: UnitOfWork, actor: Actor, person_id: int | None = None) -> ReaderView | None:
    target = _holder_person(uow, actor, person_id)
    reader = reader_of_person(uow, target)
    return _reader_view(reader) if reader is not None else None


def opt_in(*, uow: UnitOfWork, actor: Actor, person_id: int | None = None) -> ReaderView:
    """The holder turns the card into their reader card (开通借阅). The reader number is
    made once per person and kept; opting in again after withdrawing reuses it."""
    from yikatong.people.models import Person

    target = _holder_person(uow, actor, person_id)
    if uow.session.get(Person, target) is None:
        raise ReaderNotFound(person_id=target)
    now = uow.now()
    reader = reader_of_person(uow, target)
    if reader is not None and reader.withdrawn_at is None:
        return _reader_view(reader)  # already a reader: nothing changes
    if reader is None:
        reader = Reader(person_id=target, reader_no=_new_reader_no(uow), opted_in_at=now,
                        opted_in_by=actor.user_id, withdrawn_at=None)
        uow.session.add(reader)
        action, before = "library.reader_opted_in", None
    else:
        before = {"withdrawn_at": reader.withdrawn_at.isoformat()}
        reader.withdrawn_at = None
        reader.opted_in_at = now
        reader.opted_in_by = actor.user_id
        action = "library.reader_opted_in_again"
    uow.session.flush()
    uow.audit(actor=actor, action=action, entity_type="library_reader",
              entity_id=reader.reader_no, before=before,
              after={"person_id": target, "reader_no": reader.reader_no})
    uow.commit()
    return _reader_view(reader)


def opt_out(*, uow: UnitOfWork, actor: Actor, person_id: int | None = None) -> ReaderView:
    """The holder withdraws: the card no longer borrows; open loans stay on the reader and
    can still be returned and renewed at the desk."""
    target = _holder_person(uow, actor, person_id)
    reader = reader_of_person(uow, target)
    if reader is None:
        raise ReaderNotFound(person_id=target)
    if reader.withdrawn_at is None:
        reader.withdrawn_at = uow.now()
        uow.audit(actor=actor, action="library.reader_withdrawn", entity_type="library_reader",
                  entity_id=reader.reader_no, after={"withdrawn_at": reader.withdrawn_at.isoformat()})
        uow.commit()
    return _reader_view(reader)


# ---------------------------------------------------------------------------------------
# The reference library system: reading


def _item_by_barcode(uow: UnitOfWork, barcode: str, *, lock: bool = False) -> LibraryItem | None:
    query = select(LibraryItem).where(LibraryItem.barcode == barcode)
    if lock:
        query = query.with_for_update()
    return uow.session.execute(query).scalar_one_or_none()


def _open_loan(uow: UnitOfWork, item_id: int) -> LibraryLoan | None:
    return uow.session.execute(select(LibraryLoan).where(
        LibraryLoan.item_id == item_id, LibraryLoan.returned_at.is_(None))).scalar_one_or_none()


def _waiting_holds(uow: UnitOfWork, item_id: int) -> list[LibraryHold]:
    return list(uow.session.execute(select(LibraryHold).where(
        LibraryHold.item_id == item_id, LibraryHold.status.in_(("waiting", "ready")))
        .order_by(LibraryHold.placed_at, LibraryHold.id)).scalars())


def _item_view(uow: UnitOfWork, item: LibraryItem) -> Item:
    loan = _open_loan(uow, item.id)
    return Item(barcode=item.barcode, title=item.title, location=item.location,
                on_loan_to=loan.reader_no if loan else None,
                due_on=loan.due_on if loan else None, holds=len(_waiting_holds(uow, item.id)))


def item(*, uow: UnitOfWork, barcode: str) -> Item | None:
    row = _item_by_barcode(uow, barcode)
    return _item_view(uow, row) if row is not None else None


def _open_loans(uow: UnitOfWork, reader_no: str) -> list[tuple[LibraryLoan, LibraryItem]]:
    return list(uow.session.execute(
        select(LibraryLoan, LibraryItem).join(LibraryItem, LibraryItem.id == LibraryLoan.item_id)
        .where(LibraryLoan.reader_no == reader_no, LibraryLoan.returned_at.is_(None))
        .order_by(LibraryLoan.due_on, LibraryLoan.id)))


def _unpaid_fees(uow: UnitOfWork, reader_no: str) -> list[LibraryFee]:
    return list(uow.session.execute(select(LibraryFee).where(
        LibraryFee.reader_no == reader_no, LibraryFee.paid_fen < LibraryFee.amount_fen)
        .order_by(LibraryFee.created_at, LibraryFee.id)).scalars())


def _fee_view(fee: LibraryFee) -> Fee:
    return Fee(fee_id=fee.fee_id, amount_fen=fee.amount_fen - fee.paid_fen, reason=fee.reason,
               item_barcode=fee.item_barcode)


def _standing(uow: UnitOfWork, reader_no: str, today: date) -> rules.Standing:
    loans = _open_loans(uow, reader_no)
    return rules.Standing(
        loans_out=len(loans),
        overdue=sum(1 for loan, _ in loans if rules.is_overdue(loan.due_on, today)),
        fees_owed_fen=sum(fee.amount_fen - fee.paid_fen for fee in _unpaid_fees(uow, reader_no)))


def account(*, uow: UnitOfWork, reader_no: str, now: datetime,
            library_code: str | None = None) -> PatronAccount:
    """What the library system holds on a reader: open loans, holds, unpaid fees, its blocks."""
    loan_rules = rules.rules_for(library_code)
    today = local_date(now)
    loans = tuple(Loan(item_barcode=item.barcode, title=item.title,
                       loaned_on=local_date(loan.loaned_at), due_on=loan.due_on,
                       renewals=loan.renewals, overdue=rules.is_overdue(loan.due_on, today))
                  for loan, item in _open_loans(uow, reader_no))
    holds = tuple(Hold(item_barcode=item.barcode, title=item.title,
                       placed_on=local_date(hold.placed_at), ready=hold.status == "ready")
                  for hold, item in uow.session.execute(
                      select(LibraryHold, LibraryItem)
                      .join(LibraryItem, LibraryItem.id == LibraryHold.item_id)
                      .where(LibraryHold.reader_no == reader_no,
                             LibraryHold.status.in_(("waiting", "ready")))
                      .order_by(LibraryHold.placed_at, LibraryHold.id)))
    fees = tuple(_fee_view(fee) for fee in _unpaid_fees(uow, reader_no))
    standing = rules.Standing(loans_out=len(loans), overdue=sum(1 for loan in loans if loan.overdue),
                              fees_owed_fen=sum(fee.amount_fen for fee in fees))
    return PatronAccount(reader_no=reader_no, loans=loans, holds=holds, fees=fees,
                         blocks=rules.library_blocks(standing, loan_rules),
                         loan_limit=loan_rules.loan_limit, hold_limit=loan_rules.hold_limit,
                         overdue_limit=0 if loan_rules.overdue_suspends else loan_rules.loan_limit)


# ---------------------------------------------------------------------------------------
# The reference library system: changes


def _refused(code: str, **extra) -> LibraryOutcome:
    zh, en = rules.refusal_words(code)
    return LibraryOutcome(ok=False, code=code, zh=zh, en=en, **extra)


def _ok(**extra) -> LibraryOutcome:
    return LibraryOutcome(ok=True, code="ok", zh="成功", en="done", **extra)


def checkout(*, uow: UnitOfWork, actor: Actor, reader_no: str, barcode: str, now: datetime,
             presented: str = "reader_no", card_no: str | None = None,
             library_code: str | None = None) -> LibraryOutcome:
    """Lend an item to a reader, if the item is free (or held for this reader) and the
    library's rules let the reader borrow (loan limit, overdue, fees). The platform's blocks
    (card, person, opt-in) are the authority's: callers resolve the patron first."""
    loan_rules = rules.rules_for(library_code)
    today = local_date(now)
    row = _item_by_barcode(uow, barcode, lock=True)
    if row is None:
        return _refused("item_not_found")
    if row.status == "withdrawn":
        return _refused("item_withdrawn")
    loan = _open_loan(uow, row.id)
    if loan is not None:
        if loan.reader_no == reader_no:  # a retry, or the same reader again: the loan stands
            return _ok(item=_item_view(uow, row), due_on=loan.due_on, details={"already": True})
        return _refused("on_loan_to_other", item=_item_view(uow, row))
    holds = _waiting_holds(uow, row.id)
    mine = next((hold for hold in holds if hold.reader_no == reader_no), None)
    ready = [hold for hold in holds if hold.status == "ready"]
    expired = None
    if ready and ready[0].reader_no != reader_no:
        if now < ready[0].ready_at + timedelta(days=loan_rules.hold_shelf_days):
            return _refused("on_hold_for_other", item=_item_view(uow, row))
        expired = ready[0]  # not collected in time: the hold lapses, the item is free
        expired.status, expired.closed_at = "expired", now
    blocks = rules.library_blocks(_standing(uow, reader_no, today), loan_rules)
    if blocks:
        return _refused(str(blocks[0]), item=_item_view(uow, row))
    due = rules.due_on(today, loan_rules)
    loan = LibraryLoan(item_id=row.id, reader_no=reader_no, open_key=row.barcode, loaned_at=now,
                       due_on=due, renewals=0, last_renewed_at=None, card_no=card_no,
                       presented=presented, channel=str(actor.channel), returned_at=None,
                       return_location=None)
    uow.session.add(loan)
    if mine is not None:
        mine.status, mine.closed_at = "fulfilled", now
    row.status = "on_loan"
    try:
        uow.session.flush()
    except IntegrityError:  # another desk lent it in the meantime
        uow.session.rollback()
        return _refused("on_loan_to_other")
    uow.audit(actor=actor, action="library.checkout", entity_type="library_item",
              entity_id=row.barcode,
              after={"reader_no": reader_no, "due_on": due.isoformat(), "presented": presented,
                     "card_no": card_no, "hold_fulfilled": mine is not None,
                     "hold_expired_for": expired.reader_no if expired else None})
    view = _item_view(uow, row)
    uow.commit()
    return _ok(item=view, due_on=due)


def checkin(*, uow: UnitOfWork, actor: Actor, barcode: str, now: datetime, location: str = "",
            library_code: str | None = None) -> LibraryOutcome:
    """Take an item back: the loan closes, a late return owes the configured fee (0 by
    default), and an item someone holds goes to the hold shelf (`alert`)."""
    loan_rules = rules.rules_for(library_code)
    row = _item_by_barcode(uow, barcode, lock=True)
    if row is None:
        return _refused("item_not_found")
    loan = _open_loan(uow, row.id)
    if loan is None:
        last = uow.session.execute(select(LibraryLoan).where(LibraryLoan.item_id == row.id)
                                   .order_by(LibraryLoan.id.desc()).limit(1)).scalar()
        if last is not None and last.returned_at == now:  # a retry of the same checkin
            return _ok(item=_item_view(uow, row), details={"already": True,
                                                           "reader_no": last.reader_no})
        return _refused("not_on_loan", item=_item_view(uow, row))
    loan.returned_at = now
    loan.open_key = None
    loan.return_location = (location or row.location)[:64]
    fee_fen = rules.overdue_fee_fen(loan.due_on, local_date(now), loan_rules)
    fee = None
    if fee_fen > 0:
        fee = LibraryFee(fee_id=f"OD{loan.id:08d}", reader_no=loan.reader_no, amount_fen=fee_fen,
                         paid_fen=0, reason="overdue", item_barcode=row.barcode, created_at=now,
                         created_by=actor.user_id, paid_at=None)
        uow.session.add(fee)
    holds = _waiting_holds(uow, row.id)
    alert = False
    if holds:
        holds[0].status, holds[0].ready_at = "ready", now
        row.status = "on_hold_shelf"
        alert = True
    else:
        row.status = "available"
    uow.session.flush()
    uow.audit(actor=actor, action="library.checkin", entity_type="library_item",
              entity_id=row.barcode,
              after={"reader_no": loan.reader_no, "late": rules.is_overdue(loan.due_on, local_date(now)),
                     "fee_fen": fee_fen, "hold_ready_for": holds[0].reader_no if holds else None})
    view = _item_view(uow, row)
    uow.commit()
    return _ok(item=view, fee=_fee_view(fee) if fee else None, alert=alert,
               details={"reader_no": loan.reader_no})


def renew(*, uow: UnitOfWork, actor: Actor, reader_no: str, barcode: str, now: datetime,
          library_code: str | None = None) -> LibraryOutcome:
    loan_rules = rules.rules_for(library_code)
    today = local_date(now)
    row = _item_by_barcode(uow, barcode, lock=True)
    if row is None:
        return _refused("item_not_found")
    loan = _open_loan(uow, row.id)
    if loan is None:
        return _refused("not_on_loan", item=_item_view(uow, row))
    if loan.reader_no != reader_no:
        return _refused("not_your_loan")
    if loan.last_renewed_at == now:  # a retry of the same renewal
        return _ok(item=_item_view(uow, row), due_on=loan.due_on, details={"already": True})
    standing = _standing(uow, reader_no, today)
    refusal = rules.renewal_refusal(
        renewals=loan.renewals, overdue=standing.overdue > 0,
        holds_waiting=len(_waiting_holds(uow, row.id)),
        suspended=standing.fees_owed_fen > loan_rules.fee_block_fen, rules=loan_rules)
    if refusal is not None:
        return _refused(refusal, item=_item_view(uow, row), due_on=loan.due_on)
    before = {"due_on": loan.due_on.isoformat(), "renewals": loan.renewals}
    loan.due_on = rules.renewed_due_on(today, loan.due_on, loan_rules)
    loan.renewals += 1
    loan.last_renewed_at = now
    uow.session.flush()
    uow.audit(actor=actor, action="library.renewed", entity_type="library_item",
              entity_id=row.barcode, before=before,
              after={"reader_no": reader_no, "due_on": loan.due_on.isoformat(),
                     "renewals": loan.renewals})
    view = _item_view(uow, row)
    uow.commit()
    return _ok(item=view, due_on=loan.due_on)


def place_hold(*, uow: UnitOfWork, actor: Actor, reader_no: str, barcode: str, now: datetime,
               library_code: str | None = None) -> LibraryOutcome:
    """A reader asks for an item on loan; it waits for them when it comes back."""
    loan_rules = rules.rules_for(library_code)
    row = _item_by_barcode(uow, barcode, lock=True)
    if row is None:
        return _refused("item_not_found")
    if _open_loan(uow, row.id) is None and row.status == "available":
        return _refused("available")
    if any(hold.reader_no == reader_no for hold in _waiting_holds(uow, row.id)):
        return _refused("already_held")
    held = uow.session.execute(select(func.count()).select_from(LibraryHold).where(
        LibraryHold.reader_no == reader_no,
        LibraryHold.status.in_(("waiting", "ready")))).scalar_one()
    if held >= loan_rules.hold_limit:
        return _refused("hold_limit")
    uow.session.add(LibraryHold(item_id=row.id, reader_no=reader_no, status="waiting",
                                placed_at=now, ready_at=None, closed_at=None))
    uow.session.flush()
    uow.audit(actor=actor, action="library.hold_placed", entity_type="library_item",
              entity_id=row.barcode, after={"reader_no": reader_no})
    view = _item_view(uow, row)
    uow.commit()
    return _ok(item=view)


def charge_fee(*, uow: UnitOfWork, actor: Actor, reader_no: str, amount_fen: int, reason: str,
               item_barcode: str | None = None) -> Fee:
    """A librarian charges a fee (a lost or damaged item); fees are possible, not the default."""
    if reason not in ("lost", "damaged", "overdue"):
        raise InvalidInput(reason_zh="费用类型须为 lost、damaged 或 overdue",
                           reason_en="the reason is lost, damaged or overdue")
    if amount_fen <= 0:
        raise InvalidInput(reason_zh="金额须大于0", reason_en="the amount must be positive")
    now = uow.now()
    fee = LibraryFee(fee_id=f"F{secrets.token_hex(6).upper()}", reader_no=reader_no,
                     amount_fen=amount_fen, paid_fen=0, reason=reason, item_barcode=item_barcode,
                     created_at=now, created_by=actor.user_id, paid_at=None)
    uow.session.add(fee)
    uow.session.flush()
    uow.audit(actor=actor, action="library.fee_charged", entity_type="library_fee",
              entity_id=fee.fee_id, new_entity=True,
              after={"reader_no": reader_no, "amount_fen": amount_fen, "reason": reason,
                     "item_barcode": item_barcode})
    uow.commit()
    return _fee_view(fee)


def pay_fee(*, uow: UnitOfWork, actor: Actor, reader_no: str, amount_fen: int, now: datetime,
            fee_id: str | None = None, transaction_id: str = "") -> LibraryOutcome:
    """Record a payment toward the reader's fees (the one named, or oldest first). The money
    itself moved elsewhere (the kiosk's cash or card terminal); the same transaction id is
    recorded once."""
    transaction_id = (transaction_id or f"{reader_no}:{now.isoformat()}:{amount_fen}")[:64]
    done = uow.session.execute(select(LibraryFeePayment).where(
        LibraryFeePayment.transaction_id == transaction_id)).scalar_one_or_none()
    if done is not None:
        if done.reader_no != reader_no or done.amount_fen != amount_fen:
            return _refused("bad_amount")
        return _ok(details={"already": True, "transaction_id": transaction_id})
    fees = _unpaid_fees(uow, reader_no)
    if fee_id:
        fees = [fee for fee in fees if fee.fee_id == fee_id]
    if not fees:
        return _refused("no_fees")
    owed = sum(fee.amount_fen - fee.paid_fen for fee in fees)
    if amount_fen <= 0 or amount_fen > owed:
        return _refused("bad_amount", details={"owed_fen": owed})
    left, paid_ids = amount_fen, []
    for fee in fees:
        if left == 0:
            break
        part = min(left, fee.amount_fen - fee.paid_fen)
        fee.paid_fen += part
        left -= part
        paid_ids.append(fee.fee_id)
        if fee.paid_fen == fee.amount_fen:
            fee.paid_at = now
    uow.session.add(LibraryFeePayment(transaction_id=transaction_id, reader_no=reader_no,
                                      amount_fen=amount_fen, paid_at=now, paid_by=actor.user_id,
                                      fee_ids=paid_ids))
    try:
        uow.session.flush()
    except IntegrityError:  # the same payment recorded concurrently
        uow.session.rollback()
        return _ok(details={"already": True, "transaction_id": transaction_id})
    uow.audit(actor=actor, action="library.fee_paid", entity_type="library_fee_payment",
              entity_id=transaction_id, new_entity=True,
              after={"reader_no": reader_no, "amount_fen": amount_fen, "fee_ids": paid_ids})
    uow.commit()
    return _ok(details={"transaction_id": transaction_id, "fee_ids": paid_ids,
                        "owed_fen": owed - amount_fen})


# ---------------------------------------------------------------------------------------
# Librarian: items and loans


def _librarian_scope(actor: Actor) -> str | None:
    """The library a librarian's login manages; None for the card centre (all)."""
    if actor.role in STAFF:
        return None
    if actor.role is Role.LIBRARIAN and actor.branch_code:
        return actor.branch_code
    raise Forbidden()


def _item_row(uow: UnitOfWork, item: LibraryItem) -> ItemRow:
    view = _item_view(uow, item)
    return ItemRow(barcode=item.barcode, library_code=item.library_code, title=item.title,
                   author=item.author, call_no=item.call_no, location=item.location,
                   status=item.status, price_fen=item.price_fen, on_loan_to=view.on_loan_to,
                   due_on=view.due_on, holds=view.holds)


def add_item(*, uow: UnitOfWork, actor: Actor, barcode: str, title: str, author: str = "",
             call_no: str = "", location: str = "", price_fen: int = 0,
             library_code: str | None = None) -> ItemRow:
    scope = _librarian_scope(actor)
    code = scope or library_code or rules.default_library()
    barcode = barcode.strip()
    if not barcode or not title.strip():
        raise InvalidInput(reason_zh="条码和题名不能为空", reason_en="barcode and title are required")
    if _item_by_barcode(uow, barcode) is not None:
        raise ItemExists(barcode=barcode)
    row = LibraryItem(barcode=barcode, library_code=code, title=title.strip(),
                      author=author.strip(), call_no=call_no.strip(),
                      location=location.strip() or code, status="available",
                      price_fen=price_fen, created_at=uow.now(), created_by=actor.user_id)
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        uow.session.rollback()
        raise ItemExists(barcode=barcode) from None
    uow.audit(actor=actor, action="library.item_added", entity_type="library_item",
              entity_id=barcode, new_entity=True,
              after={"library_code": code, "title": row.title, "price_fen": price_fen})
    view = _item_row(uow, row)
    uow.commit()
    return view


def list_items(*, uow: UnitOfWork, actor: Actor, query: str = "", limit: int = 100) -> list[ItemRow]:
    scope = _librarian_scope(actor)
    select_items = select(LibraryItem).order_by(LibraryItem.barcode).limit(limit)
    if scope is not None:
        select_items = select_items.where(LibraryItem.library_code == scope)
    if query:
        like = f"%{query}%"
        select_items = select_items.where(LibraryItem.title.like(like) | LibraryItem.barcode.like(like))
    return [_item_row(uow, row) for row in uow.session.execute(select_items).scalars()]


def get_item(*, uow: UnitOfWork, actor: Actor, barcode: str) -> ItemRow:
    scope = _librarian_scope(actor)
    row = _item_by_barcode(uow, barcode)
    if row is None or (scope is not None and row.library_code != scope):
        raise ItemNotFound(barcode=barcode)
    return _item_row(uow, row)


def list_loans(*, uow: UnitOfWork, actor: Actor, overdue_only: bool = False,
               reader_no: str | None = None, limit: int = 200) -> list[LoanRow]:
    scope = _librarian_scope(actor)
    today = local_date(uow.now())
    query = (select(LibraryLoan, LibraryItem).join(LibraryItem, LibraryItem.id == LibraryLoan.item_id)
             .where(LibraryLoan.returned_at.is_(None)).order_by(LibraryLoan.due_on, LibraryLoan.id)
             .limit(limit))
    if scope is not None:
        query = query.where(LibraryItem.library_code == scope)
    if overdue_only:
        query = query.where(LibraryLoan.due_on < today)
    if reader_no:
        query = query.where(LibraryLoan.reader_no == reader_no)
    return [LoanRow(item_barcode=item.barcode, title=item.title, reader_no=loan.reader_no,
                    loaned_at=loan.loaned_at, due_on=loan.due_on, renewals=loan.renewals,
                    overdue=rules.is_overdue(loan.due_on, today), presented=loan.presented,
                    returned_at=loan.returned_at)
            for loan, item in uow.session.execute(query)]


def check_item_scope(uow: UnitOfWork, actor: Actor, barcode: str) -> None:
    """A librarian acts on their own library's items only (anything else reads as not found)."""
    get_item(uow=uow, actor=actor, barcode=barcode)


# ---------------------------------------------------------------------------------------
# Holder: my loans


@dataclass(frozen=True)
class MyLibrary:
    reader: ReaderView | None
    account: PatronAccount | None
    blocks: tuple[PatronBlock, ...]


def my_library(*, uow: UnitOfWork, actor: Actor, person_id: int | None = None) -> MyLibrary:
    """The holder's reader record, loans, holds and fees, and the library's blocks."""
    target = _holder_person(uow, actor, person_id)
    reader = reader_of_person(uow, target)
    if reader is None:
        return MyLibrary(reader=None, account=None, blocks=(PatronBlock.NOT_A_READER,))
    acct = account(uow=uow, reader_no=reader.reader_no, now=uow.now())
    blocks = acct.blocks if reader.withdrawn_at is None else (PatronBlock.NOT_A_READER, *acct.blocks)
    return MyLibrary(reader=_reader_view(reader), account=acct, blocks=blocks)


def masked_name(name: str) -> str:
    return mask_name(name)


# ---------------------------------------------------------------------------------------
# Reference data


DEMO_ITEMS = (
    ("CZLIB-0001", "平凡的世界", "路遥", "I247.57/L84", "总馆 二楼 文学", 8800),
    ("CZLIB-0002", "围城", "钱锺书", "I246.5/Q54", "总馆 二楼 文学", 3900),
    ("CZLIB-0003", "常州史话", "常州市地方志办公室", "K295.33/C45", "总馆 三楼 地方文献", 4500),
    ("CZLIB-0004", "三体", "刘慈欣", "I247.55/L66", "总馆 二楼 文学", 2300),
    ("CZLIB-0005", "红楼梦", "曹雪芹", "I242.4/C28", "总馆 二楼 文学", 5990),
    ("CZLIB-0006", "中华恐龙园游览指南", "中华恐龙园", "K928.9/Z65", "总馆 一楼 旅游", 2000),
    ("CZLIB-0007", "Python 编程：从入门到实践", "Eric Matthes", "TP311.561/M42", "总馆 四楼 计算机", 8900),
)


def load_reference_data(*, uow: UnitOfWork, actor: Actor) -> int:
    """A few items of the demo library (CZLIB), added once."""
    code = rules.default_library()
    added = 0
    for barcode, title, author, call_no, location, price in DEMO_ITEMS:
        if _item_by_barcode(uow, barcode) is not None:
            continue
        uow.session.add(LibraryItem(barcode=barcode, library_code=code, title=title,
                                    author=author, call_no=call_no, location=location,
                                    status="available", price_fen=price, created_at=uow.now(),
                                    created_by=actor.user_id))
        added += 1
    if added:
        uow.session.flush()
        uow.audit(actor=actor, action="library.reference_items_loaded", entity_type="library",
                  entity_id=code, after={"items": added})
        uow.commit()
    return added


# ---------------------------------------------------------------------------------------
# The librarian's desk: a patron presented (card, number or e-card code), then the library
# system. Refusals are DomainErrors here (the API answers 404 / 409 with the words).


class PatronNotFound(NotFound):
    code = "library_patron_not_found"
    zh = "未找到该读者（卡号、社会保障号码、读者证号或电子社保卡二维码无效）"
    en = "No reader matches (card number, social security number, reader number or e-card code)"

    def __init__(self, **details) -> None:
        super().__init__(what="patron", **details)


@dataclass(frozen=True)
class PatronView:
    """A patron as the desk sees them: who (masked), through what, the platform's blocks and
    the library system's account."""

    reader_no: str
    display_name: str
    presented: str
    card_no: str | None
    may_borrow: bool
    blocks: tuple[str, ...]
    block_zh: str
    block_en: str
    account: PatronAccount | None


def _resolve(uow: UnitOfWork, identifier: str):
    from yikatong.library.authority import resolve

    patron = resolve(uow, identifier, now=uow.now())
    if patron is None:
        raise PatronNotFound()
    return patron


def patron(*, uow: UnitOfWork, actor: Actor, identifier: str) -> PatronView:
    scope = _librarian_scope(actor)
    found = _resolve(uow, identifier)
    acct = (account(uow=uow, reader_no=found.reader_no, now=uow.now(), library_code=scope)
            if found.reader_no else None)
    blocks = (*found.blocks, *(acct.blocks if acct else ()))
    zh, en = rules.block_words(blocks)
    return PatronView(reader_no=found.reader_no, display_name=found.display_name,
                      presented=found.presented, card_no=found.card_no,
                      may_borrow=not blocks, blocks=tuple(str(b) for b in blocks),
                      block_zh=zh, block_en=en, account=acct)


def _outcome_or_raise(outcome: LibraryOutcome) -> LibraryOutcome:
    if not outcome.ok:
        raise LibraryRefused(reason_zh=outcome.zh, reason_en=outcome.en, reason=outcome.code)
    return outcome


def desk_checkout(*, uow: UnitOfWork, actor: Actor, identifier: str,
                  barcode: str) -> LibraryOutcome:
    """Lend at the desk: the patron resolved by the platform (its blocks refuse), then the
    library system's rules."""
    scope = _librarian_scope(actor)
    check_item_scope(uow, actor, barcode)
    found = _resolve(uow, identifier)
    if found.blocks:
        zh, en = rules.block_words(found.blocks)
        raise LibraryRefused(reason_zh=zh, reason_en=en, reason=str(found.blocks[0]))
    return _outcome_or_raise(checkout(
        uow=uow, actor=actor, reader_no=found.reader_no, barcode=barcode, now=uow.now(),
        presented=found.presented, card_no=found.card_no, library_code=scope))


def desk_checkin(*, uow: UnitOfWork, actor: Actor, barcode: str,
                 location: str = "") -> LibraryOutcome:
    scope = _librarian_scope(actor)
    check_item_scope(uow, actor, barcode)
    return _outcome_or_raise(checkin(uow=uow, actor=actor, barcode=barcode, now=uow.now(),
                                     location=location, library_code=scope))


def desk_renew(*, uow: UnitOfWork, actor: Actor, identifier: str, barcode: str) -> LibraryOutcome:
    scope = _librarian_scope(actor)
    check_item_scope(uow, actor, barcode)
    found = _resolve(uow, identifier)
    if not found.reader_no:
        raise LibraryRefused(reason_zh=rules.BLOCK_WORDS[PatronBlock.NOT_A_READER][0],
                             reason_en=rules.BLOCK_WORDS[PatronBlock.NOT_A_READER][1],
                             reason="not_a_reader")
    return _outcome_or_raise(renew(uow=uow, actor=actor, reader_no=found.reader_no,
                                   barcode=barcode, now=uow.now(), library_code=scope))


def desk_hold(*, uow: UnitOfWork, actor: Actor, identifier: str, barcode: str) -> LibraryOutcome:
    scope = _librarian_scope(actor)
    check_item_scope(uow, actor, barcode)
    found = _resolve(uow, identifier)
    if found.blocks:
        zh, en = rules.block_words(found.blocks)
        raise LibraryRefused(reason_zh=zh, reason_en=en, reason=str(found.blocks[0]))
    return _outcome_or_raise(place_hold(uow=uow, actor=actor, reader_no=found.reader_no,
                                        barcode=barcode, now=uow.now(), library_code=scope))


def desk_charge_fee(*, uow: UnitOfWork, actor: Actor, identifier: str, amount_fen: int,
                    reason: str, item_barcode: str | None = None) -> Fee:
    _librarian_scope(actor)
    found = _resolve(uow, identifier)
    if not found.reader_no:
        raise ReaderNotFound()
    if item_barcode:
        check_item_scope(uow, actor, item_barcode)
    return charge_fee(uow=uow, actor=actor, reader_no=found.reader_no, amount_fen=amount_fen,
                      reason=reason, item_barcode=item_barcode)


def desk_pay_fee(*, uow: UnitOfWork, actor: Actor, identifier: str, amount_fen: int,
                 transaction_id: str, fee_id: str | None = None) -> LibraryOutcome:
    _librarian_scope(actor)
    found = _resolve(uow, identifier)
    if not found.reader_no:
        raise ReaderNotFound()
    return _outcome_or_raise(pay_fee(uow=uow, actor=actor, reader_no=found.reader_no,
                                     amount_fen=amount_fen, now=uow.now(), fee_id=fee_id,
                                     transaction_id=transaction_id))


def holder_renew(*, uow: UnitOfWork, actor: Actor, barcode: str,
                 person_id: int | None = None) -> LibraryOutcome:
    """The holder renews their own loan online (我的借阅 → 续借)."""
    target = _holder_person(uow, actor, person_id)
    reader = reader_of_person(uow, target)
    if reader is None:
        raise ReaderNotFound(person_id=target)
    return _outcome_or_raise(renew(uow=uow, actor=actor, reader_no=reader.reader_no,
                                   barcode=barcode, now=uow.now()))
