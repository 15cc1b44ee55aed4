"""Cross-region filing (异地就医备案, domain-rules §3; docs/medical-cross-region.md): file, cancel, after the fact, and the
CrossRegion a visit settles under."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.people.helpers import register
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Actor, Channel, Role
from yikatong.medical import crossregion
from yikatong.medical.crossregion import Reason
from yikatong.medical.rules import CrossRegion

pytestmark = pytest.mark.db

OFFICE = Actor(user_id="yb-clerk", role=Role.MEDICAL_OFFICE, channel=Channel.MEDICAL_DESK)
NANJING, GULOU, SHANGHAI, SUZHOU = "320100", "320106", "310000", "320500"
TODAY = date(2026, 3, 2)  # the clock fixture's day in CST


@pytest.fixture
def person_id(platform) -> int:
    return register(platform).person_id


def file(platform, person_id, request_id="r1", **fields):
    fields = {"filed_admdvs": NANJING, "reason": Reason.OTHER, "begin": TODAY, **fields}
    with platform.uow() as uow:
        return crossregion.file(uow=uow, actor=OFFICE, request_id=request_id, person_id=person_id, **fields)


def status(platform, person_id, admdvs, day, **kw):
    with platform.uow() as uow:
        return crossregion.filing_status(uow=uow, person_id=person_id, treatment_admdvs=admdvs, day=day, **kw)


def test_the_insured_region_is_local_and_elsewhere_unfiled_is_not_filed(platform, person_id):
    assert status(platform, person_id, "320402", TODAY) is CrossRegion.LOCAL  # 天宁区, Changzhou
    assert status(platform, person_id, "320400", TODAY) is CrossRegion.LOCAL
    assert status(platform, person_id, NANJING, TODAY) is CrossRegion.NOT_FILED
    assert status(platform, person_id, NANJING, TODAY, emergency=True) is CrossRegion.EMERGENCY
    # insured in a district: every district of the city (the pooling region) is local
    assert status(platform, person_id, "320411", TODAY, insured_admdvs="320402") is CrossRegion.LOCAL
    assert status(platform, person_id, NANJING, TODAY, insured_admdvs="320402") is CrossRegion.NOT_FILED


@pytest.mark.parametrize(("reason", "expected"), [
    (Reason.RETIRED_RESETTLED, CrossRegion.LONG_TERM),
    (Reason.LONG_TERM_RESIDENCE, CrossRegion.LONG_TERM),
    (Reason.POSTED_TO_WORK, CrossRegion.LONG_TERM),
    (Reason.REFERRAL, CrossRegion.TEMPORARY),
    (Reason.OTHER, CrossRegion.TEMPORARY),
    (Reason.EMERGENCY, CrossRegion.EMERGENCY),
])
def test_each_reason_settles_under_its_kind_within_its_region_and_dates(platform, person_id, reason, expected):
    filing = file(platform, person_id, reason=reason, begin=date(2026, 3, 10), end=date(2026, 6, 30))
    assert filing.kind is crossregion.KIND_OF[reason] and not filing.after_the_fact
    assert status(platform, person_id, GULOU, date(2026, 3, 10)) is expected  # a district of the city filed
    assert status(platform, person_id, NANJING, date(2026, 6, 30)) is expected
    assert status(platform, person_id, NANJING, date(2026, 3, 9)) is CrossRegion.NOT_FILED  # before
    assert status(platform, person_id, NANJING, date(2026, 7, 1)) is CrossRegion.NOT_FILED  # after
    assert status(platform, person_id, SUZHOU, date(2026, 4, 1)) is CrossRegion.NOT_FILED  # another city
    assert status(platform, person_id, "320402", date(2026, 4, 1)) is CrossRegion.LOCAL


def test_a_province_filing_covers_its_cities_and_a_long_term_one_stays_open(platform, person_id):
    file(platform, person_id, filed_admdvs="310000", reason=Reason.RETIRED_RESETTLED, begin=TODAY)
    assert status(platform, person_id, "310104", date(2030, 1, 1)) is CrossRegion.LONG_TERM


def test_a_temporary_filing_without_an_end_lasts_the_default_period(platform, person_id):
    filing = file(platform, person_id, reason=Reason.REFERRAL)
    assert (filing.end - filing.begin).days == crossregion.TEMPORARY_DEFAULT_DAYS - 1
    assert status(platform, person_id, NANJING, filing.end) is CrossRegion.TEMPORARY


def test_filing_after_the_fact_covers_a_visit_already_made(platform, person_id):
    visit_day = date(2026, 2, 20)
    assert status(platform, person_id, NANJING, visit_day) is CrossRegion.NOT_FILED
    filing = file(platform, person_id, reason=Reason.OTHER, begin=visit_day, end=date(2026, 3, 31))
    assert filing.after_the_fact and filing.filed_on == TODAY
    assert status(platform, person_id, NANJING, visit_day) is CrossRegion.TEMPORARY


def test_an_emergency_visit_during_a_temporary_filing_is_emergency_and_long_term_stays_long_term(
        platform, person_id):
    file(platform, person_id, reason=Reason.REFERRAL, request_id="a")
    file(platform, person_id, filed_admdvs=SHANGHAI, reason=Reason.POSTED_TO_WORK, request_id="b")
    assert status(platform, person_id, NANJING, TODAY, emergency=True) is CrossRegion.EMERGENCY
    assert status(platform, person_id, SHANGHAI, TODAY, emergency=True) is CrossRegion.LONG_TERM


def test_cancelling_ends_cover_from_its_day_and_keeps_the_days_before(platform, person_id):
    filing = file(platform, person_id, reason=Reason.LONG_TERM_RESIDENCE, begin=date(2026, 1, 1))
    with platform.uow() as uow:
        cancelled = crossregion.cancel(uow=uow, actor=OFFICE, filing_id=filing.id, reason="搬回常州 moved back",
                                       effective=date(2026, 3, 1))
    assert cancelled.status == "cancelled" and cancelled.last_day == date(2026, 2, 28)
    assert status(platform, person_id, NANJING, date(2026, 2, 28)) is CrossRegion.LONG_TERM
    assert status(platform, person_id, NANJING, date(2026, 3, 1)) is CrossRegion.NOT_FILED
    with platform.uow() as uow, pytest.raises(crossregion.FilingNotActive):
        crossregion.cancel(uow=uow, actor=OFFICE, filing_id=filing.id, reason="again")
    # the region is free again from the cancellation on
    again = file(platform, person_id, reason=Reason.OTHER, begin=date(2026, 3, 1), request_id="r2")
    assert status(platform, person_id, NANJING, date(2026, 3, 5)) is CrossRegion.TEMPORARY
    with platform.uow() as uow:
        actions = uow.session.execute(select(AuditRecord.action, AuditRecord.entity_id).where(
            AuditRecord.entity_type == "medical_crossregion_filing").order_by(AuditRecord.id)).all()
    assert actions == [("medical.crossregion_filed", str(filing.id)), ("medical.crossregion_cancelled", str(filing.id)),
                       ("medical.crossregion_filed", str(again.id))]


def test_overlapping_filings_for_one_region_are_refused_and_other_regions_are_not(platform, person_id):
    first = file(platform, person_id, begin=date(2026, 3, 1), end=date(2026, 4, 30))
    with pytest.raises(crossregion.FilingOverlaps) as refused:
        file(platform, person_id, filed_admdvs=GULOU, begin=date(2026, 4, 30), end=date(2026, 5, 31), request_id="r2")
    assert refused.value.details["filing_id"] == first.id
    assert "320100" in refused.value.message_zh
    file(platform, person_id, begin=date(2026, 5, 1), end=date(2026, 5, 31), request_id="r3")  # after it
    file(platform, person_id, filed_admdvs=SHANGHAI, begin=date(2026, 3, 1), request_id="r4")  # elsewhere
    with platform.uow() as uow:
        assert len(crossregion.filings(uow=uow, person_id=person_id)) == 3


def test_a_retried_request_answers_the_first_filing_and_a_reused_id_is_refused(platform, person_id):
    first = file(platform, person_id)
    assert file(platform, person_id) == first
    with pytest.raises(crossregion.FilingRequestReused):
        file(platform, person_id, filed_admdvs=SHANGHAI)
    with platform.uow() as uow:
        assert len(crossregion.filings(uow=uow, person_id=person_id)) == 1


INVALID = [
    ({"filed_admdvs": "320402"}, "insured region itself"),
    ({"filed_admdvs": "320000"}, "insured region itself"),  # the province holds Changzhou
    ({"filed_admdvs": "320411", "insured_admdvs": "320402"}, "insured region itself"),  # same city
    ({"filed_admdvs": "32010"}, "6 digits"),
    ({"reason": "holiday"}, "unknown filing reason"),
    ({"end": date(2026, 3, 1)}, "before the begin"),
]


def test_invalid_filings_are_refused_and_nothing_is_written(platform, person_id):
    for number, (fields, words) in enumerate(INVALID):  # one database for the whole table
        with pytest.raises(crossregion.InvalidFiling) as refused:
            file(platform, person_id, request_id=f"bad-{number}", **fields)
        assert words in refused.value.message_en and refused.value.message_zh, fields
    with platform.uow() as uow:
        assert crossregion.filings(uow=uow, person_id=person_id) == []


@pytest.mark.no_db
def test_region_codes_cover_their_parts():
    assert crossregion.covers("320000", "320402") and crossregion.covers("320400", "320402")
    assert crossregion.covers("320402", "320402") and not crossregion.covers("320402", "320404")
    assert not crossregion.covers("320100", "320400") and crossregion.is_home("320412")
