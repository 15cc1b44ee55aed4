"""Request and response bodies of the discounts API (responses built from the service views)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.core.response_models import response_model
from yikatong.discounts.service import (
    CampaignView,
    RedemptionView,
    SettlementView,
    VoucherView,
)

Code = Annotated[str, Field(min_length=1, max_length=32)]
Fen = Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]


class SpendReductionRule(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field accepted is a field applied

    tiers: list[Annotated[list[Fen], Field(min_length=2, max_length=2)]] = Field(
        min_length=1, max_length=10, description="[threshold_fen, reduction_fen] pairs / 满减档位（分）")
    per_each: bool = Field(default=False, description="每满 X 减 Y: the first tier once per whole threshold")
    cap_fen: Fen | None = None


class RebateRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_bp: int = Field(ge=1, le=10_000, description="share of the fare back, basis points / 返还比例（基点）")
    cap_fen: Fen | None = Field(default=None, description="at most this a tap / 单次上限（分）")
    holder_month_fen: Fen | None = Field(default=None, description="at most per holder per month / 每人每月上限（分）")
    credit_to: Literal["wallet", "account"] = Field(
        default="wallet", description="where rebates go: the wallet at the next contact, or the bank account "
                                      "/ 返还至钱包（下次联机写入）或银行账户")
    # where the tap was (the cleared record); empty: anywhere
    operators: list[Code] = Field(default=[], max_length=20, description="运营单位")
    modes: list[Code] = Field(default=[], max_length=10, description="bus | metro … / 交通方式")
    lines: list[Code] = Field(default=[], max_length=50, description="线路")
    tap_regions: list[Code] = Field(default=[], max_length=20, description="the tap's region code / 乘车地区")


class VoucherRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    face_fen: Fen = Field(description="face value / 券面额（分）")
    min_order_fen: int = Field(default=0, ge=0, le=MAX_AMOUNT_FEN)
    valid_days: int = Field(default=30, ge=1, le=366)
    operator_codes: list[Code] = Field(default=[], max_length=50)


class Eligibility(BaseModel):
    """Who may benefit; the same conditions for every kind (docs/discounts.md)."""

    model_config = ConfigDict(extra="forbid")

    card_kinds: list[Code] = Field(default=[], max_length=20, description=(
        "the partner bank whose co-branded social security card it is (ICBC, BOC …) / 卡类型（合作银行社保卡）"))
    rider_categories: list[Literal["adult", "student", "senior_70", "disabled"]] = Field(
        default=[], max_length=4, description="乘客类别")
    regions: list[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")]] = Field(
        default=[], max_length=20, description="the holder's ID-number region prefix (3204 Changzhou) / 户籍地区（身份证号前缀）")
    new_holders_since: date | None = Field(default=None, description="first card issued on or after / 新持卡人")
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)


class CampaignIn(BaseModel):
    code: Code
    kind: Literal["transit_rebate", "spend_reduction", "tourism_voucher"]
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    budget_fen: Fen
    starts_on: date
    ends_on: date
    rule: SpendReductionRule | RebateRule | VoucherRule
    eligibility: Eligibility = Eligibility()
    holder_limit_count: int | None = Field(default=None, ge=1, le=10_000)
    holder_limit_fen: Fen | None = None
    sponsor_code: Code | None = Field(default=None, description="the card centre names the sponsor / 出资方")


class StatusIn(BaseModel):
    status: Literal["active", "paused", "closed"]
    reason: str = Field(default="", max_length=200)


class MerchantIn(BaseModel):
    merchant_code: Code
    name_zh: str = Field(default="", max_length=200)
    name_en: str = Field(default="", max_length=200)


class RedeemIn(BaseModel):
    campaign_code: Code
    card_no: str = Field(min_length=1, max_length=32)
    order_fen: Fen = Field(description="the order before the discount / 订单金额（分）")
    order_ref: str | None = Field(default=None, max_length=64, description="the till's order number / 订单号")


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class GrantIn(BaseModel):
    person_id: int = Field(ge=1, le=2**63 - 1)


class ClaimIn(BaseModel):
    campaign_code: Code
    person_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class SettleIn(BaseModel):
    period: str = Field(min_length=7, max_length=7, description="YYYY-MM, a month that has ended")


class PaidIn(BaseModel):
    payment_reference: str = Field(min_length=1, max_length=64)


class DayOut(BaseModel):
    day: date
    redemptions: int
    discount_fen: int


class PayeeOut(BaseModel):
    payee_code: str
    redemptions: int
    discount_fen: int


class ReportOut(BaseModel):
    code: str
    budget_fen: int
    spent_fen: int
    left_fen: int
    redemptions: int
    reversed: int
    redeemed_fen: int
    reversed_fen: int
    holders: int
    by_day: list[DayOut]
    by_payee: list[PayeeOut]
    vouchers: dict[str, int]
    settled_fen: int
    paid_fen: int


CampaignOut = response_model(CampaignView, name="CampaignOut")
RedemptionOut = response_model(RedemptionView, name="RedemptionOut")
VoucherOut = response_model(VoucherView, name="VoucherOut")
SettlementOut = response_model(SettlementView, name="SettlementOut")
