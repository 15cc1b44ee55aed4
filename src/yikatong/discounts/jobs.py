"""Background work of the discounts domain, run by `ykt worker`.

* `discounts.rebate_cleared_files`: the transit rebates of every clearing file received since
  the earliest running transit-rebate campaign began and not run yet (rebates.run_pending).
* `discounts.credit_rebates_to_accounts`: the rebates of campaigns that credit the bank account,
  delivered through the bank interface outside the platform's write transaction, retried until
  the bank answers, never twice (rebates.deliver_account_credits).
* `discounts.expire_vouchers`: unused tourism vouchers past their last day expire and give their
  face value back to the budget (service.expire_vouchers; idempotent, one audit record naming
  them).
"""

from __future__ import annotations

from yikatong.discounts import rebates, service
from yikatong.worker.runner import Job


def expire_vouchers(platform) -> int:
    """The worker's hook: how many vouchers expired this round (none twice: a voucher expires
    once, by a conditional UPDATE from `issued`)."""
    with platform.uow() as uow:
        return len(service.expire_vouchers(uow=uow, actor=service.SYSTEM))


JOBS = [Job("discounts.rebate_cleared_files", every_seconds=60, run=rebates.run_pending),
        Job("discounts.credit_rebates_to_accounts", every_seconds=60, run=rebates.deliver_account_credits),
        Job("discounts.expire_vouchers", every_seconds=3600, run=expire_vouchers)]
