import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.crypto.sm2 import Sm2Signer, Sm2Verifier, generate_keypair
from yikatong.ecard import status_list
from yikatong.ecard.tokens import TokenClaims, TokenRejected, issue_token, read_token

PRIVATE, PUBLIC = generate_keypair()
SIGNER = Sm2Signer(PRIVATE)
VERIFIERS = {3: Sm2Verifier(PUBLIC)}
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def claims(**changes):
    base = dict(key_version=3, status_index=42, ecard_no=123456789, issued_at=NOW,
                valid_for=timedelta(seconds=60), nonce=secrets.token_bytes(8))
    return TokenClaims(**{**base, **changes})


def test_token_round_trip_within_60_seconds():
    original = claims()
    token = issue_token(SIGNER, original)
    assert token.startswith("YKT1.") and token[5:].isalnum() and token[5:].isupper()
    assert read_token(token, VERIFIERS, NOW + timedelta(seconds=59)) == original


def test_a_version_2_code_carries_the_holders_age_signed():
    """An offline venue gate decides a free category by age from the code (no list of the
    city's holders); the age is under the signature like every other field."""
    original = claims(age=76)
    token = issue_token(SIGNER, original)
    assert read_token(token, VERIFIERS, NOW) == original and read_token(token, VERIFIERS, NOW).age == 76
    assert read_token(issue_token(SIGNER, claims()), VERIFIERS, NOW).age is None  # version 1: no age
    import base64

    raw = bytearray(base64.b32decode(token[5:] + "=" * (-len(token[5:]) % 8)))
    raw[28] = 20  # the age byte changed: the signature no longer verifies
    forged = "YKT1." + base64.b32encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(TokenRejected):
        read_token(forged, VERIFIERS, NOW)


@pytest.mark.parametrize("after, accepted", [
    (-5, True), (0, True), (59, True), (59.999, True), (60, False), (61, False), (65, False),
    (600, False)])
def test_a_60_second_code_is_taken_for_60_seconds_and_skew_never_extends_it(after, accepted):
    """A verifier running up to 5 s behind the issuer still takes a fresh code (after = -5);
    none takes it from its expires_at on."""
    token = issue_token(SIGNER, claims())
    if accepted:
        read_token(token, VERIFIERS, NOW + timedelta(seconds=after))
    else:
        with pytest.raises(TokenRejected, match="expired"):
            read_token(token, VERIFIERS, NOW + timedelta(seconds=after))


def test_a_code_from_more_than_the_skew_ahead_is_not_yet_valid():
    with pytest.raises(TokenRejected, match="future"):
        read_token(issue_token(SIGNER, claims()), VERIFIERS, NOW - timedelta(seconds=6))


def test_forged_token_is_refused():
    other_private, _ = generate_keypair()
    forged = issue_token(Sm2Signer(other_private), claims())
    with pytest.raises(TokenRejected, match="signature"):
        read_token(forged, VERIFIERS, NOW)


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=5, max_value=200), replacement=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
def test_any_changed_character_is_refused(position, replacement):
    token = issue_token(SIGNER, claims())
    position = position % len(token)
    if position < 5 or token[position] == replacement:
        return
    tampered = token[:position] + replacement + token[position + 1:]
    with pytest.raises(TokenRejected):
        read_token(tampered, VERIFIERS, NOW)


def test_unknown_key_version_and_garbage_refused():
    with pytest.raises(TokenRejected):
        read_token(issue_token(SIGNER, claims(key_version=9)), VERIFIERS, NOW)
    for garbage in ("hello", "YKT1.!!!", "YKT1.AAAA"):
        with pytest.raises(TokenRejected):
            read_token(garbage, VERIFIERS, NOW)


def test_status_list_bits_follow_w3c_order_and_verify():
    credential = status_list.build_credential(
        list_url="https://ykt.example/status/1", issuer="did:web:ykt.example", purpose="suspension",
        set_indices=[0, 9, 131071], issued_at=NOW, valid_for=timedelta(hours=1), key_version=3)
    signed = status_list.sign_credential(credential, SIGNER, created=NOW)
    encoded = signed["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")
    assert [status_list.bit_is_set(encoded, i) for i in (0, 1, 8, 9, 131071)] == [True, False, False, True, True]
    assert status_list.verify_credential(signed, VERIFIERS, NOW + timedelta(minutes=30))
    assert not status_list.verify_credential(signed, VERIFIERS, NOW + timedelta(hours=2))
    tampered = {**signed, "credentialSubject": {**signed["credentialSubject"],
                                                "encodedList": status_list.encode_bits([])}}
    assert not status_list.verify_credential(tampered, VERIFIERS, NOW)
