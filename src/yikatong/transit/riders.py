"""The rider category on the card kept in step with the registry (file 0017 byte 11).

The registry's category for a holder on a day is an active grant in force that day — a
category set against a proof (student, disabled) that a citizen-card outlet recorded
(grants.py) — and otherwise the one the holder's age gives (`[riders.*] min_age`, e.g. 70+),
else adult (`registry_rider`). Personalisation writes the category of the issue day
(`service.rider_category_at_issue`). A holder who turns 70, is granted the student category,
or whose grant expires or is revoked afterwards would keep the old category for the card's 10
years, so at every online contact — a top-up or a reading, on any channel: citizen-card
counter, self-service machine, phone NFC — the platform compares the card's 0017 with the
category the registry gives today and, when they differ, rewrites that byte: UPDATE BINARY
under secure messaging with the card's maintenance key (DAMK), the mechanism that also blocks a
purse for a refund. A student card whose grant ended is so rewritten back to adult (or the age
category) at its next contact.

Every category the fare configuration declares is managed, and adult. Left alone are a card
showing a category the configuration does not declare, a card the registry did not issue (an
anonymous city card, another issuer's card) and one whose holder it does not hold.

A torn rewrite: the card applies UPDATE BINARY whole or not at all (one command, one commit),
so the file is never half-written. The attempt is written down before the command leaves
(`TransitWallet.rider_rewrite`, identified by the card's GET CHALLENGE answer) and confirmed,
with one audit record, by the card's answer; when the answer is lost, the next contact reads
0017 again: the new category there confirms the attempt, the old one means it is sent again.
A relayed contact (contact.py) replays the same exchange each round: the same challenge is
recognised, so it is neither noted nor audited twice.

Telling the holder: a rewrite is told in the outcome of the contact that made it. When that
contact fails after the rewrite (the card leaves during the top-up write that follows), the
rewrite stays untold (`told` False) and the next contact that finishes tells it instead, once
(`note_told`, at the end of `service.contact`).

A refused rewrite: a card that answers UPDATE BINARY with an error (another maintenance key,
a damaged file) is counted, once per challenge. After `MAX_REFUSALS` refusals of the same
target the wallet is flagged (state refused, `TransitWallet.rider_refused_at`, one audit
record): contacts stop sending the update, staff see the card in `refused_rewrites`, and the
holder is sent to an outlet at each contact. A grant or a revocation for the holder, or a staff
reset (`reset_refused_rewrite`), clears the flag and contacts try again. A flagged card is
still asked for a challenge at each contact, so that a relayed contact replaying the very
exchange that flagged it sends the same commands again (the challenge tells the two apart).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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
from yikatong.transit import records, rules
from yikatong.transit.errors import RiderRewriteNotRefused
from yikatong.transit.fare_config import FareConfig, default_fare_config
from yikatong.transit.fare_rules import RiderCategory
from yikatong.transit.models import GrantState, RiderGrant, TransitWallet

RIDER_OFFSET = 11  # file 0017 byte 11 (chip/apps/purse.management_info)
SENT, DONE, REFUSED, RESET = "sent", "done", "refused", "reset"
MAX_REFUSALS = 3  # refusals of one target before contacts stop trying and staff are shown it
AUDIT_ACTION = "transit.card_rider_rewritten"
REFUSED_ACTION = "transit.card_rider_rewrite_refused"
RESET_ACTION = "transit.card_rider_rewrite_reset"


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
    if _untold(rewrite, on_card) and wanted in (None, on_card):
        # Written at a contact that failed afterwards: its outcome never told the holder.
        return _told(rewrite["from"], rewrite["to"], fares)
    if wanted is None or on_card is wanted or on_card not in _managed(fares):
        return None
    try:
        return _rewrite(platform, reader, actor, view, on_card, wanted, fares, rewrite)
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
    return registry_rider(uow=uow, person_id=person.id, birth_date=person.birth_date, on=today, fares=fares)


def registry_rider(*, uow: UnitOfWork, person_id: int, birth_date: date, on: date,
                   fares: FareConfig) -> RiderCategory:
    """The registry's category of a person on a day: an active grant in force that day (the
    one charged least when there are several), else the category of their age, else adult."""
    granted = uow.session.execute(select(RiderGrant.category, RiderGrant.valid_from, RiderGrant.valid_until).where(
        RiderGrant.person_id == person_id, RiderGrant.state == GrantState.ACTIVE)).all()
    in_force = {RiderCategory(row.category) for row in granted
                if rules.grant_in_force(row.valid_from, row.valid_until, on)
                and RiderCategory(row.category) in fares.riders}  # a category the fares dropped is not granted
    return rules.preferred_rider(in_force, fares) or fares.rider_by_age(birth_date, on)


def _managed(fares: FareConfig) -> set[RiderCategory]:
    """The categories the registry decides: adult and every category the fares declare."""
    return {RiderCategory.ADULT, *fares.riders}


def _rewrite(platform, reader: CardReader, actor: Actor, view: PurseView, on_card: RiderCategory,
             wanted: RiderCategory, fares: FareConfig, last: dict | None) -> RiderUpdate:
    asn = view.public.asn.hex().upper()
    key_version, alg_id = terminal.purse_key(reader)
    challenge = terminal.get_challenge(reader)
    if _given_up(last, wanted, challenge.hex().upper()):
        return _refused(on_card.value, wanted.value, last.get("status", "----"), fares)
    _note_attempt(platform, asn, on_card.value, wanted.value, challenge.hex().upper())
    apdu = secure_command(platform.get(KeyStore), factors=purse_factors(view.public.issuer_id, view.public.asn),
                          alg_id=alg_id, challenge=challenge, cla=0x00, ins=0xD6, p1=0x80 | SFI_MANAGEMENT,
                          p2=RIDER_OFFSET, data=bytes([RIDER_CODES[wanted.value]]), key_version=key_version)
    answer = terminal.exchange(reader, apdu)
    if not answer.ok:
        _count_refusal(platform, actor, asn, challenge.hex().upper(), f"{answer.sw:04X}")
        return _refused(on_card.value, wanted.value, f"{answer.sw:04X}", fares)
    _confirm(platform, actor, asn, challenge.hex().upper(), answered=True)
    return _told(on_card.value, wanted.value, fares)


def _untold(rewrite: dict | None, on_card: RiderCategory) -> bool:
    """A rewrite the card holds whose contact did not finish (records from before `told`
    existed count as told)."""
    return bool(rewrite) and rewrite["state"] == DONE and rewrite.get("told", True) is False \
        and on_card.value == rewrite["to"]


def note_told(*, platform, asn: str, update: RiderUpdate | None) -> None:
    """The contact finished and its outcome tells the holder of the rewrite: not told again."""
    if update is None or not update.written:
        return
    with platform.uow() as uow:
        wallet = _wallet(uow, asn, lock=True)
        rewrite = wallet.rider_rewrite
        if _untold(rewrite, RiderCategory(update.after)):
            wallet.rider_rewrite = {**rewrite, "told": True}
            uow.commit()


def _given_up(last: dict | None, wanted: RiderCategory, challenge: str) -> bool:
    """The card refused this very target often enough, at an earlier contact: do not send it
    again. (A relayed contact replaying the exchange that flagged it shows the same challenge
    and goes on, so that its replay sends the commands it sent before.)"""
    return (last is not None and last["state"] == REFUSED and last["to"] == wanted.value
            and last.get("refused_by") != challenge)


def _wallet(uow: UnitOfWork, asn: str, *, lock: bool = False) -> TransitWallet:
    query = select(TransitWallet).where(TransitWallet.asn == asn)
    if lock:
        query = query.with_for_update()
    return uow.session.execute(query).scalar_one()  # the contact's sighting created it


def _note_attempt(platform, asn: str, before: str, after: str, challenge: str) -> None:
    """Write the attempt down before the command leaves (a replay of it changes nothing)."""
    with platform.uow() as uow:
        wallet = _wallet(uow, asn, lock=True)
        last = wallet.rider_rewrite or {}
        if last.get("challenge") == challenge:
            return
        # Refusals of the same target add up across contacts until it is written or reset.
        refusals = last.get("refusals", 0) if last.get("state") == SENT and last.get("to") == after else 0
        wallet.rider_rewrite = {"from": before, "to": after, "challenge": challenge, "state": SENT,
                                "refusals": refusals}
        uow.commit()


def _count_refusal(platform, actor: Actor, asn: str, challenge: str, status: str) -> None:
    """The card refused the attempt of this challenge: counted once (a relayed replay of the
    same answer is not a new refusal); the MAX_REFUSALS-th flags the wallet, audited."""
    with platform.uow() as uow:
        wallet = _wallet(uow, asn, lock=True)
        rewrite = wallet.rider_rewrite
        if not rewrite or rewrite["challenge"] != challenge or rewrite.get("refused_by") == challenge:
            return
        refusals = rewrite.get("refusals", 0) + 1
        flagged = refusals >= MAX_REFUSALS
        wallet.rider_rewrite = {**rewrite, "refusals": refusals, "refused_by": challenge, "status": status,
                                "state": REFUSED if flagged else rewrite["state"]}
        if flagged:
            wallet.rider_refused_at = uow.now()
            uow.audit(actor=actor, action=REFUSED_ACTION, entity_type="transit_wallet", entity_id=asn,
                      before={"rider": rewrite["from"]},
                      after={"wanted": rewrite["to"], "refusals": refusals, "status": status})
        uow.commit()


def _confirm(platform, actor: Actor, asn: str, challenge: str, *, answered: bool) -> None:
    """The card holds the new category: the attempt is done, audited once."""
    with platform.uow() as uow:
        wallet = _wallet(uow, asn, lock=True)
        rewrite = wallet.rider_rewrite
        if not rewrite or rewrite["challenge"] != challenge or rewrite["state"] != SENT:
            return
        wallet.rider_rewrite = {**rewrite, "state": DONE, "told": False}
        uow.audit(actor=actor, action=AUDIT_ACTION, entity_type="transit_wallet", entity_id=asn,
                  before={"rider": rewrite["from"]},
                  after={"rider": rewrite["to"], "confirmed_by": "card_answer" if answered else "next_contact"})
        uow.emit(AUDIT_ACTION, aggregate_type="transit_wallet", aggregate_id=asn,
                 payload={"asn": asn, "before": rewrite["from"], "after": rewrite["to"]})
        uow.commit()


# --- rewrites the card refused, for staff -----------------------------------------------------


@dataclass(frozen=True)
class RefusedRewrite:
    """A card whose rider category rewrite it refused MAX_REFUSALS times: contacts no longer try."""

    asn: str
    card_no: str | None
    person_id: int | None
    on_card: str = field(metadata={"description": "the rider category the card still shows"})
    wanted: str = field(
        metadata={"description": "the registry's category the card refused to take"})
    refusals: int
    status: str | None = field(
        metadata={"description": "the card's last status word, e.g. 6988"})
    refused_at: datetime
    last_seen_at: datetime | None
    last_seen_channel: str | None


def refused_rewrites(*, uow: UnitOfWork, limit: int = 50, offset: int = 0) -> list[RefusedRewrite]:
    """Flagged cards, the longest waiting first."""
    wallets = uow.session.execute(
        select(TransitWallet).where(TransitWallet.rider_refused_at.is_not(None))
        .order_by(TransitWallet.rider_refused_at, TransitWallet.id).limit(min(limit, 500)).offset(offset)).scalars()
    return [_refused_view(uow, wallet) for wallet in wallets]


def reset_refused_rewrite(*, uow: UnitOfWork, actor: Actor, asn: str) -> RefusedRewrite:
    """Staff cleared the flag (the card was seen to, or is worth another try): the next
    contact tries the rewrite again, with a fresh count. Raises RiderRewriteNotRefused."""
    wallet = uow.session.execute(select(TransitWallet).where(
        TransitWallet.asn == asn).with_for_update()).scalar_one_or_none()
    if wallet is None or wallet.rider_refused_at is None:
        raise RiderRewriteNotRefused(asn=asn)
    view = _refused_view(uow, wallet)
    _clear(wallet)
    uow.audit(actor=actor, action=RESET_ACTION, entity_type="transit_wallet", entity_id=asn,
              before={"state": REFUSED, "wanted": view.wanted, "refusals": view.refusals},
              after={"state": RESET})
    return view


def clear_refusals_of(*, uow: UnitOfWork, asns: Iterable[str]) -> list[str]:
    """Clear the flag of these cards (a grant or a revocation changed what they should show);
    the ASNs cleared, for the caller's audit record."""
    wallets = uow.session.execute(select(TransitWallet).where(
        TransitWallet.asn.in_(list(asns)), TransitWallet.rider_refused_at.is_not(None)).with_for_update()).scalars()
    cleared = []
    for wallet in wallets:
        _clear(wallet)
        cleared.append(wallet.asn)
    return sorted(cleared)


def _clear(wallet: TransitWallet) -> None:
    wallet.rider_rewrite = {**wallet.rider_rewrite, "state": RESET, "refusals": 0}
    wallet.rider_refused_at = None


def _refused_view(uow: UnitOfWork, wallet: TransitWallet) -> RefusedRewrite:
    rewrite = wallet.rider_rewrite or {}
    card = cards.find_card_by_asn(uow=uow, asn=wallet.asn)
    return RefusedRewrite(
        asn=wallet.asn, card_no=card.card_no if card else None, person_id=card.person_id if card else None,
        on_card=rewrite.get("from", "adult"), wanted=rewrite.get("to", "adult"),
        refusals=rewrite.get("refusals", 0), status=rewrite.get("status"), refused_at=wallet.rider_refused_at,
        last_seen_at=wallet.last_seen_at, last_seen_channel=wallet.last_seen_channel)


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
