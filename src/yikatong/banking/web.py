"""The cardholder's bank page: each card's account as its bank tells it through the platform's
BankGateway (cards.service.bank_statement, the seam's optional read), whichever bank that is.
It lives beside the reference bank's door because it is the one page about the bank account;
it reads nothing of the reference bank directly, so it shows a real bank the same way."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request

from yikatong.api.deps import current_actor, platform_dep
from yikatong.cards import service as cards
from yikatong.cards.protocols import (
    PAYMENT_KIND_WORDS,
    PAYMENT_STATUS_WORDS,
    AccountStatement,
    BankGateway,
)
from yikatong.cards.rules import FINANCIAL_STATES
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class AccountShown:
    card: cards.CardView
    statement: AccountStatement | None
    refusal: DomainError | None  # the bank does not offer the read, cannot be reached, or said no


@router.get("/me/bank")
def my_bank(request: Request, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    accounts = []
    if actor.person_id is not None:
        gateway = platform.get(BankGateway)
        with platform.uow(read_only=True) as uow:
            for card in cards.list_cards(uow=uow, person_id=actor.person_id):
                accounts.append(_account(uow, gateway, actor, card))
    return render(request, "banking/my_bank.html", {
        "accounts": accounts, "kind_words": PAYMENT_KIND_WORDS, "status_words": PAYMENT_STATUS_WORDS,
        "financial_states": FINANCIAL_STATES})


def _account(uow, gateway, actor: Actor, card: cards.CardView) -> AccountShown:
    try:
        statement = cards.bank_statement(uow=uow, gateway=gateway, actor=actor, card_no=card.card_no)
    except DomainError as error:  # per card: one bank's answer does not hide another card
        return AccountShown(card, None, error)
    return AccountShown(card, statement, None)
