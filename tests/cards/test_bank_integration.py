"""The lifecycle against whatever BankGateway the platform registers (the banks issue's
reference bank once it is installed, else the cards package's SimpleBankGateway)."""

from __future__ import annotations

import pytest

from tests.cards.conftest import act, bank_branch, card_in_use, holder, read
from yikatong.cards import service
from yikatong.core.settings import Settings
from yikatong.platform import Platform

pytestmark = pytest.mark.db


@pytest.fixture
def registered(database_url, clock, tmp_path):
    plat = Platform(Settings(database_url=database_url,
                             key_store_path=str(tmp_path / "keystore.json")), clock=clock)
    yield plat
    plat.engine.dispose()


def test_financial_copy_follows_the_registered_bank(registered):
    card_no = card_in_use(registered, person_id=1, bank_code="ICBC")
    assert read(registered, card_no).financial_status == "active"
    lost = act(registered, service.report_loss, actor=bank_branch(), card_no=card_no,
               kind="formal")
    assert (lost.card.hr_status, lost.card.financial_status) == ("formal_loss", "formal_loss")
    back = act(registered, service.unblock, actor=bank_branch("ICBC", "ICBC-CZ-009"),
               card_no=card_no)
    assert (back.card.hr_status, back.card.financial_status) == ("normal", "active")
    online = act(registered, service.report_loss, actor=holder(1), card_no=card_no,
                 kind="formal")
    assert (online.card.hr_status, online.card.financial_status) == ("formal_loss", "active")
