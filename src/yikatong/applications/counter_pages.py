"""The outlet counter's application pages (mounted at the site root; see yikatong.pages):
the outlet's work queue, taking an application, deciding it, handing the card over and the
card-face proof. Every step is the API's use case (applications.service), checked by the
access table and the service as the API's is."""

from __future__ import annotations

import dataclasses
import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from yikatong.api.deps import current_actor, platform_dep
from yikatong.applications import production, rules, service
from yikatong.applications.schemas import OutletApplicationIn
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.core.masking import mask_ssn
from yikatong.directory.service import list_banks
from yikatong.pages.counter import may, refused_input, text
from yikatong.pages.rendering import render
from yikatong.people.rules import DOCUMENT_NAMES
from yikatong.people.schemas import RowId
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

MAX_PHOTO_BYTES = 2 * 1024 * 1024  # far above a 358×441 JPEG; the photo rules judge the rest
KIND_WORDS = {"first": ("首次申领", "first card"), "replacement": ("补卡", "replacement"),
              "exchange": ("换卡", "exchange")}
EXCHANGE_REASON_WORDS = {"info_change": ("信息变更", "change of printed data"),
                         "damage": ("卡片损坏", "damaged card"),
                         "financial_expiry": ("金融功能到期", "bank function expiring")}
MODE_WORDS = {"self": ("本人", "in person"), "agent": ("代办", "by an agent"),
              "employer": ("单位批量", "employer batch")}


def _words(table: dict, key: str | None) -> tuple[str, str]:
    return table.get(key, (key or "", key or ""))


def _common() -> dict:
    return {"application_states": rules.APPLICATION_STATES, "kind_words": KIND_WORDS,
            "mode_words": MODE_WORDS, "exchange_reason_words": EXCHANGE_REASON_WORDS,
            "words": _words, "may": may, "mask_ssn": mask_ssn}


# --- the counter: the outlet's work queue and the search of a person ------------------------


@router.get("/counter")
def counter(request: Request, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    """The work waiting for this outlet (applications are shown to roles the table lets list
    them) and the search of a person."""
    queue = []
    if may(actor, "GET", "/applications"):
        with platform.uow(read_only=True) as uow:
            queue = service.outlet_queue(uow=uow, actor=actor)
    groups = {
        "decide": [a for a in queue if a.status == "submitted"],
        "identity": [a for a in queue if a.status == "awaiting_identity_review"],
        "pickup": [a for a in queue if a.status in service.COUNTER_PICKUPS],
    }
    return render(request, "applications/counter.html", {**_common(), "groups": groups})


# --- taking an application ---------------------------------------------------------------


def _form_context(platform: Platform, actor: Actor, values: dict, error=None) -> dict:
    with platform.uow(read_only=True) as uow:
        banks = list_banks(uow=uow)
    return {**_common(), "banks": banks, "documents": DOCUMENT_NAMES, "values": values,
            "error": error, "photo_findings": _photo_findings(error),
            "pickup_outlet": actor.branch_code or ""}


def _photo_findings(error) -> list[dict]:
    """Every photo rule the service found failing (people.service.photo_rejected), to list
    them all at once beside the photo field."""
    if error is None or error.code != "photo_rejected":
        return []
    return list(error.details.get("failures", []))


def _known_applicant(platform: Platform, actor: Actor, person_id: int) -> dict:
    """The form filled from the person's record (a replacement or an exchange), for a reader
    who sees records whole; the operator checks it against the document presented."""
    from yikatong.people import privacy
    from yikatong.people.service import current_document, get_person

    with platform.uow(read_only=True) as uow:
        if not privacy.sees_whole(uow, actor):
            return {}
        person = get_person(uow=uow, person_id=person_id)
        document = current_document(uow=uow, person_id=person_id)
    return {"name": person.name, "gender": person.gender,
            "birth_date": person.birth_date.isoformat(), "phone": person.phone or "",
            "address": person.address or "",
            "document_type": document[0] if document else "resident_id_card",
            "document_number": document[1] if document else person.ssn}


@router.get("/counter/applications/new")
def application_form(request: Request, kind: str = "first", person_id: RowId | None = None,
                     exchange_reason: str | None = None, card_unreadable: str | None = None,
                     actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    values = {"kind": kind if kind in rules.KINDS else "first", "document_type": "resident_id_card",
              "mode": "self", "exchange_reason": exchange_reason or "",
              "card_unreadable": "yes" if card_unreadable == "yes" else "",
              # one key per form shown: submitting it twice makes one application
              "idempotency_key": secrets.token_urlsafe(16)}
    if person_id is not None:
        values.update(_known_applicant(platform, actor, person_id))
    return render(request, "applications/application_form.html",
                  _form_context(platform, actor, values))


def _application_in(form, actor: Actor) -> OutletApplicationIn:
    """The form read as the API's request body (the same model, the same checks)."""
    applicant = {name: text(form, name) for name in (
        "name", "document_type", "document_number", "gender", "birth_date", "phone", "address",
        "document_valid_until")}
    agent = None
    if text(form, "mode") == "agent":
        agent = {"name": text(form, "agent_name") or "",
                 "document_type": text(form, "agent_document_type") or "",
                 "document_number": text(form, "agent_document_number") or "",
                 "phone": text(form, "agent_phone")}
    body = {"applicant": {k: v for k, v in applicant.items() if v is not None},
            "kind": text(form, "kind") or "first", "exchange_reason": text(form, "exchange_reason"),
            "bank_code": text(form, "bank_code"), "pickup_outlet_code": actor.branch_code,
            "agent": agent, "card_unreadable": form.get("card_unreadable") == "yes"}
    return OutletApplicationIn.model_validate(body)


async def _photo_of(form) -> bytes | None:
    upload = form.get("photo")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    return await upload.read(MAX_PHOTO_BYTES + 1)


@router.post("/counter/applications")
async def take_application(request: Request, actor: Actor = Depends(current_actor),
                           platform: Platform = Depends(platform_dep)):
    """POST /api/v1/applications's use case, from the counter's form (photo as a file);
    the form's idempotency key makes a double submit one application."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    photo = await _photo_of(form)
    try:
        body = _application_in(form, actor)
        app = await run_in_threadpool(_submit, platform, actor, body, photo,
                                      text(form, "idempotency_key"))
    except ValidationError as invalid:
        error = refused_input(invalid)
        return render(request, "applications/application_form.html",
                      _form_context(platform, actor, values, error), status_code=error.http_status)
    except DomainError as error:
        return render(request, "applications/application_form.html",
                      _form_context(platform, actor, values, error), status_code=error.http_status)
    return RedirectResponse(f"/counter/applications/{app.id}", status_code=303)


def _submit(platform: Platform, actor: Actor, body: OutletApplicationIn, photo: bytes | None,
            key: str | None):
    from yikatong.core.errors import InvalidInput

    if photo is not None and len(photo) > MAX_PHOTO_BYTES:
        raise InvalidInput(reason_zh="照片文件过大", reason_en="the photo file is too large")
    applicant = dataclasses.replace(body.applicant.to_data(), photo_jpeg=photo)
    with platform.uow() as uow:
        return service.submit_at_outlet(
            uow=uow, actor=actor, applicant=applicant, choice=body.choice(),
            agent=body.agent.to_data() if body.agent else None, idempotency_key=key)


# --- live checks while the form is filled in (htmx; the submit checks everything again) -------


@router.post("/counter/checks/id-number")
def check_id_number(request: Request, document_number: str = Form(default="", max_length=32),
                    actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    """POST /api/v1/people/id-numbers/check's answer as a fragment beside the field: what the
    number says (kind, birth date, gender, region) and its warnings, or why it is refused."""
    from yikatong.core.clock import local_date
    from yikatong.people.rules import WARNINGS, classify_id_number

    info, error = None, None
    if document_number.strip():
        try:
            info = classify_id_number(document_number, today=local_date(platform.clock.now()))
        except DomainError as refused:
            error = refused
    return render(request, "applications/id_check.html", {
        "info": info, "error": error, "warning_words": WARNINGS})


@router.post("/counter/checks/photo")
async def check_photo(request: Request, actor: Actor = Depends(current_actor)):
    """The photo rules (people.photo, 四.4) over the chosen file, every rule's result at once,
    before the application is submitted (submitting checks the photo again)."""
    from yikatong.people.photo import check_photo as photo_rules

    photo = await _photo_of(await request.form())
    report = await run_in_threadpool(photo_rules, photo) if photo else None
    return render(request, "applications/counter_photo_check.html", {"report": report})


# --- one application: decisions, pickup, hand-over ----------------------------------------


def _application_page(request: Request, platform: Platform, actor: Actor, application_id: RowId,
                      *, error=None, handed_over=None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        app = service.get_application(uow=uow, actor=actor, application_id=application_id)
    return render(request, "applications/application.html", {
        **_common(), "app": handed_over or app, "error": error, "handed_over": handed_over,
        "has_face": app.card_no is not None}, status_code=status_code)


@router.get("/counter/applications/{application_id}")
def application_page(request: Request, application_id: RowId,
                     actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    return _application_page(request, platform, actor, application_id)


def _decide(request: Request, platform: Platform, actor: Actor, application_id: RowId, decide):
    """Run one decision (its own transaction, as in the API); a refusal shows the application
    again with it, unchanged."""
    try:
        with platform.uow() as uow:
            decide(uow)
    except DomainError as error:
        return _application_page(request, platform, actor, application_id, error=error,
                                 status_code=error.http_status)
    return RedirectResponse(f"/counter/applications/{application_id}", status_code=303)


@router.post("/counter/applications/{application_id}/approve")
def approve(request: Request, application_id: RowId, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    return _decide(request, platform, actor, application_id, lambda uow: service.approve(
        uow=uow, actor=actor, application_id=application_id))


@router.post("/counter/applications/{application_id}/reject")
def reject(request: Request, application_id: RowId, reason: str = Form(default="", max_length=500),
           actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _decide(request, platform, actor, application_id, lambda uow: service.reject(
        uow=uow, actor=actor, application_id=application_id, reason=reason.strip()))


@router.post("/counter/applications/{application_id}/ready-for-pickup")
def ready_for_pickup(request: Request, application_id: RowId,
                     actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    return _decide(request, platform, actor, application_id, lambda uow: service.mark_ready_for_pickup(
        uow=uow, actor=actor, application_id=application_id))


@router.post("/counter/applications/{application_id}/hand-over")
def hand_over(request: Request, application_id: RowId, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    """The card is handed over and in use. The answer is the page itself, not a redirect: the
    holder's activation code is shown this once and must not travel in a URL."""
    try:
        with platform.uow() as uow:
            done = service.hand_over(uow=uow, actor=actor, application_id=application_id)
    except DomainError as error:
        return _application_page(request, platform, actor, application_id, error=error,
                                 status_code=error.http_status)
    return _application_page(request, platform, actor, application_id, handed_over=done)


# --- the card-face proof -------------------------------------------------------------------


@router.get("/counter/applications/{application_id}/face.png")
def face_png(application_id: RowId, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    """GET /api/v1/applications/{id}/face.png's image, for the print page."""
    from yikatong.applications.facecard import render_proof

    with platform.uow(read_only=True) as uow:
        app = service.get_application(uow=uow, actor=actor, application_id=application_id)
        proof = production.face_proof(uow=uow, application_id=app.id)
    return Response(render_proof(proof), media_type="image/png")


@router.get("/counter/applications/{application_id}/proof")
def face_proof_page(request: Request, application_id: RowId,
                    actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    """The proof on a page of its own, for the printer (the layout's print style hides the
    header, menu and footer)."""
    with platform.uow(read_only=True) as uow:
        app = service.get_application(uow=uow, actor=actor, application_id=application_id)
        production.face_proof(uow=uow, application_id=app.id)  # refuses before a card exists
    return render(request, "applications/face_proof.html", {**_common(), "app": app})


# --- exchange: the transit wallet refund first (四.13) ----------------------------------------


def _exchange_context(platform: Platform, actor: Actor, person_id: int) -> dict:
    """Where the person's exchange stands: the card in use, its wallet refund, and whether the
    card registry lets the exchange go ahead (cards.service.check_exchange_allowed: the one
    rule, which refuses while the wallet holds money not refunded)."""
    from yikatong.cards import service as cards
    from yikatong.transit.errors import WalletRefundNotFound
    from yikatong.transit.refunds import get_refund

    with platform.uow(read_only=True) as uow:
        in_use = [c for c in cards.list_cards(uow=uow, person_id=person_id) if c.state == "in_use"]
        card = in_use[0] if in_use else None
        refund, blocked = None, None
        try:
            cards.check_exchange_allowed(uow=uow, person_id=person_id)
        except DomainError as error:
            blocked = error
        if card is not None:
            try:
                refund = get_refund(uow=uow, card_no=card.card_no)
            except WalletRefundNotFound:
                refund = None
    from yikatong.transit.rules import WALLET_REFUND_KINDS, WALLET_REFUND_STATES

    return {**_common(), "person_id": person_id, "card": card, "refund": refund,
            "blocked": blocked, "refund_states": WALLET_REFUND_STATES,
            "refund_kinds": WALLET_REFUND_KINDS}


@router.get("/counter/exchange/{person_id}")
def exchange_page(request: Request, person_id: RowId, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    """Step 1, the transit wallet refund; step 2, the exchange application (the API's order:
    the card registry refuses the exchange until the wallet is refunded)."""
    return render(request, "applications/exchange.html",
                  {**_exchange_context(platform, actor, person_id), "error": None})


@router.post("/counter/exchange/{person_id}/unreadable")
def register_unreadable(request: Request, person_id: RowId,
                        actor: Actor = Depends(current_actor),
                        platform: Platform = Depends(platform_dep)):
    """POST /api/v1/transit/wallet-refunds/unreadable for the person's card in use: a card too
    damaged to read is deny-listed now and refunded later from the records."""
    from yikatong.transit.refunds import register_unreadable_wallet

    context = _exchange_context(platform, actor, person_id)
    if context["card"] is None:  # no card in use: the registry's refusal says so
        return render(request, "applications/exchange.html", {**context, "error": None},
                      status_code=context["blocked"].http_status)
    try:
        with platform.uow() as uow:
            register_unreadable_wallet(uow=uow, actor=actor, card_no=context["card"].card_no)
            uow.commit()
    except DomainError as error:
        return render(request, "applications/exchange.html", {**context, "error": error},
                      status_code=error.http_status)
    return RedirectResponse(f"/counter/exchange/{person_id}", status_code=303)
