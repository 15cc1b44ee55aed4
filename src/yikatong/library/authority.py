"""The platform as the authority on the patron (library.protocols.PatronAuthority).

A kiosk or a library system presents what it read: a card number (the chip), a social
security number, a reader number (typed, or printed on an old reader card) or an e-card QR
token. The authority answers who the reader is and the platform's blocks:

- NOT_A_READER: the holder has not opted in (or withdrew);
- CARD_NOT_USABLE: the card decides. A card presented is judged itself: formally or
  temporarily lost, frozen, retired (replaced, exchanged, transferred) or cancelled, it cannot
  borrow, even though the person's replacement card can. A social security number or reader
  number is judged by the person's current card (the newest in use); nobody with no card in
  use borrows by number. An e-card token is judged by the e-card's own verification
  (ecard.service: signature, 60 s window, the e-card not suspended or revoked);
- PERSON_DECEASED: a card ended because its holder died.

The reader number belongs to the person, so the same reader (and the same loans) comes back
through any of their cards. The library system's own blocks (overdue, fees, limit) are not
here: LibrarySystem.account has them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from yikatong.cards.models import Card, CardBlock
from yikatong.cards.rules import (
    CARD_NO_PATTERN,
    BlockFacts,
    CardState,
    EndReason,
    HrStatus,
    derive_hr_status,
)
from yikatong.core.masking import mask_name
from yikatong.db.uow import UnitOfWork
from yikatong.library.models import Reader
from yikatong.library.protocols import Patron, PatronBlock

READER_NO_PREFIX = "CZR"


def kind_of(identifier: str) -> str:
    """What a presented identifier looks like: "reader_no", "card", "ssn" or "ecard"."""
    if identifier.startswith(READER_NO_PREFIX) and len(identifier) == 12 and identifier[3:].isdigit():
        return "reader_no"
    if CARD_NO_PATTERN.match(identifier):
        return "card"
    if len(identifier) <= 20:
        return "ssn"
    return "ecard"


def card_usable(card: Card, blocks: list[CardBlock], now: datetime) -> bool:
    facts = [BlockFacts(function=b.function, kind=b.kind, channel=b.channel,
                        started_at=b.started_at, ends_at=b.ends_at, lifted_at=b.lifted_at)
             for b in blocks]
    return derive_hr_status(card.state, facts, now) == HrStatus.NORMAL


def _cards_of(uow: UnitOfWork, person_id: int) -> list[Card]:
    return list(uow.session.execute(
        select(Card).where(Card.person_id == person_id).order_by(Card.id.desc())).scalars())


def _current_card(cards: list[Card]) -> Card | None:
    """The person's card in use (the newest), else their newest card of any state."""
    for card in cards:
        if card.state == CardState.IN_USE:
            return card
    return cards[0] if cards else None


def _ecard_person(uow: UnitOfWork, token: str) -> int | None:
    """The person behind a current, genuine e-card QR token (read only: not spent)."""
    from yikatong.crypto.protocols import KeyStore
    from yikatong.ecard.service import person_of_current_token

    return person_of_current_token(uow=uow, token=token, keys=uow.get(KeyStore))


def resolve(uow: UnitOfWork, identifier: str, *, now: datetime) -> Patron | None:
    """The patron behind what a kiosk presented, with the platform's blocks; None when
    nobody matches (an unknown number, a forged, expired or replayed code)."""
    from yikatong.people.models import Person

    identifier = (identifier or "").strip()
    if not identifier or len(identifier) > 512:
        return None
    kind = kind_of(identifier)
    presented_card: Card | None = None
    person_id: int | None = None
    reader: Reader | None = None
    if kind == "reader_no":
        reader = uow.session.execute(
            select(Reader).where(Reader.reader_no == identifier)).scalar_one_or_none()
        person_id = reader.person_id if reader else None
    elif kind == "card":
        presented_card = uow.session.execute(
            select(Card).where(Card.card_no == identifier)).scalar_one_or_none()
        person_id = presented_card.person_id if presented_card else None
        if person_id is None:  # a 9-character identifier may still be some other number
            kind = "ssn"
    if kind == "ssn":
        person_id = uow.session.execute(
            select(Person.id).where(Person.ssn == identifier.upper())).scalar_one_or_none()
    elif kind == "ecard":
        person_id = _ecard_person(uow, identifier)
    if person_id is None:
        return None
    person = uow.session.get(Person, person_id)
    if person is None:
        return None
    if reader is None:
        reader = uow.session.execute(
            select(Reader).where(Reader.person_id == person_id)).scalar_one_or_none()
    cards = _cards_of(uow, person_id)
    blocks: list[PatronBlock] = []
    if reader is None or reader.withdrawn_at is not None:
        blocks.append(PatronBlock.NOT_A_READER)
    if any(card.end_reason == EndReason.DECEASED for card in cards):
        blocks.append(PatronBlock.PERSON_DECEASED)
    judged = presented_card if kind == "card" else (None if kind == "ecard" else _current_card(cards))
    if kind != "ecard":
        if judged is None or not card_usable(judged, list(judged.blocks), now):
            blocks.append(PatronBlock.CARD_NOT_USABLE)
    card_no = presented_card.card_no if presented_card else (judged.card_no if judged else None)
    return Patron(reader_no=reader.reader_no if reader else "", person_id=person_id,
                  display_name=mask_name(person.name), presented=kind, card_no=card_no,
                  blocks=tuple(blocks))


class PlatformPatronAuthority:
    """PatronAuthority over the platform's database: each call its own read-only unit of
    work (a kiosk's message is one question)."""

    def __init__(self, platform) -> None:
        self._platform = platform

    def resolve(self, identifier: str, *, now: datetime) -> Patron | None:
        with self._platform.uow(read_only=True) as uow:
            return resolve(uow, identifier, now=now)
