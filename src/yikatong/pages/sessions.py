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
    cookie), with the platform's own refusal (403 csrf_failed in both languages).

    Multipart forms (a photo upload) carry the token in their first field, like every form,
    but asgi-csrf 0.11 cannot read it there: its multipart reader passes python-multipart an
    argument that 0.0.34 no longer takes, and looks for a field named `csrftoken` only. So
    this wrapper reads the first field itself and hands the token on in the header that
    asgi-csrf checks first (htmx requests already send it there), and asgi-csrf never parses
    a multipart body: it sees the content type masked and refuses unless the header matched.
    """

    def __init__(self, app: ASGIApp, *, secret: str, secure_cookie: bool) -> None:
        self._app = asgi_csrf_decorator(
            cookie_name=CSRF_COOKIE, form_input=CSRF_FIELD, http_header=CSRF_HEADER,
            signing_secret=secret, always_protect={SIGN_IN_PATH},
            skip_if_scope=lambda scope: not is_page_path(scope["path"]),
            cookie_secure=secure_cookie, cookie_samesite="Lax",
            send_csrf_failed=_refuse,
        )(_unmasked(app))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_page_multipart(scope):
            if not _header(scope, CSRF_HEADER.encode()):
                token, receive = await first_field(scope, receive, CSRF_FIELD)
                if token is not None:  # without one, asgi-csrf refuses the masked body
                    scope = _with_header(scope, CSRF_HEADER.encode(), token.encode("latin-1"))
            scope = _masked(scope)
        await self._app(scope, receive, send)


MULTIPART = b"multipart/form-data"
MASKED_CONTENT_TYPE = b"application/x-ykt-masked-multipart"
FIRST_FIELD_LIMIT = 64 * 1024  # the token is the first field: a few hundred bytes in


def _header(scope: Scope, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", []) if key.lower() == name), b"")


def _with_header(scope: Scope, name: bytes, value: bytes) -> Scope:
    headers = [(key, val) for key, val in scope["headers"] if key.lower() != name]
    return {**scope, "headers": [*headers, (name, value)]}


def _is_page_multipart(scope: Scope) -> bool:
    return (scope["type"] == "http" and is_page_path(scope["path"])
            and scope["method"] not in {"GET", "HEAD", "OPTIONS", "TRACE"}
            and _header(scope, b"content-type").split(b";", 1)[0].strip().lower() == MULTIPART)


def _masked(scope: Scope) -> Scope:
    original = _header(scope, b"content-type")
    return {**_with_header(scope, b"content-type", MASKED_CONTENT_TYPE),
            "ykt.content_type": original}


def _unmasked(app: ASGIApp) -> ASGIApp:
    async def unmask(scope: Scope, receive: Receive, send: Send) -> None:
        if "ykt.content_type" in scope:
            scope = _with_header(scope, b"content-type", scope["ykt.content_type"])
        await app(scope, receive, send)
    return unmask


async def first_field(scope: Scope, receive: Receive, name: str) -> tuple[str | None, Receive]:
    """The value of a multipart body's first part when it is the plain field `name` (None
    otherwise), and a `receive` that replays what was read."""
    import re

    boundary = re.search(rb'boundary="?([^";]+)"?', _header(scope, b"content-type"))
    read: list[dict] = []
    body, more = b"", True
    first_part = None
    if boundary is not None:
        delimiter = re.escape(b"--" + boundary.group(1))
        first_part = re.compile(delimiter + rb"\r\n(.*?)\r\n\r\n(.*?)\r\n" + delimiter, re.S)
    while first_part is not None and more and len(body) <= FIRST_FIELD_LIMIT:
        message = await receive()
        read.append(message)
        body += message.get("body", b"")
        more = message.get("more_body", False)
        found = first_part.match(body)
        if found:
            headers, value = found.groups()
            wanted = re.search(rb'name="' + re.escape(name.encode()) + rb'"(?!\S*filename)', headers)
            if wanted and b"filename=" not in headers:
                return value.decode("latin-1"), _replay(read, receive)
            break
    return None, _replay(read, receive)


def _replay(read: list[dict], receive: Receive) -> Receive:
    async def replay() -> dict:
        return read.pop(0) if read else await receive()
    return replay


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
