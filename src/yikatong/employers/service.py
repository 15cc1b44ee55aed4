"""Employer scope use cases: make, list and end employee links; the scope check the people,
applications and cards services ask before showing an employer agent anything.

`link_employee` runs inside the caller's transaction (the batch row's); `end_link` commits
once with its audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from yikatong.core.actor import Actor
from yikatong.core.errors import InvalidInput
from yikatong.db.uow import UnitOfWork
from yikatong.employers import rules
from yikatong.employers.errors import EmployeeLinkEnded, EmployeeLinkNotFound
from yikatong.employers.models import EmployeeLink


@dataclass(frozen=True)
class LinkView:
    id: int
    employer_uscc: str
    person_id: int
    started_at: datetime
    ended_at: datetime | None
    made_by: str
    employer_batch_id: int | None
    ended_by: str | None


def _view(link: EmployeeLink) -> LinkView:
    return LinkView(
        id=link.id,
        employer_uscc=link.employer_uscc,
        person_id=link.person_id,
        started_at=link.started_at,
        ended_at=link.ended_at,
        made_by=link.made_by,
        employer_batch_id=link.employer_batch_id,
        ended_by=link.ended_by,
    )


def _open_link(uow: UnitOfWork, employer_uscc: str, person_id: int) -> EmployeeLink | None:
    return uow.session.execute(
        select(EmployeeLink)
        .where(
            EmployeeLink.employer_uscc == employer_uscc,
            EmployeeLink.person_id == person_id,
            or_(EmployeeLink.ended_at.is_(None), EmployeeLink.ended_at > uow.now()),
        )
        .order_by(EmployeeLink.id)
        .limit(1)
    ).scalar_one_or_none()


def link_employee(
    *,
    uow: UnitOfWork,
    actor: Actor,
    employer_uscc: str,
    person_id: int,
    employer_batch_id: int | None,
) -> LinkView:
    """Record that the employer employs the person (no commit: the batch row's transaction).
    An open link is kept as it is, so a second batch naming the same employee adds nothing."""
    existing = _open_link(uow, employer_uscc, person_id)
    if existing is not None:
        return _view(existing)
    link = EmployeeLink(
        employer_uscc=employer_uscc,
        person_id=person_id,
        started_at=uow.now(),
        made_by=actor.user_id,
        employer_batch_id=employer_batch_id,
    )
    uow.session.add(link)
    uow.session.flush()
    uow.audit(
        actor=actor,
        action="employee_link.open",
        entity_type="employee_link",
        entity_id=link.id,
        after={
            "employer_uscc": employer_uscc,
            "person_id": person_id,
            "employer_batch_id": employer_batch_id,
        },
    )
    return _view(link)


def may_see_person(*, uow: UnitOfWork, actor: Actor, person_id: int | None) -> bool:
    """The employer scope: an employer agent sees a person only through an open link to
    their employer; other roles are not limited here. Callers answer the same NotFound as
    for a missing record when this is False, so the refusal says nothing about existence."""
    if not rules.is_employer_scoped(actor):
        return True
    if person_id is None or not actor.employer_uscc:
        return False
    return _open_link(uow, actor.employer_uscc, person_id) is not None


def list_links(
    *, uow: UnitOfWork, actor: Actor, include_ended: bool = False, limit: int = 100, offset: int = 0
) -> list[LinkView]:
    """Links the caller may see: an employer agent its employer's, the card centre all."""
    query = select(EmployeeLink).order_by(EmployeeLink.id).limit(limit).offset(offset)
    if rules.is_employer_scoped(actor):
        query = query.where(EmployeeLink.employer_uscc == (actor.employer_uscc or ""))
    if not include_ended:
        query = query.where(or_(EmployeeLink.ended_at.is_(None), EmployeeLink.ended_at > uow.now()))
    return [_view(link) for link in uow.session.execute(query).scalars()]


def end_link(*, uow: UnitOfWork, actor: Actor, link_id: int, reason: str) -> LinkView:
    """The person left the employer: the link ends now and the employer's agents lose
    access. Another employer's link answers as a missing one."""
    link = uow.session.get(EmployeeLink, link_id)
    if link is None or not rules.may_see_link(actor, link.employer_uscc):
        raise EmployeeLinkNotFound(link_id=link_id)
    if not (reason or "").strip():
        raise InvalidInput(reason_zh="请说明终止理由", reason_en="a reason is required")
    now = uow.now()
    if not rules.link_is_open(link.ended_at, now):
        raise EmployeeLinkEnded(ended_at=link.ended_at.isoformat())
    link.ended_at, link.ended_by = now, actor.user_id
    uow.session.flush()
    uow.audit(
        actor=actor,
        action="employee_link.end",
        entity_type="employee_link",
        entity_id=link.id,
        before={"ended_at": None},
        after={"ended_at": now.isoformat(), "person_id": link.person_id},
        reason=reason.strip(),
    )
    uow.commit()
    return _view(link)
