"""The offline terminal: only public keys, its clock and the last signed status lists."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from yikatong.crypto.sm2 import Sm2Signer, encode_public_key, generate_keypair
from yikatong.ecard import rules, status_list
from yikatong.ecard.terminal import MemoryNonceStore, OfflineVerifier
from yikatong.ecard.tokens import TokenClaims, TokenRejected, issue_token

PRIVATE, PUBLIC = generate_keypair()
SIGNER = Sm2Signer(PRIVATE)
NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def token(index: int = 7, at: datetime = NOW, key_version: int = 1, signer=SIGNER) -> str:
    return issue_token(signer, TokenClaims(key_version=key_version, status_index=index,
                                           ecard_no=1234567890123456, issued_at=at,
                                           valid_for=timedelta(seconds=60),
                                           nonce=secrets.token_bytes(8)))


def lists(*, suspended=(), revoked=(), at: datetime = NOW, signer=SIGNER, size=131_072):
    return [status_list.sign_credential(status_list.build_credential(
        list_url=f"https://ykt.example/status/{purpose}", issuer="did:web:ykt.example",
        purpose=purpose, set_indices=indices, issued_at=at,
        valid_for=rules.STATUS_LIST_VALIDITY, key_version=1, size=size), signer, created=at)
        for purpose, indices in (("suspension", suspended), ("revocation", revoked))]


def reason(call) -> str:
    with pytest.raises(TokenRejected) as caught:
        call()
    return caught.value.details["reason"]


def test_accepts_once_then_refuses_the_replay():
    terminal = OfflineVerifier({1: encode_public_key(PUBLIC)}, lists())
    shown = token()
    accepted = terminal.verify(shown, now=NOW + timedelta(seconds=10), business="bus_boarding")
    assert (accepted.ecard_no, accepted.status_index) == ("1234567890123456", 7)
    assert reason(lambda: terminal.verify(shown, now=NOW + timedelta(seconds=11))) == "replayed"
    # another terminal has its own store: single use is per terminal when offline
    other = OfflineVerifier({1: PUBLIC}, lists())
    assert other.verify(shown, now=NOW + timedelta(seconds=12))


@pytest.mark.parametrize("suspended, revoked, expected", [
    ((7,), (), "suspended"), ((), (7,), "revoked"), ((7,), (7,), "revoked"),
])
def test_refuses_what_the_lists_mark(suspended, revoked, expected):
    terminal = OfflineVerifier({1: PUBLIC}, lists(suspended=suspended, revoked=revoked))
    assert reason(lambda: terminal.verify(token(), now=NOW)) == expected
    assert terminal.verify(token(index=8), now=NOW)  # a neighbour is untouched


def test_fails_closed_without_a_trusted_list():
    assert reason(lambda: OfflineVerifier({1: PUBLIC}).verify(token(), now=NOW)) == "status_unknown"
    stale = OfflineVerifier({1: PUBLIC}, lists())
    later = NOW + rules.STATUS_LIST_VALIDITY + timedelta(seconds=1)
    assert reason(lambda: stale.verify(token(at=later), now=later)) == "status_unknown"
    other_private, _ = generate_keypair()
    forged_lists = OfflineVerifier({1: PUBLIC}, lists(signer=Sm2Signer(other_private)))
    assert reason(lambda: forged_lists.verify(token(), now=NOW)) == "status_unknown"


def test_refresh_takes_only_newer_genuine_lists():
    terminal = OfflineVerifier({1: PUBLIC}, lists())
    other_private, _ = generate_keypair()
    later = NOW + timedelta(minutes=1)
    assert terminal.refresh(lists(suspended=(7,), at=later, signer=Sm2Signer(other_private)),
                            now=later) == 0
    assert terminal.verify(token(at=later), now=later)
    assert terminal.refresh(lists(suspended=(7,), at=later), now=later) == 2
    assert reason(lambda: terminal.verify(token(at=later), now=later)) == "suspended"
    assert terminal.refresh(lists(at=NOW), now=later) == 0  # an older list is not taken back
    assert reason(lambda: terminal.verify(token(at=later), now=later)) == "suspended"


def test_index_beyond_the_list_and_growing_lists():
    big = 131_072 + 5
    terminal = OfflineVerifier({1: PUBLIC}, lists())
    assert reason(lambda: terminal.verify(token(index=big), now=NOW)) == "status_unknown"
    grown = OfflineVerifier({1: PUBLIC}, lists(revoked=(big,), size=rules.list_size(big, 131_072)))
    assert reason(lambda: grown.verify(token(index=big), now=NOW)) == "revoked"


def test_expired_forged_and_unknown_key_version():
    terminal = OfflineVerifier({1: PUBLIC}, lists())
    assert reason(lambda: terminal.verify(token(), now=NOW + timedelta(seconds=60))) == "expired"
    other_private, _ = generate_keypair()
    assert reason(lambda: terminal.verify(token(signer=Sm2Signer(other_private)), now=NOW)) \
        == "forged"
    assert reason(lambda: terminal.verify(token(key_version=2), now=NOW)) == "forged"
    assert reason(lambda: terminal.verify("YKT1.NOTATOKEN", now=NOW)) == "malformed"


def test_nonce_store_forgets_codes_that_can_only_be_expired():
    store = MemoryNonceStore()
    expires = NOW + timedelta(seconds=60)
    assert store.claim(b"a" * 8, expires, NOW) and not store.claim(b"a" * 8, expires, NOW)
    assert store.claim(b"b" * 8, expires + timedelta(minutes=5), NOW)
    store.claim(b"c" * 8, expires + timedelta(minutes=5), expires + timedelta(seconds=10))
    assert len(store) == 2  # "a" was forgotten


def test_nonce_store_refuses_a_replay_until_the_code_expires_and_keeps_a_reclaimed_code():
    store = MemoryNonceStore()
    at = [NOW + timedelta(seconds=s) for s in range(0, 400, 60)]
    assert store.claim(b"a", at[1], at[0]) and store.claim(b"b", at[2], at[0])
    assert not store.claim(b"a", at[1], at[0])
    assert store.claim(b"c", at[5], at[1]) and len(store) == 2  # "a" expired (at its expiry) and left
    assert store.claim(b"a", at[6], at[1])  # claimed again with a later expiry
    assert not store.claim(b"a", at[6], at[3])  # its first expiry passing does not forget it
    assert store.claim(b"d", at[6], at[6]) and len(store) == 1  # everything else expired


def test_gates_use_the_e_card_nonce_store():
    from yikatong.tourism.gate import Gate

    gate = Gate("G1", "V", {1: PUBLIC})
    assert isinstance(gate.ecards._seen, MemoryNonceStore)


def test_a_code_has_one_spelling():
    """The last base32 character carries unused bits; a variant that decodes to the same
    bytes is refused, so a signed code cannot be re-spelt."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    shown = token()
    variant = shown[:-1] + alphabet[alphabet.index(shown[-1]) ^ 1]
    terminal = OfflineVerifier({1: PUBLIC}, lists())
    assert reason(lambda: terminal.verify(variant, now=NOW)) == "malformed"
    assert terminal.verify(shown, now=NOW)
