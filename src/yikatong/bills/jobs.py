"""Background work of payments out, run by `ykt worker`: the standing mandates (代扣) pay the
bills due by today (Changzhou's date from the platform clock). Each payment is keyed by mandate
and bill, so running it every hour pays nothing twice; a refusal is texted once per bill and
day (service.run_mandates)."""

from __future__ import annotations

from yikatong.worker.runner import Job


def pay_mandates_due(platform) -> int:
    from yikatong.bills import service
    from yikatong.core.clock import local_date

    run = service.run_mandates(uows=platform.uow, day=local_date(platform.clock.now()))
    return len(run.paid)


JOBS = [Job("bills.pay_mandates_due", 3600, pay_mandates_due)]
