"""End to end through the API, one role at a time, and the role boundaries."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.applications.conftest import applicant_json, new_applicant
from tests.applications.test_rules import uscc_check
from yikatong.applications import rules
from yikatong.applications.models import Application, EmployerBatch
from yikatong.applications.protocols import PopulationRegistry
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
API = "/api/v1/applications"


def counts(platform) -> tuple[int, ...]:
    with platform.uow() as uow:
        return tuple(uow.session.execute(select(func.count()).select_from(m)).scalar_one()
                     for m in (Application, EmployerBatch, AuditRecord))


@pytest.fixture
def outlet(login):
    return login(Role.SS_OUTLET, username="counter-1", branch_code="SS-TN-01")


@pytest.fixture
def admin(login):
    return login(Role.ADMIN, username="centre-admin")


def produce(client, admin) -> dict:
    batch = client.post(f"{API}/production/batches", headers=admin)
    assert batch.status_code == 201, batch.text
    collected = client.post(f"{API}/production/batches/{batch.json()['id']}/collect", headers=admin)
    assert collected.status_code == 200 and collected.json()["complete"], collected.text
    return collected.json()


def test_outlet_operator_end_to_end(client, outlet, admin):
    body = {"applicant": applicant_json(new_applicant()), "bank_code": "JNRCB",
            "pickup_outlet_code": "SS-TN-01"}
    submitted = client.post(API, json=body, headers=outlet)
    assert submitted.status_code == 201, submitted.text
    app = submitted.json()
    assert app["fee_zh"].startswith("免费") and app["fee_en"].startswith("free of charge")
    assert not any("fee" in k and k not in ("fee_zh", "fee_en") for k in app)
    listed = client.get(API, headers=outlet).json()
    assert listed[0]["document_number"].count("*") == 8       # masked in lists
    assert client.post(f"{API}/{app['id']}/approve", headers=outlet).json()["status"] == "approved"
    produced = produce(client, admin)
    assert len(produced["produced_card_nos"]) == 1
    assert client.post(f"{API}/{app['id']}/ready-for-pickup", headers=outlet).status_code == 200
    handed = client.post(f"{API}/{app['id']}/hand-over", headers=outlet)
    assert handed.status_code == 200 and handed.json()["status"] == "handed_over"
    face = client.get(f"{API}/{app['id']}/face.png", headers=outlet)
    assert face.status_code == 200 and face.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(face.content)).size == (2 * 1011 + 40, 638)  # side A beside B


def test_holder_online_end_to_end_with_ems(client, login, admin):
    holder = login(Role.HOLDER, username="wang-online", channel="online_app")
    body = {"name": "王晓明", "id_number": "320402199003070013", "auth_evidence": "face-ok",
            "bank_code": "ICBC", "delivery": "ems_cod", "mailing_address": "常州市天宁区示例路1号",
            "phone": "13800000000"}
    submitted = client.post(f"{API}/online", json=body, headers=holder | {"Idempotency-Key": "o-1"})
    assert submitted.status_code == 201, submitted.text
    app = submitted.json()
    assert (app["channel"], app["delivery"]) == ("online", "ems_cod")
    assert "邮费" in app["delivery_note_zh"] and "free" in app["delivery_note_en"]
    retried = client.post(f"{API}/online", json=body, headers=holder | {"Idempotency-Key": "o-1"})
    assert retried.json()["id"] == app["id"]
    other = login(Role.HOLDER, username="someone-else")
    assert client.get(f"{API}/{app['id']}", headers=other).status_code == 404
    assert client.get(f"{API}/{app['id']}", headers=holder).status_code == 200
    assert client.post(f"{API}/{app['id']}/approve", headers=holder).status_code == 403
    operator = login(Role.SS_OUTLET, username="reviewer")
    assert client.post(f"{API}/{app['id']}/approve", headers=operator).status_code == 200
    produce(client, admin)
    bad = client.post(f"{API}/{app['id']}/ship", json={"tracking_no": "12 34"}, headers=admin)
    assert bad.status_code == 422
    shipped = client.post(f"{API}/{app['id']}/ship", json={"tracking_no": "EA123456789CN"},
                          headers=admin)
    assert shipped.json()["ems_tracking_no"] == "EA123456789CN"
    received = client.post(f"{API}/{app['id']}/hand-over", headers=holder)
    assert received.status_code == 200 and received.json()["status"] == "handed_over"


@pytest.mark.parametrize(("who", "code"), [
    ("320481195505050060", "online_data_unavailable"),     # on file without a photo
    ("320402199001010011", "online_data_unavailable"),     # not on file
])
def test_online_without_base_data_or_photo_goes_to_outlet(client, login, platform, who, code):
    holder = login(Role.HOLDER)
    before = counts(platform)
    name = "周秀英" if who.startswith("320481") else "无此人"
    response = client.post(f"{API}/online", headers=holder, json={
        "name": name, "id_number": who, "auth_evidence": "ok", "bank_code": "ICBC",
        "mailing_address": "常州市"})
    assert response.status_code == 422 and response.json()["code"] == code
    assert "服务网点" in response.json()["title"] and "outlet" in response.json()["title_en"]
    assert counts(platform) == before


def test_online_when_the_registry_is_down(client, login, platform):
    platform.get(PopulationRegistry).available = False
    response = client.post(f"{API}/online", headers=login(Role.HOLDER), json={
        "name": "李静", "id_number": "32040419851120002X", "auth_evidence": "ok",
        "bank_code": "ABC", "mailing_address": "常州市"})
    assert response.json()["code"] == "online_data_unavailable"


def test_online_refused_for_an_old_provincial_card_holder(client, login, platform, admin_actor):
    from datetime import date

    from yikatong.applications.reference import synthetic_photo
    from yikatong.people.service import (
        find_person_by_ssn,
        mark_had_provincial_card,
        register_applicant,
    )

    with platform.uow() as uow:
        register_applicant(uow=uow, actor=admin_actor, name="陈浩", document_type="resident_id_card",
                           document_number="320411200106150034", gender="M",
                           birth_date=date(2001, 6, 15), nationality="CHN",
                           document_valid_until=date(2036, 1, 1),
                           photo_jpeg=synthetic_photo("c"), as_of=date(2026, 3, 2))
        uow.commit()
    with platform.uow() as uow:
        person = find_person_by_ssn(uow=uow, ssn="320411200106150034")
        mark_had_provincial_card(uow=uow, actor=admin_actor, person_id=person.id)
        uow.commit()
    before = counts(platform)
    response = client.post(f"{API}/online", headers=login(Role.HOLDER), json={
        "name": "陈浩", "id_number": "320411200106150034", "auth_evidence": "ok",
        "bank_code": "CCB", "mailing_address": "常州市新北区"})
    assert response.status_code == 422
    assert response.json()["code"] == "provincial_card_holder_outlet_only"
    assert "线下" in response.json()["title"]
    assert counts(platform)[0] == before[0]


def test_employer_agent_batch(client, login, platform):
    uscc = "91320400MA1M9XK3P" + uscc_check("91320400MA1M9XK3P")
    employer = login(Role.EMPLOYER_AGENT, username="acme-hr", employer_uscc=uscc)
    rows = [{"applicant": applicant_json(new_applicant()), "bank_code": "CMB",
             "pickup_outlet_code": "SS-WJ-01"} for _ in range(3)]
    rows[1]["bank_code"] = "NOPE"
    body = {"employer_name": "常州示例科技有限公司", "uscc": uscc,
            "agent": {"name": "经办人", "document_type": "resident_id_card",
                      "document_number": "320412197801010043"}, "employees": rows}
    response = client.post(f"{API}/employer-batches", json=body, headers=employer)
    assert response.status_code == 201, response.text
    batch = response.json()
    assert (batch["accepted"], batch["rejected"], batch["uscc"]) == (2, 1, uscc)
    assert batch["rows"][1]["code"] == "unknown_bank" and batch["rows"][1]["reason_en"]
    again = client.get(f"{API}/employer-batches/{batch['id']}", headers=employer).json()
    assert again == batch
    mine = batch["rows"][0]["application_id"]
    assert client.get(f"{API}/{mine}", headers=employer).status_code == 200
    rival_uscc = "91320400MA1M9XK4P" + uscc_check("91320400MA1M9XK4P")
    rival = login(Role.EMPLOYER_AGENT, username="other-hr", employer_uscc=rival_uscc)
    assert client.get(f"{API}/{mine}", headers=rival).status_code == 404
    assert client.get(f"{API}/employer-batches/{batch['id']}", headers=rival).json()["code"] == \
        "employer_batch_not_found"
    before = counts(platform)
    body["uscc"] = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
    refused = client.post(f"{API}/employer-batches", json=body, headers=employer)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_uscc"
    assert counts(platform) == before


@pytest.mark.parametrize(("change", "code"), [
    ({"bank_code": "HSBC"}, "unknown_bank"),
    ({"pickup_outlet_code": "NOWHERE"}, "unknown_outlet"),
    ({"applicant": {"document_number": "320402199003070014"}}, "invalid_id_number"),
    ({"applicant": {"document_type": "library_card"}}, "unknown_document_type"),
    ({"applicant": {"gender": "X"}}, "invalid_input"),
    ({"applicant": {"photo_jpeg_base64": "not base64!"}}, "invalid_input"),
    ({"kind": "exchange", "exchange_reason": "damage"}, "exchange_not_allowed"),
    ({"exchange_reason": "damage"}, "exchange_reason_without_exchange"),
    ({"agent": {"name": "代办人", "document_type": "passport", "document_number": "?!"}},
     "invalid_id_number"),
])
def test_bad_input_is_a_problem_and_changes_nothing(client, outlet, platform, change, code):
    body = {"applicant": applicant_json(new_applicant()), "bank_code": "ICBC",
            "pickup_outlet_code": "SS-TN-01"}
    for key, value in change.items():
        body[key] = body.get(key, {}) | value if isinstance(value, dict) else value
    before = counts(platform)
    response = client.post(API, json=body, headers=outlet)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code and response.json()["title_en"]
    assert counts(platform) == before


def test_role_boundaries(client, login, outlet):
    holder = login(Role.HOLDER)
    bank = login(Role.BANK, bank_code="ICBC")
    assert client.post(f"{API}/production/batches", headers=outlet).status_code == 403
    assert client.get(API, headers=holder).status_code == 403
    assert client.get(API, headers=bank).status_code == 403
    assert client.post(API, json={}, headers=holder).status_code == 403
    assert client.get(API).status_code == 401
    assert client.get(f"{API}/999999", headers=outlet).status_code == 404


@pytest.mark.parametrize("path", ["{too_big}/approve", "{too_big}/hand-over", "0/approve",
                                  "production/batches/{too_big}/collect"])
def test_ids_out_of_range_are_malformed_input_not_a_server_error(client, outlet, admin, path):
    headers = admin if path.startswith("production") else outlet
    response = client.post(f"{API}/{path.format(too_big=2**64)}", headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_identity_resolved_with_a_person_id_beyond_any_row_is_refused(client, outlet):
    response = client.post(f"{API}/1/identity-resolved", json={"person_id": 2**64},
                           headers=outlet)
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


@pytest.mark.parametrize(("change", "code", "some_allowed"), [
    ({"bank_code": "HSBC"}, "unknown_bank", {"ICBC", "ABC"}),
    ({"applicant": {"document_type": "library_card"}}, "unknown_document_type", {"resident_id_card"}),
    ({"applicant": {"gender": "X"}}, "invalid_input", {"M", "F"}),
    ({"kind": "upgrade"}, "invalid_input", {"first", "replacement", "exchange"}),
    ({"kind": "exchange", "exchange_reason": "boredom"}, "invalid_input", {"damage", "info_change"}),
])
def test_a_refused_choice_lists_the_valid_choices(client, outlet, platform, change, code, some_allowed):
    body = {"applicant": applicant_json(new_applicant()), "bank_code": "ICBC",
            "pickup_outlet_code": "SS-TN-01"}
    for key, value in change.items():
        body[key] = body.get(key, {}) | value if isinstance(value, dict) else value
    before = counts(platform)
    refused = client.post(API, json=body, headers=outlet).json()
    assert refused["code"] == code and some_allowed <= set(refused["details"]["allowed"]), refused
    for choice in some_allowed:  # named in the message too
        assert choice in refused["title_en"] and choice in refused["title"]
    assert counts(platform) == before


def test_an_unknown_status_filter_lists_the_statuses(client, outlet):
    refused = client.get(API, params={"status": "done"}, headers=outlet).json()
    assert refused["code"] == "invalid_input" and "handed_over" in refused["details"]["allowed"]
    assert set(refused["details"]["allowed"]) == set(rules.STATUSES) and "ready_for_pickup" in refused["title_en"]


def test_the_face_of_a_card_not_yet_produced_is_a_documented_conflict(client, outlet):
    """The contract sweep on the seeded population met it: a submitted application has no
    card face yet; the 409 it answers is in the document."""
    body = {"applicant": applicant_json(new_applicant()), "bank_code": "ICBC",
            "pickup_outlet_code": "SS-TN-01"}
    app = client.post(API, json=body, headers=outlet).json()
    face = client.get(f"{API}/{app['id']}/face.png", headers=outlet)
    assert face.status_code == 409 and face.json()["code"] == "card_not_produced", face.text
    assert face.headers["content-type"] == "application/problem+json"
    documented = client.app.openapi()["paths"][f"{API}/{{application_id}}/face.png"]["get"]
    assert "409" in documented["responses"]
