"""Each application of a card has its own validity: the debit's 10 years end the financial
function alone (seed 二.2); the social-security and transit applications run on."""

from __future__ import annotations

from datetime import date

import pytest

from tests.transit.conftest import approved_applicant, produced_card
from yikatong.cards import validity
from yikatong.cards.rules import financial_valid_until
from yikatong.chip import terminal
from yikatong.chip.bankcard import read_debit

pytestmark = pytest.mark.db


@pytest.mark.no_db
def test_the_debit_ends_after_ten_years_and_the_other_applications_run_on():
    issued = date(2021, 12, 3)
    valid = validity.validity_for(issued)
    assert valid.debit == financial_valid_until(issued) == date(2031, 12, 2)
    config = validity.default_config()
    assert valid.social_security == date(2021 + config.social_security.years, 12, 2)
    assert valid.transit == date(2021 + config.transit.years, 12, 2)
    assert valid.social_security > valid.debit and valid.transit > valid.debit


def test_a_produced_card_carries_each_applications_own_validity(platform):
    """Personalisation wrote the debit's end into EF05 and file 0015 too, so validators (and
    hospitals reading EF05) refused the card from the day its bank function ended."""
    approved_applicant(platform, born=date(1990, 1, 1))
    reader = produced_card(platform)
    issued = platform.clock.now().date()
    expected = validity.validity_for(issued)

    assert read_debit(reader).expiry == expected.debit
    assert terminal.read_social_security(reader).expiry_date == expected.social_security
    assert terminal.read_purse(reader).public.expiry == expected.transit
