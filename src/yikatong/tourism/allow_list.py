"""The signed allow-list a venue gate decides from while offline.

One list per venue and day, built on the platform from `tourism.service.entitlements` (who
may enter, on what ground) and the entitled people's cards: the cards that may be tapped are
the valid ones (in use, no loss or freeze in force); the others the person holds are listed as
refused with the reason, so a gate that refreshed its list refuses a card reported lost (or
retired by a replacement) even while the person's pass stays good on the new card. An e-card
QR code names the person through the e-card number listed beside the cards.

The document is canonical JSON signed with SM2 as the e-card status lists are
(`ecard.status_list`): the same signing key (purpose "ecard_signing"), whose public keys the
gates already hold to verify e-card codes; the proof covers the canonical JSON of everything
but the proof. A gate checks the proof once when it takes a list, then only its validity and
the day at every decision.

    {"type": "VenueAllowList", "issuer": …, "venue": "CZ-DINO-PARK", "day": "2026-05-01",
     "version": 1777593600000, "validFrom": …, "validUntil": …, "keyVersion": 1,
     "entries": [{"person": 17, "cards": ["T00000042"], "ecard": "0000000000000017",
                  "ground": "pass", "reference": "P-000017", "slot": null}, …],
     "refused": {"T00000041": "formal_loss"}, "entered": [[17, "pass", "P-000017"]],
     "free": [{"code": "senior", "min_age": 70, "max_age": null}],
     "enteredFree": ["3f0c…", "e:0000000000000017"],
     "proof": {"type": "Sm2Signature2026", "proofValue": "u…", …}}

Free entry (a venue's free categories: seniors by age, everyone at a free museum) is not a list
of the city's holders: the list carries the venue's rules (`free`) and the gate decides from
what it read — the birth date in the social security number read from the chip (a citizen's
number is their identity number: positions 7–14), or the age an e-card QR code carries (token
version 2). A free venue's `refused` part is every card a gate must refuse in the city — the
lost, frozen (a loss or freeze in force) and retired ones, not every valid card — so a free
tap with a lost card is refused once the gate refreshes. `enteredFree` names the people who
already entered free at the venue that day (one free entry per person per venue per day):
a digest of the social security number bound to the venue and day (`person_key`), and
"e:" + the live e-card number; a gate taking the list counts them as used.

`version` is the issue time in milliseconds: a gate takes a list only when it is newer than
the one it holds (a refresh is the whole list for the day; its ETag lets an unchanged list
answer 304). The list is valid from its issue until the end of its day (China Standard Time):
an offline gate keeps admitting all day from the last list it took, and refuses everyone when
it holds no valid list (fail closed).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from yikatong.core.clock import CST
from yikatong.crypto.sm2 import Sm2Signer, Sm2Verifier
from yikatong.tourism.protocols import Entitlement, Ground

LIST_TYPE = "VenueAllowList"
ISSUER = "did:web:yikatong.example"
PROOF_TYPE = "Sm2Signature2026"
KEY_PURPOSE = "ecard_signing"  # the offline terminals' key: gates hold its public keys already


# --- building and signing (the platform side, pure) -----------------------------------------


@dataclass(frozen=True)
class CardStanding:
    """One card of an entitled person and whether a gate may take it (`refusal` None)."""

    card_no: str
    person_id: int
    refusal: str | None  # formal_loss | temporary_loss | frozen | retired | cancelled | not_in_use


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CST) - timedelta(seconds=1)


def build(*, venue_code: str, day: date, entitlements: Iterable[Entitlement], cards: Iterable[CardStanding],
          ecards: Mapping[int, str], issued_at: datetime, key_version: int,
          entered: Iterable[tuple[int, str, str]] = (), free: Sequence[Mapping] = (),
          entered_free: Iterable[str] = ()) -> dict:
    """The unsigned list. `cards` are the entitled people's cards with their standing (a card
    an entitlement names but whose standing refuses it is left out of that entry and listed as
    refused); `ecards` maps a person to their live e-card number; `entered` are the (person,
    ground, reference) already recorded at the venue that day (online admissions, uploads from
    other gates), which a gate taking the list counts as used; `free` are the venue's free
    categories (the rules a gate applies to the age it reads) and `entered_free` the person
    keys (`person_key`, "e:" + e-card number) of those who entered free that day."""
    standing: dict[str, CardStanding] = {c.card_no: c for c in cards}
    valid_of: dict[int, set[str]] = {}
    for card in standing.values():
        if card.refusal is None:
            valid_of.setdefault(card.person_id, set()).add(card.card_no)
    entries = []
    for e in sorted(entitlements, key=lambda e: (e.person_id, str(e.ground), e.reference)):
        if e.venue_code != venue_code or e.day != day:
            continue
        named = {no for no in e.card_nos if (s := standing.get(no)) is None or s.refusal is None}
        good = sorted(named | valid_of.get(e.person_id, set()))
        entries.append({"person": e.person_id, "cards": good, "ecard": ecards.get(e.person_id),
                        "ground": str(e.ground), "reference": e.reference, "slot": e.slot})
    refused = {s.card_no: s.refusal for s in sorted(standing.values(), key=lambda s: s.card_no) if s.refusal}
    return {
        "type": LIST_TYPE, "issuer": ISSUER, "venue": venue_code, "day": day.isoformat(),
        "version": int(issued_at.timestamp() * 1000),
        "validFrom": issued_at.isoformat(), "validUntil": end_of_day(day).isoformat(),
        "keyVersion": key_version, "entries": entries, "refused": refused,
        "entered": sorted([int(p), str(g), str(r)] for p, g, r in set(entered)),
        "free": [{"code": str(c["code"]), "min_age": c.get("min_age"), "max_age": c.get("max_age")}
                 for c in free],
        "enteredFree": sorted(set(entered_free)),
    }


def person_key(ssn: str, venue_code: str, day: date) -> str:
    """Who entered free, as the list names them and a gate recognises them from the social
    security number it read: a digest bound to the venue and day (the list does not carry
    the numbers themselves)."""
    text = f"{venue_code}|{day.isoformat()}|{ssn.strip().upper()}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def ecard_key(ecard_no: str) -> str:
    return f"e:{ecard_no}"


def canonical(document: dict) -> bytes:
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(document: dict, signer: Sm2Signer, *, created: datetime) -> dict:
    signature = signer.sign(canonical(document))
    return {**document, "proof": {
        "type": PROOF_TYPE, "created": created.isoformat(), "proofPurpose": "assertionMethod",
        "verificationMethod": f"{document['issuer']}#sm2-{document['keyVersion']}",
        "proofValue": "u" + base64.urlsafe_b64encode(signature).decode().rstrip("="),
    }}


def etag(document: dict) -> str:
    """Names the list's content (not its issue time): an unchanged list answers 304."""
    content = {k: v for k, v in document.items() if k in ("venue", "day", "entries", "refused", "entered",
                                                          "keyVersion", "free", "enteredFree")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


# --- checking and indexing (the gate side, pure) --------------------------------------------


def proof_verifies(document: dict, verifiers: Mapping[int, Sm2Verifier]) -> bool:
    """The SM2 proof alone (checked once when a gate takes the list); a malformed document
    simply does not verify."""
    try:
        if document.get("type") != LIST_TYPE:
            return False
        proof = document.get("proof") or {}
        value = str(proof.get("proofValue", "")).removeprefix("u")
        verifier = verifiers.get(document.get("keyVersion", -1))
        if verifier is None or not value:
            return False
        signature = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return verifier.verify(canonical(document), signature)
    except (AttributeError, KeyError, TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Grant:
    """One entitlement as a gate holds it."""

    person_id: int
    ground: Ground
    reference: str
    slot: tuple[time, time] | None


# The order a gate uses a person's grounds in: free entry costs nothing, a pass is not used up
# by an entry, a day ticket is (so it stays refundable while another ground admits).
GROUND_ORDER = {Ground.FREE: 0, Ground.PASS: 1, Ground.TICKET: 2}


@dataclass(frozen=True)
class HeldList:
    """A list whose proof verified, indexed for decisions: per card and per e-card the
    person's grants in the order they are used, and the refused cards."""

    venue: str
    day: date
    version: int
    valid_from: datetime
    valid_until: datetime
    by_card: dict[str, tuple[Grant, ...]]
    by_ecard: dict[str, tuple[Grant, ...]]
    refused: dict[str, str]
    entered: tuple[tuple[int, Ground, str], ...]
    entries: int
    free: tuple[dict, ...] = ()
    entered_free: frozenset[str] = frozenset()

    def within_validity(self, now: datetime) -> bool:
        return self.valid_from <= now <= self.valid_until


def index(document: dict) -> HeldList:
    """Index a verified list. Raises ValueError (KeyError, TypeError) on a malformed one."""
    per_person: dict[int, list[Grant]] = {}
    cards_of: dict[int, set[str]] = {}
    ecard_of: dict[int, str] = {}
    for entry in document["entries"]:
        person = int(entry["person"])
        per_person.setdefault(person, []).append(
            Grant(person, Ground(entry["ground"]), str(entry["reference"]), _slot(entry.get("slot"))))
        cards_of.setdefault(person, set()).update(str(no) for no in entry["cards"])
        if entry.get("ecard"):
            ecard_of[person] = str(entry["ecard"])
    by_person = {p: tuple(sorted(grants, key=lambda g: (GROUND_ORDER[g.ground], g.reference)))
                 for p, grants in per_person.items()}
    by_card = {no: by_person[p] for p, nos in cards_of.items() for no in nos}
    by_ecard = {ecard: by_person[p] for p, ecard in ecard_of.items()}
    refused = {str(k): str(v) for k, v in dict(document.get("refused") or {}).items()}
    for no in refused:
        by_card.pop(no, None)
    return HeldList(
        venue=str(document["venue"]), day=date.fromisoformat(document["day"]), version=int(document["version"]),
        valid_from=datetime.fromisoformat(document["validFrom"]),
        valid_until=datetime.fromisoformat(document["validUntil"]),
        by_card=by_card, by_ecard=by_ecard, refused=refused,
        entered=tuple((int(p), Ground(g), str(r)) for p, g, r in document.get("entered") or ()),
        entries=len(document["entries"]),
        free=tuple({"code": str(c["code"]), "min_age": c.get("min_age"), "max_age": c.get("max_age")}
                   for c in document.get("free") or ()),
        entered_free=frozenset(str(k) for k in document.get("enteredFree") or ()))


def _slot(value: str | None) -> tuple[time, time] | None:
    """"09:00-11:00" → (09:00, 11:00); None or "" for all day."""
    if not value:
        return None
    start, end = str(value).split("-", 1)
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def free_by_ssn(categories, ssn: str, day: date) -> str | None:
    """The free category of the holder of this social security number on `day`: the birth
    date it carries (a citizen's identity number, positions 7–14; residence permits and 2023
    PR numbers alike); a number with no birth date (agency-assigned) only meets "everyone"."""
    from yikatong.core.errors import DomainError
    from yikatong.people.rules import age_on, classify_id_number
    from yikatong.tourism.rules import free_category_by_age

    try:
        born = classify_id_number(ssn).birth_date
    except DomainError:
        born = None
    return free_category_by_age(categories, age_on(born, day) if born is not None else None)


def card_refusal(state: str, hr_status: str) -> str | None:
    """Whether a gate may take a card with this state and HR status (the reason if not)."""
    if state != "in_use":
        return state if state in ("retired", "cancelled") else "not_in_use"
    return None if hr_status == "normal" else hr_status


def standings(views: Sequence) -> list[CardStanding]:
    """CardStanding of card views (anything with card_no, person_id, state, hr_status)."""
    return [CardStanding(v.card_no, v.person_id, card_refusal(v.state, v.hr_status)) for v in views]


# --- the platform side (reads the database) ---------------------------------------------------

_CHUNK = 500


def card_standings(uow, person_ids: Iterable[int]) -> list[CardStanding]:
    """Every card of these people with whether a gate may take it now: in use with no loss or
    freeze in force (cards.rules.derive_hr_status, from the card's blocks and the clock)."""
    from sqlalchemy import select

    from yikatong.cards.models import Card, CardBlock
    from yikatong.cards.rules import derive_hr_status

    now = uow.now()
    found: list[CardStanding] = []
    ids = sorted(set(person_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        cards = uow.session.execute(select(Card.id, Card.card_no, Card.person_id, Card.state)
                                    .where(Card.person_id.in_(chunk))).all()
        blocks: dict[int, list] = {card.id: [] for card in cards}
        if blocks:
            for block in uow.session.execute(select(CardBlock.__table__).where(
                    CardBlock.__table__.c.card_id.in_(list(blocks)))):
                blocks[block.card_id].append(block)
        for card in cards:
            hr_status = derive_hr_status(card.state, blocks[card.id], now)
            found.append(CardStanding(card.card_no, card.person_id, card_refusal(card.state, str(hr_status))))
    return found


# How long a refused card stays on a free venue's list after its validity ends (example
# default, our own choice). A card past its validity is refused by the gate itself, from the
# expiry date it reads on the chip (`Gate.decide_card`: card_expired), so the list need not
# name it for ever: without this the refused part would grow with every replacement over the
# years. The margin covers a chip whose printed expiry is a little later than the platform's
# record of the card's validity (`cards.financial_valid_until`: issue + 10 years − 1 day).
REFUSED_AFTER_EXPIRY_DAYS = 30


def still_listed(valid_until: date, day: date) -> bool:
    """Whether a refused card valid until `valid_until` is still named on the list of `day`."""
    return day <= valid_until + timedelta(days=REFUSED_AFTER_EXPIRY_DAYS)


def refused_cards(uow, day: date | None = None) -> list[CardStanding]:
    """Every card in the city a gate must refuse on `day` (today by default): retired ones
    (replaced, exchanged, …) and cards in use with a loss or freeze in force — not the valid
    cards (a free venue's list grows with these, not with the city's holders). Cards never
    handed over are not in anyone's hands and are left out; so are cards past their validity
    by more than REFUSED_AFTER_EXPIRY_DAYS (the gate refuses an expired chip itself)."""
    from sqlalchemy import or_, select

    from yikatong.cards.models import Card, CardBlock
    from yikatong.cards.rules import CardState, derive_hr_status
    from yikatong.core.clock import local_date

    now = uow.now()
    day = day or local_date(now)
    blocked = select(CardBlock.__table__.c.card_id)
    cards = uow.session.execute(select(Card.id, Card.card_no, Card.person_id, Card.state).where(
        or_(Card.state == CardState.RETIRED, (Card.state == CardState.IN_USE) & Card.id.in_(blocked)),
        Card.financial_valid_until >= day - timedelta(days=REFUSED_AFTER_EXPIRY_DAYS))).all()
    blocks: dict[int, list] = {card.id: [] for card in cards if card.state == CardState.IN_USE}
    ids = list(blocks)
    for start in range(0, len(ids), _CHUNK):
        for block in uow.session.execute(select(CardBlock.__table__).where(
                CardBlock.__table__.c.card_id.in_(ids[start:start + _CHUNK]))):
            blocks[block.card_id].append(block)
    found = []
    for card in cards:
        hr_status = derive_hr_status(card.state, blocks.get(card.id, []), now)
        refusal = card_refusal(card.state, str(hr_status))
        if refusal is not None:
            found.append(CardStanding(card.card_no, card.person_id, refusal))
    return found


def entered_free_keys(uow, venue_code: str, day: date) -> list[str]:
    """The keys (`person_key` of the social security number, `ecard_key`) of the people who
    entered free at the venue on the day."""
    from sqlalchemy import select

    from yikatong.people.models import Person
    from yikatong.tourism.models import Entry

    people = set(uow.session.execute(select(Entry.person_id).where(
        Entry.venue_code == venue_code, Entry.day == day, Entry.ground == "free",
        Entry.person_id.is_not(None))).scalars())
    keys: list[str] = []
    ids = sorted(people)
    for start in range(0, len(ids), _CHUNK):
        for ssn in uow.session.execute(select(Person.ssn).where(Person.id.in_(ids[start:start + _CHUNK]))).scalars():
            if ssn:
                keys.append(person_key(ssn, venue_code, day))
    keys.extend(ecard_key(no) for no in live_ecards(uow, people).values())
    return keys


def live_ecards(uow, person_ids: Iterable[int]) -> dict[int, str]:
    """person → live e-card number (a revoked e-card is not live)."""
    from sqlalchemy import select

    from yikatong.ecard.models import Ecard

    ids = sorted(set(person_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = uow.session.execute(select(Ecard.live_person_id, Ecard.ecard_no)
                                   .where(Ecard.live_person_id.in_(ids[start:start + _CHUNK])))
        found.update({person: ecard_no for person, ecard_no in rows})
    return found


def entered_at(uow, venue_code: str, day: date) -> list[tuple[int, str, str]]:
    """(person, ground, reference) of the entries recorded at the venue on the day."""
    from sqlalchemy import select

    from yikatong.tourism.models import Entry

    return [(person, ground, reference) for person, ground, reference in uow.session.execute(
        select(Entry.person_id, Entry.ground, Entry.reference).where(
            Entry.venue_code == venue_code, Entry.day == day, Entry.person_id.is_not(None)))]


def signed_list(uow, keys, *, venue_code: str, day: date, entitlements: Sequence[Entitlement]) -> dict:
    """The signed list of a venue and day from its entitlements (read by the caller from
    `tourism.service.entitlements`) and the standing of the entitled people's cards."""
    from yikatong.tourism.service import free_categories

    people = {e.person_id for e in entitlements}
    key = keys.get(KEY_PURPOSE)
    now = uow.now()
    free = free_categories(uow, venue_code)
    cards = card_standings(uow, people)
    if free:  # a free tap can be any card in the city: every card to refuse is listed
        cards += refused_cards(uow, day)
    document = build(venue_code=venue_code, day=day, entitlements=entitlements, cards=cards,
                     ecards=live_ecards(uow, people), issued_at=now, key_version=key.version,
                     entered=entered_at(uow, venue_code, day), free=free,
                     entered_free=entered_free_keys(uow, venue_code, day) if free else ())
    return sign(document, Sm2Signer(key.key), created=now)
