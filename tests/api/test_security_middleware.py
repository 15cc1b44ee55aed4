"""The security middleware (api/middleware.py) through the whole app: body limits before
authentication and parsing, security headers on every answer (errors included), no-store on
answers with personal data, HSTS only behind TLS."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.pages.conftest import TOKEN_FIELD
from yikatong.api import middleware
from yikatong.api.app import create_app
from yikatong.api.middleware import (
    BATCH_BODY_LIMIT,
    CSP_DOCS,
    CSP_PAGES,
    DEFAULT_BODY_LIMIT,
    PHOTO_BODY_LIMIT,
)
from yikatong.core.actor import Role
from yikatong.people.photo import HARD_MAX_BYTES

pytestmark = pytest.mark.db


def assert_security_headers(response, *, csp: str = CSP_PAGES) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == csp
    assert "strict-transport-security" not in response.headers  # plain HTTP here


def assert_too_large(response, limit: int) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "request_too_large" and problem["status"] == 413
    assert problem["title"].startswith("请求内容过大") and "too large" in problem["title_en"]
    assert problem["details"]["limit_bytes"] == limit
    assert_security_headers(response)


# -- body limits --------------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_refused_before_authentication(client, platform):
    """No token at all: the 413 comes first, so the body never reached the login check."""
    from tests.cards.conftest import row_counts

    before = row_counts(platform)
    refused = client.post("/api/v1/cards/B00000001/loss", content=b"{" + b" " * DEFAULT_BODY_LIMIT + b"}",
                          headers={"Content-Type": "application/json"})
    assert_too_large(refused, DEFAULT_BODY_LIMIT)
    login_form = client.post("/api/v1/auth/token", data={"username": "x" * DEFAULT_BODY_LIMIT, "password": "p"})
    assert_too_large(login_form, DEFAULT_BODY_LIMIT)
    assert row_counts(platform) == before
    at_the_limit = client.post("/api/v1/cards/B00000001/loss", content=b"{" + b" " * (DEFAULT_BODY_LIMIT - 2) + b"}",
                               headers={"Content-Type": "application/json"})
    assert at_the_limit.status_code == 401  # within the limit: on to authentication


@pytest.mark.no_db
def test_a_chunked_body_without_a_length_is_counted(client):
    def chunks(total: int):
        for _ in range(total // 4096):
            yield b" " * 4096

    refused = client.post("/api/v1/auth/token", content=chunks(DEFAULT_BODY_LIMIT + 4096),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "content-length" not in refused.request.headers
    assert_too_large(refused, DEFAULT_BODY_LIMIT)
    small = client.post("/api/v1/auth/token", content=chunks(8192),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert small.status_code == 422  # read and parsed: no username, no password


@pytest.mark.no_db
def test_bytes_beyond_a_declared_length_are_counted_too(platform):
    """A Content-Length that undersells the body: the bytes the app receives are what count."""
    seen = []

    async def app(scope, receive, send):
        message = await receive()
        seen.append(len(message["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    guarded = TestClient(middleware.SecurityMiddleware(app, trusted_proxies=()))
    body = b"x" * (DEFAULT_BODY_LIMIT + 1)
    answer = guarded.post("/api/v1/anything", content=body, headers={"Content-Length": "10"})
    assert_too_large(answer, DEFAULT_BODY_LIMIT)
    assert seen == []  # the app's own answer was never sent


def test_photo_and_batch_routes_take_larger_bodies(client, login):
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    jpeg = b"\xff\xd8" + b"\0" * (HARD_MAX_BYTES + 10)  # over the photo rule, within the body limit
    photo = client.put("/api/v1/people/1/photo", content=jpeg, headers={**outlet, "Content-Type": "image/jpeg"})
    assert photo.status_code != 413
    too_big = client.put("/api/v1/people/1/photo", content=b"\0" * (PHOTO_BODY_LIMIT + 1),
                         headers={**outlet, "Content-Type": "image/jpeg"})
    assert_too_large(too_big, PHOTO_BODY_LIMIT)
    transit = login(Role.TRANSIT_OPERATOR, branch_code="CZBUS")
    batch = client.post("/api/v1/clearing/batches", content=b"x" * (PHOTO_BODY_LIMIT + 1),
                        headers={**transit, "Content-Type": "text/plain"})
    assert batch.status_code == 422, batch.text[:200]  # read in full, then refused as a batch file
    assert middleware.SecurityMiddleware(None).limit_of("POST", "/api/v1/clearing/batches") == BATCH_BODY_LIMIT
    assert middleware.SecurityMiddleware(None).limit_of("POST", "/api/v1/applications/employer-batches/") \
        == BATCH_BODY_LIMIT
    assert middleware.SecurityMiddleware(None).limit_of("GET", "/api/v1/clearing/batches") == DEFAULT_BODY_LIMIT


def test_a_base64_photo_longer_than_any_allowed_photo_is_a_422(client, login):
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    longest = len(base64.b64encode(b"\0" * HARD_MAX_BYTES))
    applicant = {"name": "周晓东", "document_type": "resident_id_card", "document_number": "320402199003070013",
                 "gender": "M", "birth_date": "1990-03-07", "document_valid_until": "2036-01-01",
                 "photo_jpeg_base64": "A" * (longest + 4)}
    refused = client.post("/api/v1/people/applicants", json=applicant, headers=outlet)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_input"
    assert "photo_jpeg_base64" in refused.json()["title_en"]


# -- headers ------------------------------------------------------------------------------------


def test_headers_on_answers_and_errors(client, login):
    admin = login(Role.ADMIN)
    me = client.get("/api/v1/auth/me", headers=admin)
    assert me.status_code == 200
    assert_security_headers(me)
    assert me.headers["cache-control"] == "no-store"
    for answer in (client.get("/api/v1/cards/B00000001"),                 # 401
                   client.get("/api/v1/no-such-thing"),                    # 404
                   client.delete("/api/v1/auth/me", headers=admin),        # 405
                   client.post("/api/v1/people/applicants", json={}, headers=admin)):  # 422
        assert answer.status_code >= 400
        assert_security_headers(answer)
        assert answer.headers["cache-control"] == "no-store"


@pytest.mark.no_db
def test_a_500_carries_the_headers_too(platform, monkeypatch):
    from yikatong.auth import access

    monkeypatch.setitem(access.ACCESS, "GET /api/v1/boom", access.PUBLIC)
    app = create_app(platform)

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as failing:
        answer = failing.get("/api/v1/boom")
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert_security_headers(answer)
    assert answer.headers["cache-control"] == "no-store"


def test_no_store_only_where_personal_data_may_be(client):
    banks = client.get("/api/v1/directory/banks")
    assert banks.status_code == 200 and "no-store" not in banks.headers.get("cache-control", "")
    assert_security_headers(banks)
    assert "no-store" not in client.get("/api/v1/ecard/keys").headers.get("cache-control", "")
    verify = client.post("/api/v1/ecard/verify", json={"token": "YKT1.x"})
    assert verify.headers["cache-control"] == "no-store"  # public, but masked personal data
    form = client.get("/ecard/verify")
    token = TOKEN_FIELD.search(form.text).group(1)
    for page in (form, client.post("/ecard/verify", data={"csrf_token": token, "token": "YKT1.x"})):
        assert page.status_code == 200
        assert_security_headers(page)
        assert page.headers["cache-control"] == "no-store"
    home = client.get("/")  # shows the signed-in person's menu
    assert_security_headers(home)
    assert home.headers["cache-control"] == "no-store"
    style = client.get("/static/ykt.css")
    assert_security_headers(style)
    assert "cache-control" not in style.headers


@pytest.mark.no_db
def test_hsts_only_behind_tls(platform, monkeypatch):
    with TestClient(create_app(platform), base_url="https://testserver") as over_tls:
        assert over_tls.get("/healthz").headers["strict-transport-security"].startswith("max-age=")
    forwarded = {"X-Forwarded-Proto": "https"}
    with TestClient(create_app(platform)) as untrusted:  # the test client is no trusted proxy
        assert "strict-transport-security" not in untrusted.get("/healthz", headers=forwarded).headers
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "testclient")
    with TestClient(create_app(platform)) as behind_proxy:
        assert "strict-transport-security" in behind_proxy.get("/healthz", headers=forwarded).headers
        assert "strict-transport-security" not in behind_proxy.get(
            "/healthz", headers={"X-Forwarded-Proto": "http"}).headers


# -- the CSP lets the existing pages work -----------------------------------------------------------


class _Resources(HTMLParser):
    """The scripts, styles, images and forms a page loads, and whether it has inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, str]] = []  # (directive, url)
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.loads.append(("script-src", attrs["src"]))
            else:
                self._in_script = True
        elif tag == "link" and attrs.get("href"):
            self.loads.append(("style-src" if attrs.get("rel") == "stylesheet" or attrs.get("type") == "text/css"
                               else "img-src", attrs["href"]))
        elif tag == "img" and attrs.get("src"):
            self.loads.append(("img-src", attrs["src"]))
        elif tag == "form":
            self.loads.append(("form-action", attrs.get("action") or "/"))

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def _allows(csp: str, directive: str, url: str) -> bool:
    policy = dict(re.match(r"\s*(\S+)\s*(.*)", part).groups() for part in csp.split(";") if part.strip())
    sources = (policy.get(directive) or policy["default-src"]).split()
    origin = urlsplit(url)
    if not origin.netloc:
        return "'self'" in sources
    return f"{origin.scheme}://{origin.netloc}" in sources


@pytest.mark.no_db
@pytest.mark.parametrize("path", ["/", "/ecard/verify", "/docs", "/redoc"])
def test_the_csp_allows_what_each_page_loads(client, path):
    page = client.get(path)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert csp == (CSP_DOCS if path in ("/docs", "/redoc") else CSP_PAGES)
    found = _Resources()
    found.feed(page.text)
    blocked = [(directive, url) for directive, url in found.loads if not _allows(csp, directive, url)]
    assert not blocked, f"{path}: the CSP blocks {blocked}"
    if found.inline_script:
        assert "'unsafe-inline'" in dict(part.strip().split(" ", 1) for part in csp.split(";"))["script-src"]
