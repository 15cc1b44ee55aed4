"""The people API through each role: boundaries, masking, problem+json with nothing changed."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from tests.people.helpers import BORN, SSN, counts
from yikatong.core.actor import Actor, Role
from yikatong.people.samples import make_citizen_ssn, make_sample_photo

pytestmark = pytest.mark.db

PHOTO_B64 = base64.b64encode(make_sample_photo()).decode()


def applicant(**overrides):
    body = {"name": "周晓东", "document_type": "resident_id_card", "document_number": SSN,
            "document_valid_until": "2030-01-01", "gender": "M", "birth_date": BORN.isoformat(),
            "nationality": "CHN", "phone": "13900000001", "photo_jpeg_base64": PHOTO_B64}
    body.update(overrides)
    return body


@pytest.fixture
def outlet(login):
    return login(Role.SS_OUTLET, username="outlet-1")


@pytest.fixture
def person_id(client, outlet):
    response = client.post("/api/v1/people/applicants", json=applicant(), headers=outlet)
    assert response.status_code == 200, response.text
    return response.json()["person_id"]


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["title"] and body["title_en"]
    return body


def test_employer_agent_registers_only_its_linked_employees(client, login, platform, person_id):
    """The employer batch makes the link (tests/employers); before it, the agent's
    registration answers as a missing person, after it the person is found."""
    from tests.applications.test_rules import uscc_check
    from yikatong.employers.service import link_employee

    uscc = "91320400MA1M9XK3P" + uscc_check("91320400MA1M9XK3P")
    agent = login(Role.EMPLOYER_AGENT, employer_uscc=uscc)
    refused = client.post("/api/v1/people/applicants", json=applicant(), headers=agent)
    assert refused.status_code == 404 and refused.json()["code"] == "person_not_found"
    with platform.uow() as uow:
        link_employee(uow=uow, actor=Actor.system(), employer_uscc=uscc, person_id=person_id,
                      employer_batch_id=None)
        uow.commit()
    again = client.post("/api/v1/people/applicants", json=applicant(), headers=agent).json()
    assert again["outcome"] == "existing" and again["person_id"] == person_id


def test_registration_warnings_come_with_both_languages(client, outlet):
    small = base64.b64encode(make_sample_photo(texture=False)).decode()
    body = client.post("/api/v1/people/applicants", json=applicant(photo_jpeg_base64=small),
                       headers=outlet).json()
    (warning,) = body["warnings"]
    assert warning["code"] == "photo_file_size_unusual" and warning["zh"] and warning["en"]


def test_holder_reads_only_their_own_record(client, login, person_id):
    own = login(Role.HOLDER, person_id=person_id)
    response = client.get(f"/api/v1/people/{person_id}", headers=own)
    assert response.status_code == 200 and response.json()["ssn"] == SSN
    assert client.get(f"/api/v1/people/{person_id}/photo", headers=own).content == \
        make_sample_photo()
    stranger = login(Role.HOLDER, person_id=person_id + 1)
    problem(client.get(f"/api/v1/people/{person_id}", headers=stranger), 404, "person_not_found")
    problem(client.get(f"/api/v1/people/{person_id}/photo", headers=stranger), 404,
            "person_not_found")
    problem(client.get("/api/v1/people", headers=own), 403, "forbidden")


# An employer agent may read people, its employees only: tests/employers.
@pytest.mark.parametrize("role", [Role.BANK, Role.TRANSIT_OPERATOR])
def test_roles_without_business_with_people_are_refused(client, login, person_id, role):
    headers = login(role, bank_code="ICBC") if role is Role.BANK else login(role)
    problem(client.get(f"/api/v1/people/{person_id}", headers=headers), 403, "forbidden")


def test_holder_cannot_register(client, login):
    problem(client.post("/api/v1/people/applicants", json=applicant(),
                        headers=login(Role.HOLDER)), 403, "forbidden")


def test_list_masks_identity_numbers(client, login, person_id):
    agent = login(Role.PHONE_AGENT)
    response = client.get("/api/v1/people", headers=agent)
    assert response.status_code == 200
    assert SSN not in response.text
    (row,) = response.json()["items"]
    assert row["ssn_masked"] == SSN[:6] + "********" + SSN[-4:] and row["id"] == person_id
    by_ssn = client.get("/api/v1/people", params={"ssn": SSN}, headers=agent).json()
    assert [item["id"] for item in by_ssn["items"]] == [person_id]
    nobody = client.get("/api/v1/people", params={"ssn": "320404198511200021"}, headers=agent)
    assert nobody.json() == {"total": 0, "items": []}


BAD_INPUT = [
    (dict(document_number="320402199003070014"), "invalid_id_number"),
    (dict(document_number="32040219990229001X"), "invalid_id_number"),
    (dict(birth_date="1990-03-08"), "id_number_mismatch"),
    (dict(document_type="passport", document_number="E12345678"), "document_for_foreigners_only"),
    (dict(document_valid_until="2026-01-01"), "document_expired"),
    (dict(document_type="id_card"), "unknown_document_type"),
    (dict(photo_jpeg_base64=None), "photo_required"),
    (dict(photo_jpeg_base64="@@not base64@@"), "invalid_input"),
    (dict(gender="X"), "invalid_person_data"),
    (dict(birth_date="not a date"), "invalid_input"),
]


def test_bad_input_is_a_4xx_problem_and_changes_nothing(client, outlet, platform):
    # One client for all rows: the fixture set-up (database, login) dominates the run time.
    before = counts(platform)
    for override, code in BAD_INPUT:
        response = client.post("/api/v1/people/applicants", json=applicant(**override),
                               headers=outlet)
        problem(response, 422, code)
        assert counts(platform) == before, override


def test_bad_photo_lists_every_failure_and_changes_nothing(client, outlet, platform):
    bad = make_sample_photo(format="PNG", width=300, dpi=72, mode="L", background=(150,) * 3)
    before = counts(platform)
    response = client.post("/api/v1/people/applicants", headers=outlet,
                           json=applicant(photo_jpeg_base64=base64.b64encode(bad).decode()))
    body = problem(response, 422, "photo_rejected")
    assert {f["code"] for f in body["details"]["failures"]} == {
        "photo_not_jpeg", "photo_wrong_dimensions", "photo_wrong_resolution",
        "photo_not_24bit_colour", "photo_background_not_white"}
    assert counts(platform) == before


def test_photo_upload_returns_the_full_report(client, outlet, platform, person_id):
    url = f"/api/v1/people/{person_id}/photo"
    good = client.put(url, content=make_sample_photo(seed=3), headers={
        **outlet, "Content-Type": "image/jpeg"})
    assert good.status_code == 200 and good.json()["accepted"]
    assert len(good.json()["results"]) == 6
    before = counts(platform)
    bad = client.put(url, content=make_sample_photo(dpi=96), headers={
        **outlet, "Content-Type": "image/jpeg"})
    assert [f["code"] for f in problem(bad, 422, "photo_rejected")["details"]["failures"]] == [
        "photo_wrong_resolution"]
    assert counts(platform) == before
    assert client.get(url, headers=outlet).content == make_sample_photo(seed=3)


def test_corrections_need_a_second_operator(client, login, outlet, person_id):
    checker = login(Role.CITIZEN_OUTLET, username="outlet-2", branch_code="SMK-DIRECT-01")
    proposed = client.post(f"/api/v1/people/{person_id}/corrections", headers=outlet,
                           json={"changes": {"name": "周晓冬"}, "reason": "typo"})
    assert proposed.status_code == 201, proposed.text
    correction_id = proposed.json()["id"]
    approve = f"/api/v1/people/corrections/{correction_id}/approve"
    problem(client.post(approve, json={}, headers=outlet), 403, "maker_cannot_approve")
    listed = client.get("/api/v1/people/corrections", headers=checker).json()
    assert [c["id"] for c in listed] == [correction_id]
    approved = client.post(approve, json={"reason": "seen the ID card"}, headers=checker)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert client.get(f"/api/v1/people/{person_id}", headers=checker).json()["name"] == "周晓冬"
    problem(client.post(approve, json={}, headers=checker), 409, "correction_already_decided")


def test_an_ssn_correction_is_masked_in_the_list_and_whole_in_the_detail(client, login, outlet,
                                                                          person_id):
    corrected = make_citizen_ssn("320402", BORN, "M", seq=7)
    proposed = client.post(f"/api/v1/people/{person_id}/corrections", headers=outlet,
                           json={"changes": {"ssn": corrected}, "reason": "wrong digit"})
    assert proposed.status_code == 201, proposed.text
    checker = login(Role.CITIZEN_OUTLET, username="outlet-2", branch_code="SMK-DIRECT-01")
    listed = client.get("/api/v1/people/corrections", headers=checker)
    assert SSN not in listed.text and corrected not in listed.text
    (row,) = listed.json()
    assert (row["before"]["ssn"], row["changes"]["ssn"]) == (
        SSN[:6] + "********" + SSN[-4:], corrected[:6] + "********" + corrected[-4:])
    detail = client.get(f"/api/v1/people/corrections/{row['id']}", headers=checker).json()
    assert (detail["before"]["ssn"], detail["changes"]["ssn"]) == (SSN, corrected)
    problem(client.get("/api/v1/people/corrections/999", headers=checker), 404,
            "correction_not_found")
    problem(client.get("/api/v1/people/corrections?status=open", headers=checker), 422,
            "invalid_input")  # "open" is a review status, not a correction's


def test_manual_review_through_the_api(client, login, outlet, person_id):
    other = make_citizen_ssn("320404", BORN, "M", seq=3)
    outcome = client.post("/api/v1/people/applicants", headers=outlet, json=applicant(
        document_type="temporary_id_card", document_number=other)).json()
    assert outcome["outcome"] == "manual_review" and outcome["person_id"] is None
    listed = client.get("/api/v1/people/reviews", headers=outlet)
    assert other not in listed.text and SSN not in listed.text
    problem(client.get("/api/v1/people/reviews?status=pending", headers=outlet), 422,
            "invalid_input")
    (review,) = listed.json()
    assert review["candidate"]["id"] == person_id
    detail = client.get(f"/api/v1/people/reviews/{review['id']}", headers=outlet).json()
    assert detail["applicant"]["document_number"] == other and detail["candidate"]["ssn"] == SSN
    resolved = client.post(f"/api/v1/people/reviews/{review['id']}/resolve", headers=outlet,
                           json={"resolution": "distinct", "reason": "different people"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "distinct"
    assert client.get("/api/v1/people", headers=outlet).json()["total"] == 2


def test_id_number_check(client, outlet):
    response = client.post("/api/v1/people/id-numbers/check", headers=outlet,
                           json={"number": "320412197801010043"})
    body = response.json()
    assert (body["kind"], body["birth_date"], body["region_name"]) == (
        "citizen", date(1978, 1, 1).isoformat(), "江苏省常州市武进区")
    problem(client.post("/api/v1/people/id-numbers/check", headers=outlet,
                        json={"number": "32041219780101004X"}), 422, "invalid_id_number")


TOO_BIG = 2**64  # beyond any database integer


@pytest.mark.parametrize(("method", "path"), [
    ("get", f"/api/v1/people/{TOO_BIG}"), ("get", f"/api/v1/people/{TOO_BIG}/photo"),
    ("get", "/api/v1/people/0"), ("get", f"/api/v1/people/reviews/{TOO_BIG}"),
    ("get", f"/api/v1/people/corrections?person_id={TOO_BIG}"),
    ("post", f"/api/v1/people/corrections/{TOO_BIG}/reject"),
])
def test_ids_out_of_range_are_malformed_input_not_a_server_error(client, outlet, method, path):
    response = getattr(client, method)(path, headers=outlet,
                                       **({"json": {"reason": "x"}} if method == "post" else {}))
    problem(response, 422, "invalid_input")
