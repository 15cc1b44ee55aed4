"""`ykt benefits certification …` on the test's platform: remind, lapse, status."""

from __future__ import annotations

from datetime import date

import pytest

from tests.benefits.pension_helpers import at, pensioner
from tests.conftest import cli_on
from tests.ecard.conftest import chip_directory, quick_argon2  # noqa: F401 - autouse fixtures

pytestmark = pytest.mark.db


def test_remind_lapse_and_status_from_the_command_line(platform, clock, monkeypatch):
    run = cli_on(platform, monkeypatch)
    due = pensioner(platform, since=date(2025, 3, 20))      # runs out 2026-03-20: 18 days ahead
    lapsed = pensioner(platform, since=date(2025, 1, 10))   # ran out 2026-01-10
    result = run("benefits", "certification", "remind")
    assert result.exit_code == 0 and "reminded: 1" in result.output, result.output
    result = run("benefits", "certification", "lapse")
    assert result.exit_code == 0 and "suspended: 1" in result.output, result.output
    result = run("benefits", "certification", "status", lapsed.person_id)
    assert result.exit_code == 0 and "suspended from 2026-02" in result.output, result.output
    clock.set(at(date(2026, 3, 25)))  # a few days on: the first one lapses too
    assert "suspended: 1" in run("benefits", "certification", "lapse").output
    assert "暂停发放" in run("benefits", "certification", "status", due.person_id).output
    result = run("benefits", "certification", "status", 10**9)
    assert result.exit_code == 1 and "not_a_pensioner" in result.output
