"""The simulated national medical insurance platform between two simulated regions (no
database): routing to the insured region, its policy and filings, the book, the clearing file."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from yikatong.core.clock import FixedClock
from yikatong.medical import national
from yikatong.medical.crossregion import Reason
from yikatong.medical.national import ClearingLine, NationalMedicalPlatform, VisitClaim
from yikatong.medical.policy import policy_in_force
from yikatong.medical.rules import (
    CrossRegion,
    FeeLine,
    ItemClass,
    Level,
    MedType,
    Scheme,
    YearTotals,
)

DAY = date(2026, 3, 2)
NANJING, SHANGHAI = "320100", "310000"
LINES = (FeeLine("XA01", ItemClass.A, 100_000, None, 0), FeeLine("XB02", ItemClass.B, 50_000, None, 1000),
         FeeLine("XC03", ItemClass.C, 8_000, None, 0))


@pytest.fixture
def offices():
    return {office.admdvs: office for office in national.simulated_offices()}


@pytest.fixture
def platform(offices):
    return NationalMedicalPlatform(offices.values(), clock=FixedClock(datetime(2026, 3, 2, 1, 30, tzinfo=UTC)))


def enrol_in_shanghai(offices, **kw):
    return offices[SHANGHAI].enrol(cert_no="310101197001010011", name="沪一", balance=30_000, **kw)


def claim(psn_no, msgid="m1", *, area="320106", lines=LINES, day=DAY, **kw):
    fields = dict(fixmedins_code="H32010600001", insuplc_admdvs=SHANGHAI, med_type=MedType.INPATIENT,
                  level=Level.THREE, emergency=False)
    fields.update(kw)
    return VisitClaim(msgid=msgid, mdtrtarea_admvs=area, psn_no=psn_no, lines=lines, day=day, **fields)


def test_a_person_is_found_in_the_insured_region_only(platform, offices):
    psn_no = enrol_in_shanghai(offices, retired=True)
    info = platform.identify(insuplc_admdvs="310104", cert_type="02", cert_no="310101197001010011", day=DAY)
    assert info.psn_no == psn_no and info.insuplc_admdvs == SHANGHAI and info.retired
    assert info.as_1101()["insuinfo"][0]["psn_type"] == "1102"
    with pytest.raises(national.PersonNotInsured):
        platform.identify(insuplc_admdvs=NANJING, cert_type="02", cert_no="310101197001010011", day=DAY)
    with pytest.raises(national.RegionNotConnected):
        platform.identify(insuplc_admdvs="110000", cert_type="02", cert_no="x", day=DAY)


@pytest.mark.parametrize(("reason", "emergency", "status", "points"), [
    (None, False, CrossRegion.NOT_FILED, 2000),
    (None, True, CrossRegion.EMERGENCY, 0),
    (Reason.OTHER, False, CrossRegion.TEMPORARY, 1000),
    (Reason.RETIRED_RESETTLED, False, CrossRegion.LONG_TERM, 0),
])
def test_the_insured_region_settles_with_its_own_ratio_less_the_filing_points(
        platform, offices, reason, emergency, status, points):
    psn_no = enrol_in_shanghai(offices)
    if reason is not None:
        offices[SHANGHAI].file(psn_no=psn_no, filed_admdvs="320000", reason=reason, begin=date(2026, 1, 1))
    answer = platform.settle(claim(psn_no, emergency=emergency))
    shanghai_ratio = policy_in_force(DAY).employee.inpatient.ratio[Level.THREE] + 300  # simulated: 3 pp above ours
    assert answer.cross_region is status
    assert answer.setlinfo.pool_prop_selfpay == shanghai_ratio - points
    assert answer.policy_version.startswith("sim-310000-") and answer.insuplc_admdvs == SHANGHAI
    info = answer.setlinfo
    assert info.medfee_sumamt == 158_000 == info.fund_pay_sumamt + info.psn_part_amt + info.hosp_part_amt
    assert offices[SHANGHAI].balance(psn_no) == 30_000 - info.acct_pay == info.balc
    assert answer.owed == info.fund_pay_sumamt + info.acct_pay
    assert platform.positions() == {(SHANGHAI, NANJING): answer.owed}


def test_a_retry_answers_the_first_settlement_and_a_reused_msgid_is_refused(platform, offices):
    psn_no = enrol_in_shanghai(offices)
    first = platform.settle(claim(psn_no))
    assert platform.settle(claim(psn_no)) == first
    with pytest.raises(national.MessageReused):
        platform.settle(claim(psn_no, lines=LINES[:1]))
    assert len(platform.book()) == 1
    assert offices[SHANGHAI].year_totals(psn_no, 2026).inpatient_admissions == 1


def test_a_cancellation_restores_the_year_and_the_account_and_nets_the_book_to_zero(platform, offices):
    psn_no = enrol_in_shanghai(offices)
    platform.settle(claim(psn_no, "m0", lines=LINES[:1]))
    year_before, balance_before = offices[SHANGHAI].year_totals(psn_no, 2026), offices[SHANGHAI].balance(psn_no)
    answer = platform.settle(claim(psn_no, "m1"))
    assert offices[SHANGHAI].year_totals(psn_no, 2026) != year_before
    cancelled = platform.cancel(mdtrtarea_admvs="320106", fixmedins_code="H32010600001", setl_id=answer.setl_id,
                                insuplc_admdvs=SHANGHAI, msgid="c1", day=DAY)
    assert cancelled.cancelled and cancelled.owed == -answer.owed
    again = platform.cancel(mdtrtarea_admvs="320106", fixmedins_code="H32010600001", setl_id=answer.setl_id,
                            insuplc_admdvs=SHANGHAI, msgid="c2", day=DAY)
    assert again == cancelled  # a second cancellation gives nothing back twice
    assert offices[SHANGHAI].year_totals(psn_no, 2026) == year_before
    assert offices[SHANGHAI].balance(psn_no) == balance_before
    first = platform.book()[0].owed
    assert platform.positions() == {(SHANGHAI, NANJING): first}


def test_care_in_the_insured_region_does_not_go_through_the_platform(platform, offices):
    psn_no = enrol_in_shanghai(offices)
    with pytest.raises(national.NotCrossRegion):
        platform.settle(claim(psn_no, area="310104"))
    assert platform.book() == []


def test_the_simulated_regions_keep_the_structure_of_the_base_policy():
    base = policy_in_force(DAY)
    nanjing = national.simulated_policy(base, NANJING, ratio_shift_bp=-200)
    assert nanjing.region == NANJING and nanjing.version != base.version
    for level, bp in base.resident.outpatient.ratio.items():
        assert nanjing.resident.outpatient.ratio[level] == max(0, bp - 200)
    assert nanjing.employee.inpatient.deductible == base.employee.inpatient.deductible
    assert YearTotals() == YearTotals() and Scheme.EMPLOYEE.value == "310"


# -- the clearing file ------------------------------------------------------------------------------

CREATED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def lines_of(platform, region, counterpart):
    return platform.lines_between(region, counterpart, DAY)


def test_a_clearing_file_round_trips_and_any_change_is_refused():
    lines = [ClearingLine("310000S1", "in", "settle", SHANGHAI, "320402", "H32040200001", "P1", 10_000, 7_000,
                          1_000, 8_000),
             ClearingLine("320100S9", "out", "settle", "320400", NANJING, "H32010600001", "P2", 5_000, 3_000, 0,
                          3_000),
             ClearingLine("310000S1", "in", "cancel", SHANGHAI, "320402", "H32040200001", "P1", -10_000, -7_000,
                          -1_000, -8_000)]
    text = national.render_clearing_file(file_id="F1", sender="320400", counterpart=SHANGHAI, day=DAY,
                                         created=CREATED, lines=lines)
    parsed = national.parse_clearing_file(text)
    assert parsed.lines == tuple(lines) and (parsed.receivable, parsed.payable, parsed.net) == (0, 3_000, -3_000)
    assert text.splitlines()[0] == "H|YKTMIC|1|F1|320400|310000|20260302|20260302230000|3"
    for damaged in (text.replace("|8000\n", "|8001\n", 1), text[:-2] + "0\n", "\n".join(text.split("\n")[:2]) + "\n"):
        with pytest.raises(national.ClearingFileInvalid):
            national.parse_clearing_file(damaged)


def test_the_platform_agrees_to_a_file_matching_its_book_and_names_what_differs(platform, offices):
    nanjing_person = offices[NANJING].enrol(cert_no="320102198001010022", name="宁二", balance=0)
    psn_no = enrol_in_shanghai(offices)
    to_nanjing = platform.settle(claim(psn_no))  # Shanghai's insured treated in Nanjing
    to_shanghai = platform.settle(claim(nanjing_person, "n1", area="310104", fixmedins_code="H31010400001",
                                        insuplc_admdvs=NANJING, med_type=MedType.OUTPATIENT, level=Level.TWO))
    book = lines_of(platform, NANJING, SHANGHAI)
    short = national.render_clearing_file(file_id="NJ-1", sender=NANJING, counterpart=SHANGHAI, day=DAY,
                                          created=CREATED, lines=book[:1])
    check = platform.check_clearing_file(short)
    assert not check.agreed and check.missing == (book[1].setl_id,) and check.unknown == ()
    text = national.render_clearing_file(file_id="NJ-2", sender=NANJING, counterpart=SHANGHAI, day=DAY,
                                         created=CREATED, lines=book)
    check = platform.check_clearing_file(text)
    assert check.agreed and check.receivable == to_nanjing.owed and check.payable == to_shanghai.owed
    assert platform.check_clearing_file(text).agreed  # the same file again (the sender's commit failed)
    again = national.render_clearing_file(file_id="NJ-3", sender=NANJING, counterpart=SHANGHAI, day=DAY,
                                          created=CREATED, lines=book)
    check = platform.check_clearing_file(again)  # another file cannot clear them twice
    assert not check.agreed and set(check.unknown) == {line.setl_id for line in book}
    # Shanghai's view of the same day is the mirror image
    mirror = platform.lines_between(SHANGHAI, NANJING, DAY)
    assert sum(x.owed for x in mirror if x.direction == "in") == to_shanghai.owed
    assert sum(x.owed for x in mirror if x.direction == "out") == to_nanjing.owed
