"""The daily inter-region clearing as a worker job (`ykt worker`, clock-driven): yesterday
(CST) is cleared with every region that has open rows that day. A region whose clearing of that
day was disputed is left to the operator (`ykt medical clear-regions --day D`, after the
difference is looked into), so the job does not pile up attempts; the rows stay open.

Wired through medical/jobs.py (`JOBS = [..., *clearing_jobs.JOBS]`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from yikatong.core.actor import Actor
from yikatong.worker.runner import Job

log = logging.getLogger(__name__)
ACTOR = Actor.system("medical-clearing")
EVERY_SECONDS = 3600  # yesterday's rows are all booked by midnight: after one agreed run, a no-op


def clear_yesterday(platform, *, national=None) -> int:
    from yikatong.medical import crossregion, interregion
    from yikatong.medical.home_office import national_for

    national = national or national_for(platform)
    with platform.uow() as uow:
        day = crossregion.today(uow) - timedelta(days=1)
        regions = interregion.open_regions(uow=uow, day=day)
        disputed = {batch.counterpart_admdvs for batch in interregion.batches(uow=uow)
                    if batch.day == day and batch.status == "disputed"}
    cleared = 0
    for region in regions:
        if region in disputed:
            log.warning("medical clearing %s %s was disputed: left to the operator", region, day)
            continue
        with platform.uow() as uow:
            batch = interregion.clear_day(uow=uow, actor=ACTOR, national=national, counterpart_admdvs=region, day=day)
        if batch.status != "agreed":
            log.warning("medical clearing %s %s disputed: %s", region, day, batch.differences)
        cleared += 1
    return cleared


JOBS = [Job("medical.clear_regions", EVERY_SECONDS, clear_yesterday)]
