"""Background work of the discounts domain, run by `ykt worker`.

* `discounts.rebate_cleared_files`: the transit rebates of every clearing file received since
  the earliest running transit-rebate campaign began and not run yet (rebates.run_pending).
"""

from __future__ import annotations

from yikatong.discounts import rebates
from yikatong.worker.runner import Job

JOBS = [Job("discounts.rebate_cleared_files", every_seconds=60, run=rebates.run_pending)]
