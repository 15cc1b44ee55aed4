"""Refusals do not leak existence: a record outside the caller's scope answers exactly as a
record that does not exist (same status, same code), on reads and on writes; and the refund
of a transit wallet is refused by one check at both doors."""

from __future__ import annotations

import pytest

from tests.cards.conftest import card_in_use, read, row_counts
from tests.cards.test_api import Logins, register_person

pytestmark = pytest.mark.db

NOBODYS_CARD = "Z00000000"  # well-formed, on file nowhere


@pytest.fixture
def world(platform, clock):
    person_id, ssn = register_person(platform, clock)
    mine = card_in_use(platform, person_id=person_id, bank_code="ICBC")
    other = card_in_use(platform, person_id=person_id + 1000, bank_code="ABC")
    return Logins(platform, person_id=person_id, ssn=ssn, mine=mine, other=other)


def _answer(response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, response.json()["code"]


def _same_as_missing(client, who, method, path_of, body=None):
    """The answer for the existing card outside `who`'s scope, and for a card on file nowhere."""
    theirs = client.request(method, path_of("other"), headers=who, json=body)
    nobodys = client.request(method, path_of("nobody"), headers=who, json=body)
    return _answer(theirs), _answer(nobodys)


CARD_CALLS = [
    ("GET", "/api/v1/cards/{card}", None),
    ("GET", "/api/v1/cards/{card}/blocks", None),
    ("POST", "/api/v1/cards/{card}/loss", {"kind": "formal"}),
    ("POST", "/api/v1/cards/{card}/unblock", {}),
    ("POST", "/api/v1/cards/{card}/financial-activation", {}),
]


@pytest.mark.parametrize(("method", "template", "body"), CARD_CALLS)
def test_another_banks_card_answers_as_a_missing_one(client, world, platform, method, template, body):
    icbc = world["icbc"]  # the login first: it adds rows
    before = row_counts(platform)

    def path_of(which):
        return template.format(card=world["other"] if which == "other" else NOBODYS_CARD)

    theirs, nobodys = _same_as_missing(client, icbc, method, path_of, body)
    assert theirs == nobodys == (404, "card_not_found")
    assert row_counts(platform) == before


@pytest.mark.parametrize(("method", "template", "body"), CARD_CALLS[:4])
def test_another_holders_card_answers_as_a_missing_one(client, world, platform, method, template, body):
    def path_of(which):
        return template.format(card=world["other"] if which == "other" else NOBODYS_CARD)

    theirs, nobodys = _same_as_missing(client, world["holder"], method, path_of, body)
    assert theirs == nobodys == (404, "card_not_found")


def test_a_bank_event_about_another_banks_card_answers_as_for_a_missing_card(client, world, platform):
    other = read(platform, world["other"])
    event = {"event_id": "ICBC-x", "bank_code": "ABC", "card_no": world["other"], "pan": other.pan,
             "type": "formal_loss", "occurred_at": "2026-03-02T02:00:00Z"}
    theirs = client.post("/api/v1/cards/bank-events", headers=world["icbc"], json=event)
    nobodys = client.post("/api/v1/cards/bank-events", headers=world["icbc"],
                          json={**event, "card_no": NOBODYS_CARD})
    assert _answer(theirs) == _answer(nobodys) == (404, "card_not_found")
    assert read(platform, world["other"]).financial_status == other.financial_status


def test_another_banks_accounts_answer_as_missing_ones(client, world, platform):
    other = read(platform, world["other"])
    for method, path, body in (("GET", "/api/v1/banks/ABC/accounts/{pan}", None),
                               ("POST", "/api/v1/banks/ABC/accounts/{pan}/losses", {"kind": "formal_loss"}),
                               ("GET", "/api/v1/banks/ICBC/accounts/{pan}", None)):
        theirs = client.request(method, path.format(pan=other.pan), headers=world["icbc"], json=body)
        nobodys = client.request(method, path.format(pan="6222000000000000000"), headers=world["icbc"],
                                 json=body)
        assert _answer(theirs) == _answer(nobodys), (method, path)
        assert theirs.status_code == 404, (method, path, theirs.text)


def test_another_persons_record_answers_as_a_missing_one(client, world):
    for method, path in (("GET", "/api/v1/people/{id}"), ("GET", "/api/v1/people/{id}/photo"),
                         ("PUT", "/api/v1/people/{id}/photo")):
        headers = {**world["holder"], "Content-Type": "image/jpeg"}
        theirs = client.request(method, path.format(id=world.person_id + 1), headers=headers,
                                content=b"\xff\xd8 not looked at")
        nobodys = client.request(method, path.format(id=world.person_id + 99_999), headers=headers,
                                 content=b"\xff\xd8 not looked at")
        assert _answer(theirs) == _answer(nobodys) and theirs.status_code == 404, (method, path)


def test_a_wallet_refund_is_recorded_only_at_the_counter_of_a_direct_outlet(client, world, platform):
    """The card core's door (`/cards/{no}/wallet-refund`) checks the channel as the transit
    door does: a direct outlet's self-service machine records nothing."""
    kiosk = world["kiosk"]
    before = row_counts(platform)
    refused = client.post(f"/api/v1/cards/{world['mine']}/wallet-refund", headers=kiosk,
                          json={"refunded_fen": 0})
    assert _answer(refused) == (403, "wallet_refund_not_allowed")
    assert row_counts(platform) == before
    contact = client.post("/api/v1/transit/contacts", headers=kiosk,
                          json={"purpose": "refund", "card_no": world["mine"]})
    assert _answer(contact) == (403, "transit_refund_not_at_direct_outlet")
    counter = client.post(f"/api/v1/cards/{world['mine']}/wallet-refund", headers=world["smk"],
                          json={"refunded_fen": 0})
    assert counter.status_code == 200, counter.text
