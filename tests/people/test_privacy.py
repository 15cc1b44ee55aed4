"""Least privilege for personal data (people/privacy.py): the 12333 agent and partner-run
outlets see records masked, lists never show what details hide, and an unmasked read needs a
reason, is audited and is throttled."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from tests.people.helpers import SSN, register
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Role
from yikatong.people.samples import make_sample_photo

pytestmark = pytest.mark.db

API = "/api/v1/people"
NAME, PHONE = "周晓东", "13900000001"
READERS = {  # login fields per reader, and whether it sees records whole
    "admin": (Role.ADMIN, {}, True),
    "ss_outlet": (Role.SS_OUTLET, {"branch_code": "SS-TN-01"}, True),
    "direct_outlet": (Role.CITIZEN_OUTLET, {"branch_code": "SMK-DIRECT-01"}, True),
    "partner_outlet": (Role.CITIZEN_OUTLET, {"branch_code": "SMK-PARTNER-01"}, False),
    "phone_agent": (Role.PHONE_AGENT, {}, False),
}


@pytest.fixture
def person_id(platform):
    return register(platform, address="江苏省常州市天宁区示例路 8 号").person_id


@pytest.fixture
def reader(login):
    made = {}

    def headers(name):
        if name not in made:
            role, fields, _whole = READERS[name]
            made[name] = login(role, username=f"privacy-{name}", **fields)
        return made[name]
    return headers


@pytest.mark.parametrize("name", READERS)
def test_details_and_lists_agree_for_every_reader(client, reader, person_id, name):
    whole = READERS[name][2]
    detail = client.get(f"{API}/{person_id}", headers=reader(name))
    assert detail.status_code == 200, detail.text
    person = detail.json()
    (row,) = client.get(API, params={"ssn": SSN}, headers=reader(name)).json()["items"]
    assert person["masked"] is row["masked"] is (not whole)
    assert row["name"] == person["name"] and row["birth_date"] == person["birth_date"]
    assert row["ssn_masked"] == "320402********" + SSN[-4:]  # lists always mask the number
    assert person["birth_year"] == row["birth_year"] == int(SSN[6:10])
    if whole:
        assert (person["name"], person["ssn"], person["phone"]) == (NAME, SSN, PHONE)
        assert person["address"].endswith("8 号") and person["birth_date"]
    else:
        assert person["name"] == "周*东" and person["ssn"] == row["ssn_masked"]
        assert person["phone"] == "139****0001" and person["address"] == "江苏省常州市***"
        assert person["birth_date"] is None


@pytest.mark.parametrize("name", ["partner_outlet", "phone_agent"])
def test_masked_readers_get_no_photo_and_no_whole_number_anywhere(client, reader, person_id, name):
    photo = client.get(f"{API}/{person_id}/photo", headers=reader(name))
    assert photo.status_code == 403 and photo.json()["code"] == "photo_masked"
    assert SSN not in client.get(f"{API}/{person_id}", headers=reader(name)).text


def test_whole_readers_get_the_photo(client, reader, person_id):
    assert client.get(f"{API}/{person_id}/photo", headers=reader("direct_outlet")).content == make_sample_photo()


def test_a_disclosure_shows_the_record_whole_once_and_is_audited(client, reader, person_id, platform):
    answer = client.post(f"{API}/{person_id}/disclosures", headers=reader("phone_agent"),
                         json={"reason_code": "holder_verified_on_call", "note": "call 2026-118, 3 checks passed"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["person"]["ssn"], body["person"]["phone"], body["person"]["masked"]) == (SSN, PHONE, False)
    assert base64.b64decode(body["photo_base64"]) == make_sample_photo()
    with platform.uow() as uow:
        (record,) = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "person.disclose", AuditRecord.entity_id == str(person_id))).scalars()
    assert record.actor_id == "privacy-phone_agent"
    assert record.after["reason_code"] == "holder_verified_on_call" and "photo" in record.after["fields"]
    assert SSN not in str(record.after) + str(record.reason)
    # the next read is masked again: a disclosure is one read, not a grant
    assert client.get(f"{API}/{person_id}", headers=reader("phone_agent")).json()["masked"] is True


def test_a_disclosure_needs_a_known_reason_and_a_note(client, reader, person_id, platform):
    for body in ({"reason_code": "curious", "note": "just looking"},
                 {"reason_code": "holder_present"},
                 {"reason_code": "holder_present", "note": ""}):
        refused = client.post(f"{API}/{person_id}/disclosures", headers=reader("partner_outlet"), json=body)
        assert refused.status_code == 422, refused.text
    with platform.uow() as uow:
        assert not uow.session.execute(select(AuditRecord).where(AuditRecord.action == "person.disclose")).first()


def test_only_masked_readers_ask_and_a_missing_person_is_a_404(client, reader, login, person_id):
    body = {"reason_code": "holder_present", "note": "ID card checked at the counter"}
    bank = login(Role.BANK, bank_code="ICBC", branch_code="ICBC-CZ-001")
    assert client.post(f"{API}/{person_id}/disclosures", headers=bank, json=body).status_code == 403
    missing = client.post(f"{API}/{person_id + 999}/disclosures", headers=reader("partner_outlet"), json=body)
    assert missing.status_code == 404 and missing.json()["code"] == "person_not_found"


def test_disclosures_are_throttled_per_login(client, reader, person_id, platform):
    from yikatong.auth.throttle import DEFAULT_LIMITS

    body = {"reason_code": "holder_present", "note": "ID card checked at the counter"}
    allowed = int(DEFAULT_LIMITS["personal_data_disclosure"].split()[0])
    for _ in range(allowed):
        assert client.post(f"{API}/{person_id}/disclosures", headers=reader("partner_outlet"), json=body).status_code == 200
    refused = client.post(f"{API}/{person_id}/disclosures", headers=reader("partner_outlet"), json=body)
    assert refused.status_code == 429 and refused.headers["retry-after"]
    # another login's quota is its own
    assert client.post(f"{API}/{person_id}/disclosures", headers=reader("phone_agent"), json=body).status_code == 200


def test_reviews_and_corrections_are_masked_for_a_partner_outlet(client, reader, person_id, platform):
    from datetime import date

    from tests.people.helpers import BORN
    from yikatong.people.samples import make_citizen_ssn

    # same name and birth date, another number: the registry opens an identity review
    register(platform, document_number=make_citizen_ssn("320402", BORN, "M", seq=7),
             phone="13900000077", document_valid_until=date(2031, 1, 1))
    reviews = client.get(f"{API}/reviews", headers=reader("partner_outlet")).json()
    assert reviews, "a review was expected"
    text = client.get(f"{API}/reviews/{reviews[0]['id']}", headers=reader("partner_outlet")).text
    assert SSN not in text and PHONE not in text and NAME not in text
    whole = client.get(f"{API}/reviews/{reviews[0]['id']}", headers=reader("ss_outlet")).text
    assert SSN in whole
