"""The transit API end to end: a phone or terminal relays the platform's APDUs to an emulated
card (server-driven contact), orders are idempotent, the deny list is a versioned delta."""

from __future__ import annotations

import pytest

from tests.transit.conftest import assert_books_balance
from yikatong.chip.emulator import TearPoint
from yikatong.chip.protocols import CardRemoved
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
API = "/api/v1/transit"


@pytest.fixture
def holder(login):
    return login(Role.HOLDER, username="holder-nfc", channel="online_app", person_id=501)


@pytest.fixture
def counter(login):
    return login(Role.CITIZEN_OUTLET, username="smk-counter", channel="citizen_outlet", branch_code="SMK-DIRECT-01")


def relay(client, headers, step: dict, reader, *, remove_after: int | None = None) -> dict:
    """Be the phone: send each command to the card, post its answer, until the contact ends."""
    relayed = 0
    while step["state"] == "awaiting_card":
        relayed += 1
        try:
            if remove_after is not None and relayed > remove_after:
                raise CardRemoved()
            body = {"response": reader.transmit(bytes.fromhex(step["command"])).hex().upper()}
        except CardRemoved:
            body = {"card_removed": True}
        response = client.post(f"{API}/contacts/{step['contact_id']}/answers", json=body, headers=headers)
        assert response.status_code == 200, response.text
        step = response.json()
    return step


def start(client, headers, **body) -> dict:
    response = client.post(f"{API}/contacts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def order(client, headers, asn, amount=5000, key="app-order-0001", payer=None):
    return client.post(f"{API}/top-ups", json={"asn": asn, "amount": amount,
                                               "payer": payer or {"kind": "e_wallet", "reference": "wx-1"}},
                       headers={**headers, "Idempotency-Key": key})


def test_nfc_top_up_through_the_relay(client, holder, make_card, wallet_platform):
    card = make_card()
    reading = relay(client, holder, start(client, holder, purpose="read"), card.present())
    assert reading["state"] == "done" and reading["result"]["balance"] == 0
    assert reading["result"]["asn"] == card.asn and reading["exchanges"] >= 8
    paid = order(client, holder, card.asn)
    assert paid.status_code == 201 and paid.json()["state"] == "paid"
    again = order(client, holder, card.asn)  # the app retries: same order, no second payment
    assert again.json()["order_no"] == paid.json()["order_no"]
    written = relay(client, holder, start(client, holder, purpose="top_up", order_no=paid.json()["order_no"]),
                    card.present())
    assert written["state"] == "done", written
    assert written["result"]["state"] == "done" and written["result"]["tac_verified"]
    assert card.balance == 5000 and card.online_counter == 1
    status = client.get(f"{API}/top-ups/{paid.json()['order_no']}", headers=holder).json()
    assert status["state"] == "done" and status["tac"] == written["result"]["tac"]
    # the finished contact keeps answering the same outcome
    finished = client.post(f"{API}/contacts/{written['contact_id']}/answers", json={"response": "9000"},
                           headers=holder).json()
    assert finished["state"] == "done" and finished["result"] == written["result"]
    assert_books_balance(wallet_platform)


@pytest.mark.parametrize("point", list(TearPoint))
def test_the_phone_loses_the_card_during_the_write_and_the_counter_finishes_it(client, holder, counter, make_card,
                                                                             wallet_platform, point):
    card = make_card()
    relay(client, holder, start(client, holder, purpose="read"), card.present())
    order_no = order(client, holder, card.asn).json()["order_no"]
    card.chip.arm_tear(point, ins=0x52)
    failed = relay(client, holder, start(client, holder, purpose="top_up", order_no=order_no), card.present())
    assert failed["state"] == "failed" and failed["problem"]["code"] == "transit_top_up_not_written"
    assert client.get(f"{API}/top-ups/{order_no}", headers=holder).json()["state"] == "pending_write"
    at_counter = relay(client, counter, start(client, counter, purpose="read"), card.present())
    [settled] = at_counter["result"]["settled"]
    assert settled == {"order_no": order_no,
                       "outcome": "confirmed" if point is TearPoint.AFTER_COMMIT else "written"}
    assert at_counter["result"]["balance"] == 5000 and card.balance == 5000 and card.online_counter == 1
    assert client.get(f"{API}/top-ups/{order_no}", headers=holder).json()["state"] == "done"
    assert_books_balance(wallet_platform)


def test_the_phone_walks_away_mid_read(client, holder, make_card):
    card = make_card()
    gone = relay(client, holder, start(client, holder, purpose="read"), card.present(), remove_after=3)
    assert gone["state"] == "failed" and gone["problem"]["code"] == "card_removed"


def test_orders_are_checked_before_money_moves(client, holder, counter, login, make_card):
    card = make_card()
    assert order(client, holder, card.asn).json()["code"] == "transit_card_reading_required"
    relay(client, holder, start(client, holder, purpose="read"), card.present())
    too_much = order(client, holder, card.asn, amount=60000, key="too-much-0001")
    assert too_much.status_code == 422 and too_much.json()["code"] == "transit_top_up_amount"
    cash = order(client, holder, card.asn, key="cash-by-phone", payer={"kind": "cash", "reference": "x"})
    assert cash.status_code == 422 and cash.json()["code"] == "transit_payer_not_accepted"
    no_key = client.post(f"{API}/top-ups", json={"asn": card.asn, "amount": 100,
                                                 "payer": {"kind": "e_wallet", "reference": "x"}}, headers=holder)
    assert no_key.status_code == 422
    ok = order(client, holder, card.asn, key="first-order-1")
    reused = order(client, holder, card.asn, amount=6000, key="first-order-1")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    other_holder = login(Role.HOLDER, username="someone-else", channel="online_app", person_id=777)
    assert client.get(f"{API}/top-ups/{ok.json()['order_no']}", headers=other_holder).status_code == 404
    assert client.get(f"{API}/top-ups/{ok.json()['order_no']}", headers=counter).status_code == 200
    bank = login(Role.BANK, username="icbc-teller", channel="bank_branch", bank_code="ICBC")
    assert order(client, bank, card.asn, key="bank-order-1").status_code == 403


def test_refund_through_the_relay_and_the_deny_list_delta(client, counter, login, make_card, wallet_platform):
    operator = login(Role.TRANSIT_OPERATOR, username="cz-metro", channel="partner_api")
    assert client.get(f"{API}/deny-list", headers=operator).json() == {
        "version": 0, "added": [], "removed": [], "complete": True}
    card = make_card()
    relay(client, counter, start(client, counter, purpose="read"), card.present())
    order_no = order(client, counter, card.asn, amount=3000, key="counter-cash-1",
                     payer={"kind": "cash", "reference": "till"}).json()["order_no"]
    relay(client, counter, start(client, counter, purpose="top_up", order_no=order_no), card.present())
    refunded = relay(client, counter, start(client, counter, purpose="refund", card_no=card.card_no), card.present())
    assert refunded["state"] == "done", refunded
    assert (refunded["result"]["amount"], refunded["result"]["state"]) == (3000, "refunded")
    delta = client.get(f"{API}/deny-list?since=0", headers=operator).json()
    assert delta == {"version": 1, "added": [card.asn], "removed": [], "complete": True}
    assert client.get(f"{API}/deny-list?since=1", headers=operator).json()["added"] == []
    other = make_card()
    damaged = client.post(f"{API}/wallet-refunds/unreadable", json={"card_no": other.card_no}, headers=counter)
    assert damaged.status_code == 201 and damaged.json()["state"] == "waiting"
    assert client.get(f"{API}/deny-list?since=1", headers=operator).json() == {
        "version": 2, "added": [other.asn], "removed": [], "complete": False}
    status = client.get(f"{API}/wallet-refunds/{card.card_no}", headers=counter).json()
    assert (status["state"], status["amount"], status["outlet_code"]) == ("refunded", 3000, "SMK-DIRECT-01")
    holder = login(Role.HOLDER, username="not-the-owner", channel="online_app", person_id=999)
    assert client.get(f"{API}/wallet-refunds/{card.card_no}", headers=holder).status_code == 404
    assert_books_balance(wallet_platform)


def test_refund_contacts_only_at_direct_outlet_counters(client, login, make_card):
    partner = login(Role.CITIZEN_OUTLET, username="partner", channel="citizen_outlet", branch_code="SMK-PARTNER-01")
    card = make_card()
    refused = client.post(f"{API}/contacts", json={"purpose": "refund", "card_no": card.card_no}, headers=partner)
    assert refused.status_code == 403 and refused.json()["code"] == "transit_refund_not_at_direct_outlet"
    assert "直营网点" in refused.json()["title"]
    holder = login(Role.HOLDER, username="holder-h", channel="online_app", person_id=3)
    assert client.get(f"{API}/deny-list", headers=holder).status_code == 403


def test_a_device_that_answers_nonsense_or_out_of_turn(client, holder, login):
    step = start(client, holder, purpose="read")
    bad = client.post(f"{API}/contacts/{step['contact_id']}/answers", json={"response": "zz"}, headers=holder)
    assert bad.status_code == 422 and bad.json()["code"] == "transit_device_response_invalid"
    stranger = client.post(f"{API}/contacts/{step['contact_id']}/answers", json={"response": "9000"},
                           headers=login(Role.HOLDER, username="stranger", channel="online_app", person_id=8))
    assert stranger.status_code == 404 and stranger.json()["code"] == "transit_contact_not_found"
    wrong = client.post(f"{API}/contacts/{step['contact_id']}/answers", json={"response": "6A82"},
                        headers=holder).json()
    assert wrong["state"] == "failed" and wrong["problem"]["code"] == "card_refused"
    assert client.get(f"{API}/contacts/{step['contact_id']}", headers=holder).json()["state"] == "failed"


def test_on_postgresql_a_read_contact_starts_on_the_event_loop(platform, client, counter):
    """A read contact's start on PostgreSQL (contact.start_read_on_loop): its first round and
    its one INSERT on the event loop's own connection, nothing through the engine's pool; the
    row stored is the one the thread's unit of work stores (version counter included: the
    contact goes on through the ORM) and the step answered is the thread's."""
    from sqlalchemy import event, select

    from yikatong.core.actor import Actor, Channel
    from yikatong.transit import contact
    from yikatong.transit.models import CardContactSession
    from yikatong.transit.schemas import ContactOut

    if platform.engine.dialect.name != "postgresql":
        pytest.skip("the event loop's connections are PostgreSQL's")
    seen: list[str] = []

    def statement(_conn, _cursor, sql, *_rest):
        seen.append(" ".join(sql.split()[:3]))

    event.listen(platform.engine, "before_cursor_execute", statement)
    try:
        on_loop = start(client, counter, purpose="read")
    finally:
        event.remove(platform.engine, "before_cursor_execute", statement)
    assert seen == []
    table = CardContactSession.__table__
    with platform.uow(read_only=True) as uow:
        stored = uow.connection().execute(
            select(table).where(table.c.id == on_loop["contact_id"])).one()
    assert stored.actor_user == "smk-counter" and stored.version == 1
    on_thread = contact.start_contact(platform=platform, purpose="read", actor=Actor(
        user_id=stored.actor_user, role=Role(stored.actor_role),
        channel=Channel(stored.actor_channel), branch_code=stored.actor_branch,
        person_id=stored.actor_person, account_id=stored.actor_user_id))
    assert {**on_loop, "contact_id": None} == {
        **ContactOut.model_validate(on_thread).model_dump(mode="json"), "contact_id": None}
    with platform.uow(read_only=True) as uow:
        rows = {row.id: row._asdict() for row in uow.connection().execute(select(table)).all()}
    columns = [column.key for column in table.c if column.key not in ("id", "updated_at")]
    assert ([rows[on_loop["contact_id"]][key] for key in columns]
            == [rows[on_thread.contact_id][key] for key in columns])
    # and it goes on through the ORM (its version counter) as any contact does
    answered = client.post(f"{API}/contacts/{on_loop['contact_id']}/answers",
                           json={"card_removed": True}, headers=counter)
    assert answered.status_code == 200 and answered.json()["state"] == "failed", answered.text
