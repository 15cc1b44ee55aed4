"""A venue gate: offline admission from a signed allow-list, like a transit validator.

A `Gate` stands at one venue, holds the platform's e-card public keys (they also verify the
allow-list's proof), optionally a PSAM with the national reading key (to read the card number
and social security number from the chip), and the last allow-list it took (`take`). A
person is let in by:

* a tap: the card's social security application read through the terminal library
  (`chip.terminal.read_social_security`, the emulator or a PC/SC reader) gives the card number
  and social security number; the card number is looked up in the list;
* an e-card QR code: verified offline by `ecard.terminal.OfflineVerifier` (SM2, validity,
  single use at this gate, the suspension/revocation lists), then its e-card number is
  looked up in the list.

`decide_card` / `decide_ecard` are the decision on data already read: refused cards (lost,
frozen, retired, as of the list), no list or a list past its validity or for another day or
venue (fail closed), a ticket outside its time slot, and one entry per ground (pass, ticket,
free category) per venue per day — enforced here for the entries this gate let through; the
platform flags repeats across gates when the entries are uploaded. An accepted decision
queues a `GateEntry` (entry id = gate id + sequence, the upload's idempotency key):
`pending_entries()` shows them, `drain()` hands them to the upload (`POST
/tourism/gates/{venue}/entries`, `tourism.service.record_entries`).

Nothing here touches the database: gates run offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from yikatong.chip import terminal
from yikatong.chip.errors import CardRefused
from yikatong.chip.protocols import CardReader, CardRemoved
from yikatong.chip.psam import Psam
from yikatong.core.clock import CST
from yikatong.crypto.sm2 import Sm2Verifier
from yikatong.ecard.terminal import MemoryNonceStore, OfflineVerifier
from yikatong.ecard.tokens import TokenRejected
from yikatong.tourism import allow_list, rules
from yikatong.tourism.allow_list import Grant, HeldList
from yikatong.tourism.protocols import GateEntry, Ground, Presented


class GateRefusal(StrEnum):
    NO_LIST = "no_list"                # no valid allow-list held (never taken, expired, another day)
    NOT_ENTITLED = "not_entitled"      # no ticket, pass or free ground for today
    CARD_BLOCKED = "card_blocked"      # the card is lost, frozen or retired (as of the list)
    ALREADY_ENTERED = "already_entered"  # this ground was used here today
    OUTSIDE_SLOT = "outside_slot"      # a timed ticket shown outside its slot
    ECARD_REJECTED = "ecard_rejected"  # the QR code failed (forged, expired, replayed, suspended)
    CARD_UNREADABLE = "card_unreadable"  # the chip could not be read (removed, refused)
    CARD_EXPIRED = "card_expired"      # the chip's validity (its expiry date, read from it) is over


_TEXT = {
    GateRefusal.NO_LIST: ("闸机名单已过期，请到人工通道", "the gate's list is out of date: use the staffed lane"),
    GateRefusal.NOT_ENTITLED: ("今日无有效门票或年卡", "no valid ticket or pass for today"),
    GateRefusal.CARD_BLOCKED: ("此卡已挂失、冻结或停用，请到服务台", "this card is lost, frozen or retired: go to the desk"),
    GateRefusal.ALREADY_ENTERED: ("今日已入园", "already entered today"),
    GateRefusal.OUTSIDE_SLOT: ("不在预约时段内", "outside the ticket's time slot"),
    GateRefusal.ECARD_REJECTED: ("电子社保卡二维码无效", "the e-card code is not valid"),
    GateRefusal.CARD_UNREADABLE: ("请重新刷卡", "tap the card again"),
    GateRefusal.CARD_EXPIRED: ("此卡已过有效期，请到服务台", "this card has expired: go to the desk"),
}


@dataclass(frozen=True)
class Decision:
    admitted: bool
    refusal: GateRefusal | None = None
    zh: str = ""
    en: str = ""
    entry: GateEntry | None = None
    card_no: str | None = None
    ssn: str | None = None  # read from the chip at a tap (never logged)

    @classmethod
    def refused(cls, reason: GateRefusal, detail: str = "", *, card_no: str | None = None) -> Decision:
        zh, en = _TEXT[reason]
        return cls(False, reason, zh + (f"（{detail}）" if detail else ""), en + (f" ({detail})" if detail else ""),
                   card_no=card_no)


class Gate:
    def __init__(self, gate_id: str, venue_code: str, public_keys: Mapping[int, bytes | str], *,
                 psam: Psam | None = None, status_lists: Iterable[dict] = ()) -> None:
        self.gate_id = gate_id
        self.venue_code = venue_code
        self.psam = psam
        self._verifiers = {int(v): Sm2Verifier(k) for v, k in public_keys.items()}
        self.ecards = OfflineVerifier(public_keys, status_lists, seen_nonces=MemoryNonceStore())
        self.held: HeldList | None = None
        # (day, person, ground, reference) let in here, or entered at the venue as of the list
        self._used: set[tuple[date, int, Ground, str]] = set()
        # (day, person key) of the free entries let in here, or entered at the venue as of the list
        self._free_used: set[tuple[date, str]] = set()
        self._entries: list[GateEntry] = []
        self._sequence = 0

    # -- the list ------------------------------------------------------------------------------

    def take(self, document: dict, *, now: datetime) -> bool:
        """Take a refreshed allow-list when its proof verifies, it is for this venue, still
        valid and newer than the one held; returns whether it was taken."""
        if not allow_list.proof_verifies(document, self._verifiers):
            return False
        try:
            held = allow_list.index(document)
        except (KeyError, TypeError, ValueError):
            return False
        if held.venue != self.venue_code or not held.within_validity(now):
            return False
        if self.held is not None and held.version <= self.held.version:
            return False
        self.held = held
        self._used = {key for key in self._used if key[0] >= held.day}  # earlier days are done
        self._used.update((held.day, person, ground, reference) for person, ground, reference in held.entered)
        self._free_used = {key for key in self._free_used if key[0] >= held.day}
        self._free_used.update((held.day, key) for key in held.entered_free)
        self._free_used.update((held.day, f"p:{person}") for person, ground, _ in held.entered
                               if ground is Ground.FREE)
        return True

    def refresh_status_lists(self, credentials: Iterable[dict], *, now: datetime) -> int:
        """The e-card suspension/revocation lists (GET /ecard/status/{purpose})."""
        return self.ecards.refresh(credentials, now=now)

    # -- the upload queue ----------------------------------------------------------------------

    def pending_entries(self) -> list[GateEntry]:
        return list(self._entries)

    def drain(self) -> list[GateEntry]:
        drained, self._entries = self._entries, []
        return drained

    # -- presenting ----------------------------------------------------------------------------

    def tap(self, reader: CardReader, when: datetime) -> Decision:
        """Read the card (card number and social security number) and decide."""
        try:
            data = terminal.read_social_security(reader, self.psam)
        except CardRemoved:
            return Decision.refused(GateRefusal.CARD_UNREADABLE)
        except CardRefused as refused:
            return Decision.refused(GateRefusal.CARD_UNREADABLE, refused.message_en)
        if not data.card_no:
            return Decision.refused(GateRefusal.CARD_UNREADABLE)
        decision = self.decide_card(data.card_no, when, ssn=data.ssn, expiry=data.expiry_date)
        return Decision(decision.admitted, decision.refusal, decision.zh, decision.en, decision.entry,
                        data.card_no, data.ssn)

    def scan(self, token: str, when: datetime) -> Decision:
        """Verify an e-card QR code offline and decide."""
        try:
            accepted = self.ecards.verify(token, now=when, business=f"venue:{self.venue_code}")
        except TokenRejected as rejected:
            return Decision.refused(GateRefusal.ECARD_REJECTED, str(rejected.details.get("reason", "")))
        return self.decide_ecard(accepted.ecard_no, when, age=accepted.age)

    # -- deciding on data already read ---------------------------------------------------------

    def decide_card(self, card_no: str, when: datetime, *, ssn: str | None = None,
                    expiry: date | None = None) -> Decision:
        """A tap: the card number (and the social security number, when the PSAM could read
        it: its birth date decides the venue's free categories; and the chip's expiry date: an
        expired card is refused by the gate itself, which is what lets the list forget refused
        cards past their validity: allow_list.REFUSED_AFTER_EXPIRY_DAYS)."""
        held = self._current(when)
        if held is None:
            return Decision.refused(GateRefusal.NO_LIST, card_no=card_no)
        if card_no in held.refused:
            return Decision.refused(GateRefusal.CARD_BLOCKED, held.refused[card_no], card_no=card_no)
        if expiry is not None and expiry < held.day:
            return Decision.refused(GateRefusal.CARD_EXPIRED, card_no=card_no)
        grants = held.by_card.get(card_no, ())
        free = None
        if held.free and ssn:
            keys = [allow_list.person_key(ssn, held.venue, held.day)]
            free = (allow_list.free_by_ssn(held.free, ssn, held.day), keys)
        return self._admit(grants, when, Presented.CARD, card_no, free=free)

    def decide_ecard(self, ecard_no: str, when: datetime, *, age: int | None = None) -> Decision:
        """An e-card QR code that verified: its e-card number (and the age it carries)."""
        held = self._current(when)
        if held is None:
            return Decision.refused(GateRefusal.NO_LIST)
        free = None
        if held.free:
            free = (rules.free_category_by_age(held.free, age), [allow_list.ecard_key(ecard_no)])
        return self._admit(held.by_ecard.get(ecard_no, ()), when, Presented.ECARD, None, free=free,
                           ecard_no=ecard_no)

    def _current(self, when: datetime) -> HeldList | None:
        held = self.held
        if held is None or not held.within_validity(when) or when.astimezone(CST).date() != held.day:
            return None
        return held

    def _admit(self, grants: tuple[Grant, ...], when: datetime, presented: Presented,
               card_no: str | None, *, free: tuple[str | None, list[str]] | None = None,
               ecard_no: str | None = None) -> Decision:
        """`free`: the free category the person read is in (None: none) and the keys that
        name them (their social security number's digest or e-card; with a person on the
        list, also the person): one free entry per person per venue per day."""
        local = when.astimezone(CST)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        person = grants[0].person_id if grants else None
        category, keys = free if free is not None else (None, [])
        free_used = False
        if category is not None or (grants and grants[0].ground is Ground.FREE):  # free grants sort first
            keys = [*keys, *([f"p:{person}"] if person is not None else [])]
            free_used = any((day, key) in self._free_used for key in keys)
        refusal = GateRefusal.ALREADY_ENTERED if grants or (category and free_used) else GateRefusal.NOT_ENTITLED
        if category is not None and not free_used:
            self._free_used.update((day, key) for key in keys)
            return self._enter(None, when, presented, card_no, ecard_no=ecard_no, person_id=person,
                               reference=category)
        for grant in grants:
            key = (day, grant.person_id, grant.ground, grant.reference)
            if key in self._used or (grant.ground is Ground.FREE and free_used):
                continue
            if grant.slot is not None and not grant.slot[0] <= clock < grant.slot[1]:
                refusal = GateRefusal.OUTSIDE_SLOT
                continue
            if grant.ground is Ground.FREE:
                self._free_used.update((day, key) for key in keys)
            return self._enter(grant, when, presented, card_no, ecard_no=ecard_no,
                               person_id=grant.person_id, reference=grant.reference)
        return Decision.refused(refusal, card_no=card_no)

    def _enter(self, grant: Grant | None, when: datetime, presented: Presented, card_no: str | None, *,
               ecard_no: str | None, person_id: int | None, reference: str) -> Decision:
        day = when.astimezone(CST).date()
        if grant is not None:
            self._used.add((day, grant.person_id, grant.ground, grant.reference))
        ground = grant.ground if grant is not None else Ground.FREE
        self._sequence += 1
        entry = GateEntry(entry_id=f"{self.gate_id}-{self._sequence:08d}", venue_code=self.venue_code,
                          gate_id=self.gate_id, person_id=person_id, card_no=card_no,
                          presented=presented, ground=ground, reference=reference,
                          at=when, offline=True, ecard_no=ecard_no if person_id is None else None)
        self._entries.append(entry)
        return Decision(True, entry=entry, card_no=card_no)
