"""The FHIR R4B door through the application (ASGI): a designated institution and the medical
insurance office read coverage, check benefits and settle visits with FHIR resources; every
answer is read back with fhir.resources' R4B models, every error is an OperationOutcome."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.cards.conftest import PHONE, act
from tests.medical import fhir_examples as examples
from tests.medical.conftest import HOSPITAL, OTHER_HOSPITAL, insured
from yikatong.cards import service as cards
from yikatong.core.actor import Role
from yikatong.medical.fhir import FHIR_JSON, Cs, Sid

pytestmark = pytest.mark.db

ROOT = "/api/fhir/r4b"


@pytest.fixture
def hospital(reference, login):
    """Headers of the Level 3 hospital's information system (its login names its code)."""
    return login(Role.MEDICAL_INSTITUTION, username="his-h1", branch_code=HOSPITAL)


@pytest.fixture
def office(reference, login):
    return login(Role.MEDICAL_OFFICE, username="office-1")


def _fhir(response, model):
    assert response.headers["content-type"].startswith(FHIR_JSON), response.text
    return model.model_validate_json(response.content)


def _outcome(response, status: int) -> list[str]:
    """The codes (stable code, then reason) of an error answer, checked as an OperationOutcome."""
    assert response.status_code == status, response.text
    outcome = _fhir(response, OperationOutcome)
    return [c.code for c in outcome.issue[0].details.coding]


def test_an_institution_reads_a_patients_coverage_by_card_or_id_number(platform, client,
                                                                        hospital):
    ssn, person_id, card_no = insured(platform, scheme="310")
    for system, value, post in ((Sid.SS_CARD, card_no, False), (Sid.ID_NUMBER, ssn, True)):
        token = {"identifier": f"{system}|{value}"}
        answer = (client.post(f"{ROOT}/Coverage/_search", data=token, headers=hospital) if post
                  else client.get(f"{ROOT}/Coverage", params=token, headers=hospital))
        assert answer.status_code == 200, answer.text
        bundle = _fhir(answer, Bundle)
        assert bundle.type == "searchset" and bundle.total == 1
        coverage = Coverage.model_validate(bundle.entry[0].resource.model_dump())
        assert coverage.type.coding[0].code == "310"
        assert coverage.payor[0].identifier.value == "320402"
        assert coverage.beneficiary.identifier.system == Sid.PERSON
        assert ssn not in answer.text  # the answer names the person by psn_no, never the ID
    nobody = client.get(f"{ROOT}/Coverage", headers=hospital,
                        params={"identifier": f"{Sid.ID_NUMBER}|320402199001011234"})
    assert _fhir(nobody, Bundle).total == 0


def test_a_card_under_loss_refuses_the_credential_and_the_id_number_still_works(
        platform, client, hospital):
    ssn, _, card_no = insured(platform)
    act(platform, cards.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    refused = client.get(f"{ROOT}/Coverage", headers=hospital,
                         params={"identifier": f"{Sid.SS_CARD}|{card_no}"})
    assert _outcome(refused, 409) == ["medical_credential_refused", "card_lost"]
    check = client.post(f"{ROOT}/CoverageEligibilityRequest", headers=hospital,
                        json=examples.eligibility_request(card_no=card_no))
    answer = _fhir(check, CoverageEligibilityResponse)
    assert check.status_code == 200 and answer.outcome == "error" and not answer.insurance
    assert {(c.system, c.code) for c in answer.error[0].code.coding} == {
        (Cs.ERROR, "medical_credential_refused"), (Cs.ERROR_REASON, "card_lost")}
    by_id = client.post(f"{ROOT}/CoverageEligibilityRequest", headers=hospital,
                        json=examples.eligibility_request(id_number=ssn))
    assert _fhir(by_id, CoverageEligibilityResponse).insurance[0].inforce is True


def test_the_benefit_check_answers_in_force_on_the_day_or_not_enrolled(platform, client,
                                                                      hospital, office):
    _, _, card_no = insured(platform, scheme="390")
    for headers in (hospital, office):
        check = client.post(f"{ROOT}/CoverageEligibilityRequest", headers=headers,
                            json=examples.eligibility_request(card_no=card_no))
        answer = _fhir(check, CoverageEligibilityResponse)
        assert answer.outcome == "complete" and answer.insurance[0].inforce is True
        coverage_id = answer.insurance[0].coverage.reference.removeprefix("Coverage/")
        assert answer.insurance[0].benefitPeriod.start.isoformat() == "2026-01-01"
    before = client.post(f"{ROOT}/CoverageEligibilityRequest", headers=hospital,
                         json=examples.eligibility_request(card_no=card_no, day="2025-12-31"))
    answer = _fhir(before, CoverageEligibilityResponse)
    assert answer.outcome == "error"
    assert answer.error[0].code.coding[0].code == "medical_not_enrolled"
    assert coverage_id


def test_errors_are_operation_outcomes(platform, client, hospital, login):
    assert _outcome(client.post(f"{ROOT}/CoverageEligibilityRequest",
                                json=examples.eligibility_request()), 401) == ["unauthenticated"]
    holder = login(Role.HOLDER, username="holder-fhir")
    assert _outcome(client.get(f"{ROOT}/Coverage", headers=holder,
                               params={"identifier": f"{Sid.ID_NUMBER}|1"}),
                    403) == ["forbidden", "role_not_allowed"]
    assert _outcome(client.post(f"{ROOT}/CoverageEligibilityRequest", headers=hospital,
                                content=b"{not json", ), 422) == ["fhir_invalid"]
    assert _outcome(client.post(f"{ROOT}/CoverageEligibilityRequest", headers=hospital,
                                json=examples.eligibility_request(provider=OTHER_HOSPITAL)),
                    403) == ["fhir_provider_not_you"]
    assert _outcome(client.get(f"{ROOT}/Coverage", headers=hospital,
                               params={"identifier": "urn:unknown|1"}), 422) == ["fhir_invalid"]
    assert _outcome(client.get(f"{ROOT}/Nothing", headers=hospital), 404) == ["route_not_found"]
    answer = client.get(f"{ROOT}/Coverage", headers=hospital)  # the search parameter is missing
    assert _outcome(answer, 422) == ["invalid_input"]
    assert answer.headers["cache-control"] == "no-store"
