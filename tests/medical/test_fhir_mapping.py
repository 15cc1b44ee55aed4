"""The FHIR door's mapping (yikatong.medical.fhir), without a database: every resource it builds
is read back by fhir.resources' R4B models (the library's validation), and what a settlement's
ClaimResponse shows is exactly what the rules computed."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.medical import fhir_examples as examples
from tests.medical.helpers import OUT, POLICY, A, B, C, line
from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.medical import fhir
from yikatong.medical.fhir import Cs, Sid
from yikatong.medical.rules import (
    Encounter,
    Insured,
    ItemClass,
    Level,
    MedType,
    Scheme,
    YearTotals,
    settle,
)

SETTLED_AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def _settled(lines, *, balance=30_000, scheme=Scheme.EMPLOYEE, cancelled=False):
    result = settle(policy=POLICY, insured=Insured(scheme=scheme, retired=False,
                                                   account_balance=balance),
                    encounter=Encounter(MedType.OUTPATIENT, Level.TWO), lines=lines,
                    year=YearTotals(outpatient_deductible=60_000))
    facts = fhir.SettlementFacts(
        claim_response_id="S-1", mdtrt_id="M-1", fixmedins_code=examples.INSTITUTION,
        psn_no="32040000000007", admdvs="320400", med_type="11", settled_at=SETTLED_AT,
        setlinfo=result.setlinfo, policy_version=result.policy_version,
        lines=[fhir.SettledLine(n, fee) for n, fee in enumerate(lines, start=1)],
        cancelled_at=SETTLED_AT if cancelled else None,
        claim_identifier={"system": "urn:his", "value": "c-1"})
    return result, ClaimResponse.model_validate_json(fhir.to_json(fhir.claim_response(facts)))


def _totals(response: ClaimResponse) -> dict[str, int]:
    """The ClaimResponse's totals back in fen, by setlinfo name."""
    found = {}
    for total in response.total:
        names = [c.code for c in total.category.coding if c.system == Cs.SETLINFO]
        assert len(names) == 1 and total.amount.currency == "CNY"
        found[names[0]] = fhir.fen_of(total.amount.value, what="total")
    return found


def _hl7(response: ClaimResponse, code: str) -> int:
    [amount] = [t.amount.value for t in response.total
                if any(c.system == Cs.ADJUDICATION and c.code == code for c in t.category.coding)]
    return fhir.fen_of(amount, what=code)


def test_a_settlement_shows_every_setlinfo_amount_as_a_total_to_the_fen():
    lines = [line(A, 12_000, code="XA01"), line(B, 8_050, limit=7_000, pre_bp=1000, code="XB01"),
             line(C, 1_999, code="XC01")]
    result, response = _settled(lines)
    setlinfo = dataclasses.asdict(result.setlinfo)
    assert _totals(response) == {name: value for name, value in setlinfo.items()
                                 if name != fhir.RATIO_FIELD}
    assert response.status == "active" and response.outcome == "complete"
    assert response.payment.amount.value == Decimal(
        setlinfo["fund_pay_sumamt"] + setlinfo["acct_pay"]).scaleb(-2)
    [ratio] = response.adjudication
    assert ratio.value == Decimal(setlinfo["pool_prop_selfpay"]) / 10_000
    assert f"policy version: {result.policy_version}" in response.processNote[0].text
    assert response.request.identifier.value == "c-1"
    assert [i.system for i in response.identifier] == [Sid.SETTLEMENT, Sid.VISIT]
    assert response.patient.identifier.system == Sid.PERSON  # never an ID number


def test_each_item_shows_how_steps_1_and_2_split_its_line():
    lines = [line(A, 12_000, code="XA01"), line(B, 8_050, limit=7_000, pre_bp=1000, code="XB01"),
             line(OUT, 1_999, code="XZ01")]
    result, response = _settled(lines)

    def amount(item, name):
        [value] = [a.amount.value for a in item.adjudication
                   if any(c.system == Cs.SETLINFO and c.code == name for c in a.category.coding)]
        return fhir.fen_of(value, what=name)

    a, b, out = response.item
    assert (amount(a, "inscp_scp_amt"), amount(a, "medfee_sumamt")) == (12_000, 12_000)
    # 乙: 10.50 above the 70.00 limit; 10 % of the 70.00 within it first paid by the person
    assert (amount(b, "overlmt_selfpay"), amount(b, "preselfpay_amt"),
            amount(b, "inscp_scp_amt")) == (1_050, 700, 6_300)
    assert amount(out, "fulamt_ownpay_amt") == 1_999 and amount(out, "inscp_scp_amt") == 0
    assert sum(amount(item, "inscp_scp_amt") for item in response.item) == \
        result.setlinfo.inscp_scp_amt


fee_lines = st.lists(st.builds(
    line, st.sampled_from(list(ItemClass)), st.integers(1, 500_000),
    limit=st.one_of(st.none(), st.integers(0, 500_000)), pre_bp=st.sampled_from([0, 500, 1000])),
    min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(lines=fee_lines, balance=st.integers(0, 200_000),
       scheme=st.sampled_from(list(Scheme)), cancelled=st.booleans())
def test_the_claim_response_keeps_the_settlement_invariants_in_fhir_terms(
        lines, balance, scheme, cancelled):
    result, response = _settled(lines, balance=balance, scheme=scheme, cancelled=cancelled)
    totals = _totals(response)
    # submitted = benefit (all funds) + copay (the person) + the institution's share
    assert _hl7(response, "submitted") == (_hl7(response, "benefit") + _hl7(response, "copay")
                                           + totals["hosp_part_amt"])
    assert _hl7(response, "copay") == totals["acct_pay"] + totals["psn_cash_pay"]
    assert _hl7(response, "eligible") == sum(
        fhir.fen_of(a.amount.value, what="eligible") for item in response.item
        for a in item.adjudication if any(c.code == "inscp_scp_amt" for c in a.category.coding))
    paid = totals["fund_pay_sumamt"] + totals["acct_pay"]
    if cancelled:
        assert response.status == "cancelled"
        assert (response.payment.amount.value, response.payment.adjustment.value) == (
            0, -Decimal(paid).scaleb(-2))
        assert response.payment.adjustmentReason.coding[0].code == "a001"
    else:
        assert response.status == "active"
        assert fhir.fen_of(response.payment.amount.value, what="payment") == paid


@pytest.mark.parametrize(("value", "fen"), [
    ("12.30", 1230), (12.3, 1230), (0, 0), ("0.01", 1), (80.5, 8050),
    (str(MAX_AMOUNT_FEN / 100), MAX_AMOUNT_FEN)])
def test_money_converts_to_fen_exactly(value, fen):
    assert fhir.fen_of(value, what="net") == fen
    wire = json.loads(json.dumps({"v": float(fhir.money(fen)["value"])}))["v"]
    assert fhir.fen_of(wire, what="net") == fen


@pytest.mark.parametrize("value", ["0.005", -1, "abc", "NaN", "Infinity",
                                   str(MAX_AMOUNT_FEN / 100 + 0.01)])
def test_money_refuses_fractions_of_a_fen_negatives_and_more_than_the_bound(value):
    with pytest.raises(fhir.FhirInvalid):
        fhir.fen_of(value, what="net")


def test_an_enrolment_is_a_coverage_with_the_office_as_payor():
    facts = fhir.CoverageFacts(coverage_id="42", psn_no="32040000000007", scheme="390", admdvs="320411",
                               start=date(2026, 1, 1), end=date(2026, 12, 31), retired=True)
    resource = Coverage.model_validate_json(fhir.to_json(fhir.coverage(facts)))
    assert resource.type.coding[0].system == Cs.INSUTYPE and resource.type.coding[0].code == "390"
    assert resource.payor[0].identifier.system == Sid.OFFICE
    assert resource.payor[0].identifier.value == "320411"
    assert (resource.period.start, resource.period.end) == (date(2026, 1, 1), date(2026, 12, 31))
    assert resource.beneficiary.identifier.value == "32040000000007"
    assert {c.value for c in resource.class_fhir} == {"390", "retired"}


def test_a_claim_is_read_into_the_visit_it_describes():
    ask = fhir.claim_ask(json.dumps(examples.claim(card_no="A12345678", claim_type="pharmacy")))
    assert ask.credential == fhir.Credential("03", "A12345678")
    assert ask.med_type == "41" and not ask.cancel
    assert ask.fixmedins_code == examples.INSTITUTION
    assert [(li.sequence, li.code, li.amount) for li in ask.lines] == [
        (1, "XA01", 12_000), (2, "XB01", 8_050)]
    assert ask.identifier == {"system": "urn:yikatong-test:his:claim", "value": "claim-0001"}
    again = fhir.claim_ask(examples.claim(card_no="A12345678", claim_type="pharmacy",
                                          status="cancelled"))
    assert again.cancel and again.fingerprint == ask.fingerprint


@pytest.mark.parametrize(("change", "says"), [
    (lambda c: c.pop("identifier"), "identifier"),
    (lambda c: c["type"]["coding"][0].update(code="institutional"), "type"),
    (lambda c: c["item"][0]["productOrService"]["coding"][0].update(system="urn:x"), "catalogue"),
    (lambda c: c["item"][0]["net"].update(value=1.234), "two decimals"),
    (lambda c: c["item"][0].pop("net"), "net"),
    (lambda c: c.update(total={"value": 1, "currency": "CNY"}), "total"),
    (lambda c: c["patient"]["identifier"].update(system="urn:other"), "patient"),
    (lambda c: c["provider"]["identifier"].update(system="urn:other"), "provider"),
    (lambda c: c.update(item=[]), "item"),
    (lambda c: c.update(use="preauthorization"), "use=claim"),
    (lambda c: c.pop("priority"), "priority"),
    (lambda c: c.update(resourceType="Coverage"), "Claim"),
])
def test_a_claim_the_door_cannot_settle_is_refused_naming_why(change, says):
    body = examples.claim()
    change(body)
    with pytest.raises(fhir.FhirInvalid) as refused:
        fhir.claim_ask(json.dumps(body))
    assert says in refused.value.message_en


def test_malformed_json_is_refused():
    with pytest.raises(fhir.FhirInvalid):
        fhir.claim_ask(b'{"resourceType": "Claim",')


def test_an_eligibility_answer_in_force_names_the_coverage():
    ask = fhir.eligibility_ask(examples.eligibility_request(card_no="A12345678"))
    assert ask.credential == fhir.Credential("03", "A12345678") and ask.day == date(2026, 3, 2)
    cov = fhir.CoverageFacts("42", "32040000000007", "310", "320400", date(2020, 1, 1), None)
    answer = CoverageEligibilityResponse.model_validate_json(fhir.to_json(
        fhir.eligibility_response(fhir.EligibilityFacts(ask, SETTLED_AT, date(2026, 3, 2), cov))))
    assert answer.outcome == "complete" and answer.insurance[0].inforce is True
    assert answer.insurance[0].coverage.identifier.value == "42"
    assert answer.insurance[0].coverage.identifier.system == Sid.COVERAGE
    assert answer.request.identifier.value == "elig-0001"
    assert answer.requestor.identifier.value == examples.INSTITUTION


def test_a_refused_credential_is_an_eligibility_error_with_its_reason():
    ask = fhir.eligibility_ask(examples.eligibility_request(card_no="A12345678", identifier=None))
    refusal = fhir.Refusal("medical_credential_refused", "社保卡已挂失", "the card is reported lost",
                           reason="card_lost")
    answer = CoverageEligibilityResponse.model_validate_json(fhir.to_json(
        fhir.eligibility_response(fhir.EligibilityFacts(ask, SETTLED_AT, date(2026, 3, 2),
                                                        refusal=refusal))))
    assert answer.outcome == "error" and not answer.insurance
    codes = {(c.system, c.code) for c in answer.error[0].code.coding}
    assert codes == {(Cs.ERROR, "medical_credential_refused"), (Cs.ERROR_REASON, "card_lost")}
    assert "挂失" in answer.disposition and "lost" in answer.disposition


def test_an_error_answer_is_an_operation_outcome_with_the_stable_code():
    outcome = OperationOutcome.model_validate_json(fhir.to_json(fhir.operation_outcome({
        "status": 403, "code": "forbidden", "title_en": "You are not allowed to do this",
        "detail": "无权执行此操作 / You are not allowed to do this",
        "details": {"reason": "role_not_allowed"}})))
    [issue] = outcome.issue
    assert (issue.severity, issue.code) == ("error", "forbidden")
    assert [c.code for c in issue.details.coding] == ["forbidden", "role_not_allowed"]
    assert "无权" in issue.details.text
