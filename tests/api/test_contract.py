"""The API keeps its published contract: schemathesis (property-based API testing) drives every
operation of the OpenAPI document against the application in-process, on a seeded database,
and checks each answer: no server error, a documented status, the documented media type and a
body matching the documented schema. A stateful phase then follows the document's links
(create something, then read it back by what the answer named).

Operations are taken from the document itself, so a route added tomorrow is covered too; the
test fails if any operation of the document was not exercised."""

from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import PASSWORD
from yikatong.auth.service import create_user
from yikatong.core.actor import Actor, Role
from yikatong.demo.scenario import Scenario

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STATEFUL_SCENARIOS = 30
EXAMPLES_PER_OPERATION = 15  # the admin's; the file stays within the suite's time budget (< 3 min)


# Every role but the admin sweeps each operation with fewer cases: enough to meet each
# operation's refusals and the answers scoped to what that role may see.
ROLES = {
    Role.ADMIN: ({}, EXAMPLES_PER_OPERATION),
    Role.HOLDER: ({}, 4),
    Role.SS_OUTLET: ({"branch_code": "SS-TN-01"}, 4),
    Role.PHONE_AGENT: ({}, 4),
    Role.BANK: ({"bank_code": "ICBC", "branch_code": "ICBC-CZ-001"}, 4),
}


@pytest.fixture
def seeded(platform, clock, tmp_path, monkeypatch):
    """A database seeded by the demo: reference data, its holder walked through the whole card
    lifecycle (person, applications, cards, bank account, wallet in each of their states)."""
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    Scenario(platform, clock, Console(file=io.StringIO())).run()
    return platform


def headers_of(client, platform, role: Role) -> dict:
    """A bearer token for a new login of `role` (a holder: the demo's person)."""
    from sqlalchemy import func, select

    from yikatong.people.models import Person

    fields, _ = ROLES[role]
    with platform.uow() as uow:
        if role is Role.HOLDER:
            fields = {"person_id": uow.session.execute(select(func.min(Person.id))).scalar_one()}
        create_user(uow=uow, actor=Actor.system("contract-test"), username=f"contract-{role.value}",
                    password=PASSWORD, role=role, **fields)
        uow.commit()
    answer = client.post(
        "/api/v1/auth/token", data={"username": f"contract-{role.value}", "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def contract_app(seeded, client):
    return client.app, headers_of(client, seeded, Role.ADMIN)


@pytest.mark.parametrize("role", list(ROLES), ids=str)
def test_every_operation_answers_as_documented(seeded, client, role):
    app, headers = client.app, headers_of(client, seeded, role)
    examples = ROLES[role][1]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    documented = {operation.ok().label for operation in schema.get_all_operations()}
    exercised: set[str] = set()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        exercised.add(operation.label)

        @given(
            case=st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )
        )
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a failure is reproducible
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        # Collected, so that one run names every operation that breaks the contract.
        except (Exception, BaseExceptionGroup) as failure:
            failures.append(f"{operation.label}: {str(failure)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert exercised == documented


def test_links_between_operations_hold(contract_app):
    """The stateful phase: sequences of calls that follow the document's links (create an
    application, then read, approve or cancel it by the id the answer named)."""
    app, headers = contract_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    links = [
        name
        for path in schema.raw_schema["paths"].values()
        for operation in path.values()
        for answer in operation["responses"].values()
        for name in answer.get("links", {})
    ]
    assert len(links) >= 10, links

    class Machine(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Machine.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a failure is reproducible
            suppress_health_check=list(HealthCheck),
        )
    )
