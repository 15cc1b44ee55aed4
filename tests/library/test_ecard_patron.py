"""The e-card QR works at a kiosk too: a current genuine code resolves to the reader; a
forged, expired or (after loss) suspended one resolves to nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ecard.conftest import applied, chip_directory, holder, quick_argon2  # noqa: F401
from yikatong.library import service
from yikatong.library.protocols import LibrarySystem, PatronAuthority, PatronBlock

pytestmark = pytest.mark.db


def test_an_ecard_code_resolves_to_the_reader_and_borrows(platform, holder):  # noqa: F811
    person = holder()
    authority = platform.get(PatronAuthority)
    token = person.qr()
    now = platform.clock.now()
    patron = authority.resolve(token, now=now)
    assert patron is not None and patron.presented == "ecard"
    assert patron.blocks == (PatronBlock.NOT_A_READER,)  # not opted in yet
    reader = person.do(service.opt_in)
    patron = authority.resolve(token, now=now)
    assert patron.may_borrow and patron.reader_no == reader.reader_no
    assert authority.resolve(token, now=now).may_borrow  # the code is not spent by a lookup
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=person.actor.__class__.system("t"))
    assert platform.get(LibrarySystem).checkout(patron.reader_no, "CZLIB-0004", now=now).ok
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert authority.resolve(forged, now=now) is None
    platform.clock.advance(timedelta(seconds=61))
    assert authority.resolve(token, now=platform.clock.now()) is None  # expired
