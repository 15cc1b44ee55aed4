"""The cards API through HTTP: every role boundary, and bad input that changes nothing."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from tests.cards.conftest import ADMIN, PHONE, act, card_in_use, read, row_counts
from tests.conftest import ONLY_ON_POSTGRES
from yikatong.cards import service
from yikatong.core.actor import Actor, Channel, Role
from yikatong.people.rules import mask_ssn
from yikatong.people.samples import make_applicant
from yikatong.people.service import register_applicant

pytestmark = pytest.mark.db

API = "/api/v1/cards"


def register_person(platform, clock) -> tuple[int, str]:
    from yikatong.core.clock import local_date

    actor = Actor(user_id="outlet", role=Role.SS_OUTLET, channel=Channel.OUTLET)
    data = make_applicant(random.Random(7), as_of=local_date(clock.now()))
    with platform.uow() as uow:
        outcome = register_applicant(uow=uow, actor=actor, as_of=local_date(clock.now()), **data)
        uow.commit()
    return outcome.person_id, data["document_number"]


class Logins(dict):
    """Headers per login, made on first use. People at a desk get a bearer token and machines
    (a self-service kiosk, a bank's system) an API key, issued directly rather than through a
    password so no argon2 hashing slows the tests; the kind decides which channels they may
    claim (auth.rules.CHANNELS_BY_CREDENTIAL)."""

    ROLES = {
        "holder": (Role.HOLDER, None, {}), "holder_app": (Role.HOLDER, "online_app", {}),
        "phone": (Role.PHONE_AGENT, None, {}),
        "icbc": (Role.BANK, None, {"bank_code": "ICBC", "branch_code": "ICBC-CZ-001"}),
        "outlet": (Role.SS_OUTLET, None, {"branch_code": "SS-TN-01"}),
        "smk": (Role.CITIZEN_OUTLET, None, {"branch_code": "SMK-DIRECT-01"}),
        "employer": (Role.EMPLOYER_AGENT, None, {}), "admin": (Role.ADMIN, None, {}),
    }
    MACHINES = {
        "kiosk": (Role.CITIZEN_OUTLET, None, {"branch_code": "SMK-DIRECT-01"}),
        "icbc_system": (Role.BANK, None, {"bank_code": "ICBC"}),
        "admin_system": (Role.ADMIN, None, {}),  # the card centre's automation
    }

    def __init__(self, platform, **facts) -> None:
        super().__init__(facts)
        self.platform, self.person_id = platform, facts["person_id"]

    def __missing__(self, name: str) -> dict:
        from yikatong.auth.service import _issue, create_api_key, create_user

        machine = name in self.MACHINES
        role, channel, fields = (self.MACHINES if machine else self.ROLES)[name]
        if role == Role.HOLDER:
            fields = {**fields, "person_id": self.person_id}
        with self.platform.uow() as uow:
            user = create_user(uow=uow, actor=ADMIN, username=f"{name}-user", password=None,
                               role=role, **fields)
            if machine:
                credential = {"X-API-Key": create_api_key(uow=uow, user=user, label="tests", actor=ADMIN)}
            else:
                token = _issue(uow, user, kind="bearer", expires_at=uow.now() + timedelta(hours=8))
                credential = {"Authorization": f"Bearer {token}"}
            uow.commit()
        self[name] = {**credential, **({"X-Ykt-Channel": channel} if channel else {})}
        return self[name]


@pytest.fixture
def world(platform, clock):
    person_id, ssn = register_person(platform, clock)
    mine = card_in_use(platform, person_id=person_id, bank_code="ICBC")
    other = card_in_use(platform, person_id=person_id + 1000, bank_code="ABC")
    return Logins(platform, person_id=person_id, ssn=ssn, mine=mine, other=other)


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["title"] and body["title_en"]
    return body


def test_holder_sees_only_own_card(client, world):
    own = client.get(f"{API}/{world['mine']}", headers=world["holder"])
    assert own.status_code == 200 and own.json()["hr_status"] == "normal"
    assert "*" in own.json()["pan_masked"]
    problem(client.get(f"{API}/{world['other']}", headers=world["holder"]), 404, "card_not_found")
    problem(client.get(f"{API}/{world['other']}/blocks", headers=world["holder"]), 404,
            "card_not_found")
    listed = client.get(API, headers=world["holder"], params={"person_id": 1}).json()
    assert [c["card_no"] for c in listed] == [world["mine"]]


def test_holder_cannot_report_someone_elses_card_lost(client, world, platform):
    headers = world["holder"]
    before = row_counts(platform)
    problem(client.post(f"{API}/{world['other']}/loss", headers=headers,
                        json={"kind": "formal"}), 404, "card_not_found")
    assert row_counts(platform) == before


def test_bank_sees_and_acts_only_on_its_own_cards(client, world, platform):
    assert client.get(f"{API}/{world['mine']}", headers=world["icbc"]).status_code == 200
    problem(client.get(f"{API}/{world['other']}", headers=world["icbc"]), 404, "card_not_found")
    before = row_counts(platform)
    problem(client.post(f"{API}/{world['other']}/loss", headers=world["icbc"],
                        json={"kind": "formal"}), 404, "card_not_found")
    problem(client.post(f"{API}/{world['other']}/unblock", headers=world["icbc"], json={}),
            404, "card_not_found")
    assert row_counts(platform) == before
    listed = client.get(API, headers=world["icbc"], params={"bank_code": "ABC"}).json()
    assert {c["bank_code"] for c in listed} == {"ICBC"}


def test_other_roles_are_refused(client, world):
    problem(client.get(f"{API}/{world['mine']}", headers=world["employer"]), 403, "forbidden")
    problem(client.post(f"{API}/{world['mine']}/freeze", headers=world["outlet"],
                        json={"reason_code": "x"}), 403, "forbidden")
    problem(client.post(f"{API}/{world['mine']}/wallet-refund", headers=world["outlet"],
                        json={"refunded_fen": 100}), 403, "forbidden")
    problem(client.get(f"{API}/{world['mine']}"), 401, "unauthenticated")


def test_operator_list_masks_the_ssn(client, world):
    listed = client.get(API, headers=world["outlet"], params={"person_id": world["person_id"]})
    [item] = listed.json()
    assert item["ssn_masked"] == mask_ssn(world["ssn"]) and world["ssn"] not in listed.text
    assert item["name"]


def test_phone_temporary_loss_then_unblock(client, world):
    lost = client.post(f"{API}/{world['mine']}/loss", headers=world["phone"],
                       json={"kind": "temporary"})
    assert lost.status_code == 200 and lost.json()["card"]["hr_status"] == "temporary_loss"
    assert lost.json()["card"]["hr_loss_ends_at"]
    problem(client.post(f"{API}/{world['mine']}/unblock", headers=world["holder"], json={}),
            409, "unblock_channel_mismatch")
    done = client.post(f"{API}/{world['mine']}/unblock", headers=world["phone"], json={})
    assert done.status_code == 200 and done.json()["card"]["hr_status"] == "normal"


def test_online_formal_loss_refers_the_financial_side(client, world):
    lost = client.post(f"{API}/{world['mine']}/loss", headers=world["holder_app"],
                       json={"kind": "formal", "function": "both"})
    body = lost.json()
    assert body["card"]["hr_status"] == "formal_loss"
    assert body["card"]["financial_status"] == "active"
    assert "95588" in body["referral"]["zh"] and "95588" in body["referral"]["en"]
    history = client.get(f"{API}/{world['mine']}/blocks", headers=world["holder"]).json()
    assert history[0]["channel"] == "online_app" and history[0]["in_force"]


def test_idempotency_key_replays_the_loss(client, world, platform):
    headers = {**world["phone"], "Idempotency-Key": "call-0001"}
    first = client.post(f"{API}/{world['mine']}/loss", headers=headers, json={"kind": "temporary"})
    counts = row_counts(platform)
    again = client.post(f"{API}/{world['mine']}/loss", headers=headers, json={"kind": "temporary"})
    assert again.status_code == 200 and again.json() == first.json()
    assert row_counts(platform) == counts


@ONLY_ON_POSTGRES
def test_a_retry_whose_first_try_committed_meanwhile_gets_the_stored_answer(platform):
    """The first try of an unblock (same key) commits after the retry checked the key: the card
    then refuses the retry (not lost any more), and the retry answers what the first try stored."""
    from yikatong.cards.api import idempotent
    from yikatong.cards.errors import NotLost

    request = {"card_no": "B01260001", "function": None, "expected_version": None}
    not_lost = NotLost(function_zh="人社功能", function_en="HR function")

    def first_try_lands_then_refused():
        with platform.uow() as first:
            first.remember("cards.unblock:phone", "call-0002", request, {"card": "as the first try saw it"})
            first.commit()
        raise not_lost  # what the card's state now says to the retry

    def refused():
        raise not_lost

    with platform.uow() as retry:
        assert idempotent(retry, "cards.unblock:phone", "call-0002", request, first_try_lands_then_refused) == {
            "card": "as the first try saw it"}
        with pytest.raises(NotLost):  # no stored answer under this key: the refusal stands
            idempotent(retry, "cards.unblock:phone", "call-0003", request, refused)


BAD_REQUESTS = [  # who, path, body, status, code
    ("phone", "ZZZZZZZZZ/loss", {"kind": "temporary"}, 404, "card_not_found"),
    ("phone", "bad-no/loss", {"kind": "temporary"}, 422, "invalid_card_no"),
    ("phone", "{mine}/loss", {"kind": "forever"}, 422, "invalid_input"),
    ("phone", "{mine}/loss", {"kind": "temporary", "function": "pension"}, 422, "invalid_input"),
    ("phone", "{mine}/loss", {"kind": "temporary", "function": "transit"}, 422,
     "transit_cannot_be_lost"),
    ("phone", "{mine}/loss", {"kind": "formal"}, 422, "loss_channel_not_allowed"),
    ("phone", "{mine}/unblock", {}, 409, "not_lost"),
    ("admin", "{mine}/unfreeze", {}, 409, "not_frozen"),
    ("outlet", "{mine}/transfer-out", {"destination_province": "江苏省", "rule_note": "x"}, 422,
     "transfer_within_jiangsu"),
    ("outlet", "{mine}/transfer-out", {"destination_province": "Mars", "rule_note": "x"}, 422,
     "invalid_input"),
    ("smk", "{mine}/wallet-refund", {"refunded_fen": -5}, 422, "invalid_input"),
    ("icbc", "{mine}/financial-activation", {}, 409, "financial_already_activated"),
    ("phone", "{mine}/loss", {"kind": "temporary", "expected_version": 1}, 409,
     "concurrent_change"),
]


def test_bad_input_is_a_clear_problem_and_changes_nothing(client, world, platform):
    for who, path, body, status, code in BAD_REQUESTS:
        headers = world[who]
        before = row_counts(platform)
        response = client.post(f"{API}/{path.format(mine=world['mine'])}", headers=headers,
                               json=body)
        problem(response, status, code)
        assert row_counts(platform) == before, (path, body)


def test_bank_events_only_for_own_cards_and_once(client, world, platform):
    view = read(platform, world["mine"])
    event = {"event_id": "ICBC-99", "bank_code": "ICBC", "card_no": world["mine"],
             "pan": view.pan, "type": "temporary_loss", "occurred_at": "2026-03-02T02:00:00Z",
             "channel": "bank_branch"}
    first = client.post(f"{API}/bank-events", headers=world["icbc"], json=event)
    assert first.json()["applied"] and first.json()["card"]["financial_status"] == "temporary_loss"
    assert not client.post(f"{API}/bank-events", headers=world["icbc"], json=event).json()["applied"]
    other = read(platform, world["other"])
    problem(client.post(f"{API}/bank-events", headers=world["icbc"],
                        json={**event, "event_id": "x", "bank_code": "ABC",
                              "card_no": world["other"], "pan": other.pan}), 404, "card_not_found")


def test_wallet_refund_and_reminders(client, world):
    refund = client.post(f"{API}/{world['mine']}/wallet-refund", headers=world["smk"],
                         json={"refunded_fen": 4200, "note": "退值"})
    assert refund.status_code == 200
    reminders = client.get(f"{API}/expiry-reminders", headers=world["outlet"],
                           params={"within_days": 3660})
    assert world["mine"] in {r["card_no"] for r in reminders.json()}
    none_yet = client.get(f"{API}/expiry-reminders", headers=world["outlet"]).json()
    assert world["mine"] not in {r["card_no"] for r in none_yet}


def test_admin_freeze_round_trip(client, world, platform):
    frozen = client.post(f"{API}/{world['mine']}/freeze", headers=world["admin"],
                         json={"reason_code": "court_order", "note": "synthetic"})
    assert frozen.json()["hr_status"] == "frozen"
    act(platform, service.report_loss, actor=PHONE, card_no=world["mine"], kind="temporary")
    assert read(platform, world["mine"]).hr_status == "frozen"
    thawed = client.post(f"{API}/{world['mine']}/unfreeze", headers=world["admin"], json={})
    assert thawed.json()["hr_status"] == "temporary_loss"


def test_the_card_answers_with_what_its_financial_function_allows_on_the_clock_s_day(
        client, world, clock):
    """Capabilities are derived in the card's view, on the day of the platform clock."""
    mine = client.get(f"{API}/{world['mine']}", headers=world["holder"]).json()
    assert mine["financial_capabilities"] == {"card_present": True, "online": True, "credit": True}
    assert [f["function"] for f in mine["functions"]] == ["hr", "financial"]
    assert "pan" not in mine and "chip_serial" not in mine and "application_id" not in mine
    valid_until = date.fromisoformat(mine["financial_valid_until"])
    clock.advance(days=(valid_until - clock.now().date()).days + 1)  # its first day past validity
    # Ten years on the holder's login has long ended: the card centre's automation reads it.
    expired = client.get(f"{API}/{world['mine']}", headers=world["admin_system"]).json()
    assert expired["financial_capabilities"] == {
        "card_present": False, "online": True, "credit": True}
