"""Account lifecycle through the doors: own password change, logout, deactivation, and API keys
that expire, rotate, get revoked and are never a holder's. Each change is audited."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.conftest import PASSWORD, cli_on

from yikatong.audit.models import AuditRecord
from yikatong.auth.models import User
from yikatong.core.actor import Role

pytestmark = pytest.mark.db

NEW_PASSWORD = "orchid-Wujin-ferry-5820"


def bearer(client, username, password=PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def me_status(client, headers) -> int:
    return client.get("/api/v1/auth/me", headers=headers).status_code


def audited(platform, username) -> list[str]:
    with platform.uow() as uow:
        user_id = uow.session.execute(select(User.id).where(User.username == username)).scalar_one()
        return list(uow.session.execute(
            select(AuditRecord.action).where(AuditRecord.entity_type == "user",
                                             AuditRecord.entity_id == str(user_id))
            .order_by(AuditRecord.seq)).scalars())


@pytest.fixture
def partner(client, login):
    """An admin's headers and a transit partner login with no password, as the card centre adds one."""
    admin = login(Role.ADMIN, username="centre-admin")
    created = client.post("/api/v1/auth/users", headers=admin, json={
        "username": "metro-system", "role": "transit_operator", "branch_code": "CZMETRO"})
    assert created.status_code == 201
    return admin


def issue(client, admin, username="metro-system", **body) -> dict:
    response = client.post(f"/api/v1/auth/users/{username}/api-keys", headers=admin,
                           json={"label": "gates", **body})
    assert response.status_code == 201, response.text
    return response.json()


# --- own password --------------------------------------------------------------------------


def test_a_login_changes_its_password_and_its_other_sessions_end(client, login, platform):
    here = login(Role.SS_OUTLET, username="teller")
    elsewhere = bearer(client, "teller")
    changed = client.post("/api/v1/auth/password", headers=here, json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and changed.json()["other_sessions_ended"] == 1
    assert me_status(client, here) == 200 and me_status(client, elsewhere) == 401
    old = client.post("/api/v1/auth/token", data={"username": "teller", "password": PASSWORD})
    assert old.status_code == 401
    assert me_status(client, bearer(client, "teller", NEW_PASSWORD)) == 200
    assert "auth.password_changed" in audited(platform, "teller")


@pytest.mark.parametrize("current, new, status, code", [
    ("not-my-password-at-all", NEW_PASSWORD, 403, "current_password_wrong"),
    (PASSWORD, PASSWORD, 422, "password_unchanged"),
    (PASSWORD, "teller12345678", 422, "weak_password"),  # the username plus digits
    (PASSWORD, "short-Pw9", 422, "weak_password"),
])
def test_a_password_change_is_refused_and_nothing_changes(client, login, platform, current, new, status, code):
    headers = login(Role.SS_OUTLET, username="teller")
    response = client.post("/api/v1/auth/password", headers=headers, json={
        "current_password": current, "new_password": new})
    assert response.status_code == status and response.json()["code"] == code
    assert me_status(client, bearer(client, "teller")) == 200  # the old password still works
    assert "auth.password_changed" not in audited(platform, "teller")


def test_the_cli_changes_and_resets_a_password(platform, login, client, monkeypatch):
    login(Role.ADMIN, username="boss")
    ykt = cli_on(platform, monkeypatch)
    from typer.testing import CliRunner

    from yikatong.cli.main import app

    changed = CliRunner().invoke(app, ["user", "password", "boss", "--password-stdin"],
                                 input=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert changed.exit_code == 0, changed.output
    assert me_status(client, bearer(client, "boss", NEW_PASSWORD)) == 200
    wrong = CliRunner().invoke(app, ["user", "password", "boss", "--password-stdin"],
                               input=f"{PASSWORD}\n{NEW_PASSWORD}-2\n")
    assert wrong.exit_code == 1 and "current_password_wrong" in wrong.output
    reset = CliRunner().invoke(app, ["user", "password", "boss", "--reset", "--password-stdin"],
                               input="boss-boss-boss\n")
    assert reset.exit_code == 1 and "weak_password" in reset.output
    assert ykt("user", "password", "nobody", "--reset").exit_code == 1
    assert audited(platform, "boss").count("auth.password_changed") == 1


def test_create_admin_refuses_a_weak_password_and_makes_a_working_admin(platform, client, monkeypatch):
    from typer.testing import CliRunner

    from yikatong.cli.main import app

    cli_on(platform, monkeypatch)
    weak = CliRunner().invoke(app, ["user", "create-admin", "chief", "--password-stdin"], input="chief-2026\n")
    assert weak.exit_code == 1 and "weak_password" in weak.output and "密码强度不够" in weak.output
    made = CliRunner().invoke(app, ["user", "create-admin", "chief", "--password-stdin"], input=f"{NEW_PASSWORD}\n")
    assert made.exit_code == 0, made.output
    me = client.get("/api/v1/auth/me", headers=bearer(client, "chief", NEW_PASSWORD)).json()
    assert me["role"] == "admin"


@pytest.mark.no_db
def test_create_admin_refuses_a_demo_name_in_production(platform, monkeypatch):
    from dataclasses import replace

    from typer.testing import CliRunner

    from yikatong.cli.main import app
    from yikatong.platform import Platform

    production = Platform(replace(platform.settings, environment="production"))
    cli_on(production, monkeypatch)
    refused = CliRunner().invoke(app, ["user", "create-admin", "admin", "--password-stdin"],
                                 input=f"{NEW_PASSWORD}\n")
    assert refused.exit_code == 1 and "reserved_username" in refused.output


# --- logout and deactivation ---------------------------------------------------------------


def test_logout_revokes_the_token_used_and_only_that_one(client, login, platform):
    first = login(Role.PHONE_AGENT, username="agent")
    second = bearer(client, "agent")
    assert client.post("/api/v1/auth/logout", headers=first).status_code == 204
    assert me_status(client, first) == 401 and me_status(client, second) == 200
    assert client.post("/api/v1/auth/logout", headers=first).status_code == 401
    assert "auth.logout" in audited(platform, "agent")


def test_logout_with_an_api_key_is_refused_and_the_key_keeps_working(client, partner):
    key = {"X-API-Key": issue(client, partner)["api_key"]}
    response = client.post("/api/v1/auth/logout", headers=key)
    assert response.status_code == 422 and response.json()["code"] == "logout_needs_bearer"
    assert me_status(client, key) == 200


def test_deactivation_stops_tokens_and_api_keys_at_once(client, login, partner, platform):
    teller = login(Role.SS_OUTLET, username="teller")
    key = {"X-API-Key": issue(client, partner)["api_key"]}
    for username in ("teller", "metro-system"):
        answer = client.post(f"/api/v1/auth/users/{username}/deactivate", headers=partner)
        assert answer.status_code == 200 and answer.json()["active"] is False
    assert me_status(client, teller) == 401 and me_status(client, key) == 401
    assert client.post("/api/v1/auth/token", data={"username": "teller", "password": PASSWORD}).status_code == 401
    again = client.post("/api/v1/auth/users/teller/deactivate", headers=partner)
    assert again.status_code == 409 and again.json()["code"] == "user_already_in_state"
    # reactivated, the login logs in afresh; the old token and key stay revoked
    assert client.post("/api/v1/auth/users/teller/reactivate", headers=partner).status_code == 200
    assert client.post("/api/v1/auth/users/metro-system/reactivate", headers=partner).status_code == 200
    assert me_status(client, teller) == 401 and me_status(client, key) == 401
    assert me_status(client, bearer(client, "teller")) == 200
    actions = audited(platform, "teller")
    assert actions.index("auth.user_deactivated") < actions.index("auth.user_reactivated")


def test_only_an_admin_deactivates_and_never_itself(client, login, partner):
    outlet = login(Role.SS_OUTLET, username="teller")
    assert client.post("/api/v1/auth/users/metro-system/deactivate", headers=outlet).status_code == 403
    own = client.post("/api/v1/auth/users/centre-admin/deactivate", headers=partner)
    assert own.status_code == 409 and own.json()["code"] == "cannot_deactivate_self"
    assert me_status(client, partner) == 200


def test_the_cli_deactivates_a_login(platform, login, client, monkeypatch):
    headers = login(Role.BANK, username="teller", bank_code="ICBC")
    ykt = cli_on(platform, monkeypatch)
    assert ykt("user", "deactivate", "teller").exit_code == 0
    assert me_status(client, headers) == 401
    assert ykt("user", "reactivate", "teller").exit_code == 0
    assert me_status(client, bearer(client, "teller")) == 200


# --- API keys --------------------------------------------------------------------------------


def test_an_api_key_expires_after_its_lifetime(client, partner, clock):
    default = issue(client, partner)
    short = issue(client, partner, valid_days=2)
    assert default["expires_at"].startswith(str((clock.now() + timedelta(days=90)).date()))
    clock.advance(days=2)
    assert me_status(client, {"X-API-Key": short["api_key"]}) == 401
    assert me_status(client, {"X-API-Key": default["api_key"]}) == 200
    clock.advance(days=88)
    assert me_status(client, {"X-API-Key": default["api_key"]}) == 401


def test_an_api_key_lifetime_above_the_maximum_is_refused(client, partner, platform, admin_actor):
    response = client.post("/api/v1/auth/users/metro-system/api-keys", headers=partner,
                           json={"label": "gates", "valid_days": 366})
    assert response.status_code == 422
    from yikatong.auth.errors import ApiKeyLifetimeTooLong
    from yikatong.auth.service import find_user, issue_api_key

    with platform.uow() as uow, pytest.raises(ApiKeyLifetimeTooLong):
        issue_api_key(uow=uow, user=find_user(uow=uow, username="metro-system"), label="x",
                      actor=admin_actor, lifetime=timedelta(days=400))


def test_keys_are_listed_without_their_secret(client, partner):
    first = issue(client, partner)
    issue(client, partner, label="uploads")
    listing = client.get("/api/v1/auth/users/metro-system/api-keys", headers=partner)
    assert listing.status_code == 200
    keys = listing.json()
    assert [k["label"] for k in keys] == ["uploads", "gates"]
    assert keys[1]["hint"] == first["api_key"][-4:] and keys[1]["status"] == "active"
    assert first["api_key"] not in listing.text and "token_hash" not in listing.text


def test_rotation_gives_a_new_key_and_the_old_one_a_grace_period(client, partner, clock, platform):
    old = issue(client, partner)
    rotated = client.post(f"/api/v1/auth/users/metro-system/api-keys/{old['key_id']}/rotate",
                          headers=partner, json={"grace_hours": 2})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["api_key"] != old["api_key"] and new["old_key_id"] == old["key_id"]
    assert me_status(client, {"X-API-Key": old["api_key"]}) == 200  # still in its grace period
    assert me_status(client, {"X-API-Key": new["api_key"]}) == 200
    clock.advance(hours=2)
    assert me_status(client, {"X-API-Key": old["api_key"]}) == 401
    assert me_status(client, {"X-API-Key": new["api_key"]}) == 200
    assert "auth.api_key_rotated" in audited(platform, "metro-system")


def test_rotation_without_grace_revokes_at_once_and_too_long_a_grace_is_refused(client, partner, platform, admin_actor):
    old = issue(client, partner)
    url = f"/api/v1/auth/users/metro-system/api-keys/{old['key_id']}/rotate"
    assert client.post(url, headers=partner, json={"grace_hours": 24 * 8}).status_code == 422
    assert client.post(url, headers=partner, json={"grace_hours": 0}).status_code == 201
    assert me_status(client, {"X-API-Key": old["api_key"]}) == 401
    again = client.post(url, headers=partner, json={"grace_hours": 0})
    assert again.status_code == 409 and again.json()["code"] == "api_key_revoked"


def test_revoking_a_key_stops_it_at_once(client, partner, platform):
    kept, revoked = issue(client, partner), issue(client, partner)
    url = f"/api/v1/auth/users/metro-system/api-keys/{revoked['key_id']}"
    assert client.delete(url, headers=partner).status_code == 204
    assert me_status(client, {"X-API-Key": revoked["api_key"]}) == 401
    assert me_status(client, {"X-API-Key": kept["api_key"]}) == 200
    other = client.delete(f"/api/v1/auth/users/centre-admin/api-keys/{kept['key_id']}", headers=partner)
    assert other.status_code == 404 and other.json()["code"] == "api_key_not_found"  # not that login's key
    assert "auth.api_key_revoked" in audited(platform, "metro-system")


def test_a_holder_gets_no_api_key_and_a_holder_key_from_before_is_refused(client, login, partner, platform):
    from yikatong.auth.service import _issue, find_user

    login(Role.HOLDER, username="citizen")
    refused = client.post("/api/v1/auth/users/citizen/api-keys", headers=partner, json={"label": "x"})
    assert refused.status_code == 422 and refused.json()["code"] == "api_key_not_allowed"
    with platform.uow() as uow:  # a key written before holders were refused them
        legacy = _issue(uow, find_user(uow=uow, username="citizen"), kind="api_key",
                        expires_at=uow.now() + timedelta(days=30), label="legacy")
        uow.commit()
    assert me_status(client, {"X-API-Key": legacy}) == 401


def test_the_cli_issues_lists_rotates_and_revokes_keys(platform, partner, client, monkeypatch):
    ykt = cli_on(platform, monkeypatch)
    issued = ykt("user", "api-key", "metro-system", "--label", "validators", "--days", "30")
    assert issued.exit_code == 0, issued.output
    key = next(word for word in issued.output.split() if word.startswith("ykt_"))
    listed = ykt("user", "api-keys", "metro-system")
    assert listed.exit_code == 0 and key[-4:] in listed.output and key not in listed.output
    key_id = client.get("/api/v1/auth/users/metro-system/api-keys", headers=partner).json()[0]["key_id"]
    rotated = ykt("user", "rotate-api-key", "metro-system", key_id, "--grace-hours", "0")
    assert rotated.exit_code == 0 and me_status(client, {"X-API-Key": key}) == 401
    new_key = next(word for word in rotated.output.split() if word.startswith("ykt_"))
    assert me_status(client, {"X-API-Key": new_key}) == 200
    new_id = client.get("/api/v1/auth/users/metro-system/api-keys", headers=partner).json()[0]["key_id"]
    assert ykt("user", "revoke-api-key", "metro-system", new_id).exit_code == 0
    assert me_status(client, {"X-API-Key": new_key}) == 401
