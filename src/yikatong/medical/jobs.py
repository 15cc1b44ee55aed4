"""Background work of the medical domain, run by `ykt worker` (medapi writes its own jobs here;
at merge keep theirs and add `*clearing_jobs.JOBS` to their JOBS)."""

from __future__ import annotations

from yikatong.medical import clearing_jobs

JOBS = [*clearing_jobs.JOBS]
