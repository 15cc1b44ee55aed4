"""Two expiry-reminder rounds at once (two `ykt worker` processes, or a worker and a manual run).

On PostgreSQL the second round read "not sent yet" while the first had recorded the text and
not committed (nothing unique on a notice's template and subject), and texted the holder
again: two reminders of one card in two races of three."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import second_while_first_holds
from tests.notices.test_holder_notices import notices
from yikatong.cards import service as cards
from yikatong.notices import jobs

pytestmark = pytest.mark.db


def test_a_second_round_while_the_first_is_uncommitted_texts_nobody_again(platform, card_holder, clock):
    _, handed = card_holder()
    with platform.uow() as uow:
        valid_until = cards.get_card(uow=uow, card_no=handed.card_no).financial_valid_until
    clock.set(datetime(valid_until.year, valid_until.month, 1, 2, 0, tzinfo=UTC))

    def round_of_reminders():
        return jobs.expiry_reminders(platform)

    outcome = second_while_first_holds(platform, "INSERT INTO sms_messages", round_of_reminders,
                                       round_of_reminders)
    assert outcome == {"first": 1, "second": 0}, outcome
    assert len(notices(platform, "expiry_reminder")) == 1
