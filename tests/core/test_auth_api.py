import pytest

from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def test_login_and_me(login, client):
    headers = login(Role.PHONE_AGENT, username="agent1")
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me["role"] == "phone_agent_12333" and me["channel"] == "phone_12333"


def test_wrong_password_is_problem_json(client, login):
    login(Role.ADMIN, username="boss")
    response = client.post("/api/v1/auth/token", data={"username": "boss", "password": "nope-nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "bad_credentials" and "密码" in body["title"] and body["title_en"]


def test_no_token_is_401(client):
    assert client.get("/api/v1/auth/me").json()["code"] == "unauthenticated"


def test_channel_outside_role_refused(login, client):
    headers = login(Role.HOLDER, channel="bank_branch")
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "channel_not_allowed"


def test_home_page_links_the_doors(client):
    page = client.get("/").text
    assert "/docs" in page and "/ecard/verify" in page and "一卡通" in page


def test_a_concurrent_change_noticed_at_autoflush_is_a_409_problem(platform):
    from fastapi.testclient import TestClient
    from sqlalchemy.orm.exc import StaleDataError

    from yikatong.api.app import create_app

    app = create_app(platform)

    @app.get("/race")
    def race():
        raise StaleDataError("UPDATE expected to update 1 row(s); 0 were matched.")

    response = TestClient(app).get("/race")
    assert response.status_code == 409 and response.json()["code"] == "concurrent_change"
