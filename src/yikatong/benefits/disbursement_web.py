"""The disbursement's pages, Chinese first with English beside:

* the paying office (`/office/runs`): its programmes and runs with paid, held and failed;
  `/office/runs/{programme}/{period}`: the reconciliation, the report by bank and reason with
  its chart, the bank batches and the failures (masked ID numbers);
* the holder (`/me/payments`): their payments, masked account.

The rules are runs.py and service.py (the same as the API's). Mounted through web.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request

from yikatong.api.deps import current_actor, platform_dep
from yikatong.benefits import report, runs, service
from yikatong.core.actor import Actor
from yikatong.core.errors import Forbidden
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

Programme = Path(min_length=1, max_length=16, pattern=r"^[a-z_]+$")
Period = Path(min_length=7, max_length=7, pattern=r"^\d{4}-\d{2}$")
PAYMENT_STATUS = {**report.STATUS_WORDS, "retrying": ("待重发", "to be paid again")}


@router.get("/office/runs")
def office_runs(request: Request, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        listed = runs.list_runs(uow=uow, actor=actor)
    return render(request, "benefits/office_runs.html", {
        "programmes": service.list_programmes(actor=actor), "runs": listed})


@router.get("/office/runs/{programme}/{period}")
def office_run(request: Request, programme: str = Programme, period: str = Period,
               actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        run = runs.get_run(uow=uow, actor=actor, programme_code=programme, period=period)
        rows = runs.report_of(uow=uow, actor=actor, programme_code=programme, period=period)
        batches = runs.batches_of(uow=uow, actor=actor, programme_code=programme, period=period)
        failures = runs.failures_of(uow=uow, actor=actor, programme_code=programme, period=period)
    return render(request, "benefits/office_run.html", {
        "run": run, "rows": rows, "chart": report.chart(rows), "batches": batches,
        "failures": failures, "statuses": report.STATUS_WORDS, "reasons": report.reason_words})


@router.get("/me/payments")
def my_payments(request: Request, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    if actor.person_id is None:
        raise Forbidden()
    with platform.uow(read_only=True) as uow:
        payments = service.payments_of(uow=uow, person_id=actor.person_id)
    return render(request, "benefits/my_payments.html", {
        "payments": payments, "statuses": PAYMENT_STATUS, "reasons": report.reason_words})
