"""The disbursement's JSON doors under /api/v1/benefits: a paying office uploads a payee list
(JSON or CSV), has the reference office compute one, starts or resumes a period's run, and
reads its runs, batches, failures, report and reconciliation; a holder reads their own
payments. The rules are service.py and runs.py, the same as the CLI's and the pages'."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from yikatong.api.deps import current_actor, platform_dep
from yikatong.benefits import paying_office, runs, service
from yikatong.benefits.errors import InvalidPayeeList
from yikatong.core.actor import Actor
from yikatong.core.errors import Forbidden
from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.core.response_models import response_model
from yikatong.platform import Platform

router = APIRouter(prefix="/benefits", tags=["benefits / 待遇代发"])

Programme = Path(min_length=1, max_length=16, pattern=r"^[a-z_]+$")
Period = Path(min_length=7, max_length=7, pattern=r"^\d{4}-\d{2}$")
MAX_UPLOAD = 64 * 1024 * 1024


ProgrammeOut = response_model(service.ProgrammeView, name="ProgrammeOut")
EnrolmentOut = response_model(service.EnrolmentView, name="EnrolmentOut")
PayeeListOut = response_model(service.PayeeListView, name="PayeeListOut")
PaymentOut = response_model(service.PaymentView, name="PaymentOut")
RunOut = response_model(runs.RunView, name="RunOut", exclude=("reconciliation_file",))
BatchOut = response_model(runs.BatchView, name="BatchOut")
FailureOut = response_model(runs.FailureView, name="FailureOut")
ReportRowOut = response_model(runs.ReportRow, name="ReportRowOut")


class PayeeIn(BaseModel):
    id_number: str = Field(max_length=20)
    name: str = Field(max_length=60)
    amount_fen: int = Field(gt=0, le=MAX_AMOUNT_FEN)
    memo: str = Field(default="", max_length=60)


class PayeeListIn(BaseModel):
    rows: list[PayeeIn]


class EnrolmentIn(BaseModel):
    programme_code: str = Field(max_length=16)
    person_id: int = Field(ge=1)
    monthly_fen: int | None = Field(default=None, gt=0, le=MAX_AMOUNT_FEN)
    start_period: str = Field(max_length=7)
    end_period: str | None = Field(default=None, max_length=7)
    source_ref: str = Field(max_length=64)
    facts: dict = Field(default_factory=dict)


@router.get("/programmes", response_model=list[ProgrammeOut], summary="Programmes / 待遇项目")
def programmes(actor: Actor = Depends(current_actor)):
    return service.list_programmes(actor=actor)


@router.post("/enrolments", response_model=EnrolmentOut, status_code=201,
             summary="Enrol a person in a programme / 待遇登记")
def enrol(body: EnrolmentIn, actor: Actor = Depends(current_actor),
          platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.enrol(uow=uow, actor=actor, programme_code=body.programme_code,
                             person_id=body.person_id, monthly_fen=body.monthly_fen,
                             start_period=body.start_period, end_period=body.end_period,
                             source="office", source_ref=body.source_ref, facts=body.facts)
        uow.commit()
    return view


@router.post("/programmes/{programme}/periods/{period}/payee-list", response_model=PayeeListOut,
             status_code=201, summary="Upload a payee list, JSON or CSV / 上传发放名单")
async def upload_payee_list(request: Request, programme: str = Programme, period: str = Period,
                            actor: Actor = Depends(current_actor),
                            platform: Platform = Depends(platform_dep)):
    body = await request.body()
    if len(body) > MAX_UPLOAD:
        raise InvalidPayeeList(problems="larger than 64 MB: send it through the file drop")
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("text/csv"):
            rows = service.parse_payee_csv(body.decode("utf-8"))
        else:
            parsed = PayeeListIn.model_validate(json.loads(body or b"{}"))
            rows = [service.PayeeRow(r.id_number, r.name, r.amount_fen, r.memo) for r in parsed.rows]
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidPayeeList(problems=str(error)[:200]) from None
    with platform.uow() as uow:
        view = service.receive_payee_list(uow=uow, actor=actor, programme_code=programme,
                                          period=period, rows=rows)
        uow.commit()
    return view


@router.post("/programmes/{programme}/periods/{period}/payee-list/reference",
             response_model=PayeeListOut, status_code=201,
             summary="Have the reference paying office compute the list / 参考发放机构生成名单")
def reference_payee_list(programme: str = Programme, period: str = Period,
                         actor: Actor = Depends(current_actor),
                         platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = paying_office.submit_reference_list(uow=uow, actor=actor, programme_code=programme,
                                                   period=period)
        uow.commit()
    return view


@router.post("/programmes/{programme}/periods/{period}/run", response_model=RunOut,
             summary="Start or resume the period's run / 启动或继续发放")
def start_run(programme: str = Programme, period: str = Period, retry: bool = False,
              actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    if retry:
        runs.retry_failed(platform, actor=actor, programme_code=programme, period=period)
    return runs.run(platform, actor=actor, programme_code=programme, period=period)


@router.get("/runs", response_model=list[RunOut], summary="Runs / 发放批次")
def list_runs(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return runs.list_runs(uow=uow, actor=actor)


@router.get("/programmes/{programme}/periods/{period}/run", response_model=RunOut,
            summary="One run and its reconciliation / 发放与对账")
def get_run(programme: str = Programme, period: str = Period, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return runs.get_run(uow=uow, actor=actor, programme_code=programme, period=period)


@router.get("/programmes/{programme}/periods/{period}/batches", response_model=list[BatchOut],
            summary="The run's bank batches / 银行代发文件")
def batches(programme: str = Programme, period: str = Period, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return runs.batches_of(uow=uow, actor=actor, programme_code=programme, period=period)


@router.get("/programmes/{programme}/periods/{period}/failures", response_model=list[FailureOut],
            summary="Failed payments and their retry state / 发放失败明细")
def failures(programme: str = Programme, period: str = Period, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return runs.failures_of(uow=uow, actor=actor, programme_code=programme, period=period)


@router.get("/programmes/{programme}/periods/{period}/report", response_model=list[ReportRowOut],
            summary="Paid, held and failed by bank and reason / 按银行和原因统计")
def report(programme: str = Programme, period: str = Period, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return runs.report_of(uow=uow, actor=actor, programme_code=programme, period=period)


@router.get("/me/payments", response_model=list[PaymentOut], summary="My payments / 我的待遇发放")
def my_payments(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    if actor.person_id is None:
        raise Forbidden()
    with platform.uow(read_only=True) as uow:
        return service.payments_of(uow=uow, person_id=actor.person_id)
