"""The access table (yikatong.auth.access) against the running application: every route has an
entry (deny by default), and one request per route and role (and one without a credential)
gets what the table says: 401 without a credential, 403 `role_not_allowed` for a role the
table leaves out, never that refusal for a role it lets in."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from yikatong.api.deps import served_operations
from yikatong.auth import access
from yikatong.core.actor import Role
from yikatong.pages.sessions import CSRF_COOKIE, CSRF_HEADER, is_page_path

pytestmark = pytest.mark.db

PARAM = re.compile(r"{(\w+)}")
NO_CREDENTIAL = "no credential"
# In this order: a page's sign-out leaves a bearer token alone, the API's logout ends it.
LOGOUTS = ("POST /signout", f"POST {access.API}/auth/logout")


def _operations(app) -> list[tuple[str, str]]:
    """(method, path template) of every route the application serves, in or out of the spec."""
    return [(method, path) for _route, method, path in served_operations(app) if method != "HEAD"]


@pytest.fixture
def app(platform):
    from yikatong.api.app import create_app

    return create_app(platform)


@pytest.mark.no_db
def test_every_route_has_an_entry_in_the_access_table(app):
    missing = [access.operation(method, path) for method, path in _operations(app)
               if access.allowed_roles(method, path) is None]
    assert not missing, ("routes without an entry in yikatong.auth.access.ACCESS (refused to "
                         "everybody until added):\n  " + "\n  ".join(missing))


@pytest.mark.no_db
def test_the_access_table_names_only_routes_that_exist(app):
    served = {access.operation(method, path) for method, path in _operations(app)}
    stale = sorted(set(access.ACCESS) - served)
    assert not stale, f"entries in yikatong.auth.access.ACCESS for routes nobody serves: {stale}"


@pytest.mark.no_db
def test_the_spec_marks_exactly_the_non_public_routes_as_needing_a_credential(app):
    spec = app.openapi()
    wrong = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            public = access.allowed_roles(method.upper(), path) is access.PUBLIC
            if public == bool(operation.get("security")):
                wrong.append(f"{method.upper()} {path} (public in the table: {public})")
    assert not wrong, "the spec's security marking disagrees with the access table:\n" + "\n".join(wrong)


def _credentials(login) -> dict[str, dict[str, str]]:
    headers = {NO_CREDENTIAL: {}}
    for role in Role:
        extra = {"bank_code": "ICBC"} if role is Role.BANK else {}
        headers[role.value] = login(role, username=f"matrix-{role.name.lower()}", **extra)
    return headers


def test_every_route_answers_every_role_as_the_access_table_says(app, login):
    headers = _credentials(login)
    calls = [(method, path, who) for method, path in _operations(app) for who in headers
             # a public route does not look at credentials: one anonymous call is enough
             if who == NO_CREDENTIAL or access.allowed_roles(method, path) is not access.PUBLIC]
    # Logging out (of the API or a page) ends the credential the other calls use: last.
    calls.sort(key=lambda call: LOGOUTS.index(f"{call[0]} {call[1]}") + 1
               if f"{call[0]} {call[1]}" in LOGOUTS else 0)
    answers = asyncio.run(_call_all(app, calls, headers))
    wrong = []
    for (method, path, who), response in zip(calls, answers, strict=True):
        allowed = access.allowed_roles(method, path)
        code = _code(response)
        if allowed is access.PUBLIC or (who != NO_CREDENTIAL and Role(who) in allowed):
            if code == access.REFUSED_BY_TABLE or response.status_code == 401:
                wrong.append(f"{method} {path} as {who}: allowed, got {response.status_code} {code}")
        elif who == NO_CREDENTIAL:
            if response.status_code != 401:
                wrong.append(f"{method} {path} without a credential: {response.status_code} {code}")
        elif (response.status_code, code) != (403, access.REFUSED_BY_TABLE):
            wrong.append(f"{method} {path} as {who}: not allowed, got {response.status_code} {code}")
    assert not wrong, "answers that disagree with yikatong.auth.access.ACCESS:\n" + "\n".join(wrong)


async def _call_all(app, calls, headers) -> list[httpx.Response]:
    """One request per call, in one event loop (a TestClient hops threads on every request).
    A page's form carries its CSRF token, as a browser's would (pages.sessions: that check
    comes before the access check)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/signin")  # the CSRF cookie
        csrf = {CSRF_HEADER: client.cookies[CSRF_COOKIE]}
        # any value for a path parameter: the access check comes before the route's own
        return [await client.request(method, PARAM.sub("1", path), headers={
            **headers[who], **(csrf if is_page_path(path) and method != "GET" else {})})
            for method, path, who in calls]


def _code(response) -> str | None:
    """The access table's refusal (its details.reason), else the problem's code; from a FHIR
    door's OperationOutcome (medical.fhir_api), the same two from its issue's codings."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("application/problem+json"):
        problem = response.json()
        return (problem.get("details") or {}).get("reason") or problem.get("code")
    if content_type.startswith("application/fhir+json") and response.status_code >= 400:
        codings = response.json()["issue"][0]["details"]["coding"]
        return codings[-1]["code"]  # [code] or [code, reason]
    return None


def test_a_route_missing_from_the_table_is_refused_to_everybody(platform, login, monkeypatch):
    from fastapi.testclient import TestClient

    from yikatong.api.app import create_app

    key = access.operation("GET", "/api/v1/cards/{card_no}")
    admin = login(Role.ADMIN)  # before the entry goes: logging in is a route too
    monkeypatch.delitem(access.ACCESS, key)
    with TestClient(create_app(platform)) as client:
        response = client.get("/api/v1/cards/000000001", headers=admin)
    assert (response.status_code, _code(response)) == (403, access.REFUSED_BY_TABLE)
