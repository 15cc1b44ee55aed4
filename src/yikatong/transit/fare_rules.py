"""The fare engine: what a tap costs, decided from the card's own transit records.

Pure: no database, no clock, no I/O. A validator calls `quote` offline with the card's last
transit records (the 001E log and the 001A trip record), its own place and the tap's time;
clearing calls `rerate` on an uploaded record to check what the card paid (it never changes
it). Every figure comes from a `FareConfig` (fare_config.py); this module holds only the order
of the steps, as in domain-rules §5.2:

    base fare → transfer deduction (floor 0) → card discount → round half up to the fen

Transfer chains: the first tap of a chain starts a window (60 min in Changzhou); every later tap
inside the window whose (previous mode, this mode) is a transfer pair continues the chain and
gets the deduction. A metro trip joins the chain at its entry; the deduction is applied at the
exit, where the fare is known, and the exit carries the chain on for the next bus.

Metro deposits: a gate may take a deposit at entry (`gates.entry_debit`), credited at the exit.
A card cannot be credited offline, so the deposit is never more than the least this card can
pay at that exit (the cheapest band, its discount and transfer applied): deposit + exit
debit is always exactly the fare. An entry never closed has its deposit credited against its
penalty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from yikatong.core.errors import DomainError, InvalidInput
from yikatong.core.money import Fen, apply_rate, format_fen

if TYPE_CHECKING:
    from yikatong.transit.fare_config import FareConfig, Metro, Station, TransferRule


class Mode(StrEnum):
    BUS = "bus"
    METRO = "metro"


class TapKind(StrEnum):
    BOARD = "board"  # bus: pay once when boarding
    ENTRY = "entry"  # metro gate in: the fare is not known yet
    EXIT = "exit"  # metro gate out: the fare is charged


class CardKind(StrEnum):
    # A third-generation social security card with a T-Union wallet (ours, or another city's).
    SOCIAL_SECURITY = "social_security"
    # A plain city transit card carrying T-Union (龙城通, 苏州通 …).
    CITY_CARD = "city_card"


class RiderCategory(StrEnum):
    ADULT = "adult"
    STUDENT = "student"
    SENIOR_70 = "senior_70"
    DISABLED = "disabled"


class FareFlag(StrEnum):
    PENDING_ENTRY = "pending_entry"
    TRANSFER = "transfer"
    FREE_TRANSFER = "free_transfer"
    SAME_CITY = "same_city"
    OTHER_CITY_DEFAULT = "other_city_default"
    MAX_FARE_NO_ENTRY = "max_fare_no_entry"
    UNFINISHED_ENTRY_PENALTY = "unfinished_entry_penalty"
    STAY_EXCEEDED = "stay_exceeded"


class FareNotConfigured(DomainError):
    code = "transit_fare_not_configured"
    http_status = 422
    zh = "未配置城市 {city} 的{mode_zh}票价"
    en = "No {mode} fares are configured for city {city}"


class UnknownStation(FareNotConfigured):
    code = "transit_unknown_station"
    zh = "城市 {city} 的地铁线网中没有车站 {station}"
    en = "Station {station} is not in the metro network of city {city}"


class UnknownRegion(FareNotConfigured):
    code = "transit_unknown_region"
    zh = "城市 {city} 没有公交票价区域 {region}"
    en = "City {city} has no bus fare region {region}"


@dataclass(frozen=True)
class CardContext:
    """What the fare depends on about the card: its issuer city (file 0015), its kind, its rider."""

    issuer_city: str
    kind: CardKind
    rider: RiderCategory = RiderCategory.ADULT

    def __post_init__(self) -> None:
        _require_city_code(self.issuer_city, "issuer_city")

    @classmethod
    def from_issuer_id(
        cls, issuer_id: bytes, *, kind: CardKind, rider: RiderCategory = RiderCategory.ADULT
    ) -> CardContext:
        """Read the city from bytes 2–3 of the 8-byte issuer id of file 0015 (BCD, GB/T 13497)."""
        if len(issuer_id) != 8:
            raise InvalidInput(
                reason_zh="发卡机构标识应为 8 字节", reason_en="the issuer id must be 8 bytes"
            )
        digits = issuer_id[2:4].hex()
        if not digits.isdigit():
            raise InvalidInput(
                reason_zh=f"发卡机构标识的城市代码不是 BCD：{digits}",
                reason_en=f"the issuer id's city code is not BCD: {digits}",
            )
        return cls(issuer_city=digits, kind=kind, rider=rider)


@dataclass(frozen=True)
class Tap:
    """A card presented at a validator: its time (timezone-aware) and the validator's place."""

    when: datetime
    city: str
    mode: Mode
    kind: TapKind
    line: str | None = None
    station: str | None = None
    region: str | None = None  # a bus validator's fare region, for lines not in the configuration

    def __post_init__(self) -> None:
        _require_aware(self.when)
        _require_city_code(self.city, "city")
        if (self.mode is Mode.BUS) != (self.kind is TapKind.BOARD):
            raise InvalidInput(
                reason_zh=f"{self.mode} 不支持刷卡类型 {self.kind}",
                reason_en=f"a {self.mode} tap cannot be of kind {self.kind}",
            )
        if self.mode is Mode.METRO and not self.station:
            raise InvalidInput(
                reason_zh="地铁刷卡缺少车站", reason_en="a metro tap needs a station"
            )


@dataclass(frozen=True)
class TransitRecordView:
    """An earlier tap as the card remembers it (001E log plus the 001A trip record)."""

    tap: Tap
    amount: Fen  # what the card paid at this tap
    chain_start: datetime  # first tap of the transfer chain this tap belongs to
    entry_open: bool = False  # a metro entry not yet closed by an exit
    deposit: Fen = 0  # part of an entry's amount to credit against the fare at exit

    def __post_init__(self) -> None:
        _require_aware(self.chain_start)


@dataclass(frozen=True)
class Discount:
    numerator: int
    denominator: int
    rule_id: str
    zh: str
    en: str


FULL_FARE = Discount(1, 1, "discount.none", "无优惠，全价", "no discount, full fare")
NO_FARE_AT_ENTRY = Discount(1, 1, "metro.entry", "进站不计票价", "no fare at entry")


@dataclass(frozen=True)
class RuleStep:
    rule_id: str
    zh: str
    en: str


@dataclass(frozen=True)
class PendingEntry:
    """A metro entry whose fare is decided at the exit."""

    station: str
    when: datetime
    chain_start: datetime
    deposit: Fen


@dataclass(frozen=True)
class FareDecision:
    """What a tap costs and why. `amount` = fare + penalty + deposit − deposit credited."""

    amount: Fen
    base_fare: Fen
    transfer_deduction: Fen
    discount: Discount
    fare: Fen
    chain_start: datetime
    config_version: str
    penalty: Fen = 0
    deposit_credited: Fen = 0
    distance_m: int | None = None
    pending_entry: PendingEntry | None = None
    flags: frozenset[FareFlag] = frozenset()
    trail: tuple[RuleStep, ...] = ()

    def record(self, tap: Tap) -> TransitRecordView:
        """The record a validator writes to the card for this tap."""
        return TransitRecordView(
            tap=tap,
            amount=self.amount,
            chain_start=self.chain_start,
            entry_open=self.pending_entry is not None,
            deposit=self.pending_entry.deposit if self.pending_entry else 0,
        )


@dataclass(frozen=True)
class RerateResult:
    """Clearing's second opinion on an uploaded record; `expected` is None when not rateable."""

    charged: Fen
    expected: Fen | None
    decision: FareDecision | None = None
    not_rated_zh: str = ""
    not_rated_en: str = ""

    @property
    def mismatch(self) -> bool:
        return self.expected is not None and self.expected != self.charged


def quote(
    card: CardContext,
    tap: Tap,
    history: list[TransitRecordView],
    config: FareConfig,
    *,
    explain: bool = True,
) -> FareDecision:
    """What this tap costs, from the card's earlier transit records (any order) and the config.

    With `explain=False` the decision is the same but its trail is empty: about twice as fast,
    for bulk re-rating where only a mismatch needs explaining.
    """
    past = sorted(history, key=lambda record: record.tap.when)
    pricing = _Pricing(card=card, tap=tap, past=past, config=config, explain=explain)
    if tap.mode is Mode.BUS:
        return pricing.board_bus()
    if tap.kind is TapKind.ENTRY:
        return pricing.enter_metro()
    return pricing.exit_metro()


def rerate(
    record: TransitRecordView,
    history: list[TransitRecordView],
    config: FareConfig,
    *,
    card: CardContext,
) -> RerateResult:
    """Re-compute an uploaded record's fare from the records before it; flag, never alter.

    The decision carries its rule trail only when it disagrees with what the card paid.
    """
    earlier = [other for other in history if other.tap.when < record.tap.when]
    try:
        decision = quote(card, record.tap, earlier, config, explain=False)
    except FareNotConfigured as error:
        return RerateResult(
            charged=record.amount,
            expected=None,
            not_rated_zh=error.message_zh,
            not_rated_en=error.message_en,
        )
    if decision.amount != record.amount:
        decision = quote(card, record.tap, earlier, config)
    return RerateResult(charged=record.amount, expected=decision.amount, decision=decision)


@dataclass
class _Chain:
    start: datetime
    transfer: bool = False
    free: bool = False


@dataclass
class _Pricing:
    """One quote in progress: collects the rule trail and flags as it decides."""

    card: CardContext
    tap: Tap
    past: list[TransitRecordView]
    config: FareConfig
    explain: bool = True
    trail: list[RuleStep] = field(default_factory=list)
    flags: set[FareFlag] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.local = self._treated_as_local()

    # -- the three kinds of tap -------------------------------------------------------------

    def board_bus(self) -> FareDecision:
        base, region = self._bus_base_fare()
        chain = self._chain()
        discount = self._discount(Mode.BUS, region)
        deduction, fare = self._price(base, chain, discount)
        return self._decision(
            amount=fare,
            base=base,
            deduction=deduction,
            discount=discount,
            fare=fare,
            chain_start=chain.start,
        )

    def enter_metro(self) -> FareDecision:
        metro = self._metro()
        chain = self._chain()
        penalty = credited = 0
        unfinished = self._open_entry()
        if unfinished is not None:
            penalty = self._fine_unfinished_entry(metro, "上次进站未出站", "previous entry was never closed")
            credited = self._credit_deposit(unfinished, penalty)
        if chain.transfer:
            self._step(
                "transfer.joined_at_entry",
                lambda: (
                    "换乘进站：换乘优惠在出站时计算",
                    "entered as a transfer: the transfer deduction is applied at exit",
                ),
            )
        deposit = self._entry_deposit(metro, chain)
        self._step(
            "metro.entry_pending",
            lambda: (
                f"进站：票价在出站时计算，预扣 {format_fen(deposit)} 元",
                f"entry: the fare is charged at exit; deposit {format_fen(deposit)} CNY",
            ),
            FareFlag.PENDING_ENTRY,
        )
        pending = PendingEntry(
            station=self.tap.station or "",
            when=self.tap.when,
            chain_start=chain.start,
            deposit=deposit,
        )
        return self._decision(
            amount=penalty - credited + deposit,
            base=0,
            deduction=0,
            discount=NO_FARE_AT_ENTRY,
            fare=0,
            chain_start=chain.start,
            penalty=penalty,
            pending_entry=pending,
            deposit_credited=credited,
        )

    def exit_metro(self) -> FareDecision:
        metro = self._metro()
        entry = unfinished = self._open_entry()
        penalty = 0
        if entry is not None and metro.stayed_too_long(entry.tap.when, self.tap.when):
            # The entry counts as one never closed (fined here, at the card's next gate tap, as
            # this exit closes the card's trip) and this exit as one without an entry.
            minutes = metro.max_stay.minutes
            self.flags.add(FareFlag.STAY_EXCEEDED)
            penalty = self._fine_unfinished_entry(
                metro, f"进站已超过最长停留时间 {minutes} 分钟，按进站未出站处理",
                f"the entry is older than the maximum stay of {minutes} min: it counts as never closed")
            entry = None
        if entry is None:
            base = metro.max_fare
            chain = _Chain(start=self.tap.when)
            distance = None
            self._step(
                "metro.no_entry_max_fare",
                lambda: (
                    f"无进站记录，按最高票价 {format_fen(base)} 元计",
                    f"no entry on the card: maximum fare {format_fen(base)} CNY",
                ),
                FareFlag.MAX_FARE_NO_ENTRY,
            )
        else:
            start = self._station(metro, entry.tap.station)
            end = self._station(metro, self.tap.station)
            distance = metro.network.distance_m(start.code, end.code)
            base = metro.fare.base_fare(distance)
            self._step(
                "metro.distance_fare",
                lambda: (
                    f"{start.zh} 至 {end.zh} 里程 {distance / 1000:.1f} 公里，基础票价 {format_fen(base)} 元",
                    f"{start.en} to {end.en}: {distance / 1000:.1f} km, base fare {format_fen(base)} CNY",
                ),
            )
            # The entry joined (or started) the chain; its decision is carried in chain_start.
            chain = _Chain(start=entry.chain_start, transfer=entry.chain_start < entry.tap.when)
        discount = self._discount(Mode.METRO, None)
        deduction, fare = self._price(base, chain, discount)
        credited = self._credit_deposit(unfinished, fare + penalty) if unfinished is not None else 0
        return self._decision(
            amount=fare + penalty - credited,
            base=base,
            deduction=deduction,
            discount=discount,
            fare=fare,
            chain_start=chain.start,
            penalty=penalty,
            distance=distance,
            deposit_credited=credited,
        )

    # -- the steps ----------------------------------------------------------------------------

    def _fine_unfinished_entry(self, metro: Metro, why_zh: str, why_en: str) -> Fen:
        penalty = metro.unfinished_entry_penalty
        self._step(
            "metro.unfinished_entry_penalty",
            lambda: (
                f"{why_zh}，罚 {format_fen(penalty)} 元",
                f"{why_en}: penalty {format_fen(penalty)} CNY",
            ),
            FareFlag.UNFINISHED_ENTRY_PENALTY,
        )
        return penalty

    def _credit_deposit(self, entry: TransitRecordView, charge: Fen) -> Fen:
        """The open entry's deposit, an advance on what closing it costs (never more than that)."""
        credited = min(entry.deposit, charge)
        if credited:
            self._step(
                "metro.deposit_credited",
                lambda: (
                    f"抵扣进站预扣 {format_fen(credited)} 元",
                    f"entry deposit credited: {format_fen(credited)} CNY",
                ),
            )
        return credited

    def _entry_deposit(self, metro: Metro, chain: _Chain) -> Fen:
        """The configured deposit, but never more than the least this card can pay at the exit.

        A card cannot be credited offline: a deposit above the fare would keep fen the rider
        does not owe. The least exit fare is the cheapest band's, priced for this card (its
        discount, and the transfer deduction the exit will give when the entry joined a chain).
        """
        at_exit = _Chain(start=chain.start, transfer=chain.start < self.tap.when)
        _, least_fare = self._fare_of(metro.fare.bands[0].fare, at_exit, self._discount(Mode.METRO, None))
        return min(metro.gates.entry_debit, least_fare)

    def _fare_of(self, base: Fen, chain: _Chain, discount: Discount) -> tuple[Fen, Fen]:
        """(transfer deduction, fare), deciding only: `_price` is the same with the trail."""
        if chain.free:
            deduction = base
        elif chain.transfer and (rule := self._transfer_rule()) is not None:
            deduction = min(rule.deduction, base)
        else:
            deduction = 0
        return deduction, apply_rate(base - deduction, discount.numerator, discount.denominator)

    def _price(self, base: Fen, chain: _Chain, discount: Discount) -> tuple[Fen, Fen]:
        """(transfer deduction, fare): base → transfer deduction (floor 0) → discount → round half up."""
        deduction, fare = self._fare_of(base, chain, discount)
        if chain.free:
            self._step(
                "transfer.free_group",
                lambda: (
                    "站内换乘免费",
                    "free transfer inside the station",
                ),
                FareFlag.FREE_TRANSFER,
                FareFlag.TRANSFER,
            )
        elif chain.transfer and (rule := self._transfer_rule()) is not None:
            self._step(
                "transfer.deduction",
                lambda: (
                    f"{rule.window_minutes} 分钟内换乘，先减 {format_fen(deduction)} 元",
                    f"transfer within {rule.window_minutes} min: {format_fen(deduction)} CNY off the base fare first",
                ),
                FareFlag.TRANSFER,
            )
        self._step(discount.rule_id, lambda: (discount.zh, discount.en))
        self._step(
            "rounding.half_up",
            lambda: (
                f"({format_fen(base)} − {format_fen(deduction)}) × {discount.numerator}/{discount.denominator}，四舍五入到分 = {format_fen(fare)} 元",
                f"({format_fen(base)} − {format_fen(deduction)}) × {discount.numerator}/{discount.denominator}, rounded half up to the fen = {format_fen(fare)} CNY",
            ),
        )
        return deduction, fare

    def _treated_as_local(self) -> bool:
        if self.card.issuer_city == self.tap.city:
            return True
        cluster = self.config.cluster_of(self.tap.city)
        if (
            cluster is not None
            and self.card.issuer_city in cluster.cities
            and self.card.kind in cluster.card_kinds
        ):
            self._step(
                f"same_city.{cluster.id}",
                lambda: (
                    f"{cluster.zh}同城待遇：按本地卡优惠",
                    f"{cluster.en} same-city treatment: local card discounts apply",
                ),
                FareFlag.SAME_CITY,
            )
            return True
        return False

    def _bus_base_fare(self) -> tuple[Fen, str | None]:
        city = self.config.cities.get(self.tap.city)
        if city is None:
            fare = self.config.other_cities.bus_fare
            self._step(
                "other_city.full_fare",
                lambda: (
                    f"外地城市按当地规则，默认全价 {format_fen(fare)} 元",
                    f"another city's local rules: full fare {format_fen(fare)} CNY by default",
                ),
                FareFlag.OTHER_CITY_DEFAULT,
            )
            return fare, None
        line = self.config.bus_line(self.tap.city, self.tap.line)
        if line is not None:
            self._step(
                "bus.line_fare",
                lambda: (
                    f"{line.zh or f'{line.line} 路'}票价 {format_fen(line.fare)} 元",
                    f"{line.en or f'line {line.line}'} fare {format_fen(line.fare)} CNY",
                ),
            )
            return line.fare, line.region
        region = self.tap.region or city.default_region
        if region not in city.regions:
            raise UnknownRegion(city=self.tap.city, region=region)
        self._step(
            "bus.city_fare",
            lambda: (
                f"{city.zh}公交票价 {format_fen(city.bus_fare)} 元",
                f"{city.en} bus fare {format_fen(city.bus_fare)} CNY",
            ),
        )
        return city.bus_fare, region

    def _metro(self) -> Metro:
        metro = self.config.metros.get(self.tap.city)
        if metro is None:
            raise FareNotConfigured(city=self.tap.city, mode=Mode.METRO.value, mode_zh="地铁")
        self._station(metro, self.tap.station)
        return metro

    def _station(self, metro: Metro, code: str | None) -> Station:
        if not metro.network.has_station(code):
            raise UnknownStation(city=self.tap.city, station=code)
        return metro.network.station(code or "")

    def _discount(self, mode: Mode, region: str | None) -> Discount:
        """The lowest matching rate alone: discounts never stack (student 50% replaces 95%)."""
        matching = [
            row
            for row in self.config.discounts_in(self.tap.city)
            if row.matches(
                mode=mode,
                region=region,
                local=self.local,
                kind=self.card.kind,
                rider=self.card.rider,
            )
        ]
        if not matching:
            return FULL_FARE
        best = min(matching, key=lambda row: row.rate.fraction)
        return Discount(
            best.rate.numerator, best.rate.denominator, f"discount.{best.id}", best.zh, best.en
        )

    def _transfer_rule(self) -> TransferRule | None:
        rule = self.config.transfers.get(self.tap.city)
        if rule is None or (rule.applies_to == "local_cards" and not self.local):
            return None
        return rule

    def _chain(self) -> _Chain:
        """Does this tap continue the chain of the card's last tap, or start a new one?"""
        new_chain = _Chain(start=self.tap.when)
        rule = self._transfer_rule()
        if rule is None or not self.past:
            return new_chain
        last = self.past[-1]
        if last.entry_open:
            # A metro trip never closed was never paid for: nothing to transfer from.
            return new_chain
        elapsed = self.tap.when - last.chain_start
        if last.tap.city != self.tap.city or not (
            timedelta(0) <= elapsed <= timedelta(minutes=rule.window_minutes)
        ):
            return new_chain
        if self._in_free_group(rule, last.tap):
            return _Chain(start=last.chain_start, transfer=True, free=True)
        if (last.tap.mode, self.tap.mode) in rule.pairs:
            return _Chain(start=last.chain_start, transfer=True)
        return new_chain

    def _in_free_group(self, rule: TransferRule, previous: Tap) -> bool:
        if previous.mode is not Mode.BUS or self.tap.mode is not Mode.BUS:
            return False
        return any(
            previous.line in group.lines
            and self.tap.line in group.lines
            and (not group.same_station or _same_known_station(previous, self.tap))
            for group in rule.free_groups
        )

    def _open_entry(self) -> TransitRecordView | None:
        """The card's last metro record in this city, if it is an entry still open."""
        for record in reversed(self.past):
            if record.tap.mode is Mode.METRO and record.tap.city == self.tap.city:
                return record if record.tap.kind is TapKind.ENTRY and record.entry_open else None
        return None

    # -- bookkeeping --------------------------------------------------------------------------

    def _step(self, rule_id: str, text: Callable[[], tuple[str, str]], *flags: FareFlag) -> None:
        """Record a step; its (zh, en) text is only formatted when the caller wants the trail."""
        self.flags.update(flags)
        if self.explain:
            self.trail.append(RuleStep(rule_id, *text()))

    def _decision(
        self,
        *,
        amount: Fen,
        base: Fen,
        deduction: Fen,
        discount: Discount,
        fare: Fen,
        chain_start: datetime,
        penalty: Fen = 0,
        distance: int | None = None,
        pending_entry: PendingEntry | None = None,
        deposit_credited: Fen = 0,
    ) -> FareDecision:
        return FareDecision(
            amount=amount,
            base_fare=base,
            transfer_deduction=deduction,
            discount=discount,
            fare=fare,
            chain_start=chain_start,
            config_version=self.config.version,
            penalty=penalty,
            deposit_credited=deposit_credited,
            distance_m=distance,
            pending_entry=pending_entry,
            flags=frozenset(self.flags),
            trail=tuple(self.trail),
        )


def _same_known_station(first: Tap, second: Tap) -> bool:
    return first.station is not None and first.station == second.station


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidInput(
            reason_zh="刷卡时间必须带时区", reason_en="tap times must be timezone-aware"
        )


def _require_city_code(code: str, what: str) -> None:
    if len(code) != 4 or not code.isdigit():
        raise InvalidInput(
            reason_zh=f"{what} 应为 4 位城市代码：{code!r}",
            reason_en=f"{what} must be a 4-digit city code: {code!r}",
        )


# --- bulk re-rating -------------------------------------------------------------------------
#
# Clearing re-rates every tap of a day, a million of them, and most taps repeat a situation
# already priced: the same card kind at the same place after the same kind of earlier tap.
# `FareMemo` remembers `quote`'s answer per situation; a situation seen for the first time is
# priced by `quote` itself, so `quote` stays the one place where a fare is decided.

# (city, mode, tap kind, line, station, region): where a tap was made, without its time.
Place = tuple[str, Mode, TapKind, str | None, str | None, str | None]
# An earlier tap as the bulk path keeps it: (place, when, chain start, entry left open, deposit).
Seen = tuple[Place, datetime, datetime, bool, Fen]
_PLACE, _WHEN, _CHAIN_START, _OPEN, _DEPOSIT = range(5)


@dataclass(frozen=True, slots=True)
class QuickDecision:
    """What a replay needs of a FareDecision: the amount, the chain start, the entry left open."""

    amount: Fen
    chain_start: datetime
    entry_open: bool
    deposit: Fen


@dataclass(frozen=True, slots=True)
class NotRated:
    """`quote` raised FareNotConfigured for this situation (e.g. no metro fares for the city)."""

    error: FareNotConfigured


def place_of(tap: Tap) -> Place:
    return (tap.city, tap.mode, tap.kind, tap.line, tap.station, tap.region)


def seen_of(record: TransitRecordView) -> Seen:
    return (place_of(record.tap), record.tap.when, record.chain_start, record.entry_open, record.deposit)


class FareMemo:
    """`quote`, remembered per situation, for re-rating in bulk (one memo per FareConfig).

    What `quote` reads, and so the situation: the card (issuer city, kind, rider); the tap's
    place; of the earlier records only the last one (its place, whether it left an entry open,
    and whether this tap is at, inside or outside the transfer window of its chain) and the last
    metro record in the tap's city when it is an open entry (its station, deposit, whether it
    joined a chain, whether its chain started at this very second, and for an exit whether the
    entry is older than the maximum stay). The chain start `quote`
    answers is always one of three times: the tap's own, the last record's chain start, or the
    open entry's; the memo remembers which. A decision whose chain start is none of those is
    not remembered (it would be a change in `quote` this memo does not know about).
    """

    def __init__(self, config: FareConfig) -> None:
        self.config = config
        self._answers: dict[tuple, QuickDecision | NotRated | tuple] = {}
        self._windows: dict[str, timedelta | None] = {}

    def quote(self, card: CardContext, tap: Tap, history: list[TransitRecordView]) -> QuickDecision:
        """The same as `quote(card, tap, history, config)` in the fields a replay needs;
        raises FareNotConfigured as `quote` does."""
        past = sorted((seen_of(record) for record in history), key=lambda seen: seen[_WHEN])
        answer = self.decide(card, place_of(tap), tap.when, past)
        if isinstance(answer, NotRated):
            raise answer.error
        return answer

    def decide(self, card: CardContext, place: Place, when: datetime, past: list[Seen]) -> QuickDecision | NotRated:
        """`past`: the card's earlier records, in time order (as `quote` sorts them)."""
        last = past[-1] if past else None
        entry = None if place[2] is TapKind.BOARD else self._open_entry(place, past)  # a bus fare never reads it
        key = (card, place, self._last_key(place, when, last),
               None if entry is None else (entry[_PLACE][4], entry[_CHAIN_START] < entry[_WHEN], entry[_DEPOSIT],
                                           entry[_CHAIN_START] == when,
                                           place[2] is TapKind.EXIT and self._stale(place[0], entry[_WHEN], when)))
        known = self._answers.get(key)
        if known is None:
            return self._learn(key, card, place, when, past, last, entry)
        if type(known) is tuple:  # (amount, which chain start, entry open, deposit)
            amount, source, entry_open, deposit = known
            start = when if source == 0 else last[_CHAIN_START] if source == 1 else entry[_CHAIN_START]
            return QuickDecision(amount, start, entry_open, deposit)
        return known

    def explain(self, card: CardContext, place: Place, when: datetime, past: list[Seen]) -> FareDecision:
        """`quote` with its rule trail (for the few taps whose fare disagrees)."""
        return quote(card, tap_at(place, when), _views(past), self.config)

    def _last_key(self, place: Place, when: datetime, last: Seen | None) -> tuple | None:
        if last is None:
            return None
        window = self._window(place[0])
        if window is None:
            category = 0  # no transfers in this city: the time since the chain began is never read
        else:
            elapsed = when - last[_CHAIN_START]
            category = 0 if not elapsed else 1 if timedelta(0) < elapsed <= window else 2
        return last[_PLACE], last[_OPEN], category

    def _stale(self, city: str, entered: datetime, when: datetime) -> bool:
        metro = self.config.metros.get(city)
        return metro is not None and metro.stayed_too_long(entered, when)

    def _window(self, city: str) -> timedelta | None:
        if city not in self._windows:
            rule = self.config.transfers.get(city)
            self._windows[city] = None if rule is None else timedelta(minutes=rule.window_minutes)
        return self._windows[city]

    @staticmethod
    def _open_entry(place: Place, past: list[Seen]) -> Seen | None:
        city = place[0]
        for seen in reversed(past):
            where = seen[_PLACE]
            if where[1] is Mode.METRO and where[0] == city:
                return seen if where[2] is TapKind.ENTRY and seen[_OPEN] else None
        return None

    def _learn(self, key, card, place, when, past, last, entry) -> QuickDecision | NotRated:
        try:
            decision = quote(card, tap_at(place, when), _views(past), self.config, explain=False)
        except FareNotConfigured as error:
            self._answers[key] = answer = NotRated(error)
            return answer
        pending = decision.pending_entry
        answer = QuickDecision(decision.amount, decision.chain_start, pending is not None,
                               pending.deposit if pending else 0)
        exit_ = place[2] is TapKind.EXIT  # an exit continues its entry's chain, other taps the last record's
        other = entry if exit_ else last
        if decision.chain_start == when:
            source = 0
        elif other is not None and decision.chain_start == other[_CHAIN_START]:
            source = 2 if exit_ else 1
        else:
            return answer
        self._answers[key] = (answer.amount, source, answer.entry_open, answer.deposit)
        return answer


def tap_at(place: Place, when: datetime) -> Tap:
    city, mode, kind, line, station, region = place
    return Tap(when=when, city=city, mode=mode, kind=kind, line=line, station=station, region=region)


def _views(past: list[Seen]) -> list[TransitRecordView]:
    """The records `quote` takes (it never reads an earlier record's amount)."""
    return [TransitRecordView(tap=tap_at(seen[_PLACE], seen[_WHEN]), amount=0, chain_start=seen[_CHAIN_START],
                              entry_open=seen[_OPEN], deposit=seen[_DEPOSIT]) for seen in past]
