"""`ykt tourism …` on the test's platform: reference venues loaded (again: nothing more),
listed with their products, a day ticket bought and then in the entitlements and the report,
refunded from the command line; an unknown venue is a refusal with its code."""

from __future__ import annotations

from datetime import date

import pytest

from tests.bills.conftest import payer
from tests.conftest import cli_on
from tests.tourism.conftest import act, holder
from yikatong.tourism import service

pytestmark = pytest.mark.db


def test_tourism_from_the_command_line(bank_platform, bank, monkeypatch):
    run = cli_on(bank_platform, monkeypatch)
    loaded = run("tourism", "load")
    assert loaded.exit_code == 0 and "13 added" in loaded.output, loaded.output
    assert "0 added" in run("tourism", "load").output
    assert "中华恐龙园" in run("tourism", "venues").output
    assert "CZ-PASS-228" in run("tourism", "products").output
    _, person_id, _ = payer(bank_platform, bank)
    ticket = act(bank_platform, service.sell, actor=holder(person_id), product_code="TMH-DAY", person_id=person_id,
                 idempotency_key="k", day=date(2026, 3, 2), confirmed=True)
    listed = run("tourism", "entitlements", "TMH", "--day", "2026-03-02")
    assert listed.exit_code == 0 and ticket.ticket_no in listed.output and "1 entitlements" in listed.output
    report = run("tourism", "report", "TMH", "--day", "2026-03-02")
    assert report.exit_code == 0 and "110.00" in report.output, report.output
    refunded = run("tourism", "refund", ticket.ticket_no, "--reason", "weather")
    assert refunded.exit_code == 0 and "refunded" in refunded.output
    unknown = run("tourism", "report", "NOPE")
    assert unknown.exit_code == 1 and "tourism_venue_not_found" in unknown.output


def test_the_card_centre_registers_settles_and_reads_statements(bank_platform, bank, monkeypatch, clock):
    from datetime import UTC, datetime

    run = cli_on(bank_platform, monkeypatch)
    run("tourism", "load")
    made = run("tourism", "add-operator", "CZ-HONGMEI", "--zh", "红梅公园管理处", "--en", "Hongmei Park office")
    assert made.exit_code == 0, made.output
    venue = run("tourism", "add-venue", "HONGMEI", "--operator", "CZ-HONGMEI", "--zh", "红梅公园", "--en",
                "Hongmei Park", "--level", "4A", "--free", "senior:70-", "--free", "child:-5")
    assert venue.exit_code == 0, venue.output
    with bank_platform.uow() as uow:
        assert service.get_venue(uow=uow, venue_code="HONGMEI").free_categories == (
            {"code": "senior", "min_age": 70}, {"code": "child", "max_age": 5})
    assert run("tourism", "add-gate", "HONGMEI", "HM-G1", "--zh", "南门", "--en", "south gate",
               "--mode", "offline").exit_code == 0
    bad = run("tourism", "add-gate", "HONGMEI", "HM-G2", "--zh", "x", "--en", "x", "--mode", "sideways")
    assert bad.exit_code == 1 and "invalid_input" in bad.output
    product = run("tourism", "add-product", "DINO-HM", "--kind", "pass", "--operator", "CZ-DINO", "--zh", "双园卡",
                  "--en", "two parks", "--price", "9900", "--venue", "DINO", "--venue", "HONGMEI",
                  "--share", "DINO=6000", "--share", "HONGMEI=4000")
    assert product.exit_code == 0, product.output
    _, person_id, _ = payer(bank_platform, bank)
    act(bank_platform, service.sell, actor=holder(person_id), product_code="DINO-HM", person_id=person_id,
        idempotency_key="hm", confirmed=True)
    open_period = run("tourism", "settle", "--from", "2026-03-02", "--to", "2026-03-02")
    assert open_period.exit_code == 1 and "tourism_settlement_period_open" in open_period.output
    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    settled = run("tourism", "settle", "--from", "2026-03-01", "--to", "2026-03-02")
    assert settled.exit_code == 0 and "settled" in settled.output and "39.60" in settled.output, settled.output
    again = run("tourism", "settle", "--from", "2026-03-01", "--to", "2026-03-02")
    assert again.exit_code == 0 and "already settled" in again.output
    assert "2026-03-01..2026-03-02" in run("tourism", "settlements").output
    statement = run("tourism", "statement", "HONGMEI", "--from", "2026-03-01", "--to", "2026-03-31")
    assert statement.exit_code == 0 and "39.60" in statement.output, statement.output
