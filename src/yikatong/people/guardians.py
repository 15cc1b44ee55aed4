"""Guardians (监护人): a parent or legal guardian linked at a social security card outlet acts
online for a child under 16 (issue 12: "A guardian linked at an outlet acts for a child under
16").

* **Linked at the counter**: an operator of a social security card outlet (the outlets that
  take applications on identity documents; a citizen-card outlet does not) checks the
  documents shown (the guardian's own ID, and for a parent the household register or the
  birth certificate that names them, for another legal guardian the guardianship document)
  and links the two people (`link_guardian`). The child must be under 16 and the guardian 18
  or older on the day.
* **In force** while not ended at an outlet and while the child is under 16 *on the day*
  (`people.rules.age_on` with the injectable clock's Beijing date): on the 16th birthday it
  ends by itself, no job has to run. Ended at an outlet with a reason (`unlink_guardian`).
* **Acting**: every holder-scope check of the services asks `may_act_for(uow, actor,
  person_id)`: the actor's own person, or a child they are the guardian of, in force on the
  day (cards: `_check_may_see`; applications: `may_see`; the person API; transit wallets).
  The e-card is personal and never asks: it stays the signed-in person's own.
* **Audit**: a link and an unlink are audited on the link (`guardian.link`,
  `guardian.unlink`); an act for a child is audited by its domain with the guardian as the
  actor and the child as the subject (`acting_for_person_id`, see `subject_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, select

from yikatong.core.actor import Actor, Role
from yikatong.core.choices import NotAChoice
from yikatong.core.clock import local_date
from yikatong.core.errors import InvalidInput
from yikatong.core.masking import mask_name
from yikatong.db.uow import UnitOfWork
from yikatong.people import errors
from yikatong.people.models import GuardianLink, Person
from yikatong.people.rules import age_on

CHILD_AGE_LIMIT = 16     # "不满十六周岁": the guardian acts until the 16th birthday
GUARDIAN_MIN_AGE = 18
LINKING_ROLES = frozenset({Role.SS_OUTLET})

# The relation and the documents that prove it (words: Chinese, English).
RELATIONS = {
    "parent": ("父母", "parent"),
    "legal_guardian": ("其他法定监护人", "other legal guardian"),
}
DOCUMENTS = {
    "household_register": ("户口簿（载明双方关系）", "household register naming both"),
    "birth_certificate": ("出生医学证明", "medical birth certificate"),
    "guardianship_document": ("监护资格证明（法院文书或居（村）委会指定）",
                              "proof of guardianship (court order or appointment)"),
}
PROOF_OF = {
    "parent": frozenset({"household_register", "birth_certificate"}),
    "legal_guardian": frozenset({"guardianship_document"}),
}
STATES = {
    "in_force": ("有效", "in force"),
    "aged_out": ("已终止：被监护人已满十六周岁", "ended: the child turned 16"),
    "ended": ("已在网点解除", "ended at an outlet"),
}


@dataclass(frozen=True)
class GuardianLinkView:
    id: int
    guardian_person_id: int
    child_person_id: int
    relation: str
    documents: tuple[str, ...]
    outlet_code: str
    linked_by: str
    linked_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    state: str                   # in_force | aged_out | ended (on the day it was read)
    guardian_name: str
    child_name: str
    child_birth_date: date


@dataclass(frozen=True)
class ChildView:
    """A child the signed-in guardian acts for, as the holder's pages show them."""

    person_id: int
    name: str
    birth_date: date
    relation: str
    turns_16_on: date


def today(uow: UnitOfWork) -> date:
    return local_date(uow.now())


def under_16(birth_date: date, day: date) -> bool:
    """Under 16 on `day`: on the 16th birthday this is False (someone born on 29 February
    turns 16 on 1 March of a common year, as `age_on` counts)."""
    return age_on(birth_date, day) < CHILD_AGE_LIMIT


def sixteenth_birthday(birth_date: date) -> date:
    try:
        return birth_date.replace(year=birth_date.year + CHILD_AGE_LIMIT)
    except ValueError:  # 29 February in a common year
        return date(birth_date.year + CHILD_AGE_LIMIT, 3, 1)


def state_of(link: GuardianLink, child_birth_date: date, day: date) -> str:
    if link.ended_at is not None:
        return "ended"
    return "in_force" if under_16(child_birth_date, day) else "aged_out"


# --- the one holder-scope check ---------------------------------------------------------------

_IN_FORCE = (
    select(Person.birth_date)
    .join(GuardianLink, GuardianLink.child_person_id == Person.id)
    .where(GuardianLink.guardian_person_id == bindparam("guardian"),
           GuardianLink.child_person_id == bindparam("child"),
           GuardianLink.ended_at.is_(None))
)


def may_act_for(uow: UnitOfWork, actor: Actor, person_id: int | None,
                day: date | None = None) -> bool:
    """Whether `actor` acts for the person `person_id` as a holder: it is the actor's own
    person, or a child the actor is the guardian of, linked at an outlet, not unlinked, and
    under 16 on `day` (the clock's Beijing date unless given). Every holder-scope check of
    the services is this function; the e-card (personal) never asks it."""
    if actor.person_id is None or person_id is None:
        return False
    if actor.person_id == person_id:
        return True
    births = uow.connection().execute(
        _IN_FORCE, {"guardian": actor.person_id, "child": person_id}).scalars().all()
    day = day or today(uow)
    return any(under_16(born, day) for born in births)


def subject_of(actor: Actor, person_id: int | None) -> dict:
    """What an audit record adds when a holder acts for someone else (a guardian for a
    child): the person acted for. Empty when the holder acts for themself."""
    if actor.role is Role.HOLDER and person_id is not None and actor.person_id != person_id:
        return {"acting_for_person_id": person_id}
    return {}


# --- linking at the counter -----------------------------------------------------------------


def _require_outlet(actor: Actor) -> None:
    if actor.role not in LINKING_ROLES or not actor.branch_code:
        raise errors.GuardianOutletOnly()


def _person(uow: UnitOfWork, person_id: int) -> Person:
    person = uow.session.get(Person, person_id)
    if person is None:
        raise errors.PersonNotFound(person_id=person_id)
    return person


def _documents(relation: str, documents: Iterable[str]) -> tuple[str, ...]:
    if relation not in RELATIONS:
        raise NotAChoice(what_zh="监护关系", what_en="relation", value=relation,
                         allowed=RELATIONS)
    shown = tuple(sorted(set(documents)))
    for code in shown:
        if code not in DOCUMENTS:
            raise NotAChoice(what_zh="证件", what_en="document", value=code, allowed=DOCUMENTS)
    needed = PROOF_OF[relation]
    if not needed & set(shown):
        raise errors.GuardianDocumentsMissing(
            needed_zh="或".join(DOCUMENTS[code][0] for code in sorted(needed)),
            needed_en=" or ".join(DOCUMENTS[code][1] for code in sorted(needed)))
    return shown


def link_guardian(*, uow: UnitOfWork, actor: Actor, guardian_person_id: int,
                  child_person_id: int, relation: str,
                  documents: Iterable[str]) -> GuardianLinkView:
    """Link a guardian to a child under 16, at a social security card outlet, on the
    documents shown (the caller commits). Audited on the link as `guardian.link`."""
    _require_outlet(actor)
    if guardian_person_id == child_person_id:
        raise InvalidInput(reason_zh="监护人与被监护人不能是同一人",
                           reason_en="the guardian and the child must be two people")
    guardian = _person(uow, guardian_person_id)
    child = _person(uow, child_person_id)
    day = today(uow)
    if not under_16(child.birth_date, day):
        raise errors.ChildNotUnder16(age=age_on(child.birth_date, day))
    if age_on(guardian.birth_date, day) < GUARDIAN_MIN_AGE:
        raise errors.GuardianNotAdult(age=age_on(guardian.birth_date, day))
    shown = _documents(relation, documents)
    key = _active_key(guardian.id, child.id)
    if uow.session.execute(select(GuardianLink.id).where(GuardianLink.active_key == key)).first():
        raise errors.GuardianAlreadyLinked()
    link = GuardianLink(
        guardian_person_id=guardian.id, child_person_id=child.id, relation=relation,
        documents=list(shown), active_key=key, outlet_code=actor.branch_code,
        linked_by=actor.user_id, linked_at=uow.now())
    uow.session.add(link)
    uow.session.flush()
    uow.audit(actor=actor, action="guardian.link", entity_type="guardian_link",
              entity_id=link.id, after=_audited(link))
    return _view(link, guardian, child, day)


def unlink_guardian(*, uow: UnitOfWork, actor: Actor, link_id: int,
                    reason: str) -> GuardianLinkView:
    """End a link at a social security card outlet, with the reason (the caller commits).
    Audited on the link as `guardian.unlink`."""
    _require_outlet(actor)
    reason = (reason or "").strip()
    if not 2 <= len(reason) <= 200:
        raise InvalidInput(reason_zh="请填写解除监护关系的理由（2 至 200 字）",
                           reason_en="give the reason for ending the link (2 to 200 characters)")
    link = _load(uow, link_id)
    if link.ended_at is not None:
        raise errors.GuardianLinkEnded(ended_on=local_date(link.ended_at).isoformat())
    before = _audited(link)
    link.ended_at = uow.now()
    link.ended_by = actor.user_id
    link.end_reason = reason
    link.active_key = None
    uow.session.flush()
    uow.audit(actor=actor, action="guardian.unlink", entity_type="guardian_link",
              entity_id=link.id, before=before, after=_audited(link), reason=reason)
    return _view(link, _person(uow, link.guardian_person_id),
                 _person(uow, link.child_person_id), today(uow))


def _load(uow: UnitOfWork, link_id: int) -> GuardianLink:
    link = uow.session.get(GuardianLink, link_id)
    if link is None:
        raise errors.GuardianLinkNotFound(link_id=link_id)
    return link


def _active_key(guardian_id: int, child_id: int) -> str:
    return f"{guardian_id}:{child_id}"


def _audited(link: GuardianLink) -> dict:
    return {"guardian_person_id": link.guardian_person_id,
            "child_person_id": link.child_person_id, "relation": link.relation,
            "documents": list(link.documents), "outlet_code": link.outlet_code,
            "ended": link.ended_at is not None}


def _view(link: GuardianLink, guardian: Person, child: Person, day: date) -> GuardianLinkView:
    return GuardianLinkView(
        id=link.id, guardian_person_id=link.guardian_person_id,
        child_person_id=link.child_person_id, relation=link.relation,
        documents=tuple(link.documents), outlet_code=link.outlet_code,
        linked_by=link.linked_by, linked_at=link.linked_at, ended_at=link.ended_at,
        ended_by=link.ended_by, end_reason=link.end_reason,
        state=state_of(link, child.birth_date, day), guardian_name=guardian.name,
        child_name=child.name, child_birth_date=child.birth_date)


def links_of(*, uow: UnitOfWork, person_id: int, masked: bool = False) -> list[GuardianLinkView]:
    """Every link the person is in, as guardian or as child, newest first, each in its state
    on the day (the counter's page of the person). `masked`: names as a masked reader sees
    them."""
    day = today(uow)
    rows = uow.session.execute(
        select(GuardianLink).where((GuardianLink.guardian_person_id == person_id)
                                   | (GuardianLink.child_person_id == person_id))
        .order_by(GuardianLink.id.desc())).scalars().all()
    views = []
    for link in rows:
        view = _view(link, _person(uow, link.guardian_person_id),
                     _person(uow, link.child_person_id), day)
        if masked:
            from dataclasses import replace

            view = replace(view, guardian_name=mask_name(view.guardian_name),
                           child_name=mask_name(view.child_name))
        views.append(view)
    return views


# --- the guardian's own view ------------------------------------------------------------------

_CHILDREN = (
    select(Person.id, Person.name, Person.birth_date, GuardianLink.relation)
    .join(GuardianLink, GuardianLink.child_person_id == Person.id)
    .where(GuardianLink.guardian_person_id == bindparam("guardian"),
           GuardianLink.ended_at.is_(None))
    .order_by(Person.birth_date, Person.id)
)


def children_of(*, uow: UnitOfWork, actor: Actor, day: date | None = None) -> list[ChildView]:
    """The children the signed-in holder acts for on the day (linked, not unlinked, under
    16), eldest first; none for anyone else. One plain select (the holder's home page)."""
    if actor.role is not Role.HOLDER or actor.person_id is None:
        return []
    day = day or today(uow)
    rows = uow.connection().execute(_CHILDREN, {"guardian": actor.person_id}).all()
    return [ChildView(person_id=row.id, name=row.name, birth_date=row.birth_date,
                      relation=row.relation, turns_16_on=sixteenth_birthday(row.birth_date))
            for row in rows if under_16(row.birth_date, day)]


def child_of(*, uow: UnitOfWork, actor: Actor, person_id: int) -> ChildView:
    """One child the holder acts for; PersonNotFound for anyone else (no existence leak: a
    link ended or a child turned 16 reads as missing too)."""
    for child in children_of(uow=uow, actor=actor):
        if child.person_id == person_id:
            return child
    raise errors.PersonNotFound(person_id=person_id)
