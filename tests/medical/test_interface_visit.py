"""A whole outpatient visit through the institution interface, signed, as a hospital
information system sends it: 9001 → 1101 → 2201 → 2204 → 2206 → 2207, the same 2207 again,
daily reconciliation (3201/3202), cancellation (2208), reversal (2601), and another
institution refused at every step of a visit that is not its own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.medical.conftest import HOSPITAL, OTHER_HOSPITAL, insured
from tests.medical.interface_helpers import connected
from yikatong.ledger import service as ledger
from yikatong.medical import envelope as env
from yikatong.medical import service
from yikatong.medical.models import Settlement

pytestmark = pytest.mark.db

CONSULT_CHIEF = "001102000030000"         # B, limit 35.00, pre-self-pay 10 %
ATORVASTATIN = "XC10AAA040A001010100345"  # B, no limit, 10 %
BLOOD_COUNT = "002101000010000"           # A, limit 20.00
VITAMIN_C = "XA11GAV010A001010109999"     # C


def fee_lines(mdtrt_id: str) -> list[dict]:
    return [{"feedetl_sn": "1", "mdtrt_id": mdtrt_id, "med_list_codg": CONSULT_CHIEF, "cnt": 1,
             "pric": "40.00", "det_item_fee_sumamt": "40.00", "fee_ocur_time": "2026-03-02 09:31:00"},
            {"feedetl_sn": "2", "mdtrt_id": mdtrt_id, "med_list_codg": ATORVASTATIN, "cnt": 2,
             "pric": 35, "det_item_fee_sumamt": 70},
            {"feedetl_sn": "3", "mdtrt_id": mdtrt_id, "med_list_codg": BLOOD_COUNT, "cnt": 1,
             "pric": "20.00"},
            {"feedetl_sn": "4", "mdtrt_id": mdtrt_id, "med_list_codg": VITAMIN_C, "cnt": 1,
             "pric": "15.00"}]


def fen(text: str) -> int:
    return int(Decimal(text) * 100)


@pytest.fixture
def world(reference, client, admin_actor, clock):
    his = connected(reference, client, admin_actor, clock, HOSPITAL)
    other = connected(reference, client, admin_actor, clock, OTHER_HOSPITAL)
    his.sign_in()
    other.sign_in()
    return reference, his, other


def visit(his, card_no: str) -> tuple[str, dict]:
    """2201 and 2204: (mdtrt_id, the credential)."""
    credential = {"mdtrt_cert_type": "03", "mdtrt_cert_no": card_no}
    registered = his.ok("2201", {**credential, "med_type": "11", "ipt_otp_no": "MZ0001",
                                 "dept_name": "心内科"})["data"]
    his.ok("2204", fee_lines(registered["mdtrt_id"]), key="feedetail")
    return registered["mdtrt_id"], credential


def test_a_whole_outpatient_visit_signed_through_the_interface(world, clock):
    platform, his, other = world
    ssn, person_id, card_no = insured(platform, credit=50_000)
    person = his.ok("1101", {"mdtrt_cert_type": "03", "mdtrt_cert_no": card_no})
    psn_no = person["baseinfo"]["psn_no"]
    assert person["insuinfo"][0]["balc"] == "500.00"

    credential = {"mdtrt_cert_type": "03", "mdtrt_cert_no": card_no}
    registered = his.ok("2201", {**credential, "psn_no": psn_no, "med_type": "11",
                                 "ipt_otp_no": "MZ0001", "dept_name": "心内科"})["data"]
    mdtrt_id = registered["mdtrt_id"]
    assert registered["psn_no"] == psn_no and registered["ipt_otp_no"] == "MZ0001"
    upload_envelope = his.envelope("2204", fee_lines(mdtrt_id), key="feedetail")
    uploaded = his.post(upload_envelope)
    assert uploaded["infcode"] == 0, uploaded
    assert [(x["chrgitm_lv"], x["pric_uplmt_amt"], x["selfpay_prop"]) for x in uploaded["output"]["result"]] == [
        ("02", "35.00", "0.1000"), ("02", "", "0.1000"), ("01", "20.00", "0.0000"), ("03", "", "0.0000")]
    assert his.post(upload_envelope)["output"] == uploaded["output"]  # the same msgid: no second lines

    settle_input = {**credential, "psn_no": psn_no, "mdtrt_id": mdtrt_id, "medfee_sumamt": "145.00",
                    "acct_used_flag": "1", "insutype": "310"}
    preview = his.ok("2206", settle_input)["setlinfo"]
    assert preview["setl_id"] == "" and preview["setl_stas"] == "preview"
    settle = his.envelope("2207", settle_input)
    settled = his.post(settle)
    assert settled["infcode"] == 0, settled
    info = settled["output"]["setlinfo"]
    assert {k: v for k, v in info.items() if k not in ("setl_id", "setl_stas", "setl_time",
                                                       "medins_setl_id")} == \
        {k: v for k, v in preview.items() if k not in ("setl_id", "setl_stas", "setl_time",
                                                       "medins_setl_id")}
    assert (info["medfee_sumamt"], info["overlmt_selfpay"], info["fulamt_ownpay_amt"]) == (
        "145.00", "5.00", "15.00")
    amounts = {k: fen(info[k]) for k in ("medfee_sumamt", "fund_pay_sumamt", "psn_part_amt",
                                         "hosp_part_amt", "acct_pay", "psn_cash_pay", "balc")}
    assert amounts["medfee_sumamt"] == amounts["fund_pay_sumamt"] + amounts["psn_part_amt"] + amounts["hosp_part_amt"]
    assert amounts["psn_part_amt"] == amounts["acct_pay"] + amounts["psn_cash_pay"]
    assert amounts["balc"] == 50_000 - amounts["acct_pay"]
    with platform.uow() as uow:
        row = uow.session.execute(select(Settlement)).scalar_one()
        assert row.setl_id == info["setl_id"] and row.fund_pay_sumamt == amounts["fund_pay_sumamt"]
        assert service.account_balance(uow=uow, person_id=person_id) == amounts["balc"]
        assert ledger.trial_balance(uow=uow).balanced

    # the same 2207 again (a new nonce, as a retry is sent): the first answer, nothing settled twice
    clock.advance(seconds=20)
    again = his.post(settle)
    assert again["output"] == settled["output"] and again["inf_refmsgid"] == settled["inf_refmsgid"]
    # the same msgid with another input is refused
    reused = his.post({**settle, "input": {"data": {**settle_input, "acct_used_flag": "0"}}})
    assert reused["infcode"] == env.REFUSED and reused["err_code"] == "medical_msgid_reused"

    # another institution: not found, whatever it tries with this visit
    for infno, data in (("2204", fee_lines(mdtrt_id)), ("2206", settle_input), ("2207", settle_input),
                        ("2208", {"setl_id": info["setl_id"], "mdtrt_id": mdtrt_id}),
                        ("2202", {"mdtrt_id": mdtrt_id})):
        answer = other.send(infno, data, key="feedetail" if infno == "2204" else "data")
        assert answer["infcode"] == env.REFUSED and answer["err_code"] in (
            "medical_visit_not_found", "medical_settlement_not_found"), (infno, answer)

    # the day's reconciliation: the institution's figures agree, then one fen off
    day = {"stmt_begndate": "2026-03-02", "stmt_enddate": "2026-03-02", "insutype": "310"}
    figures = {"medfee_sumamt": info["medfee_sumamt"], "fund_pay_sumamt": info["fund_pay_sumamt"],
               "acct_pay": info["acct_pay"], "cash_payamt": info["psn_cash_pay"],
               "fixmedins_setl_cnt": 1}
    agree = his.ok("3201", {**day, **figures})["stmtinfo"]
    assert agree["stmt_rslt"] == "0" and agree["differences"] == {}
    off = his.ok("3201", {**day, **figures, "acct_pay": str(Decimal(info["acct_pay"]) + Decimal("0.01"))})
    assert off["stmtinfo"]["stmt_rslt"] == "1" and off["stmtinfo"]["differences"] == {"acct_pay": "0.01"}
    detail = {"setl_id": info["setl_id"], "medfee_sumamt": info["medfee_sumamt"],
              "fund_pay_sumamt": info["fund_pay_sumamt"], "acct_pay": info["acct_pay"],
              "cash_payamt": info["psn_cash_pay"], "refd_setl_flag": "0"}
    alike = his.post({**his.envelope("3202", day), "input": {"data": day, "detail": [detail]}})
    assert alike["output"]["detail"] == [] and alike["output"]["stmtinfo"]["stmt_rslt"] == "0"
    nothing = his.ok("3202", day)  # the institution lists none: the platform's one is missing there
    assert [d["stmt_rslt"] for d in nothing["detail"]] == ["missing_at_institution"]
    stray = {**detail, "setl_id": "NOT-OURS"}
    listed = his.post({**his.envelope("3202", day), "input": {"data": day, "detail": [
        {**detail, "medfee_sumamt": "145.01"}, stray]}})["output"]
    assert listed["stmtinfo"]["stmt_rslt"] == "1"
    assert [(d["setl_id"], d["stmt_rslt"], d["fields"]) for d in listed["detail"]] == [
        (info["setl_id"], "amounts_differ", ["medfee_sumamt"]), ("NOT-OURS", "missing_at_platform", [])]
    assert other.ok("3201", {**day, **figures})["stmtinfo"]["differences"]["count"] == "1"  # it made none

    # cancellation (2208): the account back to 500.00, the day nets to nothing
    cancelled = his.ok("2208", {"setl_id": info["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no})
    assert cancelled["setlinfo"]["setl_stas"] == "cancelled"
    with platform.uow() as uow:
        assert service.account_balance(uow=uow, person_id=person_id) == 50_000
    net = his.ok("3201", {**day, "medfee_sumamt": 0, "fund_pay_sumamt": 0, "acct_pay": 0,
                          "cash_payamt": 0, "fixmedins_setl_cnt": 0})["stmtinfo"]
    assert net["stmt_rslt"] == "0", net


def test_a_settlement_whose_answer_was_lost_is_reversed(world):
    platform, his, _other = world
    _ssn, person_id, card_no = insured(platform, credit=20_000)
    mdtrt_id, credential = visit(his, card_no)
    settle = his.envelope("2207", {**credential, "mdtrt_id": mdtrt_id})
    assert his.post(settle)["infcode"] == 0  # the HIS never saw this answer
    reversed_ = his.ok("2601", {"omsgid": settle["msgid"], "oinfno": "2207"})["result"]
    assert reversed_["outcome"] == "reversed"
    with platform.uow() as uow:
        assert service.account_balance(uow=uow, person_id=person_id) == 20_000
    his.post(settle)  # the lost message arriving again is not settled again
    with platform.uow() as uow:
        assert service.account_balance(uow=uow, person_id=person_id) == 20_000
    # a registration withdrawn (2202) by the reversal of its own message
    mdtrt_id, _credential = visit(his, card_no)
    assert his.ok("2202", {"mdtrt_id": mdtrt_id})["result"]["outcome"] == "reversed"
