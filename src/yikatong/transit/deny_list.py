"""The wallet deny list validators take offline (黑名单): cards whose wallet was refunded, whose
card could not be read at an exchange, or whose TACs failed in clearing.

Every change gets the next version number under a row lock on the list's head, so versions
are committed in order and a validator that asks for the changes `since` its version never
misses one. Each change also leaves as an outbox event `transit.deny_list_changed` (the push).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select

from yikatong.core.actor import Actor
from yikatong.db.uow import UnitOfWork
from yikatong.transit.models import DenyListChange, DenyListEntry, DenyListHead

EVENT = "transit.deny_list_changed"
MAX_DELTA = 10_000


class DenyReason(StrEnum):
    WALLET_REFUNDED = "wallet_refunded"          # 退值: the wallet was paid out and closed
    UNREADABLE_CARD = "unreadable_card"          # damaged card: refunded from the shadow balance
    TAC_FAILED = "tac_failed"                    # clearing found a record whose TAC did not verify
    UNFUNDED_SPEND = "unfunded_spend"            # clearing saw spending no top-up paid for


@dataclass(frozen=True)
class DenyListDelta:
    version: int  # the list's version after these changes
    added: list[str]
    removed: list[str]
    # True when the caller's version was too old or 0.
    complete: bool = field(metadata={"description": "true: `added` is the whole list, replace yours"})


def add(*, uow: UnitOfWork, asn: str, reason: DenyReason | str, actor: Actor) -> int | None:
    """Put a wallet on the deny list; returns the new version, or None when it already was."""
    if uow.session.get(DenyListEntry, asn) is not None:
        return None
    version = _next_version(uow)
    now = uow.now()
    uow.session.add(DenyListEntry(asn=asn, reason=str(reason), version=version, listed_at=now))
    _change(uow, version, asn, "add", str(reason), actor)
    return version


def remove(*, uow: UnitOfWork, asn: str, reason: str, actor: Actor) -> int | None:
    """Take a wallet off the list (e.g. a TAC failure that turned out to be a terminal fault)."""
    entry = uow.session.get(DenyListEntry, asn)
    if entry is None:
        return None
    version = _next_version(uow)
    uow.session.delete(entry)
    _change(uow, version, asn, "remove", reason, actor)
    return version


def is_listed(*, uow: UnitOfWork, asn: str) -> bool:
    return uow.session.get(DenyListEntry, asn) is not None


def current_version(*, uow: UnitOfWork) -> int:
    head = uow.session.get(DenyListHead, 1)
    return head.version if head is not None else 0


def changes_since(*, uow: UnitOfWork, since: int) -> DenyListDelta:
    """What changed after version `since`; the whole list when `since` is 0 or the delta would be
    longer than the list itself."""
    version = current_version(uow=uow)
    changes = []
    if since > 0:
        changes = uow.session.execute(
            select(DenyListChange).where(DenyListChange.version > since)
            .order_by(DenyListChange.version).limit(MAX_DELTA + 1)).scalars().all()
    if since <= 0 or since > version or len(changes) > MAX_DELTA:
        listed = uow.session.execute(select(DenyListEntry.asn).order_by(DenyListEntry.asn)).scalars().all()
        return DenyListDelta(version, list(listed), [], complete=True)
    latest: dict[str, str] = {}
    for change in changes:
        latest[change.asn] = change.action
    return DenyListDelta(
        version,
        sorted(asn for asn, action in latest.items() if action == "add"),
        sorted(asn for asn, action in latest.items() if action == "remove"),
        complete=False,
    )


def _next_version(uow: UnitOfWork) -> int:
    head = uow.session.execute(
        select(DenyListHead).where(DenyListHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = DenyListHead(id=1, version=0)
        uow.session.add(head)
    head.version += 1
    return head.version


def _change(uow: UnitOfWork, version: int, asn: str, action: str, reason: str, actor: Actor) -> None:
    uow.session.add(DenyListChange(version=version, asn=asn, action=action, reason=reason, at=uow.now()))
    uow.audit(actor=actor, action=f"transit.deny_list_{action}", entity_type="transit_wallet",
              entity_id=asn, after={"version": version, "reason": reason})
    uow.emit(EVENT, aggregate_type="transit_deny_list", aggregate_id=asn,
             payload={"version": version, "asn": asn, "action": action, "reason": reason})
