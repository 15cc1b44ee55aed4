"""`ykt card show / loss / unblock / reminders` against a test database."""

from __future__ import annotations

import pytest

from tests.cards.conftest import card_in_use, read
from tests.conftest import cli_on

pytestmark = pytest.mark.db


@pytest.fixture
def ykt(platform, monkeypatch):
    return cli_on(platform, monkeypatch)


def test_loss_show_unblock_through_the_cli(ykt, platform):
    card_no = card_in_use(platform, person_id=1)
    lost = ykt("card", "loss", card_no, "--kind", "temporary", "--channel", "phone_12333")
    assert lost.exit_code == 0, lost.output
    assert "临时挂失" in lost.output and read(platform, card_no).hr_status == "temporary_loss"
    shown = ykt("card", "show", card_no)
    assert "temporary_loss" in shown.output and "phone_12333" in shown.output
    # Changzhou time, not UTC: the test clock stands at 01:30 UTC, 09:30 in Changzhou, and a
    # temporary loss lasts 7 days.
    assert "2026-03-02 09:30" in shown.output and "2026-03-09 09:30" in shown.output
    assert "UTC" not in shown.output
    wrong = ykt("card", "unblock", card_no, "--channel", "online_portal")
    assert wrong.exit_code == 1 and "unblock_channel_mismatch" in wrong.output
    assert "12333" in wrong.output
    done = ykt("card", "unblock", card_no, "--channel", "phone_12333")
    assert done.exit_code == 0 and read(platform, card_no).hr_status == "normal"


def test_transit_loss_and_unknown_card_are_refused(ykt, platform):
    card_no = card_in_use(platform, person_id=2)
    refused = ykt("card", "loss", card_no, "--kind", "formal", "--channel", "online_app",
                  "--function", "transit")
    assert refused.exit_code == 1 and "transit_cannot_be_lost" in refused.output
    assert ykt("card", "show", "NOSUCH001").exit_code == 1


def test_reminders(ykt, platform, clock):
    from datetime import timedelta

    from yikatong.core.clock import local_date

    today = local_date(clock.now())
    issued = (today + timedelta(days=31)).replace(year=today.year - 10)
    due = card_in_use(platform, person_id=3, issue_date=issued)
    later = card_in_use(platform, person_id=4)
    listed = ykt("card", "reminders")
    assert listed.exit_code == 0 and due in listed.output and later not in listed.output
