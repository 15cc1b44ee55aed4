"""Signing in and out of the pages: the cookie, CSRF, where a refusal sends the browser."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.pages.conftest import form_token, sign_in
from yikatong.auth.models import AccessToken
from yikatong.auth.service import find_user
from yikatong.core.actor import Role
from yikatong.pages.sessions import SESSION_COOKIE, safe_next

pytestmark = pytest.mark.db


def test_sign_in_sets_a_session_cookie_that_scripts_cannot_read(platform, signed_in, page_client):
    signed_in(Role.HOLDER, username="holder-a", person_id=7)
    answer = sign_in(page_client(), "holder-a")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me"  # a holder's first page
    cookie = next(value for name, value in answer.headers.multi_items()
                  if name == "set-cookie" and value.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # development over plain http; production: see test below
    with platform.uow() as uow:
        kinds = uow.session.execute(select(AccessToken.kind)).scalars().all()
    assert kinds.count("session") == 2 and "bearer" not in kinds


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(platform, page_client, signed_in):
    client = page_client()
    client.get("/signin")  # the browser has the CSRF cookie, the form lost its field
    answer = client.post("/signin", data={"username": "admin", "password": "x"},
                         headers={"Accept": "application/json"}, follow_redirects=False)
    assert answer.status_code == 403
    assert answer.json()["code"] == "csrf_failed"
    holder = signed_in(Role.HOLDER, person_id=8)
    before = _session_count(platform)
    refused = holder.post("/signout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert holder.get("/me", follow_redirects=False).status_code == 200  # still signed in
    assert _session_count(platform) == before


@pytest.mark.no_db
def test_sign_in_from_a_browser_without_cookies_is_still_checked(page_client):
    """Login CSRF: another site cannot sign a visitor in as someone else."""
    answer = page_client().post("/signin", data={"username": "a", "password": "b"},
                                follow_redirects=False)
    assert answer.status_code == 403


def test_a_wrong_password_shows_the_form_again_with_the_refusal(page_client, signed_in):
    signed_in(Role.HOLDER, username="holder-b", person_id=9)
    client = page_client()
    answer = sign_in(client, "holder-b", password="not-the-password-at-all")
    assert answer.status_code == 401
    assert "用户名或密码" in answer.text or "bad_credentials" in answer.text
    assert 'value="holder-b"' in answer.text  # the name is kept, the password is not
    assert SESSION_COOKIE not in client.cookies


@pytest.mark.no_db
def test_a_page_that_needs_a_sign_in_sends_the_browser_there_and_back(page_client):
    client = page_client()
    answer = client.get("/me?tab=x", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fme%3Ftab%3Dx"
    # A program that does not ask for HTML gets the API's problem.
    assert client.get("/me", headers={"Accept": "application/json"}).json()["code"] == "unauthenticated"


def test_after_signing_in_the_browser_goes_back_where_it_was_sent_from(platform, page_client, signed_in):
    signed_in(Role.HOLDER, username="holder-c", person_id=10)
    client = page_client()
    assert sign_in(client, "holder-c", next_page="/me?x=1").headers["location"] == "/me?x=1"
    client2 = page_client()
    assert sign_in(client2, "holder-c", next_page="//evil.example/x").headers["location"] == "/me"


@pytest.mark.no_db
@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/me", "/\\evil", "me",
                                    "javascript:alert(1)"])
def test_the_way_back_is_a_path_of_this_site(target):
    assert safe_next(target, "/home") == "/home"


def test_signing_out_ends_the_session_everywhere(platform, signed_in):
    holder = signed_in(Role.HOLDER, person_id=11)
    token = form_token(holder, "/me")
    answer = holder.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    with platform.uow() as uow:
        revoked = uow.session.execute(select(AccessToken.revoked_at)
                                      .where(AccessToken.kind == "session")).scalars().all()
    assert revoked and all(revoked)
    assert holder.get("/me", follow_redirects=False).status_code == 303


def test_the_page_cookie_is_no_credential_for_the_api(signed_in):
    holder = signed_in(Role.HOLDER, person_id=12)
    assert holder.get("/api/v1/auth/me").status_code == 401
    assert holder.get("/me", follow_redirects=False).status_code == 200


def test_a_role_the_access_table_refuses_gets_a_page_saying_so(signed_in):
    outlet = signed_in(Role.SS_OUTLET, branch_code="SS-TN-01")
    answer = outlet.get("/me")
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]
    assert "当前角色无权调用此接口" in answer.text


def test_a_password_change_ends_the_browser_sessions_too(platform, signed_in):
    from tests.conftest import PASSWORD
    from yikatong.auth.service import change_password
    from yikatong.core.actor import Actor, Channel

    holder = signed_in(Role.HOLDER, username="holder-d", person_id=13)
    with platform.uow() as uow:
        user = find_user(uow=uow, username="holder-d")
        change_password(uow=uow, actor=Actor(user_id="holder-d", role=Role.HOLDER,
                                             channel=Channel.ONLINE_PORTAL),
                        user=user, current_password=PASSWORD,
                        new_password="lotus-canal-Wujin-9384-quiet")
        uow.commit()
    assert holder.get("/me", follow_redirects=False).status_code == 303


def _session_count(platform) -> int:
    with platform.uow() as uow:
        return len(uow.session.execute(select(AccessToken.id).where(
            AccessToken.kind == "session", AccessToken.revoked_at.is_(None))).all())


@pytest.mark.no_db
def test_a_browser_sees_the_csrf_refusal_as_a_page(page_client):
    client = page_client()
    client.get("/signin")
    answer = client.post("/ecard/verify", data={"token": "YKT1.x"})
    assert answer.status_code == 403 and "text/html" in answer.headers["content-type"]
    assert "表单已过期" in answer.text and "csrf_failed" in answer.text
