"""Employer scope through the doors: an employer agent sees and acts only on its employer's
employees (the links the batch makes); everything else answers like a missing record."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.applications.conftest import applicant_json, new_applicant
from tests.applications.test_rules import uscc_check
from yikatong.applications.models import Application
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Role
from yikatong.employers.models import EmployeeLink
from yikatong.people.models import Person

pytestmark = pytest.mark.db

ACME = "91320400MA1M9XK3P" + uscc_check("91320400MA1M9XK3P")
RIVAL = "91320400MA1M9XK4P" + uscc_check("91320400MA1M9XK4P")
AGENT = {
    "name": "经办人",
    "document_type": "resident_id_card",
    "document_number": "320412197801010043",
}


def submit_batch(client, headers, size: int = 1, applicants=None) -> dict:
    applicants = applicants or [applicant_json(new_applicant()) for _ in range(size)]
    rows = [
        {"applicant": applicant, "bank_code": "CMB", "pickup_outlet_code": "SS-WJ-01"}
        for applicant in applicants
    ]
    response = client.post(
        "/api/v1/applications/employer-batches",
        headers=headers,
        json={
            "employer_name": "常州示例科技有限公司",
            "agent": AGENT,
            "employees": rows,
            "authorisation_letter_ref": "WT-2026-0001",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def person_of(client, headers, application_id: int) -> int:
    return client.get(f"/api/v1/applications/{application_id}", headers=headers).json()["person_id"]


def count(platform, model) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(model)).scalar_one()


def without_id(response, row_id: int) -> dict:
    """The refusal with the asked-for id blanked out: what is left must not depend on
    whether a record with that id exists."""

    def blank(value):
        if value == row_id:
            return "ID"
        return value.replace(str(row_id), "ID") if isinstance(value, str) else value

    body = response.json()
    return {
        key: {k: blank(v) for k, v in value.items()} if isinstance(value, dict) else blank(value)
        for key, value in body.items()
    }


@pytest.fixture
def acme(login):
    return login(Role.EMPLOYER_AGENT, username="acme-hr", employer_uscc=ACME)


@pytest.fixture
def rival(login):
    return login(Role.EMPLOYER_AGENT, username="rival-hr", employer_uscc=RIVAL)


@pytest.fixture
def admin(login):
    return login(Role.ADMIN, username="centre")


def test_an_employer_agent_login_names_a_valid_employer(client, admin):
    def add(username, **fields):
        return client.post(
            "/api/v1/auth/users",
            headers=admin,
            json={"username": username, "password": None, "role": "employer_agent", **fields},
        )

    missing = add("hr-none")
    assert missing.status_code == 422 and missing.json()["code"] == "employer_uscc_required"
    bad = ACME[:-1] + ("0" if ACME[-1] != "0" else "1")
    assert add("hr-bad", employer_uscc=bad).json()["code"] == "invalid_uscc"
    misplaced = add("op-uscc", role="ss_outlet_operator", employer_uscc=ACME)
    assert misplaced.status_code == 422 and misplaced.json()["code"] == "employer_uscc_misplaced"
    made = add("hr-acme", employer_uscc=ACME.lower())
    assert made.status_code == 201 and made.json()["employer_uscc"] == ACME


def test_the_batch_links_each_employee_to_the_agents_employer(client, acme, rival, admin):
    batch = submit_batch(client, acme, size=2)
    assert batch["uscc"] == ACME  # the login's employer, though the batch named only a letter
    people = sorted(person_of(client, acme, row["application_id"]) for row in batch["rows"])
    links = client.get("/api/v1/employers/links", headers=acme).json()
    assert sorted(link["person_id"] for link in links) == people
    assert {
        (link["employer_uscc"], link["employer_batch_id"], link["made_by"]) for link in links
    } == {(ACME, batch["id"], "acme-hr")}
    assert client.get("/api/v1/employers/links", headers=rival).json() == []
    assert len(client.get("/api/v1/employers/links", headers=admin).json()) == 2


def test_a_batch_for_another_employer_is_refused(client, acme, platform):
    before = count(platform, Application)
    response = client.post(
        "/api/v1/applications/employer-batches",
        headers=acme,
        json={
            "employer_name": "别家公司",
            "uscc": RIVAL,
            "agent": AGENT,
            "employees": [
                {
                    "applicant": applicant_json(new_applicant()),
                    "bank_code": "CMB",
                    "pickup_outlet_code": "SS-WJ-01",
                }
            ],
        },
    )
    assert response.status_code == 403 and response.json()["code"] == "batch_for_another_employer"
    assert count(platform, Application) == before


def test_an_agent_reads_its_employee_and_nobody_else(client, acme, rival):
    mine = submit_batch(client, acme)["rows"][0]["application_id"]
    theirs = submit_batch(client, rival)["rows"][0]["application_id"]
    own_person, other_person = person_of(client, acme, mine), person_of(client, rival, theirs)
    assert client.get(f"/api/v1/people/{own_person}", headers=acme).status_code == 200
    existing = client.get(f"/api/v1/people/{other_person}", headers=acme)
    missing = client.get("/api/v1/people/987654", headers=acme)
    assert existing.status_code == missing.status_code == 404
    assert without_id(existing, other_person) == without_id(missing, 987654)
    assert existing.json()["code"] == "person_not_found"
    other_app = client.get(f"/api/v1/applications/{theirs}", headers=acme)
    no_app = client.get("/api/v1/applications/987654", headers=acme)
    assert other_app.status_code == no_app.status_code == 404
    assert without_id(other_app, theirs) == without_id(no_app, 987654)


def test_an_agent_cannot_act_on_another_employers_application(client, acme, rival, platform):
    theirs = submit_batch(client, rival)["rows"][0]["application_id"]
    audits = count(platform, AuditRecord)
    refused = client.post(
        f"/api/v1/applications/{theirs}/cancel", headers=acme, json={"reason": "离职"}
    )
    missing = client.post(
        "/api/v1/applications/987654/cancel", headers=acme, json={"reason": "离职"}
    )
    assert refused.status_code == missing.status_code == 404
    assert without_id(refused, theirs) == without_id(missing, 987654)
    assert count(platform, AuditRecord) == audits
    assert (
        client.get(f"/api/v1/applications/{theirs}", headers=rival).json()["status"] == "submitted"
    )


def test_an_agent_registers_only_its_employees(client, acme, rival, platform):
    employee, theirs = applicant_json(new_applicant()), applicant_json(new_applicant())
    mine = submit_batch(client, acme, applicants=[employee])["rows"][0]["application_id"]
    submit_batch(client, rival, applicants=[theirs])
    people = count(platform, Person)
    new = client.post(
        "/api/v1/people/applicants", headers=acme, json=applicant_json(new_applicant())
    )
    existing = client.post("/api/v1/people/applicants", headers=acme, json=theirs)
    assert new.status_code == existing.status_code == 404
    assert new.json() == existing.json() and new.json()["code"] == "person_not_found"
    assert count(platform, Person) == people  # the new one was not kept
    again = client.post("/api/v1/people/applicants", headers=acme, json=employee)
    assert again.status_code == 200 and again.json()["outcome"] == "existing"
    assert again.json()["person_id"] == person_of(client, acme, mine)


def test_an_ended_link_takes_the_access_away(client, acme, rival, admin, platform):
    mine = submit_batch(client, acme)["rows"][0]["application_id"]
    person = person_of(client, acme, mine)
    (link,) = client.get("/api/v1/employers/links", headers=acme).json()
    refused = client.post(
        f"/api/v1/employers/links/{link['id']}/end", headers=rival, json={"reason": "x"}
    )
    missing = client.post("/api/v1/employers/links/987654/end", headers=rival, json={"reason": "x"})
    assert refused.status_code == missing.status_code == 404
    assert without_id(refused, link["id"]) == without_id(missing, 987654)
    ended = client.post(
        f"/api/v1/employers/links/{link['id']}/end", headers=acme, json={"reason": "员工离职"}
    )
    assert ended.status_code == 200 and ended.json()["ended_by"] == "acme-hr"
    assert client.get(f"/api/v1/people/{person}", headers=acme).status_code == 404
    assert client.get(f"/api/v1/applications/{mine}", headers=acme).status_code == 404
    assert client.get("/api/v1/employers/links", headers=acme).json() == []
    twice = client.post(
        f"/api/v1/employers/links/{link['id']}/end", headers=admin, json={"reason": "again"}
    )
    assert twice.status_code == 409 and twice.json()["code"] == "employee_link_ended"
    with platform.uow() as uow:
        actions = (
            uow.session.execute(
                select(AuditRecord.action).where(AuditRecord.entity_type == "employee_link")
            )
            .scalars()
            .all()
        )
    assert actions == ["employee_link.open", "employee_link.end"]
    assert count(platform, EmployeeLink) == 1


def test_the_cli_adds_an_employer_agent_only_with_its_employer(platform, monkeypatch):
    from tests.conftest import cli_on
    from yikatong.auth.models import User

    run = cli_on(platform, monkeypatch)
    refused = run("user", "add", "hr-cli", "--role", "employer_agent", "--no-password")
    assert refused.exit_code != 0 and "employer_uscc_required" in refused.output
    added = run(
        "user", "add", "hr-cli", "--role", "employer_agent", "--employer", ACME, "--no-password"
    )
    assert added.exit_code == 0, added.output
    with platform.uow() as uow:
        stored = uow.session.execute(
            select(User.employer_uscc).where(User.username == "hr-cli")
        ).scalar_one()
    assert stored == ACME
