"""Request and response bodies of the tourism API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.core.response_models import response_model
from yikatong.tourism.service import (
    Decision,
    EntryView,
    GateView,
    OperatorView,
    ProductView,
    TicketView,
    VenueDayReport,
    VenueView,
)
from yikatong.tourism.settlement import SettlementView, VenueStatement

PersonId = Field(default=None, ge=1, le=2**63 - 1,
                 description="a child in the holder's care; the holder themself if empty / 为监护的未成年子女购买")
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
Slot = Annotated[str, Field(min_length=11, max_length=11, pattern=r"^\d\d:\d\d-\d\d:\d\d$")]


class BuyIn(BaseModel):
    product_code: Code
    day: date | None = Field(default=None, description="a day ticket's day (today if empty) / 游览日期")
    slot: Slot | None = Field(default=None, description="a day ticket's time slot / 入园时段")
    idempotency_key: str = Field(min_length=1, max_length=100, description="the same key again buys nothing twice / 幂等键")
    confirm: bool = Field(default=False, description="the holder confirms the card's bank account pays / 确认银行账户支付")
    voucher_ref: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="a tourism voucher to redeem / 旅游消费券")
    person_id: int | None = PersonId


class SlotIn(BaseModel):
    slot: Slot
    capacity: int = Field(ge=1, le=1_000_000)


class SplitIn(BaseModel):
    basis: Literal["entries", "fixed"] = Field(description="by the period's entries, or fixed shares / 按入园人次或固定比例")
    shares_bp: dict[Code, Annotated[int, Field(ge=0, le=10_000)]] | None = Field(
        default=None, max_length=50, description="fixed: each venue's share in basis points, summing to 10000 / 各景区份额（基点）")

    def rule(self) -> dict:
        return self.model_dump(exclude_none=True)


class ProductIn(BaseModel):
    code: Code
    kind: Literal["day_ticket", "pass"]
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    price_fen: int = Field(ge=0, le=MAX_AMOUNT_FEN)
    venue_codes: list[Code] = Field(min_length=1, max_length=50)
    slots: list[SlotIn] = Field(default_factory=list, max_length=48)
    activation_months: int | None = Field(default=None, ge=1, le=24)
    valid_months: int | None = Field(default=None, ge=1, le=36)
    operator_code: Code | None = Field(default=None, description="the card centre names the operator / 卡管中心代录时填写")
    split: SplitIn | None = Field(default=None, description="a pass's revenue split between its venues "
                                  "(by entries when empty) / 年卡收入在各景区间的分账规则")


class FreeCategoryIn(BaseModel):
    code: Code
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)
    name_zh: str = Field(default="", max_length=100)
    name_en: str = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _an_age(self):
        if self.min_age is None and self.max_age is None:
            raise ValueError("min_age or max_age is required")
        return self


class FreeCategoriesIn(BaseModel):
    free_categories: list[FreeCategoryIn] = Field(max_length=20)


class AdmitIn(BaseModel):
    gate_id: str = Field(min_length=1, max_length=32)
    entry_id: str = Field(min_length=1, max_length=64, description="the gate's id for this entry (idempotency) / 入园记录号")
    card_no: str | None = Field(default=None, min_length=9, max_length=9, pattern=r"^[A-Za-z0-9]+$")
    person_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="from a verified e-card QR / 电子社保卡")
    at: datetime | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.card_no is None) == (self.person_id is None):
            raise ValueError("give card_no or person_id")
        return self


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class ActivateIn(BaseModel):
    on: date | None = Field(default=None, description="the first day of validity (today if empty) / 激活日期")


class SlotOut(BaseModel):
    slot: str
    capacity: int
    sold: int
    left: int


VenueOut = response_model(VenueView, name="TourismVenueOut")
ProductOut = response_model(ProductView, name="TourismProductOut")
TicketOut = response_model(TicketView, name="TourismTicketOut")
DecisionOut = response_model(Decision, name="TourismAdmitDecisionOut")
EntryOut = response_model(EntryView, name="TourismEntryOut")
ReportOut = response_model(VenueDayReport, name="TourismVenueDayReportOut")


class OperatorIn(BaseModel):
    code: Code
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


class VenueIn(BaseModel):
    code: Code
    operator_code: Code
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    kind: Literal["scenic", "museum", "culture"]
    level: str = Field(default="", pattern=r"^([1-5]A)?$", description="A-level (5A, 4A …) or empty / A 级")
    district: str = Field(default="", max_length=64)
    source: str = Field(default="", max_length=300, description="where the level comes from / 等级来源")
    free_categories: list[FreeCategoryIn] = Field(default_factory=list, max_length=20)


class GateIn(BaseModel):
    gate_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    mode: Literal["online", "offline"]


class SettleIn(BaseModel):
    period_from: date = Field(description="first day of the period / 结算期起日")
    period_to: date = Field(description="last day of the period (over) / 结算期止日")


OperatorOut = response_model(OperatorView, name="TourismOperatorOut")
GateOut = response_model(GateView, name="TourismGateOut")
SettlementOut = response_model(SettlementView, name="TourismSettlementOut")
StatementOut = response_model(VenueStatement, name="TourismVenueStatementOut")
