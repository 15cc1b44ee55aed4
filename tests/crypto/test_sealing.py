"""Secrets sealed under the key store's KEK (crypto.sealing): they open with the same KEK and
context only, and the sealed text shows nothing of the secret."""

from __future__ import annotations

import base64

import pytest

from yikatong.crypto.keystore import FileKeyStore, InMemoryKeyStore
from yikatong.crypto.sealing import SealedSecretUnreadable, is_sealed
from yikatong.crypto.sm2 import generate_keypair

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))


def plain_forms(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode().rstrip("=")]


@pytest.fixture
def store(tmp_path):
    return FileKeyStore.init(tmp_path / "keystore.json", KEK)


def test_a_sealed_secret_opens_with_the_same_kek_and_context_only(store, tmp_path):
    private_key, _ = generate_keypair()
    sealed = store.seal(private_key, context="webhook_endpoints.secret:ICBC")
    assert is_sealed(sealed) and not any(form in sealed for form in plain_forms(private_key))
    assert store.seal(private_key, context="webhook_endpoints.secret:ICBC") != sealed  # fresh nonce
    reopened = FileKeyStore(tmp_path / "keystore.json", KEK)
    assert reopened.unseal(sealed, context="webhook_endpoints.secret:ICBC") == private_key
    with pytest.raises(SealedSecretUnreadable):
        store.unseal(sealed, context="webhook_endpoints.secret:CCB")  # another row's value
    with pytest.raises(SealedSecretUnreadable):
        FileKeyStore.init(tmp_path / "other.json", OTHER_KEK).unseal(sealed, context="webhook_endpoints.secret:ICBC")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealedSecretUnreadable):
        store.unseal(tampered, context="webhook_endpoints.secret:ICBC")
    with pytest.raises(SealedSecretUnreadable):
        store.unseal(private_key.hex(), context="webhook_endpoints.secret:ICBC")  # a plain value


def test_the_sealing_key_is_not_the_key_store_file_key(store):
    """Derived from the KEK with its own label: a sealed value says nothing of the store's key."""
    assert store._sealer._key != store._cipher_key


def test_in_memory_stores_seal_too():
    seeded = InMemoryKeyStore(seed=b"seed")
    sealed = seeded.seal(b"x" * 32, context="c")
    assert InMemoryKeyStore(seed=b"seed").unseal(sealed, context="c") == b"x" * 32
    with pytest.raises(SealedSecretUnreadable):
        InMemoryKeyStore().unseal(sealed, context="c")
