"""The 12333 phone agent's pages: identify the caller, read their card's status in words,
report a temporary loss by phone and unblock a loss reported by phone.

Every action is the cards service's own use case (identify_caller, report_loss, unblock), with
the actor's channel (the 12333 line) deciding what the rules allow, exactly as the API's
POST /cards/{card_no}/loss and /unblock. Lists show the person masked (core.masking). Mounted
by cards.web (one web module per domain).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.cards import service
from yikatong.cards.rules import (
    CARD_STATES,
    FINANCIAL_STATES,
    FUNCTION_NAMES,
    HR_STATES,
    KIND_NAMES,
    channel_family,
    family_name,
)
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.core.masking import mask_name, mask_ssn
from yikatong.pages.rendering import render
from yikatong.people.service import get_person
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

WORDS = {"card_states": CARD_STATES, "hr_states": HR_STATES, "financial_states": FINANCIAL_STATES,
         "function_names": FUNCTION_NAMES, "kind_names": KIND_NAMES}
DONE = {"loss", "unblock"}


def _identify_form(request: Request, *, answers: dict, error: DomainError | None = None):
    return render(request, "cards/agent_identify.html", {"answers": answers, "error": error},
                  status_code=error.http_status if error else 200)


@router.get("/agent")
def identify_form(request: Request, actor: Actor = Depends(current_actor)):
    return _identify_form(request, answers={})


@router.post("/agent/callers")
def identify(request: Request, id_number: str = Form(default="", max_length=32),
             name: str = Form(default="", max_length=60),
             phone_last4: str = Form(default="", max_length=4),
             card_no: str = Form(default="", max_length=16),
             actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    """The caller's answers as the agent typed them; a success is audited by the service."""
    try:
        with platform.uow() as uow:
            caller = service.identify_caller(uow=uow, actor=actor, id_number=id_number, name=name,
                                             phone_last4=phone_last4, card_no=card_no)
            uow.commit()
    except DomainError as error:
        # the answers come back for correction, the ID number too (the agent typed it)
        answers = {"id_number": id_number, "name": name, "phone_last4": phone_last4,
                   "card_no": card_no}
        return _identify_form(request, answers=answers, error=error)
    return RedirectResponse(f"/agent/callers/{caller.person_id}", status_code=303)


@router.get("/agent/callers/{person_id}")
def caller_cards(request: Request, person_id: int, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    """The identified caller's cards, newest first, the person masked (as GET /cards shows)."""
    with platform.uow(read_only=True) as uow:
        person = get_person(uow=uow, person_id=person_id)
        cards = service.list_cards(uow=uow, person_id=person_id)
    return render(request, "cards/agent_caller.html", {
        "person_id": person_id, "name_masked": mask_name(person.name),
        "ssn_masked": mask_ssn(person.ssn), "cards": cards, **WORDS})


def _card_page(request: Request, platform: Platform, actor: Actor, card_no: str, *,
               done: str | None = None, error: DomainError | None = None):
    with platform.uow(read_only=True) as uow:
        card = service.get_card(uow=uow, card_no=card_no, actor=actor)
    blocks = [(block, family_name(channel_family(block.channel))) for block in card.blocks_in_force]
    return render(request, "cards/agent_card.html", {
        "card": card, "blocks": blocks, "done": done if done in DONE else None, "error": error,
        **WORDS}, status_code=error.http_status if error else 200)


@router.get("/agent/cards/{card_no}")
def card_status(request: Request, card_no: str, done: str | None = None,
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _card_page(request, platform, actor, card_no, done=done)


@router.post("/agent/cards/{card_no}/loss")
def report_temporary_loss(request: Request, card_no: str, expected_version: int = Form(),
                          actor: Actor = Depends(current_actor),
                          platform: Platform = Depends(platform_dep)):
    """A temporary loss through the agent's channel (the rules choose the functions it covers);
    the card's version from the page guards against a second click or a change meanwhile."""
    return _act(request, platform, actor, card_no, "loss", service.report_loss,
                kind="temporary", expected_version=expected_version)


@router.post("/agent/cards/{card_no}/unblock")
def unblock(request: Request, card_no: str, expected_version: int = Form(),
            actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    """Unblock through the channel of the loss: a loss reported elsewhere is refused by the
    rules (四.7) with where to go instead."""
    return _act(request, platform, actor, card_no, "unblock", service.unblock,
                expected_version=expected_version)


def _act(request: Request, platform: Platform, actor: Actor, card_no: str, done: str,
         operation, **kwargs):
    try:
        with platform.uow() as uow:
            operation(uow=uow, actor=actor, card_no=card_no, **kwargs)
            uow.commit()
    except DomainError as error:
        return _card_page(request, platform, actor, card_no, error=error)
    return RedirectResponse(f"/agent/cards/{card_no}?done={done}", status_code=303)
