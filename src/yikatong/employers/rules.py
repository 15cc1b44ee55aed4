"""Pure rules of the employer scope: no database, no clock (time is passed in)."""

from __future__ import annotations

from datetime import datetime

from yikatong.applications.rules import check_uscc
from yikatong.core.actor import Actor, Role


def check_employer_uscc(code: str) -> str:
    """The normalised unified social credit code (GB 32100-2015) or InvalidUscc; the same
    check as an employer batch's, so a login and its batches name the employer alike."""
    return check_uscc(code)


def is_employer_scoped(actor: Actor) -> bool:
    """Employer agents see only their employer's employees; every other role is scoped by
    its own rules (or not at all)."""
    return actor.role is Role.EMPLOYER_AGENT


def link_is_open(ended_at: datetime | None, at: datetime) -> bool:
    """A link gives access from its start until it is ended (ended_at is exclusive)."""
    return ended_at is None or ended_at > at


def may_see_link(actor: Actor, link_employer_uscc: str) -> bool:
    """An employer agent sees their own employer's links; the card centre sees all."""
    if actor.role in (Role.ADMIN, Role.SYSTEM):
        return True
    return is_employer_scoped(actor) and actor.employer_uscc == link_employer_uscc
