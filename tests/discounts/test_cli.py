"""`ykt discounts …` on the test's platform: reference campaigns loaded (again: nothing more),
listed, a merchant enrolled, a voucher granted, the report, settlement and a refusal."""

from __future__ import annotations

import pytest

from tests.conftest import cli_on
from tests.discounts.conftest import card_holder

pytestmark = pytest.mark.db


def test_campaigns_from_the_command_line(platform, monkeypatch):
    run = cli_on(platform, monkeypatch)
    person, _ = card_holder(platform)
    loaded = run("discounts", "load")
    assert loaded.exit_code == 0 and "2 campaigns added" in loaded.output, loaded.output
    assert "0 campaigns added" in run("discounts", "load").output
    listed = run("discounts", "list")
    assert "CZ-2026-MJ" in listed.output and "CZ-2026-TOUR" in listed.output
    assert run("discounts", "enrol", "CZ-2026-MJ", "M-CZ-0002").exit_code == 0
    granted = run("discounts", "grant", "CZ-2026-TOUR", "--person-id", person, "--key", "g1")
    assert granted.exit_code == 0 and "30.00" in granted.output, granted.output
    report = run("discounts", "report", "CZ-2026-TOUR")
    assert report.exit_code == 0 and "spent ¥30.00" in report.output, report.output
    early = run("discounts", "settle", "CZ-2026-MJ", "--period", "2026-03")
    assert early.exit_code == 1 and "invalid_input" in early.output
    assert run("discounts", "status", "CZ-2026-MJ", "paused").exit_code == 0
    assert run("discounts", "expire-vouchers").exit_code == 0
    missing = run("discounts", "report", "NOPE")
    assert missing.exit_code == 1 and "campaign_not_found" in missing.output
