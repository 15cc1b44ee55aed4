"""The card centre adds staff and partner logins and issues API keys for partner systems."""

import pytest
from typer.testing import CliRunner

from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def test_admin_adds_a_bank_login_that_sees_only_its_bank(client, login):
    admin = login(Role.ADMIN)
    created = client.post("/api/v1/auth/users", headers=admin, json={
        "username": "ccb-teller", "password": "teller-pass-1", "role": "bank", "bank_code": "CCB",
        "branch_code": "CCB-CZ-001"})
    assert created.status_code == 201 and created.json()["bank_code"] == "CCB"
    token = client.post("/api/v1/auth/token", data={"username": "ccb-teller",
                                                    "password": "teller-pass-1"}).json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["role"], me["bank_code"]) == ("bank", "CCB")


@pytest.mark.parametrize("body, code", [
    ({"username": "x-bank", "password": "Lotus-pond-Wujin-2231", "role": "bank", "bank_code": "NOPE"}, "unknown_bank"),
    ({"username": "fake-holder", "password": "Lotus-pond-Wujin-2231", "role": "holder"}, "unknown_role"),
    ({"username": "nobody", "password": "Lotus-pond-Wujin-2231", "role": "king"}, "unknown_role"),
    ({"username": "short-pw", "password": "short", "role": "admin"}, "weak_password"),
])
def test_bad_logins_are_refused_and_nothing_is_added(client, login, body, code):
    admin = login(Role.ADMIN)
    response = client.post("/api/v1/auth/users", headers=admin, json=body)
    assert response.status_code in (409, 422) and response.json()["code"] == code
    again = client.post("/api/v1/auth/token", data={"username": body["username"], "password": "Lotus-pond-Wujin-2231"})
    assert again.status_code == 401


def test_only_the_card_centre_adds_logins(client, login):
    outlet = login(Role.SS_OUTLET)
    response = client.post("/api/v1/auth/users", headers=outlet, json={
        "username": "sneaky", "password": "Lotus-pond-Wujin-2231", "role": "admin"})
    assert response.status_code == 403


def test_api_key_for_a_partner_system_works_once_issued(client, login):
    admin = login(Role.ADMIN)
    client.post("/api/v1/auth/users", headers=admin, json={
        "username": "metro-system", "role": "transit_operator", "branch_code": "CZMETRO"})
    issued = client.post("/api/v1/auth/users/metro-system/api-keys", headers=admin,
                         json={"label": "gate uploads"})
    assert issued.status_code == 201
    key = issued.json()["api_key"]
    me = client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()
    assert (me["username"], me["role"]) == ("metro-system", "transit_operator")
    # a login without a password cannot log in with one
    assert client.post("/api/v1/auth/token", data={"username": "metro-system", "password": ""}).status_code in (401, 422)


def test_cli_adds_a_login_and_issues_a_key(tmp_path, monkeypatch):
    from yikatong.cli.context import platform
    from yikatong.cli.main import app
    from yikatong.db.migrate import upgrade

    monkeypatch.setenv("YKT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    platform.cache_clear()
    try:
        upgrade(platform().engine)
        runner = CliRunner()
        added = runner.invoke(app, ["user", "add", "bus-system", "--role", "transit_operator",
                                    "--branch", "CZBUS", "--no-password"])
        assert added.exit_code == 0, added.output
        issued = runner.invoke(app, ["user", "api-key", "bus-system", "--label", "validators"])
        assert issued.exit_code == 0 and "ykt_" in issued.output
        unknown = runner.invoke(app, ["user", "api-key", "nobody", "--label", "x"])
        assert unknown.exit_code == 1 and "not_found" in unknown.output
    finally:
        platform.cache_clear()
