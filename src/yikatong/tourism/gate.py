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
from yikatong.tourism import allow_list
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


_TEXT = {
    GateRefusal.NO_LIST: ("闸机名单已过期，请到人工通道", "the gate's list is out of date: use the staffed lane"),
    GateRefusal.NOT_ENTITLED: ("今日无有效门票或年卡", "no valid ticket or pass for today"),
    GateRefusal.CARD_BLOCKED: ("此卡已挂失、冻结或停用，请到服务台", "this card is lost, frozen or retired: go to the desk"),
    GateRefusal.ALREADY_ENTERED: ("今日已入园", "already entered today"),
    GateRefusal.OUTSIDE_SLOT: ("不在预约时段内", "outside the ticket's time slot"),
    GateRefusal.ECARD_REJECTED: ("电子社保卡二维码无效", "the e-card code is not valid"),
    GateRefusal.CARD_UNREADABLE: ("请重新刷卡", "tap the card again"),
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
        decision = self.decide_card(data.card_no, when)
        return Decision(decision.admitted, decision.refusal, decision.zh, decision.en, decision.entry,
                        data.card_no, data.ssn)

    def scan(self, token: str, when: datetime) -> Decision:
        """Verify an e-card QR code offline and decide."""
        try:
            accepted = self.ecards.verify(token, now=when, business=f"venue:{self.venue_code}")
        except TokenRejected as rejected:
            return Decision.refused(GateRefusal.ECARD_REJECTED, str(rejected.details.get("reason", "")))
        return self.decide_ecard(accepted.ecard_no, when)

    # -- deciding on data already read ---------------------------------------------------------

    def decide_card(self, card_no: str, when: datetime) -> Decision:
        held = self._current(when)
        if held is None:
            return Decision.refused(GateRefusal.NO_LIST, card_no=card_no)
        if card_no in held.refused:
            return Decision.refused(GateRefusal.CARD_BLOCKED, held.refused[card_no], card_no=card_no)
        return self._admit(held.by_card.get(card_no, ()), when, Presented.CARD, card_no)

    def decide_ecard(self, ecard_no: str, when: datetime) -> Decision:
        held = self._current(when)
        if held is None:
            return Decision.refused(GateRefusal.NO_LIST)
        return self._admit(held.by_ecard.get(ecard_no, ()), when, Presented.ECARD, None)

    def _current(self, when: datetime) -> HeldList | None:
        held = self.held
        if held is None or not held.within_validity(when) or when.astimezone(CST).date() != held.day:
            return None
        return held

    def _admit(self, grants: tuple[Grant, ...], when: datetime, presented: Presented,
               card_no: str | None) -> Decision:
        if not grants:
            return Decision.refused(GateRefusal.NOT_ENTITLED, card_no=card_no)
        local = when.astimezone(CST)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        refusal = GateRefusal.ALREADY_ENTERED
        for grant in grants:
            key = (day, grant.person_id, grant.ground, grant.reference)
            if key in self._used:
                continue
            if grant.slot is not None and not grant.slot[0] <= clock < grant.slot[1]:
                refusal = GateRefusal.OUTSIDE_SLOT
                continue
            self._used.add(key)
            self._sequence += 1
            entry = GateEntry(entry_id=f"{self.gate_id}-{self._sequence:08d}", venue_code=self.venue_code,
                              gate_id=self.gate_id, person_id=grant.person_id, card_no=card_no,
                              presented=presented, ground=grant.ground, reference=grant.reference,
                              at=when, offline=True)
            self._entries.append(entry)
            return Decision(True, entry=entry, card_no=card_no)
        return Decision.refused(refusal, card_no=card_no)
