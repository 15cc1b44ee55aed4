"""Request and response bodies of the bills API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from yikatong.bills.service import BillView, ExamView, MandateView, ReceiptView
from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.core.response_models import response_model

PersonId = Field(default=None, ge=1, le=2**63 - 1,
                 description="a child in the holder's care; the holder themself if empty / 代缴的未成年子女")



SubjectCode = Annotated[str, Field(min_length=1, max_length=32)]  # an exam subject

class FlexibleIn(BaseModel):
    base_fen: int = Field(ge=1, le=MAX_AMOUNT_FEN, description="monthly contribution base in fen / 月缴费基数（分）")
    months: int = Field(ge=1, le=12, description="1 (this month) or 12 (this year) / 缴费月数")
    person_id: int | None = PersonId


class ResidentIn(BaseModel):
    kind: Literal["resident_medical", "resident_pension"]
    year: int = Field(ge=2000, le=2100)
    grade_fen: int | None = Field(default=None, ge=1, le=10**9,
                                  description="the pension grade chosen / 养老保险缴费档次（分）")
    person_id: int | None = PersonId


class ExamRegistrationIn(BaseModel):
    exam_code: str = Field(min_length=1, max_length=32)
    subjects: list[SubjectCode] = Field(min_length=1, max_length=10)
    person_id: int | None = PersonId


class PayIn(BaseModel):
    idempotency_key: str = Field(min_length=1, max_length=100,
                                 description="the same key again pays nothing twice / 幂等键")
    confirm: bool = Field(default=False, description="the holder confirms this one payment / 本次缴费确认")
    mandate_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class MandateIn(BaseModel):
    payee_code: str = Field(min_length=1, max_length=32)
    limit_fen: int | None = Field(default=None, ge=1, le=MAX_AMOUNT_FEN,
                                  description="most a payment may take / 单笔上限（分）")
    person_id: int | None = PersonId


class UtilityBillIn(BaseModel):
    id_number: str = Field(min_length=15, max_length=18, description="the customer's ID number / 户主证件号码")
    account_ref: str = Field(min_length=1, max_length=64, description="the customer account / 户号")
    bill_no: str = Field(min_length=1, max_length=64, description="the biller's bill number / 账单号")
    period: str = Field(min_length=4, max_length=16)
    amount_fen: int = Field(ge=1, le=10**9)
    due_date: date
    payee_code: str | None = Field(default=None, max_length=32,
                                   description="the card centre names the biller / 卡管中心代录时填写")


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class ExamIn(BaseModel):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    exam_date: date
    subjects: list[SubjectCode] = Field(min_length=1, max_length=10)


BillOut = response_model(BillView, name="BillOut")
ReceiptOut = response_model(ReceiptView, name="ReceiptOut")
MandateOut = response_model(MandateView, name="MandateOut", properties=("active",))
ExamOut = response_model(ExamView, name="ExamOut")


class ExamCancelledOut(BaseModel):
    exam: ExamOut
    refunded_receipts: list[str]
