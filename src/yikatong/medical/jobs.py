"""Background work of the medical domain, run by `ykt worker`: the institution interface's
spent nonces older than twice the timestamp window are forgotten (a request that old is
refused by its timestamp anyway), so the table stays as small as the last ten minutes."""

from __future__ import annotations

from yikatong.medical.interface import forget_spent_nonces
from yikatong.worker.runner import Job


def forget_old_nonces(platform) -> int:
    with platform.uow() as uow:
        forgotten = forget_spent_nonces(uow, now=platform.clock.now())
        uow.commit()
    return forgotten


JOBS = [Job("medical.forget_spent_nonces", 300, forget_old_nonces)]
