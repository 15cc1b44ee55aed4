"""The library pages: the holder's `/me/library` (opt in to the reader card, loans with their
due dates and renewal, holds, fees, what blocks borrowing) and the librarian's `/library/desk`
(look a patron up by what they present, lend, take back, overdue loans, the collection). The
rules are library.service's, as the API's."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.library import rules, service
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)


# --- the holder ---------------------------------------------------------------------------


@router.get("/me/library")
def my_library(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    return _render_mine(request, platform, actor)


def _holder_change(request: Request, platform: Platform, actor: Actor, operation, **kwargs):
    try:
        with platform.uow() as uow:
            operation(uow=uow, actor=actor, **kwargs)
    except DomainError as error:
        return _render_mine(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse("/me/library", status_code=303)


@router.post("/me/library/opt-in")
def opt_in(request: Request, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    return _holder_change(request, platform, actor, service.opt_in)


@router.post("/me/library/opt-out")
def opt_out(request: Request, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    return _holder_change(request, platform, actor, service.opt_out)


@router.post("/me/library/renew")
def renew(request: Request, barcode: str = Form(min_length=1, max_length=32),
          actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _holder_change(request, platform, actor, service.holder_renew, barcode=barcode)


def _render_mine(request: Request, platform: Platform, actor: Actor, *,
                 error: DomainError | None = None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        mine = service.my_library(uow=uow, actor=actor)
    loan_rules = rules.rules_for()
    return render(request, "library/my_library.html", {
        "mine": mine, "error": error, "rules": loan_rules,
        "block_words": rules.BLOCK_WORDS}, status_code=status_code)


# --- the librarian's desk -----------------------------------------------------------------


@router.get("/library/desk")
def desk(request: Request, actor: Actor = Depends(current_actor),
         platform: Platform = Depends(platform_dep)):
    return _render_desk(request, platform, actor)


@router.post("/library/desk/patron")
def desk_patron(request: Request, patron: str = Form(min_length=1, max_length=512),
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _render_desk(request, platform, actor, identifier=patron)


@router.post("/library/desk/checkout")
def desk_checkout(request: Request, patron: str = Form(min_length=1, max_length=512),
                  barcode: str = Form(min_length=1, max_length=32),
                  actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            outcome = service.desk_checkout(uow=uow, actor=actor, identifier=patron,
                                            barcode=barcode.strip())
    except DomainError as error:
        return _render_desk(request, platform, actor, identifier=patron, error=error,
                            status_code=error.http_status)
    return _render_desk(request, platform, actor, identifier=patron, done=outcome)


@router.post("/library/desk/checkin")
def desk_checkin(request: Request, barcode: str = Form(min_length=1, max_length=32),
                 actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            outcome = service.desk_checkin(uow=uow, actor=actor, barcode=barcode.strip())
    except DomainError as error:
        return _render_desk(request, platform, actor, error=error, status_code=error.http_status)
    return _render_desk(request, platform, actor, done=outcome)


@router.post("/library/desk/items")
def desk_add_item(request: Request, barcode: str = Form(min_length=1, max_length=32),
                  title: str = Form(min_length=1, max_length=200),
                  author: str = Form(default="", max_length=120),
                  call_no: str = Form(default="", max_length=64),
                  location: str = Form(default="", max_length=64),
                  price_yuan: str = Form(default="", max_length=16),
                  actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            service.add_item(uow=uow, actor=actor, barcode=barcode, title=title, author=author,
                             call_no=call_no, location=location, price_fen=_fen(price_yuan))
    except DomainError as error:
        return _render_desk(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse("/library/desk#items", status_code=303)


def _fen(text: str) -> int:
    if not text.strip():
        return 0
    try:
        return parse_yuan(text)
    except ValueError:
        raise InvalidInput(reason_zh="金额须为元，最多两位小数",
                           reason_en="an amount is in yuan with at most two decimals") from None


def _render_desk(request: Request, platform: Platform, actor: Actor, *, identifier: str = "",
                 error: DomainError | None = None, done=None, status_code: int = 200):
    found = None
    with platform.uow(read_only=True) as uow:
        if identifier:
            try:
                found = service.patron(uow=uow, actor=actor, identifier=identifier)
            except DomainError as refused:
                if error is None:
                    error, status_code = refused, refused.http_status
        overdue = service.list_loans(uow=uow, actor=actor, overdue_only=True, limit=50)
        loans = service.list_loans(uow=uow, actor=actor, limit=50)
        items = service.list_items(uow=uow, actor=actor, limit=200)
    return render(request, "library/desk.html", {
        "patron": found, "identifier": identifier if found else "", "error": error, "done": done,
        "overdue": overdue, "loans": loans, "items": items, "library_code": actor.branch_code or "",
        "rules": rules.rules_for(actor.branch_code)},
        status_code=status_code)
