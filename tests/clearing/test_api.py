"""The clearing API per role: a transit operator uploads its terminal batches (idempotent, 409 on
other content), bad files are 4xx problem+json that change nothing, the admin reads reports."""

from __future__ import annotations

import pytest

from tests.clearing.conftest import DAY, at
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@pytest.fixture
def czbus(login):
    return {**login(Role.TRANSIT_OPERATOR, branch_code="CZBUS"), **TEXT}


@pytest.fixture
def admin(login):
    return login(Role.ADMIN)


@pytest.fixture
def line(world):
    return world.bus()


@pytest.fixture
def tapped(world, line):
    """A bus batch file of two taps of our cards."""
    for minute in range(2):
        world.tap(line, world.card(), at(8, minute))
    return world.terminal_file(line)


def test_an_operator_uploads_its_batch_once_and_a_replay_answers_the_same(client, czbus, tapped):
    first = client.post("/api/v1/clearing/batches", content=tapped, headers=czbus)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["records"], body["cleared"], body["rejected"]) == (2, 2, 0)
    assert body["postings"][0]["credit"] == "clearing:payable:3040:CZBUS"
    again = client.post("/api/v1/clearing/batches", content=tapped, headers=czbus)
    assert again.status_code == 200 and again.json() == body
    read = client.get(f"/api/v1/clearing/batches/{body['file_id']}", headers=czbus)
    assert read.status_code == 200 and read.json() == body


def test_the_same_batch_id_with_other_content_is_409(client, czbus, tapped, line, world):
    file_id = client.post("/api/v1/clearing/batches", content=tapped, headers=czbus).json()["file_id"]
    world.tap(line, world.card(), at(9))
    other = world.terminal_file(line, file_id=file_id)
    counts = world.counts()
    response = client.post("/api/v1/clearing/batches", content=other, headers=czbus)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "clearing_batch_conflict"
    assert world.counts() == counts


@pytest.mark.parametrize(("damage", "code"), [
    (lambda c: c.replace("|board|", "|fly|", 1), "clearing_batch_malformed"),
    (lambda c: c.replace("|social_security|", "|social_security |", 1), "clearing_batch_malformed"),
    (lambda c: c.rsplit("|", 1)[0] + "|" + "0" * 64 + "\n", "clearing_batch_digest"),
    (lambda c: c.replace("\nT|2|", "\nT|3|"), "clearing_batch_counts"),
    (lambda c: c.replace("|2\nR|1|", "|1\nR|1|"), "clearing_batch_counts"),
])
def test_a_bad_upload_is_refused_and_changes_nothing(client, czbus, tapped, world, damage, code):
    damaged = damage(tapped)
    assert damaged != tapped
    counts = world.counts()
    response = client.post("/api/v1/clearing/batches", content=damaged, headers=czbus)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["title"] and problem["title_en"]
    assert world.counts() == counts


def test_only_transit_operators_and_the_admin_upload(client, login, tapped):
    holder = {**login(Role.HOLDER), **TEXT}
    assert client.post("/api/v1/clearing/batches", content=tapped, headers=holder).status_code == 403
    metro = {**login(Role.TRANSIT_OPERATOR, branch_code="CZMETRO"), **TEXT}
    response = client.post("/api/v1/clearing/batches", content=tapped, headers=metro)
    assert response.status_code == 403 and response.json()["code"] == "clearing_not_your_operator"
    assert client.post("/api/v1/clearing/batches", content=tapped).status_code == 401


def test_an_operator_sees_only_its_own_batches(client, czbus, login, tapped):
    file_id = client.post("/api/v1/clearing/batches", content=tapped, headers=czbus).json()["file_id"]
    metro = login(Role.TRANSIT_OPERATOR, branch_code="CZMETRO")
    assert client.get(f"/api/v1/clearing/batches/{file_id}", headers=metro).status_code == 404


def test_the_admin_reads_settlement_exceptions_shadow_balances_and_disagreements(client, czbus, admin, world):
    card = world.card(balance=3000)
    line = world.bus()
    world.tap(line, card, at(8))
    (record,) = world.records(line)
    world.upload_loads()
    forged = record._replace(seq=2, counter=record.counter + 1, amount=1)
    content = world.terminal_file(line, [record, forged])
    assert client.post("/api/v1/clearing/batches", content=content, headers=czbus).status_code == 201
    review = client.post(f"/api/v1/clearing/days/{DAY}/review", headers=admin)
    assert review.status_code == 200 and review.json()["taps"] == 1 and review.json()["open_gaps"] == 0
    settlement = client.get(f"/api/v1/clearing/settlement/{DAY}", headers=admin).json()
    assert settlement["total_amount"] == record.amount and settlement["total_count"] == 1
    assert settlement["reconciled"] and settlement["loads_amount"] == 3000
    exceptions = client.get("/api/v1/clearing/exceptions", headers=admin).json()
    assert [e["reason"] for e in exceptions] == ["forged_tac"] and exceptions[0]["zh"]
    shadow = client.get(f"/api/v1/clearing/cards/{card.asn}/shadow-balance", headers=admin).json()
    assert shadow == {"asn": card.asn, "shadow_balance": card.balance}
    assert client.get("/api/v1/clearing/disagreements", headers=admin).json() == []
    assert client.get("/api/v1/clearing/exceptions", headers=czbus).status_code == 403
