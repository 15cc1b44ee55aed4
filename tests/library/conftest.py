"""Helpers for the library tests: registered people with cards, readers, items, actors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
from Sip2.sip2 import Sip2

from tests.banking.helpers import act, produce
from tests.medical.conftest import registered
from yikatong.banking.runtime import ReferenceBank
from yikatong.banking.wiring import use_reference_bank
from yikatong.core.actor import Actor, Channel, Role
from yikatong.library import service

LIBRARIAN = Actor(user_id="librarian", role=Role.LIBRARIAN, channel=Channel.LIBRARY,
                  branch_code="CZLIB")
ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)


def holder(person_id: int) -> Actor:
    return Actor(user_id=f"holder{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id)


@pytest.fixture
def lib_platform(platform) -> Iterator:
    """The test platform with the reference bank (card losses reach a bank) and the demo items."""
    use_reference_bank(platform)
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=ADMIN)
    yield platform
    if ReferenceBank in platform._services:
        platform.get(ReferenceBank).close()


class QuietSip2(Sip2):
    """The Sip2 client prints "Sip2 object unset" from __del__, a line in the suite's output
    for every client collected; this one only disconnects."""

    def __del__(self) -> None:
        self.disconnect()


def kiosk_client(port: int, *, location: str | None = "CZLIB-KIOSK-01") -> QuietSip2:
    """A connected SIP2 client of the CZLIB kiosk (its log to logging, else it writes sip2.log
    in the working directory)."""
    client = QuietSip2()
    client.hostName, client.hostPort, client.tlsEnable = "127.0.0.1", port, False
    client.log = logging.getLogger("tests.sip2.client")
    client.institutionId = "CZLIB"
    if location is not None:
        client.scLocation = location
    client.connect()
    return client


def person_with_card(platform, *, name: str = "张读者", opt_in: bool = True):
    """(ssn, person id, card view, reader view or None)."""
    ssn, person_id = registered(platform, name=name)
    card = produce(platform, person_id=person_id)
    reader = act(platform, service.opt_in, actor=holder(person_id)) if opt_in else None
    return ssn, person_id, card, reader


def now(platform) -> datetime:
    return platform.clock.now()
