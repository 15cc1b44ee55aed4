"""`service.read_card` (the card read door's plain-select path) answers exactly what
`service.get_card` (through the ORM) answers: the same view in every state the blocks and the
clock give a card, and the same refusals for readers who may not see it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cards.conftest import ADMIN, PHONE, act, bank_branch, card_in_use, holder
from yikatong.cards import service
from yikatong.cards.errors import CardNotFound

pytestmark = pytest.mark.db


def both_reads(platform, card_no: str, actor=None) -> tuple:
    with platform.uow(read_only=True) as uow:
        fast = service.read_card(uow=uow, card_no=card_no, actor=actor)
    with platform.uow() as uow:
        orm = service.get_card(uow=uow, card_no=card_no, actor=actor)
    return fast, orm


def test_the_same_view_through_a_card_life(platform, clock, person_ids):
    card_no = card_in_use(platform, person_id=next(person_ids))
    views = []

    def same_now() -> None:
        fast, orm = both_reads(platform, card_no)
        assert fast == orm
        views.append(fast)

    same_now()  # in use, no blocks
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    same_now()  # a temporary loss in force, its end in hr_loss_ends_at
    clock.advance(days=8)
    same_now()  # the same block, past its end: no longer in force, without any job running
    act(platform, service.freeze, actor=ADMIN, card_no=card_no, reason_code="court_order")
    same_now()  # frozen
    act(platform, service.unfreeze, actor=ADMIN, card_no=card_no, note="order lifted")
    same_now()  # a lifted freeze among the blocks
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    clock.advance(timedelta(hours=1))
    same_now()
    assert len({(v.hr_status, v.version, len(v.blocks_in_force)) for v in views}) >= 4


def test_the_same_refusals(platform, person_ids):
    mine, theirs = next(person_ids), next(person_ids)
    card_no = card_in_use(platform, person_id=mine, bank_code="ICBC")
    assert both_reads(platform, card_no, holder(mine))[0].card_no == card_no
    for stranger in (holder(theirs), bank_branch("ABC", "ABC-CZ-001")):
        for read in (service.read_card, service.get_card):
            with platform.uow(read_only=True) as uow, pytest.raises(CardNotFound):
                read(uow=uow, card_no=card_no, actor=stranger)
    with platform.uow(read_only=True) as uow, pytest.raises(CardNotFound):
        service.read_card(uow=uow, card_no="B99999999")


def test_the_home_pages_card_list_is_list_cards(platform, clock, person_ids):
    """`read_cards_of` (the holder's home page, plain selects) answers what `list_cards`
    answers for the person: their cards, newest first, each with its blocks."""
    person = next(person_ids)
    card_no = card_in_use(platform, person_id=person)
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    act(platform, service.freeze, actor=ADMIN, card_no=card_no, reason_code="court_order")
    other = card_in_use(platform, person_id=next(person_ids))  # someone else's: not listed
    act(platform, service.report_loss, actor=PHONE, card_no=other, kind="temporary")
    clock.advance(hours=2)
    with platform.uow(read_only=True) as uow:
        fast = service.read_cards_of(uow=uow, person_id=person)
    with platform.uow() as uow:
        orm = service.list_cards(uow=uow, person_id=person)
    assert fast == orm and [v.card_no for v in fast] == [card_no]
    assert len(fast[0].blocks_in_force) == 2
    with platform.uow(read_only=True) as uow:
        assert service.read_cards_of(uow=uow, person_id=next(person_ids)) == []


def test_the_raw_selects_answer_the_rows_core_answers(platform, person_ids, login):
    """db.raw.RawSelect (the DBAPI cursor, SQLAlchemy's result processors) against the same
    select through Core: the same keys and values (dates, times with their zone, booleans),
    for a card with blocks, and for the credential lookup, on either database."""
    from sqlalchemy import select

    from yikatong.auth import service as auth
    from yikatong.auth.models import AccessToken, User
    from yikatong.core.actor import Role

    card_no = card_in_use(platform, person_id=next(person_ids))
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    act(platform, service.freeze, actor=ADMIN, card_no=card_no, reason_code="court_order")
    login(Role.ADMIN, username="raw-reader")
    with platform.statement_read_uow() as uow:
        connection = uow.connection()
        card = service._CARD_BY_NO.first(connection, {"card_no": card_no})
        core = connection.execute(service._CARD_BY_NO._statement, {"card_no": card_no}).one()
        assert card._asdict() == dict(core._mapping)
        blocks = service._BLOCKS_OF_CARD.rows(connection, {"card_id": card.id})
        assert len(blocks) == 2
        assert [b._asdict() for b in blocks] == [dict(b._mapping) for b in connection.execute(
            service._BLOCKS_OF_CARD._statement, {"card_id": card.id})]
        assert service._CARD_BY_NO.first(connection, {"card_no": "C99999999"}) is None
        token_hash = connection.execute(
            select(AccessToken.token_hash).join(User, User.id == AccessToken.user_id)
            .where(User.username == "raw-reader")).scalars().first()
        raw = auth._HOLDER_QUERY.first(connection, {"token_hash": token_hash})
        core = connection.execute(auth._HOLDER_QUERY._statement, {"token_hash": token_hash}).one()
        assert raw._asdict() == dict(core._mapping) and raw.active is True


def test_a_view_is_remembered_only_while_nothing_it_shows_can_differ(platform, clock, person_ids):
    """`read_card` hands back the view it made for an unchanged card (the same object, its
    answer model made once: cards.api), and makes it again when the card changes, when a
    block's end passes with the same rows, and when the days pass its financial validity:
    each time equal to what `get_card` makes at that moment."""
    card_no = card_in_use(platform, person_id=next(person_ids))
    first, orm = both_reads(platform, card_no)
    again, _ = both_reads(platform, card_no)
    assert again is first and first == orm
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    lost, orm = both_reads(platform, card_no)
    assert lost == orm and lost.hr_status == "temporary_loss" and lost.hr_loss_ends_at
    clock.advance(days=8)  # the loss's end passes: the same rows, another view
    ended, orm = both_reads(platform, card_no)
    assert ended == orm and ended.hr_status == "normal" and ended.hr_loss_ends_at is None
    assert ended.financial_capabilities.card_present
    clock.advance(days=(ended.financial_valid_until - ended.issue_date).days + 1)
    expired, orm = both_reads(platform, card_no)  # past its validity: not usable in person
    assert expired == orm and not expired.financial_capabilities.card_present
    assert expired.version == ended.version == lost.version


def test_a_remembered_view_is_not_a_read_of_another_card(platform, person_ids):
    """Two cards' views are never mixed up: the remembered view is found by the whole rows."""
    cards = [card_in_use(platform, person_id=next(person_ids)) for _ in range(2)]
    for _ in range(2):
        for card_no in cards:
            fast, orm = both_reads(platform, card_no)
            assert fast == orm and fast.card_no == card_no
