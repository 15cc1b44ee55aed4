"""Least privilege for personal data: who sees a person's record whole, who sees it masked,
and the one way a masked reader sees it whole (a disclosure with a reason, audited).

| reader | by default |
|---|---|
| card-centre admin, social-security outlet, directly-run citizen-card outlet | whole |
| the holder (their own record only; scope is checked before this) | whole |
| 12333 phone agent, partner-run citizen-card outlet, bank, transit operator, employer agent | masked |

Masked means: name 张*丰, ID number 320402********0013, phone 138****5678, address to the
city, birth year only, no photo. Lists always mask the ID number (the project's rule for
list views) and otherwise mask what the reader's details mask, so a list never shows what
a detail hides. See docs/privacy.md.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from yikatong.audit.rules import without_personal_data
from yikatong.core.actor import Actor, Role
from yikatong.core.masking import mask_address, mask_name, mask_phone, mask_ssn
from yikatong.db.uow import UnitOfWork

# Readers whose work is the record itself: issuing the card at the counter, running the centre.
WHOLE_BY_ROLE = frozenset({Role.ADMIN, Role.SS_OUTLET, Role.HOLDER})
# A citizen-card outlet sees the record whole only where the card centre runs it itself.
WHOLE_AT_OUTLET_KINDS = frozenset({"citizen_outlet_direct"})


class DisclosureReason(StrEnum):
    """Why a reader who sees masked data needs it whole, once (the audit record names it)."""
    HOLDER_PRESENT = "holder_present"              # the holder is at the counter with the document
    HOLDER_VERIFIED_ON_CALL = "holder_verified_on_call"  # the 12333 caller answered the checks
    AGENT_PRESENT = "agent_present"                # an authorised agent with both documents
    OFFICIAL_REQUEST = "official_request"          # police, court, auditor: note names the reference


def sees_whole(uow: UnitOfWork, actor: Actor) -> bool:
    """Whether `actor` reads people's records unmasked by default."""
    if actor.role in WHOLE_BY_ROLE:
        return True
    if actor.role is Role.CITIZEN_OUTLET and actor.branch_code:
        from yikatong.directory.errors import UnknownOutlet
        from yikatong.directory.service import get_outlet

        try:
            return get_outlet(uow=uow, outlet_code=actor.branch_code).kind in WHOLE_AT_OUTLET_KINDS
        except UnknownOutlet:
            return False
    return False


def masked(view):
    """A person view (or any view with these fields) as a masked reader sees it."""
    changes = {"name": mask_name(view.name), "ssn": mask_ssn(view.ssn)}
    for field, mask in (("phone", mask_phone), ("address", mask_address)):
        if getattr(view, field, None):
            changes[field] = mask(getattr(view, field))
    return replace(view, **changes)


def masked_image(image: dict) -> dict:
    """A dict of person fields (an applicant as entered, a correction's before and after) as a
    masked reader sees it: masked as the audit trail keeps it."""
    return without_personal_data(image)
