"""Through the API: the card centre registers operators, venues and gates (idempotent, 409 on
a clash, venue staff only for their own venues), puts a pass on sale with a fixed split; a city
pass paid from the wallet at the Dinosaur Park's terminal waits for clearing at the first
settlement and is split at the next (moving the other venues' shares between the clearing
payables), the same settlement again answers 200 and changes nothing, the venue reads its
statement, and the refund at the desk reverses the split before the wallet is credited."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.tourism.conftest import person_born
from tests.tourism.test_gate_flow import API, KEYS, issue_card, purchase_json, venues  # noqa: F401
from tests.transit.conftest import COUNTER, assert_books_balance
from yikatong.chip.psam import Psam
from yikatong.clearing.rules import operator_payable
from yikatong.core.actor import Role
from yikatong.ledger import service as ledger
from yikatong.tourism.terminal import VenueTerminal
from yikatong.transit import service as transit

pytestmark = pytest.mark.db
TOURISM = "/api/v1/tourism"


def _payable(platform, operator: str) -> int:
    from yikatong.ledger.errors import AccountNotFound

    with platform.uow() as uow:
        try:
            return ledger.balance(uow=uow, code=operator_payable("3040", operator))
        except AccountNotFound:
            return 0


def test_the_card_centre_registers_operators_venues_and_gates(venues, client, login):  # noqa: F811
    admin = login(Role.ADMIN)
    dino = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    tmh = login(Role.VENUE_OPERATOR, branch_code="CZ-TMH")
    operator = {"code": "CZ-HONGMEI", "name_zh": "红梅公园管理处", "name_en": "Hongmei Park office"}
    assert client.post(f"{TOURISM}/operators", json=operator, headers=admin).status_code == 201
    assert client.post(f"{TOURISM}/operators", json=operator, headers=admin).status_code == 201  # the same again
    clash = client.post(f"{TOURISM}/operators", json={**operator, "name_en": "other"}, headers=admin)
    assert clash.status_code == 409 and clash.json()["code"] == "tourism_operator_exists"
    assert "已存在" in clash.json()["title"] and "exists" in clash.json()["title_en"]
    assert client.post(f"{TOURISM}/operators", json=operator, headers=dino).status_code == 403
    assert "CZ-HONGMEI" in [o["code"] for o in client.get(f"{TOURISM}/operators").json()]

    venue = {"code": "HONGMEI", "operator_code": "CZ-HONGMEI", "name_zh": "红梅公园", "name_en": "Hongmei Park",
             "kind": "scenic", "level": "4A", "district": "天宁区", "source": "test",
             "free_categories": [{"code": "senior", "min_age": 70}]}
    made = client.post(f"{TOURISM}/venues", json=venue, headers=admin)
    assert made.status_code == 201 and made.json()["operator_code"] == "CZ-HONGMEI", made.text
    moved = client.post(f"{TOURISM}/venues", json={**venue, "operator_code": "CZ-DINO"}, headers=admin)
    assert moved.status_code == 409 and moved.json()["code"] == "tourism_venue_exists"
    orphan = client.post(f"{TOURISM}/venues", json={**venue, "code": "NOWHERE", "operator_code": "CZ-NONE"},
                         headers=admin)
    assert orphan.status_code == 404 and orphan.json()["code"] == "tourism_operator_not_found"
    assert client.post(f"{TOURISM}/venues", json=venue, headers=dino).status_code == 403

    gate = {"gate_id": "DINO-G7", "name_zh": "东门 7 号闸", "name_en": "east gate 7", "mode": "offline"}
    assert client.post(f"{TOURISM}/venues/DINO/gates", json=gate, headers=dino).status_code == 201
    assert client.post(f"{TOURISM}/venues/DINO/gates", json=gate, headers=tmh).status_code == 404
    taken = client.post(f"{TOURISM}/venues/TMH/gates", json=gate, headers=admin)
    assert taken.status_code == 409 and taken.json()["code"] == "tourism_gate_taken"
    assert [g["gate_id"] for g in client.get(f"{TOURISM}/venues/DINO/gates", headers=dino).json()] == ["DINO-G7"]

    split = {"basis": "fixed", "shares_bp": {"DINO": 6000, "HONGMEI": 4000}}
    product = {"code": "DINO-HM", "kind": "pass", "name_zh": "双园卡", "name_en": "two parks", "price_fen": 9_900,
               "venue_codes": ["DINO", "HONGMEI"], "split": split}
    sold = client.post(f"{TOURISM}/products", json=product, headers=dino)
    assert sold.status_code == 201 and sold.json()["split"] == split, sold.text
    wrong = {**product, "code": "DINO-HM2", "split": {"basis": "fixed", "shares_bp": {"DINO": 6000, "HONGMEI": 3000}}}
    refused = client.post(f"{TOURISM}/products", json=wrong, headers=dino)
    assert refused.status_code == 422 and refused.json()["code"] == "tourism_product_invalid"


def test_a_wallet_paid_city_pass_waits_for_clearing_then_is_split_and_a_refund_reverses_it(
        venues, client, login, clock):  # noqa: F811
    admin = login(Role.ADMIN)
    dino = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    visitor = issue_card(venues, person_born(venues, date(1990, 1, 1)), balance=30_000)
    transit.contact(platform=venues, reader=visitor.present(), actor=COUNTER)
    till = VenueTerminal(Psam(KEYS, terminal_id=bytes.fromhex("304070000003")), venue_code="DINO",
                         operator_code="CZ-DINO")
    paid = till.charge(visitor.present(), 22_800, clock.now())
    assert paid.paid
    sale = {"product_code": "CZ-PASS-228", "purchase": purchase_json(paid.record)}
    assert client.post(f"{API}/DINO/wallet-sales", json=sale, headers=dino).status_code == 404  # CZSMK's product
    sold = client.post(f"{API}/DINO/wallet-sales", json=sale, headers=admin)  # the card centre's desk
    assert sold.status_code == 201, sold.text
    pass_no = sold.json()["ticket_no"]

    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    admin, dino = login(Role.ADMIN), login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")  # a day later: new tokens
    period = {"period_from": "2026-03-02", "period_to": "2026-03-02"}
    assert client.post(f"{TOURISM}/settlements", json=period, headers=dino).status_code == 403
    first = client.post(f"{TOURISM}/settlements", json=period, headers=admin)
    assert first.status_code == 201, first.text
    assert (first.json()["tickets"], first.json()["waiting"], first.json()["waiting_fen"]) == (0, 1, 22_800)
    again = client.post(f"{TOURISM}/settlements", json=period, headers=admin)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]

    cleared = client.post(f"{API}/DINO/purchases", content=till.clearing_file("DINO-T3-0001", created=clock.now()),
                          headers={**dino, "Content-Type": "text/plain"})
    assert cleared.status_code == 201, cleared.text
    assert _payable(venues, "CZDINO") == 22_800
    clock.set(datetime(2026, 3, 4, 1, 0, tzinfo=UTC))
    admin, dino = login(Role.ADMIN), login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    split = client.post(f"{TOURISM}/settlements", json={"period_from": "2026-03-03", "period_to": "2026-03-03"},
                        headers=admin)
    assert split.status_code == 201, split.text
    body = split.json()
    assert (body["tickets"], body["waiting"], body["moved_fen"]) == (1, 0, 17_100)
    assert body["venues"] == {"CZMUS": 5_700, "DINO": 5_700, "TMH": 5_700, "YANC": 5_700}
    assert [_payable(venues, o) for o in ("CZDINO", "CZTMH", "CZYANC", "CZMUSEUM")] == [5_700] * 4
    assert len(client.get(f"{TOURISM}/settlements", headers=admin).json()) == 2
    statement = client.get(f"{TOURISM}/venues/TMH/statement", params={"period_from": "2026-03-01",
                                                                     "period_to": "2026-03-31"}, headers=admin)
    assert statement.status_code == 200 and statement.json()["pass_shares_fen"] == 5_700
    other = client.get(f"{TOURISM}/venues/TMH/statement", params={"period_from": "2026-03-01",
                                                                 "period_to": "2026-03-31"}, headers=dino)
    assert other.status_code == 404

    refund = client.post(f"{TOURISM}/tickets/{pass_no}/refund", json={"reason": "不去了"}, headers=admin)
    assert refund.status_code == 200 and refund.json()["status"] == "refunded", refund.text
    assert [_payable(venues, o) for o in ("CZDINO", "CZTMH", "CZYANC", "CZMUSEUM")] == [0] * 4
    statement = client.get(f"{TOURISM}/venues/TMH/statement", params={"period_from": "2026-03-01",
                                                                     "period_to": "2026-03-31"}, headers=admin)
    assert (statement.json()["pass_reversals_fen"], statement.json()["revenue_fen"]) == (5_700, 0)
    assert_books_balance(venues)
    reading = transit.contact(platform=venues, reader=visitor.present(), actor=COUNTER)
    assert reading.balance == 30_000  # the wallet has its 228 CNY back
