"""The HR services' pages (mounted at the site root; see yikatong.pages).

* The holder (`/me/services`): the catalogue with what each service needs and leads to, their
  cases; opening a case, uploading documents, submitting, withdrawing, following it
  (`/me/services/cases/{id}`). The login's person and their card are the credential: a card
  formally reported lost or retired is refused at every step, with the reason on the page.
* The outlet (`/counter/services`): the operator reads the card (its number in the form) and
  opens a case for its holder, uploads the documents they bring and submits; every step reads
  the card again.
* The HR officer (`/hr/queue`, `/hr/cases/{id}`): the queue, a case with its documents, claim,
  ask for more documents, approve with what the outcome needs, refuse with a reason.

Every change is one `hrservices.service` use case; the pages compute nothing.
"""

from __future__ import annotations

import secrets
from datetime import date

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from yikatong.api.deps import RowId, current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.hrservices import rules, service
from yikatong.hrservices.service import Decision
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

MAX_UPLOAD = 2 * 1024 * 1024  # the catalogue's largest document (checked again by kind)
CHANNELS = {"online": ("网上办理", "online"), "outlet": ("服务网点", "at an outlet")}
CREDENTIALS = {"card": ("社会保障卡", "social security card"), "ecard": ("电子社保卡", "e-card")}
SCHEMES = {"310": ("职工基本医疗保险", "employee basic medical insurance"),
           "390": ("城乡居民基本医疗保险", "urban-rural residents' basic medical insurance")}
STEPS = {"open": ("申办", "opened"), **{str(step): (words[0], words[2])
                                        for step, words in service.STEP_WORDS.items()}}


def _words(**extra) -> dict:
    return {"state_words": rules.STATE_WORDS, "channels": CHANNELS, "credentials": CREDENTIALS,
            "steps": STEPS, "schemes": SCHEMES, "book": service.catalogue(), **extra}


def _step_allowed(case, step: rules.Step) -> bool:
    return rules.next_state(case.state, step) is not None


def _content(upload: UploadFile | None) -> bytes:
    if upload is None:
        raise InvalidInput(reason_zh="请选择文件", reason_en="choose a file")
    content = upload.file.read(MAX_UPLOAD + 1)
    return content


# --- the holder ------------------------------------------------------------------------------


def _my_services(request: Request, platform: Platform, actor: Actor, *, error: DomainError | None = None,
                 status_code: int = 200):
    card_error = None
    cases = []
    with platform.uow() as uow:
        if actor.person_id is not None:
            cases = service.cases_of(uow=uow, actor=actor)
        try:
            service.present_holder(uow=uow, actor=actor)
        except DomainError as refused:
            card_error = refused
    return render(request, "hrservices/my_services.html", _words(
        cases=cases, services=service.catalogue().opened_by("holder"), card_error=card_error,
        error=error, idempotency_key=secrets.token_urlsafe(18)), status_code=status_code)


@router.get("/me/services")
def my_services(request: Request, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    """The catalogue and the holder's cases."""
    return _my_services(request, platform, actor)


@router.post("/me/services")
def open_mine(request: Request, service_code: str = Form(default="", max_length=48),
              employer_name: str = Form(default="", max_length=128),
              note: str = Form(default="", max_length=200),
              idempotency_key: str = Form(default="", max_length=128),
              actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    """Open a case with the card (the login's person's current card)."""
    particulars = {k: v for k, v in (("employer_name", employer_name), ("note", note)) if v.strip()}
    try:
        with platform.uow() as uow:
            case = service.open_case(uow=uow, actor=actor, service_code=service_code,
                                     particulars=particulars, idempotency_key=idempotency_key or None)
    except DomainError as error:
        return _my_services(request, platform, actor, error=error, status_code=error.http_status)
    return RedirectResponse(f"/me/services/cases/{case.id}", status_code=303)


def _case_page(request: Request, platform: Platform, actor: Actor, case_id: int, *, base: str,
               card_no: str = "", error: DomainError | None = None, status_code: int = 200):
    with platform.uow() as uow:
        case = service.get_case(uow=uow, actor=actor, case_id=case_id)
    item = service.catalogue().service(case.service_code)
    return render(request, "hrservices/case.html", _words(
        case=case, item=item, base=base, card_no=card_no, error=error,
        may_attach=_step_allowed(case, rules.Step.ATTACH),
        may_submit=_step_allowed(case, rules.Step.SUBMIT),
        may_withdraw=_step_allowed(case, rules.Step.WITHDRAW)), status_code=status_code)


@router.get("/me/services/cases/{case_id}")
def my_case(request: Request, case_id: RowId, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    return _case_page(request, platform, actor, case_id, base="/me/services")


def _attach(request: Request, platform: Platform, actor: Actor, case_id: int, *, base: str, kind: str,
            document: UploadFile | None, card_no: str | None):
    try:
        content = _content(document)
        with platform.uow() as uow:
            service.attach_document(uow=uow, actor=actor, case_id=case_id, kind=kind,
                                    file_name=(document.filename or "").rsplit("/", 1)[-1],
                                    content_type=document.content_type or "", content=content,
                                    card_no=card_no)
    except DomainError as error:
        return _case_page(request, platform, actor, case_id, base=base, card_no=card_no or "",
                          error=error, status_code=error.http_status)
    return RedirectResponse(f"{base}/cases/{case_id}#documents", status_code=303)


@router.post("/me/services/cases/{case_id}/documents")
def my_document(request: Request, case_id: RowId, kind: str = Form(default="", max_length=32),
                document: UploadFile | None = File(default=None),
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _attach(request, platform, actor, case_id, base="/me/services", kind=kind, document=document,
                   card_no=None)


def _step(request: Request, platform: Platform, actor: Actor, case_id: int, *, base: str, operation,
          card_no: str = "", **kwargs):
    try:
        with platform.uow() as uow:
            operation(uow=uow, actor=actor, case_id=case_id, card_no=card_no or None, **kwargs)
    except DomainError as error:
        return _case_page(request, platform, actor, case_id, base=base, card_no=card_no, error=error,
                          status_code=error.http_status)
    return RedirectResponse(f"{base}/cases/{case_id}", status_code=303)


@router.post("/me/services/cases/{case_id}/submit")
def my_submit(request: Request, case_id: RowId, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    return _step(request, platform, actor, case_id, base="/me/services", operation=service.submit_case)


@router.post("/me/services/cases/{case_id}/withdraw")
def my_withdraw(request: Request, case_id: RowId, reason: str = Form(default="", max_length=500),
                actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _step(request, platform, actor, case_id, base="/me/services", operation=service.withdraw_case,
                 reason=reason)


# --- the outlet -------------------------------------------------------------------------------


@router.get("/counter/services")
def counter_services(request: Request, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    """Open a case for the holder whose card the reader reads."""
    return render(request, "hrservices/counter.html", _words(
        services=service.catalogue().opened_by("outlet"), error=None, form={}))


@router.post("/counter/services")
def counter_open(request: Request, card_no: str = Form(default="", max_length=16),
                 service_code: str = Form(default="", max_length=48),
                 employer_name: str = Form(default="", max_length=128),
                 note: str = Form(default="", max_length=200),
                 actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    particulars = {k: v for k, v in (("employer_name", employer_name), ("note", note)) if v.strip()}
    try:
        with platform.uow() as uow:
            case = service.open_case(uow=uow, actor=actor, service_code=service_code,
                                     particulars=particulars, card_no=card_no)
    except DomainError as error:
        return render(request, "hrservices/counter.html", _words(
            services=service.catalogue().opened_by("outlet"), error=error,
            form={"card_no": card_no, "service_code": service_code}), status_code=error.http_status)
    return RedirectResponse(f"/counter/services/cases/{case.id}", status_code=303)


@router.get("/counter/services/cases/{case_id}")
def counter_case(request: Request, case_id: RowId, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    return _case_page(request, platform, actor, case_id, base="/counter/services")


@router.post("/counter/services/cases/{case_id}/documents")
def counter_document(request: Request, case_id: RowId, card_no: str = Form(default="", max_length=16),
                     kind: str = Form(default="", max_length=32), document: UploadFile | None = File(default=None),
                     actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _attach(request, platform, actor, case_id, base="/counter/services", kind=kind, document=document,
                   card_no=card_no)


@router.post("/counter/services/cases/{case_id}/submit")
def counter_submit(request: Request, case_id: RowId, card_no: str = Form(default="", max_length=16),
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _step(request, platform, actor, case_id, base="/counter/services", operation=service.submit_case,
                 card_no=card_no)


# --- the HR officer ---------------------------------------------------------------------------


@router.get("/hr/queue")
def officer_queue(request: Request, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        cases = service.queue(uow=uow, actor=actor)
        counts = service.counts_by_state(uow=uow)
    return render(request, "hrservices/queue.html", _words(cases=cases, counts=counts))


def _officer_case(request: Request, platform: Platform, actor: Actor, case_id: int, *,
                  error: DomainError | None = None, status_code: int = 200, form: dict | None = None):
    with platform.uow() as uow:
        case = service.get_case(uow=uow, actor=actor, case_id=case_id)
        person = service.masked_person(uow, case.person_id)
        today = service.local_date(uow.now())
    item = service.catalogue().service(case.service_code)
    return render(request, "hrservices/officer_case.html", _words(
        case=case, item=item, person=person, error=error, mine=case.officer == actor.user_id,
        may_claim=_step_allowed(case, rules.Step.CLAIM),
        may_decide=_step_allowed(case, rules.Step.APPROVE) and case.officer == actor.user_id,
        form={"start_date": today.isoformat(), "scheme": case.particulars.get("scheme", "390"),
              "insured_admdvs": "320402", "employer_uscc": "", "employer_name":
              case.particulars.get("employer_name", ""), "contribution_months": "", "amount_yuan": ""}
        | (form or {})), status_code=status_code)


@router.get("/hr/cases/{case_id}")
def officer_case(request: Request, case_id: RowId, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    return _officer_case(request, platform, actor, case_id)


@router.get("/hr/cases/{case_id}/documents/{document_id}")
def officer_document(case_id: RowId, document_id: RowId, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view, content = service.document_content(uow=uow, actor=actor, case_id=case_id, document_id=document_id)
    return Response(content, media_type=view.content_type,
                    headers={"Content-Disposition": f'inline; filename="document-{view.id}"'})


def _officer_step(request: Request, platform: Platform, actor: Actor, case_id: int, operation,
                  form: dict | None = None, **kwargs):
    try:
        with platform.uow() as uow:
            operation(uow=uow, actor=actor, case_id=case_id, **kwargs)
    except DomainError as error:
        return _officer_case(request, platform, actor, case_id, error=error, status_code=error.http_status,
                             form=form)
    return RedirectResponse(f"/hr/cases/{case_id}", status_code=303)


@router.post("/hr/cases/{case_id}/claim")
def officer_claim(request: Request, case_id: RowId, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    return _officer_step(request, platform, actor, case_id, service.claim_case)


@router.post("/hr/cases/{case_id}/request-documents")
async def officer_ask(request: Request, case_id: RowId, actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    form = await request.form()
    kinds = [str(k)[:32] for k in form.getlist("kinds")][:12]
    note = str(form.get("ask_note") or "")[:500]
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_officer_step, request, platform, actor, case_id,
                                   service.ask_for_documents, kinds=kinds, note=note)


@router.post("/hr/cases/{case_id}/approve")
def officer_approve(request: Request, case_id: RowId, note: str = Form(default="", max_length=500),
                    scheme: str = Form(default="", max_length=3),
                    insured_admdvs: str = Form(default="", max_length=6),
                    start_date: str = Form(default="", max_length=10),
                    employer_uscc: str = Form(default="", max_length=18),
                    employer_name: str = Form(default="", max_length=128),
                    contribution_months: str = Form(default="", max_length=4),
                    amount_yuan: str = Form(default="", max_length=16),
                    actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    entered = {"scheme": scheme, "insured_admdvs": insured_admdvs, "start_date": start_date,
               "employer_uscc": employer_uscc, "employer_name": employer_name,
               "contribution_months": contribution_months, "amount_yuan": amount_yuan}
    try:
        decision = Decision(
            note=note, scheme=scheme or None, insured_admdvs=insured_admdvs.strip() or None,
            start_date=_day(start_date), employer_uscc=employer_uscc.strip() or None,
            employer_name=employer_name.strip() or None,
            contribution_months=_whole(contribution_months, "缴费月数", "contribution months"),
            amount_fen=_fen(amount_yuan))
    except DomainError as error:
        return _officer_case(request, platform, actor, case_id, error=error, status_code=error.http_status,
                             form=entered)
    return _officer_step(request, platform, actor, case_id, service.approve_case, form=entered,
                         decision=decision)


@router.post("/hr/cases/{case_id}/refuse")
def officer_refuse(request: Request, case_id: RowId, reason: str = Form(default="", max_length=500),
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _officer_step(request, platform, actor, case_id, service.refuse_case, reason=reason)


def _day(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="the day must be YYYY-MM-DD") from None


def _whole(text: str, zh: str, en: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise InvalidInput(reason_zh=f"{zh}须为整数", reason_en=f"the {en} must be a whole number")
    return int(text.strip())


def _fen(text: str) -> int | None:
    """An amount typed in yuan (up to two decimals) in fen."""
    from decimal import Decimal, InvalidOperation

    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal(-1)
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(reason_zh="金额须为正数，至多两位小数", reason_en="the amount must be positive, "
                           "at most two decimals")
    return int(amount * 100)
