"""Shared fixtures: a deterministic key store, synthetic card data, cards in both profiles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from yikatong.chip.emulator import Card
from yikatong.chip.host import LoadHost
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.psam import ISSUER_OUTLET, Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.crypto.keystore import InMemoryKeyStore

TERMINAL_ID = bytes.fromhex("320400000001")
WHEN = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)

SAMPLE = CardPersonalisation(
    card_no="C32040001",
    card_id_code="320400D156000005C320400100000001",
    ssn="320402199001011234",
    name="测试甲",
    gender="1",
    nation="01",
    birthplace="320402",
    birth_date=date(1990, 1, 1),
    issue_date=date(2026, 3, 1),
    expiry_date=date(2036, 3, 1),
    region_code="320400",
    pan="6214830600000001",
    pan_sequence=1,
    pan_expiry=date(2036, 3, 31),
    asn="03104000000000000001",
)


def card_data(serial: int = 1, **overrides) -> CardPersonalisation:
    """Synthetic card data; `serial` makes card number, card ID code, PAN and ASN unique."""
    unique = {
        "card_no": f"C{serial:08d}",
        "card_id_code": f"320400D156000005C320{serial:012d}",
        "pan": f"62148306{serial:08d}",
        "asn": f"0310400000{serial:010d}",
    }
    return replace(SAMPLE, **{**unique, **overrides})


@pytest.fixture(scope="session")
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore(seed=b"chip-tests")


@pytest.fixture(params=["SM4", "3DES"])
def algorithm(request) -> str:
    return request.param


@pytest.fixture
def card(keystore, algorithm) -> Card:
    return Card(personalise(card_data(purse_algorithm=algorithm), keystore))


@pytest.fixture
def reader(card) -> EmulatorReader:
    reader = EmulatorReader(card)
    reader.connect()
    return reader


@pytest.fixture
def psam(keystore) -> Psam:
    return Psam(keystore, terminal_id=TERMINAL_ID)


@pytest.fixture
def outlet_psam(keystore) -> Psam:
    return Psam(keystore, terminal_id=TERMINAL_ID, purposes=ISSUER_OUTLET)


@pytest.fixture
def host(keystore) -> LoadHost:
    return LoadHost(keystore)
