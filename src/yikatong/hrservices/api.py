"""The HR services through the JSON API, under /api/v1/hr.

* The holder (Role.HOLDER, a login bound to a person with a live card): the catalogue, their
  own cases; opens a case (Idempotency-Key), attaches documents, submits, withdraws; the card
  (or an e-card code in `ecard_token`) is checked at every step.
* An outlet (SS / citizen outlet): opens a case for the person whose card it read (`card_no`),
  and attaches, submits, withdraws with the card read again.
* The HR officer (Role.HR_OFFICER): the queue, a case, claim, ask for documents, approve (with
  what the outcome needs), refuse with a reason; and, as the HR system (its API key), the read
  of a person's card account number (三.4), audited: the only answer with the whole number.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Response

from yikatong.api.deps import RowId, current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.hrservices import service
from yikatong.hrservices.schemas import (
    ApproveIn,
    AskIn,
    CardAccountIn,
    CardAccountOut,
    CaseOpenIn,
    CaseOut,
    Credential,
    DocumentIn,
    DocumentOut,
    RefuseIn,
    ServiceOut,
    WithdrawIn,
    service_out,
)
from yikatong.platform import Platform

router = APIRouter(prefix="/hr", tags=["hr 人社服务"])

KEY = Header(default=None, alias="Idempotency-Key", min_length=8, max_length=128)


def _out(view: service.CaseView) -> CaseOut:
    return CaseOut.model_validate(view)


@router.get("/services", response_model=list[ServiceOut], summary="The HR service catalogue / 人社服务目录")
def catalogue(_actor: Actor = Depends(current_actor)):
    book = service.catalogue()
    return [service_out(item, book.documents) for item in book.services]


@router.get("/me/cases", response_model=list[CaseOut], summary="My HR service cases / 我的办件")
def my_cases(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [_out(view) for view in service.cases_of(uow=uow, actor=actor)]


@router.post("/me/cases", response_model=CaseOut, status_code=201,
             summary="Open a case with my card or e-card / 持卡人申办")
def open_mine(body: CaseOpenIn, idempotency_key: str | None = KEY, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(service.open_case(uow=uow, actor=actor, service_code=body.service_code,
                                      particulars=body.particulars, ecard_token=body.ecard_token,
                                      idempotency_key=idempotency_key, person_id=body.person_id))


@router.post("/cases", response_model=CaseOut, status_code=201,
             summary="Open a case at an outlet for the card read / 网点读卡代为申办")
def open_at_outlet(body: CaseOpenIn, idempotency_key: str | None = KEY, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(service.open_case(uow=uow, actor=actor, service_code=body.service_code,
                                      particulars=body.particulars, card_no=body.card_no,
                                      idempotency_key=idempotency_key))


@router.get("/queue", response_model=list[CaseOut], summary="The HR officers' queue / 待办队列")
def officer_queue(state: str | None = None, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [_out(view) for view in service.queue(uow=uow, actor=actor, state=state)]


@router.get("/cases/{case_id}", response_model=CaseOut, summary="One case / 办件详情")
def get_case(case_id: RowId, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(service.get_case(uow=uow, actor=actor, case_id=case_id))


@router.post("/cases/{case_id}/documents", response_model=DocumentOut, status_code=201,
             summary="Attach a document (PDF, JPEG, PNG) / 上传材料")
def attach(case_id: RowId, body: DocumentIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    content = body.content()
    with platform.uow() as uow:
        return DocumentOut.model_validate(service.attach_document(
            uow=uow, actor=actor, case_id=case_id, kind=body.kind, file_name=body.file_name,
            content_type=body.content_type, content=content, card_no=body.card_no,
            ecard_token=body.ecard_token))


@router.get("/cases/{case_id}/documents/{document_id}", summary="A document's content / 查看材料",
            response_class=Response, responses={200: {"content": {"application/pdf": {}, "image/jpeg": {},
                                                                   "image/png": {}}}})
def document(case_id: RowId, document_id: RowId, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view, content = service.document_content(uow=uow, actor=actor, case_id=case_id, document_id=document_id)
    return Response(content, media_type=view.content_type,
                    headers={"Content-Disposition": f'attachment; filename="document-{view.id}"'})


@router.post("/cases/{case_id}/submit", response_model=CaseOut, summary="Submit for review / 提交")
def submit(case_id: RowId, body: Credential | None = None, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    body = body or Credential()
    with platform.uow() as uow:
        return _out(service.submit_case(uow=uow, actor=actor, case_id=case_id, card_no=body.card_no,
                                        ecard_token=body.ecard_token))


@router.post("/cases/{case_id}/withdraw", response_model=CaseOut, summary="Withdraw / 撤回")
def withdraw(case_id: RowId, body: WithdrawIn | None = None, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    body = body or WithdrawIn()
    with platform.uow() as uow:
        return _out(service.withdraw_case(uow=uow, actor=actor, case_id=case_id, reason=body.reason,
                                          card_no=body.card_no, ecard_token=body.ecard_token))


@router.post("/cases/{case_id}/claim", response_model=CaseOut, summary="Claim for review / 受理")
def claim(case_id: RowId, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(service.claim_case(uow=uow, actor=actor, case_id=case_id))


@router.post("/cases/{case_id}/request-documents", response_model=CaseOut,
             summary="Ask for more documents / 要求补正材料")
def request_documents(case_id: RowId, body: AskIn, actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(service.ask_for_documents(uow=uow, actor=actor, case_id=case_id, kinds=body.kinds,
                                              note=body.note))


@router.post("/cases/{case_id}/approve", response_model=CaseOut, summary="Approve / 准予")
def approve(case_id: RowId, body: ApproveIn | None = None, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    body = body or ApproveIn()
    with platform.uow() as uow:
        return _out(service.approve_case(uow=uow, actor=actor, case_id=case_id, decision=body.decision()))


@router.post("/cases/{case_id}/refuse", response_model=CaseOut, summary="Refuse with a reason / 不予办理")
def refuse(case_id: RowId, body: RefuseIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(service.refuse_case(uow=uow, actor=actor, case_id=case_id, reason=body.reason))


@router.post("/card-accounts", response_model=CardAccountOut,
             summary="The HR system reads a person's card account (audited) / 人社系统读取社保卡账户")
def read_card_account(body: CardAccountIn, actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return CardAccountOut.model_validate(service.read_card_account(
            uow=uow, actor=actor, purpose=body.purpose, person_id=body.person_id, id_number=body.id_number))
