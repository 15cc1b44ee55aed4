"""The outlet counter's people pages (mounted at the site root; see yikatong.pages): finding a
person (masked in the list; the whole record only as the reader's role sees it, or after a
disclosure with a reason), the identity-review queue and the maker-checker approval of
corrections. Each step is the people API's use case, shaped by its own response models (the
same masking), checked by the access table and the service as the API's is."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from yikatong.api.deps import current_actor, platform_dep
from yikatong.auth.access import allowed_roles
from yikatong.auth.throttle import throttle_of
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.pages.counter import may, refused_input
from yikatong.pages.rendering import render
from yikatong.people import privacy, service
from yikatong.people.config import PeopleConfig
from yikatong.people.schemas import (
    CorrectionIn,
    CorrectionOut,
    DisclosureIn,
    PersonOut,
    PersonSummaryOut,
    ResolveIn,
    ReviewOut,
    RowId,
)
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

SEARCH_LIMIT = 20
GUARDIANS_PAGE = "/counter/people/{person_id}/guardians"
REASON_WORDS = {
    privacy.DisclosureReason.HOLDER_PRESENT: ("持卡人本人持证件在场", "the holder is here with the document"),
    privacy.DisclosureReason.AGENT_PRESENT: ("代办人持双方证件在场", "an agent is here with both documents"),
    privacy.DisclosureReason.OFFICIAL_REQUEST: ("公安、法院、审计等依法调取", "an official request (police, court, audit)"),
    privacy.DisclosureReason.HOLDER_VERIFIED_ON_CALL: ("来电人已通过身份核验", "the caller passed the identity checks"),
}
# The reasons a counter gives (the phone one is the 12333 agent's).
COUNTER_REASONS = (privacy.DisclosureReason.HOLDER_PRESENT, privacy.DisclosureReason.AGENT_PRESENT,
                   privacy.DisclosureReason.OFFICIAL_REQUEST)


# --- finding a person -----------------------------------------------------------------------


def _looks_like_a_number(query: str) -> bool:
    return sum(ch.isdigit() for ch in query) >= 6


@router.get("/counter/people")
def search_form(request: Request, actor: Actor = Depends(current_actor)):
    return render(request, "people/search.html", {"q": "", "rows": [], "total": 0})


@router.post("/counter/people")
def find_people(request: Request, q: str = Form(default="", max_length=64),
                actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    """GET /api/v1/people's search by the full ID number or the exact name, every row masked
    as the API's list masks it. A POST, not a query string: an ID number typed at the counter
    stays out of URLs, the browser's history and access logs (nothing changes)."""
    query = q.strip()
    rows, total = [], 0
    if query:
        by = {"ssn": query} if _looks_like_a_number(query) else {"name": query}
        with platform.uow(read_only=True) as uow:
            people, total = service.list_people(uow=uow, limit=SEARCH_LIMIT, **by)
            whole = privacy.sees_whole(uow, actor)
        rows = [PersonSummaryOut.of(person, whole=whole) for person in people]
    return render(request, "people/search.html", {"q": query, "rows": rows, "total": total})


def _person_page(request: Request, platform: Platform, actor: Actor, person_id: int, *,
                 disclosed=None, error=None, status_code: int = 200):
    from yikatong.applications.service import open_applications_for
    from yikatong.cards.rules import CARD_STATES
    from yikatong.cards.service import list_cards

    with platform.uow(read_only=True) as uow:
        view = service.get_person(uow=uow, person_id=person_id)
        whole = privacy.sees_whole(uow, actor)
        cards = list_cards(uow=uow, person_id=person_id)
        open_apps = open_applications_for(uow=uow, person_id=person_id)
    person = disclosed or PersonOut.of(view, whole=whole)
    return render(request, "people/person.html", {
        "person": person, "disclosed": disclosed is not None, "error": error, "cards": cards,
        "card_states": CARD_STATES, "open_apps": open_apps, "may": may,
        "reasons": [(reason.value, REASON_WORDS[reason]) for reason in COUNTER_REASONS],
        "photo": getattr(request.state, "disclosed_photo", None),
        "guardians_page": actor.role in (allowed_roles("GET", GUARDIANS_PAGE) or ())},
        status_code=status_code)


@router.get("/counter/people/{person_id}")
def person_page(request: Request, person_id: RowId, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    return _person_page(request, platform, actor, person_id)


@router.post("/counter/people/{person_id}/disclosures")
def disclose(request: Request, person_id: RowId,
             reason_code: str = Form(default=""), note: str = Form(default="", max_length=200),
             actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    """POST /api/v1/people/{id}/disclosures from the person's page: the record shown whole
    once, with a reason, audited. The answer is the page itself, not a redirect: what was
    disclosed is shown this once (reading it again takes another reason)."""
    try:
        body = DisclosureIn.model_validate({"reason_code": reason_code, "note": note.strip()})
        throttle_of(platform).hit("personal_data_disclosure",
                                  f"user:{actor.account_id or actor.user_id}")
        with platform.uow() as uow:
            view, jpeg = service.disclose_person(uow=uow, actor=actor, person_id=person_id,
                                                 reason_code=body.reason_code, note=body.note)
            uow.commit()
    except (ValidationError, DomainError) as refusal:
        return _person_refused(request, platform, actor, person_id, refusal)
    request.state.disclosed_photo = base64.b64encode(jpeg).decode() if jpeg else None
    return _person_page(request, platform, actor, person_id, disclosed=PersonOut.of(view))


@router.post("/counter/people/{person_id}/corrections")
def propose_correction(request: Request, person_id: RowId, name: str = Form(default=""),
                       reason: str = Form(default=""), actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    """The maker's half of a correction of the name (POST /api/v1/people/{id}/corrections);
    another operator approves it on the corrections page."""
    try:
        body = CorrectionIn.model_validate({"changes": {"name": name.strip() or None},
                                            "reason": reason.strip()})
        with platform.uow() as uow:
            service.propose_correction(uow=uow, actor=actor, person_id=person_id,
                                       reason=body.reason,
                                       changes=body.changes.model_dump(exclude_none=True))
            uow.commit()
    except (ValidationError, DomainError) as refusal:
        return _person_refused(request, platform, actor, person_id, refusal)
    return RedirectResponse("/counter/corrections", status_code=303)


# --- the identity-review queue ----------------------------------------------------------------


def _reviews_page(request: Request, platform: Platform, actor: Actor, *, error=None,
                  failed_review: int | None = None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        whole = privacy.sees_whole(uow, actor)
        shown = {status: [ReviewOut.of(view, whole=whole)
                          for view in service.list_reviews(uow=uow, status=status)]
                 for status in ("open", "pending_approval")}
    return render(request, "people/reviews.html", {
        "open_reviews": shown["open"], "pending_reviews": shown["pending_approval"],
        "error": error, "failed_review": failed_review}, status_code=status_code)


@router.get("/counter/reviews")
def reviews(request: Request, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    return _reviews_page(request, platform, actor)


def _review_step(request: Request, platform: Platform, actor: Actor, review_id: int, step):
    try:
        with platform.uow() as uow:
            step(uow)
            uow.commit()
    except ValidationError as invalid:
        error = refused_input(invalid)
        return _reviews_page(request, platform, actor, error=error, failed_review=review_id,
                             status_code=error.http_status)
    except DomainError as error:
        return _reviews_page(request, platform, actor, error=error, failed_review=review_id,
                             status_code=error.http_status)
    return RedirectResponse("/counter/reviews", status_code=303)


@router.post("/counter/reviews/{review_id}/resolve")
def resolve_review(request: Request, review_id: RowId, resolution: str = Form(default=""),
                   reason: str = Form(default=""), actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    def step(uow):
        body = ResolveIn.model_validate({"resolution": resolution, "reason": reason.strip()})
        service.resolve_review(uow=uow, actor=actor, review_id=review_id,
                               resolution=body.resolution, reason=body.reason,
                               config=platform.get(PeopleConfig))

    return _review_step(request, platform, actor, review_id, step)


@router.post("/counter/reviews/{review_id}/approve")
def approve_review(request: Request, review_id: RowId, reason: str = Form(default="", max_length=200),
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _review_step(request, platform, actor, review_id, lambda uow: service.approve_review(
        uow=uow, actor=actor, review_id=review_id, reason=reason.strip() or None))


@router.post("/counter/reviews/{review_id}/reject")
def reject_review(request: Request, review_id: RowId, reason: str = Form(default="", max_length=200),
                  actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _review_step(request, platform, actor, review_id, lambda uow: service.reject_review(
        uow=uow, actor=actor, review_id=review_id, reason=reason.strip()))


# --- corrections: one operator proposes, another approves ------------------------------------


def _corrections_page(request: Request, platform: Platform, actor: Actor, *, error=None,
                      failed_correction: int | None = None, status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        whole = privacy.sees_whole(uow, actor)
        pending = [CorrectionOut.of(view, full=False, whole=whole)
                   for view in service.list_corrections(uow=uow, status="pending")]
    return render(request, "people/corrections.html", {
        "corrections": pending, "error": error, "failed_correction": failed_correction},
        status_code=status_code)


@router.get("/counter/corrections")
def corrections(request: Request, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    return _corrections_page(request, platform, actor)


def _decide_correction(request: Request, platform: Platform, actor: Actor, correction_id: int,
                       decide):
    """One decision; the service refuses the maker approving their own proposal, and the page
    shows that refusal with nothing changed."""
    try:
        with platform.uow() as uow:
            decide(uow)
            uow.commit()
    except DomainError as error:
        return _corrections_page(request, platform, actor, error=error,
                                 failed_correction=correction_id, status_code=error.http_status)
    return RedirectResponse("/counter/corrections", status_code=303)


@router.post("/counter/corrections/{correction_id}/approve")
def approve_correction(request: Request, correction_id: RowId,
                       reason: str = Form(default="", max_length=200),
                       actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    return _decide_correction(request, platform, actor, correction_id,
                              lambda uow: service.approve_correction(
                                  uow=uow, actor=actor, correction_id=correction_id,
                                  reason=reason.strip() or None))


@router.post("/counter/corrections/{correction_id}/reject")
def reject_correction(request: Request, correction_id: RowId,
                      reason: str = Form(default="", max_length=200),
                      actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    return _decide_correction(request, platform, actor, correction_id,
                              lambda uow: service.reject_correction(
                                  uow=uow, actor=actor, correction_id=correction_id,
                                  reason=reason.strip()))


def _person_refused(request: Request, platform: Platform, actor: Actor, person_id: int,
                    refusal: ValidationError | DomainError):
    """The person's page again with the refusal of a form on it (nothing changed)."""
    error = refused_input(refusal) if isinstance(refusal, ValidationError) else refusal
    return _person_page(request, platform, actor, person_id, error=error,
                        status_code=error.http_status)


# The guardians' pages (the counter's links and the guardian acting for a child) live in their
# own module; this domain's one web router carries them.
from yikatong.people.guardian_pages import router as guardian_router  # noqa: E402

router.include_router(guardian_router)
