import pytest

from yikatong.auth.access import ACCESS, PUBLIC
from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def test_login_and_me(login, client):
    headers = login(Role.PHONE_AGENT, username="agent1")
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me["role"] == "phone_agent_12333" and me["channel"] == "phone_12333"


def test_a_login_is_stored_with_the_production_argon2_costs(real_login_argon2, platform, login,
                                                            client):
    """The suite hashes logins at small costs (tests/conftest.py quick_login_argon2); the
    production hasher is checked here, on a login made and signed in with it."""
    from sqlalchemy import select

    from yikatong.auth.models import User

    headers = login(Role.ADMIN, username="costly")
    with platform.uow() as uow:
        stored = uow.session.execute(select(User.password_hash)
                                     .where(User.username == "costly")).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert client.get("/api/v1/auth/me", headers=headers).json()["role"] == "admin"
    wrong = client.post("/api/v1/auth/token", data={"username": "costly", "password": "nope-nope"})
    assert wrong.status_code == 401


def test_wrong_password_is_problem_json(client, login):
    login(Role.ADMIN, username="boss")
    response = client.post("/api/v1/auth/token", data={"username": "boss", "password": "nope-nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "bad_credentials" and "密码" in body["title"] and body["title_en"]


@pytest.mark.no_db
def test_no_token_is_401(client):
    assert client.get("/api/v1/auth/me").json()["code"] == "unauthenticated"


def test_channel_outside_role_refused(login, client):
    headers = login(Role.HOLDER, channel="bank_branch")
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "channel_not_allowed"


@pytest.mark.no_db
def test_home_page_links_the_doors(client):
    page = client.get("/").text
    assert "/docs" in page and "/ecard/verify" in page and "一卡通" in page


@pytest.mark.no_db
def test_a_concurrent_change_noticed_at_autoflush_is_a_409_problem(platform, monkeypatch):
    from fastapi.testclient import TestClient
    from sqlalchemy.orm.exc import StaleDataError

    from yikatong.api.app import create_app

    app = create_app(platform)
    monkeypatch.setitem(ACCESS, "GET /race", PUBLIC)

    @app.get("/race")
    def race():
        raise StaleDataError("UPDATE expected to update 1 row(s); 0 were matched.")

    response = TestClient(app).get("/race")
    assert response.status_code == 409 and response.json()["code"] == "concurrent_change"


@pytest.mark.no_db
def test_an_audit_chain_taken_at_a_flush_is_a_409_and_any_other_integrity_error_a_500(platform, caplog,
                                                                                   monkeypatch):
    """Two writers recorded a change of one entity at once: the loser's flush fails on the audit
    chain's unique index (the commit already turns that into ConcurrentChange)."""
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import IntegrityError

    from yikatong.api.app import create_app

    app = create_app(platform)
    monkeypatch.setitem(ACCESS, "POST /audited-race", PUBLIC)
    monkeypatch.setitem(ACCESS, "POST /other", PUBLIC)
    collision = 'duplicate key value violates unique constraint "uq_audit_records_entity_type_entity_id_seq"'

    @app.post("/audited-race")
    def audited_race():
        raise IntegrityError("INSERT INTO audit_records …", {}, Exception(collision))

    @app.post("/other")
    def other():
        raise IntegrityError("INSERT INTO cards …", {}, Exception('unique constraint "uq_cards_pan"'))

    client = TestClient(app, raise_server_exceptions=False)
    race = client.post("/audited-race")
    assert race.status_code == 409 and race.json()["code"] == "concurrent_change"
    bug = client.post("/other")
    assert bug.status_code == 500 and bug.json()["code"] == "internal_error"
    assert "uq_cards_pan" in caplog.text  # logged for whoever looks into it
