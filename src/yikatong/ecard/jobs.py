"""Background work of the e-card, run by `ykt worker`.

* `ecard.sync_from_outbox`: reads the card and application events from the transactional
  outbox behind its own cursor and applies each once (the same inbox consumer as the bus
  subscription in wiring.py), so nothing is missed when the bus is NATS (no live
  subscription here) or when an in-process handler failed.
* `ecard.refresh_status_lists`: re-signs the suspension and revocation lists when they are
  older than five minutes (terminals trust a copy for fifteen).
* `ecard.prune_token_uses`: forgets used QR nonces a week after their codes expired (an
  expired code is refused anyway; each redemption stays in the audit trail).
* `ecard.reconcile`: the full reconciliation (domain-rules §8: events within a minute plus a
  periodic full pass): every person with an e-card, a live card or an open application is
  synced again, e.g. a 7-day temporary loss that ended before the cards job recorded it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from yikatong.crypto.protocols import KeyStore
from yikatong.db.exclusive import serialised
from yikatong.db.uow import UnitOfWork
from yikatong.ecard import service
from yikatong.ecard.models import EcardEventCursor, EcardTokenUse
from yikatong.events.inbox import drain_outbox
from yikatong.events.protocols import Event
from yikatong.worker.runner import Job

CONSUMER = "ecard.sync"
# Every card action that can move the e-card (cards.service `_record` actions that touch the
# card's state or HR blocks). Not `card.hr_status_changed`: it always comes beside one of
# these, and alone it misses a freeze or unfreeze while the card is formally lost (the HR
# status stays "formal_loss"). The bank's financial events do not move the e-card.
EVENT_TYPES = (
    "application.submitted", "application.rejected", "application.cancelled",
    "card.produced", "card.handed_over", "card.cancelled", "card.retired",
    "card.temporary_loss_reported", "card.formal_loss_reported", "card.unblocked",
    "card.temporary_loss_expired", "card.frozen", "card.unfrozen",
)


def applier(platform):
    """apply(uow, event): sync the person the event is about (for events.inbox.consume_once)."""

    def apply(uow: UnitOfWork, event: Event) -> None:
        person_id = event.payload.get("person_id")
        if person_id is None:  # an application waiting for identity review: no person yet
            return
        application_id = event.payload.get("application_id")
        service.sync_person(uow=uow, person_id=int(person_id), keys=platform.get(KeyStore),
                            application_id=int(application_id) if application_id else None)

    return apply


def sync_from_outbox(platform, *, limit: int = 200) -> int:
    """Apply the e-card's events committed since the last run; returns how many were read."""
    return drain_outbox(platform, consumer=CONSUMER, cursor_model=EcardEventCursor,
                        event_types=EVENT_TYPES, apply_fn=applier(platform), limit=limit)


def refresh_status_lists(platform) -> int:
    """Re-sign both status lists when due; returns 1 when it did."""
    with platform.uow() as uow:
        # First: a second job at once then reads the lists the first signed, and they are not due.
        serialised(uow.session, service.STATUS_LISTS_LOCK)
        if not service.lists_due(uow=uow):
            return 0
        service.publish_status_lists(uow=uow, keys=platform.get(KeyStore))
        uow.commit()
    return 1


USED_NONCES_KEPT = timedelta(days=7)


def prune_token_uses(platform) -> int:
    """Delete the used-nonce rows of codes that expired more than a week ago."""
    with platform.uow() as uow:
        result = uow.session.execute(delete(EcardTokenUse).where(
            EcardTokenUse.token_expires_at < uow.now() - USED_NONCES_KEPT))
        uow.commit()
    return result.rowcount or 0


def reconcile(platform, *, batch: int = 200) -> int:
    """Sync every person concerned, a batch per transaction, then re-sign the lists once;
    returns how many people were looked at."""
    keys = platform.get(KeyStore)
    seen, after = 0, 0
    while True:
        with platform.uow() as uow:
            people = service.live_person_ids(uow=uow, after_person_id=after, limit=batch)
            for person_id in people:
                service.sync_person(uow=uow, person_id=person_id, keys=keys, publish=False)
            uow.commit()
        seen += len(people)
        if len(people) < batch:
            break
        after = people[-1]
    with platform.uow() as uow:
        service.publish_status_lists(uow=uow, keys=keys)
        uow.commit()
    return seen


JOBS = [
    Job("ecard.sync_from_outbox", every_seconds=2, run=sync_from_outbox),
    Job("ecard.refresh_status_lists", every_seconds=60, run=refresh_status_lists),
    Job("ecard.prune_token_uses", every_seconds=3600, run=prune_token_uses),
    Job("ecard.reconcile", every_seconds=3600, run=reconcile),
]
