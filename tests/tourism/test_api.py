"""The tourism API through the ASGI app: the holder buys a day ticket from the card's bank
account (a double submit buys once), venue staff admit the card online at a gate, record a
wallet sale and read their venue's report; another operator's staff see nothing of it."""

from __future__ import annotations

import pytest

from tests.bills.conftest import balance, payer
from tests.tourism.conftest import load_venues
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
API = "/api/v1/tourism"


@pytest.fixture
def api_platform(bank_platform, client):
    load_venues(bank_platform)
    return bank_platform


def test_buy_admit_report(api_platform, bank, client, login):
    _, person_id, card = payer(api_platform, bank)
    me = login(Role.HOLDER, person_id=person_id)
    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    other = login(Role.VENUE_OPERATOR, branch_code="CZ-TMH")
    assert [v["code"] for v in client.get(f"{API}/venues", headers=me).json()] == ["CZMUS", "DINO", "TMH", "YANC"]
    slots = client.get(f"{API}/products/DINO-DAY/slots", headers=me).json()
    assert slots[0] == {"slot": "09:00-12:00", "capacity": 3000, "sold": 0, "left": 3000}
    body = {"product_code": "DINO-DAY", "slot": "12:00-17:00", "idempotency_key": "dbl", "confirm": True}
    first = client.post(f"{API}/me/tickets", headers=me, json=body)
    second = client.post(f"{API}/me/tickets", headers=me, json=body)
    assert first.status_code == second.status_code == 201, first.text
    assert first.json() == second.json() and balance(bank, card) == 500_000 - 26_000
    ticket_no = first.json()["ticket_no"]
    assert [t["ticket_no"] for t in client.get(f"{API}/me/tickets", headers=me).json()] == [ticket_no]
    gate = {"gate_id": "G1", "entry_id": "G1-0001", "card_no": card.card_no}
    assert client.post(f"{API}/venues/DINO/admit", headers=other, json=gate).status_code == 404
    yes = client.post(f"{API}/venues/DINO/admit", headers=staff, json=gate)
    assert yes.status_code == 200 and yes.json()["admitted"] and yes.json()["reference"] == ticket_no
    no = client.post(f"{API}/venues/DINO/admit", headers=staff, json={**gate, "entry_id": "G1-0002"}).json()
    assert not no["admitted"] and no["reason"] == "ticket_used" and no["reason_zh"] == "门票已使用"
    report = client.get(f"{API}/venues/DINO/report", headers=staff).json()
    assert (report["tickets_sold"], report["sales_bank_fen"], report["sales_wallet_fen"], report["entries"]) == (
        1, 26_000, 0, 1)
    assert client.get(f"{API}/venues/DINO/report", headers=other).status_code == 404
    entries = client.get(f"{API}/venues/DINO/entries", headers=staff).json()
    assert entries[0]["card_tail"] == card.card_no[-4:]
    used = client.post(f"{API}/tickets/{ticket_no}/refund", headers=me, json={"reason": "x"})
    assert used.status_code == 409 and used.json()["code"] == "tourism_not_refundable"


def test_unconfirmed_purchase_is_refused_and_nothing_changes(api_platform, bank, client, login):
    _, person_id, card = payer(api_platform, bank)
    me = login(Role.HOLDER, person_id=person_id)
    answer = client.post(f"{API}/me/tickets", headers=me, json={"product_code": "CZ-PASS-228", "idempotency_key": "k"})
    assert answer.status_code == 422 and answer.json()["code"] == "tourism_confirmation_required"
    assert balance(bank, card) == 500_000 and client.get(f"{API}/me/tickets", headers=me).json() == []
