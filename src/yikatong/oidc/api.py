"""Holder-facing real-name sign-in: start a login at the provider, finish it at the callback.

Both routes are public (the person has no account yet). The login's secret lives in an
HttpOnly cookie scoped to these routes; state, nonce and the PKCE verifier are derived from it
(rules.login_parameters), so the platform keeps no login state and a callback only finishes
the login of the browser or app that started it.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from fastapi import APIRouter, Cookie, Depends, Query, Request, Response

from yikatong.api.deps import platform_dep
from yikatong.api.problems import problems
from yikatong.applications.protocols import IdentityAuthenticator
from yikatong.oidc import rules
from yikatong.oidc.client import OidcIdentityAuthenticator, TokenRefused
from yikatong.oidc.errors import (
    LoginExpired,
    LoginStateMismatch,
    NoLoginInProgress,
    RealNameLoginNotConfigured,
    RealNameLoginRefused,
)
from yikatong.oidc.schemas import LoginStartOut, RealNameEvidenceOut
from yikatong.platform import Platform

router = APIRouter(prefix="/oidc", tags=["real-name sign-in 实名认证登录"])

COOKIE = "ykt_oidc_login"
COOKIE_PATH = "/api/v1/oidc"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _authenticator(platform: Platform) -> OidcIdentityAuthenticator:
    authenticator = platform.get(IdentityAuthenticator)
    if not isinstance(authenticator, OidcIdentityAuthenticator):
        raise RealNameLoginNotConfigured()
    return authenticator


def _redirect_uri(request: Request, authenticator: OidcIdentityAuthenticator) -> str:
    return authenticator.config.redirect_uri or str(request.url_for("oidc_callback"))


@router.post("/login", response_model=LoginStartOut, status_code=201, responses=problems(404),
             summary="Start real-name sign-in at the provider (public) / 发起实名认证登录")
def start_login(request: Request, response: Response,
                platform: Platform = Depends(platform_dep)):
    authenticator = _authenticator(platform)
    secret = rules.new_login_secret(int(platform.clock.now().timestamp()))
    login = rules.login_parameters(secret)
    url = authenticator.provider.authorization_url(
        redirect_uri=_redirect_uri(request, authenticator), login=login)
    response.set_cookie(COOKIE, secret, max_age=rules.LOGIN_TTL_SECONDS, path=COOKIE_PATH,
                        httponly=True, samesite="lax", secure=_secure(request, platform))
    response.headers.update(NO_STORE)
    return LoginStartOut(authorization_url=url, expires_in=rules.LOGIN_TTL_SECONDS)


@router.get("/callback", name="oidc_callback", response_model=RealNameEvidenceOut,
            responses=problems(400, 404),
            summary="Finish real-name sign-in: the provider's ID token as sign-up evidence "
                    "(public) / 实名认证回调")
def finish_login(
    request: Request, response: Response,
    code: str | None = Query(default=None, max_length=512),
    state: str | None = Query(default=None, max_length=256),
    error: str | None = Query(default=None, max_length=64),
    login_secret: str | None = Cookie(default=None, alias=COOKIE, max_length=128),
    platform: Platform = Depends(platform_dep),
):
    authenticator = _authenticator(platform)
    login = rules.login_parameters(login_secret) if login_secret else None
    if login is None:
        raise NoLoginInProgress()
    if not state or not hmac.compare_digest(state, login.state):
        raise LoginStateMismatch()
    now = platform.clock.now()
    if rules.login_expired(login.started_at, int(now.timestamp())):
        raise LoginExpired()
    if error or not code:  # the person cancelled, or the provider refused to authenticate
        reason = error or "no_code"
        raise RealNameLoginRefused(reason_zh=f"实名认证服务未完成认证（{reason}）",
                                   reason_en=f"the provider did not authenticate ({reason})")
    id_token = authenticator.provider.redeem_code(
        code=code, redirect_uri=_redirect_uri(request, authenticator),
        code_verifier=login.code_verifier)
    try:
        claims = authenticator.verify_id_token(id_token, nonce=login.nonce)
    except TokenRefused as refusal:
        raise RealNameLoginRefused(reason_zh=refusal.reason_zh,
                                   reason_en=refusal.reason_en) from None
    config = authenticator.config
    name, number = claims.get(config.name_claim), claims.get(config.id_number_claim)
    if not isinstance(name, str) or not isinstance(number, str):
        refusal = TokenRefused("missing_claim")
        raise RealNameLoginRefused(reason_zh=refusal.reason_zh, reason_en=refusal.reason_en)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax",
                           secure=_secure(request, platform))
    response.headers.update(NO_STORE)
    return RealNameEvidenceOut(
        evidence=id_token, name=name, id_number=number,
        expires_at=_evidence_expiry(claims, config.max_token_age_seconds))


def _secure(request: Request, platform: Platform) -> bool:
    """Secure cookies over https, and always in production (where TLS may end at a proxy in
    front of us, so the request we see says http)."""
    return request.url.scheme == "https" or platform.settings.is_production


def _evidence_expiry(claims: dict, max_age: int) -> datetime:
    """When the platform stops accepting this token: its exp, or its iat plus the age limit."""
    return datetime.fromtimestamp(min(claims["exp"], claims["iat"] + max_age), tz=UTC)
