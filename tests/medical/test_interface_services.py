"""The institution interface's day-one messages through the application: person lookup
(1101), benefit check (2001), catalogue download (1901), yearly totals (5206), disease filing
(2503/2504)."""

from __future__ import annotations

import pytest

from tests.medical.conftest import HOSPITAL, insured, registered
from tests.medical.interface_helpers import connected
from yikatong.medical import envelope as env

pytestmark = pytest.mark.db


@pytest.fixture
def his(reference, client, admin_actor, clock):
    hospital = connected(reference, client, admin_actor, clock, HOSPITAL)
    hospital.sign_in()
    return hospital


def test_a_person_is_found_by_id_number_with_the_insurance_and_the_account(his, reference):
    ssn, person_id, card_no = insured(reference, credit=50_000)
    output = his.ok("1101", {"mdtrt_cert_type": "02", "mdtrt_cert_no": ssn})
    base, (insurance,) = output["baseinfo"], output["insuinfo"]
    assert base["certno"] == ssn and base["psn_name"] == "王小明"
    assert base["gend"] == ("1" if int(ssn[16]) % 2 else "2")  # the ID number's 17th digit
    assert base["psn_no"]
    assert insurance["balc"] == "500.00" and insurance["insutype"] == "310"
    assert insurance["psn_type"] == "11" and insurance["insuplc_admdvs"] == "320402"
    by_card = his.ok("1101", {"mdtrt_cert_type": "03", "mdtrt_cert_no": card_no})
    assert by_card["baseinfo"]["psn_no"] == base["psn_no"]


def test_lookups_that_find_nobody_or_nobody_insured_are_refused(his, reference):
    ssn, _person_id = registered(reference, name="李四")
    not_enrolled = his.send("1101", {"mdtrt_cert_type": "02", "mdtrt_cert_no": ssn})
    assert not_enrolled["infcode"] == env.REFUSED and not_enrolled["err_code"] == "medical_not_enrolled"
    bad_type_envelope = his.envelope("1101", {"mdtrt_cert_type": "09", "mdtrt_cert_no": ssn})
    bad_type = his.post(bad_type_envelope, nonce="refused-but-spent")
    assert bad_type["infcode"] != 0 and bad_type["err_code"] == "medical_cert_type"
    # the refused message spent its nonce all the same
    assert his.post(bad_type_envelope, nonce="refused-but-spent")["err_code"] == "medical_nonce_replayed"
    missing = his.send("1101", {"mdtrt_cert_type": "02"})
    assert missing["infcode"] == env.MALFORMED and "mdtrt_cert_no" in missing["err_msg"]
    nobody = his.send("2001", {"psn_no": "NOBODY"})
    assert nobody["err_code"] == "medical_person_not_found"


def test_the_benefit_check_and_the_yearly_totals_of_an_insured_person(his, reference):
    ssn, _person_id, _card = insured(reference, scheme="390", credit=0)
    psn_no = his.ok("1101", {"mdtrt_cert_type": "02", "mdtrt_cert_no": ssn})["baseinfo"]["psn_no"]
    (check,) = his.ok("2001", {"psn_no": psn_no, "insutype": "390", "med_type": "11"})["trtinfo"]
    assert check["trt_enjymnt_flag"] == "1" and check["fund_pay_type"] == "390"
    other_scheme = his.send("2001", {"psn_no": psn_no, "insutype": "310"})
    assert other_scheme["err_code"] == "medical_not_enrolled"
    before_enrolment = his.send("2001", {"psn_no": psn_no, "begntime": "2025-06-01 08:00:00"})
    assert before_enrolment["err_code"] == "medical_not_enrolled"
    totals = {row["cum_type_code"]: row["cum"] for row in
              his.ok("5206", {"psn_no": psn_no, "cum_ym": "202603"})["cuminfo"]}
    assert totals["outpatient_deductible"] == "0.00" and totals["inpatient_admissions"] == "0"
    assert his.send("5206", {"psn_no": psn_no, "cum_ym": "20x6"})["infcode"] == env.MALFORMED


def test_the_catalogue_downloads_with_class_and_price_limit(his):
    output = his.ok("1901", {})
    assert output["ver"] and len(output["list"]) > 3
    classes = {row["chrgitm_lv"] for row in output["list"]}
    assert classes <= {"01", "02", "03"} and "02" in classes
    class_b = next(row for row in output["list"] if row["chrgitm_lv"] == "02")
    assert class_b["selfpay_prop"].startswith("0.") and class_b["med_list_name"]
    drugs = his.ok("1901", {"list_type": "drug"})["list"]
    assert drugs and all(row["list_type"] == "drug" for row in drugs) and len(drugs) < len(output["list"])


def test_a_disease_filing_and_its_revocation(his, reference):
    ssn, _person_id, _card = insured(reference)
    psn_no = his.ok("1101", {"mdtrt_cert_type": "02", "mdtrt_cert_no": ssn})["baseinfo"]["psn_no"]
    filed = his.ok("2503", {"psn_no": psn_no, "dise_type": "1", "opsp_dise_code": "I10",
                            "opsp_dise_name": "高血压", "begndate": "2026-03-01"})["result"]
    assert filed["trt_dcla_detl_sn"] and filed["dise_type"] == "chronic"
    revoked = his.ok("2504", {"psn_no": psn_no, "trt_dcla_detl_sn": filed["trt_dcla_detl_sn"]})
    assert revoked["result"]["trt_dcla_detl_sn"] == filed["trt_dcla_detl_sn"]
    again = his.send("2504", {"psn_no": psn_no, "trt_dcla_detl_sn": filed["trt_dcla_detl_sn"]})
    assert again["err_code"] == "medical_filing_revoked"
    assert his.send("2503", {"psn_no": psn_no, "dise_type": "7", "opsp_dise_code": "I10",
                             "opsp_dise_name": "x", "begndate": "2026-03-01"})["infcode"] == env.MALFORMED
