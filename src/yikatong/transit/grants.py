"""Rider categories set against a proof: a citizen-card outlet records that a registered person
holds one (a student status certificate, a disability certificate), and the card follows.

Only the fare configuration's categories without an age are granted (`[riders.*]` without
`min_age`: student, disabled in Changzhou); each names the proofs it accepts and whether a grant
must end (a student's, at the school year's end). A grant runs from the day it is recorded to
`valid_until` (inclusive) or until revoked; one person holds at most one active grant of a
category (the database keeps that: `RiderGrant.active_key`). What the registry then says of the
person, and how their card is rewritten at its next online contact, is riders.py.

The proof reference (a certificate number) is personal data: it is stored whole, for an auditor
to check against the certificate, and shown masked everywhere else, audit records included.

A grant or a revocation clears the "refused" flag of the person's cards (riders.py), so their
next contact tries the rewrite again, and is announced as an outbox event (without the proof).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from yikatong.cards import service as cards
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import ConcurrentChange, Forbidden
from yikatong.db.uow import UnitOfWork
from yikatong.people import service as people
from yikatong.transit import riders, rules
from yikatong.transit.errors import (
    RiderGrantExists,
    RiderGrantNotActive,
    RiderGrantNotFound,
    RiderGrantOutletNotAllowed,
)
from yikatong.transit.fare_config import FareConfig, default_fare_config
from yikatong.transit.models import GrantState, RiderGrant

ACTIVE, REVOKED, EXPIRED = GrantState.ACTIVE, GrantState.REVOKED, GrantState.EXPIRED
GRANTING_ROLES = (Role.CITIZEN_OUTLET, Role.ADMIN)
GRANTED, REVOKED_ACTION = "transit.rider_granted", "transit.rider_grant_revoked"
@dataclass(frozen=True)
class GrantView:
    id: int
    person_id: int
    category: str
    proof_kind: str
    proof_reference: str = field(metadata={"description": "masked: the last characters only"})
    valid_from: date
    valid_until: date | None
    # An active grant past valid_until shows expired.
    state: Literal["active", "revoked", "expired"]
    in_force: bool = field(
        metadata={"description": "true: it sets the person's rider category today"})
    granted_by: str
    outlet_code: str | None
    granted_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None
    revoke_reason: str | None


def grant_rider_category(*, uow: UnitOfWork, actor: Actor, idempotency_key: str, person_id: int, category: str,
                         proof_kind: str, proof_reference: str, valid_until: date | None,
                         fares: FareConfig | None = None) -> GrantView:
    """Record that the person holds `category` against the proof, from today.

    A retry with the same idempotency key answers the grant it made, also when it overtakes the
    first try (IdempotencyKeyReused for the key with another request). Raises PersonNotFound,
    RiderCategoryUnknown, RiderCategoryByAge, RiderProofKindNotAccepted, RiderGrantNeedsEnd,
    RiderGrantEndNotAfterToday, RiderGrantExists (an active grant of the category in force or
    still to come; revoke it first)."""
    _check_role(actor)
    scope = f"transit.rider_grant:{actor.user_id}"
    request = {"person_id": person_id, "category": category, "proof_kind": proof_kind,
               "proof_reference": proof_reference, "valid_until": valid_until}
    replayed = uow.replay(scope, idempotency_key, request)
    if replayed is not None:
        return _view(_load(uow, replayed["id"]), _today(uow))
    today = _today(uow)
    people.get_person(uow=uow, person_id=person_id)
    rider = rules.check_grant(category=category, proof_kind=proof_kind, valid_until=valid_until, today=today,
                              fares=fares or default_fare_config())
    try:
        expired = _close_expired_or_refuse(uow, person_id, rider.value, today)
        grant = RiderGrant(person_id=person_id, category=rider.value, proof_kind=proof_kind,
                           proof_reference=proof_reference, valid_from=today, valid_until=valid_until,
                           state=ACTIVE, active_key=_active_key(person_id, rider.value), granted_by=actor.user_id,
                           outlet_code=actor.branch_code, granted_at=uow.now())
        uow.session.add(grant)
        _flush_or_refuse(uow, person_id, rider.value, today)
    except RiderGrantExists as refusal:
        # The winner may be this very request, retried while the first try was still running:
        # committed just after the replay check above, or still uncommitted at the flush.
        replayed = uow.replay_or_raise(scope, idempotency_key, request, refusal)
        return _view(_load(uow, replayed["id"]), today)
    cleared = riders.clear_refusals_of(uow=uow, asns=_card_asns(uow, person_id))
    uow.audit(actor=actor, action=GRANTED, entity_type="transit_rider_grant", entity_id=grant.id,
              after={"person_id": person_id, "category": rider.value, "proof_kind": proof_kind,
                     "proof_reference": rules.mask_proof_reference(proof_reference),
                     "valid_from": today.isoformat(), "valid_until": valid_until and valid_until.isoformat(),
                     "outlet_code": actor.branch_code, "expired_grants": expired, "refusals_cleared": cleared})
    _announce(uow, GRANTED, grant, after=rider.value)
    uow.remember(scope, idempotency_key, request, {"id": grant.id})
    return _view(grant, today)


def revoke_rider_grant(*, uow: UnitOfWork, actor: Actor, grant_id: int, reason: str) -> GrantView:
    """End a grant now (the proof was withdrawn, or recorded in error); the card is rewritten
    at its next contact. Raises RiderGrantNotFound, RiderGrantNotActive."""
    _check_role(actor)
    grant = _load(uow, grant_id, lock=True)
    if grant.state != ACTIVE:
        raise RiderGrantNotActive(grant_id=grant_id, **rules.GRANT_STATES.fields("state", grant.state))
    grant.state, grant.active_key = REVOKED, None
    grant.revoked_by, grant.revoked_at, grant.revoke_reason = actor.user_id, uow.now(), reason
    cleared = riders.clear_refusals_of(uow=uow, asns=_card_asns(uow, grant.person_id))
    uow.audit(actor=actor, action=REVOKED_ACTION, entity_type="transit_rider_grant", entity_id=grant.id,
              before={"state": ACTIVE, "category": grant.category}, after={"state": REVOKED, "refusals_cleared": cleared},
              reason=reason)
    _announce(uow, REVOKED_ACTION, grant, after=None)
    uow.session.flush()
    return _view(grant, _today(uow))


def list_rider_grants(*, uow: UnitOfWork, person_id: int) -> list[GrantView]:
    """Every grant of the person, the newest first. Raises PersonNotFound."""
    people.get_person(uow=uow, person_id=person_id)
    grants = uow.session.execute(select(RiderGrant).where(RiderGrant.person_id == person_id)
                                 .order_by(RiderGrant.id.desc())).scalars()
    today = _today(uow)
    return [_view(grant, today) for grant in grants]


# --- helpers ---------------------------------------------------------------------------------


def _announce(uow: UnitOfWork, name: str, grant: RiderGrant, *, after: str | None) -> None:
    """An outbox event for the holder's channels (the e-card shows the category); the proof
    reference stays out of it."""
    uow.emit(name, aggregate_type="transit_rider_grant", aggregate_id=str(grant.id),
             payload={"grant_id": grant.id, "person_id": grant.person_id, "category": grant.category,
                      "granted": after is not None, "valid_until": grant.valid_until and grant.valid_until.isoformat()})


def check_granting_outlet(*, uow: UnitOfWork, outlet_code: str) -> None:
    """An outlet named by hand (the command line) must be a citizen-card outlet, where proofs
    are checked; a login's own outlet comes with its role. Raises UnknownOutlet,
    RiderGrantOutletNotAllowed."""
    from yikatong.directory.rules import CITIZEN_OUTLET_KINDS
    from yikatong.directory.service import get_outlet

    if get_outlet(uow=uow, outlet_code=outlet_code).kind not in CITIZEN_OUTLET_KINDS:
        raise RiderGrantOutletNotAllowed(outlet_code=outlet_code)


def _check_role(actor: Actor) -> None:
    if actor.role not in GRANTING_ROLES:
        raise Forbidden()


def _today(uow: UnitOfWork) -> date:
    return local_date(uow.now())


def _active_key(person_id: int, category: str) -> str:
    return f"{person_id}:{category}"


def _load(uow: UnitOfWork, grant_id: int, *, lock: bool = False) -> RiderGrant:
    query = select(RiderGrant).where(RiderGrant.id == grant_id)
    if lock:
        query = query.with_for_update()
    grant = uow.session.execute(query).scalar_one_or_none()
    if grant is None:
        raise RiderGrantNotFound(grant_id=grant_id)
    return grant


def _close_expired_or_refuse(uow: UnitOfWork, person_id: int, category: str, today: date) -> list[int]:
    """The active grant of this category, if any, must have ended (a new school year's proof):
    it is closed as expired to make room. Raises RiderGrantExists while it is still in force."""
    current = uow.session.execute(select(RiderGrant).where(
        RiderGrant.active_key == _active_key(person_id, category)).with_for_update()).scalar_one_or_none()
    if current is None:
        return []
    if current.valid_until is None or current.valid_until >= today:
        raise _exists(current)
    current.state, current.active_key = EXPIRED, None
    uow.session.flush()  # free the key before the new grant takes it
    return [current.id]


def _flush_or_refuse(uow: UnitOfWork, person_id: int, category: str, today: date) -> None:
    """Another outlet granted the same category at the same moment: the database's one-active
    rule refuses the second, answered as the grant it lost to."""
    try:
        uow.session.flush()
    except IntegrityError as error:
        uow.session.rollback()
        winner = uow.session.execute(select(RiderGrant).where(
            RiderGrant.active_key == _active_key(person_id, category))).scalar_one_or_none()
        raise (_exists(winner) if winner is not None else ConcurrentChange()) from error


def _exists(grant: RiderGrant) -> RiderGrantExists:
    until = grant.valid_until.isoformat() if grant.valid_until else "撤销为止 / revoked"
    return RiderGrantExists(category=grant.category, grant_id=grant.id, valid_until=until)


def _card_asns(uow: UnitOfWork, person_id: int) -> list[str]:
    return [card.asn for card in cards.list_cards(uow=uow, person_id=person_id, limit=500) if card.asn]


def _view(grant: RiderGrant, today: date) -> GrantView:
    in_force = grant.state == ACTIVE and rules.grant_in_force(grant.valid_from, grant.valid_until, today)
    shown = EXPIRED if grant.state == ACTIVE and grant.valid_until is not None and grant.valid_until < today \
        else grant.state
    return GrantView(
        id=grant.id, person_id=grant.person_id, category=grant.category, proof_kind=grant.proof_kind,
        proof_reference=rules.mask_proof_reference(grant.proof_reference), valid_from=grant.valid_from,
        valid_until=grant.valid_until, state=shown, in_force=in_force, granted_by=grant.granted_by,
        outlet_code=grant.outlet_code, granted_at=grant.granted_at, revoked_by=grant.revoked_by,
        revoked_at=grant.revoked_at, revoke_reason=grant.revoke_reason)
