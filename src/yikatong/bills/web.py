"""The pages of payments out: the holder's `/me/bills` (bills due and paying them with a one-off
confirmation, declaring contributions and exam registrations, standing mandates, receipts and
refunds; a guardian chooses a child in their care with `?person_id=`), the receipt page, and
`/payee/bills` for a utility or an office (the receipts of the payments made to it, refunds;
the exam office cancels an exam there). The rules are bills.service's, as the API's."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.bills import rules, service
from yikatong.bills.figures import figures
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.pages.rendering import render
from yikatong.people import guardians
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)
PersonQuery = Query(default=None, ge=1, le=2**63 - 1)
ReceiptPath = Path(min_length=1, max_length=32)


@router.get("/me/bills")
def my_bills(request: Request, person_id: int | None = PersonQuery, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    return _render(request, platform, actor, person_id or actor.person_id)


@router.post("/me/bills/declare")
def declare(request: Request, person_id: int | None = PersonQuery, what: str = Form(max_length=32),
            base_yuan: str = Form(default="", max_length=16), months: int = Form(default=1, ge=1, le=12),
            year: int = Form(default=0, ge=0, le=2100), grade_yuan: str = Form(default="", max_length=16),
            exam_code: str = Form(default="", max_length=32), subjects: list[str] = Form(default=[]),
            actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    person = person_id or actor.person_id or 0
    try:
        with platform.uow() as uow:
            if what == "flexible":
                service.declare_flexible(uow=uow, actor=actor, person_id=person,
                                         base_fen=_fen(base_yuan), months=months)
            elif what in ("resident_medical", "resident_pension"):
                service.declare_resident(uow=uow, actor=actor, person_id=person, kind=what, year=year,
                                         grade_fen=_fen(grade_yuan) if grade_yuan.strip() else None)
            elif what == "exam":
                service.register_exam(uow=uow, actor=actor, person_id=person, exam_code=exam_code,
                                      subjects=subjects)
            else:
                raise InvalidInput(reason_zh="请选择缴费项目", reason_en="choose what to pay")
    except DomainError as error:
        return _render(request, platform, actor, person, error=error, status_code=error.http_status)
    return RedirectResponse(_back(actor, person) + "#due", status_code=303)


@router.post("/me/bills/{bill_id}/pay")
def pay(request: Request, bill_id: int = Path(ge=1, le=2**63 - 1), person_id: int | None = PersonQuery,
        idempotency_key: str = Form(default="", max_length=100), confirm: str = Form(default=""),
        actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    person = person_id or actor.person_id or 0
    try:
        with platform.uow() as uow:
            receipt = service.pay_bill(uow=uow, actor=actor, bill_id=bill_id,
                                       idempotency_key=idempotency_key or uuid.uuid4().hex,
                                       confirmed=confirm == "yes")
    except DomainError as error:
        return _render(request, platform, actor, person, error=error, status_code=error.http_status)
    return RedirectResponse(f"/me/bills/receipts/{receipt.receipt_no}", status_code=303)


@router.post("/me/bills/mandates")
def create_mandate(request: Request, person_id: int | None = PersonQuery,
                   payee_code: str = Form(max_length=32), limit_yuan: str = Form(default="", max_length=16),
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    person = person_id or actor.person_id or 0
    try:
        with platform.uow() as uow:
            service.create_mandate(uow=uow, actor=actor, person_id=person, payee_code=payee_code,
                                   limit_fen=_fen(limit_yuan) if limit_yuan.strip() else None)
    except DomainError as error:
        return _render(request, platform, actor, person, error=error, status_code=error.http_status)
    return RedirectResponse(_back(actor, person) + "#mandates", status_code=303)


@router.post("/me/bills/mandates/{mandate_id}/revoke")
def revoke_mandate(request: Request, mandate_id: int = Path(ge=1, le=2**63 - 1),
                   person_id: int | None = PersonQuery, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    person = person_id or actor.person_id or 0
    try:
        with platform.uow() as uow:
            service.revoke_mandate(uow=uow, actor=actor, mandate_id=mandate_id)
    except DomainError as error:
        return _render(request, platform, actor, person, error=error, status_code=error.http_status)
    return RedirectResponse(_back(actor, person) + "#mandates", status_code=303)


@router.get("/me/bills/receipts/{receipt_no}")
def receipt_page(request: Request, receipt_no: str = ReceiptPath, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        receipt = service.get_receipt(uow=uow, actor=actor, receipt_no=receipt_no)
    return render(request, "bills/receipt.html", {
        "receipt": receipt, "kind_words": rules.KIND_WORDS, "status_words": rules.STATUS_WORDS})


# --- a payee's page: a utility, an office ------------------------------------------------


@router.get("/payee/bills")
def payee_page(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    return _payee_render(request, platform, actor)


@router.post("/payee/bills/receipts/{receipt_no}/refund")
def payee_refund(request: Request, receipt_no: str = ReceiptPath, reason: str = Form(default="", max_length=200),
                 actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            service.refund(uow=uow, actor=actor, receipt_no=receipt_no, reason=reason)
    except DomainError as error:
        return _payee_render(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse(f"/payee/bills#receipt-{receipt_no}", status_code=303)


@router.post("/payee/bills/exams/{exam_code}/cancel")
def payee_cancel_exam(request: Request, exam_code: str = Path(min_length=1, max_length=32),
                      reason: str = Form(default="", max_length=200), actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            service.cancel_exam(uow=uow, actor=actor, exam_code=exam_code, reason=reason)
    except DomainError as error:
        return _payee_render(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse("/payee/bills#exams", status_code=303)


# --- rendering ------------------------------------------------------------------------------


def _fen(text: str) -> int:
    try:
        return parse_yuan(text)
    except ValueError:
        raise InvalidInput(reason_zh="金额须为元，最多两位小数",
                           reason_en="an amount is in yuan with at most two decimals") from None


def _back(actor: Actor, person_id: int) -> str:
    return "/me/bills" if person_id == actor.person_id else f"/me/bills?person_id={person_id}"


def _render(request: Request, platform: Platform, actor: Actor, person_id: int | None, *,
            error: DomainError | None = None, status_code: int = 200):
    f = figures()
    with platform.uow(read_only=True) as uow:
        person = person_id or 0
        try:
            bills = service.bills_of(uow=uow, actor=actor, person_id=person)
            receipts = service.receipts_of(uow=uow, actor=actor, person_id=person)
            mandates = service.mandates_of(uow=uow, actor=actor, person_id=person)
        except DomainError as refused:  # someone not in the holder's care: nothing to show
            bills, receipts, mandates, error = [], [], [], error or refused
            status_code = refused.http_status if status_code == 200 else status_code
        exams = service.exams(uow=uow, open_only=True)
        today = local_date(uow.now())
        children = guardians.children_of(uow=uow, actor=actor)
    bounds = rules.base_bounds(f.flexible)
    return render(request, "bills/my_bills.html", {
        "bills": bills, "receipts": receipts, "mandates": mandates, "exams": exams, "error": error,
        "today": today, "person_query": "" if person == actor.person_id else f"?person_id={person}",
        "payees": service.payees(), "kind_words": rules.KIND_WORDS, "status_words": rules.STATUS_WORDS,
        "bounds": bounds, "figures": f, "idempotency_key": uuid.uuid4().hex,
        "years": (today.year, today.year + 1), "children": children, "person_id": person,
        "self_id": actor.person_id}, status_code=status_code)


def _payee_render(request: Request, platform: Platform, actor: Actor, *,
                  error: DomainError | None = None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        receipts = list(reversed(service.payee_receipts(uow=uow, actor=actor, limit=200)))
        bills = service.payee_bills(uow=uow, actor=actor, status="due", limit=100)
        exams = service.exams(uow=uow) if actor.role in (Role.HR_OFFICER, Role.ADMIN) else []
    return render(request, "bills/payee.html", {
        "receipts": receipts, "bills": bills, "exams": exams, "error": error,
        "kind_words": rules.KIND_WORDS, "status_words": rules.STATUS_WORDS,
        "payee_code": actor.branch_code or ""}, status_code=status_code)
