"""The holder's bank page: the account as the card's bank tells it through the gateway's
optional read, the payments held for activation, and a bank that does not offer the read."""

from __future__ import annotations

import pytest

from tests.banking.conftest import bank, bank_platform  # noqa: F401 - fixtures
from tests.banking.helpers import SYSTEM, at_bank, produce, register_pan, teller
from yikatong.banking import payments, service
from yikatong.cards.bank_gateway import SimpleBankGateway
from yikatong.cards.protocols import BankGateway
from yikatong.core.actor import Role

pytestmark = pytest.mark.db


@pytest.fixture
def holder_card(request, signed_in):
    """(platform, reference bank, card, client): a card in hand with a pension held for activation."""
    platform, reference = request.getfixturevalue("bank_platform"), request.getfixturevalue("bank")
    card = produce(platform, person_id=41)
    register_pan(reference, card)
    at_bank(reference, payments.credit, actor=SYSTEM, bank_code=card.bank_code, pan=card.pan,
            amount_fen=180_000, request_id="pension-41", payer="常州市社保中心")
    return platform, reference, card, signed_in(Role.HOLDER, person_id=41)


def test_the_payments_held_for_activation_are_shown(holder_card):
    _platform, _bank, card, client = holder_card
    page = client.get("/me/bank")
    assert page.status_code == 200
    assert card.pan not in page.text and card.pan[-4:] in page.text  # the account number masked
    assert '<dd class="balance">¥0.00</dd>' in page.text
    assert "待激活后入账" in page.text and "+¥1,800.00" in page.text and "常州市社保中心" in page.text


def test_after_activation_the_balance_and_recent_payments(holder_card):
    _platform, reference, card, client = holder_card
    at_bank(reference, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            id_document_checked=True, card_checked=True)
    client.cookies.set("ykt_lang", "en")
    page = client.get("/me/bank")
    assert '<dd class="balance">¥1,800.00</dd>' in page.text
    assert "held until the account is activated" not in page.text and "Recent payments" in page.text


def test_a_bank_that_does_not_offer_the_read_is_said_so(holder_card):
    platform, _bank, _card, client = holder_card
    platform.provide(BankGateway, SimpleBankGateway())
    page = client.get("/me/bank")
    assert page.status_code == 200
    assert "bank_read_not_offered" in page.text and "开户银行未开通" in page.text
    assert 'class="balance"' not in page.text
