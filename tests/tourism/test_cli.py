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
