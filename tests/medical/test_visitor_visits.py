"""A person insured in another region at a Changzhou institution, through the institution's own
visit flow (visits.register / upload_fees / settle / cancel / reverse with the envelope's
insuplc_admdvs): identified and settled by the insured region through the national platform,
yet a visit row and a settlement row of the institution's day like any other; our pooled fund
and year totals untouched, the institution paid on that region's behalf and the region owing
it (cleared by interregion)."""

from __future__ import annotations

import pytest

from tests.medical.conftest import HOSPITAL, TODAY, insured
from tests.medical.test_visits import call, msgid, outpatient_lines
from yikatong.core.errors import DomainError
from yikatong.ledger import service as ledger
from yikatong.medical import interregion, service, visits
from yikatong.medical.home_office import national_for
from yikatong.medical.rules import CrossRegion

pytestmark = pytest.mark.db

SHANGHAI = "310000"
CERT = "310101198001010011"


@pytest.fixture
def visitor(platform, reference):
    nation = national_for(platform)
    psn_no = nation.office(SHANGHAI).enrol(cert_no=CERT, name="上海访客", balance=3_000)
    return nation, psn_no


def balances(platform) -> dict:
    with platform.uow() as uow:
        found = ledger.trial_balance(uow=uow).balances
    return {"pool": found.get(service.pool_code("320402"), 0),
            "payable": found.get(service.payable_code(HOSPITAL), 0),
            "receivable": found.get(interregion.receivable_account(SHANGHAI), 0)}


def test_a_visitor_registers_uploads_settles_and_cancels_through_the_visit_flow(platform, visitor):
    nation, psn_no = visitor
    before = balances(platform)
    visit = call(platform, visits.register, msgid=msgid(), cert_type="02", cert_no=CERT,
                 insuplc_admdvs=SHANGHAI, national=nation)
    assert (visit.person_id, visit.psn_no, visit.insuplc_admdvs) == (visits.VISITOR, psn_no, SHANGHAI)
    call(platform, visits.upload_fees, msgid=msgid(), mdtrt_id=visit.mdtrt_id, lines=outpatient_lines())
    with pytest.raises(DomainError) as refused:
        call(platform, visits.pre_settle, mdtrt_id=visit.mdtrt_id, cert_type="02", cert_no=CERT)
    assert refused.value.code == "medical_visitor_presettle_unavailable"
    with pytest.raises(DomainError) as refused:  # without the platform the flow cannot settle a visitor
        call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="02", cert_no=CERT)
    assert refused.value.code == "medical_national_not_connected"

    settle_msgid = msgid()
    settled = call(platform, visits.settle, msgid=settle_msgid, mdtrt_id=visit.mdtrt_id, cert_type="02",
                   cert_no=CERT, medfee_sumamt=14_500, national=nation)
    info = settled.setlinfo
    assert settled.cross_region == CrossRegion.NOT_FILED and settled.year_totals == {}
    assert info["medfee_sumamt"] == 14_500 and info["acct_pay"] <= 3_000
    assert info["medfee_sumamt"] == info["fund_pay_sumamt"] + info["psn_part_amt"] + info["hosp_part_amt"]
    owed = info["fund_pay_sumamt"] + info["acct_pay"]
    assert owed > 0
    after = balances(platform)
    assert after["pool"] == before["pool"]  # our pooled fund pays nothing
    assert after["receivable"] - before["receivable"] == owed
    assert after["payable"] - before["payable"] == owed  # the institution is owed it, as for our own people
    assert nation.office(SHANGHAI).balance(psn_no) == 3_000 - info["acct_pay"]
    # the same msgid again: the same answer, nothing more booked
    again = call(platform, visits.settle, msgid=settle_msgid, mdtrt_id=visit.mdtrt_id, cert_type="02",
                 cert_no=CERT, medfee_sumamt=14_500, national=nation)
    assert again == settled and balances(platform) == after

    # the institution's day: the visitor's settlement is one of its rows
    with platform.uow() as uow:
        day = visits.settlements(uow=uow, actor=visits_actor(), day=TODAY)
        rows = interregion.rows(uow=uow, counterpart_admdvs=SHANGHAI, day=TODAY)
    assert [s.setl_id for s in day] == [settled.setl_id] and day[0].insuplc_admdvs == SHANGHAI
    # …but not of what our fund paid that day: Shanghai pays it (the receivable above)
    with platform.uow() as uow:
        assert service.fund_day(uow=uow, day=TODAY) == []
    assert [(r.direction, r.entry, r.owed) for r in rows] == [("in", "settle", owed)]

    cancelled = call(platform, visits.cancel, msgid=msgid(), setl_id=settled.setl_id, mdtrt_id=visit.mdtrt_id,
                     national=nation)
    assert cancelled.state == "cancelled"
    assert balances(platform) == before
    assert nation.office(SHANGHAI).balance(psn_no) == 3_000
    with platform.uow() as uow:
        assert interregion.clear_day(uow=uow, actor=visits_actor(office=True), national=nation,
                                     counterpart_admdvs=SHANGHAI, day=TODAY).status == "agreed"


def test_a_visitor_pharmacy_purchase_reversed(platform, visitor):
    from tests.medical.conftest import PHARMACY
    from tests.medical.test_visits import METFORMIN

    nation, _ = visitor
    first = msgid(PHARMACY)
    bought = call(platform, visits.purchase, code=PHARMACY, msgid=first, cert_type="02", cert_no=CERT,
                  lines=[visits.FeeInput("1", METFORMIN, 2, 1_200)], insuplc_admdvs=SHANGHAI, national=nation)
    assert bought.person_id == visits.VISITOR and bought.setlinfo["medfee_sumamt"] == 2_400
    undone = call(platform, visits.reverse, code=PHARMACY, msgid=msgid(PHARMACY), omsgid=first, oinfno="2102",
                  national=nation)
    assert undone.outcome == "reversed"
    with platform.uow() as uow:
        assert sum(r.owed for r in interregion.rows(uow=uow, counterpart_admdvs=SHANGHAI)) == 0


def test_our_own_people_are_unchanged_and_a_stranger_is_refused_by_the_insured_region(platform, visitor):
    nation, _ = visitor
    _, person_id, card_no = insured(platform)
    own = call(platform, visits.register, msgid=msgid(), cert_type="03", cert_no=card_no,
               insuplc_admdvs="320402", national=nation)
    assert own.person_id == person_id
    with pytest.raises(DomainError) as refused:
        call(platform, visits.register, msgid=msgid(), cert_type="02", cert_no="310101199901010022",
             insuplc_admdvs=SHANGHAI, national=nation)
    assert refused.value.http_status == 404


def visits_actor(office: bool = False):
    from tests.medical.conftest import OFFICE, institution

    return OFFICE if office else institution(HOSPITAL)
