"""The pension confirmation's pages (待遇资格认证), Chinese first with English beside:

* the holder (`/me/pension`): the confirmation's state, its history, and confirming with the
  e-card (online) or with the card read at a reader (card live, not retired, not under
  formal loss);
* the outlet counter (`/counter/pension`): find the person by ID number, confirm for them
  with the identity documents seen (or their card read at the counter);
* the paying office CZ-SI (`/office/pension`): who is due, suspended, deceased, and the
  recoveries of pensions paid after death, with the bank debit started from the page.

The rules are certification.py and recovery.py (the same as the API's). Mounted through
benefits/web.py.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import RowId, current_actor, platform_dep
from yikatong.benefits import certification, recovery
from yikatong.benefits.certification_rules import CHANNEL_WORDS
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

STATUS_FILTERS = {"due": ("临近到期", "due soon"), "suspended": ("暂停发放", "suspended"),
                  "deceased": ("已身故", "deceased"), "active": ("已认证", "confirmed")}
CHANNELS = {str(k): v for k, v in CHANNEL_WORDS.items()}


# ---------------------------------------------------------------------------------------
# The holder


@router.get("/me/pension")
def my_pension(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    return _mine(request, platform, actor)


@router.post("/me/pension/certify")
def certify_mine(request: Request, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep),
                 channel: str = Form(default="ecard", max_length=8),
                 card_no: str = Form(default="", max_length=9),
                 idempotency_key: str = Form(default="", max_length=100)):
    try:
        with platform.uow() as uow:
            certification.confirm(uow=uow, actor=actor, person_id=actor.person_id or 0,
                                  channel=channel, card_no=card_no.strip() or None,
                                  request_id=f"holder:{actor.person_id}:{idempotency_key or uuid.uuid4().hex}")
    except DomainError as error:
        return _mine(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse("/me/pension#confirmed", status_code=303)


def _mine(request: Request, platform: Platform, actor: Actor, *, error: DomainError | None = None,
          status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        try:
            eligibility = certification.eligibility_of(uow=uow, person_id=actor.person_id or 0)
        except certification.NotAPensioner:
            eligibility = None
        history = certification.certifications_of(uow=uow, person_id=actor.person_id or 0)
        suspensions = certification.suspensions_of(uow=uow, person_id=actor.person_id or 0)
    return render(request, "benefits/my_pension.html", {
        "eligibility": eligibility, "history": history, "suspensions": suspensions,
        "channels": CHANNELS, "error": error, "idempotency_key": uuid.uuid4().hex},
        status_code=status_code)


# ---------------------------------------------------------------------------------------
# The outlet counter


@router.get("/counter/pension")
def counter(request: Request, ssn: str = Query(default="", max_length=18),
            actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _counter(request, platform, ssn=ssn)


@router.post("/counter/pension/{person_id}/certify")
def certify_at_counter(request: Request, person_id: RowId, actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep),
                       channel: str = Form(default="outlet", max_length=8),
                       documents: str = Form(default="", max_length=200),
                       card_no: str = Form(default="", max_length=9),
                       idempotency_key: str = Form(default="", max_length=100)):
    try:
        with platform.uow() as uow:
            certification.confirm(uow=uow, actor=actor, person_id=person_id, channel=channel,
                                  documents=documents, card_no=card_no.strip() or None,
                                  request_id=f"outlet:{actor.user_id}:{idempotency_key or uuid.uuid4().hex}")
    except DomainError as error:
        return _counter(request, platform, person_id=person_id, error=error,
                        status_code=error.http_status)
    return RedirectResponse(f"/counter/pension?person_id={person_id}#confirmed", status_code=303)


def _counter(request: Request, platform: Platform, *, ssn: str = "", person_id: int | None = None,
             error: DomainError | None = None, status_code: int = 200):
    from yikatong.people.service import find_person_by_ssn

    person_id = person_id or _int(request.query_params.get("person_id"))
    eligibility, history, searched = None, [], bool(ssn.strip())
    with platform.uow(read_only=True) as uow:
        if ssn.strip():
            person = find_person_by_ssn(uow=uow, ssn=ssn.strip().upper())
            person_id = person.id if person else None
        if person_id:
            try:
                eligibility = certification.eligibility_of(uow=uow, person_id=person_id)
                history = certification.certifications_of(uow=uow, person_id=person_id)
            except certification.NotAPensioner:
                eligibility = None
    return render(request, "benefits/counter_pension.html", {
        "eligibility": eligibility, "history": history, "searched": searched or person_id is not None,
        "channels": CHANNELS, "error": error, "idempotency_key": uuid.uuid4().hex},
        status_code=status_code)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 19 else None


# ---------------------------------------------------------------------------------------
# The paying office


@router.get("/office/pension")
def office(request: Request, status: str = Query(default="", max_length=16),
           actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _office(request, platform, actor, status=status)


@router.post("/office/pension/recoveries/collect")
def office_collect(request: Request, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    try:
        with platform.uow() as uow:
            recovery.collect(uow=uow, actor=actor)
    except DomainError as error:
        return _office(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse("/office/pension?status=deceased#recoveries", status_code=303)


def _office(request: Request, platform: Platform, actor: Actor, *, status: str = "",
            error: DomainError | None = None, status_code: int = 200):
    status = status if status in STATUS_FILTERS else ""
    with platform.uow(read_only=True) as uow:
        rows = certification.pensioners(uow=uow, actor=actor, status=status or None)
        owed = recovery.recoveries(uow=uow, actor=actor)
    counts = {key: sum(1 for r in rows if (r.due if key == "due" else r.status == key)) for key in STATUS_FILTERS}
    return render(request, "benefits/office_pension.html", {
        "rows": rows, "recoveries": owed, "status": status, "filters": STATUS_FILTERS,
        "counts": counts, "error": error,
        "owed_fen": sum(r.amount_fen for r in owed if r.status == recovery.OWED),
        "recovered_fen": sum(r.amount_fen for r in owed if r.status == recovery.RECOVERED)},
        status_code=status_code)
