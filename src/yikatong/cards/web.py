"""The cardholder's card pages (mounted at the site root; see yikatong.pages)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from yikatong.api.deps import current_actor, platform_dep
from yikatong.cards import service
from yikatong.cards.rules import CARD_STATES, FINANCIAL_STATES
from yikatong.core.actor import Actor
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)


@router.get("/me")
def my_cards(request: Request, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    """Every card of the signed-in holder, newest first, each function's status in words."""
    cards = []
    if actor.person_id is not None:  # a login not yet tied to a person has no card
        with platform.uow(read_only=True) as uow:
            cards = service.list_cards(uow=uow, person_id=actor.person_id)
    return render(request, "cards/my_cards.html", {
        "cards": cards, "card_states": CARD_STATES, "financial_states": FINANCIAL_STATES})


# The 12333 agent's pages live in their own module; this domain's one web router carries them.
from yikatong.cards.agent_pages import router as agent_router  # noqa: E402 - after the holder's

router.include_router(agent_router)
