"""The bills API under /api/v1/bills: the holder declares and pays (and sets up mandates), a
utility (Role.BILLER) posts bills and reads its receipts, the offices read the payments made
to them and refund, the exam office opens and cancels exams (a cancellation refunds)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from yikatong.api.deps import Offset, RowId, current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.bills import service
from yikatong.bills.schemas import (
    BillOut,
    ExamCancelledOut,
    ExamIn,
    ExamOut,
    ExamRegistrationIn,
    FlexibleIn,
    MandateIn,
    MandateOut,
    PayIn,
    ReasonIn,
    ReceiptOut,
    ResidentIn,
    UtilityBillIn,
)
from yikatong.core.actor import Actor
from yikatong.core.errors import InvalidInput
from yikatong.platform import Platform

router = APIRouter(prefix="/bills", tags=["bills 缴费"])
Limit = Annotated[int, Query(ge=1, le=500)]


def _person(actor: Actor, person_id: int | None) -> int:
    chosen = person_id or actor.person_id
    if chosen is None:
        raise InvalidInput(reason_zh="请指明缴费人", reason_en="name the person (person_id)")
    return chosen


# --- the holder ---------------------------------------------------------------------------


@router.get("/me", response_model=list[BillOut], responses=problems(404), summary="My bills (due first) / 我的待缴与已缴账单")
def my_bills(person_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
             status: str | None = None, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [BillOut.model_validate(b) for b in service.bills_of(
            uow=uow, actor=actor, person_id=_person(actor, person_id), status=status)]


@router.post("/me/flexible", response_model=BillOut, status_code=201,
             summary="Declare a flexible-employment contribution / 灵活就业人员社保费申报")
def declare_flexible(body: FlexibleIn, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return BillOut.model_validate(service.declare_flexible(
            uow=uow, actor=actor, person_id=_person(actor, body.person_id), base_fen=body.base_fen,
            months=body.months))


@router.post("/me/residents", response_model=BillOut, status_code=201,
             summary="Declare a residents' yearly contribution / 城乡居民医保、养老保险缴费申报")
def declare_resident(body: ResidentIn, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return BillOut.model_validate(service.declare_resident(
            uow=uow, actor=actor, person_id=_person(actor, body.person_id), kind=body.kind,
            year=body.year, grade_fen=body.grade_fen))


@router.post("/me/exams", response_model=BillOut, status_code=201,
             summary="Register for a personnel exam (the fee is a bill) / 人事考试报名")
def register_exam(body: ExamRegistrationIn, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return BillOut.model_validate(service.register_exam(
            uow=uow, actor=actor, person_id=_person(actor, body.person_id),
            exam_code=body.exam_code, subjects=body.subjects))


@router.post("/{bill_id}/pay", response_model=ReceiptOut, responses=problems(503),
             summary="Pay a bill from the card account (idempotent by key) / 从社保卡账户缴费")
def pay(bill_id: RowId, body: PayIn, actor: Actor = Depends(current_actor),
        platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ReceiptOut.model_validate(service.pay_bill(
            uow=uow, actor=actor, bill_id=bill_id, idempotency_key=body.idempotency_key,
            confirmed=body.confirm, mandate_id=body.mandate_id))


@router.get("/me/receipts", response_model=list[ReceiptOut], responses=problems(404), summary="My receipts / 我的缴费凭证")
def my_receipts(person_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [ReceiptOut.model_validate(r) for r in service.receipts_of(
            uow=uow, actor=actor, person_id=_person(actor, person_id))]


@router.get("/me/mandates", response_model=list[MandateOut], responses=problems(404), summary="My standing mandates / 我的代扣授权")
def my_mandates(person_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [MandateOut.model_validate(m) for m in service.mandates_of(
            uow=uow, actor=actor, person_id=_person(actor, person_id))]


@router.post("/me/mandates", response_model=MandateOut, status_code=201,
             summary="Set up a standing mandate (代扣) / 签约代扣")
def create_mandate(body: MandateIn, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return MandateOut.model_validate(service.create_mandate(
            uow=uow, actor=actor, person_id=_person(actor, body.person_id),
            payee_code=body.payee_code, limit_fen=body.limit_fen))


@router.post("/mandates/{mandate_id}/revoke", response_model=MandateOut,
             summary="Revoke a standing mandate / 解除代扣")
def revoke_mandate(mandate_id: RowId, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return MandateOut.model_validate(service.revoke_mandate(uow=uow, actor=actor, mandate_id=mandate_id))


# --- receipts, refunds, payees ------------------------------------------------------------


@router.get("/receipts/{receipt_no}", response_model=ReceiptOut, summary="One receipt / 缴费凭证")
def receipt(receipt_no: Annotated[str, Path(min_length=1, max_length=32)], actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return ReceiptOut.model_validate(service.get_receipt(uow=uow, actor=actor, receipt_no=receipt_no))


@router.post("/receipts/{receipt_no}/refund", response_model=ReceiptOut, responses=problems(503),
             summary="Refund a payment into the account it came from / 退款")
def refund(receipt_no: Annotated[str, Path(min_length=1, max_length=32)], body: ReasonIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ReceiptOut.model_validate(service.refund(uow=uow, actor=actor, receipt_no=receipt_no,
                                                        reason=body.reason))


@router.post("/payee/bills", response_model=BillOut, status_code=201,
             summary="A utility posts a bill for its customer / 公共事业单位推送账单")
def post_bill(body: UtilityBillIn, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return BillOut.model_validate(service.post_utility_bill(
            uow=uow, actor=actor, id_number=body.id_number, account_ref=body.account_ref,
            bill_no=body.bill_no, period=body.period, amount_fen=body.amount_fen,
            due_date=body.due_date, payee_code=body.payee_code))


@router.get("/payee/bills", response_model=list[BillOut],
            summary="A payee's bills, newest first / 收费单位的账单")
def payee_bills(status: str | None = None, limit: Limit = 100, offset: Annotated[Offset, Query()] = 0,
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [BillOut.model_validate(b) for b in service.payee_bills(
            uow=uow, actor=actor, status=status, limit=limit, offset=offset)]


@router.get("/payee/receipts", response_model=list[ReceiptOut],
            summary="Receipts of the payments to a payee (for its reconciliation) / 收款凭证")
def payee_receipts(since: datetime | None = None, limit: Limit = 100,
                   offset: Annotated[Offset, Query()] = 0, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [ReceiptOut.model_validate(r) for r in service.payee_receipts(
            uow=uow, actor=actor, since=since, limit=limit, offset=offset)]


# --- personnel exams ----------------------------------------------------------------------


@router.get("/exams", response_model=list[ExamOut], summary="Personnel exams / 人事考试")
def list_exams(open_only: bool = False, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [ExamOut.model_validate(e) for e in service.exams(uow=uow, open_only=open_only)]


@router.post("/exams", response_model=ExamOut, status_code=201,
             summary="The exam office opens an exam / 发布考试")
def create_exam(body: ExamIn, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ExamOut.model_validate(service.create_exam(
            uow=uow, actor=actor, code=body.code, name_zh=body.name_zh, name_en=body.name_en,
            exam_date=body.exam_date, subjects=body.subjects))


@router.post("/exams/{exam_code}/cancel", response_model=ExamCancelledOut, responses=problems(503),
             summary="Cancel an exam: every fee paid is refunded / 取消考试并退费")
def cancel_exam(exam_code: Annotated[str, Path(min_length=1, max_length=32)], body: ReasonIn, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        exam, refunded = service.cancel_exam(uow=uow, actor=actor, exam_code=exam_code, reason=body.reason)
    return ExamCancelledOut(exam=ExamOut.model_validate(exam), refunded_receipts=refunded)
