"""Small builders for fare tests: taps by minute offset, and riding a sequence of taps."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from importlib import resources

from yikatong.core.clock import CST
from yikatong.transit.fare_config import (
    DEFAULT_CONFIG_FILE,
    FareConfig,
    default_fare_config,
    fare_config_from_dict,
)
from yikatong.transit.fare_rules import (
    CardContext,
    CardKind,
    FareDecision,
    Mode,
    RiderCategory,
    Tap,
    TapKind,
    TransitRecordView,
    quote,
)

CHANGZHOU, SUZHOU, WUXI, NANJING, BEIJING = "3040", "3050", "3020", "3010", "1000"
PACKAGED_TEXT = (
    resources.files("yikatong.transit").joinpath("config", DEFAULT_CONFIG_FILE).read_text("utf-8")
)
PACKAGED = tomllib.loads(PACKAGED_TEXT)
MORNING = datetime(2026, 3, 2, 8, 0, tzinfo=CST)


def card(
    issuer: str = CHANGZHOU,
    kind: CardKind = CardKind.SOCIAL_SECURITY,
    rider: RiderCategory = RiderCategory.ADULT,
) -> CardContext:
    return CardContext(issuer_city=issuer, kind=kind, rider=rider)


OUR_CARD = card()


def bus(
    minute: float,
    line: str | None = "1",
    *,
    city: str = CHANGZHOU,
    station: str | None = None,
    region: str | None = None,
) -> Tap:
    return Tap(
        MORNING + timedelta(minutes=minute), city, Mode.BUS, TapKind.BOARD, line, station, region
    )


def entry(minute: float, station: str, *, city: str = CHANGZHOU) -> Tap:
    return Tap(
        MORNING + timedelta(minutes=minute), city, Mode.METRO, TapKind.ENTRY, station=station
    )


def exit_(minute: float, station: str, *, city: str = CHANGZHOU) -> Tap:
    return Tap(MORNING + timedelta(minutes=minute), city, Mode.METRO, TapKind.EXIT, station=station)


def ride(
    who: CardContext, taps: Sequence[Tap], config: FareConfig | None = None
) -> tuple[list[FareDecision], list[TransitRecordView]]:
    """Tap the card at each validator in turn, writing each decision's record to its history."""
    config = config or default_fare_config()
    history: list[TransitRecordView] = []
    decisions = []
    for tap in taps:
        decision = quote(who, tap, history, config)
        decisions.append(decision)
        history.append(decision.record(tap))
    return decisions, history


def edited(change: Callable[[dict], None]) -> dict:
    """A copy of the packaged configuration's data with one edit applied."""
    data = copy.deepcopy(PACKAGED)
    change(data)
    return data


def config_with(change: Callable[[dict], None]) -> FareConfig:
    """The packaged configuration with one edit, as a city would make it."""
    return fare_config_from_dict(edited(change))


def row(rows: list[dict], **key: str) -> dict:
    """The one table row whose fields match `key` (e.g. line="S101")."""
    (found,) = [r for r in rows if all(r.get(k) == v for k, v in key.items())]
    return found
