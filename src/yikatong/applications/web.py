"""The cardholder's application pages: apply online with a photo (checked live against every
photo rule), and track the applications with their delivery (mounted at the site root)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from yikatong.api.deps import current_actor, platform_dep
from yikatong.applications import rules, service
from yikatong.applications.protocols import IdentityAuthenticator, PopulationRegistry
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.pages.rendering import render
from yikatong.people.photo import HARD_MAX_BYTES, check_photo
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

APPLY_FIELDS = ("name", "id_number", "auth_evidence", "kind", "bank_code", "delivery",
                "mailing_address", "pickup_outlet_code", "phone", "idempotency_key")
CANCEL_REASON = "cancelled online by the holder / 持卡人网上撤销"


@dataclass(frozen=True)
class ApplyForm:
    """What the applicant typed (shown again after a refusal), never the photo."""

    values: dict[str, str]

    def choice(self) -> service.CardChoice:
        return service.CardChoice(
            kind=self.values["kind"], bank_code=self.values["bank_code"],
            delivery=self.values["delivery"],
            pickup_outlet_code=self.values["pickup_outlet_code"] or None,
            mailing_address=self.values["mailing_address"] or None)


# --- apply online ------------------------------------------------------------------------------


@router.get("/me/apply")
def apply_form(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        values = _known_identity(uow, actor) | {
            "kind": "first", "delivery": "ems_cod", "idempotency_key": uuid.uuid4().hex}
    return _render_apply(request, platform, ApplyForm(_blank() | values))


@router.post("/me/apply/photo-check")
async def photo_check(request: Request, _actor: Actor = Depends(current_actor)):
    """The live check (htmx): every photo rule's verdict at once for the chosen file."""
    photo = await _uploaded_photo(request)
    report = await run_in_threadpool(check_photo, photo) if photo is not None else None
    return render(request, "applications/photo_check.html", {"report": report})


@router.post("/me/apply")
async def apply(request: Request, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    form = await request.form()
    entered = ApplyForm(_blank() | {name: str(form.get(name) or "").strip()
                                    for name in APPLY_FIELDS})
    try:
        photo = await _uploaded_photo(request)
        app = await run_in_threadpool(_submit, platform, actor, entered, photo)
    except DomainError as error:
        return _render_apply(request, platform, entered, error=error,
                             status_code=error.http_status)
    return RedirectResponse(f"/me/applications#application-{app.id}", status_code=303)


def _submit(platform: Platform, actor: Actor, entered: ApplyForm,
            photo: bytes | None) -> service.ApplicationView:
    values = entered.values
    with platform.uow() as uow:
        return service.submit_online(
            uow=uow, actor=actor, name=values["name"], id_number=values["id_number"],
            evidence=values["auth_evidence"], choice=entered.choice(),
            phone=values["phone"] or None, photo_jpeg=photo,
            authenticator=platform.get(IdentityAuthenticator),
            registry=platform.get(PopulationRegistry),
            idempotency_key=values["idempotency_key"] or None)


async def _uploaded_photo(request: Request) -> bytes | None:
    """The chosen file's bytes (None when none was chosen); more than the photo rules'
    hard limit is not read on (the body limit of the route stops larger requests first)."""
    upload = (await request.form()).get("photo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(HARD_MAX_BYTES + 1)
    if not data:
        raise InvalidInput(reason_zh="照片文件为空", reason_en="the photo file is empty")
    return data


def _render_apply(request: Request, platform: Platform, form: ApplyForm, *,
                  error: DomainError | None = None, status_code: int = 200):
    from yikatong.directory.service import list_banks, list_outlets

    with platform.uow(read_only=True) as uow:
        banks, outlets = list_banks(uow=uow), list_outlets(uow=uow)
    failures = (error.details.get("failures") or []) if error is not None else []
    return render(request, "applications/apply.html", {
        "form": form.values, "error": error, "photo_failures": failures, "banks": banks,
        "outlets": outlets, "delivery_words": rules.DELIVERY_WORDS,
        "ems_note": rules.EMS_COD_NOTE, "free": rules.FREE_OF_CHARGE}, status_code=status_code)


def _blank() -> dict[str, str]:
    return dict.fromkeys(APPLY_FIELDS, "")


def _known_identity(uow, actor: Actor) -> dict[str, str]:
    """The name and ID number the holder's login is known by, to fill the form in."""
    from yikatong.auth.service import holder_identity
    from yikatong.people.service import get_person

    if actor.person_id is not None:
        person = get_person(uow=uow, person_id=actor.person_id)
        return {"name": person.name, "id_number": person.ssn}
    return {"id_number": holder_identity(uow=uow, username=actor.user_id) or ""}


# --- track my applications ---------------------------------------------------------------------


@router.get("/me/applications")
def my_applications(request: Request, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    return _render_applications(request, platform, actor)


@router.post("/me/applications/{application_id}/cancel")
def cancel_application(request: Request, application_id: int,
                       actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep),
                       confirm: str = Form(default="")):
    try:
        if confirm != "yes":
            raise InvalidInput(reason_zh="请勾选确认撤销", reason_en="tick the box to confirm the cancellation")
        with platform.uow() as uow:
            service.cancel(uow=uow, actor=actor, application_id=application_id,
                           reason=CANCEL_REASON)
    except DomainError as error:
        return _render_applications(request, platform, actor, error=error,
                                    status_code=error.http_status)
    return RedirectResponse(f"/me/applications#application-{application_id}", status_code=303)


def _render_applications(request: Request, platform: Platform, actor: Actor, *,
                         error: DomainError | None = None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        applications = service.holder_applications(uow=uow, actor=actor)
    return render(request, "applications/my_applications.html", {
        "applications": applications, "states": rules.APPLICATION_STATES,
        "delivery_words": rules.DELIVERY_WORDS, "may_cancel": rules.may_cancel,
        "error": error}, status_code=status_code)


# The outlet counter's application pages live in their own module; this domain's one web
# router carries them.
from yikatong.applications.counter_pages import router as counter_router  # noqa: E402

router.include_router(counter_router)
