"""Cross-region care end to end on the database (domain-rules §3; docs/medical-cross-region.md): our insured people treated in Nanjing
and Shanghai through the simulated national platform, other regions' insured people treated
at a Changzhou institution, and the daily inter-region clearing, to the fen."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.medical.conftest import institution, insured
from tests.medical.test_visits import call, msgid, outpatient_visit
from tests.people.helpers import SSN, register
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Actor, Channel, Role
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import AccountNotFound
from yikatong.medical import crossregion, interregion, national, visits
from yikatong.medical import service as medical
from yikatong.medical.crossregion import Reason
from yikatong.medical.home_office import HomeOffice, simulated_national
from yikatong.medical.models import InterRegionSettlement
from yikatong.medical.national import NationalMedicalPlatform, VisitClaim
from yikatong.medical.policy import policy_in_force
from yikatong.medical.rules import CrossRegion, FeeLine, ItemClass, Level, MedType
from yikatong.medical.visits import FeeInput

pytestmark = pytest.mark.db

OFFICE = Actor(user_id="yb-clerk", role=Role.MEDICAL_OFFICE, channel=Channel.MEDICAL_DESK)
DAY = date(2026, 3, 2)  # the clock fixture's day
NANJING, SHANGHAI = "320100", "310000"
NANJING_HOSPITAL, OUR_HOSPITAL = "H32010600001", "H32040200001"
LINES = (FeeLine("A01", ItemClass.A, 120_000, None, 0), FeeLine("B02", ItemClass.B, 40_000, None, 1000),
         FeeLine("C03", ItemClass.C, 6_000, None, 0))
SH_CERT = "310101197001010011"


@pytest.fixture
def world(platform, clock):
    nation = simulated_national(platform)
    offices = {admdvs: nation.office(admdvs) for admdvs in national.OTHER_REGIONS}
    person_id = register(platform).person_id
    with platform.uow() as uow:
        enrolment = medical.enrol(uow=uow, actor=OFFICE, person_id=person_id, scheme="310", insured_admdvs="320402",
                                  start_date=date(2026, 1, 1), retired=True)
        uow.commit()
    with platform.uow() as uow:
        medical.credit_account(uow=uow, actor=OFFICE, person_id=person_id, amount=50_000, request_id="credit-1")
    shanghai_psn = offices[SHANGHAI].enrol(cert_no=SH_CERT, name="沪一", balance=20_000)
    return nation, offices, person_id, enrolment.psn_no, shanghai_psn


def treated_in_nanjing(nation, psn_no, msgid, *, lines=LINES, **kw):
    fields = dict(fixmedins_code=NANJING_HOSPITAL, insuplc_admdvs="320400", med_type=MedType.INPATIENT,
                  level=Level.THREE, day=DAY)
    fields.update(kw)
    return nation.settle(VisitClaim(msgid=msgid, mdtrtarea_admvs="320106", psn_no=psn_no, lines=lines, **fields))


def visiting_here(platform, nation, psn_no, msgid, **kw):
    fields = dict(fixmedins_code=OUR_HOSPITAL, insuplc_admdvs=SHANGHAI, med_type=MedType.OUTPATIENT,
                  level=Level.TWO, day=DAY, lines=LINES[:2])
    fields.update(kw)
    with platform.uow() as uow:
        return interregion.settle_visiting(uow=uow, actor=OFFICE, national=nation,
                                           claim=VisitClaim(msgid=msgid, mdtrtarea_admvs="320402", psn_no=psn_no,
                                                            **fields))


def balance(platform, code):
    with platform.uow() as uow:
        try:
            return ledger.balance(uow=uow, code=code)
        except AccountNotFound:
            return 0


def totals(platform, person_id):
    with platform.uow() as uow:
        return medical.year_totals(uow=uow, person_id=person_id, year=2026)


def test_another_region_finds_our_insured_person_through_the_platform(world):
    nation, _, _, psn_no, _ = world
    info = nation.identify(insuplc_admdvs="320400", cert_type="02", cert_no=SSN, day=DAY)
    assert info.psn_no == psn_no and info.insuplc_admdvs == "320402" and info.retired and info.balc == 50_000
    with pytest.raises(national.PersonNotInsured):
        nation.identify(insuplc_admdvs="320400", cert_type="02", cert_no=SSN, day=date(2025, 12, 31))


def test_our_person_in_nanjing_settles_with_our_ratio_less_20_points_unfiled_and_10_filed_after_the_fact(
        platform, world):
    nation, _, person_id, psn_no, _ = world
    ours = policy_in_force(DAY).employee.inpatient.ratio_retired[Level.THREE]
    unfiled = treated_in_nanjing(nation, psn_no, "m1")
    assert unfiled.cross_region is CrossRegion.NOT_FILED and unfiled.policy_version == policy_in_force(DAY).version
    assert unfiled.setlinfo.pool_prop_selfpay == ours - 2000
    assert totals(platform, person_id).inpatient_admissions == 1
    assert balance(platform, medical.account_code(person_id)) == 50_000 - unfiled.setlinfo.acct_pay
    assert balance(platform, interregion.payable_account(NANJING)) == unfiled.owed
    assert balance(platform, medical.pool_code("320402")) == unfiled.setlinfo.fund_pay_sumamt
    with platform.uow() as uow:  # filed after the fact, from before the visit
        crossregion.file(uow=uow, actor=OFFICE, request_id="f1", person_id=person_id, filed_admdvs=NANJING,
                         reason=Reason.REFERRAL, begin=date(2026, 2, 1))
    filed = treated_in_nanjing(nation, psn_no, "m2")
    assert filed.cross_region is CrossRegion.TEMPORARY and filed.setlinfo.pool_prop_selfpay == ours - 1000
    assert filed.setlinfo.act_pay_dedc < unfiled.setlinfo.act_pay_dedc  # the 2nd admission's deductible
    assert treated_in_nanjing(nation, psn_no, "m2") == filed  # the institution's retry
    assert totals(platform, person_id).inpatient_admissions == 2
    assert balance(platform, interregion.payable_account(NANJING)) == unfiled.owed + filed.owed
    with platform.uow() as uow:  # what the holder sees of their care elsewhere
        seen = interregion.rows(uow=uow, person_id=person_id)
    assert [(r.setl_id, r.cross_region, r.acct_pay) for r in seen] == [
        (unfiled.setl_id, "not_filed", unfiled.setlinfo.acct_pay), (filed.setl_id, "temporary", filed.setlinfo.acct_pay)]


def test_cancelling_our_persons_settlement_elsewhere_restores_totals_account_and_payable(platform, world):
    nation, _, person_id, psn_no, _ = world
    before = totals(platform, person_id)
    answer = treated_in_nanjing(nation, psn_no, "m1")
    cancelled = nation.cancel(mdtrtarea_admvs="320106", fixmedins_code=NANJING_HOSPITAL, setl_id=answer.setl_id,
                              insuplc_admdvs="320400", msgid="c1", day=DAY)
    assert cancelled.cancelled and cancelled.owed == -answer.owed
    assert totals(platform, person_id) == before
    assert balance(platform, medical.account_code(person_id)) == 50_000
    assert balance(platform, interregion.payable_account(NANJING)) == 0
    assert balance(platform, medical.pool_code("320402")) == 0
    assert nation.positions() == {("320400", NANJING): 0}


def test_a_shanghai_insured_person_at_our_hospital_is_settled_by_shanghai_and_our_fund_pays_nothing(
        platform, world):
    nation, offices, _, _, shanghai_psn = world
    answer = visiting_here(platform, nation, shanghai_psn, "v1")
    assert answer.insuplc_admdvs == SHANGHAI and answer.policy_version.startswith("sim-310000-")
    assert answer.cross_region is CrossRegion.NOT_FILED
    assert offices[SHANGHAI].balance(shanghai_psn) == 20_000 - answer.setlinfo.acct_pay
    assert visiting_here(platform, nation, shanghai_psn, "v1") == answer  # the retry
    assert balance(platform, interregion.receivable_account(SHANGHAI)) == answer.owed
    assert balance(platform, interregion.institution_account(OUR_HOSPITAL)) == answer.owed
    assert balance(platform, medical.pool_code("320400")) == 0  # our pooled fund is not charged
    with platform.uow() as uow:
        rows = interregion.rows(uow=uow)
    assert [(r.direction, r.entry, r.counterpart_admdvs, r.owed) for r in rows] == [
        ("in", "settle", SHANGHAI, answer.owed)]
    with platform.uow() as uow:
        interregion.cancel_visiting(uow=uow, actor=OFFICE, national=nation, setl_id=answer.setl_id, msgid="v1-c")
    assert balance(platform, interregion.receivable_account(SHANGHAI)) == 0
    assert balance(platform, interregion.institution_account(OUR_HOSPITAL)) == 0
    assert offices[SHANGHAI].balance(shanghai_psn) == 20_000


def test_the_daily_clearing_agrees_with_the_platform_to_the_fen_and_posts_once(platform, world):
    nation, offices, _, psn_no, shanghai_psn = world
    out_nj = treated_in_nanjing(nation, psn_no, "m1")
    out_nj2 = treated_in_nanjing(nation, psn_no, "m2", fixmedins_code="H32010200001", med_type=MedType.OUTPATIENT,
                                 level=Level.ONE, lines=LINES[:1])
    in_sh = [visiting_here(platform, nation, shanghai_psn, f"v{i}") for i in range(3)]
    with platform.uow() as uow:
        cancelled = interregion.cancel_visiting(uow=uow, actor=OFFICE, national=nation, setl_id=in_sh[1].setl_id,
                                                msgid="v1-c")
    with platform.uow() as uow:
        batch_nj = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=NANJING, day=DAY)
    with platform.uow() as uow:
        batch_sh = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI, day=DAY)
    assert batch_nj.status == batch_sh.status == "agreed"
    positions = nation.positions()
    assert batch_nj.payable == positions[("320400", NANJING)] and batch_nj.receivable == 0
    assert batch_sh.receivable == positions[(SHANGHAI, "320400")] == sum(a.owed for a in in_sh) + cancelled.owed
    assert batch_sh.rows == 4 and batch_sh.net == batch_sh.receivable
    assert batch_nj.payable == out_nj.owed + out_nj2.owed and batch_nj.rows == 2
    for admdvs in (NANJING, SHANGHAI):
        assert balance(platform, interregion.receivable_account(admdvs)) == 0
        assert balance(platform, interregion.payable_account(admdvs)) == 0
    assert balance(platform, interregion.BANK) == batch_sh.net + batch_nj.net
    with platform.uow() as uow:
        again = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI, day=DAY)
        text = interregion.clearing_file(uow=uow, file_id=batch_sh.file_id)
        audit = uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "medical_interregion_batch")).scalars().all()
        row_ids = sorted(uow.session.execute(select(InterRegionSettlement.id).where(
            InterRegionSettlement.batch_id == batch_sh.id)).scalars())
    assert again == batch_sh
    assert nation.check_clearing_file(text).agreed
    assert national.parse_clearing_file(text).digest == batch_sh.digest
    assert [a.action for a in audit] == ["medical.interregion_clearing_agreed"] * 2
    assert sorted(next(a for a in audit if a.entity_id == batch_sh.file_id).after["rows"]) == row_ids
    assert balance(platform, interregion.BANK) == batch_sh.net + batch_nj.net  # posted once


def test_a_day_the_platform_does_not_agree_to_is_recorded_as_disputed_and_nothing_moves(platform, world):
    nation, _, _, _, shanghai_psn = world
    visiting_here(platform, nation, shanghai_psn, "v1")
    stranger = NationalMedicalPlatform(national.simulated_offices())  # a platform that never saw the visit
    with platform.uow() as uow:
        batch = interregion.clear_day(uow=uow, actor=OFFICE, national=stranger, counterpart_admdvs=SHANGHAI, day=DAY)
    assert batch.status == "disputed" and len(batch.differences["unknown"]) == 1
    assert balance(platform, interregion.BANK) == 0
    with platform.uow() as uow:
        assert [r.batch_id for r in interregion.rows(uow=uow)] == [None]
        retried = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI, day=DAY)
    assert retried.status == "agreed" and retried.file_id.endswith("-02")


def test_care_at_home_and_in_nanjing_share_one_year_and_the_books_balance(platform, clock, reference):
    """A local outpatient visit through the visit flow, then outpatient care in Nanjing: the
    yearly deductible met at home is not asked again there, and the ledger stays balanced."""

    nation = NationalMedicalPlatform(national.simulated_offices(), clock=clock)
    nation.connect(HomeOffice(platform, nation))
    _, person_id, card_no = insured(platform, credit=50_000)
    visit = outpatient_visit(platform, card_no)
    local = call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03", cert_no=card_no)
    deductible = policy_in_force(DAY).employee.outpatient.deductible[Level.THREE]
    with platform.uow() as uow:
        psn_no = medical.psn_no_of(uow=uow, person_id=person_id)
    big = (FeeLine("A01", ItemClass.A, deductible * 3, None, 0),)
    first = treated_in_nanjing(nation, psn_no, "o1", med_type=MedType.OUTPATIENT, lines=big)
    second = treated_in_nanjing(nation, psn_no, "o2", med_type=MedType.OUTPATIENT, lines=big)
    met_at_home = local.setlinfo["act_pay_dedc"]
    assert first.setlinfo.act_pay_dedc == deductible - met_at_home  # only what is still missing
    assert second.setlinfo.act_pay_dedc == 0
    year = totals(platform, person_id)
    assert year.outpatient_deductible == deductible
    assert year.medfee_total == local.setlinfo["medfee_sumamt"] + 2 * deductible * 3
    with platform.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced
    assert balance(platform, medical.account_code(person_id)) == (
        50_000 - local.setlinfo["acct_pay"] - first.setlinfo.acct_pay - second.setlinfo.acct_pay)


def test_a_cancellation_after_its_day_was_cleared_is_owed_back_on_its_own_day(platform, clock, world):
    nation, _, _, _, shanghai_psn = world
    answer = visiting_here(platform, nation, shanghai_psn, "v1")
    with platform.uow() as uow:
        first = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI, day=DAY)
    clock.advance(days=1)
    with platform.uow() as uow:
        interregion.cancel_visiting(uow=uow, actor=OFFICE, national=nation, setl_id=answer.setl_id, msgid="v1-c")
    assert balance(platform, interregion.receivable_account(SHANGHAI)) == -answer.owed  # we owe it back
    with platform.uow() as uow:
        second = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI,
                                       day=date(2026, 3, 3))
    assert (first.status, second.status) == ("agreed", "agreed")
    assert (first.net, second.net, second.rows) == (answer.owed, -answer.owed, 1)
    assert balance(platform, interregion.receivable_account(SHANGHAI)) == 0
    assert balance(platform, interregion.BANK) == 0


def test_the_visit_flow_settles_under_the_persons_filing_at_an_institution_elsewhere(platform, reference):
    """An institution of another region on our list (visits.settle asks crossregion for the
    status): not filed −20 points, then filed for long-term residence there: no reduction."""

    with platform.uow() as uow:
        medical.register_institution(uow=uow, actor=OFFICE, code=NANJING_HOSPITAL, name="南京鼓楼医院",
                                     name_en="Nanjing Drum Tower Hospital", level="3", admdvs="320106")
    _, person_id, card_no = insured(platform, credit=0)
    actor = institution(NANJING_HOSPITAL)
    ours = policy_in_force(DAY).employee.outpatient.ratio[Level.THREE]
    ratios = []
    for number in range(2):
        with platform.uow() as uow:
            visit = visits.register(uow=uow, actor=actor, msgid=f"{NANJING_HOSPITAL}2026030209000{number}1",
                                    cert_type="03", cert_no=card_no)
        with platform.uow() as uow:
            visits.upload_fees(uow=uow, actor=actor, msgid=f"{NANJING_HOSPITAL}2026030209000{number}2",
                               mdtrt_id=visit.mdtrt_id, lines=[FeeInput("1", "002101000010000", 1, 2_000)])
        with platform.uow() as uow:
            settled = visits.settle(uow=uow, actor=actor, msgid=f"{NANJING_HOSPITAL}2026030209000{number}3",
                                    mdtrt_id=visit.mdtrt_id, cert_type="03", cert_no=card_no)
        ratios.append((settled.cross_region, settled.setlinfo["pool_prop_selfpay"]))
        if number == 0:
            with platform.uow() as uow:
                crossregion.file(uow=uow, actor=OFFICE, request_id="lt", person_id=person_id, filed_admdvs=NANJING,
                                 reason=Reason.LONG_TERM_RESIDENCE, begin=DAY)
    assert ratios == [("not_filed", ours - 2000), ("long_term", ours)]


def test_a_visitors_fee_lines_are_classed_by_our_catalogue_and_the_daily_job_clears_every_region(
        platform, world):
    nation, _, _, psn_no, shanghai_psn = world
    lines = interregion.classed_lines(lines=[("001102000030000", 1, 4_000), ("XA11GAV010A001010109999", 1, 1_500)],
                                      day=DAY)
    assert [(x.item_class, x.price_limit, x.pre_self_pay_bp) for x in lines] == [
        (ItemClass.B, 3_500, 1_000), (ItemClass.C, None, 0)]
    answer = visiting_here(platform, nation, shanghai_psn, "v1", lines=lines)
    assert (answer.setlinfo.overlmt_selfpay, answer.setlinfo.fulamt_ownpay_amt) == (500, 1_500)
    treated_in_nanjing(nation, psn_no, "m1")
    with platform.uow() as uow:
        batches = interregion.clear_all(uow=uow, actor=OFFICE, national=nation, day=DAY)
    assert [(b.counterpart_admdvs, b.status, b.rows) for b in batches] == [(SHANGHAI, "agreed", 1),
                                                                           (NANJING, "agreed", 1)]
    with platform.uow() as uow:
        assert interregion.clear_all(uow=uow, actor=OFFICE, national=nation, day=DAY) == []


def test_a_settlement_booked_after_its_day_was_cleared_goes_into_a_further_batch(platform, world):
    nation, _, _, _, shanghai_psn = world
    first = visiting_here(platform, nation, shanghai_psn, "v1")
    with platform.uow() as uow:
        one = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI, day=DAY)
    late = visiting_here(platform, nation, shanghai_psn, "v2")  # the same day, after its clearing
    with platform.uow() as uow:
        two = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI, day=DAY)
        three = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=SHANGHAI, day=DAY)
    assert (one.status, one.rows, one.receivable) == ("agreed", 1, first.owed)
    assert (two.status, two.rows, two.receivable) == ("agreed", 1, late.owed)
    assert two.file_id.endswith("-02") and three == two
    assert balance(platform, interregion.receivable_account(SHANGHAI)) == 0
    assert balance(platform, interregion.BANK) == first.owed + late.owed
