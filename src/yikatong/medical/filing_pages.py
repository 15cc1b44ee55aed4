"""The holder's cross-region filing page (异地就医备案), `/me/medical/filings`: their filings
(region, kind, dates, after the fact, cancelled) and a small form to file a temporary or
long-term stay from today on, standing in for the national APP and 江苏医保云 APP; a filing of
theirs can be cancelled from today. The rules are `crossregion.file_for` / `cancel_for`: the
same as the JSON API's (crossregion_api.py). Mounted through medical/web.py.
"""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.medical import crossregion
from yikatong.medical.crossregion import REASON_ZH, Reason
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

REASON_WORDS = {reason: (REASON_ZH[reason], words) for reason, words in (
    (Reason.RETIRED_RESETTLED, "settled elsewhere after retirement"),
    (Reason.LONG_TERM_RESIDENCE, "long-term residence elsewhere"),
    (Reason.POSTED_TO_WORK, "posted to work elsewhere"),
    (Reason.REFERRAL, "referral or transfer"),
    (Reason.EMERGENCY, "emergency"),
    (Reason.OTHER, "other temporary stay"))}
KIND_WORDS = {"long_term": ("异地长期居住", "long-term stay"), "temporary": ("临时外出就医", "temporary stay")}
STATUS_WORDS = {"active": ("有效", "in force"), "cancelled": ("已撤销", "cancelled")}


@router.get("/me/medical/filings")
def my_filings(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    return _render(request, platform, actor, {"idempotency_key": uuid.uuid4().hex})


@router.post("/me/medical/filings")
def file_mine(request: Request, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep),
              filed_admdvs: str = Form(default="", max_length=6), reason: str = Form(default="", max_length=32),
              begin: str = Form(default="", max_length=10), end: str = Form(default="", max_length=10),
              idempotency_key: str = Form(default="", max_length=128)):
    entered = {"filed_admdvs": filed_admdvs, "reason": reason, "begin": begin, "end": end,
               "idempotency_key": idempotency_key or uuid.uuid4().hex}
    try:
        with platform.uow() as uow:
            filing = crossregion.file_for(
                uow=uow, actor=actor, request_id=f"holder:{actor.person_id}:{entered['idempotency_key']}",
                person_id=actor.person_id or 0, filed_admdvs=filed_admdvs.strip(), reason=reason,
                begin=_day(begin), end=_day(end))
    except DomainError as error:
        return _render(request, platform, actor, entered, error=error, status_code=error.http_status)
    return RedirectResponse(f"/me/medical/filings#filing-{filing.id}", status_code=303)


@router.post("/me/medical/filings/{filing_id}/cancel")
def cancel_mine(request: Request, filing_id: int = Path(ge=1, le=2**63 - 1), actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep), reason: str = Form(default="", max_length=200)):
    try:
        with platform.uow() as uow:
            crossregion.cancel_for(uow=uow, actor=actor, filing_id=filing_id, reason=reason.strip())
    except DomainError as error:
        return _render(request, platform, actor, {"idempotency_key": uuid.uuid4().hex}, error=error,
                       status_code=error.http_status)
    return RedirectResponse(f"/me/medical/filings#filing-{filing_id}", status_code=303)


def _day(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="a date must be YYYY-MM-DD") from None


def _render(request: Request, platform: Platform, actor: Actor, entered: dict, *,
            error: DomainError | None = None, status_code: int = 200):
    form = {"filed_admdvs": "", "reason": "", "begin": "", "end": "", **entered}
    with platform.uow() as uow:
        filings = crossregion.filings(uow=uow, person_id=actor.person_id) if actor.person_id else []
        today = crossregion.today(uow)
    return render(request, "medical/filings.html", {
        "filings": list(reversed(filings)), "form": form, "error": error, "today": today,
        "reason_words": REASON_WORDS, "kind_words": KIND_WORDS, "status_words": STATUS_WORDS},
        status_code=status_code)
