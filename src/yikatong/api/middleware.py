"""The security middleware: a request body limit per route and security headers on every answer.

A pure ASGI middleware (no BaseHTTPMiddleware: nothing is buffered, no extra task per request),
installed around the whole application by `install`, outside Starlette's error middleware, so
that even a 500 answer carries the headers.

## Request body limits

Checked before authentication and before anything parses the body: a `Content-Length` above the
route's limit is answered at once, a body without one (chunked) is read up to the limit first,
and the bytes actually received are counted as well. Too large: 413 problem+json, code
`request_too_large`.

| route                                      | limit  | why                                                         |
|--------------------------------------------|--------|-------------------------------------------------------------|
| `PUT /api/v1/people/{id}/photo`            | 3 MiB  | the JPEG itself; the photo rules refuse more than 2 MB      |
| `POST /api/v1/people/applicants`           | 3 MiB  | one applicant with a base64 photo (2 MB → 2.7 MiB of text)  |
| `POST /api/v1/applications`                | 3 MiB  | an outlet application: one applicant with a base64 photo    |
| `POST /api/v1/applications/online`         | 3 MiB  | an online application with an uploaded base64 photo         |
| `POST /me/apply`, `POST /me/apply/photo-check` | 3 MiB | the holder's page: the form with its photo (multipart)   |
| `POST /api/v1/applications/employer-batches` | 64 MiB | up to 1000 employees with their photos (typical 15–45 KB; larger photo sets go in several batches) |
| `POST /api/v1/clearing/batches`            | 64 MiB | a terminal batch file (clearing.api.MAX_UPLOAD)             |
| `POST /employer/batches` (page)            | 64 MiB | the same batch as a CSV with its photos (zip or files)      |
| `POST /api/v1/hr/cases/{id}/documents` and the pages' `…/services/cases/{id}/documents` | 3 MiB | one HR case document (≤ 2 MiB by the catalogue) |
| `POST /api/fhir/r4b/Claim`                 | 512 KiB | a FHIR Claim of up to 500 fee lines (visits.MAX_LINES)     |
| everything else                            | 64 KiB | JSON of a few fields, a login form                          |

## Headers on every answer

`X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, a
Content-Security-Policy (`CSP_PAGES` for pages and API answers, `CSP_DOCS` for /docs and
/redoc), and `Strict-Transport-Security` when the request came over TLS: the ASGI scheme is
https, or a proxy we trust (`FORWARDED_ALLOW_IPS`, uvicorn's own setting, default 127.0.0.1)
says so in `X-Forwarded-Proto`. `Cache-Control: no-store` on answers that may carry personal
data: every /api/v1 answer except the public reference data in `PUBLIC_REFERENCE`, every answer
of the medical FHIR door (/api/fhir/), and every
page (yikatong.pages) except its static files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yikatong.core.errors import DomainError
from yikatong.pages.sessions import is_page_path

KIB = 1024
MIB = 1024 * KIB
DEFAULT_BODY_LIMIT = 64 * KIB
PHOTO_BODY_LIMIT = 3 * MIB
BATCH_BODY_LIMIT = 64 * MIB
CLAIM_BODY_LIMIT = 512 * KIB


@dataclass(frozen=True)
class BodyLimit:
    method: str
    path: str  # a regular expression matched against the whole path
    limit: int
    why: str


BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("PUT", r"/api/v1/people/[^/]+/photo", PHOTO_BODY_LIMIT, "the JPEG (photo rules: ≤ 2 MB)"),
    BodyLimit("POST", r"/api/v1/people/applicants", PHOTO_BODY_LIMIT, "an applicant with a base64 photo"),
    BodyLimit("POST", r"/api/v1/applications", PHOTO_BODY_LIMIT, "an applicant with a base64 photo"),
    BodyLimit("POST", r"/api/v1/applications/online", PHOTO_BODY_LIMIT,
              "an online application with a base64 photo"),
    BodyLimit("POST", r"/me/apply(/photo-check)?", PHOTO_BODY_LIMIT,
              "the online application page's form with its photo (multipart)"),
    BodyLimit("POST", r"/api/v1/applications/employer-batches", BATCH_BODY_LIMIT,
              "up to 1000 employees with photos"),
    BodyLimit("POST", r"/api/v1/clearing/batches", BATCH_BODY_LIMIT, "a terminal batch file"),
    BodyLimit("POST", r"/employer/batches", BATCH_BODY_LIMIT,
              "the employer batch page: a CSV of up to 1000 employees and their photos"),
    # hrservices: one document of a case (≤ 2 MiB by the catalogue; base64 JSON or a multipart page form)
    BodyLimit("POST", r"/api/v1/hr/cases/[^/]+/documents", PHOTO_BODY_LIMIT,
              "an HR case document as base64 (catalogue: ≤ 2 MiB)"),
    BodyLimit("POST", r"/(me|counter)/services/cases/[^/]+/documents", PHOTO_BODY_LIMIT,
              "an HR case document on the holder's or the outlet's page (multipart)"),
    BodyLimit("POST", r"/api/fhir/r4b/Claim", CLAIM_BODY_LIMIT,
              "a FHIR Claim of up to 500 fee lines (about 190 KiB pretty-printed)"),
)

# Pages (home, e-card check) and API answers: nothing but our own origin; inline styles only
# (the pages carry a <style> block and style attributes), no inline script.
CSP_PAGES = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
             "frame-ancestors 'none'")
# Swagger UI and ReDoc with their assets served from this origin (api/docs_ui.py): one inline
# script each (their start-up), inline styles, ReDoc's blob: worker; no other host.
CSP_DOCS = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; font-src 'self'; img-src 'self' data:; "
            "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
HSTS = "max-age=31536000; includeSubDomains"

# GET answers without personal data that caches may keep (everything else under /api/v1 may
# carry some: no-store).
PUBLIC_REFERENCE = ("/api/v1/directory/", "/api/v1/ecard/channels", "/api/v1/ecard/keys",
                    "/api/v1/ecard/status/")
STATIC_PATHS = ("/static/",)

PROBLEM = b"application/problem+json"


class RequestTooLarge(DomainError):
    code = "request_too_large"
    http_status = 413
    zh = "请求内容过大：该接口最多接受 {limit_text}"
    en = "The request body is too large: this endpoint accepts at most {limit_text}"


class _BodyOverLimit(Exception):
    """Raised into the application when it reads past the limit (the middleware answers)."""


def trusted_proxies_from_env() -> frozenset[str]:
    """The proxies whose X-Forwarded-Proto counts, as uvicorn reads them (FORWARDED_ALLOW_IPS)."""
    text = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    return frozenset(part.strip() for part in text.split(",") if part.strip())


class SecurityMiddleware:
    """See the module docstring. `limits`: the body limit table; `trusted_proxies`: client
    addresses whose X-Forwarded-Proto is believed ("*": any)."""

    def __init__(self, app: ASGIApp, *, limits: Iterable[BodyLimit] = BODY_LIMITS,
                 default_limit: int = DEFAULT_BODY_LIMIT,
                 trusted_proxies: Iterable[str] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self._limits: dict[str, list[tuple[re.Pattern[str], int]]] = {}
        for rule in limits:
            self._limits.setdefault(rule.method, []).append((re.compile(rule.path + "/?"), rule.limit))
        proxies = trusted_proxies_from_env() if trusted_proxies is None else frozenset(trusted_proxies)
        self._trust_any_proxy = "*" in proxies
        self._trusted_proxies = proxies
        # Every header set an answer can get, built once: (docs page, over TLS, no-store) →
        # (the headers, their names).
        self._header_sets = {(docs, tls, no_store): _header_set(docs, tls, no_store)
                             for docs in (False, True) for tls in (False, True)
                             for no_store in (False, True)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(scope, send)
        limit = self.limit_of(scope["method"], scope["path"])
        declared, chunked = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, limit)
            return
        if declared is None and (chunked or scope["method"] in ("POST", "PUT", "PATCH")):
            buffered = await _read_up_to(receive, limit)
            if buffered is None:
                await self._refuse(send, limit)
                return
            receive = _replay(buffered, receive)
        elif declared is None and not chunked:  # no body can come (a GET): nothing to count
            await self.app(scope, receive, send)
            return
        await self._run_counting(scope, receive, send, limit)

    def limit_of(self, method: str, path: str) -> int:
        for pattern, limit in self._limits.get(method, ()):
            if pattern.fullmatch(path):
                return limit
        return self.default_limit

    async def _run_counting(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the application, counting the body bytes it receives; past the limit it gets an
        exception, its own answer is dropped and the middleware answers 413 instead."""
        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            if over:
                raise _BodyOverLimit()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _BodyOverLimit()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await self._refuse(send, limit)

    def header_set(self, scope: Scope) -> tuple[list, frozenset[bytes]]:
        """(the headers every answer to this request gets, their names): an answer's own
        headers of those names are replaced by these."""
        path: str = scope["path"]
        return self._header_sets[path in DOCS_PATHS, self._over_tls(scope),
                                 _carries_personal_data(scope["method"], path)]

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        extra, names = self.header_set(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
                message = {**message, "headers": headers + extra}
            await send(message)

        return send_with_headers

    def _over_tls(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        client = scope.get("client")
        if not (self._trust_any_proxy or (client and client[0] in self._trusted_proxies)):
            return False
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                # A chain of proxies lists each hop; the first is what the browser used.
                return value.split(b",")[0].strip().lower() == b"https"
        return False

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(RequestTooLarge(limit_text=_size_text(limit), limit_bytes=limit).to_problem(),
                          ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _header_set(docs: bool, over_tls: bool, no_store: bool) -> tuple[list, frozenset[bytes]]:
    headers = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"no-referrer"),
               (b"content-security-policy", (CSP_DOCS if docs else CSP_PAGES).encode())]
    if over_tls:
        headers.append((b"strict-transport-security", HSTS.encode()))
    if no_store:
        headers.append((b"cache-control", b"no-store"))
    return headers, frozenset(name for name, _ in headers)


def install(app, **options) -> None:
    """Wrap `app` (a Starlette/FastAPI application) in the SecurityMiddleware, outermost: around
    ServerErrorMiddleware too, which `add_middleware` cannot reach, so a 500 gets the headers."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityMiddleware(build(), **options)


def _carries_personal_data(method: str, path: str) -> bool:
    if path.startswith("/api/v1/"):
        return not (method in ("GET", "HEAD") and path.startswith(PUBLIC_REFERENCE))
    if path.startswith("/api/fhir/"):  # the medical FHIR door: patients' coverage and claims
        return True
    # Every page (yikatong.pages) but its static files: a page shows the signed-in person.
    return is_page_path(path) and not path.startswith(STATIC_PATHS)


def _declared_length(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length if given and valid, whether the body is chunked)."""
    length, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _read_up_to(receive: Receive, limit: int) -> list[Message] | None:
    """The body's messages, read ahead while they stay within `limit`; None past it."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replaying_receive() -> Message:
        return pending.pop(0) if pending else await receive()

    return replaying_receive


def _size_text(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit // KIB} KiB"
