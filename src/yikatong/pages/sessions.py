"""Browser sessions and CSRF protection for the pages; the JSON API keeps its tokens.

A person signs in at /signin with the password of their login (a holder's login is the one
bound to them by proof: docs/account-binding.md). The platform issues a credential of kind
`session` (auth.service.login; stored as a hash, revoked at sign-out, by a password change and
by deactivation, like a bearer token) and sets it as the `ykt_session` cookie:

* HttpOnly: no script of the page can read it;
* SameSite=Lax: another site's form or script cannot send it (a link followed into the site
  still arrives signed in);
* Secure: in production, and whenever the request came over HTTPS. A development server on
  http://127.0.0.1 would otherwise never receive its own cookie back.

The cookie is a credential on pages only: `api.deps` reads it for paths outside /api/, where
the access table then decides as for any credential. The API never reads it, so a page's
cookie cannot be used to call the API from another site.

Every form a page sends (POST, PUT, PATCH, DELETE outside /api/) carries a CSRF token: the
signed double-submit cookie of `asgi-csrf` (Datasette's, maintained), with the token in the
form's first field `csrf_token` (the `csrf_field()` of every form) or, for htmx requests, the
`X-CSRF-Token` header that the layout sets for every htmx request. The sign-in form is always
checked, even from a browser without cookies (login CSRF). A request that fails the check is
refused with 403 `csrf_failed` and changes nothing.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from asgi_csrf import (  # its signer's classes too: the multipart check signs as it does
    DEFAULT_SIGNING_NAMESPACE,
    SCOPE_KEY,
    BadSignature,
    URLSafeSerializer,
    asgi_csrf_decorator,
    cookies_from_scope,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from yikatong.core.errors import DomainError

SESSION_COOKIE = "ykt_session"
CSRF_COOKIE = "ykt_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# A development-only secret (it is public: production refuses to start with it or without one).
DEVELOPMENT_PAGE_SECRET = "yikatong-development-page-secret-not-for-production"
MIN_PAGE_SECRET_LENGTH = 32
SIGN_IN_PATH = "/signin"
# Paths served by the API and its documentation: never a page, never the cookie.
NOT_PAGES = ("/api/", "/openapi.json", "/docs", "/redoc", "/healthz", "/readyz", "/metrics")


class CsrfFailed(DomainError):
    code = "csrf_failed"
    http_status = 403
    zh = "表单已过期或来源不明，请刷新页面后重试"
    en = "The form has expired or did not come from this site; reload the page and try again"


def is_page_path(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


def session_secret(request: Request) -> str | None:
    """The session cookie, the credential of a page request (None on an API path)."""
    if not is_page_path(request.url.path):
        return None
    return request.cookies.get(SESSION_COOKIE) or None


def session_ttl(settings) -> timedelta:
    return timedelta(minutes=settings.token_ttl_minutes)


def start_session(response: Response, request: Request, *, secret: str, settings) -> None:
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=int(session_ttl(settings).total_seconds()), path="/",
        httponly=True, samesite="lax", secure=_secure(request, settings))


def end_session(response: Response, request: Request, *, settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=_secure(request, settings))


def _secure(request: Request, settings) -> bool:
    return settings.is_production or request.url.scheme == "https"


def csrf_token(request: Request) -> str:
    """The token a page's form carries (asgi-csrf sets its cookie with the answer)."""
    return request.scope["csrftoken"]()


def safe_next(target: str | None, default: str) -> str:
    """Where to go after signing in: a path of this site only (never //host or a URL), so the
    sign-in page cannot be used to send someone to another site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


class CsrfProtection:
    """asgi-csrf around the application, for pages only (the API is skipped: it takes no
    cookie), with the platform's own refusal (403 csrf_failed in both languages).

    Multipart forms (a photo upload) carry the token in their first field, like every form,
    or, sent by htmx, in the X-CSRF-Token header; asgi-csrf 0.11 cannot read a multipart body
    (see `_multipart_page_post` below), so this wrapper checks those forms itself and never
    lets a mismatched one reach asgi-csrf's multipart reader.
    """

    def __init__(self, app: ASGIApp, *, secret: str, secure_cookie: bool) -> None:
        self._api = app  # what an API request goes to (see __call__)
        self._signer = URLSafeSerializer(secret)  # asgi-csrf's own, to check a multipart form
        self._app = asgi_csrf_decorator(
            cookie_name=CSRF_COOKIE, form_input=CSRF_FIELD, http_header=CSRF_HEADER,
            signing_secret=secret, always_protect={SIGN_IN_PATH},
            skip_if_scope=lambda scope: not is_page_path(scope["path"]),
            cookie_secure=secure_cookie, cookie_samesite="Lax",
            send_csrf_failed=_refuse,
        )(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_page_path(scope["path"]):
            # The API (and /healthz): asgi-csrf would skip it too (`skip_if_scope`), and set no
            # cookie or header on it (nothing there asks for a token), but only after making
            # and signing a fresh token for every request, read or not: a tenth of the CPU of
            # a card read under load (bench/request_path.py). Straight through instead.
            await self._api(scope, receive, send)
            return
        if _multipart_page_post(scope):
            token = _header(scope, CSRF_HEADER.encode()) or None  # htmx sends it here
            if token is None:
                token, receive = await _first_field_token(receive)
            cookie = self._signed_cookie(scope)
            if token is None or cookie is None or not secrets.compare_digest(cookie, token):
                # the error page's own forms need a token (asgi-csrf puts it in the scope)
                shown = (cookie or b"").decode("latin-1")
                await _refuse({**scope, SCOPE_KEY: lambda: shown}, send, "multipart_mismatch")
                return
            scope = {**scope, "headers": [*[(key, value) for key, value in scope["headers"]
                                            if key != CSRF_HEADER.encode()],
                                          (CSRF_HEADER.encode(), token)]}
        await self._app(scope, receive, send)

    def _signed_cookie(self, scope: Scope) -> bytes | None:
        """The CSRF cookie if its signature is ours (as asgi-csrf checks it), else None."""
        cookie = cookies_from_scope(scope).get(CSRF_COOKIE)
        if not cookie:
            return None
        try:
            self._signer.loads(cookie, DEFAULT_SIGNING_NAMESPACE)
        except BadSignature:
            return None
        return cookie.encode("latin-1")


# asgi-csrf 0.11 cannot read a multipart form: it calls python-multipart's FormParser with an
# argument that library removed (simonw/asgi-csrf#38, fix not released) and looks for a field
# named "csrftoken" whatever its form_input says. So for a multipart page form (a file upload)
# the token of its first field (csrf_field() comes first) is read here and handed to asgi-csrf
# as the X-CSRF-Token header once it matches the signed cookie here (a mismatch never reaches
# asgi-csrf's broken parser: it is refused here). The body read so far is replayed; only the
# first part is read, at most FIRST_FIELD_LIMIT bytes.
FIRST_FIELD_LIMIT = 16 * 1024


def _header(scope: Scope, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", []) if key.lower() == name), b"")


def _multipart_page_post(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS", "TRACE"}:
        return False
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
    return is_page_path(scope["path"]) and content_type.split(b";", 1)[0].strip() == \
        b"multipart/form-data"


async def _first_field_token(receive: Receive) -> tuple[bytes | None, Receive]:
    """The value of the body's first part if it is the `csrf_token` field, and a receive that
    replays what was read."""
    messages, body = [], b""
    while True:
        message = await receive()
        messages.append(message)
        body += message.get("body", b"")
        if b"\r\n\r\n" in body and body.find(b"\r\n--", body.index(b"\r\n\r\n")) >= 0:
            break
        if not message.get("more_body", False) or len(body) > FIRST_FIELD_LIMIT:
            break
    return _token_of_first_part(body), _replay(messages, receive)


def _token_of_first_part(body: bytes) -> bytes | None:
    headers, separator, rest = body.partition(b"\r\n\r\n")
    end = rest.find(b"\r\n--")
    if not separator or end < 0:
        return None
    disposition = headers.lower()
    if f'name="{CSRF_FIELD}"'.encode() not in disposition or b"filename=" in disposition:
        return None
    value = rest[:end].strip()
    return value if value and value.isascii() else None


def _replay(messages: list, receive: Receive) -> Receive:
    pending = list(messages)

    async def replaying() -> dict:
        return pending.pop(0) if pending else await receive()

    return replaying


async def _refuse(scope: Scope, send: Send, _why) -> None:
    """403 csrf_failed: the error page for a browser, the problem for a program."""
    from yikatong.pages.errors import page_error, wants_page

    request = Request(scope)
    if wants_page(request):
        response = page_error(request, CsrfFailed())
    else:
        response = JSONResponse(CsrfFailed().to_problem(), status_code=403,
                                media_type="application/problem+json")
    await response(scope, _nothing_more, send)


async def _nothing_more() -> dict:
    return {"type": "http.disconnect"}


def install(app, settings) -> None:
    app.add_middleware(CsrfProtection, secret=settings.page_secret or DEVELOPMENT_PAGE_SECRET,
                       secure_cookie=settings.is_production)
