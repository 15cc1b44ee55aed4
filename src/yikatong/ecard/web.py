"""The e-card's pages (mounted at the site root; see yikatong.pages).

The public check (`/ecard/verify`, no login): paste or scan a shown e-card code and learn
whether it is genuine and current, with masked data only (张*三, 320402********0013); the
JSON twin is `POST /api/v1/ecard/verify`. Checking does not use the code up.

The holder's e-card (`/me/ecard`): its state in words, the channel consents (grant and
withdraw), the e-card password, and the QR code: entering the password on a channel opens
the service's short password session there (ecard.rules.PASSWORD_SESSION), within which the
code part of the page (`/me/ecard/qr/code`) is fetched again by htmx every 60 s, each time a
fresh code issued by the same use case as POST /api/v1/ecard/qr, drawn by ecard.qr as an SVG
inside the page (our origin, no image service). Without scripts the page has a link for a new
code instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.auth.throttle import throttled
from yikatong.core.actor import Actor
from yikatong.core.clock import CST
from yikatong.core.errors import DomainError
from yikatong.crypto.protocols import KeyStore
from yikatong.ecard import qr, service
from yikatong.ecard.errors import EcardNotFound
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

CHANNEL = r"^[a-z0-9_]{1,40}$"
REFRESH_SECONDS = 60


# --- the public check ---------------------------------------------------------------------


@router.get("/ecard/verify")
def verify_form(request: Request):
    return render(request, "ecard/verify.html", {"result": None, "token": ""})


@router.post("/ecard/verify", dependencies=[throttled("ecard_check")])
def verify_submitted(request: Request, token: str = Form(default="", max_length=400),
                     platform: Platform = Depends(platform_dep)):
    token = token.strip()
    with platform.uow(read_only=True) as uow:
        result = service.verify_token(uow=uow, token=token, keys=platform.get(KeyStore))
    return render(request, "ecard/verify.html", {
        "result": result, "token": token, "expires_local": _seconds(result.expires_at)})


def _seconds(moment) -> str | None:
    """A code lives 60 s: its end is shown to the second, in Beijing time."""
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S") if moment else None


# --- the holder's e-card ----------------------------------------------------------------------


@router.get("/me/ecard")
def my_ecard(request: Request, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    return _ecard_page(request, actor, platform, error=None)


@router.post("/me/ecard/channels/{channel}/consent")
def grant_consent(request: Request, channel: str, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    return _change(request, actor, platform, service.grant_consent, channel=channel,
                   keys=platform.get(KeyStore))


@router.post("/me/ecard/channels/{channel}/withdraw")
def withdraw_consent(request: Request, channel: str, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    return _change(request, actor, platform, service.withdraw_consent, channel=channel,
                   keys=platform.get(KeyStore))


@router.post("/me/ecard/password")
def set_password(request: Request, new_password: str = Form(max_length=64),
                 old_password: str = Form(default="", max_length=64),
                 actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    return _change(request, actor, platform, service.set_password, new_password=new_password,
                   old_password=old_password or None)


@router.post("/me/ecard/qr")
def open_qr(request: Request, channel: str = Form(pattern=CHANNEL),
            password: str = Form(max_length=64), actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    """The password opens the channel's password session; the code page then shows codes."""
    try:
        with platform.uow() as uow:
            service.issue_qr(uow=uow, actor=actor, channel=channel, password=password,
                             keys=platform.get(KeyStore))
    except DomainError as error:
        return _ecard_page(request, actor, platform, error=error, status_code=error.http_status)
    return RedirectResponse(f"/me/ecard/qr?channel={channel}", status_code=303)


@router.get("/me/ecard/qr")
def qr_page(request: Request, channel: str, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    code = _fresh_code(actor, platform, channel)
    return render(request, "ecard/qr.html", {**code, "channel": channel},
                  status_code=_status(code["error"]))


@router.get("/me/ecard/qr/code")
def qr_code(request: Request, channel: str, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    """The code part alone, for htmx. A refusal (the password session ended) is answered
    200 here: htmx swaps in only 2xx answers, and the refusal must replace the expired code
    (its fragment carries no polling, so the page stops asking)."""
    code = _fresh_code(actor, platform, channel)
    return render(request, "ecard/qr_code.html", {**code, "channel": channel})


def _fresh_code(actor: Actor, platform: Platform, channel: str) -> dict:
    try:
        with platform.uow() as uow:
            issued = service.issue_qr(uow=uow, actor=actor, channel=channel,
                                      keys=platform.get(KeyStore))
    except DomainError as error:
        return {"issued": None, "svg": None, "error": error, "refresh": REFRESH_SECONDS}
    return {"issued": issued, "svg": qr.render_svg(issued.token, scale=5).decode(),
            "error": None, "refresh": REFRESH_SECONDS, "expires_local": _seconds(issued.expires_at)}


def _status(error: DomainError | None) -> int:
    return error.http_status if error is not None else 200


def _change(request: Request, actor: Actor, platform: Platform, operation, **kwargs):
    """One holder use case (it commits itself), then back to the e-card page; a refusal is
    shown on the page with its status, nothing changed."""
    try:
        with platform.uow() as uow:
            operation(uow=uow, actor=actor, **kwargs)
    except DomainError as error:
        return _ecard_page(request, actor, platform, error=error, status_code=error.http_status)
    return RedirectResponse("/me/ecard", status_code=303)


def _ecard_page(request: Request, actor: Actor, platform: Platform, *,
                error: DomainError | None, status_code: int = 200):
    ecard = None
    if actor.person_id is not None:
        try:
            with platform.uow(read_only=True) as uow:
                ecard = service.get_ecard(uow=uow, person_id=actor.person_id)
        except EcardNotFound:
            ecard = None  # no card applied for yet: the page says so
    return render(request, "ecard/my_ecard.html", {"ecard": ecard, "error": error},
                  status_code=status_code)
