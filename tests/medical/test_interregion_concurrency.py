"""The hourly clearing job and `ykt medical clear-regions` clearing one day at once. Each read
the region's open rows and counted the day's attempts before the other committed, so on
PostgreSQL both wrote file -01 and the second crashed on uq_medical_interregion_batches_file_id
(8 of 8 races in the audit); in another order (rows read before the first committed, attempts
counted after) the second wrote a spurious -02 of no rows, disputed, which then kept the job off
that region and day. The interleaving is forced: the operator's clearing runs while the job's,
its rows read and its file checked, is about to record the batch. On SQLite the second waits at
BEGIN IMMEDIATE for the first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import second_while_first_holds
from tests.medical.conftest import OFFICE, TODAY
from tests.medical.test_clearing_cli import visits
from yikatong.ledger.models import Journal
from yikatong.medical import clearing_cli, clearing_jobs, interregion
from yikatong.medical.home_office import national_for

pytestmark = pytest.mark.db


def test_the_job_and_the_operator_clearing_one_day_at_once_clear_each_region_once(platform, clock):
    nation = national_for(platform)
    owed = visits(platform, nation, TODAY, count=1)
    clock.advance(timedelta(days=1))  # the job clears yesterday

    outcome = second_while_first_holds(
        platform, "INSERT INTO medical_interregion_batches",
        lambda: clearing_jobs.clear_yesterday(platform, national=nation),
        lambda: clearing_cli.clear_regions(platform, actor=OFFICE, day=TODAY, national=nation))

    errors = {name: result for name, result in outcome.items() if isinstance(result, Exception)}
    assert not errors, errors
    assert all(batch.status == "agreed" for batch in outcome["second"])  # of the regions open when it looked
    with platform.uow() as uow:
        assert sorted((b.file_id[-2:], b.counterpart_admdvs, b.status, b.receivable)
                      for b in interregion.batches(uow=uow)) == sorted(
            ("01", region, "agreed", owed[region]) for region in owed)
        assert uow.session.execute(select(func.count()).select_from(Journal).where(
            Journal.kind == "medical.interregion_clearing")).scalar_one() == len(owed)
    assert clearing_jobs.clear_yesterday(platform, national=nation) == 0  # nothing left open
