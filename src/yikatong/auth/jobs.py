"""Background work of the auth domain, run by `ykt worker`: throttle windows that have ended
count nothing any more; dropping them keeps the table as small as the current traffic."""

from __future__ import annotations

from yikatong.auth.throttle import Throttle
from yikatong.worker.runner import Job


def purge_ended_throttle_windows(platform) -> int:
    return platform.get(Throttle).storage.purge_ended()


JOBS = [Job("auth.purge_throttle_windows", 300, purge_ended_throttle_windows)]
