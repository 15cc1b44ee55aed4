"""The bank's branch API through HTTP: only the card's own bank acts on it; activation,
losses and closures flow to the platform; bad input changes nothing."""

from __future__ import annotations

import pytest

from tests.banking.helpers import cards_view, chip_for, chip_proof, produce
from yikatong.core.actor import Role
from yikatong.crypto.protocols import KeyStore

pytestmark = pytest.mark.db


@pytest.fixture
def staff(bank_platform, login):
    return {"icbc": login(Role.BANK, bank_code="ICBC", branch_code="ICBC-CZ-001",
                          channel="bank_branch"),
            "ccb": login(Role.BANK, bank_code="CCB", branch_code="CCB-CZ-001", channel="bank_branch"),
            "holder": login(Role.HOLDER, person_id=1)}


def register(client, headers, card):
    response = client.post("/api/v1/banks/ICBC/accounts", headers=headers,
                           json={"card_no": card.card_no, "pan": card.pan,
                                 "issue_date": card.issue_date.isoformat()})
    assert response.status_code == 200, response.text
    return response.json()


def test_only_the_cards_own_bank_may_act(bank_platform, client, staff):
    card = produce(bank_platform, person_id=1)
    register(client, staff["icbc"], card)
    url = f"/api/v1/banks/ICBC/accounts/{card.pan}"
    assert client.get(url, headers=staff["icbc"]).json()["status"] == "not_activated"
    assert client.get(url, headers=staff["ccb"]).status_code == 404  # as a missing account
    assert client.get(url, headers=staff["holder"]).status_code == 403
    assert client.get(f"/api/v1/banks/CCB/accounts/{card.pan}", headers=staff["ccb"]).status_code == 404
    assert client.get(url).status_code == 401
    activation = {"id_document_checked": True, "card_checked": True}
    assert client.post(f"/api/v1/banks/CCB/accounts/{card.pan}/activation", headers=staff["ccb"],
                       json=activation).status_code == 404
    assert client.post(f"/api/v1/banks/XYZ/accounts/{card.pan}/activation",
                       headers=staff["icbc"], json=activation).status_code == 404


def test_branch_day(bank_platform, client, staff, clock):
    """Held benefit, activation, a chip purchase, a formal loss and unblock, all at the bank."""
    icbc = staff["icbc"]
    card = produce(bank_platform, person_id=2)
    register(client, icbc, card)
    base = f"/api/v1/banks/ICBC/accounts/{card.pan}"
    held = client.post(f"{base}/credits", headers=icbc,
                       json={"request_id": "pension-1", "amount_fen": 250_000, "payer": "养老金"})
    assert held.status_code == 202 and held.json()["status"] == "held"
    queue = client.get("/api/v1/banks/ICBC/held-payments", headers=icbc).json()
    assert [p["request_id"] for p in queue] == ["pension-1"]

    refused = client.post(f"{base}/activation", headers=icbc,
                          json={"id_document_checked": False, "card_checked": True})
    assert refused.status_code == 422 and refused.json()["code"] == "bank_holder_not_present"
    activated = client.post(f"{base}/activation", headers=icbc,
                            json={"id_document_checked": True, "card_checked": True})
    assert activated.json()["status"] == "active" and activated.json()["balance_fen"] == 250_000
    assert cards_view(bank_platform, card.card_no).financial_status == "active"

    proof = chip_proof(chip_for(card, bank_platform.get(KeyStore)), amount=3_050, when=clock.now())
    chip = {"pan": proof.pan, "psn": proof.psn, "key_version": proof.key_version,
            "cdol1_data": proof.cdol1_data.hex(), "atc": proof.atc, "arqc": proof.arqc.hex()}
    body = {"request_id": "pos-1", "kind": "pos_purchase", "amount_fen": 3_050,
            "merchant": "常州某超市", "chip": chip}
    tampered = {**body, "request_id": "pos-0",
                "chip": {**chip, "arqc": f"{int(chip['arqc'], 16) ^ 1:016x}"}}
    assert client.post(f"{base}/card-transactions", headers=icbc, json=tampered).status_code == 402
    purchase = client.post(f"{base}/card-transactions", headers=icbc, json=body)
    assert purchase.status_code == 200 and purchase.json()["balance_fen"] == 246_950

    usd = client.post(f"{base}/online-payments", headers=icbc,
                      json={"request_id": "usd", "amount_fen": 100, "merchant": "shop",
                            "currency": "USD"})
    assert usd.status_code == 422 and usd.json()["code"] == "bank_currency_not_supported"
    assert client.post(f"{base}/online-payments", headers=icbc,
                       json={"request_id": "zero", "amount_fen": 0, "merchant": "x"}).status_code == 422

    lost = client.post(f"{base}/losses", headers=icbc, json={"kind": "formal_loss"})
    assert lost.json()["status"] == "formal_loss"
    view = cards_view(bank_platform, card.card_no)
    assert (view.hr_status, view.financial_status) == ("formal_loss", "formal_loss")
    blocked = client.post(f"{base}/online-payments", headers=icbc,
                          json={"request_id": "while-lost", "amount_fen": 100, "merchant": "x"})
    assert blocked.status_code == 409 and blocked.json()["code"] == "bank_account_lost"
    assert client.post(f"{base}/unblock", headers=icbc).json()["status"] == "active"
    assert cards_view(bank_platform, card.card_no).hr_status == "normal"
    history = client.get(f"{base}/transactions", headers=icbc).json()
    assert [(t["request_id"], t["status"]) for t in history] == [("pension-1", "posted"),
                                                                 ("pos-1", "posted")]


def test_closure_tasks_are_listed_and_completed_by_the_bank(bank_platform, client, staff, login):
    from tests.banking.helpers import act, teller
    from yikatong.cards import service as cards
    from yikatong.core.actor import Actor, Channel

    icbc = staff["icbc"]
    old = produce(bank_platform, person_id=3)
    act(bank_platform, cards.activate_financial, actor=teller(), card_no=old.card_no)
    act(bank_platform, cards.record_wallet_refund, refunded_fen=0, card_no=old.card_no,
        actor=Actor(user_id="smk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                    branch_code="SMK-DIRECT-01"))
    produce(bank_platform, person_id=3, kind="exchange", predecessor=old.card_no)
    [task] = client.get("/api/v1/banks/ICBC/closure-tasks", headers=icbc).json()
    assert client.get("/api/v1/banks/CCB/closure-tasks", headers=staff["ccb"]).json() == []
    assert client.post(f"/api/v1/banks/CCB/closure-tasks/{task['task_id']}/complete",
                       headers=staff["ccb"]).status_code == 404
    done = client.post(f"/api/v1/banks/ICBC/closure-tasks/{task['task_id']}/complete", headers=icbc)
    assert done.json()["status"] == "completed"
    assert client.get("/api/v1/banks/ICBC/closure-tasks", headers=icbc).json() == []
    assert cards_view(bank_platform, old.card_no).bank_financial_status == "closed"
