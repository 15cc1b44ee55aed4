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

from datetime import timedelta
from urllib.parse import urlsplit

from asgi_csrf import asgi_csrf_decorator
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
NOT_PAGES = ("/api/", "/openapi.json", "/docs", "/redoc", "/healthz")


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
    cookie), with the platform's own refusal (403 csrf_failed in both languages)."""

    def __init__(self, app: ASGIApp, *, secret: str, secure_cookie: bool) -> None:
        self._app = asgi_csrf_decorator(
            cookie_name=CSRF_COOKIE, form_input=CSRF_FIELD, http_header=CSRF_HEADER,
            signing_secret=secret, always_protect={SIGN_IN_PATH},
            skip_if_scope=lambda scope: not is_page_path(scope["path"]),
            cookie_secure=secure_cookie, cookie_samesite="Lax",
            send_csrf_failed=_refuse,
        )(_restore_content_type(app))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(_multipart_token_as_header(scope), receive, send)


# A form with a file (multipart/form-data) carries its token in the action's query
# (`?csrf_token=…`, forms.html `multipart_action`), handed to asgi-csrf as the header an htmx
# request sends: asgi-csrf 0.11 cannot read a multipart body (its parser call fails with
# python-multipart 0.0.2x and later). asgi-csrf sees such a request under a content type of
# its own, so a missing or wrong token is refused as any unknown body is (never parsed), and
# `_restore_content_type` gives the page its multipart body back once the token matched. The
# same signed double-submit check applies; the token is the cookie's, and it never leaves the
# site in a Referer (Referrer-Policy: no-referrer).
MULTIPART = b"multipart/form-data"
CHECKED_ELSEWHERE = b"application/x-ykt-multipart"
ORIGINAL_CONTENT_TYPE = "ykt.multipart_content_type"


def _multipart_token_as_header(scope: Scope) -> Scope:
    if scope.get("type") != "http" or scope.get("method") != "POST" \
            or not is_page_path(scope.get("path", "")):
        return scope
    headers = list(scope.get("headers") or [])
    content_type = dict(headers).get(b"content-type", b"")
    if content_type.split(b";", 1)[0].strip() != MULTIPART:
        return scope
    from urllib.parse import parse_qs

    header = CSRF_HEADER.encode("latin-1")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(CSRF_FIELD)
    # htmx sends the header itself; a plain form the query
    token = query[0].encode("latin-1") if query else dict(headers).get(header, b"")
    kept = [(k, v) for k, v in headers if k not in (b"content-type", header)]
    return {**scope, ORIGINAL_CONTENT_TYPE: content_type,
            "headers": [*kept, (b"content-type", CHECKED_ELSEWHERE), (header, token)]}


def _restore_content_type(app: ASGIApp) -> ASGIApp:
    async def restored(scope: Scope, receive: Receive, send: Send) -> None:
        original = scope.get(ORIGINAL_CONTENT_TYPE)
        if original is not None:
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", original)]}
        await app(scope, receive, send)

    return restored


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
