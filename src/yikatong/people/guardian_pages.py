"""Guardians in a browser (people.guardians; mounted by people.web).

* **The counter** (social security card outlets): `/counter/people/{id}/guardians` shows the
  links a person is in (as guardian or as child, each in its state on the day), links a
  guardian to a child under 16 on the documents shown (the guardian found by their ID number,
  typed from the document in hand) and ends a link with a reason.
* **The guardian** (a holder): `/me` lists the children they act for; `/me/children/{id}`
  shows a child's cards as the child's own page would (the same card section, the loss and
  unblock links lead to the same confirmation pages, which the services accept through
  `people.guardians.may_act_for`) and the transit balance of each card. The e-card is
  personal: the child's is never shown here.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError
from yikatong.core.masking import mask_name
from yikatong.pages.rendering import render
from yikatong.people import errors, guardians, privacy, service
from yikatong.people.schemas import RowId
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)


# --- the counter --------------------------------------------------------------------------------


@router.get("/counter/people/{person_id}/guardians")
def guardian_links(request: Request, person_id: RowId, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    return _links_page(request, platform, actor, person_id)


@router.post("/counter/people/{person_id}/guardians")
def link_guardian(request: Request, person_id: RowId,
                  guardian_ssn: str = Form(default="", max_length=32),
                  relation: str = Form(default="", max_length=24),
                  documents: list[str] = Form(default=[]),
                  actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    """Link the guardian (found by the ID number on the document shown) to the child
    `person_id`. A refusal is shown on the form, nothing changed."""
    entered = {"guardian_ssn": guardian_ssn.strip(), "relation": relation,
               "documents": documents[:len(guardians.DOCUMENTS)]}
    try:
        with platform.uow() as uow:
            guardian = service.find_person_by_ssn(uow=uow, ssn=entered["guardian_ssn"]) \
                if entered["guardian_ssn"] else None
            if guardian is None:
                raise errors.PersonNotFound(
                    zh="未找到该证件号码的人员：请先为监护人登记",
                    en="No person has this ID number: register the guardian first")
            guardians.link_guardian(uow=uow, actor=actor, guardian_person_id=guardian.id,
                                    child_person_id=person_id, relation=relation,
                                    documents=entered["documents"])
            uow.commit()
    except DomainError as error:
        return _links_page(request, platform, actor, person_id, error=error, entered=entered,
                           status_code=error.http_status)
    return RedirectResponse(f"/counter/people/{person_id}/guardians", status_code=303)


@router.post("/counter/guardians/{link_id}/end")
def end_link(request: Request, link_id: RowId, person_id: RowId = Form(),
             reason: str = Form(default="", max_length=200),
             actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    """End a link at the counter with its reason; back to the person's page it was ended from."""
    try:
        with platform.uow() as uow:
            guardians.unlink_guardian(uow=uow, actor=actor, link_id=link_id, reason=reason)
            uow.commit()
    except DomainError as error:
        return _links_page(request, platform, actor, person_id, error=error,
                           status_code=error.http_status)
    return RedirectResponse(f"/counter/people/{person_id}/guardians", status_code=303)


def _links_page(request: Request, platform: Platform, actor: Actor, person_id: int, *,
                error: DomainError | None = None, entered: dict | None = None,
                status_code: int = 200):
    with platform.uow(read_only=True) as uow:
        person = service.get_person(uow=uow, person_id=person_id)
        whole = privacy.sees_whole(uow, actor)
        links = guardians.links_of(uow=uow, person_id=person_id, masked=not whole)
        day = guardians.today(uow)
    return render(request, "people/guardians.html", {
        "person": person, "name": person.name if whole else mask_name(person.name),
        "links": links, "is_child": guardians.under_16(person.birth_date, day),
        "error": error, "entered": entered or {"guardian_ssn": "", "relation": "parent",
                                               "documents": []},
        "relations": guardians.RELATIONS, "documents": guardians.DOCUMENTS,
        "states": guardians.STATES}, status_code=status_code)


# --- the guardian ---------------------------------------------------------------------------------


@router.get("/me/children/{person_id}")
def child_page(request: Request, person_id: RowId, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    """Acting for a child: their cards (status in words, loss and unblock where the rules
    allow online) and each card's transit balance; a child the holder does not act for on the
    day (never linked, unlinked, turned 16) reads as missing."""
    from yikatong.cards.service import list_cards
    from yikatong.cards.web import card_page, card_words
    from yikatong.transit import rules as transit_rules
    from yikatong.transit.wallets import holder_wallets

    with platform.uow(read_only=True) as uow:
        child = guardians.child_of(uow=uow, actor=actor, person_id=person_id)
        today = local_date(uow.now())
        cards = [card_page(view, actor, today)
                 for view in list_cards(uow=uow, person_id=child.person_id)]
        wallets = {wallet.card_no: wallet for wallet in
                   holder_wallets(uow=uow, actor=actor, person_id=child.person_id)}
    return render(request, "people/child.html", {
        "child": child, "cards": cards, "wallets": wallets,
        "relations": guardians.RELATIONS, "wallet_states": transit_rules.WALLET_STATES,
        **card_words()})
