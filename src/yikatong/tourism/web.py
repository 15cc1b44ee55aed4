"""The pages of tourism: the holder's `/me/tickets` (tickets and passes, buying a day ticket or
a pass from the card's bank account with a one-off confirmation, activating a pass, refunding
an unused one; a guardian chooses a child in their care with `?person_id=`), and `/venue` for
venue staff (Role.VENUE_OPERATOR: their operator's venues — the day's report, the month's
statement (entries and revenue, with the venue's shares of multi-venue passes), tickets with
refunds, entries, an online check at the desk). The
rules are tourism.service's, as the API's."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.pages.rendering import render
from yikatong.people import guardians
from yikatong.platform import Platform
from yikatong.tourism import rules, service, settlement

router = APIRouter(include_in_schema=False)
PersonQuery = Query(default=None, ge=1, le=2**63 - 1)
TicketPath = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")
VenueQuery = Query(default=None, max_length=32)
DayQuery = Query(default=None, max_length=10)


# --- the holder --------------------------------------------------------------------------


@router.get("/me/tickets")
def my_tickets(request: Request, person_id: int | None = PersonQuery, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    return _render(request, platform, actor, person_id or actor.person_id)


@router.post("/me/tickets/buy")
def buy(request: Request, person_id: int | None = PersonQuery, product_code: str = Form(max_length=32),
        day: str = Form(default="", max_length=10), slot: str = Form(default="", max_length=11),
        idempotency_key: str = Form(default="", max_length=100), confirm: str = Form(default=""),
        voucher_ref: str = Form(default="", max_length=32), actor: Actor = Depends(current_actor),
        platform: Platform = Depends(platform_dep)):
    person = person_id or actor.person_id or 0
    try:
        with platform.uow() as uow:
            ticket = service.sell(uow=uow, actor=actor, product_code=product_code, person_id=person,
                                  idempotency_key=idempotency_key or uuid.uuid4().hex, day=_parse_day(day),
                                  slot=slot or None, payment="bank", confirmed=confirm == "yes",
                                  voucher_ref=voucher_ref.strip() or None)
    except DomainError as error:
        return _render(request, platform, actor, person, error=error, status_code=error.http_status)
    return RedirectResponse(_back(actor, person) + f"#ticket-{ticket.ticket_no}", status_code=303)


@router.post("/me/tickets/{ticket_no}/activate")
def activate(request: Request, ticket_no: str = TicketPath, person_id: int | None = PersonQuery,
             actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    person = person_id or actor.person_id or 0
    try:
        with platform.uow() as uow:
            service.activate_pass(uow=uow, actor=actor, ticket_no=ticket_no)
    except DomainError as error:
        return _render(request, platform, actor, person, error=error, status_code=error.http_status)
    return RedirectResponse(_back(actor, person) + f"#ticket-{ticket_no}", status_code=303)


@router.post("/me/tickets/{ticket_no}/refund")
def refund(request: Request, ticket_no: str = TicketPath, person_id: int | None = PersonQuery,
           reason: str = Form(default="", max_length=200), actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    person = person_id or actor.person_id or 0
    try:
        with platform.uow() as uow:
            service.refund(uow=uow, actor=actor, ticket_no=ticket_no, reason=reason)
    except DomainError as error:
        return _render(request, platform, actor, person, error=error, status_code=error.http_status)
    return RedirectResponse(_back(actor, person) + f"#ticket-{ticket_no}", status_code=303)


# --- venue staff -------------------------------------------------------------------------


@router.get("/venue")
def venue_page(request: Request, venue: str | None = VenueQuery, day: str | None = DayQuery,
               actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        chosen = _parse_day(day or "")
    except DomainError as error:
        return _venue_render(request, platform, actor, venue, None, error=error, status_code=error.http_status)
    return _venue_render(request, platform, actor, venue, chosen)


@router.post("/venue/admit")
def venue_admit(request: Request, venue: str = Form(max_length=32), card_no: str = Form(default="", max_length=9),
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        if not card_no.strip():
            raise InvalidInput(reason_zh="请输入卡号", reason_en="enter the card number")
        with platform.uow() as uow:
            decision = service.admit(uow, actor, venue, "DESK", card_no=card_no.strip(),
                                     entry_id=f"DESK-{uuid.uuid4().hex[:20]}")
    except DomainError as error:
        return _venue_render(request, platform, actor, venue, None, error=error, status_code=error.http_status)
    return _venue_render(request, platform, actor, venue, None, decision=decision)


@router.post("/venue/tickets/{ticket_no}/refund")
def venue_refund(request: Request, ticket_no: str = TicketPath, venue: str = Form(max_length=32),
                 reason: str = Form(default="", max_length=200), actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            service.refund(uow=uow, actor=actor, ticket_no=ticket_no, reason=reason)
    except DomainError as error:
        return _venue_render(request, platform, actor, venue, None, error=error, status_code=error.http_status)
    return RedirectResponse(f"/venue?venue={venue}#tickets", status_code=303)


# --- rendering ---------------------------------------------------------------------------


def _parse_day(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="the day must be YYYY-MM-DD") from None


def _back(actor: Actor, person_id: int) -> str:
    return "/me/tickets" if person_id == actor.person_id else f"/me/tickets?person_id={person_id}"


def _render(request: Request, platform: Platform, actor: Actor, person_id: int | None, *,
            error: DomainError | None = None, status_code: int = 200):
    person = person_id or 0
    with platform.uow(read_only=True) as uow:
        try:
            tickets = service.tickets_of(uow=uow, actor=actor, person_id=person)
        except DomainError as refused:
            tickets, error = [], error or refused
            status_code = refused.http_status if status_code == 200 else status_code
        products = service.products(uow=uow)
        venues = {v.code: v for v in service.venues(uow=uow)}
        today = local_date(uow.now())
        children = guardians.children_of(uow=uow, actor=actor)
    return render(request, "tourism/my_tickets.html", {
        "tickets": tickets, "products": products, "venues": venues, "error": error, "today": today,
        "person_query": "" if person == actor.person_id else f"?person_id={person}",
        "kind_words": rules.KIND_WORDS, "status_words": rules.STATUS_WORDS,
        "idempotency_key": uuid.uuid4().hex, "children": children, "person_id": person,
        "self_id": actor.person_id}, status_code=status_code)


def _venue_render(request: Request, platform: Platform, actor: Actor, venue_code: str | None, day: date | None, *,
                  error: DomainError | None = None, decision=None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        mine = service.venues(uow=uow, actor=actor)
        today = local_date(uow.now())
        day = day or today
        chosen = next((v for v in mine if v.code == venue_code), mine[0] if mine else None)
        report = tickets = entries = products = statement = None
        if chosen is not None:
            report = service.venue_day_report(uow=uow, actor=actor, venue_code=chosen.code, day=day)
            first = day.replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            statement = settlement.venue_statement(uow=uow, actor=actor, venue_code=chosen.code,
                                                   period_from=first, period_to=last)
            tickets = service.venue_tickets(uow=uow, actor=actor, venue_code=chosen.code, day=day)
            entries = service.venue_entries(uow=uow, actor=actor, venue_code=chosen.code, day=day, limit=50)
            products = [p for p in service.products(uow=uow, venue_code=chosen.code)
                        if p.operator_code == chosen.operator_code]
    return render(request, "tourism/venue.html", {
        "venues": mine, "venue": chosen, "day": day, "today": today, "report": report, "statement": statement,
        "tickets": tickets or [],
        "entries": entries or [], "products": products or [], "error": error, "decision": decision,
        "status_words": rules.STATUS_WORDS, "kind_words": rules.KIND_WORDS,
        "refusal_words": rules.REFUSAL_WORDS}, status_code=status_code)
