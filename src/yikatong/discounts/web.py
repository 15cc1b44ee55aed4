"""The pages of discount campaigns: the sponsor's `/sponsor/campaigns` (its campaigns, a new
one, a campaign's figures with the chart, merchants enrolled, status, monthly statements and
their payment), the merchant's `/merchant/discounts` (redeem at the till before charging the
card, refunds, its statements) and the holder's `/me/vouchers` (vouchers, claiming one). The
rules are discounts.service's, as the API's."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.discounts import rules, service
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)
CodePath = Path(min_length=1, max_length=32)
IdPath = Path(ge=1, le=2**63 - 1)


# --- the sponsor ----------------------------------------------------------------------------


@router.get("/sponsor/campaigns")
def sponsor_campaigns(request: Request, actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    return _sponsor_list(request, platform, actor)


@router.post("/sponsor/campaigns")
def sponsor_create(request: Request, code: str = Form(max_length=32), kind: str = Form(max_length=24),
                   name_zh: str = Form(max_length=200), name_en: str = Form(max_length=200),
                   budget_yuan: str = Form(max_length=16), starts_on: date = Form(), ends_on: date = Form(),
                   threshold_yuan: str = Form(default="", max_length=16),
                   reduction_yuan: str = Form(default="", max_length=16),
                   face_yuan: str = Form(default="", max_length=16),
                   min_order_yuan: str = Form(default="", max_length=16),
                   valid_days: int = Form(default=30, ge=1, le=366),
                   rate_percent: int = Form(default=0, ge=0, le=100),
                   holder_limit_count: int | None = Form(default=None, ge=1, le=10_000),
                   region: str = Form(default="", max_length=6),
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        if kind == rules.Kind.SPEND_REDUCTION:
            rule = {"tiers": [[_fen(threshold_yuan), _fen(reduction_yuan)]]}
        elif kind == rules.Kind.TOURISM_VOUCHER:
            rule = {"face_fen": _fen(face_yuan), "valid_days": valid_days,
                    "min_order_fen": _fen(min_order_yuan) if min_order_yuan.strip() else 0}
        else:
            rule = {"rate_bp": rate_percent * 100}
        with platform.uow() as uow:
            service.create_campaign(uow=uow, actor=actor, code=code, kind=kind, name_zh=name_zh,
                                    name_en=name_en, budget_fen=_fen(budget_yuan), starts_on=starts_on,
                                    ends_on=ends_on, rule=rule,
                                    eligibility={"regions": [region.strip()]} if region.strip() else {},
                                    holder_limit_count=holder_limit_count,
                                    sponsor_code=actor.branch_code or "CZ-HRSS")
    except DomainError as error:
        return _sponsor_list(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse(f"/sponsor/campaigns/{code.strip()}", status_code=303)


@router.get("/sponsor/campaigns/{campaign_code}")
def sponsor_campaign(request: Request, campaign_code: str = CodePath, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    return _sponsor_one(request, platform, actor, campaign_code)


@router.post("/sponsor/campaigns/{campaign_code}/merchants")
def sponsor_enrol(request: Request, campaign_code: str = CodePath, merchant_code: str = Form(max_length=32),
                  name_zh: str = Form(default="", max_length=200), actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    return _then_back(request, platform, actor, campaign_code, lambda uow: service.enrol_merchant(
        uow=uow, actor=actor, code=campaign_code, merchant_code=merchant_code, name_zh=name_zh), "#merchants")


@router.post("/sponsor/campaigns/{campaign_code}/status")
def sponsor_status(request: Request, campaign_code: str = CodePath, status: str = Form(max_length=16),
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _then_back(request, platform, actor, campaign_code, lambda uow: service.set_status(
        uow=uow, actor=actor, code=campaign_code, status=status), "")


@router.post("/sponsor/campaigns/{campaign_code}/settlements")
def sponsor_settle(request: Request, campaign_code: str = CodePath, period: str = Form(max_length=7),
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _then_back(request, platform, actor, campaign_code, lambda uow: service.settle(
        uow=uow, actor=actor, campaign_code=campaign_code, period=period), "#statements")


@router.post("/sponsor/settlements/{settlement_id}/paid")
def sponsor_paid(request: Request, settlement_id: int = IdPath,
                 payment_reference: str = Form(max_length=64), campaign_code: str = Form(max_length=32),
                 actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _then_back(request, platform, actor, campaign_code, lambda uow: service.mark_paid(
        uow=uow, actor=actor, settlement_id=settlement_id, payment_reference=payment_reference), "#statements")


# --- the merchant ---------------------------------------------------------------------------


@router.get("/merchant/discounts")
def merchant_page(request: Request, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    return _merchant(request, platform, actor)


@router.post("/merchant/discounts/redeem")
def merchant_redeem(request: Request, campaign_code: str = Form(max_length=32),
                    card_no: str = Form(max_length=32), order_yuan: str = Form(max_length=16),
                    order_ref: str = Form(default="", max_length=64),
                    idempotency_key: str = Form(default="", max_length=100),
                    actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            done = service.redeem(uow=uow, actor=actor, campaign_code=campaign_code, card_no=card_no,
                                  order_fen=_fen(order_yuan), order_ref=order_ref or None,
                                  idempotency_key=idempotency_key or uuid.uuid4().hex)
    except DomainError as error:
        return _merchant(request, platform, actor, error=error, status_code=error.http_status)
    return _merchant(request, platform, actor, done=done)


@router.post("/merchant/discounts/{redemption_id}/refund")
def merchant_refund(request: Request, redemption_id: int = IdPath, reason: str = Form(default="", max_length=200),
                    actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            service.refund(uow=uow, actor=actor, redemption_id=redemption_id, reason=reason)
    except DomainError as error:
        return _merchant(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse(f"/merchant/discounts#redemption-{redemption_id}", status_code=303)


# --- the holder -----------------------------------------------------------------------------


@router.get("/me/vouchers")
def my_vouchers(request: Request, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    return _holder(request, platform, actor)


@router.post("/me/vouchers")
def claim(request: Request, campaign_code: str = Form(max_length=32),
          idempotency_key: str = Form(default="", max_length=100),
          actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            service.claim_voucher(uow=uow, actor=actor, campaign_code=campaign_code,
                                  idempotency_key=idempotency_key or uuid.uuid4().hex)
    except DomainError as error:
        return _holder(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse("/me/vouchers#mine", status_code=303)


# --- rendering ------------------------------------------------------------------------------


def _fen(text: str) -> int:
    try:
        return parse_yuan(text or "")
    except ValueError:
        raise InvalidInput(reason_zh="金额须为元，最多两位小数",
                           reason_en="an amount is in yuan with at most two decimals") from None


def _then_back(request, platform, actor, code, change, anchor):
    try:
        with platform.uow() as uow:
            change(uow)
    except DomainError as error:
        return _sponsor_one(request, platform, actor, code, error=error, status_code=error.http_status)
    return RedirectResponse(f"/sponsor/campaigns/{code}{anchor}", status_code=303)


def _sponsor_list(request, platform, actor, *, error=None, status_code=200):
    with platform.uow(read_only=True) as uow:
        campaigns = service.campaigns(uow=uow, actor=actor)
        today = uow.now()
    return render(request, "discounts/sponsor_campaigns.html", {
        "campaigns": campaigns, "error": error, "kinds": rules.KIND_WORDS,
        "statuses": rules.STATUS_WORDS, "today": today}, status_code=status_code)


def _sponsor_one(request, platform, actor, code, *, error=None, status_code=200):
    with platform.uow(read_only=True) as uow:
        report = service.report(uow=uow, actor=actor, code=code)
        statements = service.statements(uow=uow, actor=actor, campaign_code=code)
        recent = service.redemptions(uow=uow, actor=actor, campaign_code=code, limit=20)
    return render(request, "discounts/sponsor_campaign.html", {
        "report": report, "c": report.campaign, "chart": service.report_chart(report),
        "statements": statements, "recent": recent, "error": error, "kinds": rules.KIND_WORDS,
        "statuses": rules.STATUS_WORDS}, status_code=status_code)


def _merchant(request, platform, actor, *, error=None, status_code=200, done=None):
    with platform.uow(read_only=True) as uow:
        campaigns = [c for c in service.campaigns(uow=uow, actor=actor)
                     if c.kind == rules.Kind.SPEND_REDUCTION]
        recent = service.redemptions(uow=uow, actor=actor, limit=50)
        statements = service.statements(uow=uow, actor=actor)
    return render(request, "discounts/merchant.html", {
        "campaigns": campaigns, "recent": recent, "statements": statements, "error": error,
        "done": done, "idempotency_key": uuid.uuid4().hex, "merchant_code": actor.branch_code or "",
        "statuses": rules.STATUS_WORDS}, status_code=status_code)


def _holder(request, platform, actor, *, error=None, status_code=200):
    with platform.uow(read_only=True) as uow:
        mine = service.vouchers_of(uow=uow, actor=actor)
        offers = [c for c in service.campaigns(uow=uow, actor=actor)
                  if c.kind == rules.Kind.TOURISM_VOUCHER and c.left_fen > 0]
    return render(request, "discounts/my_vouchers.html", {
        "vouchers": mine, "offers": offers, "error": error, "idempotency_key": uuid.uuid4().hex},
        status_code=status_code)
