"""Bus validators and metro gates: offline fare decisions and capped purchases on the card.

A `Validator` stands at one place (a bus of a line, a metro station's entry or exit gates),
holds a PSAM (terminal ID, purchase and TAC keys), a fare configuration and an offline copy
of the platform's deny list. A tap:

1. selects the T-Union purse (a closed wallet is refused), checks the deny list and the
   application's expiry date (file 0015);
2. reads 0017 (card kind, rider), the transit log 001E and the trip state 001A;
3. asks the fare engine what the tap costs (`fare_rules.quote`, records.history);
4. debits the card with a capped purchase (80 50 03) that writes the 001E record and the
   001A trip state in the same commit (UPDATE CAPP DATA CACHE), or refuses with a reason.

The records (`TapRecord`s: the chip's purchase record with its TAC, and the card kind and rider
the tap was priced for) queue up for upload: `pending_records()` shows them, `drain()` hands
them over (clearing owns the upload). A card pulled away during
the debit is settled at its next tap at this validator: the card is asked whether the debit
happened (GET TRANSACTION PROVE) so it is never lost nor charged twice.

Nothing here touches the database: validators run offline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from yikatong.chip import terminal
from yikatong.chip.apdu import command
from yikatong.chip.apps.purse import (
    SFI_COMPLEX,
    SFI_MANAGEMENT,
    SFI_TRANSIT,
    PublicInfo,
    TransitLogEntry,
)
from yikatong.chip.errors import (
    CardRefused,
    CounterExhausted,
    InsufficientBalance,
    PurseBlocked,
    TransactionInterrupted,
)
from yikatong.chip.protocols import CardReader, CardRemoved
from yikatong.chip.psam import Psam
from yikatong.chip.records import PurchaseRecord
from yikatong.chip.terminal import PendingPurchase
from yikatong.core.clock import local_date
from yikatong.core.money import Fen, format_fen
from yikatong.transit import records
from yikatong.transit.fare_config import FareConfig, default_fare_config
from yikatong.transit.fare_rules import (
    CardContext,
    CardKind,
    FareDecision,
    FareNotConfigured,
    Mode,
    RiderCategory,
    Tap,
    TapKind,
    quote,
)

# A card that comes back this soon after a torn debit is the same passenger retrying the same
# tap: if the debit happened, that tap is done. Later, the torn debit is settled and the new
# tap is charged as a tap of its own.
SAME_TAP_WINDOW = timedelta(minutes=2)
MANAGEMENT_BYTES_READ = 12  # 0017 up to the card kind and rider bytes


class RefusalReason(StrEnum):
    INSUFFICIENT_BALANCE = "insufficient_balance"
    DENY_LISTED = "deny_listed"
    EXPIRED = "expired"
    WALLET_BLOCKED = "wallet_blocked"
    FARE_NOT_CONFIGURED = "fare_not_configured"
    CARD_REMOVED = "card_removed"
    CARD_REFUSED = "card_refused"
    COUNTER_EXHAUSTED = "counter_exhausted"


_REFUSAL_TEXT = {
    RefusalReason.INSUFFICIENT_BALANCE: ("余额不足，请充值", "insufficient balance: top up the card"),
    RefusalReason.DENY_LISTED: ("此卡已列入黑名单，请到市民卡网点处理",
                                "this card is on the deny list: go to a citizen-card outlet"),
    RefusalReason.EXPIRED: ("交通应用已过期，请到市民卡网点处理", "the transit application has expired: go to a citizen-card outlet"),
    RefusalReason.WALLET_BLOCKED: ("交通钱包已关闭", "the transit wallet is closed"),
    RefusalReason.FARE_NOT_CONFIGURED: ("本站无法计费，请到服务台", "no fare can be computed here: go to the service desk"),
    RefusalReason.CARD_REMOVED: ("请重新刷卡", "tap the card again"),
    RefusalReason.CARD_REFUSED: ("卡片无法使用，请到服务台", "the card cannot be used: go to the service desk"),
    RefusalReason.COUNTER_EXHAUSTED: ("此卡交易次数已达上限（65535 次），不能再乘车；请到市民卡直营网点退还余额后换卡",
                                      "the card's transaction counter is used up (65,535 rides): have the "
                                      "balance refunded at a directly-run citizen-card outlet, then exchange the card"),
}


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason
    zh: str
    en: str

    @classmethod
    def of(cls, reason: RefusalReason, zh_detail: str = "", en_detail: str = "") -> Refusal:
        zh, en = _REFUSAL_TEXT[reason]
        return cls(reason, zh + zh_detail, en + en_detail)


@dataclass(frozen=True)
class Place:
    """Where a validator stands. A metro gate line is either entry or exit (a two-way gate is
    two validators with two terminal IDs, so clearing can tell entries from exits)."""

    city: str
    mode: Mode
    kind: TapKind
    operator: str
    line: str | None = None
    station: str | None = None
    region: str | None = None

    def tap(self, when: datetime) -> Tap:
        return Tap(when=when, city=self.city, mode=self.mode, kind=self.kind, line=self.line,
                   station=self.station, region=self.region)


def bus(city: str, line: str, operator: str, region: str | None = None) -> Place:
    return Place(city=city, mode=Mode.BUS, kind=TapKind.BOARD, operator=operator, line=line, region=region)


def metro_entry(city: str, station: str, operator: str) -> Place:
    return Place(city=city, mode=Mode.METRO, kind=TapKind.ENTRY, operator=operator, station=station)


def metro_exit(city: str, station: str, operator: str) -> Place:
    return Place(city=city, mode=Mode.METRO, kind=TapKind.EXIT, operator=operator, station=station)


@dataclass
class DenyList:
    """A validator's offline copy of the platform's deny list (GET /transit/deny-list)."""

    version: int = 0
    asns: set[str] = field(default_factory=set)

    def apply(self, *, version: int, added: list[str], removed: list[str], complete: bool = False) -> None:
        """Apply a delta since our version (or, with complete=True, a full list)."""
        if complete:
            self.asns = set()
        elif version <= self.version:
            return
        self.asns.difference_update(removed)
        self.asns.update(added)
        self.version = version

    def __contains__(self, asn: str) -> bool:
        return asn in self.asns


@dataclass(frozen=True)
class TapRecord(PurchaseRecord):
    """What a validator uploads for one debit: the chip's purchase record (TAC and all) with
    the card kind and rider the validator read from file 0017 at that tap and priced it for.
    Clearing re-rates the tap with them, so they travel with the record rather than being
    looked up later (the card may have been rewritten since)."""

    card_kind: CardKind | None = None
    rider: RiderCategory | None = None

    @classmethod
    def of(cls, record: PurchaseRecord, card: CardContext) -> TapRecord:
        chip_fields = {item.name: getattr(record, item.name) for item in dataclasses.fields(PurchaseRecord)}
        return cls(**chip_fields, card_kind=card.kind, rider=card.rider)


@dataclass(frozen=True)
class _TornTap:
    """A debit torn at this validator, and the card as the tap read it."""

    pending: PendingPurchase
    card: CardContext


@dataclass(frozen=True)
class TapResult:
    """A tap's answer. `card_kind` and `rider` are what the validator read from file 0017 and
    priced the tap for (None when it refused before reading it)."""

    accepted: bool
    asn: str | None = None
    amount: Fen = 0
    balance_after: Fen | None = None
    decision: FareDecision | None = None
    record: TapRecord | None = None
    refusal: Refusal | None = None
    recovered: bool = False  # the record of a torn debit, found when the card came back
    card_kind: CardKind | None = None
    rider: RiderCategory | None = None

    @classmethod
    def refused(cls, reason: RefusalReason, asn: str | None = None, *, zh: str = "", en: str = "",
                decision: FareDecision | None = None, card: CardContext | None = None) -> TapResult:
        return cls(False, asn, refusal=Refusal.of(reason, zh, en), decision=decision,
                   card_kind=card.kind if card else None, rider=card.rider if card else None)


class Validator:
    def __init__(self, psam: Psam, place: Place, *, fares: FareConfig | None = None,
                 deny_list: DenyList | None = None) -> None:
        self.psam = psam
        self.place = place
        self.fares = fares or default_fare_config()
        self.deny_list = deny_list if deny_list is not None else DenyList()
        self._records: list[TapRecord] = []
        self._torn: dict[bytes, _TornTap] = {}

    @property
    def terminal_id(self) -> str:
        return self.psam.terminal_id.hex().upper()

    # -- the upload queue --------------------------------------------------------------------

    def pending_records(self) -> list[TapRecord]:
        """Records not yet handed over for upload, oldest first."""
        return list(self._records)

    def drain(self) -> list[TapRecord]:
        """Hand every queued record over (to the clearing upload) and forget them; each carries
        the card kind and rider its tap was priced for."""
        drained, self._records = self._records, []
        return drained

    # -- a tap -------------------------------------------------------------------------------

    def tap(self, reader: CardReader, when: datetime) -> TapResult:
        """Charge the card for a tap here at `when` (timezone-aware), or refuse with a reason."""
        when = when.replace(microsecond=0)  # the card keeps seconds
        try:
            return self._tap(reader, when)
        except TransactionInterrupted as torn:  # kept by _charge for the card's next tap here
            return TapResult.refused(RefusalReason.CARD_REMOVED, torn.pending.asn.hex().upper())
        except CardRemoved:
            return TapResult.refused(RefusalReason.CARD_REMOVED)
        except PurseBlocked:
            return TapResult.refused(RefusalReason.WALLET_BLOCKED)
        except CardRefused as refused:
            return TapResult.refused(RefusalReason.CARD_REFUSED, zh=f"（{refused.message_zh}）",
                                     en=f" ({refused.message_en})")

    def _tap(self, reader: CardReader, when: datetime) -> TapResult:
        public = terminal.select_purse(reader)
        asn = public.asn.hex().upper()
        if asn in self.deny_list:
            return TapResult.refused(RefusalReason.DENY_LISTED, asn)
        if public.expiry is not None and local_date(when) > public.expiry:
            return TapResult.refused(RefusalReason.EXPIRED, asn, zh=f"（有效期至 {public.expiry}）",
                                     en=f" (valid until {public.expiry})")
        torn = self._torn.get(public.asn)
        if torn is not None:
            recovered = self._settle_torn(reader, torn, when)
            if recovered is not None:
                return recovered
        return self._charge(reader, public, asn, when)

    def _settle_torn(self, reader: CardReader, torn: _TornTap, when: datetime) -> TapResult | None:
        """Settle a debit torn at this validator: its record if the card took the money (and,
        within the same-tap window, that is this tap), else None (charge as usual)."""
        found = terminal.recover_purchase(reader, self.psam, torn.pending)
        del self._torn[torn.pending.asn]
        if found is None:
            return None
        record = TapRecord.of(found, torn.card)
        self._records.append(record)
        if when - torn.pending.when > SAME_TAP_WINDOW:
            return None
        return TapResult(True, record.asn, record.amount, record.balance_after, record=record, recovered=True,
                         card_kind=record.card_kind, rider=record.rider)

    def _charge(self, reader: CardReader, public: PublicInfo, asn: str, when: datetime) -> TapResult:
        management = terminal.expect(
            terminal.exchange(reader, command(0x00, 0xB0, 0x80 | SFI_MANAGEMENT, 0x00, le=MANAGEMENT_BYTES_READ)),
            "READ BINARY 0017")
        log = [TransitLogEntry.parse(record) for record in terminal.read_records(reader, SFI_TRANSIT)]
        state = records.find_trip_state(terminal.read_records(reader, SFI_COMPLEX))
        card = records.card_context(public, management)
        tap = self.place.tap(when)
        try:
            decision = quote(card, tap, records.history(log, state), self.fares)
        except FareNotConfigured as error:
            return TapResult.refused(RefusalReason.FARE_NOT_CONFIGURED, asn, zh=f"（{error.message_zh}）",
                                     en=f" ({error.message_en})", card=card)
        balance = terminal.get_balance(reader)
        updates = records.capp_updates(tap, decision, balance - decision.amount, self.psam.terminal_id,
                                       self.place.operator, state)
        try:
            record = TapRecord.of(terminal.purchase(reader, self.psam, decision.amount, when, updates), card)
        except TransactionInterrupted as torn:
            self._torn[torn.pending.asn] = _TornTap(torn.pending, card)
            raise
        except InsufficientBalance as short:
            return TapResult.refused(
                RefusalReason.INSUFFICIENT_BALANCE, asn, decision=decision, card=card,
                zh=f"（余额 {format_fen(short.details['balance'])} 元，需 {format_fen(decision.amount)} 元）",
                en=f" (balance {format_fen(short.details['balance'])} CNY, fare {format_fen(decision.amount)} CNY)")
        except CounterExhausted:
            # The offline counter stands at FFFF: the card locked (9402) or would wrap to 0000
            # and repeat counters clearing already holds. Nothing was debited.
            return TapResult.refused(RefusalReason.COUNTER_EXHAUSTED, asn, decision=decision, card=card)
        self._records.append(record)
        return TapResult(True, asn, record.amount, record.balance_after, decision, record,
                         card_kind=card.kind, rider=card.rider)


def station_desk_settle(desk: Validator, reader: CardReader, when: datetime) -> TapResult:
    """Settle at the station desk an exit the gate refused for want of balance, once the holder
    has topped up: the desk is a validator with the exit place of its station, so the fare is
    the same the gate computed (from the card's open entry) and the card gets its exit record.
    Refuses again, with the reason, while the balance is still short."""
    if desk.place.mode is not Mode.METRO or desk.place.kind is not TapKind.EXIT:
        raise ValueError("a station desk settles metro exits: give it a metro exit place")
    return desk.tap(reader, when)
