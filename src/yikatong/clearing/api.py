"""Clearing door: terminal batch upload (transit operators), reports and exceptions (admin)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from yikatong.api.deps import current_actor, platform_dep
from yikatong.clearing import batches, day_review, receive, reports, schemas, shadow_balances
from yikatong.clearing.errors import BatchTooLarge
from yikatong.core.actor import Actor
from yikatong.platform import Platform

router = APIRouter(prefix="/clearing", tags=["clearing 清分结算"])
MAX_UPLOAD = 64 * 1024 * 1024  # a day of a busy gate line is far below this


def batch_out(result: batches.BatchResult) -> schemas.BatchOut:
    data = result.as_dict()
    return schemas.BatchOut(**{**data, "postings": [asdict(p) for p in result.postings]})


@router.post("/batches", response_model=schemas.BatchOut, status_code=201,
             summary="Upload a terminal batch file / 上传终端批次",
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def upload(request: Request, response: Response, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    """The body is the file itself (docs/clearing-batch-format.md). The same file again answers
    200 with the first answer; the same file id with other content is 409."""
    content = bytearray()
    async for chunk in request.stream():
        content += chunk
        if len(content) > MAX_UPLOAD:
            raise BatchTooLarge(limit_mib=MAX_UPLOAD // (1024 * 1024))
    result = await run_in_threadpool(receive.upload_batch, platform=platform, actor=actor, content=bytes(content))
    if result.replayed:
        response.status_code = 200
    return batch_out(result)


@router.get("/batches/{file_id}", response_model=schemas.BatchOut, summary="A batch's result / 批次结果")
def get_batch(file_id: str, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return batch_out(batches.get_batch(uow=uow, file_id=file_id, actor=actor))


@router.get("/exceptions", response_model=list[schemas.ExceptionOut], summary="Exceptions / 清算异常")
def exceptions(open_only: bool = Query(default=True, alias="open"), reason: str | None = None,
               asn: str | None = None, limit: int = Query(default=200, ge=1, le=10_000),
               actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        found = reports.list_exceptions(uow=uow, open_only=open_only, reason=reason, asn=asn, limit=limit)
    return [schemas.ExceptionOut(**asdict(e)) for e in found]


@router.get("/settlement/{day}", response_model=schemas.SettlementOut,
            summary="Daily settlement and reconciliation / 日结算与对账")
def settlement(day: date, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        report = reports.settlement_report(uow=uow, day=day)
        reconciliation = reports.reconcile(uow=uow, day=day)
    return schemas.SettlementOut(
        day=day, lines=[schemas.SettlementLineOut(**asdict(line)) for line in report.lines],
        total_count=report.total_count, total_amount=report.total_amount, pending_count=report.pending_count,
        pending_amount=report.pending_amount, rejected_count=report.rejected_count,
        loads_count=report.loads_count, loads_amount=report.loads_amount, reconciled=reconciliation.ok,
        cards_checked=len(reconciliation.cards),
        card_mismatches=[schemas.CardDayOut(**asdict(card), difference=card.difference)
                         for card in reconciliation.card_mismatches],
        accounts=[schemas.AccountCheckOut(**asdict(a), agrees=a.agrees) for a in reconciliation.accounts],
    )


@router.post("/days/{day}/review", response_model=schemas.ReviewOut,
             summary="Review a day: re-rate every tap, check counters / 日终复核")
def review(day: date, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    """Idempotent: run it when the day's files are in, and again after late ones."""
    with platform.uow() as uow:
        result = day_review.review_day(uow=uow, actor=actor, day=day, fares=receive.fares_of(platform))
        uow.commit()
    return schemas.ReviewOut(**asdict(result))


@router.get("/cards/{asn}/shadow-balance", response_model=schemas.ShadowBalanceOut,
            summary="A card's shadow balance / 影子余额")
def shadow_balance(asn: str, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return schemas.ShadowBalanceOut(asn=asn, shadow_balance=shadow_balances.shadow_balance(uow=uow, asn=asn))


@router.get("/disagreements", response_model=list[schemas.DisagreementOut],
            summary="Cards whose balance and shadow balance disagree / 余额差异")
def disagreements(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        found = shadow_balances.balance_disagreements(uow=uow)
    return [schemas.DisagreementOut(**asdict(d), difference=d.difference) for d in found]
