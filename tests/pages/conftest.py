"""Page tests through the ASGI app, as a browser would: cookies, CSRF tokens, Accept: text/html.

`signed_in(role, **user fields)` gives a client signed in at /signin with a new login of that
role; `form_token(client, path)` the CSRF token of the form on a page. Other domains' page
tests use these too (the browser suite, tests/browser, drives a real Chromium instead)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, shared_app
from yikatong.auth.service import create_user
from yikatong.core.actor import Role

HTML = {"Accept": "text/html,application/xhtml+xml"}
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(client: TestClient, path: str) -> str:
    page = client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    found = TOKEN_FIELD.search(page.text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, next_page: str = ""):
    token = form_token(client, "/signin")
    return client.post("/signin", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "username": username, "password": password, "next": next_page})


@pytest.fixture
def page_client(platform):
    """A browser-like client of its own (its own cookie jar) on the test's platform. The
    clients of one test share one application, as browsers share one server, and so do the
    tests (shared_app): building an application maps every route's dependencies (about a
    second of CPU)."""
    clients = []

    def make() -> TestClient:
        client = TestClient(app, headers=HTML)
        clients.append(client)
        return client

    with shared_app(platform) as app:
        yield make
        for client in clients:
            client.close()


@pytest.fixture
def signed_in(platform, page_client, admin_actor):
    """signed_in(role, username=None, **user fields) -> a client with a page session."""
    made = []

    def make(role: Role, username: str | None = None, **fields) -> TestClient:
        username = username or f"page-{role.value}-{len(made)}"
        with platform.uow() as uow:
            create_user(uow=uow, actor=admin_actor, username=username, password=PASSWORD,
                        role=role, **fields)
            uow.commit()
        made.append(username)
        client = page_client()
        answer = sign_in(client, username)
        assert answer.status_code == 303, answer.text
        return client

    return make
