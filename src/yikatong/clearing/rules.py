"""Pure decisions of clearing: whose card, which TAC bytes, duplicates, fare re-rating by replay,
settlement groups and accounts, exception texts, card-side reconciliation. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from yikatong.chip.apps.purse import CHANGZHOU_CITY, TRANSIT_RECORDS
from yikatong.clearing.fileformat import LOAD_TYPES, BatchRecord
from yikatong.core.errors import InvalidInput
from yikatong.core.money import Fen, format_fen
from yikatong.transit.deny_list import DenyReason
from yikatong.transit.fare_config import FareConfig
from yikatong.transit.fare_rules import (
    CardContext,
    CardKind,
    FareMemo,
    Mode,
    NotRated,
    Place,
    RiderCategory,
    Seen,
    Tap,
    TapKind,
    place_of,
    tap_at,
)
from yikatong.transit.rules import WALLET_FLOAT

HOME_CITY = CHANGZHOU_CITY  # our cards: issuer ID bytes 2–3 = 3040 (Changzhou)
# The fare engine sees what the validator saw: the card keeps its last 10 transit records
# (file 001E), so a re-rating looks back as far, no further.
HISTORY_DEPTH = TRANSIT_RECORDS


def is_own_card(issuer_id: str, home_city: str = HOME_CITY) -> bool:
    return issuer_id[4:8] == home_city


def own_cards(frame: pl.DataFrame, home_city: str = HOME_CITY) -> np.ndarray:
    """`is_own_card` of each row of a file's frame, as a boolean array."""
    return (frame["issuer_id"].str.slice(4, 4) == home_city).to_numpy()


# --- TAC bytes, for the vectorised verifiers ---------------------------------------------------


@dataclass(frozen=True)
class TacGroup:
    """Records whose TACs verify under one master (key version, algorithm) and issuer, with
    one TAC-data layout: the arrays the bulk verifiers take."""

    key_version: int
    alg_id: int
    issuer_id: str
    indexes: list[int]  # positions in the caller's record list
    asns: np.ndarray  # (n, 10) uint8
    tac_inputs: np.ndarray  # (n, 22) purchases or (n, 24) loads
    tacs: np.ndarray  # (n, 4) uint8


def purchase_tac_hex(r: BatchRecord) -> str:
    """AMOUNT ‖ TYPE ‖ TERMID ‖ TERM_TSN ‖ DATE ‖ TIME (card-protocol.md §3.3), as hex."""
    return f"{r.amount:08X}{r.tx_type:02X}{r.terminal_id}{r.terminal_serial:08X}{r.card_time}"


def load_tac_hex(r: BatchRecord) -> str:
    """NEW_BAL ‖ ONLINE_CTR ‖ AMOUNT ‖ TYPE ‖ TERMID ‖ DATE ‖ TIME (card-protocol.md §3.3), as hex."""
    return f"{r.balance_after & 0xFFFFFFFF:08X}{r.counter:04X}{r.amount:08X}{r.tx_type:02X}{r.terminal_id}{r.card_time}"


def tac_groups(frame: pl.DataFrame, indexes: Sequence[int]) -> list[TacGroup]:
    """Group the given records (rows of a file's frame, those with a TAC) for bulk
    verification. Each field goes into the TAC data a column at a time: the hex fields (card
    time as BCD) as one `bytes.fromhex` per column, the numbers as big-endian integers; the
    same bytes as `purchase_tac_hex` / `load_tac_hex` give a record at a time."""
    indexes = list(indexes)
    chosen = frame.select(pl.col(_TAC_COLUMNS).gather(indexes)).with_columns(
        index=pl.Series(indexes, dtype=pl.Int64), load=pl.col("tx_type").is_in(list(LOAD_TYPES)))
    groups = []
    for (key_version, alg_id, issuer_id, loads), members in chosen.group_by(
            "key_version", "alg_id", "issuer_id", "load", maintain_order=True):
        groups.append(TacGroup(key_version, alg_id, issuer_id, members["index"].to_list(),
                               _hex_bytes(members["asn"], 10), _tac_data(members, loads),
                               _hex_bytes(members["tac"], 4)))
    return groups


_TAC_COLUMNS = ["key_version", "alg_id", "issuer_id", "asn", "tac", "amount", "tx_type", "terminal_id", "card_time",
                "balance_after", "counter", "terminal_serial"]


def _tac_data(members: pl.DataFrame, loads: bool) -> np.ndarray:
    """(n, 24) load or (n, 22) purchase TAC data (card-protocol.md §3.3)."""
    numbers = {name: members[name].to_numpy() for name in ("amount", "tx_type", "balance_after", "counter",
                                                            "terminal_serial")}
    amount_type = [_big_endian(numbers["amount"], ">u4"), _big_endian(numbers["tx_type"], "u1")]
    terminal, when = _hex_bytes(members["terminal_id"], 6), _hex_bytes(members["card_time"], 7)
    if loads:  # NEW_BAL ‖ ONLINE_CTR ‖ AMOUNT ‖ TYPE ‖ TERMID ‖ DATE ‖ TIME
        balance = _big_endian(numbers["balance_after"] & 0xFFFFFFFF, ">u4")
        parts = [balance, _big_endian(numbers["counter"], ">u2"), *amount_type, terminal, when]
    else:  # AMOUNT ‖ TYPE ‖ TERMID ‖ TERM_TSN ‖ DATE ‖ TIME
        parts = [*amount_type, terminal, _big_endian(numbers["terminal_serial"], ">u4"), when]
    return np.concatenate(parts, axis=1)


def _hex_bytes(column: pl.Series, width: int) -> np.ndarray:
    """A column of fixed-width hex strings as an (n, width) byte array (an empty column gives (0, width))."""
    return np.frombuffer(bytes.fromhex(column.str.join("").item()), dtype=np.uint8).reshape(-1, width)


def _big_endian(values: np.ndarray, dtype: str) -> np.ndarray:
    """Integers (each fits `dtype`) as an (n, size) array of their big-endian bytes."""
    return values.astype(dtype).view(np.uint8).reshape(len(values), -1)


# --- duplicates ------------------------------------------------------------------------------


def split_repeats(frame: pl.DataFrame, indexes: Sequence[int]) -> tuple[list[int], list[int]]:
    """(first occurrences, repeats) of (card, counter kind, counter) among the given rows of a
    file's frame, in their order."""
    chosen = np.asarray(indexes, dtype=np.int64)
    first = frame.select(pl.struct("asn", pl.col("tx_type").is_in(list(LOAD_TYPES)), "counter")
                         .gather(chosen).is_first_distinct()).to_series().to_numpy()
    return chosen[first].tolist(), chosen[~first].tolist()


# --- fare re-rating ----------------------------------------------------------------------------

_KINDS = {kind.value: kind for kind in CardKind}
_RIDERS = {rider.value: rider for rider in RiderCategory}
_MODES = {mode.value: mode for mode in Mode}
_TAP_KINDS = {kind.value: kind for kind in TapKind}
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # a place is checked without its time


def card_context(issuer_id: str, card_kind: str, rider: str) -> CardContext:
    """What the fare depends on about the card, as the terminal read it (0015, 0017); an
    unknown kind or rider is taken as the validator takes an unreadable 0017."""
    return CardContext.from_issuer_id(bytes.fromhex(issuer_id), kind=_KINDS.get(card_kind, CardKind.CITY_CARD),
                                      rider=_RIDERS.get(rider, RiderCategory.ADULT))


@lru_cache(maxsize=100_000)
def place_of_fields(city: str, mode: str, tap: str, line: str, station: str, region: str) -> Place | None:
    """The place of a record's fields as stored ("" for none), or None when it is not a transit
    tap the fare engine understands. A day's taps share a few thousand places: checked once each."""
    mode_, kind = _MODES.get(mode), _TAP_KINDS.get(tap)
    if mode_ is None or kind is None:
        return None
    try:
        return place_of(Tap(when=_ANY_TIME, city=city, mode=mode_, kind=kind, line=line or None,
                            station=station or None, region=region or None))
    except InvalidInput:
        return None


def tap_of(record: Any, when: datetime) -> Tap | None:
    """The tap a record describes (anything with city, mode, tap, line, station, region), or
    None when it is not a transit tap the fare engine understands."""
    place = place_of_fields(record.city, record.mode, record.tap, record.line, record.station, record.region)
    return None if place is None else tap_at(place, when)


@dataclass(frozen=True, slots=True)
class CardTap:
    """One transit record of a card, for re-rating: `ref` is the caller's handle."""

    ref: Any
    tap: Tap
    amount: Fen


@dataclass(frozen=True, slots=True)
class FareCheck:
    ref: Any
    charged: Fen
    expected: Fen | None  # None: not rateable here (e.g. no fares configured for that city)
    zh: str = ""
    en: str = ""

    @property
    def mismatch(self) -> bool:
        return self.expected is not None and self.expected != self.charged


_MEMOS: dict[int, FareMemo] = {}


def fare_memo(config: FareConfig) -> FareMemo:
    """One memo per configuration object (a FareConfig never changes once loaded)."""
    memo = _MEMOS.get(id(config))
    if memo is None or memo.config is not config:
        if len(_MEMOS) > 16:
            _MEMOS.clear()
        memo = _MEMOS[id(config)] = FareMemo(config)
    return memo


def replay_card(taps: Sequence[CardTap], card: CardContext, config: FareConfig, *,
                report_from: int = 0) -> list[FareCheck]:
    """Re-rate a card's transit records in time order, each from the records before it (at
    most HISTORY_DEPTH of them, what the card itself keeps), never altering what was paid.

    The history entry of a record takes the re-rating's view of its chain and open entry.
    Checks are returned for taps[report_from:] (the earlier ones are only history).
    """
    items = [(item.ref, place_of(item.tap), item.tap.when, item.amount) for item in taps]
    return replay_places(items, card, fare_memo(config), report_from=report_from)


def replay_places(items: Sequence[tuple[Any, Place, datetime, Fen]], card: CardContext, memo: FareMemo, *,
                  report_from: int = 0) -> list[FareCheck]:
    """`replay_card` on (ref, place, time, amount paid) items: the bulk path, each tap priced
    as `rerate` would (the fare engine's `quote` on the earlier records), through the memo."""
    history: list[Seen] = []
    checks = []
    in_order = all(items[i][2] <= items[i + 1][2] for i in range(len(items) - 1))
    for position, (ref, place, when, amount) in enumerate(items):
        if in_order:  # what `rerate` keeps of the history, without filtering and sorting it again
            past = history[-HISTORY_DEPTH:]
            while past and past[-1][1] >= when:
                past.pop()
        else:
            past = [seen for seen in history[-HISTORY_DEPTH:] if seen[1] < when]
            past.sort(key=_seen_time)
        answer = memo.decide(card, place, when, past)
        if isinstance(answer, NotRated):
            expected = None
            history.append((place, when, when, place[2] is TapKind.ENTRY, 0))
        else:
            expected = answer.amount
            history.append((place, when, answer.chain_start, answer.entry_open, answer.deposit))
        if position >= report_from:
            zh = en = ""
            if expected is not None and expected != amount:
                trail = memo.explain(card, place, when, past).trail
                zh, en = "；".join(step.zh for step in trail), "; ".join(step.en for step in trail)
            checks.append(FareCheck(ref, amount, expected, zh, en))
    return checks


def _seen_time(seen: Seen) -> datetime:
    return seen[1]


# --- settlement --------------------------------------------------------------------------------


def operator_payable(city: str, operator: str) -> str:
    """Liability: fares owed to an operator (ours, or another city's through the national house)."""
    return f"clearing:payable:{city}:{operator}"


def issuer_receivable(issuer_id: str) -> str:
    """Asset: fares another issuer owes us (through the national house) for its cards used here."""
    return f"clearing:receivable:{issuer_id}"


def account_kind(code: str) -> str:
    if code.startswith("clearing:payable:"):
        return "liability"
    if code.startswith("clearing:receivable:"):
        return "asset"
    if code == UNFUNDED_SPEND:
        return "expense"
    raise ValueError(f"not a clearing ledger account: {code}")


# Expense (suspense) account: fares our cards paid with money that never came through a
# top-up (a tampered card); debited instead of the wallet float, which may not go negative.
UNFUNDED_SPEND = "clearing:unfunded_spend"
UNFUNDED_DENY_REASON = DenyReason.UNFUNDED_SPEND  # the deny-list reason of such a card


@dataclass(frozen=True)
class SettlementGroup:
    city: str
    operator: str
    issuer_id: str
    count: int
    amount: Fen
    indexes: tuple[int, ...] = field(default=(), compare=False, repr=False)  # its rows of the frame

    def accounts(self, home_city: str = HOME_CITY) -> tuple[str, str]:
        """(debit, credit): a fare paid from our float, or owed to us by the card's issuer,
        is owed to the operator of the terminal."""
        debit = WALLET_FLOAT if is_own_card(self.issuer_id, home_city) else issuer_receivable(self.issuer_id)
        return debit, operator_payable(self.city, self.operator)


def settlement_groups(frame: pl.DataFrame, indexes: Sequence[int]) -> list[SettlementGroup]:
    """The purchases among the given rows of a file's frame summed per (terminal city,
    operator, card issuer): one posting each, in that order."""
    indexes = list(indexes)
    purchases = frame.select(pl.col("city", "operator", "issuer_id", "amount", "tx_type").gather(indexes)).with_columns(
        index=pl.Series(indexes, dtype=pl.Int64)).filter(~pl.col("tx_type").is_in(list(LOAD_TYPES)))
    sums = purchases.group_by("city", "operator", "issuer_id").agg(
        pl.len(), pl.col("amount").sum(), pl.col("index")).sort("city", "operator", "issuer_id")
    return [SettlementGroup(city, operator, issuer, count, amount, tuple(members))
            for city, operator, issuer, count, amount, members in sums.iter_rows()]


# --- exceptions --------------------------------------------------------------------------------


class Reason(StrEnum):
    FORGED = "forged_tac"
    UNVERIFIABLE = "tac_unverifiable"
    DUPLICATE = "duplicate"
    COUNTER_GAP = "counter_gap"
    FARE_MISMATCH = "fare_mismatch"
    NATIONAL_REFUSED = "national_refused"
    LOAD_WITHOUT_TAC = "load_without_tac"
    UNFUNDED_SPEND = "unfunded_spend"


# Exceptions whose record is not settled (the others are settled and kept for review).
REJECTING = frozenset({Reason.FORGED, Reason.UNVERIFIABLE, Reason.DUPLICATE, Reason.NATIONAL_REFUSED})


def describe(reason: Reason, **details: Any) -> tuple[str, str]:
    """(zh, en) text of an exception."""
    d = details
    if reason is Reason.FORGED:
        return "TAC 校验失败（伪造或篡改的记录），不予结算，卡片列入黑名单", \
               "the TAC does not verify (forged or altered record): not settled, card deny-listed"
    if reason is Reason.UNVERIFIABLE:
        return f"无法校验 TAC：{d['why_zh']}，不予结算", f"the TAC cannot be verified: {d['why_en']}; not settled"
    if reason is Reason.DUPLICATE:
        return (f"重复记录：同卡同计数器（{d['counter_kind']} {d['counter']}）已清算，不予结算",
                f"duplicate: this card's {d['counter_kind']} counter {d['counter']} was already cleared; not settled")
    if reason is Reason.COUNTER_GAP:
        return (f"计数器断号：{d['counter_kind']} 计数器 {d['counter']} 之前的 {d['counter'] - 1} 尚未清算",
                f"counter gap: {d['counter_kind']} counter {d['counter'] - 1} before {d['counter']} has not been cleared")
    if reason is Reason.FARE_MISMATCH:
        return (f"票价不符：卡上扣 {format_fen(d['charged'])} 元，复核应为 {format_fen(d['expected'])} 元（按实扣结算）"
                + (f"：{d['trail_zh']}" if d.get("trail_zh") else ""),
                f"fare mismatch: the card paid {format_fen(d['charged'])} CNY, re-rating gives "
                f"{format_fen(d['expected'])} CNY (settled as paid)" + (f": {d['trail_en']}" if d.get("trail_en") else ""))
    if reason is Reason.NATIONAL_REFUSED:
        return (f"全国清分中心拒绝：{d['verdict']}，不予结算",
                f"refused by the national clearing house: {d['verdict']}; not settled")
    if reason is Reason.UNFUNDED_SPEND:
        return (f"卡片消费了未经充值的资金 {format_fen(d['unfunded'])} 元（疑似篡改），已照常结算并计入未充值消费挂账，卡片列入黑名单",
                f"the card spent {format_fen(d['unfunded'])} CNY that never came through a top-up (tampered?): "
                "settled as usual against the unfunded-spend suspense account, card deny-listed")
    return ("充值记录缺少 TAC（平台凭卡片计数器确认），计入影子余额",
            "load without a TAC (confirmed by the platform from the card's counter); counted in the shadow balance")


# --- card-side reconciliation --------------------------------------------------------------


@dataclass(frozen=True)
class CardMovement:
    """A record as the card-side reconciliation sees it."""

    asn: str
    is_load: bool
    amount: Fen
    balance_after: Fen


@dataclass(frozen=True)
class CardDay:
    """One card over a period: what clearing counted against the balances the card showed."""

    asn: str
    debits: Fen
    credits: Fen
    opening: Fen  # the balance before its first record
    closing: Fen  # the balance after its last record
    records: int

    @property
    def difference(self) -> Fen:
        """0 when every fen is explained: opening + credits − debits = closing."""
        return self.opening + self.credits - self.debits - self.closing


def card_day(movements: Sequence[CardMovement]) -> CardDay:
    """Reconcile one card's records, in card order."""
    first, last = movements[0], movements[-1]
    opening = first.balance_after - first.amount if first.is_load else first.balance_after + first.amount
    debits = sum(m.amount for m in movements if not m.is_load)
    credits = sum(m.amount for m in movements if m.is_load)
    return CardDay(first.asn, debits, credits, opening, last.balance_after, len(movements))
