"""The discounts API under /api/v1/discounts: a sponsor (Role.CAMPAIGN_SPONSOR) runs its
campaigns (merchants, vouchers granted, report and chart, settlement statements); a merchant's
till (Role.MERCHANT) redeems before charging the card, with an Idempotency-Key, and refunds; a
holder claims and lists vouchers. The rules are discounts.service's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response

from yikatong.api.deps import Offset, RowId, current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.core.actor import Actor
from yikatong.discounts import service
from yikatong.discounts.schemas import (
    CampaignIn,
    CampaignOut,
    ClaimIn,
    DayOut,
    GrantIn,
    MerchantIn,
    PaidIn,
    PayeeOut,
    ReasonIn,
    RedeemIn,
    RedemptionOut,
    ReportOut,
    SettleIn,
    SettlementOut,
    StatusIn,
    VoucherOut,
)
from yikatong.platform import Platform

router = APIRouter(prefix="/discounts", tags=["discounts 优惠活动"])
CampaignCode = Annotated[str, Path(min_length=1, max_length=32)]
Key = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=100,
                            description="the same key again redeems nothing twice / 幂等键")]
Limit = Annotated[int, Query(ge=1, le=500)]


# --- campaigns (sponsor) ----------------------------------------------------------------


@router.get("/campaigns", response_model=list[CampaignOut],
            summary="Campaigns in my scope / 优惠活动列表")
def list_campaigns(status: Annotated[str | None, Query(max_length=16)] = None,
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [CampaignOut.model_validate(c) for c in service.campaigns(uow=uow, actor=actor, status=status)]


@router.post("/campaigns", response_model=CampaignOut, status_code=201,
             summary="Open a campaign (idempotent by code) / 创建优惠活动")
def create_campaign(body: CampaignIn, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return CampaignOut.model_validate(service.create_campaign(
            uow=uow, actor=actor, code=body.code, kind=body.kind, name_zh=body.name_zh,
            name_en=body.name_en, budget_fen=body.budget_fen, starts_on=body.starts_on,
            ends_on=body.ends_on, rule=body.rule.model_dump(exclude_none=True),
            eligibility=body.eligibility.model_dump(exclude_none=True, exclude_defaults=True, mode="json"),
            holder_limit_count=body.holder_limit_count, holder_limit_fen=body.holder_limit_fen,
            sponsor_code=body.sponsor_code))


@router.get("/campaigns/{campaign_code}", response_model=CampaignOut, summary="A campaign / 优惠活动")
def get_campaign(campaign_code: CampaignCode, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return CampaignOut.model_validate(service.campaign(uow=uow, actor=actor, code=campaign_code))


@router.post("/campaigns/{campaign_code}/status", response_model=CampaignOut,
             summary="Pause, resume or close a campaign / 暂停、恢复或结束活动")
def set_status(campaign_code: CampaignCode, body: StatusIn, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return CampaignOut.model_validate(service.set_status(
            uow=uow, actor=actor, code=campaign_code, status=body.status, reason=body.reason))


@router.post("/campaigns/{campaign_code}/merchants", response_model=CampaignOut,
             summary="Enrol a merchant in a campaign / 商户报名活动")
def enrol_merchant(campaign_code: CampaignCode, body: MerchantIn, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return CampaignOut.model_validate(service.enrol_merchant(
            uow=uow, actor=actor, code=campaign_code, merchant_code=body.merchant_code,
            name_zh=body.name_zh, name_en=body.name_en))


@router.get("/campaigns/{campaign_code}/report", response_model=ReportOut,
            summary="A campaign's figures / 活动报表")
def campaign_report(campaign_code: CampaignCode, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        r = service.report(uow=uow, actor=actor, code=campaign_code)
    c = r.campaign
    return ReportOut(code=c.code, budget_fen=c.budget_fen, spent_fen=c.spent_fen, left_fen=c.left_fen,
                     redemptions=r.redemptions, reversed=r.reversed, redeemed_fen=r.redeemed_fen,
                     reversed_fen=r.reversed_fen, holders=r.holders,
                     by_day=[DayOut(day=d, redemptions=n, discount_fen=f) for d, n, f in r.by_day],
                     by_payee=[PayeeOut(payee_code=p, redemptions=n, discount_fen=f) for p, n, f in r.by_payee],
                     vouchers=r.vouchers, settled_fen=r.settled_fen, paid_fen=r.paid_fen)


@router.get("/campaigns/{campaign_code}/chart.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}},
            summary="The campaign's discounts per day as SVG / 每日优惠金额图")
def campaign_chart(campaign_code: CampaignCode, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        chart = service.report_chart(service.report(uow=uow, actor=actor, code=campaign_code))
    svg = str(chart).split("<ul", 1)[0]  # the chart alone, without its HTML legend
    return Response(svg, media_type="image/svg+xml")


@router.post("/campaigns/{campaign_code}/vouchers", response_model=VoucherOut, status_code=201,
             summary="Grant a holder a tourism voucher / 发放旅游抵扣券")
def grant_voucher(campaign_code: CampaignCode, body: GrantIn, idempotency_key: Key,
                  actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return VoucherOut.model_validate(service.grant_voucher(
            uow=uow, actor=actor, campaign_code=campaign_code, person_id=body.person_id,
            idempotency_key=idempotency_key))


@router.post("/campaigns/{campaign_code}/settlements", response_model=list[SettlementOut], status_code=201,
             summary="State a month's settlement, one statement per merchant / 按月出具结算单")
def settle(campaign_code: CampaignCode, body: SettleIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [SettlementOut.model_validate(s) for s in service.settle(
            uow=uow, actor=actor, campaign_code=campaign_code, period=body.period)]


@router.get("/settlements", response_model=list[SettlementOut],
            summary="Settlement statements in my scope / 结算单")
def list_statements(campaign_code: Annotated[str | None, Query(max_length=32)] = None,
                    actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [SettlementOut.model_validate(s) for s in service.statements(
            uow=uow, actor=actor, campaign_code=campaign_code)]


@router.post("/settlements/{settlement_id}/paid", response_model=SettlementOut,
             summary="Record that the sponsor paid a statement / 登记结算付款")
def mark_paid(settlement_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: PaidIn,
              actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return SettlementOut.model_validate(service.mark_paid(
            uow=uow, actor=actor, settlement_id=settlement_id, payment_reference=body.payment_reference))


# --- the till (merchant) ------------------------------------------------------------------


@router.post("/redemptions", response_model=RedemptionOut, status_code=201,
             summary="Redeem a campaign at the till before charging the card / 收银核销满减")
def redeem(body: RedeemIn, idempotency_key: Key, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return RedemptionOut.model_validate(service.redeem(
            uow=uow, actor=actor, campaign_code=body.campaign_code, card_no=body.card_no,
            order_fen=body.order_fen, idempotency_key=idempotency_key, order_ref=body.order_ref))


@router.get("/redemptions", response_model=list[RedemptionOut], responses=problems(404),
            summary="Redemptions in my scope (newest first) / 核销记录")
def list_redemptions(campaign_code: Annotated[str | None, Query(max_length=32)] = None,
                     limit: Limit = 100, offset: Annotated[Offset, Query()] = 0,
                     actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [RedemptionOut.model_validate(r) for r in service.redemptions(
            uow=uow, actor=actor, campaign_code=campaign_code, limit=limit, offset=offset)]


@router.post("/redemptions/{redemption_id}/refund", response_model=RedemptionOut,
             summary="Reverse a redemption on a refund / 退款冲正")
def refund(redemption_id: Annotated[RowId, Path()], body: ReasonIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return RedemptionOut.model_validate(service.refund(
            uow=uow, actor=actor, redemption_id=redemption_id, reason=body.reason))


# --- the holder -----------------------------------------------------------------------------


@router.get("/me/vouchers", response_model=list[VoucherOut], responses=problems(404),
            summary="My vouchers / 我的抵扣券")
def my_vouchers(person_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [VoucherOut.model_validate(v) for v in service.vouchers_of(
            uow=uow, actor=actor, person_id=person_id)]


@router.post("/me/vouchers", response_model=VoucherOut, status_code=201,
             summary="Claim a tourism voucher / 领取旅游抵扣券")
def claim_voucher(body: ClaimIn, idempotency_key: Key, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return VoucherOut.model_validate(service.claim_voucher(
            uow=uow, actor=actor, campaign_code=body.campaign_code, idempotency_key=idempotency_key,
            person_id=body.person_id))


@router.post("/vouchers/expire", response_model=list[str],
             summary="Expire unused vouchers past their last day (job) / 过期抵扣券回收")
def expire_vouchers(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return service.expire_vouchers(uow=uow, actor=actor)
