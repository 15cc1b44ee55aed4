"""`ykt medical clear-regions --day D` and the worker's daily clearing job: visitors from two
regions settled at our hospital through the process's national platform, then cleared per
region (rows, amounts, agreed), and a book the platform never saw disputed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import cli_on
from tests.medical.conftest import OFFICE, TODAY
from yikatong.medical import clearing_jobs, interregion
from yikatong.medical.home_office import national_for, simulated_national
from yikatong.medical.national import VisitClaim
from yikatong.medical.rules import FeeLine, ItemClass, Level, MedType

pytestmark = pytest.mark.db

REGIONS = ("310000", "320100")


def visits(platform, nation, day, count=2) -> dict[str, int]:
    """`count` visitors per region settled at H32040200001 on `day`: what each region owes."""
    owed = dict.fromkeys(REGIONS, 0)
    for region in REGIONS:
        office = nation.office(region)
        for number in range(count):
            psn_no = office.enrol(cert_no=f"{region}{number:012d}", name=f"访客{number}", balance=2_000)
            claim = VisitClaim(msgid=f"{region}-{day}-{number}", mdtrtarea_admvs="320402",
                               fixmedins_code="H32040200001", insuplc_admdvs=region, psn_no=psn_no,
                               med_type=MedType.OUTPATIENT, level=Level.THREE,
                               lines=(FeeLine("A", ItemClass.A, 30_000 + number, None, 0),), day=day)
            with platform.uow() as uow:
                owed[region] += interregion.settle_visiting(uow=uow, actor=OFFICE, national=nation, claim=claim).owed
    return owed


def test_the_operator_clears_a_day_region_by_region(platform, monkeypatch):
    owed = visits(platform, national_for(platform), TODAY)
    result = cli_on(platform, monkeypatch)("medical", "clear-regions", "--day", TODAY.isoformat())
    assert result.exit_code == 0, result.output
    for region in REGIONS:
        line = next(line for line in result.output.splitlines() if line.strip("│ ").startswith(region))
        assert "一致 agreed" in line and f"-MIC-{region}-20260302-01" in line and "│ 2 " in line
        assert f"{owed[region] / 100:,.2f}" in line
    with platform.uow() as uow:
        assert not interregion.open_regions(uow=uow, day=TODAY)
        assert {(b.counterpart_admdvs, b.rows, b.receivable) for b in interregion.batches(uow=uow)} == {
            (region, 2, owed[region]) for region in REGIONS}
    again = cli_on(platform, monkeypatch)("medical", "clear-regions", "--day", TODAY.isoformat())
    assert again.exit_code == 0 and "nothing to clear" in again.output


def test_a_platform_that_never_saw_the_day_disputes_and_the_job_leaves_it_to_the_operator(platform, monkeypatch, clock):
    visits(platform, simulated_national(platform), TODAY, count=1)  # another process's platform
    result = cli_on(platform, monkeypatch)("medical", "clear-regions", "--day", TODAY.isoformat())
    assert result.exit_code == 1 and result.output.count("有差异 disputed") == 2
    clock.advance(timedelta(days=1))
    assert clearing_jobs.clear_yesterday(platform) == 0  # disputed: not attempted again
    with platform.uow() as uow:
        assert sorted(interregion.open_regions(uow=uow, day=TODAY)) == list(REGIONS)
        assert len(interregion.batches(uow=uow)) == 2


def test_the_job_clears_yesterday(platform, clock):
    nation = national_for(platform)
    owed = visits(platform, nation, TODAY, count=1)
    clock.advance(timedelta(days=1))
    assert clearing_jobs.clear_yesterday(platform) == 2
    assert clearing_jobs.clear_yesterday(platform) == 0
    with platform.uow() as uow:
        assert {(b.counterpart_admdvs, b.status, b.receivable) for b in interregion.batches(uow=uow)} == {
            (region, "agreed", owed[region]) for region in REGIONS}
