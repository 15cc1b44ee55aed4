"""Loading the fare configuration: the packaged default, its labels, and clear errors."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.transit.fare_helpers import PACKAGED, PACKAGED_TEXT, edited
from yikatong.core.clock import CST
from yikatong.transit.fare_config import (
    FareConfigInvalid,
    Sourced,
    config_in_force,
    default_fare_config,
    fare_config_from_dict,
    load_fare_config,
    parse_fare_config,
)


def test_packaged_default_is_labelled_as_an_example() -> None:
    config = default_fare_config()
    assert config.status == "example default – not official policy"
    assert config.version and config.effective_from
    assert config.home_city == "3040"


def test_every_figure_carries_its_source_date_and_confidence() -> None:
    config = default_fare_config()
    sourced = [
        config.issuers,
        config.other_cities,
        *config.clusters,
        *config.cities.values(),
        *config.bus_lines,
        *config.discounts,
        *config.transfers.values(),
        *config.riders.values(),
        *(
            part
            for metro in config.metros.values()
            for part in (metro.fare, metro.gates, metro.network, metro.max_stay)
        ),
    ]
    assert all(isinstance(row, Sourced) for row in sourced)
    assert all(row.source and row.checked == date(2026, 11, 26) for row in sourced)
    assert {row.confidence for row in sourced} <= {"H", "M", "L"}


def test_load_from_a_path(tmp_path) -> None:
    path = tmp_path / "fares.toml"
    path.write_text(PACKAGED_TEXT.replace('version = "2026.1-example"', 'version = "local-1"'))
    assert load_fare_config(path).version == "local-1"
    assert load_fare_config() is default_fare_config()


def test_the_maximum_stay_is_marked_as_an_assumption() -> None:
    max_stay = default_fare_config().metros["3040"].max_stay
    assert max_stay.minutes == 240
    assert max_stay.source.startswith("assumption") and max_stay.confidence == "L"


def test_metro_maximum_fare_comes_from_the_longest_trip() -> None:
    metro = default_fare_config().metros["3040"]
    assert metro.network.longest_m == 30_000
    assert metro.max_fare == metro.fare.base_fare(30_000) == 700
    assert metro.unfinished_entry_penalty == metro.max_fare


def _set(path: str, value):
    """An edit that sets one value by a dotted path ('bus_lines.0.fare')."""

    def change(data):
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return change


def _delete(path: str):
    def change(data):
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[leaf]

    return change


BAD_CONFIGS = [
    ("unknown top-level key", _set("colour", "red"), "colour: unknown key"),
    ("unknown key in a row", _set("discounts.0.percent", 60), "discounts.0.percent: unknown key"),
    (
        "negative bus fare",
        _set("bus_lines.0.fare", -1),
        "bus_lines.0.fare: Input should be greater",
    ),
    ("negative city fare", _set("cities.3040.bus_fare", -200), "cities.3040.bus_fare"),
    (
        "fare as a float",
        _set("bus_lines.0.fare", 2.0),
        "bus_lines.0.fare: Input should be a valid integer",
    ),
    (
        "fare as text",
        _set("cities.3040.bus_fare", "200"),
        "cities.3040.bus_fare: Input should be a valid integer",
    ),
    (
        "overlapping distance bands",
        _set("metros.3040.fare.bands.1", {"over_m": 4000, "up_to_m": 10000, "fare": 300}),
        "band 2 (4000–10000 m) overlaps the band before it, which ends at 5000 m",
    ),
    (
        "gap between distance bands",
        _set("metros.3040.fare.bands.1", {"over_m": 6000, "up_to_m": 10000, "fare": 300}),
        "band 2 (6000–10000 m) leaves a gap",
    ),
    (
        "band ending before it starts",
        _set("metros.3040.fare.bands.0", {"over_m": 0, "up_to_m": 0, "fare": 200}),
        "band 1 (0–0 m) ends before it starts",
    ),
    (
        "fare falling with distance",
        _set("metros.3040.fare.bands.2", {"over_m": 10000, "up_to_m": 15000, "fare": 100}),
        "must not fall with distance",
    ),
    (
        "discount above 1",
        _set("discounts.0.rate", {"numerator": 120, "denominator": 100}),
        "discounts.0.rate: rate 120/100 is above 1",
    ),
    (
        "zero denominator",
        _set("discounts.0.rate", {"numerator": 0, "denominator": 0}),
        "discounts.0.rate.denominator",
    ),
    ("confidence not H/M/L", _set("discounts.0.confidence", "X"), "discounts.0.confidence"),
    ("missing source", _delete("discounts.0.source"), "discounts.0.source: Field required"),
    ("bad city code", _set("bus_lines.0.city", "30400"), "bus_lines.0.city"),
    (
        "bus line in an unknown region",
        _set("bus_lines.0.region", "mars"),
        "region 'mars' is not a region of 3040",
    ),
    (
        "discount in an unknown region",
        _set("discounts.0.regions", ["mars"]),
        "discount cz-bus-changwu: region 'mars'",
    ),
    ("bus line listed twice", _set("bus_lines.1.line", "1"), "bus line 1 of 3040 is listed twice"),
    (
        "discount id twice",
        _set("discounts.1.id", "cz-bus-changwu"),
        "discount id cz-bus-changwu is used twice",
    ),
    ("home city not configured", _set("home_city", "3010"), "home_city 3010 is not among [cities]"),
    (
        "metro for an unconfigured city",
        _set("metros.3010", PACKAGED["metros"]["3040"]),
        "metros.3010: city 3010",
    ),
    (
        "cluster city without issuer",
        _set("clusters.0.cities", ["3050", "9999"]),
        "city 9999 is not among [issuers.codes]",
    ),
    (
        "city in two clusters",
        _set("clusters.1.cities", ["3040", "3010"]),
        "city 3040 is in two clusters",
    ),
    (
        "free group names an unknown line",
        _set("transfers.3040.free_groups.0.lines", ["B1", "B9"]),
        "line B9 is not among [[bus_lines]]",
    ),
    (
        "unknown transfer mode",
        _set("transfers.3040.pairs", [["bus", "ferry"]]),
        "transfers.3040.pairs.0.1",
    ),
    (
        "interchange to an unknown station",
        _set("metros.3040.network.interchanges", [["0105", "0299"]]),
        "interchange 0105–0299 names unknown station 0299",
    ),
    (
        "interchange on one line",
        _set("metros.3040.network.interchanges", [["0105", "0101"]]),
        "joins the same line",
    ),
    ("disconnected network", _set("metros.3040.network.interchanges", []), "are not connected"),
    (
        "duplicate station code",
        _set("metros.3040.network.stations.1.code", "0101"),
        "duplicate station codes: ['0101']",
    ),
    (
        "station on an undeclared line",
        _set("metros.3040.network.stations.0.line", "9"),
        "undeclared line '9'",
    ),
    (
        "deposit above the cheapest fare",
        _set("metros.3040.gates.entry_debit", 250),
        "entry_debit 250 exceeds the cheapest fare 200",
    ),
    (
        "penalty below the deposit it is credited against",
        lambda data: data["metros"]["3040"]["gates"].update(entry_debit=150, unfinished_entry_penalty=100),
        "gates.unfinished_entry_penalty 100 is below gates.entry_debit 150",
    ),
    ("maximum stay of no time", _set("metros.3040.max_stay.minutes", 0), "metros.3040.max_stay.minutes"),
    (
        "maximum fare below the longest trip",
        _set("metros.3040.gates.max_fare", 600),
        "gates.max_fare 600 is below the fare of the longest trip 700",
    ),
    ("region default missing", _set("cities.3040.default_region", "mars"), "default_region 'mars'"),
]


@pytest.mark.parametrize(
    ("change", "message"), [row[1:] for row in BAD_CONFIGS], ids=[row[0] for row in BAD_CONFIGS]
)
def test_invalid_configuration_is_refused_clearly(change, message: str) -> None:
    with pytest.raises(FareConfigInvalid) as raised:
        fare_config_from_dict(edited(change), origin="fares-test.toml")
    error = raised.value
    assert error.code == "transit_fare_config_invalid"
    assert message in error.message_en, error.message_en
    assert "fares-test.toml" in error.message_zh and message in error.message_zh


def test_every_problem_is_listed_at_once() -> None:
    def two_mistakes(data):
        data["bus_lines"][0]["fare"] = -1
        data["colour"] = "red"

    with pytest.raises(FareConfigInvalid) as raised:
        fare_config_from_dict(edited(two_mistakes))
    assert "bus_lines.0.fare" in raised.value.message_en and "colour" in raised.value.message_en


def test_toml_syntax_error_names_the_file(tmp_path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('version = "1"\nbus_fare = = 200\n')
    with pytest.raises(FareConfigInvalid) as raised:
        load_fare_config(path)
    assert "not valid TOML" in raised.value.message_en and str(path) in raised.value.message_en


def test_loaded_configuration_cannot_be_changed_in_place() -> None:
    config = default_fare_config()
    with pytest.raises(ValueError, match="frozen"):
        config.cities["3040"].bus_fare = 1  # type: ignore[misc]


def test_config_in_force_by_changzhou_date() -> None:
    current = default_fare_config()
    newer = parse_fare_config(
        PACKAGED_TEXT.replace("effective_from = 2026-01-01", "effective_from = 2027-01-01").replace(
            'version = "2026.1-example"', 'version = "2027.1-example"'
        )
    )
    # 2026-12-31 16:30 UTC is already 2027-01-01 in Changzhou.
    new_year = datetime(2027, 1, 1, 0, 30, tzinfo=CST)
    assert config_in_force([current, newer], new_year).version == "2027.1-example"
    assert (
        config_in_force([current, newer], new_year - timedelta(hours=1)).version == "2026.1-example"
    )
    with pytest.raises(FareConfigInvalid):
        config_in_force([newer], new_year - timedelta(days=1))
