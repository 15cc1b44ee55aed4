"""The OpenID Connect authenticator against the reference provider running on loopback: real
HTTP for discovery and keys, real signatures. Each refusal is checked by its reason."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.oidc.conftest import CLIENT_ID, OTHER_CALLBACK, OTHER_CLIENT_ID, authorize
from yikatong.applications.protocols import IdentityAuthenticator, IdentityServiceUnavailable
from yikatong.oidc import rules
from yikatong.oidc.client import REFUSALS, OidcIdentityAuthenticator, TokenRefused
from yikatong.realname import keys as provider_keys
from yikatong.realname.app import ID_NUMBER_CLAIM

NAME, NUMBER = "王晓明", "320402199003070013"


@pytest.fixture
def authenticator(oidc_platform) -> OidcIdentityAuthenticator:
    found = oidc_platform.get(IdentityAuthenticator)
    assert isinstance(found, OidcIdentityAuthenticator)
    return found


def refused_because(result, why: str) -> bool:
    zh, en = REFUSALS[why]
    return result.verified is False and zh in result.reason and en in result.reason


def forged(provider, clock, key=None, header=None, **changes) -> str:
    """A token like the provider's, with `changes` to its claims, signed by `key` (default:
    the provider's own signing key, under its kid)."""
    signing = key or provider.keys().signing_key
    now = int(clock.now().timestamp())
    claims = {"iss": provider.issuer, "sub": "s", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
              "nonce": "n", "name": NAME, ID_NUMBER_CLAIM: NUMBER, **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    alg = "ES256" if isinstance(signing, ECKey) else "RS256"
    return jwt.encode(header or {"alg": alg, "kid": signing.kid}, claims, signing, algorithms=[alg])


def test_a_token_from_the_provider_verifies_for_the_person_it_names(provider, authenticator):
    issued = authorize(provider, name=NAME, id_number=NUMBER)
    result = authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=issued.id_token)
    assert result.verified, result.reason
    claims = authenticator.verify_id_token(issued.id_token, nonce=issued.nonce)
    assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT_ID
    # The ID number is compared as the platform normalises it (spaces, a lower-case x).
    li_jing = authorize(provider, name="李静", id_number="32040419851120002X")
    assert authenticator.authenticate(name=" 李静 ", id_number="32040419851120002x",
                                      evidence=li_jing.id_token).verified


@pytest.mark.parametrize("name, number", [("王晓明", "320411200106150034"), ("陈浩", NUMBER)],
                         ids=["other ID number", "other name"])
def test_a_token_naming_another_person_is_refused(provider, authenticator, name, number):
    issued = authorize(provider, name=NAME, id_number=NUMBER)
    result = authenticator.authenticate(name=name, id_number=number, evidence=issued.id_token)
    assert refused_because(result, "person")


def test_a_token_signed_by_another_key_is_refused(provider, authenticator, clock):
    published = provider.keys().signing_key
    impostor = RSAKey.generate_key(2048, parameters={"kid": published.kid})  # same kid, other key
    result = authenticator.authenticate(name=NAME, id_number=NUMBER,
                                        evidence=forged(provider, clock, key=impostor))
    assert refused_because(result, "signature")
    stranger = RSAKey.generate_key(2048, auto_kid=True)  # a kid the provider never published
    result = authenticator.authenticate(name=NAME, id_number=NUMBER,
                                        evidence=forged(provider, clock, key=stranger))
    assert refused_because(result, "unknown_key")
    # The same claims under the provider's own key pass: the key was the only fault.
    assert authenticator.authenticate(name=NAME, id_number=NUMBER,
                                      evidence=forged(provider, clock)).verified


def test_an_expired_token_is_refused(provider, authenticator, clock):
    issued = authorize(provider, name=NAME, id_number=NUMBER)
    clock.advance(seconds=300 + authenticator.config.leeway_seconds - 1)
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=issued.id_token).verified
    clock.advance(seconds=1)
    result = authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=issued.id_token)
    assert refused_because(result, "expired")


def test_a_token_for_another_client_is_refused(provider, authenticator, clock):
    # Issued for real by the provider, to another relying party registered there.
    theirs = authorize(provider, name=NAME, id_number=NUMBER, client_id=OTHER_CLIENT_ID,
                       redirect_uri=OTHER_CALLBACK)
    result = authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=theirs.id_token)
    assert refused_because(result, "audience")
    # Several audiences including ours, but authorised for another party (azp): refused.
    shared = forged(provider, clock, aud=[CLIENT_ID, OTHER_CLIENT_ID], azp=OTHER_CLIENT_ID)
    assert refused_because(authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=shared),
                           "audience")
    ours = forged(provider, clock, aud=[CLIENT_ID, OTHER_CLIENT_ID], azp=CLIENT_ID)
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=ours).verified


def test_a_token_from_another_issuer_is_refused(provider, authenticator, clock):
    result = authenticator.authenticate(
        name=NAME, id_number=NUMBER, evidence=forged(provider, clock, iss="https://idp.example"))
    assert refused_because(result, "issuer")


def test_a_token_answering_another_sign_in_is_refused(provider, authenticator):
    issued = authorize(provider, name=NAME, id_number=NUMBER, nonce="nonce-of-another-login")
    with pytest.raises(TokenRefused) as refusal:
        authenticator.verify_id_token(issued.id_token, nonce="nonce-of-this-login")
    assert refusal.value.why == "nonce"
    assert authenticator.verify_id_token(issued.id_token, nonce="nonce-of-another-login")


def test_times_not_yet_valid_or_too_old_are_refused(provider, authenticator, clock):
    now = int(clock.now().timestamp())
    future = forged(provider, clock, nbf=now + 3600)
    assert refused_because(authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=future),
                           "not_yet_valid")
    stale = forged(provider, clock, iat=now - 3600, exp=now + 3600)  # long-lived, issued long ago
    assert refused_because(authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=stale),
                           "too_old")
    no_nonce = forged(provider, clock, nonce=None)
    assert refused_because(authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=no_nonce),
                           "missing_claim")


def test_unsigned_or_symmetric_tokens_are_refused(provider, authenticator, clock):
    published = provider.keys().signing_key
    good = forged(provider, clock)
    header, payload, _signature = good.split(".")
    # HS256 keyed with the provider's public key: the classic algorithm confusion (made by
    # hand, since joserfc itself refuses to use a public key as an HMAC secret).
    confused_header = rules.b64url(json.dumps({"alg": "HS256", "kid": published.kid}).encode())
    signing_input = f"{confused_header}.{payload}".encode()
    mac = hmac.new(published.as_pem(private=False), signing_input, hashlib.sha256).digest()
    confused = f"{confused_header}.{payload}.{rules.b64url(mac)}"
    assert refused_because(authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=confused),
                           "algorithm")
    unsigned = "eyJhbGciOiJub25lIn0." + payload + "."  # {"alg":"none"}
    assert refused_because(authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=unsigned),
                           "algorithm")
    tampered = ".".join([header, payload[:-4] + "AAAA", _signature])
    assert not authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=tampered).verified


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evidence=st.one_of(st.text(max_size=300),
                          st.lists(st.text(alphabet="abcXYZ-_=019", max_size=40), min_size=3,
                                   max_size=3).map(".".join)))
def test_garbage_evidence_is_refused_as_malformed(authenticator, evidence):
    result = authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=evidence)
    assert not result.verified and result.reason


def test_a_key_rotated_at_the_provider_is_picked_up(provider, authenticator, clock):
    before = authorize(provider, name=NAME, id_number=NUMBER)
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=before.id_token).verified
    assert authenticator.provider.fetches == 1
    old_kid = provider.keys().signing_key.kid
    new_kid = provider_keys.rotate(provider.key_path)
    assert new_kid != old_kid
    clock.advance(seconds=authenticator.config.refresh_cooldown_seconds)
    after = authorize(provider, name=NAME, id_number=NUMBER)
    assert jwt.decode(after.id_token, provider.keys().signing_key).header["kid"] == new_kid
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=after.id_token).verified
    assert authenticator.provider.fetches == 2  # the unknown kid made it read the keys again
    # The old key stays published, so a token signed just before the rotation still verifies.
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=before.id_token).verified
    assert authenticator.provider.fetches == 2


def test_unknown_kids_do_not_make_the_platform_hammer_the_provider(provider, authenticator, clock):
    assert authenticator.authenticate(name=NAME, id_number=NUMBER,
                                      evidence=forged(provider, clock)).verified
    for _ in range(5):
        stranger = ECKey.generate_key("P-256", auto_kid=True)
        authenticator.authenticate(name=NAME, id_number=NUMBER,
                                   evidence=forged(provider, clock, key=stranger))
    assert authenticator.provider.fetches == 1  # all within the cooldown after the first read


def test_cached_keys_verify_while_the_provider_is_down(provider, authenticator, clock):
    first, second = (authorize(provider, name=NAME, id_number=NUMBER) for _ in range(2))
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=first.id_token).verified
    provider.stop()
    assert authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=second.id_token).verified
    # A key it has not seen needs the provider: unavailable, not a refusal of the applicant.
    clock.advance(seconds=authenticator.config.refresh_cooldown_seconds)
    stranger = ECKey.generate_key("P-256", auto_kid=True)
    with pytest.raises(IdentityServiceUnavailable):
        authenticator.authenticate(name=NAME, id_number=NUMBER,
                                   evidence=forged(provider, clock, key=stranger))
    # And keys past their age are read again, which fails too.
    clock.advance(seconds=authenticator.config.keys_max_age_seconds)
    with pytest.raises(IdentityServiceUnavailable):
        authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=forged(provider, clock))


def test_a_provider_that_cannot_be_reached_is_unavailable(provider, authenticator, clock):
    token = forged(provider, clock)
    provider.stop()
    with pytest.raises(IdentityServiceUnavailable):
        authenticator.authenticate(name=NAME, id_number=NUMBER, evidence=token)
