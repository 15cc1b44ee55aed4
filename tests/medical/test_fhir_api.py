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
    assert _outcome(_post_claim(client, hospital, card_no=card_no),
                    409) == ["medical_credential_refused", "card_lost"]


def test_the_benefit_check_answers_in_force_on_the_day_or_not_enrolled(platform, client,
                                                                      hospital, office):
    _, _, card_no = insured(platform, scheme="390")
    for headers in (hospital, office):
        check = client.post(f"{ROOT}/CoverageEligibilityRequest", headers=headers,
                            json=examples.eligibility_request(card_no=card_no))
        answer = _fhir(check, CoverageEligibilityResponse)
        assert answer.outcome == "complete" and answer.insurance[0].inforce is True
        assert answer.insurance[0].coverage.identifier.system == Sid.COVERAGE
        assert answer.insurance[0].benefitPeriod.start.isoformat() == "2026-01-01"
    before = client.post(f"{ROOT}/CoverageEligibilityRequest", headers=hospital,
                         json=examples.eligibility_request(card_no=card_no, day="2025-12-31"))
    answer = _fhir(before, CoverageEligibilityResponse)
    assert answer.outcome == "error"
    assert answer.error[0].code.coding[0].code == "medical_not_enrolled"


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


# --- Claim and ClaimResponse -----------------------------------------------------------------

METFORMIN, ATORVASTATIN = "XA10BAE010A001010100123", "XC10AAA040A001010100345"  # 甲, 乙 10 %


def _settlement_row(platform, setl_id: str):
    from sqlalchemy import select

    from yikatong.medical.models import Settlement

    with platform.uow() as uow:
        return uow.session.execute(select(Settlement).where(Settlement.setl_id == setl_id)
                                   ).scalar_one()


def _count(platform, model) -> int:
    from sqlalchemy import func, select

    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(model)).scalar_one()


def _post_claim(client, headers, **fields):
    fields.setdefault("items", [(METFORMIN, "120.00"), (ATORVASTATIN, "80.50")])
    return client.post(f"{ROOT}/Claim", headers=headers, json=examples.claim(**fields))


def test_a_claim_is_settled_once_and_answered_with_the_settlement(platform, client, hospital,
                                                                  office):
    from fhir.resources.R4B.claimresponse import ClaimResponse

    from yikatong.medical.models import Settlement, Visit

    _, _, card_no = insured(platform, credit=5_000)
    answer = _post_claim(client, hospital, card_no=card_no)
    assert answer.status_code == 200, answer.text
    response = _fhir(answer, ClaimResponse)
    row = _settlement_row(platform, response.id)
    # every total is the settlement's own figure, to the fen
    totals = {next(c.code for c in t.category.coding if c.system == Cs.SETLINFO):
              int(t.amount.value * 100) for t in response.total}
    assert totals == {name: getattr(row, name) for name in totals}
    assert totals["medfee_sumamt"] == 20_050
    assert totals["medfee_sumamt"] == (totals["fund_pay_sumamt"] + totals["psn_part_amt"]
                                       + totals["hosp_part_amt"])
    assert totals["acct_pay"] <= 5_000 and totals["balc"] == 5_000 - totals["acct_pay"]
    assert response.requestor.identifier.value == HOSPITAL and response.status == "active"
    assert [item.itemSequence for item in response.item] == [1, 2]
    assert response.request.identifier.value == "claim-0001"
    # the same Claim again: the same answer, nothing settled twice
    again = _post_claim(client, hospital, card_no=card_no)
    assert again.status_code == 200 and again.content == answer.content
    assert (_count(platform, Settlement), _count(platform, Visit)) == (1, 1)
    # another Claim under the same identifier is refused
    other = _post_claim(client, hospital, card_no=card_no, items=[(METFORMIN, "12.00")])
    assert _outcome(other, 409) == ["idempotency_key_reused"]
    # read back, by the institution and by the office
    for headers in (hospital, office):
        read = client.get(f"{ROOT}/ClaimResponse/{response.id}", headers=headers)
        assert read.content == answer.content


def test_a_cancelled_claim_shows_a_cancelled_claim_response(platform, client, hospital):
    from fhir.resources.R4B.claimresponse import ClaimResponse

    _, _, card_no = insured(platform, credit=5_000)
    settled = _fhir(_post_claim(client, hospital, card_no=card_no), ClaimResponse)
    paid = settled.payment.amount.value
    assert _outcome(_post_claim(client, hospital, card_no=card_no, identifier="never-settled",
                                status="cancelled"), 404) == ["fhir_claim_not_settled"]
    for _ in range(2):  # cancelling again answers the same
        answer = _post_claim(client, hospital, card_no=card_no, status="cancelled")
        cancelled = _fhir(answer, ClaimResponse)
        assert answer.status_code == 200 and cancelled.id == settled.id
        assert cancelled.status == "cancelled" and cancelled.payment.amount.value == 0
        assert cancelled.payment.adjustment.value == -paid
    assert _settlement_row(platform, settled.id).state == "cancelled"
    read = _fhir(client.get(f"{ROOT}/ClaimResponse/{settled.id}", headers=hospital),
                 ClaimResponse)
    assert read.status == "cancelled"


def test_an_institution_settles_and_reads_only_its_own_patients_visits(platform, client,
                                                                      hospital, login):
    from fhir.resources.R4B.claimresponse import ClaimResponse

    _, _, card_no = insured(platform)
    other = login(Role.MEDICAL_INSTITUTION, username="his-h2", branch_code=OTHER_HOSPITAL)
    mine = _fhir(_post_claim(client, hospital, card_no=card_no), ClaimResponse)
    assert _outcome(client.get(f"{ROOT}/ClaimResponse/{mine.id}", headers=other),
                    404) == ["medical_settlement_not_found"]
    assert _outcome(_post_claim(client, other, card_no=card_no, provider=HOSPITAL),
                    403) == ["fhir_provider_not_you"]


def test_a_pharmacy_purchase_is_a_pharmacy_claim(platform, client, reference, login):
    from fhir.resources.R4B.claimresponse import ClaimResponse

    from tests.medical.conftest import PHARMACY

    ssn, _, _ = insured(platform)
    pharmacy = login(Role.MEDICAL_INSTITUTION, username="pharmacy-1", branch_code=PHARMACY)
    answer = _post_claim(client, pharmacy, id_number=ssn, claim_type="pharmacy",
                         provider=PHARMACY, items=[(METFORMIN, "35.00")])
    response = _fhir(answer, ClaimResponse)
    assert response.type.coding[0].code == "pharmacy" and response.subType.coding[0].code == "41"
    assert _settlement_row(platform, response.id).med_type == "41"


def test_a_refused_claim_leaves_no_open_visit_and_may_be_posted_again(platform, client,
                                                                     hospital):
    from sqlalchemy import select

    from yikatong.medical.models import FeeLine, Settlement, Visit

    _, _, card_no = insured(platform)
    unknown = [(METFORMIN, "12.00"), ("XZZZ", "1.00")]
    for _ in range(2):  # refused at the upload (2204): the registration is reversed each time
        assert _outcome(_post_claim(client, hospital, card_no=card_no, items=unknown),
                        422) == ["medical_unknown_catalogue_code"]
    with platform.uow() as uow:
        states = uow.session.execute(select(Visit.state)).scalars().all()
    assert states == ["cancelled", "cancelled"]
    assert (_count(platform, FeeLine), _count(platform, Settlement)) == (0, 0)
    settled = _post_claim(client, hospital, card_no=card_no, items=[(METFORMIN, "12.00")])
    assert settled.status_code == 200, settled.text


def test_the_same_claim_posted_twice_at_once_settles_once(platform, reference):
    import json
    from concurrent.futures import ThreadPoolExecutor

    from tests.medical.conftest import institution
    from yikatong.medical import fhir_door
    from yikatong.medical.models import Settlement, Visit

    _, _, card_no = insured(platform)
    body = json.dumps(examples.claim(card_no=card_no, items=[(METFORMIN, "30.00")])).encode()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: fhir_door.submit_claim(
            platform=platform, actor=institution(HOSPITAL), body=body), range(2)))
    assert answers[0].id == answers[1].id
    assert (_count(platform, Settlement), _count(platform, Visit)) == (1, 1)


@pytest.mark.no_db
def test_the_capability_statement_is_public_and_names_what_the_door_serves(client):
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    answer = client.get(f"{ROOT}/metadata")
    statement = _fhir(answer, CapabilityStatement)
    assert statement.fhirVersion == "4.3.0" and statement.kind == "instance"
    served = {(r.type, i.code) for r in statement.rest[0].resource for i in r.interaction}
    assert served == {("Coverage", "search-type"), ("CoverageEligibilityRequest", "create"),
                      ("Claim", "create"), ("ClaimResponse", "read")}
    assert statement.implementation.url.endswith(ROOT)


def test_a_claim_of_500_lines_fits_the_body_limit_and_a_larger_body_is_an_outcome(
        platform, client, hospital):
    import json

    big = examples.claim(items=[(METFORMIN, "12.00")] * 500)
    body = json.dumps(big, indent=2).encode()
    assert 64 * 1024 < len(body) < 512 * 1024
    # within the limit: read and refused for what it says (nobody behind the ID number)
    answer = client.post(f"{ROOT}/Claim", headers={**hospital, "content-type": FHIR_JSON},
                         content=body)
    assert _outcome(answer, 404) == ["medical_person_not_found"]
    too_big = client.post(f"{ROOT}/Claim", headers={**hospital, "content-type": FHIR_JSON},
                          content=b" " * (513 * 1024))
    assert _outcome(too_big, 413) == ["request_too_large"]
