"""The seam between the venue side (tickets, passes, entries: tourism.service) and the gates
(tourism.gate: an offline device like a transit validator, and the allow-list it holds).

A gate admits by a tap of the card or an e-card QR code. Offline it decides from a signed
allow-list it refreshed earlier (`AllowList`: who may enter this venue today and on what
grounds, and the cards that must be refused); online it asks the platform
(`tourism.service.admit`). Either way the entry it lets through becomes a `GateEntry`, which an
offline gate uploads later (`tourism.service.record_entries`, idempotent by `entry_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Ground(StrEnum):
    """What lets a person in."""

    TICKET = "ticket"   # a day ticket for this venue and day (one entry)
    PASS = "pass"       # a real-name annual or seasonal pass (one entry per venue per day)
    FREE = "free"       # a category the venue admits free (e.g. seniors), by the person's data


class Presented(StrEnum):
    CARD = "card"       # a tap: the chip read through the terminal library
    ECARD = "ecard"     # the e-card QR code (SM2-signed token)


@dataclass(frozen=True)
class Entitlement:
    """One ground on which one person may enter one venue on one day. `card_nos` are the
    person's cards that may be tapped (valid ones only: a lost or retired card is absent, so a
    gate refuses it once its list refreshes); an e-card code names the person instead."""

    person_id: int
    card_nos: tuple[str, ...]
    ground: Ground
    reference: str          # the ticket number, pass number or the free category
    venue_code: str
    day: date
    slot: str | None = None  # a ticket's time slot ("09:00-11:00"), None for all day


@dataclass(frozen=True)
class GateEntry:
    """An entry a gate let through, as it uploads it."""

    entry_id: str           # the gate's own id for it (gate id + sequence): idempotency key
    venue_code: str
    gate_id: str
    person_id: int | None   # from the allow-list or the e-card token
    card_no: str | None
    presented: Presented
    ground: Ground
    reference: str
    at: datetime
    offline: bool
    ecard_no: str | None = None  # the e-card a QR code named (a free entry of someone not on the list)
