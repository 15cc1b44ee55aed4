"""Use cases of payments out: declare or post a bill, pay it from the card account with the
holder's authorisation (a one-off confirmation or a standing mandate), refund it, and the
exam office's cancellation that refunds every fee.

Money moves at the card's bank only (BankGateway.pay_from_account / refund_to_account, seam 2);
the bank is asked first and answers finally for a request id, then the platform records the
payment, its receipt and its audit record in one transaction. Asking again with the same
idempotency key (a double click, a retry after a crash between the bank's answer and the
commit) gets the bank's first answer and records the payment once. A refusal (not activated,
not enough money, lost, closed) records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from yikatong.bills import errors, rules
from yikatong.bills.figures import figures
from yikatong.bills.models import Bill, BillMandate, BillPayment, ExamSession
from yikatong.bills.rules import BillKind, BillStatus, PaymentStatus
from yikatong.cards.rules import mask_pan
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    checked_idempotency_key,
)
from yikatong.core.masking import mask_name, mask_ssn
from yikatong.core.money import Fen
from yikatong.db.exclusive import serialised
from yikatong.db.uow import UnitOfWork

SYSTEM = Actor.system("bills")
STAFF = frozenset({Role.ADMIN, Role.SYSTEM})
# Offices that read the payments made to them (their branch_code is the payee code) and the
# medical office, whose residents' contributions are collected as CZ-MI.
OFFICE_PAYEE = {Role.MEDICAL_OFFICE: "CZ-MI", Role.HR_OFFICER: "CZ-EXAM"}
EXAM_OFFICES = frozenset({Role.HR_OFFICER, Role.ADMIN, Role.SYSTEM})


# ---------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class BillView:
    id: int
    kind: str
    payee_code: str
    payee_zh: str
    payee_en: str
    person_id: int
    external_ref: str
    account_ref: str | None
    period: str
    title_zh: str
    title_en: str
    amount_fen: Fen
    due_date: date
    status: str
    created_at: datetime
    receipt_no: str | None = None


@dataclass(frozen=True)
class ReceiptView:
    """A payment's receipt (缴费凭证): number, payer masked, amount, what for, when; and its
    refund when there is one."""

    receipt_no: str
    bill_id: int
    kind: str
    payee_code: str
    payee_zh: str
    payee_en: str
    title_zh: str
    title_en: str
    period: str
    external_ref: str
    amount_fen: Fen
    payer_masked: str
    account_masked: str
    authorisation: str
    bank_reference: str | None
    paid_at: datetime
    status: str
    refunded_at: datetime | None
    refund_reason: str | None


@dataclass(frozen=True)
class MandateView:
    id: int
    person_id: int
    payee_code: str
    payee_zh: str
    payee_en: str
    limit_fen: Fen | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ExamView:
    code: str
    name_zh: str
    name_en: str
    exam_date: date
    subjects: tuple[str, ...]
    fee_per_subject_fen: Fen
    status: str
    cancel_reason: str | None = None


@dataclass
class MandateRun:
    """What a run of the mandates due did: payments made, refusals by reason code."""

    day: date
    paid: list[str] = field(default_factory=list)        # receipt numbers
    refused: dict[int, str] = field(default_factory=dict)  # bill id → reason code


# ---------------------------------------------------------------------------------------
# Payees


def payees() -> dict[str, tuple[str, str]]:
    """Every payee code this domain knows, with its name (zh, en)."""
    f = figures()
    names = {f.flexible.payee_code: ("常州市社会保险经办机构", "Changzhou social insurance agency"),
             f.resident_medical.payee_code: ("常州市医疗保障经办机构", "Changzhou medical insurance office"),
             f.resident_pension.payee_code: ("常州市社会保险经办机构", "Changzhou social insurance agency"),
             f.exam.payee_code: ("常州市人事考试中心", "Changzhou personnel exam centre")}
    names.update({b.code: (b.name_zh, b.name_en) for b in f.billers})
    return names


def _payee_words(code: str) -> tuple[str, str]:
    return payees().get(code, (code, code))


# ---------------------------------------------------------------------------------------
# Scope


def _check_person(uow: UnitOfWork, actor: Actor, person_id: int) -> None:
    """A holder acts for themself or a child in their care; the card centre for anyone.
    Anyone else reads as not found."""
    from yikatong.people.guardians import may_act_for

    if actor.role in STAFF:
        return
    if actor.role is Role.HOLDER and may_act_for(uow, actor, person_id):
        return
    raise errors.BillNotFound(person_id=person_id)


def _payee_scope(actor: Actor) -> str | None:
    """The payee code an organisation's login reads (a biller its own code, an office its
    own), None for the card centre (all); Forbidden for anyone else."""
    if actor.role in STAFF:
        return None
    if actor.role in (Role.BILLER, Role.PAYING_OFFICE) and actor.branch_code:
        return actor.branch_code
    if actor.role in OFFICE_PAYEE:
        return OFFICE_PAYEE[actor.role]
    raise Forbidden()


def _bill_for(uow: UnitOfWork, actor: Actor, bill_id: int, *, lock: bool = False) -> Bill:
    query = select(Bill).where(Bill.id == bill_id)
    if lock:
        query = query.with_for_update()
    bill = uow.session.execute(query).scalar_one_or_none()
    if bill is None:
        raise errors.BillNotFound(bill_id=bill_id)
    if actor.role is Role.HOLDER:
        _check_person(uow, actor, bill.person_id)
    elif (scope := _payee_scope(actor)) is not None and scope != bill.payee_code:
        raise errors.BillNotFound(bill_id=bill_id)
    return bill


# ---------------------------------------------------------------------------------------
# Bills


def _issue(uow: UnitOfWork, actor: Actor, *, kind: BillKind, payee_code: str, person_id: int,
           external_ref: str, account_ref: str | None, period: str, title: tuple[str, str],
           amount_fen: Fen, due_date: date, details: dict) -> Bill:
    """Record a bill (no commit). The same payee's reference twice: the first bill if the
    content is the same (a retry), else AlreadyDue."""
    existing = uow.session.execute(select(Bill).where(
        Bill.payee_code == payee_code, Bill.external_ref == external_ref)).scalar_one_or_none()
    if existing is not None:
        if (existing.person_id, existing.amount_fen, existing.kind) == (person_id, amount_fen, str(kind)):
            return existing
        raise errors.AlreadyDue(external_ref=external_ref)
    if amount_fen <= 0:
        raise InvalidInput(reason_zh="金额须大于零", reason_en="the amount must be above zero")
    bill = Bill(kind=str(kind), payee_code=payee_code, person_id=person_id,
                external_ref=external_ref, account_ref=account_ref, period=period,
                title_zh=title[0], title_en=title[1], amount_fen=amount_fen, due_date=due_date,
                status=BillStatus.DUE, details=details, created_at=uow.now(),
                created_by=actor.user_id)
    uow.session.add(bill)
    uow.session.flush()
    uow.audit(actor=actor, action="bill.issued", entity_type="bill", entity_id=bill.id,
              after={"kind": bill.kind, "payee_code": payee_code, "person_id": person_id,
                     "period": period, "amount_fen": amount_fen, "due_date": due_date.isoformat(),
                     "external_ref": external_ref})
    return bill


def declare_flexible(*, uow: UnitOfWork, actor: Actor, person_id: int, base_fen: Fen,
                     months: int) -> BillView:
    """A flexible worker's contribution (灵活就业): the monthly base they choose (60–300 % of
    the average wage) × 20 % × months, for this month or this year. Commits."""
    _check_person(uow, actor, person_id)
    flexible = figures().flexible
    amount = rules.flexible_amount(flexible, base_fen=base_fen, months=months)
    today = local_date(uow.now())
    period = rules.flexible_period(today, months)
    bill = _issue(uow, actor, kind=BillKind.FLEXIBLE, payee_code=flexible.payee_code,
                  person_id=person_id, external_ref=f"FLEX-{person_id}-{period}", account_ref=None,
                  period=period, title=(f"灵活就业人员社会保险费 {period}",
                                        f"Flexible-employment contributions {period}"),
                  amount_fen=amount, due_date=_month_end(today), details={
                      "base_fen": base_fen, "months": months, "rate_bp": flexible.rate_bp})
    uow.commit()
    return _bill_view(uow, bill)


def declare_resident(*, uow: UnitOfWork, actor: Actor, person_id: int, kind: str, year: int,
                     grade_fen: Fen | None = None) -> BillView:
    """A resident's yearly contribution: medical (the fixed yearly figure; paying it keeps the
    medical enrolment current) or pension (a grade the holder chooses). Commits."""
    _check_person(uow, actor, person_id)
    today = local_date(uow.now())
    if year not in (today.year, today.year + 1):
        raise InvalidInput(reason_zh="只能缴纳本年度或下一年度", reason_en="only this year or next year")
    f = figures()
    if kind == BillKind.RESIDENT_MEDICAL:
        amount, payee, words = f.resident_medical.yearly_fen, f.resident_medical.payee_code, (
            f"{year} 年度城乡居民基本医疗保险费", f"Residents' medical insurance {year}")
        if grade_fen not in (None, amount):
            raise errors.GradeNotAllowed()
    elif kind == BillKind.RESIDENT_PENSION:
        amount = rules.pension_amount(f.resident_pension, grade_fen=grade_fen or 0)
        payee, words = f.resident_pension.payee_code, (
            f"{year} 年度城乡居民基本养老保险费", f"Residents' pension insurance {year}")
    else:
        raise InvalidInput(reason_zh="未知的缴费种类", reason_en=f"unknown contribution kind {kind}")
    bill = _issue(uow, actor, kind=BillKind(kind), payee_code=payee, person_id=person_id,
                  external_ref=f"{kind.upper()}-{person_id}-{year}", account_ref=None,
                  period=str(year), title=words, amount_fen=amount,
                  due_date=date(year, 12, 31) if year == today.year else date(year - 1, 12, 31),
                  details={"year": year})
    uow.commit()
    return _bill_view(uow, bill)


def post_utility_bill(*, uow: UnitOfWork, actor: Actor, id_number: str, account_ref: str,
                      bill_no: str, period: str, amount_fen: Fen, due_date: date,
                      payee_code: str | None = None) -> BillView:
    """A utility posts a bill for its customer (the holder of `id_number`): water, electricity
    or gas. A biller posts under its own code; the same bill number again is the same bill
    (idempotent). Commits."""
    from yikatong.people.service import find_person_basics_by_ssn

    code = actor.branch_code if actor.role is Role.BILLER else payee_code
    biller = figures().biller(code or "")
    if biller is None or (actor.role is not Role.BILLER and actor.role not in STAFF):
        raise errors.UnknownPayee(payee_code=code or "")
    person = find_person_basics_by_ssn(uow=uow, ssn=id_number)
    if person is None:
        raise InvalidInput(reason_zh="证件号码未登记", reason_en="no person with this ID number")
    kind_words = rules.UTILITY_WORDS[biller.kind]
    bill = _issue(uow, actor, kind=BillKind.UTILITY, payee_code=biller.code, person_id=person.id,
                  external_ref=bill_no, account_ref=account_ref, period=period,
                  title=(f"{kind_words[0]} {period}（户号 {account_ref}）",
                         f"{kind_words[1]} {period} (account {account_ref})"),
                  amount_fen=amount_fen, due_date=due_date, details={"utility": biller.kind})
    uow.commit()
    return _bill_view(uow, bill)


def bills_of(*, uow: UnitOfWork, actor: Actor, person_id: int,
             status: str | None = None) -> list[BillView]:
    """The person's bills, due first then newest."""
    _check_person(uow, actor, person_id)
    query = select(Bill).where(Bill.person_id == person_id).order_by(Bill.due_date.desc(), Bill.id.desc())
    if status:
        query = query.where(Bill.status == status)
    found = list(uow.session.execute(query).scalars())
    found.sort(key=lambda b: b.status != BillStatus.DUE)
    return [_bill_view(uow, b) for b in found]


def get_bill(*, uow: UnitOfWork, actor: Actor, bill_id: int) -> BillView:
    return _bill_view(uow, _bill_for(uow, actor, bill_id))


def payee_bills(*, uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 100,
                offset: int = 0) -> list[BillView]:
    """A biller's (or office's) bills, newest first."""
    scope = _payee_scope(actor)
    query = select(Bill).order_by(Bill.id.desc()).limit(limit).offset(offset)
    if scope is not None:
        query = query.where(Bill.payee_code == scope)
    if status:
        query = query.where(Bill.status == status)
    return [_bill_view(uow, b) for b in uow.session.execute(query).scalars()]


# ---------------------------------------------------------------------------------------
# Paying and refunding


def pay_bill(*, uow: UnitOfWork, actor: Actor, bill_id: int, idempotency_key: str,
             confirmed: bool = False, mandate_id: int | None = None) -> ReceiptView:
    """Pay a bill from the account of the person's current live card, on the holder's one-off
    confirmation (`confirmed`) or a standing mandate. The same key again returns the same
    receipt (nothing paid twice); a bank refusal raises its error and records nothing.
    Commits."""
    from yikatong.cards.protocols import BankGateway

    if not (actor.role is Role.HOLDER or (actor.role is Role.SYSTEM and mandate_id is not None)):
        raise Forbidden(zh="缴费须由持卡人本人（或其监护人）授权", en="Only the holder (or their guardian) authorises a payment")
    key = checked_idempotency_key(idempotency_key)
    # The bill's row lock first: a second request with the same key waits here for the first
    # to commit, then finds its payment (a concurrent double click gets the same receipt).
    bill = _bill_for(uow, actor, bill_id, lock=True)
    earlier = _payment_by_key(uow, key)
    if earlier is not None:
        if earlier.bill_id != bill_id:
            raise IdempotencyKeyReused()
        return _receipt(uow, earlier)
    if not rules.payable(bill.status):
        raise errors.BillNotPayable(status=bill.status)
    if mandate_id is not None:
        mandate = _mandate_in_force(uow, mandate_id, bill)
        authorisation = f"mandate:{mandate.id}"
    elif confirmed:
        authorisation = f"once:{key}"[:64]
    else:
        raise errors.ConfirmationRequired()
    medical_start = _medical_plan(uow, bill)  # refuses before any money moves
    card = _paying_card(uow, bill.person_id)
    request_id = rules.payment_request_id(key)
    answer = uow.get(BankGateway).pay_from_account(
        bank_code=card.bank_code, pan=card.pan, amount_fen=bill.amount_fen, request_id=request_id,
        payee_code=bill.payee_code, authorisation=authorisation)
    if not answer.posted:
        raise _refusal(answer)
    now = uow.now()
    payment = BillPayment(bill_id=bill.id, person_id=bill.person_id, idempotency_key=key,
                          payee_code=bill.payee_code, amount_fen=bill.amount_fen,
                          card_no=card.card_no, bank_code=card.bank_code, pan=card.pan,
                          authorisation=authorisation, bank_request_id=request_id,
                          bank_reference=answer.bank_reference, status=PaymentStatus.PAID,
                          paid_at=now, paid_by=actor.user_id)
    uow.session.add(payment)
    uow.session.flush()
    payment.receipt_no = rules.receipt_no(now, payment.id)
    bill.status = BillStatus.PAID
    uow.session.flush()
    uow.audit(actor=actor, action="bill.paid", entity_type="bill", entity_id=bill.id,
              before={"status": BillStatus.DUE},
              after={"status": BillStatus.PAID, "receipt_no": payment.receipt_no,
                     "amount_fen": bill.amount_fen, "authorisation": authorisation,
                     "card_no": card.card_no, "bank_reference": answer.bank_reference,
                     **_acting_for(actor, bill.person_id)})
    if medical_start is not None:
        _keep_medical_current(uow, bill, medical_start)
    uow.commit()
    return _receipt(uow, payment)


def refund(*, uow: UnitOfWork, actor: Actor, receipt_no: str, reason: str) -> ReceiptView:
    """Give a payment back through the same path (the bank's refund_to_account, into the
    account it came from). The payee (biller, office) or the card centre refunds; a payment
    refunded already is NotRefundable. Commits."""
    payment = _payment_for_payee(uow, actor, receipt_no)
    if not (reason or "").strip():
        raise InvalidInput(reason_zh="请说明退款原因", reason_en="a reason is required")
    _refund(uow, actor, payment, reason.strip())
    uow.commit()
    return _receipt(uow, payment)


def _refund(uow: UnitOfWork, actor: Actor, payment: BillPayment, reason: str) -> None:
    from yikatong.cards.protocols import BankGateway

    if not rules.refundable(payment.status):
        raise errors.NotRefundable(status=payment.status)
    answer = uow.get(BankGateway).refund_to_account(
        bank_code=payment.bank_code, pan=payment.pan, amount_fen=payment.amount_fen,
        request_id=rules.refund_request_id(payment.receipt_no or str(payment.id)),
        original_request_id=payment.bank_request_id)
    if not answer.posted:
        raise _refusal(answer)
    bill = uow.session.get(Bill, payment.bill_id)
    payment.status = PaymentStatus.REFUNDED
    payment.refunded_at, payment.refunded_by = uow.now(), actor.user_id
    payment.refund_reason = reason[:200]
    payment.refund_bank_reference = answer.bank_reference
    bill.status = BillStatus.REFUNDED
    uow.session.flush()
    _notify(uow, bill.person_id, "bill_refunded", subject=f"bill-refund:{payment.receipt_no}", params={
        "title_zh": bill.title_zh, "title_en": bill.title_en, "receipt_no": payment.receipt_no,
        "amount": f"{payment.amount_fen / 100:.2f}", "card_tail": payment.card_no[-4:]})
    uow.audit(actor=actor, action="bill.refunded", entity_type="bill", entity_id=bill.id,
              before={"status": BillStatus.PAID}, reason=reason,
              after={"status": BillStatus.REFUNDED, "receipt_no": payment.receipt_no,
                     "amount_fen": payment.amount_fen, "bank_reference": answer.bank_reference})


def receipts_of(*, uow: UnitOfWork, actor: Actor, person_id: int) -> list[ReceiptView]:
    """The person's receipts, newest first."""
    _check_person(uow, actor, person_id)
    query = select(BillPayment).where(BillPayment.person_id == person_id).order_by(BillPayment.id.desc())
    return [_receipt(uow, p) for p in uow.session.execute(query).scalars()]


def get_receipt(*, uow: UnitOfWork, actor: Actor, receipt_no: str) -> ReceiptView:
    """One receipt: the holder's own (or their child's), a payee's own, the centre any."""
    payment = _payment_by_receipt(uow, receipt_no)
    if actor.role is Role.HOLDER:
        _check_person(uow, actor, payment.person_id)
    elif (scope := _payee_scope(actor)) is not None and scope != payment.payee_code:
        raise errors.PaymentNotFound(receipt_no=receipt_no)
    return _receipt(uow, payment)


def payee_receipts(*, uow: UnitOfWork, actor: Actor, since: datetime | None = None,
                   limit: int = 100, offset: int = 0) -> list[ReceiptView]:
    """The receipts of the payments to a biller or office (what it reconciles), oldest first
    from `since`."""
    scope = _payee_scope(actor)
    query = select(BillPayment).order_by(BillPayment.id).limit(limit).offset(offset)
    if scope is not None:
        query = query.where(BillPayment.payee_code == scope)
    if since is not None:
        query = query.where(BillPayment.paid_at >= since)
    return [_receipt(uow, p) for p in uow.session.execute(query).scalars()]


# ---------------------------------------------------------------------------------------
# Standing mandates (代扣)


def create_mandate(*, uow: UnitOfWork, actor: Actor, person_id: int, payee_code: str,
                   limit_fen: Fen | None = None) -> MandateView:
    """The holder lets the payee's bills be paid on their due date, up to `limit_fen` each.
    One mandate per payee at a time (MandateExists). Commits."""
    if actor.role is not Role.HOLDER:
        raise Forbidden(zh="代扣须由持卡人本人（或其监护人）签约", en="Only the holder (or their guardian) sets up a mandate")
    _check_person(uow, actor, person_id)
    if payee_code not in payees():
        raise errors.UnknownPayee(payee_code=payee_code)
    if limit_fen is not None and limit_fen <= 0:
        raise InvalidInput(reason_zh="单笔上限须大于零", reason_en="the limit must be above zero")
    key = f"{person_id}:{payee_code}"
    if uow.session.execute(select(BillMandate.id).where(BillMandate.active_key == key)).first():
        raise errors.MandateExists(payee_code=payee_code)
    mandate = BillMandate(person_id=person_id, payee_code=payee_code, limit_fen=limit_fen,
                          active_key=key, created_at=uow.now(), created_by=actor.user_id)
    uow.session.add(mandate)
    uow.session.flush()
    uow.audit(actor=actor, action="bill_mandate.created", entity_type="bill_mandate",
              entity_id=mandate.id, after={"person_id": person_id, "payee_code": payee_code,
                                           "limit_fen": limit_fen, **_acting_for(actor, person_id)})
    uow.commit()
    return _mandate_view(mandate)


def revoke_mandate(*, uow: UnitOfWork, actor: Actor, mandate_id: int) -> MandateView:
    """The holder withdraws the mandate from now on (bills not yet paid stay due). Commits."""
    mandate = uow.session.get(BillMandate, mandate_id)
    if mandate is None:
        raise errors.MandateNotFound(mandate_id=mandate_id)
    try:
        _check_person(uow, actor, mandate.person_id)
    except errors.BillNotFound:
        raise errors.MandateNotFound(mandate_id=mandate_id) from None
    if mandate.revoked_at is not None:
        raise errors.MandateRevoked()
    mandate.revoked_at, mandate.revoked_by, mandate.active_key = uow.now(), actor.user_id, None
    uow.session.flush()
    uow.audit(actor=actor, action="bill_mandate.revoked", entity_type="bill_mandate",
              entity_id=mandate.id, before={"revoked_at": None},
              after={"revoked_at": mandate.revoked_at.isoformat(), **_acting_for(actor, mandate.person_id)})
    uow.commit()
    return _mandate_view(mandate)


def mandates_of(*, uow: UnitOfWork, actor: Actor, person_id: int) -> list[MandateView]:
    _check_person(uow, actor, person_id)
    query = select(BillMandate).where(BillMandate.person_id == person_id).order_by(BillMandate.id.desc())
    return [_mandate_view(m) for m in uow.session.execute(query).scalars()]


def mandate_bills_due(*, uow: UnitOfWork, day: date) -> list[tuple[int, int]]:
    """(bill id, mandate id) of every due bill a mandate in force pays on `day`."""
    rows = uow.session.execute(
        select(Bill.id, BillMandate.id, Bill.amount_fen, BillMandate.limit_fen)
        .join(BillMandate, (BillMandate.person_id == Bill.person_id)
              & (BillMandate.payee_code == Bill.payee_code))
        .where(Bill.status == BillStatus.DUE, Bill.due_date <= day, BillMandate.revoked_at.is_(None))
        .order_by(Bill.id)).all()
    return [(bill_id, mandate_id) for bill_id, mandate_id, amount, limit in rows
            if limit is None or amount <= limit]


def run_mandates(*, uows: Callable[[], UnitOfWork], day: date,
                 progress: Callable[[int, int], None] | None = None) -> MandateRun:
    """Pay every bill a mandate covers that is due by `day`, each in its own transaction with
    the key `mandate:<mandate>:bill:<bill>` (a rerun after a crash pays nothing twice). A
    refusal is counted with its reason and the bill stays due for the holder."""
    from yikatong.core.errors import DomainError

    with uows() as uow:
        due = mandate_bills_due(uow=uow, day=day)
    result = MandateRun(day=day)
    for done, (bill_id, mandate_id) in enumerate(due, start=1):
        try:
            with uows() as uow:
                receipt = pay_bill(uow=uow, actor=SYSTEM, bill_id=bill_id, mandate_id=mandate_id,
                                   idempotency_key=f"mandate:{mandate_id}:bill:{bill_id}")
            result.paid.append(receipt.receipt_no)
        except DomainError as error:
            result.refused[bill_id] = error.code
            _tell_mandate_refused(uows, bill_id, day, error)
        if progress is not None:
            progress(done, len(due))
    return result


def _tell_mandate_refused(uows: Callable[[], UnitOfWork], bill_id: int, day: date, error) -> None:
    """A text to the person whose mandate payment was refused, once per bill and day (a rerun
    of the day sends nothing more)."""
    from yikatong.notices.service import already_sent

    subject = f"bill-mandate:{bill_id}:{day.isoformat()}"
    with uows() as uow:
        # Its own transaction, after the payment's rolled back with the bill's row lock: two
        # runs of the day at once would both read "not sent" (PostgreSQL) and text twice.
        serialised(uow.session, f"bills.mandate_refused:{subject}")
        bill = uow.session.get(Bill, bill_id)
        if bill is None or already_sent(uow=uow, template="bill_mandate_refused", subject=subject):
            return
        card = _live_card_or_none(uow, bill.person_id)
        zh, en = _payee_words(bill.payee_code)
        _notify(uow, bill.person_id, "bill_mandate_refused", subject=subject, params={
            "payee_zh": zh, "payee_en": en, "amount": f"{bill.amount_fen / 100:.2f}",
            "card_tail": card.card_no[-4:] if card else "", "reason_zh": error.message_zh,
            "reason_en": error.message_en})
        uow.commit()


def _notify(uow: UnitOfWork, person_id: int, template: str, *, subject: str, params: dict) -> None:
    """A text to the phone on the person's record, in this transaction (notices' SMS seam)."""
    from yikatong.notices.service import notify_person

    notify_person(uow=uow, person_id=person_id, template=template, params=params, subject=subject)


# ---------------------------------------------------------------------------------------
# Personnel exams (人事考试)


def create_exam(*, uow: UnitOfWork, actor: Actor, code: str, name_zh: str, name_en: str,
                exam_date: date, subjects: list[str]) -> ExamView:
    """The exam office opens an exam for registration (idempotent by code). Commits."""
    _require_exam_office(actor)
    existing = uow.session.execute(select(ExamSession).where(ExamSession.code == code)).scalar_one_or_none()
    if existing is not None:
        return _exam_view(existing)
    if not subjects or len(set(subjects)) != len(subjects):
        raise InvalidInput(reason_zh="科目不可为空或重复", reason_en="subjects must be given once each")
    exam = ExamSession(code=code, name_zh=name_zh, name_en=name_en, exam_date=exam_date,
                       subjects=list(subjects), status="open", created_at=uow.now())
    uow.session.add(exam)
    uow.session.flush()
    uow.audit(actor=actor, action="exam.opened", entity_type="exam_session", entity_id=exam.code,
              after={"exam_date": exam_date.isoformat(), "subjects": list(subjects)})
    uow.commit()
    return _exam_view(exam)


def exams(*, uow: UnitOfWork, open_only: bool = False) -> list[ExamView]:
    query = select(ExamSession).order_by(ExamSession.exam_date, ExamSession.code)
    if open_only:
        query = query.where(ExamSession.status == "open")
    return [_exam_view(e) for e in uow.session.execute(query).scalars()]


def register_exam(*, uow: UnitOfWork, actor: Actor, person_id: int, exam_code: str,
                  subjects: list[str]) -> BillView:
    """The holder registers for an open exam's subjects: a bill of 50 CNY (example) a subject,
    due the day before the exam. Commits."""
    _check_person(uow, actor, person_id)
    exam = _exam(uow, exam_code)
    if exam.status != "open":
        raise errors.ExamCancelled()
    fee = figures().exam
    amount = rules.exam_amount(fee, chosen=list(subjects), offered=list(exam.subjects))
    bill = _issue(uow, actor, kind=BillKind.EXAM_FEE, payee_code=fee.payee_code, person_id=person_id,
                  external_ref=f"EXAM-{exam.code}-{person_id}", account_ref=exam.code,
                  period=exam.exam_date.isoformat()[:7],
                  title=(f"{exam.name_zh}（{len(subjects)} 科）", f"{exam.name_en} ({len(subjects)} subjects)"),
                  amount_fen=amount, due_date=exam.exam_date - timedelta(days=1),
                  details={"subjects": sorted(subjects)})
    uow.commit()
    return _bill_view(uow, bill)


def cancel_exam(*, uow: UnitOfWork, actor: Actor, exam_code: str, reason: str) -> tuple[ExamView, list[str]]:
    """The exam office cancels an exam: every fee paid for it is refunded through the bank
    and the bills still due are withdrawn, in one transaction whose audit record names the
    receipts refunded. Returns the exam and the receipt numbers refunded. Commits."""
    _require_exam_office(actor)
    if not (reason or "").strip():
        raise InvalidInput(reason_zh="请说明取消原因", reason_en="a reason is required")
    exam = _exam(uow, exam_code, lock=True)
    if exam.status == "cancelled":
        raise errors.ExamCancelled()
    bills = list(uow.session.execute(select(Bill).where(
        Bill.kind == BillKind.EXAM_FEE, Bill.account_ref == exam.code)).scalars())
    refunded = []
    for bill in bills:
        if bill.status == BillStatus.DUE:
            bill.status = BillStatus.CANCELLED
        elif bill.status == BillStatus.PAID:
            payment = uow.session.execute(select(BillPayment).where(
                BillPayment.bill_id == bill.id, BillPayment.status == PaymentStatus.PAID)).scalar_one()
            _refund(uow, actor, payment, f"考试取消 / exam cancelled: {reason.strip()}")
            refunded.append(payment.receipt_no)
    exam.status, exam.cancelled_at, exam.cancelled_by = "cancelled", uow.now(), actor.user_id
    exam.cancel_reason = reason.strip()[:200]
    uow.session.flush()
    uow.audit(actor=actor, action="exam.cancelled", entity_type="exam_session", entity_id=exam.code,
              before={"status": "open"}, reason=reason.strip(),
              after={"status": "cancelled", "refunded_receipts": refunded,
                     "withdrawn_bills": [b.id for b in bills if b.status == BillStatus.CANCELLED]})
    uow.commit()
    return _exam_view(exam), refunded


# ---------------------------------------------------------------------------------------
# Reference data and the reference biller's bills


REFERENCE_EXAMS = (
    ("PT-2026-ACC", "2026 年度全国会计专业技术资格考试（参考）",
     "2026 accounting professional qualification exam (reference)", 9, 12,
     ["初级会计实务", "经济法基础"]),
    ("PT-2026-ECO", "2026 年度经济专业技术资格考试（参考）",
     "2026 economics professional qualification exam (reference)", 11, 14,
     ["经济基础知识", "专业知识和实务"]),
)


def load_reference_data(*, uow: UnitOfWork, actor: Actor) -> int:
    """The reference exams (idempotent): how many were added."""
    added = 0
    year = local_date(uow.now()).year
    for code, zh, en, month, day, subjects in REFERENCE_EXAMS:
        if uow.session.execute(select(ExamSession.id).where(ExamSession.code == code)).first() is None:
            create_exam(uow=uow, actor=actor, code=code, name_zh=zh, name_en=en,
                        exam_date=date(year, month, day), subjects=subjects)
            added += 1
    return added


# ---------------------------------------------------------------------------------------
# Internals


def _payment_by_key(uow: UnitOfWork, key: str) -> BillPayment | None:
    return uow.session.execute(select(BillPayment).where(BillPayment.idempotency_key == key)).scalar_one_or_none()


def _payment_by_receipt(uow: UnitOfWork, receipt_no: str) -> BillPayment:
    payment = uow.session.execute(select(BillPayment).where(
        BillPayment.receipt_no == receipt_no)).scalar_one_or_none()
    if payment is None:
        raise errors.PaymentNotFound(receipt_no=receipt_no)
    return payment


def _payment_for_payee(uow: UnitOfWork, actor: Actor, receipt_no: str) -> BillPayment:
    payment = _payment_by_receipt(uow, receipt_no)
    scope = _payee_scope(actor)
    if scope is not None and scope != payment.payee_code:
        raise errors.PaymentNotFound(receipt_no=receipt_no)
    return payment


def _mandate_in_force(uow: UnitOfWork, mandate_id: int, bill: Bill) -> BillMandate:
    mandate = uow.session.get(BillMandate, mandate_id)
    if mandate is None or mandate.person_id != bill.person_id:
        raise errors.MandateNotFound(mandate_id=mandate_id)
    if mandate.revoked_at is not None:
        raise errors.MandateRevoked()
    if not rules.mandate_covers(mandate_payee=mandate.payee_code, mandate_limit_fen=mandate.limit_fen,
                                payee_code=bill.payee_code, amount_fen=bill.amount_fen):
        raise errors.MandateLimitExceeded()
    return mandate


def _paying_card(uow: UnitOfWork, person_id: int):
    """The person's current live card (its account pays), NoLiveCard without one."""
    from yikatong.cards.service import current_card_for

    card = current_card_for(uow=uow, person_id=person_id)
    if card is None or not card.is_live:
        raise errors.NoLiveCard()
    return card


def _live_card_or_none(uow: UnitOfWork, person_id: int):
    from yikatong.cards.service import current_card_for

    return current_card_for(uow=uow, person_id=person_id)


def _refusal(answer) -> errors.AccountRefused:
    name = rules.BANK_REASONS.get(answer.reason_code or "")
    cls = getattr(errors, name) if name else errors.AccountRefused
    return cls(reason_zh=answer.reason_zh or answer.reason_code or "",
               reason_en=answer.reason_en or answer.reason_code or "",
               bank_reason=answer.reason_code)


def _medical_plan(uow: UnitOfWork, bill: Bill) -> date | None:
    """For a residents' medical contribution: the day from which the person must be enrolled
    as a resident (390) to cover the year paid for, or None when they already are through the
    year's end. Someone insured as an employee (310) then, or with a period starting later in
    the year, is refused here, before any money moves: the medical office sorts that out."""
    if bill.kind != BillKind.RESIDENT_MEDICAL:
        return None
    from yikatong.medical.rules import Scheme
    from yikatong.medical.service import enrolment_on, enrolments

    year = int(bill.period)
    start = max(date(year, 1, 1), local_date(uow.now()))
    last = date(year, 12, 31)
    covering = enrolment_on(uow=uow, person_id=bill.person_id, day=start)
    if covering is not None and covering.scheme != Scheme.RESIDENT:
        raise errors.EmployeeInsured()
    if covering is not None and (covering.end_date is None or covering.end_date >= last):
        return None
    if any(p.start_date > start for p in enrolments(uow=uow, person_id=bill.person_id)):
        raise errors.EmployeeInsured()
    return start


def _keep_medical_current(uow: UnitOfWork, bill: Bill, start: date) -> None:
    """Enrol the person in the residents' medical insurance from `start` (medical.enrol
    closes an open period the day before; this unit of work commits it with the bill)."""
    from yikatong.medical.rules import Scheme
    from yikatong.medical.service import enrol

    enrol(uow=uow, actor=SYSTEM, person_id=bill.person_id, scheme=Scheme.RESIDENT,
          insured_admdvs=figures().resident_medical.insured_admdvs, start_date=start)


def _require_exam_office(actor: Actor) -> None:
    if actor.role not in EXAM_OFFICES:
        raise Forbidden(zh="只有人事考试机构可以管理考试", en="Only the exam office manages exams")


def _exam(uow: UnitOfWork, code: str, *, lock: bool = False) -> ExamSession:
    query = select(ExamSession).where(ExamSession.code == code)
    if lock:
        query = query.with_for_update()
    exam = uow.session.execute(query).scalar_one_or_none()
    if exam is None:
        raise errors.ExamNotFound(exam_code=code)
    return exam


def _acting_for(actor: Actor, person_id: int) -> dict:
    from yikatong.people.guardians import subject_of

    return subject_of(actor, person_id)


def _month_end(day: date) -> date:
    following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _bill_view(uow: UnitOfWork, bill: Bill) -> BillView:
    receipt = None
    if bill.status in (BillStatus.PAID, BillStatus.REFUNDED):
        receipt = uow.session.execute(select(BillPayment.receipt_no).where(
            BillPayment.bill_id == bill.id).order_by(BillPayment.id.desc()).limit(1)).scalar()
    zh, en = _payee_words(bill.payee_code)
    return BillView(id=bill.id, kind=bill.kind, payee_code=bill.payee_code, payee_zh=zh, payee_en=en,
                    person_id=bill.person_id, external_ref=bill.external_ref,
                    account_ref=bill.account_ref, period=bill.period, title_zh=bill.title_zh,
                    title_en=bill.title_en, amount_fen=bill.amount_fen, due_date=bill.due_date,
                    status=bill.status, created_at=bill.created_at, receipt_no=receipt)


def _receipt(uow: UnitOfWork, payment: BillPayment) -> ReceiptView:
    from yikatong.people.service import person_basics

    bill = uow.session.get(Bill, payment.bill_id)
    zh, en = _payee_words(payment.payee_code)
    person = person_basics(uow=uow, person_id=payment.person_id)
    return ReceiptView(
        receipt_no=payment.receipt_no or "", bill_id=bill.id, kind=bill.kind,
        payee_code=payment.payee_code, payee_zh=zh, payee_en=en, title_zh=bill.title_zh,
        title_en=bill.title_en, period=bill.period, external_ref=bill.external_ref,
        amount_fen=payment.amount_fen,
        payer_masked=f"{mask_name(person.name)} {mask_ssn(person.ssn)}".strip(),
        account_masked=mask_pan(payment.pan), authorisation=payment.authorisation,
        bank_reference=payment.bank_reference, paid_at=payment.paid_at, status=payment.status,
        refunded_at=payment.refunded_at, refund_reason=payment.refund_reason)


def _mandate_view(mandate: BillMandate) -> MandateView:
    zh, en = _payee_words(mandate.payee_code)
    return MandateView(id=mandate.id, person_id=mandate.person_id, payee_code=mandate.payee_code,
                       payee_zh=zh, payee_en=en, limit_fen=mandate.limit_fen,
                       created_at=mandate.created_at, revoked_at=mandate.revoked_at)


def _exam_view(exam: ExamSession) -> ExamView:
    return ExamView(code=exam.code, name_zh=exam.name_zh, name_en=exam.name_en,
                    exam_date=exam.exam_date, subjects=tuple(exam.subjects),
                    fee_per_subject_fen=figures().exam.fee_per_subject_fen, status=exam.status,
                    cancel_reason=exam.cancel_reason)


def iter_reference_customers(*, uow: UnitOfWork, limit: int) -> Iterator[tuple[int, str]]:
    """(person id, ID number) of people with a live card: the reference billers' customers."""
    from yikatong.cards.service import person_ids_with_live_cards
    from yikatong.people.service import person_basics

    for person_id in person_ids_with_live_cards(uow=uow, limit=limit):
        yield person_id, person_basics(uow=uow, person_id=person_id).ssn
