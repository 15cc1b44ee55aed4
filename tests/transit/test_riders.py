"""Rider categories from the registry to the gate: personalisation derives the category the
fare configuration can know from the registry (age on the issue day), writes it into file 0017,
and a validator reads it back and charges that category's fare."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from tests.transit.conftest import approved_applicant, produced_card
from tests.transit.fare_helpers import config_with, row
from yikatong.chip import terminal
from yikatong.chip.emulator import Card
from yikatong.chip.host import LoadHost
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.core.clock import CST
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.transit.fare_config import FareConfigInvalid
from yikatong.transit.fare_rules import CardKind, RiderCategory
from yikatong.transit.service import rider_category_at_issue
from yikatong.transit.validator import Validator, bus, metro_entry, metro_exit

KEYS = InMemoryKeyStore(seed=b"rider-tests")
ISSUED = date(2026, 3, 1)
MORNING = datetime(2026, 3, 2, 8, 0, tzinfo=CST)
HOLDER = CardPersonalisation(
    card_no="R00000001", card_id_code="320400D156000005C320400300000001", ssn="320402195603010017",
    name="测试老", gender="1", nation="01", birthplace="320402", birth_date=date(1956, 3, 1),
    issue_date=ISSUED, expiry_date=date(2036, 2, 29), region_code="320400",
    pan="6214830600000301", pan_sequence=1, pan_expiry=date(2036, 2, 29), asn="03104000000000000301",
)


def no_seniors(data: dict) -> None:
    """A city whose fares know no 70+ category."""
    del data["riders"]["senior_70"]
    row(data["discounts"], id="cz-free-senior-disabled")["riders"] = ["disabled"]


@pytest.mark.parametrize(("birth", "issued", "rider"), [
    (date(1956, 3, 1), date(2026, 3, 1), "senior_70"),   # 70 on the issue day
    (date(1956, 3, 2), date(2026, 3, 1), "adult"),       # 70 the day after
    (date(1940, 7, 7), date(2026, 3, 1), "senior_70"),
    (date(1956, 2, 29), date(2026, 2, 28), "adult"),     # born on a leap day: 70 on 1 March
    (date(1956, 2, 29), date(2026, 3, 1), "senior_70"),
    (date(2014, 9, 1), date(2026, 3, 1), "adult"),       # a pupil: the registry cannot know
    (date(1990, 1, 1), date(2026, 3, 1), "adult"),
])
def test_the_rider_category_is_the_holders_age_on_the_issue_day(birth, issued, rider):
    assert rider_category_at_issue(birth_date=birth, issue_date=issued) == rider


def test_a_city_without_the_category_keeps_every_holder_adult():
    fares = config_with(no_seniors)
    assert rider_category_at_issue(birth_date=date(1940, 1, 1), issue_date=ISSUED, fares=fares) == "adult"


def test_the_oldest_threshold_reached_wins():
    def seniors_at_60_and_70(data):
        data["riders"]["disabled"]["min_age"] = 60  # an odd city: a category by age 60
        del data["riders"]["disabled"]["proof_kinds"]  # and so not set against a proof
    fares = config_with(seniors_at_60_and_70)
    assert fares.rider_by_age(date(1960, 1, 1), ISSUED) is RiderCategory.DISABLED
    assert fares.rider_by_age(date(1950, 1, 1), ISSUED) is RiderCategory.SENIOR_70


@pytest.mark.parametrize(("change", "message"), [
    (lambda data: data["riders"].pop("student"), "discount cz-metro-student: rider 'student' is not among [riders]"),
    (lambda data: data["riders"].update(adult={**data["riders"]["student"]}), "riders.adult"),
])
def test_riders_named_by_discounts_must_be_declared(change, message):
    with pytest.raises(FareConfigInvalid) as refused:
        config_with(change)
    assert message in refused.value.message_en


# --- on the card and at the gate ------------------------------------------------------------


_terminal = iter(range(1, 1000))


def issued_card(birth: date, serial: int, balance: int = 1000) -> EmulatorReader:
    """A card personalised as production does: the rider derived from the registry."""
    data = replace(HOLDER, birth_date=birth, card_no=f"R{serial:08d}",
                   card_id_code=f"320400D156000005C320400{serial:09d}", asn=f"0310400000{serial:010d}",
                   rider=rider_category_at_issue(birth_date=birth, issue_date=ISSUED))
    reader = EmulatorReader(Card(personalise(data, KEYS)))
    reader.connect()
    terminal.load(reader, LoadHost(KEYS), balance, bytes.fromhex("304010000001"), MORNING - timedelta(hours=1))
    return reader


def validator(place) -> Validator:
    return Validator(Psam(KEYS, terminal_id=bytes.fromhex(f"3040600{next(_terminal):05d}")), place)


def test_a_70_year_olds_card_is_charged_the_senior_fare_at_a_real_validator():
    """Born 1956-03-01, card issued on the 70th birthday: file 0017 says 70+, and the bus and the
    metro charge the packaged 70+ fare (free) where an adult pays 1.20 and 3.80."""
    senior, adult = issued_card(date(1956, 3, 1), 11), issued_card(date(1956, 3, 2), 12)
    line_1 = validator(bus("3040", "1", "CZBUS"))
    for reader, rider, fare in ((senior, RiderCategory.SENIOR_70, 0), (adult, RiderCategory.ADULT, 120)):
        tapped = line_1.tap(reader, MORNING)
        assert tapped.accepted and tapped.amount == fare
        assert (tapped.card_kind, tapped.rider) == (CardKind.SOCIAL_SECURITY, rider)
        assert tapped.decision.discount.rule_id == (
            "discount.cz-free-senior-disabled" if fare == 0 else "discount.cz-bus-changwu")
    gate_in, gate_out = validator(metro_entry("3040", "0101", "CZMETRO")), validator(metro_exit("3040", "0104", "CZMETRO"))
    gate_in.tap(senior, MORNING + timedelta(hours=2))
    out = gate_out.tap(senior, MORNING + timedelta(hours=2, minutes=30))
    assert out.accepted and out.decision.fare == 0 and out.rider is RiderCategory.SENIOR_70
    terminal.select_purse(senior)
    assert terminal.get_balance(senior) == 1000
    assert line_1.drain()[0].amount == 0  # the free ride still leaves a record for clearing


@pytest.mark.db
def test_production_personalises_the_registry_age_into_the_card(platform, monkeypatch, tmp_path):
    """From an application to a gate: a holder born 71 years before the issue day gets a card
    whose 0017 says 70+, and a validator charges the 70+ fare on it."""
    from yikatong.crypto.protocols import KeyStore

    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    approved_applicant(platform, date(1955, 1, 20))
    reader = produced_card(platform)
    keys = platform.get(KeyStore)
    terminal.load(reader, LoadHost(keys), 500, bytes.fromhex("304010000001"), MORNING)
    line_1 = Validator(Psam(keys, terminal_id=bytes.fromhex("304060000999")), bus("3040", "1", "CZBUS"))
    tapped = line_1.tap(reader, MORNING + timedelta(minutes=5))
    assert tapped.accepted and (tapped.card_kind, tapped.rider) == (CardKind.SOCIAL_SECURITY, RiderCategory.SENIOR_70)
    assert tapped.amount == 0 and tapped.balance_after == 500


def test_a_terminal_file_built_from_the_upload_queue_carries_each_taps_card_kind_and_rider():
    """The validator's drained records carry what it read from 0017 at each tap, a torn debit
    recovered at the card's next tap included, so the terminal file needs nothing else."""
    from yikatong.chip.emulator import TearPoint
    from yikatong.clearing import fileformat
    from yikatong.clearing.simulation import record_at, terminal_file

    senior, adult = issued_card(date(1940, 7, 7), 13), issued_card(date(1990, 1, 1), 14)
    line_1 = validator(bus("3040", "1", "CZBUS"))
    line_1.tap(senior, MORNING)
    adult.card.arm_tear(TearPoint.AFTER_COMMIT, ins=0x54)
    assert line_1.tap(adult, MORNING + timedelta(minutes=1)).refusal.reason == "card_removed"
    adult.connect()
    recovered = line_1.tap(adult, MORNING + timedelta(minutes=2))
    assert recovered.recovered and (recovered.card_kind, recovered.rider) == (CardKind.SOCIAL_SECURITY,
                                                                              RiderCategory.ADULT)
    drained = line_1.drain()
    assert [(r.asn, r.card_kind, r.rider, r.recovered) for r in drained] == [
        (HOLDER.asn[:10] + "0000000013", CardKind.SOCIAL_SECURITY, RiderCategory.SENIOR_70, False),
        (HOLDER.asn[:10] + "0000000014", CardKind.SOCIAL_SECURITY, RiderCategory.ADULT, True),
    ]
    content = terminal_file(line_1, [record_at(r, line_1.place) for r in drained],
                            file_id=f"{line_1.terminal_id}-20260302", created=MORNING + timedelta(hours=15))
    parsed = fileformat.parse(content).records
    assert [(r.asn, r.card_kind, r.rider, r.amount, r.recovered) for r in parsed] == [
        (drained[0].asn, "social_security", "senior_70", 0, False),
        (drained[1].asn, "social_security", "adult", 120, True),
    ]
