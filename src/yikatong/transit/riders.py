"""The rider category on the card kept in step with the registry (file 0017 byte 11).

Personalisation writes the category the registry can know on the issue day, from the holder's
age (`service.rider_category_at_issue`). A holder who turns 70 afterwards would keep the adult
category for the card's 10 years, so at every online contact — a top-up or a reading, on any
channel: citizen-card counter, self-service machine, phone NFC — the platform compares the
card's 0017 with the category the registry gives today and, when they differ, rewrites that
byte: UPDATE BINARY under secure messaging with the card's maintenance key (DAMK), the
mechanism that also blocks a purse for a refund.

Only what the registry can know is managed: adult and the categories the fare configuration
gives an age (`[riders.*] min_age`). A card showing another category (student, disabled: set
against a proof) is left alone, and so is a card the registry did not issue (an anonymous city
card, another issuer's card) or whose holder it does not hold.

A torn rewrite: the card applies UPDATE BINARY whole or not at all (one command, one commit),
so the file is never half-written. The attempt is written down before the command leaves
(`TransitWallet.rider_rewrite`, identified by the card's GET CHALLENGE answer) and confirmed,
with one audit record, by the card's answer; when the answer is lost, the next contact reads
0017 again: the new category there confirms the attempt, the old one means it is sent again.
A relayed contact (contact.py) replays the same exchange each round: the same challenge is
recognised, so it is neither noted nor audited twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from yikatong.cards import service as cards
from yikatong.chip import terminal
from yikatong.chip.apdu import command
from yikatong.chip.apps.purse import RIDER_CODES, SFI_MANAGEMENT
from yikatong.chip.host import secure_command
from yikatong.chip.protocols import CardReader, CardRemoved
from yikatong.chip.secure import purse_factors
from yikatong.chip.terminal import PurseView
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import UnitOfWork
from yikatong.people import service as people
from yikatong.people.errors import PersonNotFound
from yikatong.transit import records
from yikatong.transit.fare_config import FareConfig, default_fare_config
from yikatong.transit.fare_rules import RiderCategory
from yikatong.transit.models import TransitWallet

RIDER_OFFSET = 11  # file 0017 byte 11 (chip/apps/purse.management_info)
SENT, DONE = "sent", "done"
AUDIT_ACTION = "transit.card_rider_rewritten"


@dataclass(frozen=True)
class RiderUpdate:
    """What the holder is told at this contact about the card's rider category."""

    before: str
    after: str
    written: bool  # False: the card left, or refused; the next contact tries again
    zh: str
    en: str


def keep_rider_current(*, platform, reader: CardReader, actor: Actor, view: PurseView,
                       when: datetime) -> RiderUpdate | None:
    """Rewrite the card's rider category when the registry's differs today (see the module).
    None when there is nothing to do or nothing to tell."""
    if view.blocked:
        return None
    asn = view.public.asn.hex().upper()
    fares = default_fare_config()
    on_card = _rider_on_card(reader, view)
    with platform.uow() as uow:
        wanted = _registry_rider(uow, asn, local_date(when), fares)
        rewrite = _wallet(uow, asn).rider_rewrite
    if rewrite and rewrite["state"] == SENT and on_card.value == rewrite["to"]:
        # An earlier rewrite reached the card but its answer did not reach us.
        _confirm(platform, actor, asn, rewrite["challenge"], answered=False)
        return _told(rewrite["from"], rewrite["to"], fares)
    if wanted is None or on_card is wanted or on_card not in _managed(fares):
        return None
    try:
        return _rewrite(platform, reader, actor, view, on_card, wanted, fares)
    except CardRemoved:
        return _unfinished(on_card.value, wanted.value, fares)


def _rider_on_card(reader: CardReader, view: PurseView) -> RiderCategory:
    """File 0017 of the purse the reading selected (no new SELECT: one command more per contact)."""
    management = terminal.expect(terminal.exchange(
        reader, command(0x00, 0xB0, 0x80 | SFI_MANAGEMENT, 0x00, le=RIDER_OFFSET + 1)), "READ BINARY 0017")
    return records.card_context(view.public, management).rider


def _registry_rider(uow: UnitOfWork, asn: str, today: date, fares: FareConfig) -> RiderCategory | None:
    """The category the registry gives the card's holder today, or None for a card the
    registry did not issue or whose holder it does not hold."""
    card = cards.find_card_by_asn(uow=uow, asn=asn)
    if card is None:
        return None
    try:
        person = people.get_person(uow=uow, person_id=card.person_id)
    except PersonNotFound:
        return None
    return fares.rider_by_age(person.birth_date, today)


def _managed(fares: FareConfig) -> set[RiderCategory]:
    """The categories the registry can decide: adult, and those the fares give an age."""
    return {RiderCategory.ADULT} | {rider for rider, rule in fares.riders.items() if rule.min_age is not None}


def _rewrite(platform, reader: CardReader, actor: Actor, view: PurseView, on_card: RiderCategory,
             wanted: RiderCategory, fares: FareConfig) -> RiderUpdate:
    asn = view.public.asn.hex().upper()
    key_version, alg_id = terminal.purse_key(reader)
    challenge = terminal.expect(terminal.exchange(reader, command(0x00, 0x84, 0x00, 0x00, le=4)), "GET CHALLENGE")
    _note_attempt(platform, asn, on_card.value, wanted.value, challenge.hex().upper())
    apdu = secure_command(platform.get(KeyStore), factors=purse_factors(view.public.issuer_id, view.public.asn),
                          alg_id=alg_id, challenge=challenge, cla=0x00, ins=0xD6, p1=0x80 | SFI_MANAGEMENT,
                          p2=RIDER_OFFSET, data=bytes([RIDER_CODES[wanted.value]]), key_version=key_version)
    answer = terminal.exchange(reader, apdu)
    if not answer.ok:
        return _refused(on_card.value, wanted.value, f"{answer.sw:04X}", fares)
    _confirm(platform, actor, asn, challenge.hex().upper(), answered=True)
    return _told(on_card.value, wanted.value, fares)


def _wallet(uow: UnitOfWork, asn: str, *, lock: bool = False) -> TransitWallet:
    query = select(TransitWallet).where(TransitWallet.asn == asn)
    if lock:
        query = query.with_for_update()
    return uow.session.execute(query).scalar_one()  # the contact's sighting created it


def _note_attempt(platform, asn: str, before: str, after: str, challenge: str) -> None:
    """Write the attempt down before the command leaves (a replay of it changes nothing)."""
    with platform.uow() as uow:
        wallet = _wallet(uow, asn, lock=True)
        if (wallet.rider_rewrite or {}).get("challenge") == challenge:
            return
        wallet.rider_rewrite = {"from": before, "to": after, "challenge": challenge, "state": SENT}
        uow.commit()


def _confirm(platform, actor: Actor, asn: str, challenge: str, *, answered: bool) -> None:
    """The card holds the new category: the attempt is done, audited once."""
    with platform.uow() as uow:
        wallet = _wallet(uow, asn, lock=True)
        rewrite = wallet.rider_rewrite
        if not rewrite or rewrite["challenge"] != challenge or rewrite["state"] != SENT:
            return
        wallet.rider_rewrite = {**rewrite, "state": DONE}
        uow.audit(actor=actor, action=AUDIT_ACTION, entity_type="transit_wallet", entity_id=asn,
                  before={"rider": rewrite["from"]},
                  after={"rider": rewrite["to"], "confirmed_by": "card_answer" if answered else "next_contact"})
        uow.emit(AUDIT_ACTION, aggregate_type="transit_wallet", aggregate_id=asn,
                 payload={"asn": asn, "before": rewrite["from"], "after": rewrite["to"]})
        uow.commit()


# --- what the holder is told -----------------------------------------------------------------


def _names(rider: str, fares: FareConfig) -> tuple[str, str]:
    rule = fares.riders.get(RiderCategory(rider))
    return (rule.zh, rule.en) if rule is not None else ("普通成人", "adult")


def _told(before: str, after: str, fares: FareConfig) -> RiderUpdate:
    (before_zh, before_en), (after_zh, after_en) = _names(before, fares), _names(after, fares)
    return RiderUpdate(before, after, True,
                       f"已按登记信息将卡内乘客类别由“{before_zh}”更新为“{after_zh}”，此后乘车按新类别计费",
                       f"Your card's rider category was updated from '{before_en}' to '{after_en}' as the "
                       "registry shows; rides are now charged for it")


def _unfinished(before: str, after: str, fares: FareConfig) -> RiderUpdate:
    after_zh, after_en = _names(after, fares)
    return RiderUpdate(before, after, False,
                       f"卡片离开，乘客类别（“{after_zh}”）未能更新；下次充值或读卡时将再次更新",
                       f"The card left before its rider category ('{after_en}') was updated; it will be "
                       "updated at your next top-up or reading")


def _refused(before: str, after: str, status: str, fares: FareConfig) -> RiderUpdate:
    after_zh, after_en = _names(after, fares)
    return RiderUpdate(before, after, False,
                       f"卡片拒绝更新乘客类别（“{after_zh}”，状态字 {status}），请到市民卡网点处理",
                       f"The card refused the update of its rider category ('{after_en}', status {status}): "
                       "please go to a citizen-card outlet")
