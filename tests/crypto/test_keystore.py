"""Key store: file encryption, rotation semantics, KEK handling, and that no key ever leaks."""

from __future__ import annotations

import json
import logging
import os
import stat
import traceback

import pytest

from yikatong.core.errors import Conflict, DomainError, InvalidInput
from yikatong.core.settings import Settings
from yikatong.crypto import pboc, sm2
from yikatong.crypto.errors import KeyNotFound, KeyStoreLocked, KeyUnusable
from yikatong.crypto.keys import PURPOSES, KeyStatus
from yikatong.crypto.keystore import (
    FileKeyStore,
    InMemoryKeyStore,
    create_kek_file,
    kek_from_env,
    read_kek_file,
)
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.wiring import key_store_from_settings

KEK = bytes(range(32))


@pytest.fixture
def store(tmp_path, clock) -> FileKeyStore:
    return FileKeyStore.init(tmp_path / "keystore.json", KEK, clock=clock)


def _expected_key_count() -> int:
    return sum(len(spec.algorithms) for spec in PURPOSES.values())


def test_init_creates_every_purpose_in_both_symmetric_algorithms_and_the_sm2_pair(store, clock):
    infos = store.list()
    assert len(infos) == _expected_key_count()
    assert {(i.purpose, i.algorithm) for i in infos} >= {("tac", "3DES"), ("tac", "SM4"), ("external_auth", "SM4")}
    assert all(i.version == 1 and i.status is KeyStatus.ACTIVE and i.created_at == clock.now() for i in infos)
    keys = [store.get(i.purpose, algorithm=i.algorithm) for i in infos]
    assert len({k.key for k in keys}) == len(keys)  # independent random keys
    public_key = store.sm2_public_key()
    assert sm2.is_keypair(store.get("ecard_signing").key, public_key)
    assert isinstance(store, KeyStore) and isinstance(InMemoryKeyStore(), KeyStore)


def test_file_round_trip_and_default_algorithms(store):
    reopened = FileKeyStore(store.path, KEK)
    assert reopened.list() == store.list()
    assert reopened.get("load").algorithm == "SM4"
    assert reopened.get("ecard_signing").algorithm == "SM2"
    assert reopened.get("load", 1, "3DES").key == store.get("load", algorithm="3des").key


def test_rotation_keeps_old_versions_for_verification(store, clock):
    old = store.get("tac", algorithm="3DES")
    clock.advance(days=1)
    info = store.rotate("tac", "3DES")
    assert (info.version, info.status, info.created_at) == (2, KeyStatus.ACTIVE, clock.now())
    assert store.active_version("tac", "3DES") == 2
    assert store.active_version("tac", "SM4") == 1  # other algorithm untouched
    reopened = FileKeyStore(store.path, KEK)
    retired = reopened.get("tac", 1, "3DES")
    assert retired.status is KeyStatus.RETIRED and retired.key == old.key
    assert reopened.get("tac", algorithm="3DES").key != old.key
    # a card personalised under version 1 still verifies through (version, algorithm)
    factors = {"issuer_id": bytes.fromhex("0000304000000000"), "asn": bytes.fromhex("03104000000012345678")}
    card_dtk = retired.card_key(factors)
    data = pboc.purchase_tac_data(200, pboc.TX_CAPPED_PURCHASE, bytes(6), bytes(4), bytes(4), bytes(3))
    assert card_dtk == pboc.diversify_key(pboc.PROFILE_3DES, old.key, [factors["issuer_id"], factors["asn"][-8:]])
    assert pboc.PROFILE_3DES.tac(card_dtk, data) == pboc.PROFILE_3DES.tac(
        reopened.get("tac", 1, "3DES").card_key(factors), data
    )


def test_revoked_keys_are_refused_and_versions_are_one_byte(store):
    store.rotate("purchase", "SM4")
    store.set_status("purchase", "SM4", 1, "revoked")
    with pytest.raises(KeyUnusable):
        store.get("purchase", 1, "SM4")
    assert FileKeyStore(store.path, KEK).get("purchase", algorithm="SM4").version == 2
    with pytest.raises(InvalidInput):
        store.set_status("purchase", "SM4", 1, "active")
    with pytest.raises(KeyNotFound):
        store.get("purchase", 9, "SM4")
    with pytest.raises(KeyNotFound):
        store.set_status("purchase", "SM4", 9, "retired")
    memory = InMemoryKeyStore(seed=b"s")
    for _ in range(254):
        memory.rotate("load", "SM4")
    assert memory.active_version("load", "SM4") == 255
    with pytest.raises(Conflict):
        memory.rotate("load", "SM4")


def test_unknown_purpose_or_algorithm_is_invalid_input(store):
    with pytest.raises(InvalidInput):
        store.get("coffee")
    with pytest.raises(InvalidInput):
        store.get("load", algorithm="SM2")
    with pytest.raises(InvalidInput):
        store.rotate("ecard_signing", "SM4")


def test_sm2_rotation_gives_a_new_pair(store):
    before = store.sm2_public_key()
    store.rotate("ecard_signing")
    assert store.sm2_public_key() != before
    assert store.get("ecard_signing", 1).public_key == before


def test_tampered_file_or_wrong_kek_refuses_to_open(store):
    with pytest.raises(KeyStoreLocked, match="altered"):
        FileKeyStore(store.path, bytes(32))
    document = json.loads(store.path.read_text())
    ciphertext = bytearray.fromhex(document["ciphertext"])
    ciphertext[10] ^= 1
    document["ciphertext"] = ciphertext.hex()
    store.path.write_text(json.dumps(document))
    with pytest.raises(KeyStoreLocked):
        FileKeyStore(store.path, KEK)
    store.path.write_text("not json")
    with pytest.raises(KeyStoreLocked):
        FileKeyStore(store.path, KEK)
    with pytest.raises(KeyStoreLocked, match="ykt keys init"):
        FileKeyStore(store.path.with_name("absent.json"), KEK)


def test_every_write_uses_a_fresh_nonce_and_leaves_no_temp_files(store):
    first = json.loads(store.path.read_text())["nonce"]
    store.rotate("load", "SM4")
    assert json.loads(store.path.read_text())["nonce"] != first
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["keystore.json", "keystore.json.lock"]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_init_refuses_to_overwrite(store):
    with pytest.raises(Conflict):
        FileKeyStore.init(store.path, KEK)


def test_two_store_objects_rotating_do_not_lose_versions(store):
    other = FileKeyStore(store.path, KEK)
    store.rotate("tac", "SM4")
    other.rotate("tac", "SM4")  # re-reads under the lock: becomes version 3, not 2 again
    versions = [i.version for i in FileKeyStore(store.path, KEK).list() if (i.purpose, i.algorithm) == ("tac", "SM4")]
    assert versions == [1, 2, 3]


def test_in_memory_seed_is_deterministic():
    assert InMemoryKeyStore(seed=b"a").get("tac").key == InMemoryKeyStore(seed=b"a").get("tac").key
    assert InMemoryKeyStore(seed=b"a").get("tac").key != InMemoryKeyStore(seed=b"b").get("tac").key
    assert InMemoryKeyStore(seed=b"a").sm2_public_key() == InMemoryKeyStore(seed=b"a").sm2_public_key()
    assert InMemoryKeyStore().get("tac").key != InMemoryKeyStore().get("tac").key


def test_diversification_is_configurable_per_key(tmp_path):
    store = FileKeyStore.init(tmp_path / "k.json", KEK, diversification={"tac": "asn"})
    key = store.get("tac", algorithm="3DES")
    assert key.diversification.levels == 1
    asn = bytes.fromhex("03104000000012345678")
    assert key.card_key({"asn": asn}) == pboc.PROFILE_3DES.diversify(key.key, asn[-8:])
    with pytest.raises(InvalidInput):
        store.get("load").card_key({"asn": asn})  # load still needs issuer_id, asn
    with pytest.raises(InvalidInput):
        key.card_key({"asn": b"short"})


# --- KEK handling ---------------------------------------------------------------------------


def test_kek_file_must_be_owner_only(tmp_path):
    path = tmp_path / "kek"
    kek = create_kek_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_kek_file(path) == kek
    os.chmod(path, 0o640)
    with pytest.raises(KeyStoreLocked, match="0640.*0600"):
        read_kek_file(path)
    with pytest.raises(FileExistsError):
        create_kek_file(path)


def test_kek_from_env(tmp_path):
    assert kek_from_env({}) is None
    assert kek_from_env({"YKT_KEK": KEK.hex()}) == KEK
    with pytest.raises(KeyStoreLocked, match="64 hex"):
        kek_from_env({"YKT_KEK": "abcd"})
    path = tmp_path / "kek"
    kek = create_kek_file(path)
    assert kek_from_env({"YKT_KEK_FILE": str(path)}) == kek


def test_wiring_modes(tmp_path, clock, caplog):
    store_path = tmp_path / "var" / "keystore.json"
    with caplog.at_level(logging.WARNING, logger="yikatong.crypto.wiring"):
        dev = key_store_from_settings(Settings(key_store_path=str(store_path)), clock)
    assert isinstance(dev, FileKeyStore) and store_path.exists()
    assert stat.S_IMODE((store_path.parent / "kek").stat().st_mode) == 0o600
    assert "development" in caplog.text
    again = key_store_from_settings(Settings(key_store_path=str(store_path)), clock)
    assert again.get("tac").key == dev.get("tac").key

    configured = Settings(key_store_path=str(tmp_path / "prod.json"), key_encryption_key=KEK.hex())
    with pytest.raises(KeyStoreLocked, match="ykt keys init"):
        key_store_from_settings(configured, clock)  # production never invents keys
    memory = key_store_from_settings(Settings(key_store_path="memory"), clock)
    assert isinstance(memory, InMemoryKeyStore)


def test_platform_provides_the_key_store(platform):
    store = platform.get(KeyStore)
    assert store.get("tac", algorithm="SM4").version == 1
    assert platform.get(KeyStore) is store


# --- nothing leaks -------------------------------------------------------------------------


def _secret_strings(store) -> list[str]:
    secrets = []
    for info in store.list():
        key = store.get(info.purpose, info.version, info.algorithm).key
        secrets += [key.hex(), key.hex().upper(), repr(key), str(list(key))]
    return secrets


def test_reprs_errors_and_listings_never_contain_key_bytes(store, tmp_path):
    secrets = _secret_strings(store) + [KEK.hex()]
    texts = [repr(store), str(store.list())]
    for info in store.list():
        key = store.get(info.purpose, info.version, info.algorithm)
        texts += [repr(key), str(key), f"{key}", repr(info)]
    store.set_status("tac", "SM4", 1, "revoked")
    for failing in (
        lambda: store.get("tac", 1, "SM4"),
        lambda: store.get("tac", 7, "3DES"),
        lambda: FileKeyStore(store.path, bytes(32)),
        lambda: store.get("load").card_key({"asn": bytes(8)}),
    ):
        with pytest.raises(DomainError) as raised:
            failing()
        texts += [str(raised.value), repr(raised.value), "".join(traceback.format_exception(raised.value))]
        texts.append(json.dumps(getattr(raised.value, "to_problem", dict)()))
    joined = "\n".join(texts)
    for secret in secrets:
        assert secret not in joined
