"""The ID→account map (OpenG2P-style): into which account each person is paid.

A person is paid into the account of their current live card: the card in use, else the one
produced for them (its bank holds the money until activation). A formally lost card is still
in use until its replacement is handed over, and its account still receives. When a
replacement or an exchange card is handed over the old card retires and the new card's
account takes over. Every card event that can change this (produced, handed over, retired,
cancelled) recomputes the person's entry from the card registry, so applying an event twice,
late or out of order still leaves the right account; `rebuild` recomputes every entry in one
statement.
"""

from __future__ import annotations

from sqlalchemy import case, delete, func, insert, literal, select

from yikatong.benefits.models import AccountMapEntry
from yikatong.cards.models import Card
from yikatong.cards.rules import LIVE_STATES, CardState
from yikatong.db.uow import UnitOfWork

CARD_EVENTS = ("card.produced", "card.handed_over", "card.retired", "card.cancelled")


def _ranked_live_cards(person_id: int | None = None):
    """Live cards numbered per person, the current one first (in use before produced,
    newest first)."""
    rank = func.row_number().over(
        partition_by=Card.person_id,
        order_by=(case((Card.state == str(CardState.IN_USE), 0), else_=1), Card.id.desc()))
    query = select(Card.person_id, Card.card_no, Card.bank_code, Card.pan, rank.label("rank")) \
        .where(Card.state.in_([str(s) for s in LIVE_STATES]))
    if person_id is not None:
        query = query.where(Card.person_id == person_id)
    return query.subquery()


def refresh_person(*, uow: UnitOfWork, person_id: int) -> AccountMapEntry | None:
    """Recompute one person's entry from their cards; None when they hold no live card."""
    ranked = _ranked_live_cards(person_id)
    current = uow.session.execute(select(ranked).where(ranked.c.rank == 1)).first()
    entry = uow.session.get(AccountMapEntry, person_id)
    if current is None:
        if entry is not None:
            uow.session.delete(entry)
        return None
    if entry is None:
        entry = AccountMapEntry(person_id=person_id)
        uow.session.add(entry)
    entry.card_no, entry.bank_code, entry.pan = current.card_no, current.bank_code, current.pan
    entry.updated_at = uow.now()
    uow.session.flush()
    return entry


def rebuild(*, uow: UnitOfWork) -> int:
    """Recompute the whole map from the card registry (set-based); returns its size."""
    ranked = _ranked_live_cards()
    uow.session.execute(delete(AccountMapEntry))
    uow.session.execute(insert(AccountMapEntry).from_select(
        ["person_id", "card_no", "bank_code", "pan", "updated_at"],
        select(ranked.c.person_id, ranked.c.card_no, ranked.c.bank_code, ranked.c.pan,
               literal(uow.now(), AccountMapEntry.__table__.c.updated_at.type))
        .where(ranked.c.rank == 1)))
    return uow.session.execute(select(func.count()).select_from(AccountMapEntry)).scalar_one()


def account_of(*, uow: UnitOfWork, person_id: int) -> AccountMapEntry | None:
    return uow.session.get(AccountMapEntry, person_id)


def apply_card_event(uow: UnitOfWork, event) -> None:
    person_id = event.payload.get("person_id")
    if person_id is not None:
        refresh_person(uow=uow, person_id=int(person_id))
