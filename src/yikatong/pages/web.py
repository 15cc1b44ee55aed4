"""The pages every person shares: the front page, signing in and out, the language switch.

Each domain's own pages are in its `web.py` (mounted at the site root like this one), written
the same way: a route in the access table (auth.access, "pages" sections), the service layer
called as the API calls it, and `render(request, "domain/page.html", {...})`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm

from yikatong.api.deps import current_actor, platform_dep
from yikatong.auth import service
from yikatong.auth.throttle import LoginAttempt, login_attempt
from yikatong.core.actor import Actor, Role
from yikatong.core.errors import DomainError
from yikatong.pages import i18n
from yikatong.pages.navigation import home_of
from yikatong.pages.rendering import render
from yikatong.pages.sessions import (
    SIGN_IN_PATH,
    end_session,
    safe_next,
    session_secret,
    session_ttl,
    start_session,
)
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


@router.get("/")
def front_page(request: Request):
    return render(request, "pages/front.html")


@router.get(SIGN_IN_PATH)
def sign_in_form(request: Request, next: str | None = None):  # noqa: A002 - the query's name
    return render(request, "pages/signin.html", {"next": safe_next(next, ""), "error": None,
                                                 "username": ""})


@router.post(SIGN_IN_PATH)
def sign_in(request: Request, next: str = Form(default="", max_length=2000),  # noqa: A002
            form: OAuth2PasswordRequestForm = Depends(),
            attempt: LoginAttempt = Depends(login_attempt),
            platform: Platform = Depends(platform_dep)):
    """The login throttle counts the attempt first (as POST /api/v1/auth/token does); a wrong
    password shows the form again with the same answer for every kind of failure."""
    try:
        with platform.uow() as uow:
            secret = service.login(uow=uow, username=form.username, password=form.password,
                                   ttl=session_ttl(platform.settings), kind="session")
            role = Role(service.find_user(uow=uow, username=form.username).role)
            uow.commit()
    except DomainError as error:
        return render(request, "pages/signin.html",
                      {"next": safe_next(next, ""), "error": error, "username": form.username},
                      status_code=error.http_status)
    attempt.succeeded()
    response = RedirectResponse(safe_next(next, home_of(role)), status_code=303)
    start_session(response, request, secret=secret, settings=platform.settings)
    return response


@router.post("/signout")
def sign_out(request: Request, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    """Ends the browser's session (a bearer token a program sent instead is left alone: it is
    ended at POST /api/v1/auth/logout)."""
    secret = session_secret(request)
    if secret is not None:
        with platform.uow() as uow:
            service.logout(uow=uow, actor=actor, token=secret)
            uow.commit()
    response = RedirectResponse("/", status_code=303)
    end_session(response, request, settings=platform.settings)
    return response


@router.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str | None = None):  # noqa: A002
    response = RedirectResponse(safe_next(next, "/"), status_code=303)
    if locale in i18n.LOCALES:
        response.set_cookie(i18n.LANGUAGE_COOKIE, locale, max_age=LANGUAGE_COOKIE_SECONDS,
                            path="/", samesite="lax", httponly=True)
    return response
