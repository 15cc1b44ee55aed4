"""A person insured in Shanghai at a Changzhou hospital through the institution interface, the
envelope's insuplc_admdvs = 310000: 1101 answered by Shanghai through the national platform,
2201 → 2204 → 2207 a visit and a settlement of the hospital's own, in its 3201 reconciliation,
2208 cancelled — and the inter-region row to clear."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.medical.conftest import HOSPITAL
from tests.medical.interface_helpers import connected
from tests.medical.test_interface_visit import fee_lines
from yikatong.medical import interregion
from yikatong.medical.home_office import national_for

pytestmark = pytest.mark.db

SHANGHAI = "310000"
CERT = "310101198001010011"


def test_a_visitor_through_the_interface(reference, client, admin_actor, clock):
    platform = reference
    psn_no = national_for(platform).office(SHANGHAI).enrol(cert_no=CERT, name="上海访客", balance=3_000)
    his = connected(platform, client, admin_actor, clock, HOSPITAL)
    his.sign_in()
    credential = {"mdtrt_cert_type": "02", "mdtrt_cert_no": CERT}
    person = his.ok("1101", credential, insuplc_admdvs=SHANGHAI)
    assert person["baseinfo"]["psn_no"] == psn_no and person["insuinfo"][0]["insuplc_admdvs"] == SHANGHAI

    registered = his.ok("2201", {**credential, "med_type": "11"}, insuplc_admdvs=SHANGHAI)["data"]
    mdtrt_id = registered["mdtrt_id"]
    assert registered["psn_no"] == psn_no
    his.ok("2204", fee_lines(mdtrt_id), key="feedetail", insuplc_admdvs=SHANGHAI)
    info = his.ok("2207", {**credential, "mdtrt_id": mdtrt_id, "medfee_sumamt": "145.00", "acct_used_flag": "1"},
                  insuplc_admdvs=SHANGHAI)["setlinfo"]
    assert info["medfee_sumamt"] == "145.00"

    day = {"stmt_begndate": "2026-03-02", "stmt_enddate": "2026-03-02"}
    figures = {"medfee_sumamt": info["medfee_sumamt"], "fund_pay_sumamt": info["fund_pay_sumamt"],
               "acct_pay": info["acct_pay"], "cash_payamt": info["psn_cash_pay"], "fixmedins_setl_cnt": 1}
    agree = his.ok("3201", {**day, **figures})["stmtinfo"]
    assert agree["stmt_rslt"] == "0" and agree["differences"] == {}
    with platform.uow() as uow:
        (row,) = interregion.rows(uow=uow, counterpart_admdvs=SHANGHAI)
    owed = int((Decimal(info["fund_pay_sumamt"]) + Decimal(info["acct_pay"])) * 100)
    assert (row.direction, row.fixmedins_code, row.owed) == ("in", HOSPITAL, owed)

    his.ok("2208", {"setl_id": info["setl_id"], "mdtrt_id": mdtrt_id}, insuplc_admdvs=SHANGHAI)
    with platform.uow() as uow:
        assert sum(r.owed for r in interregion.rows(uow=uow, counterpart_admdvs=SHANGHAI)) == 0
    assert national_for(platform).office(SHANGHAI).balance(psn_no) == 3_000
