"""The cardholder's card pages (mounted at the site root; see yikatong.pages): the card with
each function in words, the blocks in force, the expiry reminder and the holder's notices;
reporting a loss and unblocking online where the rules allow it, each with a confirmation step.

The loss and unblock forms go through the API's own idempotency (`cards.api.idempotent`, the
same scope and request as POST /api/v1/cards/{no}/loss and /unblock): the confirmation page
carries a fresh Idempotency-Key, so a form sent twice (a double click, a reload) reports the
loss once, and the page after the redirect shows the service's stored answer (the referral of
a formal loss) from that key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from yikatong.api.deps import ReadAccess, current_actor, platform_dep, read_access
from yikatong.cards import rules, service
from yikatong.cards.api import idempotent
from yikatong.cards.rules import CARD_STATES, KIND_NAMES, BlockKind
from yikatong.cards.schemas import LossIn, LossOut, Referral, UnblockIn, UnblockOut
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError
from yikatong.pages.rendering import render
from yikatong.people.guardians import children_of
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)
# The holder's home page: the hottest page, matched before the API's routes (api.app).
hot_router = APIRouter(include_in_schema=False)

NOTICES_SHOWN = 10
KEY_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


@dataclass(frozen=True)
class CardPage:
    """One card as the holder's page shows it: the service's view and what the rules allow."""

    card: service.CardView
    options: rules.LossOptions
    reminder_due: bool
    days_left: int
    back: str  # the page the card is shown on: the holder's own, or their child's


def back_to(actor: Actor, person_id: int | None) -> str:
    """The holder's page of a card of `person_id`: /me for their own, the child's page for a
    child they act for as guardian (people.guardians)."""
    if person_id is None or person_id == actor.person_id:
        return "/me"
    return f"/me/children/{person_id}"


@hot_router.get("/me")
async def my_cards(request: Request, access: ReadAccess = Depends(read_access)):
    """Every card of the signed-in holder, newest first: each function in words with the next
    step, the blocks in force, what may be done online, the expiry reminder; their notices;
    the children they act for as guardian (people.guardians).

    The holder's home page, so the hottest page: like the API's card read, one thread-pool
    hop, one pool checkout and one read-only transaction for the session's credential and
    every read (api.deps.ReadAccess), each read a plain select (no ORM session); the page is
    drawn in the same hop. Nothing is cached: every request reads the database."""
    return await run_in_threadpool(_my_cards_page, request, access)


def _my_cards_page(request: Request, access: ReadAccess):
    shown = access.read(partial(_home_reads, request))
    return render(request, "cards/my_cards.html", {**shown, **card_words()})


def _home_reads(request: Request, uow, actor: Actor) -> dict:
    from yikatong.notices.service import read_messages_of

    request.state.actor = actor  # the layout's menu (authorize leaves it to this read)
    if actor.person_id is None:  # a login not yet tied to a person has no card
        return {"cards": [], "notices": [], "children": []}
    today = local_date(uow.now())
    return {"cards": [card_page(view, actor, today)
                      for view in service.read_cards_of(uow=uow, person_id=actor.person_id)],
            "notices": read_messages_of(uow=uow, person_id=actor.person_id, limit=NOTICES_SHOWN),
            "children": children_of(uow=uow, actor=actor, day=today)}


def card_words() -> dict:
    """The vocabulary the card section (cards/card_section.html) shows a card with."""
    return {"card_states": CARD_STATES, "function_words": rules.function_words,
            "function_names": rules.FUNCTION_NAMES, "kind_names": KIND_NAMES,
            "family_name": rules.family_name, "channel_family": rules.channel_family}


def card_page(view: service.CardView, actor: Actor, today) -> CardPage:
    options = rules.loss_options(state=view.state, blocks_in_force=view.blocks_in_force,
                                 family=rules.channel_family(actor.channel))
    days_left = rules.days_until_financial_expiry(view.financial_valid_until, today)
    due = view.state == rules.CardState.IN_USE and rules.expiry_reminder_due(
        view.financial_valid_until, today)
    return CardPage(card=view, options=options, reminder_due=due, days_left=days_left,
                    back=back_to(actor, view.person_id))


# --- reporting a loss -------------------------------------------------------------------------


@router.get("/me/cards/{card_no}/loss")
def confirm_loss(request: Request, card_no: str, kind: str = "temporary",
                 actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    """The confirmation step: what the loss does, and the button that reports it."""
    kind = "formal" if kind == "formal" else "temporary"
    with platform.uow(read_only=True) as uow:
        card = card_page(service.get_card(uow=uow, card_no=card_no, actor=actor), actor,
                         local_date(uow.now()))
    return _loss_form(request, card, kind, error=None)


@router.post("/me/cards/{card_no}/loss")
def report_loss(request: Request, card_no: str,
                kind: str = Form(pattern="^(temporary|formal)$"),
                key: str = Form(pattern=KEY_PATTERN),
                actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    body = LossIn(kind=kind)
    try:
        with platform.uow() as uow:
            idempotent(uow, _loss_scope(actor), key, _loss_request(card_no, body),
                       lambda: _loss_out(uow, actor, card_no, body))
    except DomainError as error:
        with platform.uow(read_only=True) as uow:
            card = card_page(service.get_card(uow=uow, card_no=card_no, actor=actor), actor,
                             local_date(uow.now()))
        return _loss_form(request, card, kind, error=error, status_code=error.http_status)
    return RedirectResponse(f"/me/cards/{card_no}/loss/{key}?kind={kind}", status_code=303)


@router.get("/me/cards/{card_no}/loss/{key}")
def loss_reported(request: Request, card_no: str, key: str, kind: str = "temporary",
                  actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    """The service's answer to the report, replayed from its idempotency record: the card
    and, for a formal loss online, where the financial side must be reported."""
    body = LossIn(kind="formal" if kind == "formal" else "temporary")
    with platform.uow(read_only=True) as uow:
        stored = uow.replay(_loss_scope(actor), key, _loss_request(card_no, body))
    if stored is None:
        return RedirectResponse("/me", status_code=303)
    outcome = LossOut.model_validate(stored)
    return render(request, "cards/loss_reported.html", {
        "outcome": outcome, "kind_words": KIND_NAMES[_block_kind(body.kind)],
        "ends_at": outcome.card.hr_loss_ends_at, "back": back_to(actor, outcome.card.person_id)})


def _loss_form(request: Request, card: CardPage, kind: str, *, error: DomainError | None,
               status_code: int = 200):
    return render(request, "cards/report_loss.html", {
        "page": card, "kind": kind, "kind_words": KIND_NAMES[_block_kind(kind)],
        "allowed": _block_kind(kind) in card.options.report, "key": secrets.token_urlsafe(24),
        "error": error, "card_states": CARD_STATES}, status_code=status_code)


def _loss_out(uow, actor: Actor, card_no: str, body: LossIn) -> LossOut:
    """As POST /api/v1/cards/{no}/loss answers (the stored answer is the API's)."""
    from yikatong.cards.api import card_out

    outcome = service.report_loss(uow=uow, actor=actor, card_no=card_no, kind=body.kind,
                                  function=body.function, reason_code=body.reason_code,
                                  expected_version=body.expected_version)
    referral = (Referral(zh=outcome.referral_zh, en=outcome.referral_en)
                if outcome.referral_zh else None)
    return LossOut(card=card_out(outcome.card), referral=referral)


def _loss_scope(actor: Actor) -> str:
    return f"cards.loss:{actor.user_id}"  # the API's scope: a retry through either door replays


def _loss_request(card_no: str, body: LossIn) -> dict:
    return {"card_no": card_no, **body.model_dump()}


def _block_kind(kind: str) -> BlockKind:
    return rules.parse_loss_kind(kind)


# --- unblocking -----------------------------------------------------------------------------


@router.get("/me/cards/{card_no}/unblock")
def confirm_unblock(request: Request, card_no: str, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        card = card_page(service.get_card(uow=uow, card_no=card_no, actor=actor), actor,
                         local_date(uow.now()))
    return _unblock_form(request, card, error=None)


@router.post("/me/cards/{card_no}/unblock")
def unblock(request: Request, card_no: str, key: str = Form(pattern=KEY_PATTERN),
            actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    body = UnblockIn()
    try:
        with platform.uow() as uow:
            answer = idempotent(uow, f"cards.unblock:{actor.user_id}", key,
                       {"card_no": card_no, **body.model_dump()},
                       lambda: UnblockOut.model_validate(service.unblock(
                           uow=uow, actor=actor, card_no=card_no, function=body.function,
                           expected_version=body.expected_version)))
    except DomainError as error:
        with platform.uow(read_only=True) as uow:
            card = card_page(service.get_card(uow=uow, card_no=card_no, actor=actor), actor,
                             local_date(uow.now()))
        return _unblock_form(request, card, error=error, status_code=error.http_status)
    return RedirectResponse(back_to(actor, answer["card"]["person_id"]), status_code=303)


def _unblock_form(request: Request, card: CardPage, *, error: DomainError | None,
                  status_code: int = 200):
    return render(request, "cards/unblock.html", {
        "page": card, "key": secrets.token_urlsafe(24), "error": error,
        "kind_names": KIND_NAMES, "family_name": rules.family_name,
        "channel_family": rules.channel_family}, status_code=status_code)


# The 12333 agent's pages live in their own module; this domain's one web router carries them.
from yikatong.cards.agent_pages import router as agent_router  # noqa: E402 - after the holder's

router.include_router(agent_router)
