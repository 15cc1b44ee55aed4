"""Pure rules of real-name sign-in."""

from __future__ import annotations

import pytest

from yikatong.oidc import rules

GOOD = {"jwks_uri": "https://idp.example/jwks", "authorization_endpoint": "https://idp.example/a",
        "token_endpoint": "https://idp.example/t"}


@pytest.mark.parametrize("issuer, changes, problems", [
    ("https://idp.example", {}, []),
    ("https://idp.example", {"jwks_uri": "http://idp.example/jwks"}, ["jwks_uri not https"]),
    ("https://idp.example", {"token_endpoint": None}, ["token_endpoint missing or not a URL"]),
    ("https://idp.example", {"authorization_endpoint": "javascript:alert(1)"},
     ["authorization_endpoint missing or not a URL"]),
    ("http://127.0.0.1:8900", {"jwks_uri": "http://127.0.0.1:8900/jwks"}, []),  # development
])
def test_discovery_endpoints_must_exist_and_keep_to_https(issuer, changes, problems):
    assert rules.endpoint_problems({**GOOD, **changes}, issuer) == problems


def test_a_login_cookie_gives_separate_values_and_a_matching_pkce_pair():
    secret = rules.new_login_secret(1_772_000_000)
    login = rules.login_parameters(secret)
    assert login.started_at == 1_772_000_000
    assert len({login.state, login.nonce, login.code_verifier}) == 3
    assert secret.split(".")[1] not in (login.state + login.nonce + login.code_challenge)
    assert login.code_challenge == rules.pkce_challenge(login.code_verifier)
    assert 43 <= len(login.code_verifier) <= 128  # RFC 7636 §4.1
    assert rules.login_parameters(secret) == login  # the callback recomputes the same
    assert rules.login_parameters(rules.new_login_secret(1_772_000_000)).state != login.state


@pytest.mark.parametrize("cookie", ["", "abc", "123.short", "x" * 200, "12a.".ljust(60, "x")])
def test_cookies_we_did_not_make_give_no_login(cookie):
    assert rules.login_parameters(cookie) is None


def test_a_login_expires_after_its_time_and_never_starts_in_the_future():
    assert not rules.login_expired(1000, 1000 + rules.LOGIN_TTL_SECONDS)
    assert rules.login_expired(1000, 1001 + rules.LOGIN_TTL_SECONDS)
    assert rules.login_expired(1000, 999)
