"""The cardholder's transit page: each card's wallet as the platform last saw it, its top-up
orders and refund, and an online top-up paid here and written at the card's next contact."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.cards.service import get_card
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.pages.rendering import render
from yikatong.platform import Platform
from yikatong.transit import rules, service, wallets
from yikatong.transit.protocols import Payer, PayerKind

router = APIRouter(include_in_schema=False)

PAYER_WORDS = {PayerKind.BANK_CARD: ("银行卡", "bank card"),
               PayerKind.E_WALLET: ("电子钱包（微信、支付宝、云闪付等）", "e-wallet (WeChat Pay, Alipay, QuickPass …)")}


@router.get("/me/transit")
def my_transit(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    return _render(request, platform, actor, {"idempotency_key": uuid.uuid4().hex})


@router.post("/me/transit/top-ups")
def top_up(request: Request, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep),
           card_no: str = Form(default="", max_length=16), amount_yuan: str = Form(default="", max_length=12),
           payer_kind: str = Form(default="", max_length=16),
           payer_reference: str = Form(default="", max_length=64),
           idempotency_key: str = Form(default="", max_length=128)):
    entered = {"card_no": card_no, "amount_yuan": amount_yuan, "payer_kind": payer_kind,
               "payer_reference": payer_reference, "idempotency_key": idempotency_key}
    try:
        with platform.uow(read_only=True) as uow:
            asn = get_card(uow=uow, card_no=card_no, actor=actor).asn  # only the holder's own
        order = service.create_top_up(
            platform=platform, actor=actor, idempotency_key=idempotency_key, asn=asn,
            amount=_fen(amount_yuan), payer=Payer(_payer_kind(payer_kind), payer_reference.strip()))
    except DomainError as error:
        return _render(request, platform, actor, entered, error=error, status_code=error.http_status)
    return RedirectResponse(f"/me/transit#order-{order.order_no}", status_code=303)


def _fen(text: str) -> int:
    try:
        return parse_yuan(text)
    except ValueError:
        raise InvalidInput(reason_zh="充值金额须为以元计的数字", reason_en="the amount must be a number of yuan") from None


def _payer_kind(text: str) -> PayerKind:
    if text not in PAYER_WORDS:
        raise InvalidInput(reason_zh="请选择付款方式", reason_en="choose how you pay")
    return PayerKind(text)


def _render(request: Request, platform: Platform, actor: Actor, entered: dict, *,
            error: DomainError | None = None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        holder_wallets = wallets.holder_wallets(uow=uow, actor=actor)
    limits = service.policy_of(platform).top_up
    form = {"card_no": "", "amount_yuan": "", "payer_kind": PayerKind.E_WALLET.value,
            "payer_reference": ""} | entered
    return render(request, "transit/my_transit.html", {
        "wallets": holder_wallets, "form": form, "error": error, "limits": limits,
        "order_states": rules.ORDER_STATES, "wallet_states": rules.WALLET_STATES,
        "refund_states": rules.REFUND_STATES, "channel_words": rules.CHANNEL_WORDS,
        "payer_words": PAYER_WORDS,
        "top_up_cards": [w.card_no for w in holder_wallets if w.seen and w.state == "open"]},
        status_code=status_code)
