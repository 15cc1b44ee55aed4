"""A city's day of taps in bulk (`ykt simulate day --bulk`): millions of taps, cleared and
reconciled, with time and memory per stage.

`simulation.simulate_day` plays every tap on an emulated chip (APDUs, PSAM MACs, tears): right
for a few thousand taps, hours for millions. Here the chips are left out and the day is made a
chunk of cards at a time with numpy and polars, as the validators would have recorded it:

1. Cards: ours (issuer 3040; adults, some senior_70 and student riders) and one in twenty from
   another T-Union city. Each starts the day with 100-300 CNY: ours through a top-up at an
   outlet (a load record in the outlet's file, the cash posted to the wallet float as
   `simulation.post_cash_top_ups` does), visitors loaded at home by their issuer.
2. Journeys: a bus, two buses, the metro, a bus and the metro either way (shapes and weights
   of `simulation.journey`), each within 55 minutes of its first tap, journeys at least 61
   minutes apart (the transfer window is 60). A journey's fares therefore depend only on the
   card and the journey's places: each such situation (a few thousand) is priced once with the
   fare engine's own replay (`rules.replay_places`, what the day review re-rates with) and the
   answer spread over every journey that shares it. The review re-rates every tap with the
   card's whole day, so a fare that did depend on an earlier journey would show as a mismatch.
3. Records: balances and counters by cumulative sums per card, card times, a vehicle or gate
   terminal per tap with its running terminal serial, and genuine TACs computed in bulk
   (`sm4_batch.tacs_sm4`): ours under the platform's TAC master, visitors' under their
   issuer's, which only the simulated national house holds.
4. Files: per chunk, one file per bus line or metro gate line (its front-end's batch of every
   vehicle's or gate's records) and one of the outlet's top-ups, written by polars in the
   batch format; each received with `receive.upload_batch`, the same door a terminal uses,
   then deleted. Other issuers' records go to the house (`export_national`) and its verdicts
   come back, chunk by chunk.
5. The day review (every tap re-rated, counters checked) over the whole day, its cards split
   into shares read one after the other, so memory follows a share, not the day.
6. Checks: the validators' takings per operator and per issuer against the settlement report
   and the house's book, the reconciliation (per card and per clearing account), every card's
   last balance against its shadow balance (in the database), no fare mismatch, no counter gap,
   no open exception, the ledger's trial balance, and a re-upload answered as the first.

Memory is bounded by the chunk (about a million taps) and the review's share, not the day: the
cards' state between chunks is a few numpy arrays of the card count.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import text

from yikatong.clearing import (
    batches,
    day_review,
    fileformat,
    national_files,
    receive,
    reports,
    rules,
)
from yikatong.clearing.fileformat import FileKind
from yikatong.clearing.national import NationalClearingHouse, issuer_id_of
from yikatong.clearing.simulation import BUS_LINES, EXCHANGE, HOME, METRO_OPERATOR, Check, post_cash
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import CST, local_date
from yikatong.core.money import Fen
from yikatong.core.progress import SILENT, Progress
from yikatong.crypto import pboc
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm import sm3
from yikatong.crypto.sm4_batch import tacs_sm4
from yikatong.ledger import service as ledger
from yikatong.transit.fare_config import FareConfig

CHUNK_TAPS = 1_000_000  # taps generated and written at a time
TAPS_PER_TERMINAL = 2_500  # a bus's or gate line's day: 10 M taps on about 4,000 terminals
VISITOR_CITIES = ("3050", "3020", "3010", "2900", "1000")
CLUSTER = frozenset({"3050", "3020"})  # su-xi-chang: their social security cards ride as local ones
LOADS = np.array([10_000, 20_000, 30_000])  # fen; a day of the longest journeys costs less
# Journey shapes (simulation.journey's weights): bus, bus+bus, metro, bus+metro, metro+bus.
SHAPES = ((0,), (0, 0), (1, 2), (0, 1, 2), (1, 2, 0))  # 0 bus, 1 metro entry, 2 metro exit
SHAPE_WEIGHTS = (0.45, 0.17, 0.20, 0.10, 0.08)
JOURNEY_SECONDS, GAP_SECONDS = 55 * 60, 61 * 60
FIRST, LAST = 6 * 3600, 22 * 3600 + 30 * 60  # the day's first journeys start 06:00-09:00
OUTLET_OPERATOR, OUTLET_TERMINAL = "SMKOUTLET", f"{HOME}10000001"
PURCHASE, LOAD = pboc.TX_CAPPED_PURCHASE, pboc.TX_EP_LOAD
SM4 = 0x04


# --- time and memory per stage -------------------------------------------------------------------


def _memory_of_tree(pid: int) -> int:
    """Bytes of memory of a process and its descendants (proportional set size where Linux
    gives it, so pages a forked worker shares with its parent count once; else the RSS)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
        try:
            for thread in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{thread}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        except OSError:
            pass
    return total


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class StageMeter:
    """Seconds and peak memory (this process and its workers, sampled every 0.1 s) per stage,
    summed (time) and maximised (memory) over the chunks; the load average at each stage's end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # CPU seconds of this process and its reaped workers
        self.peak: dict[str, int] = {}
        self.load: dict[str, float] = {}
        self._current = 0
        self._pid = os.getpid()
        self._proc = os.path.exists(f"/proc/{self._pid}/smaps_rollup")

    def summary(self) -> str:
        return "; ".join(f"{name.split(' (')[0]} {self.seconds[name]:,.0f} s ({self.cpu[name]:,.0f} CPU s) "
                         f"{self.peak[name] / 2**20:,.0f} MB" for name in sorted(self.seconds))

    def _sample(self) -> int:
        if self._proc:
            return _memory_of_tree(self._pid)
        import resource  # no /proc: the process's own peak so far

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        stop = threading.Event()
        self._current = self._sample()

        def watch() -> None:
            while not stop.wait(0.1):
                self._current = max(self._current, self._sample())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        started, cpu = time.perf_counter(), _cpu_seconds()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.cpu[name] = self.cpu.get(name, 0.0) + _cpu_seconds() - cpu
            stop.set()
            watcher.join()
            self._current = max(self._current, self._sample())
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            self.peak[name] = max(self.peak.get(name, 0), self._current)
            self.load[name] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


# --- the report ----------------------------------------------------------------------------------


@dataclass
class BulkDayReport:
    day: date
    database: str
    taps: int = 0
    cards_own: int = 0
    cards_visiting: int = 0
    top_ups: int = 0
    top_up_amount: Fen = 0
    fares_charged: Fen = 0
    files: int = 0
    records_stored: int = 0
    cleared: int = 0
    pending_national: int = 0
    rejected: int = 0
    fare_situations: int = 0  # distinct (card kind, journey places) priced by the fare engine
    upload_stages: dict[str, float] = field(default_factory=dict)  # receive.upload_batch's own split
    meter: StageMeter = field(default_factory=StageMeter)
    review: day_review.ReviewResult | None = None
    settlement: reports.SettlementReport | None = None
    house_positions: dict[tuple[str, str], Fen] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


# --- the network and the cards -------------------------------------------------------------------


@dataclass(frozen=True)
class _Network:
    """The home city's places as arrays: bus lines first, then each station's entry, then its exit."""

    keys: list[str]
    city: list[str]
    operator: list[str]
    mode: list[str]
    tap: list[str]
    line: list[str]
    station: list[str]
    region: list[str]
    buses: np.ndarray
    stations: int
    vehicles: int  # terminals per place (buses of a line, gates of a station's entry or exit line)

    @classmethod
    def of(cls, fares: FareConfig, taps: int) -> _Network:
        codes = [station.code for station in fares.metros[HOME].network.stations]
        rows = [(f"bus:{line}", HOME, operator, "bus", "board", line, "", region) for line, region, operator in BUS_LINES]
        rows += [(f"in:{code}", HOME, METRO_OPERATOR, "metro", "entry", "", code, "") for code in codes]
        rows += [(f"out:{code}", HOME, METRO_OPERATOR, "metro", "exit", "", code, "") for code in codes]
        columns = list(zip(*rows, strict=True))
        return cls(*map(list, columns), buses=np.arange(len(BUS_LINES)), stations=len(codes),
                   vehicles=int(min(9_999, max(1, round(taps / TAPS_PER_TERMINAL / len(rows))))))

    def entry(self, station: np.ndarray) -> np.ndarray:
        return len(self.buses) + station

    def exit(self, station: np.ndarray) -> np.ndarray:
        return len(self.buses) + self.stations + station

    def place(self, index: int) -> rules.Place:
        return rules.place_of_fields(self.city[index], self.mode[index], self.tap[index], self.line[index],
                                     self.station[index], self.region[index])

    def terminal_prefix(self, index: int) -> str:
        """City, 01 bus or 02 metro, the place's number: a vehicle's 4 digits complete the 12."""
        return f"{HOME}{1 if self.mode[index] == 'bus' else 2:02d}{index:02d}"


# A card's kind of holder: (issuer city, card kind, rider); ours first, then one per visiting city.
_KINDS = [(HOME, "social_security", "adult"), (HOME, "social_security", "senior_70"),
          (HOME, "social_security", "student")]
_KINDS += [(city, "social_security" if city in CLUSTER else "city_card", "adult") for city in VISITOR_CITIES]


def _kind_of(numbers: np.ndarray) -> np.ndarray:
    """Index into _KINDS of each card number: one in twenty visits from another city, one in
    twenty of ours is a senior's (rides free), one in twenty a student's."""
    kind = np.zeros(len(numbers), dtype=np.int64)
    kind[numbers % 20 == 7] = 1
    kind[numbers % 20 == 11] = 2
    visiting = numbers % 20 == 19
    kind[visiting] = 3 + (numbers[visiting] // 20) % len(VISITOR_CITIES)
    return kind


# --- fares ----------------------------------------------------------------------------------------


class _Fares:
    """Each journey situation priced once by the fare engine's replay, as the review re-rates."""

    def __init__(self, fares: FareConfig, network: _Network, day: date) -> None:
        self.memo, self.network = rules.fare_memo(fares), network
        self.places = [network.place(i) for i in range(len(network.keys))]
        self.cards = [rules.card_context(issuer_id_of(city), kind, rider) for city, kind, rider in _KINDS]
        self.noon = datetime.combine(day, clock_time(12, 0), tzinfo=CST)
        self.known: dict[tuple, tuple[int, ...]] = {}

    def journey(self, kind: int, places: tuple[int, ...], offsets: tuple[int, ...]) -> tuple[int, ...]:
        """The fares of a journey's taps: the card's earlier journeys ended more than the transfer
        window before it, so they are left out (the day review re-rates every tap with the
        card's whole history, and a fare that depended on them would show as a mismatch)."""
        key = (kind, places)
        known = self.known.get(key)
        if known is None:
            items = [(None, self.places[p], self.noon + timedelta(seconds=o), 0)
                     for p, o in zip(places, offsets, strict=True)]
            checks = rules.replay_places(items, self.cards[kind], self.memo)
            if any(check.expected is None for check in checks):
                raise ValueError(f"no fare for {places} of card kind {_KINDS[kind]}")
            known = self.known[key] = tuple(check.expected for check in checks)
        return known


# --- one chunk of the day --------------------------------------------------------------------------


@dataclass
class _Chunk:
    taps: pl.DataFrame  # one row per tap
    loads: pl.DataFrame  # one row per top-up of our cards
    cards: int
    visiting: int


def _journeys_per_card(rng: np.random.Generator, cards: int, mean: float) -> np.ndarray:
    return 1 + np.minimum(rng.poisson(max(0.0, mean - 1), cards), 5)


def _make_chunk(rng: np.random.Generator, numbers: np.ndarray, network: _Network, fares: _Fares,
                mean_journeys: float, taps_wanted: int, day: date, run: int) -> _Chunk:
    """The taps of cards `numbers`, at most `taps_wanted` (the cards needed for them)."""
    n = len(numbers)
    kind = _kind_of(numbers)
    journeys = _journeys_per_card(rng, n, mean_journeys)
    start = rng.integers(FIRST, FIRST + 3 * 3600, n)
    spare = (LAST - start) - journeys * (JOURNEY_SECONDS + GAP_SECONDS)
    spacing = JOURNEY_SECONDS + GAP_SECONDS + (rng.random(n) * np.maximum(spare, 0) / journeys).astype(np.int64)
    # journeys, flattened in card order
    card_of = np.repeat(np.arange(n), journeys)
    first_of_card = np.concatenate(([0], np.cumsum(journeys)[:-1]))
    k = np.arange(len(card_of)) - first_of_card[card_of]
    begins = start[card_of] + k * spacing[card_of]
    shape = rng.choice(len(SHAPES), size=len(card_of), p=SHAPE_WEIGHTS)
    lengths = np.array([len(s) for s in SHAPES])[shape]
    # whole cards up to the taps wanted
    taps_of_card = np.bincount(card_of, weights=lengths, minlength=n).astype(np.int64)
    keep_cards = int(np.searchsorted(np.cumsum(taps_of_card), taps_wanted, side="left")) + 1
    keep_cards = min(keep_cards, n)
    keep = card_of < keep_cards
    card_of, k, begins, shape, lengths = card_of[keep], k[keep], begins[keep], shape[keep], lengths[keep]
    numbers, kind, n = numbers[:keep_cards], kind[:keep_cards], keep_cards
    # each journey's places and offsets (seconds after its first tap)
    j = len(card_of)
    bus_a, bus_b = rng.integers(0, len(network.buses), j), rng.integers(0, len(network.buses) - 1, j)
    bus_b = bus_b + (bus_b >= bus_a)  # another line
    st_a, st_b = rng.integers(0, network.stations, j), rng.integers(0, network.stations - 1, j)
    st_b = st_b + (st_b >= st_a)
    places = np.full((j, 3), -1, dtype=np.int64)
    offsets = np.zeros((j, 3), dtype=np.int64)
    ride = rng.integers(10 * 60, 25 * 60, j)
    for s, taps in enumerate(SHAPES):
        m = shape == s
        if s == 0:
            places[m, 0] = bus_a[m]
        elif s == 1:
            places[m, :2] = np.stack([bus_a[m], bus_b[m]], axis=1)
            offsets[m, 1] = rng.integers(10 * 60, 40 * 60, m.sum())
        elif s == 2:
            places[m, :2] = np.stack([network.entry(st_a[m]), network.exit(st_b[m])], axis=1)
            offsets[m, 1] = rng.integers(8 * 60, 40 * 60, m.sum())
        elif s == 3:
            places[m] = np.stack([bus_a[m], network.entry(st_a[m]), network.exit(st_b[m])], axis=1)
            offsets[m, 1], offsets[m, 2] = ride[m], ride[m] + rng.integers(8 * 60, 28 * 60, m.sum())
        else:
            places[m] = np.stack([network.entry(st_a[m]), network.exit(st_b[m]), bus_a[m]], axis=1)
            offsets[m, 1] = rng.integers(8 * 60, 30 * 60, m.sum())
            offsets[m, 2] = offsets[m, 1] + rng.integers(4 * 60, 15 * 60, m.sum())
        assert taps  # every shape has taps
    # fares: each distinct (card kind, places) once through the fare engine
    situation = np.stack([kind[card_of], places[:, 0], places[:, 1], places[:, 2]], axis=1)
    distinct, which = np.unique(situation, axis=0, return_inverse=True)
    table = np.zeros((len(distinct), 3), dtype=np.int64)
    for row, (kd, *ps) in enumerate(distinct.tolist()):
        chosen = tuple(p for p in ps if p >= 0)
        priced = fares.journey(kd, chosen, (0, 600, 1200)[:len(chosen)])
        table[row, :len(priced)] = priced
    fare = table[which.ravel()]
    # taps, flattened in card and time order
    tap_journey = np.repeat(np.arange(j), lengths)
    step = np.arange(len(tap_journey)) - np.concatenate(([0], np.cumsum(lengths)[:-1]))[tap_journey]
    tap_card = card_of[tap_journey]
    amount = fare[tap_journey, step]
    seconds = begins[tap_journey] + offsets[tap_journey, step]
    place = places[tap_journey, step]
    own = kind < 3
    load = LOADS[rng.integers(0, len(LOADS), n)]
    spent = np.cumsum(amount)
    first_tap = np.concatenate(([0], np.cumsum(np.bincount(tap_card, minlength=n))[:-1]))
    before_card = np.concatenate(([0], spent))[first_tap]
    balance = load[tap_card] - (spent - before_card[tap_card])
    index_in_card = np.arange(len(tap_card)) - first_tap[tap_card]
    counter = np.where(own[tap_card], index_in_card, rng.integers(0, 500, n)[tap_card] + index_in_card)
    # exactly the taps wanted: the last card's day may end early (a fare never depends on a later tap)
    tap_card, amount, seconds, place, balance, counter = (
        column[:taps_wanted] for column in (tap_card, amount, seconds, place, balance, counter))
    vehicle = rng.integers(0, network.vehicles, len(tap_card))
    kinds = pl.DataFrame({"kind": np.arange(len(_KINDS)), "issuer_city": [c for c, _k, _r in _KINDS],
                          "card_kind": [k for _c, k, _r in _KINDS], "rider": [r for _c, _k, r in _KINDS]})
    cards = pl.DataFrame({"kind": kind, "number": numbers}).join(kinds, on="kind", how="left", maintain_order="left")
    asn = cards.select(pl.concat_str(pl.col("issuer_city"), pl.lit(f"{run:06d}"),
                                     pl.col("number").cast(pl.String).str.zfill(10)))["issuer_city"]
    taps = pl.DataFrame({
        "card": tap_card, "asn": asn.gather(tap_card), "kind": kind[tap_card], "place": place,
        "vehicle": vehicle, "seconds": seconds, "amount": amount, "balance_after": balance, "counter": counter,
    }).join(kinds, on="kind", how="left", maintain_order="left").with_columns(
        issuer_id=pl.concat_str(pl.lit("0101"), pl.col("issuer_city"), pl.lit("FFFFFFFF"))).drop("issuer_city")
    ours = np.flatnonzero(own)
    loads = pl.DataFrame({"asn": asn.gather(ours), "amount": load[ours],
                          "seconds": start[ours] - 30 * 60 - rng.integers(0, 1800, len(ours))})
    return _Chunk(taps, loads, n, int((~own).sum()))


# --- records and files ---------------------------------------------------------------------------


def _card_time(day: date, seconds: pl.Expr) -> pl.Expr:
    two = [(seconds // 3600), (seconds // 60) % 60, seconds % 60]
    return pl.concat_str([pl.lit(f"{day:%Y%m%d}"), *(part.cast(pl.String).str.zfill(2) for part in two)])


def _records(chunk: _Chunk, network: _Network, serial_base: np.ndarray, day: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(purchase records sorted by terminal and time, each numbered by its terminal's serial;
    load records) as frames of BatchRecord's columns, TACs still to compute. `serial_base`
    (records per terminal so far) is advanced by the chunk's taps."""
    taps = chunk.taps.with_columns(terminal=pl.col("place") * network.vehicles + pl.col("vehicle"))
    taps = taps.sort("terminal", "seconds", "asn")
    terminal = taps["terminal"].to_numpy()
    counts = np.bincount(terminal, minlength=len(serial_base))
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    serial = serial_base[terminal] + (np.arange(len(terminal)) - first[terminal]) + 1
    serial_base += counts  # the terminal's records of the day so far: its file's line numbers too
    places = pl.DataFrame({"place": np.arange(len(network.keys)), "city": network.city, "operator": network.operator,
                           "mode": network.mode, "tap": network.tap, "line": network.line,
                           "station": network.station, "region": network.region,
                           "prefix": [network.terminal_prefix(i) for i in range(len(network.keys))]})
    purchases = taps.join(places, on="place", how="left", maintain_order="left").with_columns(
        terminal_id=pl.concat_str(pl.col("prefix"), pl.col("vehicle").cast(pl.String).str.zfill(4)),
        terminal_serial=pl.Series(serial, dtype=pl.Int64), seq=pl.Series(serial, dtype=pl.Int64),
        tx_type=pl.lit(PURCHASE, dtype=pl.Int64), card_time=_card_time(day, pl.col("seconds")), tac=pl.lit("00000000"),
    ).drop("prefix")
    loads = chunk.loads.sort("seconds", "asn").with_columns(
        issuer_id=pl.lit(issuer_id_of(HOME)), terminal_id=pl.lit(OUTLET_TERMINAL), terminal_serial=pl.lit(0),
        tx_type=pl.lit(LOAD, dtype=pl.Int64), balance_after=pl.col("amount"), counter=pl.lit(0),
        card_time=_card_time(day, pl.col("seconds")), tac=pl.lit("00000000"), city=pl.lit(HOME),
        operator=pl.lit(OUTLET_OPERATOR), mode=pl.lit(""), tap=pl.lit(""), line=pl.lit(""), station=pl.lit(""),
        region=pl.lit(""), card_kind=pl.lit(""), rider=pl.lit(""), place=pl.lit(-1))
    return purchases, loads


def _with_tacs(frame: pl.DataFrame, keystore: KeyStore, house: NationalClearingHouse, version: int) -> pl.DataFrame:
    """Genuine TACs: each issuer's records under its TAC master (ours: the platform's key store;
    others': their issuer's, held by the house), in bulk."""
    frame = frame.with_columns(key_version=pl.lit(version, dtype=pl.Int64), alg_id=pl.lit(SM4, dtype=pl.Int64))
    tacs = np.zeros(len(frame), dtype=np.uint32)
    for group in rules.tac_groups(frame, range(len(frame))):
        city = group.issuer_id[4:8]
        keys = keystore if city == HOME else house.issuer_keys(city, keystore)
        master = keys.get("tac", version=group.key_version, algorithm="SM4")
        levels = len(master.diversification.factors) - 1
        tacs[group.indexes] = tacs_sm4(master.key, group.asns, group.tac_inputs,
                                       issuer_factors=[bytes.fromhex(group.issuer_id)] * levels)
    return frame.with_columns(tac=pl.Series([f"{tac:08X}" for tac in tacs.tolist()], dtype=pl.String))


_HEX = {value: f"{value:02X}" for value in range(256)}
_LINE = [pl.lit("R"), pl.col("seq"), "asn", "issuer_id", "terminal_id", "terminal_serial",
         pl.col("tx_type").replace_strict(_HEX, return_dtype=pl.String), "amount", "balance_after", "counter",
         "card_time", "tac", "key_version", pl.col("alg_id").replace_strict(_HEX, return_dtype=pl.String), "city",
         "operator", "mode", "tap", "line", "station", "region", "card_kind", "rider", pl.lit("0")]


def render(kind: FileKind, file_id: str, sender: str, records: pl.DataFrame, *, created: datetime, operator: str,
           terminal_id: str) -> bytes:
    """A record file of docs/clearing-batch-format.md from a frame of BatchRecord's columns
    (`fileformat.render_records` a column at a time), records numbered 1..n in frame order."""
    body = records.with_columns(seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)).select(
        pl.concat_str([pl.col(c) if isinstance(c, str) else c for c in _LINE], separator="|").alias("line"))
    head = (f"H|{fileformat.FORMAT}|{fileformat.VERSION}|{kind}|{file_id}|{sender}|{operator}|{terminal_id}||"
            f"{fileformat.card_time_of(created)}|{len(records)}\n")
    content = head.encode() + ("\n".join(body["line"].to_list()) + "\n").encode("utf-8")
    loads = records["tx_type"].is_in(list(fileformat.LOAD_TYPES))
    debits, credits = int(records["amount"].filter(~loads).sum()), int(records["amount"].filter(loads).sum())
    return content + f"T|{len(records)}|{debits}|{credits}|{sm3(content).hex().upper()}\n".encode()


# --- the day ---------------------------------------------------------------------------------------


@dataclass
class _Takings:
    """What the validators charged, as the simulation knows it (to check clearing against)."""

    by_operator: dict[tuple[str, str], Fen] = field(default_factory=lambda: defaultdict(int))
    by_visitor_city: dict[str, Fen] = field(default_factory=lambda: defaultdict(int))
    own_fares: Fen = 0
    own_balances: Fen = 0

    def add(self, purchases: pl.DataFrame, chunk: _Chunk) -> None:
        grouped = purchases.group_by("city", "operator").agg(pl.col("amount").sum())
        for city, operator, amount in grouped.iter_rows():
            self.by_operator[(city, operator)] += amount
        visitors = purchases.filter(pl.col("kind") >= 3).with_columns(issuer_city=pl.col("issuer_id").str.slice(4, 4))
        for city, amount in visitors.group_by("issuer_city").agg(pl.col("amount").sum()).iter_rows():
            self.by_visitor_city[city] += amount
        self.own_fares += int(purchases.filter(pl.col("kind") < 3)["amount"].sum())
        last = chunk.taps.filter(pl.col("kind") < 3).group_by("card").agg(pl.col("balance_after").last())
        self.own_balances += int(last["balance_after"].sum())


def simulate_bulk_day(platform, *, taps: int, cards: int | None = None, day: date | None = None, seed: int = 20260302,
                      exchange_dir: str | Path | None = None, processes: int = 2, chunk_taps: int = CHUNK_TAPS,
                      review_shares: int | None = None, progress: Progress | None = None,
                      trace: Callable[[str], None] | None = None) -> BulkDayReport:
    """Make, clear and reconcile a day of `taps` taps (see the module docstring) on `platform`'s
    database (use a database of its own: the checks count the day's records)."""
    if taps < 1:
        raise ValueError("at least one tap")
    started = time.perf_counter()
    progress = progress or SILENT
    cards = cards or max(1, taps // 3)
    day = day or local_date(platform.clock.now())
    run = random.Random(seed).randrange(1_000_000)
    keystore: KeyStore = platform.get(KeyStore)
    version = keystore.active_version("tac", "SM4")
    fare_config = receive.fares_of(platform)
    network = _Network.of(fare_config, taps)
    fares = _Fares(fare_config, network, day)
    directory = Path(exchange_dir) if exchange_dir else Path(tempfile.mkdtemp(prefix="ykt-bulk-day-"))
    house = NationalClearingHouse(directory / "national", seed=b"simulated issuers %d" % seed, clock=platform.clock)
    files = directory / "files"
    files.mkdir(parents=True, exist_ok=True)
    report = BulkDayReport(day=day, database=platform.engine.url.render_as_string())
    meter, takings = report.meter, _Takings()
    spool = _Spool(files, network)
    mean_journeys = taps / cards / (sum(w * len(s) for s, w in zip(SHAPES, SHAPE_WEIGHTS, strict=True)))
    per_chunk = max(1, math.ceil(cards * min(1.0, chunk_taps / taps)))
    created = datetime.combine(day, clock_time(23, 0), tzinfo=CST)
    made = progress.stage("taps made, top-ups cleared / 生成刷卡、充值清分", taps)
    next_card, chunk_no = 1, 0
    while report.taps < taps:
        rng = np.random.default_rng([seed, chunk_no])
        numbers = np.arange(next_card, next_card + per_chunk, dtype=np.int64)
        with meter("1 generate taps and fares"):
            chunk = _make_chunk(rng, numbers, network, fares, mean_journeys, taps - report.taps, day, run)
        with meter("2 records, TACs, terminal files"):
            purchases, loads = _records(chunk, network, spool.count, day)
            purchases = _with_tacs(purchases, keystore, house, version)
            loads = _with_tacs(loads, keystore, house, version)
            spool.add(purchases)
            outlet = _write_loads(files, chunk_no, day, run, loads, created) if len(loads) else None
        next_card += chunk.cards
        chunk_no += 1
        report.taps += len(purchases)
        report.cards_own += chunk.cards - chunk.visiting
        report.cards_visiting += chunk.visiting
        report.top_ups += len(loads)
        report.top_up_amount += int(loads["amount"].sum())
        report.fares_charged += int(purchases["amount"].sum())
        takings.add(purchases, chunk)
        made(len(purchases))
        if trace:
            trace(f"chunk {chunk_no}: {report.taps:,} taps made; {report.meter.summary()}")
        del chunk, purchases
        if outlet is not None:
            with meter("3 top-ups: cash posted, outlet file uploaded"):
                post_cash(platform, total=int(loads["amount"].sum()), count=len(loads),
                          request_id=f"simulation:bulk-loads:{run}:{chunk_no}")
                _count(report, receive.upload_batch(platform=platform, actor=EXCHANGE, content=outlet.read_bytes(),
                                                    processes=processes, stages=report.upload_stages))
                outlet.unlink()
    first_upload: tuple[Actor, bytes, batches.BatchResult] | None = None
    uploaded = progress.stage("terminal files cleared / 终端文件清分", int(spool.count.sum()))
    since_house = 0
    for actor, content in spool.files(day, run, created):
        with meter("4 terminal uploads (receive.upload_batch)"):
            result = receive.upload_batch(platform=platform, actor=actor, content=content, processes=processes,
                                          stages=report.upload_stages)
        _count(report, result)
        first_upload = first_upload or (actor, content, result)
        uploaded(result.records)
        if trace and report.files % 500 == 0:
            trace(f"{report.files:,} files, {report.records_stored:,} records cleared; {report.meter.summary()}")
        since_house += result.pending_national
        if since_house >= chunk_taps // 20:  # the visitors' records of about a chunk: to the house
            with meter("5 national house (other issuers' records)"):
                _exchange(platform, house, files)
            since_house = 0
    with meter("5 national house (other issuers' records)"):
        _exchange(platform, house, files)
    report.fare_situations = len(fares.known)
    if trace:
        trace(f"{report.files:,} files, {report.records_stored:,} records cleared; {report.meter.summary()}")
    with meter("6 day review (re-rate every tap, counters)"):
        with platform.uow() as uow:
            report.review = day_review.review_day(uow=uow, actor=EXCHANGE, day=day, fares=fare_config,
                                                  processes=processes,
                                                  shares=review_shares or max(processes, math.ceil(taps / 1_500_000)))
            uow.commit()
    with meter("7 checks (settlement, reconciliation, balances)"):
        report.checks = _checks(platform, report, takings, house, first_upload)
    report.house_positions = house.positions()
    report.seconds = time.perf_counter() - started
    return report


def _count(report: BulkDayReport, result: batches.BatchResult) -> None:
    report.files += 1
    report.records_stored += result.records
    report.cleared += result.cleared
    report.pending_national += result.pending_national
    report.rejected += result.rejected


def _write_loads(directory: Path, chunk_no: int, day: date, run: int, loads: pl.DataFrame,
                 created: datetime) -> Path:
    """The outlet's file of the chunk's top-ups."""
    file_id = f"{OUTLET_TERMINAL}-{day:%Y%m%d}-{run:06d}-{chunk_no:04d}"
    path = directory / f"{file_id}.txt"
    path.write_bytes(render(FileKind.TERMINAL, file_id, OUTLET_TERMINAL, loads, created=created,
                            operator=OUTLET_OPERATOR, terminal_id=OUTLET_TERMINAL))
    return path


class _Spool:
    """Each terminal's record lines of the day, appended chunk by chunk to a file of its own,
    with its count and purchase total; at the end of the day each terminal's batch file is
    its lines between a header and a trailer (one terminal, one file, as a validator uploads)."""

    def __init__(self, directory: Path, network: _Network) -> None:
        self.directory, self.network = directory, network
        self.count = np.zeros(len(network.keys) * network.vehicles, dtype=np.int64)
        self.debits = np.zeros_like(self.count)

    def terminal_id(self, terminal: int) -> str:
        place, vehicle = divmod(terminal, self.network.vehicles)
        return f"{self.network.terminal_prefix(place)}{vehicle:04d}"

    def add(self, purchases: pl.DataFrame) -> None:
        """Lines of purchases that carry their terminal's `seq` (= terminal serial), sorted by terminal."""
        lines = purchases.select(pl.concat_str([pl.col(c) if isinstance(c, str) else c for c in _LINE],
                                               separator="|"))[:, 0].to_list()
        terminals = purchases["terminal"].to_numpy()
        self.debits += np.bincount(terminals, weights=purchases["amount"].to_numpy(),
                                   minlength=len(self.count)).astype(np.int64)
        bounds = np.flatnonzero(np.diff(terminals)) + 1
        for start, end in zip(np.concatenate(([0], bounds)), np.concatenate((bounds, [len(terminals)])), strict=True):
            if end > start:
                with open(self.directory / f"{terminals[start]}.part", "ab") as spool:
                    spool.write(("\n".join(lines[start:end]) + "\n").encode("utf-8"))

    def files(self, day: date, run: int, created: datetime) -> Iterator[tuple[Actor, bytes]]:
        """Each terminal's batch file (the actor uploading it, its content), its spool removed."""
        for terminal in np.flatnonzero(self.count).tolist():
            spool = self.directory / f"{terminal}.part"
            body = spool.read_bytes()
            spool.unlink()
            terminal_id = self.terminal_id(terminal)
            operator = self.network.operator[terminal // self.network.vehicles]
            file_id = f"{terminal_id}-{day:%Y%m%d}-{run:06d}"
            count = int(self.count[terminal])
            content = (f"H|{fileformat.FORMAT}|{fileformat.VERSION}|{FileKind.TERMINAL}|{file_id}|{terminal_id}|"
                       f"{operator}|{terminal_id}||{fileformat.card_time_of(created)}|{count}\n").encode() + body
            content += f"T|{count}|{int(self.debits[terminal])}|0|{sm3(content).hex().upper()}\n".encode()
            yield Actor(user_id=f"sim-{operator}", role=Role.TRANSIT_OPERATOR, channel=Channel.PARTNER_API,
                        branch_code=operator), content


def _exchange(platform, house: NationalClearingHouse, directory: Path) -> None:
    """Other issuers' records waiting go to the house; its verdicts come back."""
    with platform.uow() as uow:
        file_id = national_files.export_national(uow=uow, actor=EXCHANGE)
        uow.commit()
    if file_id is None:
        return
    outgoing = directory / f"{file_id}.txt"
    with platform.uow() as uow:
        outgoing.write_text(national_files.file_content(uow=uow, file_id=file_id), encoding="utf-8")
    verdicts = house.receive(outgoing)
    receive.upload_batch(platform=platform, actor=EXCHANGE, content=verdicts.read_bytes())
    outgoing.unlink()
    verdicts.unlink()


# --- checks ---------------------------------------------------------------------------------------

_DISAGREEING = """
WITH live AS (
  SELECT asn, counter_kind, amount, balance_after, card_time, batch_id, seq FROM clearing_records
  WHERE own_card = :yes AND status = 'cleared'),
shadow AS (
  SELECT asn, SUM(CASE WHEN counter_kind = 'online' THEN amount ELSE -amount END) AS balance FROM live GROUP BY asn),
last AS (
  SELECT asn, balance_after, ROW_NUMBER() OVER (PARTITION BY asn ORDER BY card_time DESC, batch_id DESC, seq DESC) AS r
  FROM live)
SELECT COUNT(*), SUM(CASE WHEN last.balance_after <> shadow.balance THEN 1 ELSE 0 END), SUM(shadow.balance)
FROM shadow JOIN last ON last.asn = shadow.asn AND last.r = 1
"""


def _checks(platform, report: BulkDayReport, takings: _Takings, house: NationalClearingHouse,
            first_upload: tuple[Actor, bytes, batches.BatchResult] | None) -> list[Check]:
    checks = []
    with platform.uow() as uow:
        settlement = reports.settlement_report(uow=uow, day=report.day)
        reconciliation = reports.reconcile(uow=uow, day=report.day)
        exceptions = reports.list_exceptions(uow=uow, open_only=True, limit=50)
        trial = ledger.trial_balance(uow=uow)
        cards, disagreeing, shadows = uow.session.execute(text(_DISAGREEING), {"yes": True}).one()
    report.settlement = settlement
    checks.append(Check("every tap stored and cleared / 每笔刷卡已入库并清分",
                        report.records_stored == report.taps + report.top_ups and report.rejected == 0
                        and settlement.total_count == report.taps,
                        f"{report.records_stored:,} records = {report.taps:,} taps + {report.top_ups:,} top-ups; "
                        f"{settlement.total_count:,} purchases cleared, {report.rejected:,} rejected"))
    checks.append(Check("chip balances = shadow balances / 卡内余额 = 影子余额",
                        cards == report.cards_own and not disagreeing and shadows == takings.own_balances,
                        f"{cards:,} of our cards, {disagreeing or 0:,} whose last record disagrees; shadow balances "
                        f"{shadows or 0:,} = card balances {takings.own_balances:,} fen"))
    checks.append(Check("top-ups = balances + fares / 充值 = 余额 + 车费",
                        report.top_up_amount == takings.own_balances + takings.own_fares,
                        f"{report.top_up_amount:,} = {takings.own_balances:,} + {takings.own_fares:,} fen"))
    charged = {key: amount for key, amount in takings.by_operator.items() if amount}
    checks.append(Check("operators are owed what validators charged / 运营方应收 = 闸机实收",
                        charged == {k: v for k, v in settlement.by_operator().items() if v},
                        ", ".join(f"{op}@{city} {amount:,}" for (city, op), amount in sorted(charged.items()))))
    visiting = {city: amount for city, amount in takings.by_visitor_city.items() if amount}
    receivable = {issuer[4:8]: amount for issuer, amount in settlement.by_issuer().items()
                  if issuer[4:8] != HOME and amount}
    from_house = {payer: amount for (payer, payee), amount in house.positions().items() if payee == HOME and amount}
    checks.append(Check("other issuers owe their cards' fares, as the house says / 外地发卡方应付 = 清分中心",
                        visiting == receivable == from_house,
                        f"visiting cards {visiting}; receivable {receivable}; house {from_house}"))
    review = report.review
    checks.append(Check("every tap re-rated, no fare mismatch, no counter gap / 全部复核，票价与计数器无差异",
                        review is not None and review.taps == report.taps and review.not_rated == 0
                        and review.open_mismatches == 0 and review.open_gaps == 0,
                        f"{review.taps:,} taps of {review.cards:,} cards re-rated; mismatches {review.open_mismatches}, "
                        f"gaps {review.open_gaps}" if review else "no review"))
    checks.append(Check("reconciliation / 对账", reconciliation.ok,
                        f"{len(reconciliation.cards):,} cards, {len(reconciliation.card_mismatches)} off; "
                        f"{len(reconciliation.accounts)} accounts, {sum(not a.agrees for a in reconciliation.accounts)} "
                        f"off; records {reconciliation.records_total:,} = report {reconciliation.report_total:,} fen"))
    checks.append(Check("no open exception / 无未结异常", not exceptions,
                        "; ".join(f"{e.reason} {e.asn}: {e.en}" for e in exceptions[:3]) or "none"))
    checks.append(Check("ledger trial balance / 总账试算平衡", trial.balanced,
                        f"debits {trial.total_debits:,} = credits {trial.total_credits:,} fen"))
    if first_upload is not None:
        actor, content, first = first_upload
        again = receive.upload_batch(platform=platform, actor=actor, content=content)
        same = again.replayed and again.as_dict() == first.as_dict()
        checks.append(Check("re-upload is idempotent / 重复上传幂等", same,
                            f"{first.file_id}: {'the same answer, nothing cleared twice' if same else 'a different answer'}"))
    return checks
