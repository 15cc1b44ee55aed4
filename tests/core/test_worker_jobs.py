"""A job runs in one worker at a time: `ykt serve` runs the jobs beside the API, a deployment
may start `ykt worker` too, and most jobs read what to do in one transaction and do it in
others. A job another worker is running now is skipped (counted 0), and runs again after."""

from __future__ import annotations

import threading

import pytest

from yikatong.worker.runner import Job, run_once

pytestmark = [pytest.mark.db, pytest.mark.db_unseen]  # SQLite: a lock file, no connection


def test_a_job_running_in_one_worker_is_skipped_by_another_and_runs_again_after(platform):
    inside, leave = threading.Event(), threading.Event()
    runs = []

    def slow(_platform) -> int:
        runs.append(threading.current_thread().name)
        inside.set()
        leave.wait(10)
        return 7

    job = Job("probe.slow", every_seconds=1, run=slow)
    first: dict[str, int] = {}
    worker = threading.Thread(target=lambda: first.update(run_once(platform, [job])), name="one")
    worker.start()
    assert inside.wait(10)
    assert run_once(platform, [job]) == {"probe.slow": 0}  # skipped: it runs in "one"
    assert run_once(platform, [Job("probe.other", 1, run=lambda _p: 3)]) == {"probe.other": 3}
    leave.set()
    worker.join()
    assert first == {"probe.slow": 7} and runs == ["one"]
    assert run_once(platform, [job]) == {"probe.slow": 7}  # free again


def test_a_failing_job_frees_its_name(platform):
    def broken(_platform) -> int:
        raise RuntimeError("the job fails")

    assert run_once(platform, [Job("probe.broken", 1, run=broken)]) == {"probe.broken": -1}
    assert run_once(platform, [Job("probe.broken", 1, run=lambda _p: 1)]) == {"probe.broken": 1}
