"""The platform as the authority on the patron: the reader number is the person's, blocks
follow the card, the holder opts in, a deceased person cannot borrow, the e-card QR resolves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.banking.helpers import OUTLET, act, produce
from tests.library.conftest import ADMIN, holder, person_with_card
from yikatong.cards import service as cards
from yikatong.library import service
from yikatong.library.protocols import LibrarySystem, PatronAuthority, PatronBlock

pytestmark = pytest.mark.db


def test_card_ssn_and_reader_number_resolve_to_the_same_reader(lib_platform):
    ssn, person_id, card, reader = person_with_card(lib_platform)
    authority = lib_platform.get(PatronAuthority)
    now = lib_platform.clock.now()
    by_card = authority.resolve(card.card_no, now=now)
    by_ssn = authority.resolve(ssn, now=now)
    by_reader = authority.resolve(reader.reader_no, now=now)
    for patron, presented in ((by_card, "card"), (by_ssn, "ssn"), (by_reader, "reader_no")):
        assert patron is not None and patron.presented == presented
        assert patron.reader_no == reader.reader_no and patron.person_id == person_id
        assert patron.may_borrow, patron.blocks
        assert patron.display_name == "张*者"
    assert by_card.card_no == card.card_no
    assert authority.resolve("CZR000000000", now=now) is None
    assert authority.resolve("ZZZZZZZZZ", now=now) is None
    assert authority.resolve("not a token at all, just some long text here", now=now) is None


def test_a_holder_who_has_not_opted_in_is_not_a_reader(lib_platform):
    ssn, person_id, card, _ = person_with_card(lib_platform, opt_in=False)
    authority = lib_platform.get(PatronAuthority)
    patron = authority.resolve(card.card_no, now=lib_platform.clock.now())
    assert patron.blocks == (PatronBlock.NOT_A_READER,) and patron.reader_no == ""
    reader = act(lib_platform, service.opt_in, actor=holder(person_id))
    assert authority.resolve(card.card_no, now=lib_platform.clock.now()).may_borrow
    act(lib_platform, service.opt_out, actor=holder(person_id))
    assert PatronBlock.NOT_A_READER in authority.resolve(ssn, now=lib_platform.clock.now()).blocks
    again = act(lib_platform, service.opt_in, actor=holder(person_id))
    assert again.reader_no == reader.reader_no  # the number is kept


def test_a_formally_lost_card_cannot_borrow_but_the_replacement_keeps_the_reader_and_loans(lib_platform):
    ssn, person_id, card, reader = person_with_card(lib_platform)
    authority = lib_platform.get(PatronAuthority)
    system = lib_platform.get(LibrarySystem)
    now = lib_platform.clock.now()
    assert system.checkout(reader.reader_no, "CZLIB-0001", now=now).ok
    act(lib_platform, cards.report_loss, actor=holder(person_id), card_no=card.card_no, kind="formal",
        function="hr")
    later = lib_platform.clock.advance(timedelta(minutes=5))
    lost = authority.resolve(card.card_no, now=later)
    assert lost.reader_no == reader.reader_no
    assert lost.blocks == (PatronBlock.CARD_NOT_USABLE,) and not lost.may_borrow
    # by number the person's current card decides: the lost one, until the replacement
    assert PatronBlock.CARD_NOT_USABLE in authority.resolve(ssn, now=later).blocks
    new = produce(lib_platform, person_id=person_id, kind="replacement", predecessor=card.card_no)
    replacement = authority.resolve(new.card_no, now=later)
    assert replacement.may_borrow and replacement.reader_no == reader.reader_no
    assert authority.resolve(ssn, now=later).may_borrow
    assert not authority.resolve(card.card_no, now=later).may_borrow  # the old card still not
    loans = system.account(replacement.reader_no, now=later).loans
    assert [loan.item_barcode for loan in loans] == ["CZLIB-0001"]


def test_a_frozen_card_cannot_borrow(lib_platform):
    _, _, card, _ = person_with_card(lib_platform)
    act(lib_platform, cards.freeze, actor=ADMIN, card_no=card.card_no, reason_code="fraud_suspected")
    patron = lib_platform.get(PatronAuthority).resolve(card.card_no, now=lib_platform.clock.now())
    assert patron.blocks == (PatronBlock.CARD_NOT_USABLE,)


def test_a_deceased_person_cannot_borrow(lib_platform):
    ssn, _, card, reader = person_with_card(lib_platform)
    act(lib_platform, cards.retire_deceased, actor=OUTLET, card_no=card.card_no, note="death certificate")
    authority = lib_platform.get(PatronAuthority)
    for identifier in (card.card_no, ssn, reader.reader_no):
        patron = authority.resolve(identifier, now=lib_platform.clock.now())
        assert PatronBlock.PERSON_DECEASED in patron.blocks and not patron.may_borrow
