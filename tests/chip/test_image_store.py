"""Chip images: personalisation from the key store, JSON round trips, the directory store."""

from __future__ import annotations

import stat

import pytest

from tests.chip.conftest import TERMINAL_ID, WHEN, card_data
from yikatong.chip import terminal
from yikatong.chip.emulator import Card
from yikatong.chip.host import verify_tac
from yikatong.chip.image import ChipImage, derive_card_keys, personalise
from yikatong.chip.protocols import ChipNotFound, ChipStore
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.store import DirectoryChipStore
from yikatong.core.errors import InvalidInput


def test_image_round_trips_through_json(card):
    text = card.image.to_json()
    assert ChipImage.from_json(text) == card.image
    assert card.image.mf.name.hex().upper() == "7378312E73682EC9E7BBE1B1A3D5CF"


def test_card_used_today_is_the_same_card_tomorrow(tmp_path, keystore, host, psam, algorithm):
    store = DirectoryChipStore(tmp_path / "chips")
    image = personalise(card_data(purse_algorithm=algorithm), keystore)
    store.save(Card(image))
    assert store.exists(image.card_no)
    assert stat.S_IMODE((tmp_path / "chips" / f"{image.card_no}.json").stat().st_mode) == 0o600

    today = store.load(image.card_no)
    reader = EmulatorReader(today, after_command=store.save)
    reader.connect()
    terminal.load(reader, host, 2_000, TERMINAL_ID, WHEN)
    terminal.purchase(reader, psam, 150, WHEN)

    tomorrow = store.load(image.card_no)  # a new process would do exactly this
    reader = EmulatorReader(tomorrow)
    reader.connect()
    view = terminal.read_purse(reader)
    assert (view.balance, view.online_counter, view.offline_counter) == (1_850, 1, 1)
    record = terminal.purchase(reader, psam, 50, WHEN)
    assert record.counter == 1 and verify_tac(record, keystore)


def test_store_refuses_unknown_and_malformed_card_numbers(tmp_path):
    store = DirectoryChipStore(tmp_path)
    with pytest.raises(ChipNotFound):
        store.load("C99999999")
    with pytest.raises(InvalidInput):
        store.load("../keystore")


def test_card_keys_are_derived_per_card_and_per_profile(keystore):
    one, two = derive_card_keys(card_data(1), keystore), derive_card_keys(card_data(2), keystore)
    assert one.purchase.value != two.purchase.value
    assert one.national_read.value != two.national_read.value
    assert derive_card_keys(card_data(1, purse_algorithm="3DES"), keystore).purchase.alg_id == 0x00
    assert one.purchase.alg_id == 0x04 and one.issuer_auth.alg_id == 0x04
    assert "value=<hidden>" in repr(one.purchase)


@pytest.mark.parametrize("field, value", [
    ("card_no", "C1234"), ("ssn", "12345"), ("asn", "12"), ("pan", "62x"), ("purse_algorithm", "AES"),
    ("name", "阿" * 40), ("pin", "１２３４５６"), ("asn", "\u0663" * 20),  # digits are 0-9 only
])
def test_personalisation_data_is_checked(field, value):
    with pytest.raises(InvalidInput):
        card_data(**{field: value})


def test_platform_provides_the_chip_store(platform, monkeypatch, tmp_path):
    store = platform.get(ChipStore)
    assert isinstance(store, DirectoryChipStore)


def test_purse_keys_must_share_a_version(keystore):
    from yikatong.crypto.keystore import InMemoryKeyStore

    store = InMemoryKeyStore(seed=b"rotation")
    store.rotate("purchase", "SM4")
    with pytest.raises(InvalidInput):
        derive_card_keys(card_data(), store)
    for purpose in ("load", "tac", "app_maintenance"):
        store.rotate(purpose, "SM4")
    assert derive_card_keys(card_data(), store).purchase.version == 2
    old = derive_card_keys(card_data(key_versions={p: 1 for p in ("load", "purchase", "tac", "app_maintenance")}), store)
    assert old.tac.version == 1


def test_cards_of_a_retired_key_version_keep_working():
    from tests.chip.conftest import TERMINAL_ID, WHEN
    from yikatong.chip.host import LoadHost
    from yikatong.chip.psam import Psam
    from yikatong.crypto.keystore import InMemoryKeyStore

    store = InMemoryKeyStore(seed=b"rotation")
    old_card = Card(personalise(card_data(1), store))
    for purpose in ("load", "purchase", "tac", "app_maintenance"):
        store.rotate(purpose, "SM4")
    new_card = Card(personalise(card_data(2), store))
    psam = Psam(store, terminal_id=TERMINAL_ID)
    versions = []
    for card in (old_card, new_card):
        reader = EmulatorReader(card)
        reader.connect()
        terminal.load(reader, LoadHost(store), 500, TERMINAL_ID, WHEN)
        record = terminal.purchase(reader, psam, 100, WHEN)
        assert verify_tac(record, store)
        versions.append(record.key_version)
    assert versions == [1, 2]


def test_no_key_or_pin_in_any_repr(card, host):
    """A repr ends up in tracebacks, logs and assertion messages: it shows no secret."""
    data = card_data(pin="975310")
    keys = [entry.value for df in card.image.mf.walk() for entry in df.keys]
    reader = EmulatorReader(card)
    reader.connect()
    terminal.select_purse(reader)
    reader.transmit(bytes.fromhex("805000020B") + bytes([1]) + (100).to_bytes(4, "big")
                    + TERMINAL_ID + b"\x0f")  # INITIALIZE FOR LOAD opens a purse session
    session = card.volatile.purse_session
    assert session is not None and session.session_key
    shown = " ".join(repr(thing) for thing in (data, card.image, session, *card.image.mf.walk()))
    for secret in [*keys, session.session_key, session.key.value]:
        assert secret.hex() not in shown and secret.hex().upper() not in shown and repr(secret) not in shown
    assert "975310" not in repr(data) and "123456" not in repr(card.image)
