"""The OpenAPI document states the error answers as they are: every operation lists the error
statuses its route can give, each in application/problem+json with the one Problem schema, and
what the handlers send really matches that schema."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from yikatong.api.problems import PROBLEM_MEDIA_TYPE, Problem, ValidationProblem
from yikatong.core.errors import InvalidInput, NotFound


@pytest.fixture
def document(client) -> dict:
    return client.get("/openapi.json").json()


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_answer_is_problem_json_with_the_problem_schema(document):
    for name, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) < 400:
                continue
            if " /api/fhir/" in name:  # the FHIR door answers errors as OperationOutcome
                assert answer["content"] == {"application/fhir+json": {
                    "schema": {"$ref": "#/components/schemas/OperationOutcome"}}}, (name, status)
                continue
            expected = "ValidationProblem" if status == "422" else "Problem"
            assert answer["content"] == {
                PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{expected}"}}
            }, (name, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_statuses_follow_from_the_route(document):
    paths = document["paths"]
    person = paths["/api/v1/people/{person_id}"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= set(person)  # credential, path parameter
    application = paths["/api/v1/applications"]["post"]["responses"]
    assert {"400", "401", "403", "409", "413", "422"} <= set(application)  # a write with a body
    banks = paths["/api/v1/directory/banks"]["get"]["responses"]
    assert not {"401", "403", "413"} & set(banks)  # public, no body
    assert "401" in paths["/api/v1/auth/token"]["post"]["responses"]  # declared by the route
    assert "429" in paths["/api/v1/auth/token"]["post"]["responses"]  # the login throttle


def test_links_name_operations_of_the_document(document):
    ids = {operation["operationId"] for _, operation in operations(document)}
    created = document["paths"]["/api/v1/applications"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in created.values()} <= ids
    read = [link for link in created.values() if link["operationId"].startswith("get_application")]
    assert read and read[0]["parameters"] == {"path.application_id": "$response.body#/id"}


def test_real_error_bodies_match_the_schemas(client):
    not_found = client.get("/api/v1/no-such-route")
    assert not_found.headers["content-type"] == PROBLEM_MEDIA_TYPE
    Problem.model_validate(not_found.json())
    malformed = client.post("/api/v1/auth/token", data={})
    assert malformed.status_code == 422
    ValidationProblem.model_validate(malformed.json())
    Problem.model_validate(NotFound(what="x").to_problem())
    ValidationProblem.model_validate(InvalidInput(reason_zh="甲", reason_en="a").to_problem())


def test_a_422_schema_refuses_another_status():
    body = NotFound(what="x").to_problem()
    with pytest.raises(ValidationError):
        ValidationProblem.model_validate(body)
