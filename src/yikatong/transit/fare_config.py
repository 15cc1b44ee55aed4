"""The fare configuration: every fare figure as versioned, labelled data (domain-rules §5).

A city changes its fares by editing a TOML file, never the code: the engine in
`fare_rules.py` only reads a `FareConfig`. Each figure carries where it came from (`source`),
when that was checked (`checked`) and how sure we are (`confidence`: H / M / L, as in
domain-rules.md). The file is validated strictly when it is loaded: an unknown key, a negative
fare, overlapping or gapped distance bands, a dangling reference or a disconnected metro network
is a `FareConfigInvalid` naming the place in the file; nothing is guessed.

The packaged default is `config/fares-changzhou.toml`: an example default, not official policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from fractions import Fraction
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from yikatong.core.clock import local_date
from yikatong.core.config_files import Name, Sourced, Strict, validate_dict, validate_toml
from yikatong.core.errors import DomainError
from yikatong.core.money import Fen
from yikatong.people.rules import age_on
from yikatong.transit.fare_rules import CardKind, Mode, RiderCategory

DEFAULT_CONFIG_FILE = "fares-changzhou.toml"

CityCode = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
"""A GB/T 13497 city code as in bytes 2–3 of the T-Union issuer id (file 0015): '3040'."""

FenAmount = Annotated[int, Field(strict=True, ge=0)]
"""A fare in integer fen: never negative, never a float or a string."""

Metres = Annotated[int, Field(strict=True, ge=0)]
Code = Annotated[str, StringConstraints(pattern=r"^\S{1,32}$")]
CardScope = Literal["local_cards", "all_cards"]
"""Who a rule is for: cards treated as local (issued here, or same-city treatment), or any card."""


class FareConfigInvalid(DomainError):
    code = "transit_fare_config_invalid"
    http_status = 500
    zh = "票价配置 {origin} 有误：{problems}"
    en = "The fare configuration {origin} is invalid: {problems}"


class Names(Strict):
    zh: Name
    en: Name


class Issuers(Sourced):
    """T-Union issuer city codes the engine can name; any other code is still a valid card."""

    codes: dict[CityCode, Names]


class Cluster(Sourced):
    """Jiangsu same-city treatment (同城待遇): these cards count as local in every city listed."""

    id: Code
    zh: Name
    en: Name
    cities: list[CityCode] = Field(min_length=2)
    card_kinds: list[CardKind] = Field(min_length=1)


class City(Sourced):
    """A city whose local rules we configure; `bus_fare` is its default flat bus fare."""

    zh: Name
    en: Name
    regions: dict[Code, Names] = Field(min_length=1)
    default_region: Code
    bus_fare: FenAmount

    @model_validator(mode="after")
    def _default_region_exists(self) -> City:
        if self.default_region not in self.regions:
            raise ValueError(f"default_region {self.default_region!r} is not one of its regions")
        return self


class BusLine(Sourced):
    """A bus line whose fare or region differs from its city's default."""

    city: CityCode
    line: Code
    region: Code
    fare: FenAmount
    zh: str = ""
    en: str = ""


class Rate(Strict):
    """A discount as a fraction of the fare: 95/100 is 9.5折, 0/1 rides free."""

    numerator: Annotated[int, Field(strict=True, ge=0)]
    denominator: Annotated[int, Field(strict=True, gt=0)]

    @model_validator(mode="after")
    def _not_a_surcharge(self) -> Rate:
        if self.numerator > self.denominator:
            raise ValueError(
                f"rate {self.numerator}/{self.denominator} is above 1: a discount never raises a fare"
            )
        return self

    @cached_property
    def fraction(self) -> Fraction:
        return Fraction(self.numerator, self.denominator)


class Discount(Sourced):
    """A card discount in one city; when several match a tap, the lowest rate applies alone."""

    id: Code
    city: CityCode
    modes: list[Mode] = Field(min_length=1)
    regions: list[Code] | None = None
    applies_to: CardScope
    card_kinds: list[CardKind] | None = None
    riders: list[RiderCategory] | None = None
    rate: Rate
    zh: Name
    en: Name

    def matches(
        self, *, mode: Mode, region: str | None, local: bool, kind: CardKind, rider: RiderCategory
    ) -> bool:
        return (
            mode in self.modes
            and (self.regions is None or region in self.regions)
            and (local or self.applies_to == "all_cards")
            and (self.card_kinds is None or kind in self.card_kinds)
            and (self.riders is None or rider in self.riders)
        )


class FreeTransferGroup(Strict):
    """Lines between which a transfer is free (BRT B1/B2 inside a station)."""

    id: Code
    lines: list[Code] = Field(min_length=2)
    same_station: bool = True


class TransferRule(Sourced):
    """The transfer discount: each tap within the window of the chain's first tap."""

    window_minutes: Annotated[int, Field(strict=True, gt=0)]
    deduction: FenAmount
    pairs: list[tuple[Mode, Mode]] = Field(min_length=1)
    applies_to: CardScope
    free_groups: list[FreeTransferGroup] = []


class FareBand(Strict):
    over_m: Metres
    up_to_m: Metres
    fare: FenAmount


class Beyond(Strict):
    """Past the last band: `step_fare` more for every started `step_m`."""

    step_m: Annotated[int, Field(strict=True, gt=0)]
    step_fare: FenAmount


class MetroFareTable(Sourced):
    """Distance bands, upper bound inclusive (10 km is in 5–10). Without `beyond` the last band caps."""

    bands: list[FareBand] = Field(min_length=1)
    beyond: Beyond | None = None

    @model_validator(mode="after")
    def _bands_tile_the_distance(self) -> MetroFareTable:
        expected_start = 0
        for number, band in enumerate(self.bands, start=1):
            span = f"band {number} ({band.over_m}–{band.up_to_m} m)"
            if band.up_to_m <= band.over_m:
                raise ValueError(f"{span} ends before it starts")
            if band.over_m < expected_start:
                raise ValueError(
                    f"{span} overlaps the band before it, which ends at {expected_start} m"
                )
            if band.over_m > expected_start:
                raise ValueError(
                    f"{span} leaves a gap: the band before it ends at {expected_start} m"
                )
            expected_start = band.up_to_m
        fares = [band.fare for band in self.bands]
        if fares != sorted(fares):
            raise ValueError(f"band fares must not fall with distance: {fares}")
        return self

    def base_fare(self, distance_m: int) -> Fen:
        for band in self.bands:
            if distance_m <= band.up_to_m:
                return band.fare
        last = self.bands[-1]
        if self.beyond is None:
            return last.fare
        steps = math.ceil((distance_m - last.up_to_m) / self.beyond.step_m)
        return last.fare + steps * self.beyond.step_fare


class Station(Strict):
    code: Code
    line: Code
    at_m: Metres
    zh: Name
    en: Name


class MetroNetwork(Sourced):
    """Stations at a position along their line; interchanges join two stations at no distance.

    The distance of a trip is the shortest path: |at_exit − at_entry| on one line, or through
    interchanges across lines. Lines are treated as straight (no loops).
    """

    lines: dict[Code, Names] = Field(min_length=1)
    stations: list[Station] = Field(min_length=2)
    interchanges: list[tuple[Code, Code]] = []

    @model_validator(mode="after")
    def _well_formed(self) -> MetroNetwork:
        codes = [station.code for station in self.stations]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"duplicate station codes: {duplicates}")
        for station in self.stations:
            if station.line not in self.lines:
                raise ValueError(f"station {station.code} is on undeclared line {station.line!r}")
        line_of = {station.code: station.line for station in self.stations}
        for first, second in self.interchanges:
            for code in (first, second):
                if code not in line_of:
                    raise ValueError(f"interchange {first}–{second} names unknown station {code}")
            if line_of[first] == line_of[second]:
                raise ValueError(f"interchange {first}–{second} joins the same line")
        unreachable = [pair for pair, metres in self.routes.items() if metres >= _UNREACHABLE]
        if unreachable:
            first, second = unreachable[0]
            raise ValueError(f"stations {first} and {second} are not connected")
        return self

    @cached_property
    def by_code(self) -> dict[str, Station]:
        return {station.code: station for station in self.stations}

    @cached_property
    def routes(self) -> dict[tuple[str, str], int]:
        """Shortest distance in metres for every (entry, exit) pair: computed once, then looked up."""
        matrix = _all_pair_distances(self.stations, self.interchanges).tolist()
        codes = [station.code for station in self.stations]
        return {
            (entry, exit): matrix[i][j]
            for i, entry in enumerate(codes)
            for j, exit in enumerate(codes)
        }

    def has_station(self, code: str | None) -> bool:
        return code in self.by_code

    def station(self, code: str) -> Station:
        return self.by_code[code]

    def distance_m(self, entry: str, exit: str) -> int:
        return self.routes[entry, exit]

    @cached_property
    def longest_m(self) -> int:
        """The longest shortest-path trip in the network, in metres."""
        return max(self.routes.values())


_UNREACHABLE = 10**12


def _all_pair_distances(
    stations: Sequence[Station], interchanges: Iterable[tuple[str, str]]
) -> np.ndarray:
    """Floyd–Warshall over neighbours along each line and zero-length interchanges."""
    index = {station.code: i for i, station in enumerate(stations)}
    size = len(stations)
    distances = np.full((size, size), _UNREACHABLE, dtype=np.int64)
    np.fill_diagonal(distances, 0)
    by_line: dict[str, list[Station]] = {}
    for station in stations:
        by_line.setdefault(station.line, []).append(station)
    for line_stations in by_line.values():
        ordered = sorted(line_stations, key=lambda s: s.at_m)
        for here, there in zip(ordered, ordered[1:], strict=False):
            i, j = index[here.code], index[there.code]
            distances[i, j] = distances[j, i] = there.at_m - here.at_m
    for first, second in interchanges:
        i, j = index[first], index[second]
        distances[i, j] = distances[j, i] = 0
    for k in range(size):
        distances = np.minimum(distances, distances[:, k : k + 1] + distances[k : k + 1, :])
    return distances


class GateRules(Sourced):
    """Entry/exit handling. Omitted amounts default to the maximum fare of the network.

    `entry_debit` is a deposit taken at entry and credited at the exit (or against the penalty
    of an entry never closed); a card is never asked for more than the least fare it can pay
    at that exit, so the deposit and its credit always add up to exactly the fare.
    """

    entry_debit: FenAmount = 0
    max_fare: FenAmount | None = None
    unfinished_entry_penalty: FenAmount | None = None


class MaxStay(Sourced):
    """How long after its entry an exit still closes it. Later, the entry counts as one without
    an exit (fined, its deposit credited) and the exit as one without an entry."""

    minutes: Annotated[int, Field(strict=True, gt=0)]


class Metro(Strict):
    fare: MetroFareTable
    gates: GateRules
    network: MetroNetwork
    max_stay: MaxStay | None = None  # None: an entry is closed by its exit however late

    @model_validator(mode="after")
    def _gate_amounts_fit_the_fares(self) -> Metro:
        # An offline card cannot be credited: a deposit above a fare could never be given back.
        cheapest = self.fare.bands[0].fare
        if self.gates.entry_debit > cheapest:
            raise ValueError(
                f"gates.entry_debit {self.gates.entry_debit} exceeds the cheapest fare {cheapest}"
            )
        # The deposit of an entry never closed is credited against its penalty: never more.
        penalty = self.gates.unfinished_entry_penalty
        if penalty is not None and penalty < self.gates.entry_debit:
            raise ValueError(
                f"gates.unfinished_entry_penalty {penalty} is below gates.entry_debit {self.gates.entry_debit}"
            )
        # Exiting without an entry must never be cheaper than riding the longest trip.
        longest = self.fare.base_fare(self.network.longest_m)
        if self.gates.max_fare is not None and self.gates.max_fare < longest:
            raise ValueError(
                f"gates.max_fare {self.gates.max_fare} is below the fare of the longest trip {longest}"
            )
        return self

    @cached_property
    def max_fare(self) -> Fen:
        if self.gates.max_fare is not None:
            return self.gates.max_fare
        return self.fare.base_fare(self.network.longest_m)

    def stayed_too_long(self, entered: datetime, exited: datetime) -> bool:
        return self.max_stay is not None and exited - entered > timedelta(minutes=self.max_stay.minutes)

    @cached_property
    def unfinished_entry_penalty(self) -> Fen:
        if self.gates.unfinished_entry_penalty is not None:
            return self.gates.unfinished_entry_penalty
        return self.max_fare


class Rider(Sourced):
    """A rider category the city's fares know (file 0017 byte 11 carries it on the card).

    With `min_age`, personalisation writes it on the card of a holder at least that old on the
    card's issue day. Without, it is set against a proof (a student, a disabled rider): a
    citizen-card outlet records a grant (transit/grants.py) naming one of `proof_kinds`, ending
    on a given day when `valid_until_required` (a school year), at most `longest_days` after
    the day it is recorded, and the card follows the grant.
    """

    zh: Name
    en: Name
    min_age: Annotated[int, Field(strict=True, ge=0)] | None = None
    proof_kinds: list[Code] = []
    valid_until_required: bool = False
    longest_days: Annotated[int, Field(strict=True, gt=0)] | None = None


class OtherCities(Sourced):
    """Cities we do not configure: their local rules apply, which we model as full fare."""

    bus_fare: FenAmount


class FareConfig(Strict):
    """One version of the fare rules, in force from `effective_from` (Changzhou date)."""

    version: Name
    effective_from: date
    status: Name
    home_city: CityCode
    description: str = ""
    issuers: Issuers
    clusters: list[Cluster] = []
    cities: dict[CityCode, City]
    bus_lines: list[BusLine] = []
    discounts: list[Discount] = []
    transfers: dict[CityCode, TransferRule] = {}
    metros: dict[CityCode, Metro] = {}
    riders: dict[RiderCategory, Rider] = {}
    other_cities: OtherCities

    @model_validator(mode="after")
    def _references_resolve(self) -> FareConfig:
        problems = [
            *self._city_problems(),
            *self._cluster_problems(),
            *self._bus_line_problems(),
            *self._discount_problems(),
            *self._rider_problems(),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _city_problems(self) -> Iterable[str]:
        if self.home_city not in self.cities:
            yield f"home_city {self.home_city} is not among [cities]"
        for table, codes in (("transfers", self.transfers), ("metros", self.metros)):
            for code in codes:
                if code not in self.cities:
                    yield f"{table}.{code}: city {code} is not among [cities]"

    def _cluster_problems(self) -> Iterable[str]:
        seen: dict[str, str] = {}
        for cluster in self.clusters:
            for code in cluster.cities:
                if code not in self.issuers.codes:
                    yield f"cluster {cluster.id}: city {code} is not among [issuers.codes]"
                if code in seen:
                    yield f"city {code} is in two clusters ({seen[code]}, {cluster.id})"
                seen[code] = cluster.id

    def _bus_line_problems(self) -> Iterable[str]:
        seen: set[tuple[str, str]] = set()
        for row in self.bus_lines:
            key = (row.city, row.line)
            if row.city not in self.cities:
                yield f"bus line {row.line}: city {row.city} is not among [cities]"
            elif row.region not in self.cities[row.city].regions:
                yield f"bus line {row.line}: region {row.region!r} is not a region of {row.city}"
            if key in seen:
                yield f"bus line {row.line} of {row.city} is listed twice"
            seen.add(key)
        for city, rule in self.transfers.items():
            for group in rule.free_groups:
                for line in group.lines:
                    if (city, line) not in seen:
                        yield f"transfers.{city}.free_groups.{group.id}: line {line} is not among [[bus_lines]]"

    def _discount_problems(self) -> Iterable[str]:
        ids = [row.id for row in self.discounts]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
            yield f"discount id {duplicate} is used twice"
        for row in self.discounts:
            if row.city not in self.cities:
                yield f"discount {row.id}: city {row.city} is not among [cities]"
                continue
            for region in row.regions or ():
                if region not in self.cities[row.city].regions:
                    yield f"discount {row.id}: region {region!r} is not a region of {row.city}"
            for rider in row.riders or ():
                if rider not in self.riders:
                    yield f"discount {row.id}: rider {rider.value!r} is not among [riders]"

    def _rider_problems(self) -> Iterable[str]:
        if RiderCategory.ADULT in self.riders:
            yield "riders.adult: every rider without another category is an adult; do not declare it"
        for rider, rule in self.riders.items():
            if rule.min_age is not None and (rule.proof_kinds or rule.valid_until_required or rule.longest_days):
                yield f"riders.{rider.value}: a category by age (min_age) is not set against a proof"

    def rider_by_age(self, birth_date: date, on: date) -> RiderCategory:
        """The category a holder born on `birth_date` has by age on `on` (the oldest threshold
        reached among the declared riders), else adult."""
        age = age_on(birth_date, on)
        reached = [(rule.min_age, rider) for rider, rule in self.riders.items()
                   if rule.min_age is not None and age >= rule.min_age]
        return max(reached)[1] if reached else RiderCategory.ADULT

    @cached_property
    def _lines(self) -> dict[tuple[str, str | None], BusLine]:
        return {(row.city, row.line): row for row in self.bus_lines}

    @cached_property
    def _clusters(self) -> dict[str, Cluster]:
        return {code: cluster for cluster in self.clusters for code in cluster.cities}

    @cached_property
    def _discounts(self) -> dict[str, list[Discount]]:
        by_city: dict[str, list[Discount]] = {}
        for row in self.discounts:
            by_city.setdefault(row.city, []).append(row)
        return by_city

    def discounts_in(self, city: str) -> list[Discount]:
        return self._discounts.get(city, [])

    def bus_line(self, city: str, line: str | None) -> BusLine | None:
        return self._lines.get((city, line))

    def cluster_of(self, city: str) -> Cluster | None:
        return self._clusters.get(city)

    def issuer_name(self, city: str) -> Names:
        return self.issuers.codes.get(city) or Names(zh=f"城市代码 {city}", en=f"city code {city}")


def load_fare_config(path: Path | str | None = None) -> FareConfig:
    """Read and validate a fare configuration file; the packaged Changzhou default when no path."""
    if path is None:
        return default_fare_config()
    path = Path(path)
    return parse_fare_config(path.read_text(encoding="utf-8"), origin=str(path))


@cache
def default_fare_config() -> FareConfig:
    """The packaged example default (loaded once: a FareConfig never changes after loading)."""
    text = (
        resources.files("yikatong.transit")
        .joinpath("config", DEFAULT_CONFIG_FILE)
        .read_text(encoding="utf-8")
    )
    return parse_fare_config(text, origin=DEFAULT_CONFIG_FILE)


def parse_fare_config(text: str, *, origin: str = "<text>") -> FareConfig:
    """Validate TOML text into a FareConfig, or raise FareConfigInvalid listing every problem."""
    return validate_toml(FareConfig, text, origin=origin, invalid=FareConfigInvalid)


def fare_config_from_dict(data: dict[str, object], *, origin: str = "<dict>") -> FareConfig:
    return validate_dict(FareConfig, data, origin=origin, invalid=FareConfigInvalid)


def config_in_force(configs: Iterable[FareConfig], instant: datetime) -> FareConfig:
    """The newest configuration already effective on the Changzhou date of `instant`."""
    day = local_date(instant)
    candidates = [config for config in configs if config.effective_from <= day]
    if not candidates:
        raise FareConfigInvalid(
            origin="(versions)", problems=f"no fare configuration is in force on {day.isoformat()}"
        )
    return max(candidates, key=lambda config: config.effective_from)


