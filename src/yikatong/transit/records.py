"""The card's transit records (files 001E and 001A) as the fare engine sees them.

A validator decides offline from the card alone: it reads 001E and 001A, turns them into
`TransitRecordView`s with `history`, asks `fare_rules.quote`, and writes one 001E record and the
001A trip state back with the debit (UPDATE CAPP DATA CACHE inside the capped purchase, so the
records exist exactly when the money was taken).

001E — transit process log, cyclic, 48 bytes, one record per tap (card-protocol.md §4.4; the
field order is the public T-Union parser's, our use of each field is stated here):

    off len field          our use
      0   1 TYPE           03 metro entry, 04 metro exit, 06 single fare (bus boarding)
      1   8 TERMID         00 00 ‖ the validator's 6-byte PSAM terminal ID
      9   1 SUBTYPE        mode: 01 bus, 02 metro
     10   7 STATION        metro station code or bus line, ASCII, left-padded with 00
     17   4 AMOUNT         fen debited at this tap
     21   4 BALANCE_AFTER  fen, two's complement when overdrawn
     25   7 DATETIME       BCD YYYYMMDDhhmmss, China Standard Time
     32   2 CITY           BCD GB/T 13497 city code of the validator
     34   8 INSTITUTION    operator code, ASCII, left-padded with 00
     42   6 RFU            00

001A record 01 — our trip state (the public material leaves 001A's layout to each city,
card-protocol.md §2.6). 001E says what each tap was; this record carries what a later tap
needs and 001E cannot say: the transfer chain and an open metro entry's deposit.

    off len field
      0   1 RECORD ID      01
      1   1 FORMAT         01
      2   2 CITY           BCD: the city whose validators wrote this state
      4   1 FLAGS          bit 0: a metro entry is open
      5   7 LAST_TAP       BCD date-time of the 001E record this state was written with
     12   7 CHAIN_START    BCD date-time the transfer chain of that tap started
     19   7 ENTRY_TIME     BCD date-time of the open metro entry (zeros when none)
     26   4 DEPOSIT        fen taken at the open entry, credited at the exit
     30   2 RFU            00

Card kind and rider come from file 0017 (recalled layout, card-protocol.md §4.2): byte 10 is
the card kind (01 third-generation social security card, anything else a city transit card)
and byte 11 our rider category (00 adult, 01 student, 02 aged 70+, 03 disabled).

Records another city's validators wrote stay in the history as far as their standard fields
allow; a record that cannot be understood (unknown type, malformed city or time) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yikatong.chip.apps.purse import (
    CARD_KIND_SOCIAL_SECURITY,
    RIDER_CODES,
    SFI_COMPLEX,
    PublicInfo,
    TransitLogEntry,
)
from yikatong.chip.codec import bcd, bcd_date_time, parse_bcd_date_time, to_int, u
from yikatong.chip.terminal import CappUpdate
from yikatong.core.errors import InvalidInput
from yikatong.core.money import Fen
from yikatong.transit.fare_rules import (
    CardContext,
    CardKind,
    FareDecision,
    Mode,
    RiderCategory,
    Tap,
    TapKind,
    TransitRecordView,
)

TYPE_ENTRY, TYPE_EXIT, TYPE_SINGLE = 0x03, 0x04, 0x06
MODE_BUS, MODE_METRO = 0x01, 0x02
TRIP_STATE_ID = 0x01
TRIP_STATE_FORMAT = 0x01
TRIP_STATE_LENGTH = 32
FLAG_ENTRY_OPEN = 0x01
_RIDERS = {code: RiderCategory(name) for name, code in RIDER_CODES.items()}  # as personalisation writes them
_TYPE_OF_KIND = {TapKind.ENTRY: TYPE_ENTRY, TapKind.EXIT: TYPE_EXIT, TapKind.BOARD: TYPE_SINGLE}
_KIND_OF_TYPE = {value: key for key, value in _TYPE_OF_KIND.items()}
_MODE_CODES = {Mode.BUS: MODE_BUS, Mode.METRO: MODE_METRO}
_MODES = {value: key for key, value in _MODE_CODES.items()}


def _text(value: str | None, length: int) -> bytes:
    data = (value or "").encode("ascii")
    if len(data) > length:
        raise InvalidInput(reason_zh=f"“{value}”超过 {length} 字节", reason_en=f"'{value}' is longer than {length} bytes")
    return data.rjust(length, b"\x00")


def _untext(data: bytes) -> str | None:
    text = data.lstrip(b"\x00")
    if not text:
        return None
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        return text.hex().upper()


def _bcd_time(moment: datetime | None) -> bytes:
    if moment is None:
        return bytes(7)
    date4, time3 = bcd_date_time(moment)
    return date4 + time3


def _parse_time(data: bytes) -> datetime | None:
    return parse_bcd_date_time(data[:4], data[4:7])


# --- 001E -----------------------------------------------------------------------------------


def log_entry(tap: Tap, amount: Fen, balance_after: Fen, terminal_id: bytes, operator: str) -> TransitLogEntry:
    """The 001E record of a tap."""
    place = tap.station if tap.mode is Mode.METRO else tap.line
    return TransitLogEntry(
        kind=_TYPE_OF_KIND[tap.kind], terminal=bytes(2) + terminal_id, subtype=_MODE_CODES[tap.mode],
        station=_text(place, 7), amount=amount, balance_after=balance_after, when=tap.when,
        city=tap.city, institution=_text(operator, 8),
    )


def tap_of(entry: TransitLogEntry) -> Tap | None:
    """The tap a 001E record describes, or None when it is not one we understand."""
    kind, mode = _KIND_OF_TYPE.get(entry.kind), _MODES.get(entry.subtype)
    if kind is None or mode is None or entry.when is None:
        return None
    place = _untext(entry.station)
    try:
        return Tap(when=entry.when, city=entry.city, mode=mode, kind=kind,
                   line=place if mode is Mode.BUS else None,
                   station=place if mode is Mode.METRO else None)
    except InvalidInput:
        return None


# --- 001A -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TripState:
    city: str
    last_tap: datetime
    chain_start: datetime
    entry_time: datetime | None = None  # the open metro entry, if any
    deposit: Fen = 0

    @property
    def entry_open(self) -> bool:
        return self.entry_time is not None

    def encode(self) -> bytes:
        record = (
            bytes([TRIP_STATE_ID, TRIP_STATE_FORMAT]) + bcd(self.city, 2)
            + bytes([FLAG_ENTRY_OPEN if self.entry_open else 0]) + _bcd_time(self.last_tap)
            + _bcd_time(self.chain_start) + _bcd_time(self.entry_time) + u(self.deposit, 4)
        )
        return record.ljust(TRIP_STATE_LENGTH, b"\x00")

    @classmethod
    def parse(cls, record: bytes) -> TripState | None:
        """Our trip state, or None for a record of another layout (another city's 001A use)."""
        if len(record) != TRIP_STATE_LENGTH or record[0] != TRIP_STATE_ID or record[1] != TRIP_STATE_FORMAT:
            return None
        city = record[2:4].hex()
        try:
            last_tap, chain_start = _parse_time(record[5:12]), _parse_time(record[12:19])
            entry_time = _parse_time(record[19:26])
        except ValueError:
            return None
        if not city.isdigit() or last_tap is None or chain_start is None:
            return None
        if bool(record[4] & FLAG_ENTRY_OPEN) != (entry_time is not None):
            return None
        return cls(city, last_tap, chain_start, entry_time, to_int(record[26:30]))


def next_state(previous: TripState | None, tap: Tap, decision: FareDecision) -> TripState:
    entry_time, deposit = None, 0
    if decision.pending_entry is not None:
        entry_time, deposit = tap.when, decision.pending_entry.deposit
    elif tap.mode is Mode.BUS and previous is not None and previous.city == tap.city:
        entry_time, deposit = previous.entry_time, previous.deposit
    return TripState(tap.city, tap.when, decision.chain_start, entry_time, deposit)


def find_trip_state(records: list[bytes]) -> TripState | None:
    for record in records:
        state = TripState.parse(record)
        if state is not None:
            return state
    return None


def capp_updates(tap: Tap, decision: FareDecision, balance_after: Fen, terminal_id: bytes,
                 operator: str, previous: TripState | None) -> list[CappUpdate]:
    """The two records a tap writes with its debit: 001E (appended) and 001A record 01."""
    state = next_state(previous, tap, decision)
    return [
        CappUpdate.transit_log(log_entry(tap, decision.amount, balance_after, terminal_id, operator)),
        CappUpdate(SFI_COMPLEX, state.encode(), record_id=TRIP_STATE_ID),
    ]


# --- what the fare engine reads -------------------------------------------------------------


def history(log: list[TransitLogEntry], state: TripState | None) -> list[TransitRecordView]:
    """The card's earlier taps, oldest first, from 001E (newest first, as read) and the trip
    state. Without a trip state of the same city, a record starts its own chain and an entry is
    open when no later metro record of that city follows it."""
    taps = [(entry, tap) for entry in reversed(log) if (tap := tap_of(entry)) is not None]
    views = []
    for index, (entry, tap) in enumerate(taps):
        own_state = state is not None and state.city == tap.city
        chain_start = state.chain_start if own_state and state.last_tap == tap.when else tap.when
        entry_open, deposit = False, 0
        if tap.kind is TapKind.ENTRY:
            if own_state:
                entry_open = state.entry_time == tap.when
                deposit = state.deposit if entry_open else 0
            else:
                entry_open = not any(later.mode is Mode.METRO and later.city == tap.city
                                     for _, later in taps[index + 1:])
        views.append(TransitRecordView(tap=tap, amount=entry.amount, chain_start=chain_start,
                                       entry_open=entry_open, deposit=deposit))
    return views


def card_context(public: PublicInfo, management: bytes | None) -> CardContext:
    """Issuer city from 0015, card kind and rider from 0017 (see the module docstring)."""
    kind, rider = CardKind.CITY_CARD, RiderCategory.ADULT
    if management is not None and len(management) > 11:
        if management[10] == CARD_KIND_SOCIAL_SECURITY:
            kind = CardKind.SOCIAL_SECURITY
        rider = _RIDERS.get(management[11], RiderCategory.ADULT)
    return CardContext.from_issuer_id(public.issuer_id, kind=kind, rider=rider)
