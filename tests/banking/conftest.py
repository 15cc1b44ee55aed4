"""The platform with the reference bank as its BankGateway (in-process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.banking.nats_world import NatsWorld
from yikatong.banking.runtime import ReferenceBank
from yikatong.banking.wiring import use_reference_bank


@pytest.fixture
def bank_platform(platform) -> Iterator:
    use_reference_bank(platform)  # what banking/wiring.py registers; explicit for the reader
    yield platform
    if ReferenceBank in platform._services:
        platform.get(ReferenceBank).close()


@pytest.fixture
def bank(bank_platform) -> ReferenceBank:
    return bank_platform.get(ReferenceBank)


@pytest.fixture
def world(database_url, tmp_path) -> Iterator[NatsWorld]:
    """The platform and the bank's node over a real NATS server (tests marked `nats`)."""
    from tests import servers

    made = NatsWorld(database_url=database_url, nats_url=servers.nats_url(), workdir=tmp_path)
    yield made
    made.close()
