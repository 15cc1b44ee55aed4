"""The holder-facing authorization-code flow through the platform's routes, with the reference
provider on loopback: start, the provider's page, the callback, and the evidence it returns."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.oidc.conftest import CLIENT_ID, PLATFORM_CALLBACK
from yikatong.api.app import create_app
from yikatong.applications.protocols import IdentityAuthenticator
from yikatong.applications.reference import SyntheticIdentityAuthenticator
from yikatong.core.settings import Settings
from yikatong.oidc import rules
from yikatong.oidc.api import COOKIE
from yikatong.oidc.client import OidcIdentityAuthenticator
from yikatong.oidc.errors import OidcMisconfigured
from yikatong.platform import Platform

NAME, NUMBER = "赵敏", "320412197801010043"
LOGIN, CALLBACK = "/api/v1/oidc/login", "/api/v1/oidc/callback"


@pytest.fixture
def holder_app(oidc_platform):
    with TestClient(create_app(oidc_platform)) as test_client:
        yield test_client


def start(client: TestClient) -> dict[str, str]:
    """Start a login; the authorization request's parameters, as the provider will see them."""
    response = client.post(LOGIN)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"].lower()
    assert all(part in cookie for part in ("httponly", "samesite=lax", "path=/api/v1/oidc", "max-age=600"))
    url = urlsplit(response.json()["authorization_url"])
    return {key: values[0] for key, values in parse_qs(url.query).items()} | {
        "_endpoint": f"{url.scheme}://{url.netloc}{url.path}"}


def at_provider(params: dict[str, str], *, name=NAME, id_number=NUMBER, action="approve"):
    """The person at the provider's page: it answers with a redirect to the platform."""
    endpoint = params["_endpoint"]
    request = {k: v for k, v in params.items() if k != "_endpoint"}
    with httpx.Client() as browser:
        page = browser.get(endpoint, params=request)
        assert page.status_code == 200 and "开发" in page.text
        return browser.post(endpoint, data={**request, "name": name, "id_number": id_number,
                                            "action": action})


def callback_path(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == PLATFORM_CALLBACK
    return f"{location.path}?{location.query}"


def test_the_whole_flow_gives_evidence_the_authenticator_accepts(holder_app, oidc_platform):
    params = start(holder_app)
    assert params["client_id"] == CLIENT_ID and params["redirect_uri"] == PLATFORM_CALLBACK
    assert params["code_challenge_method"] == "S256" and params["scope"] == "openid"
    login = rules.login_parameters(holder_app.cookies[COOKIE])
    assert (params["state"], params["nonce"], params["code_challenge"]) == (
        login.state, login.nonce, login.code_challenge)
    assert login.code_verifier not in str(params)  # the verifier stays with the platform side

    finished = holder_app.get(callback_path(at_provider(params)))
    assert finished.status_code == 200, finished.text
    assert finished.headers["cache-control"] == "no-store"
    body = finished.json()
    assert (body["name"], body["id_number"]) == (NAME, NUMBER)
    assert COOKIE not in holder_app.cookies  # the login is over
    authenticator = oidc_platform.get(IdentityAuthenticator)
    assert authenticator.verify_id_token(body["evidence"], nonce=login.nonce)["name"] == NAME
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=body["evidence"]).verified
    assert not authenticator.authenticate(name="李静", id_number="32040419851120002X",
                                          evidence=body["evidence"]).verified


def test_a_callback_needs_the_login_that_started_it(holder_app, oidc_platform):
    params = start(holder_app)
    path = callback_path(at_provider(params))
    with TestClient(create_app(oidc_platform)) as other_browser:  # no login cookie
        refused = other_browser.get(path)
    assert (refused.status_code, refused.json()["code"]) == (400, "realname_login_not_started")
    forged_state = path.replace(params["state"], "x" * len(params["state"]))
    refused = holder_app.get(forged_state)
    assert (refused.status_code, refused.json()["code"]) == (400, "realname_login_state_mismatch")
    assert holder_app.get(path).status_code == 200  # the real one still finishes


def test_a_code_from_another_login_is_refused_by_pkce(holder_app, oidc_platform):
    """A code stolen from one sign-in and injected into another: the provider refuses it,
    since the thief's login has another PKCE verifier."""
    with TestClient(create_app(oidc_platform)) as victim:
        victims_code = parse_qs(urlsplit(at_provider(start(victim)).headers["location"]).query)["code"][0]
    thief = start(holder_app)
    refused = holder_app.get(CALLBACK, params={"code": victims_code, "state": thief["state"]})
    assert refused.status_code == 400
    assert refused.json()["code"] == "realname_login_refused"
    assert "invalid_grant" in refused.json()["title_en"]


def test_a_code_is_good_once(holder_app):
    path = callback_path(at_provider(start(holder_app)))
    cookie = holder_app.cookies[COOKIE]
    assert holder_app.get(path).status_code == 200
    holder_app.cookies.set(COOKIE, cookie, path="/api/v1/oidc")  # replay the whole callback
    replayed = holder_app.get(path)
    assert replayed.status_code == 400 and "invalid_grant" in replayed.json()["title_en"]


def test_cancelling_at_the_provider_finishes_nothing(holder_app):
    answer = at_provider(start(holder_app), action="deny")
    refused = holder_app.get(callback_path(answer))
    assert refused.status_code == 400
    assert "access_denied" in refused.json()["title_en"]


def test_the_provider_page_checks_the_id_number(holder_app):
    params = start(holder_app)
    answer = at_provider(params, id_number="320412197801010044")  # wrong check character
    assert answer.status_code == 400 and "check character" in answer.text
    assert "location" not in answer.headers


def test_a_login_left_too_long_is_refused(holder_app, clock):
    path = callback_path(at_provider(start(holder_app)))
    clock.advance(seconds=rules.LOGIN_TTL_SECONDS + 1)
    refused = holder_app.get(path)
    assert (refused.status_code, refused.json()["code"]) == (400, "realname_login_expired")


def test_a_provider_that_is_down_makes_the_start_unavailable(holder_app, provider):
    provider.stop()
    response = holder_app.post(LOGIN)
    assert (response.status_code, response.json()["code"]) == (503, "identity_service_unavailable")


# --- wiring ----------------------------------------------------------------------------------


def test_without_an_issuer_the_synthetic_check_stays_and_the_routes_say_so(client, platform):
    assert isinstance(platform.get(IdentityAuthenticator), SyntheticIdentityAuthenticator)
    for response in (client.post(LOGIN), client.get(CALLBACK, params={"code": "c", "state": "s"})):
        assert (response.status_code, response.json()["code"]) == (404, "realname_login_not_configured")


def test_an_issuer_wires_the_oidc_check(oidc_platform, provider):
    found = oidc_platform.get(IdentityAuthenticator)
    assert isinstance(found, OidcIdentityAuthenticator)
    assert (found.config.issuer, found.config.client_id) == (provider.issuer, CLIENT_ID)


@pytest.mark.parametrize("changes, setting", [
    ({"oidc_client_id": None}, "YKT_OIDC_CLIENT_ID"),
    ({"oidc_issuer": "idp.example"}, "YKT_OIDC_ISSUER"),
    ({"environment": "production"}, "YKT_OIDC_ISSUER"),  # http:// in production
], ids=["no client id", "not a URL", "http in production"])
def test_half_or_unsafe_configuration_refuses_to_start(database_url, tmp_path, changes, setting):
    values = {"database_url": database_url, "key_store_path": str(tmp_path / "keystore.json"),
              "oidc_issuer": "http://127.0.0.1:9", "oidc_client_id": CLIENT_ID, **changes}
    with pytest.raises(OidcMisconfigured) as refusal:
        Platform(Settings(**values))
    assert setting in refusal.value.message_en


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("YKT_OIDC_ISSUER", "https://realname.example")
    monkeypatch.setenv("YKT_OIDC_CLIENT_ID", "ykt")
    monkeypatch.setenv("YKT_OIDC_ID_NUMBER_CLAIM", "id_card_no")
    settings = Settings.from_env()
    assert (settings.oidc_issuer, settings.oidc_client_id) == ("https://realname.example", "ykt")
    assert (settings.oidc_name_claim, settings.oidc_id_number_claim) == ("name", "id_card_no")
