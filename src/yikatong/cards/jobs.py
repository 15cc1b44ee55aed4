"""Background work of the cards domain, run by `ykt worker`.

An HR temporary loss already reads as ended the moment its 168 hours pass; this job writes the
lift down (audit record, `card.temporary_loss_expired` and `card.hr_status_changed` events)
within half a minute. A second job fetches the events a bank produced by itself.
"""

from __future__ import annotations

import logging

from yikatong.cards import service
from yikatong.cards.protocols import BankGateway
from yikatong.core.errors import ConcurrentChange, DomainError
from yikatong.worker.runner import Job

log = logging.getLogger(__name__)


def expire_temporary_losses(platform) -> int:
    """Persist every 7-day HR temporary loss whose end has passed; one transaction per card."""
    with platform.uow() as uow:
        card_nos = service.cards_with_expired_losses(uow=uow)
    persisted = 0
    for card_no in card_nos:
        try:
            with platform.uow() as uow:
                persisted += service.persist_expired_losses(uow=uow, card_no=card_no)
                uow.commit()
        except ConcurrentChange:
            log.info("card %s changed meanwhile; its expired loss is retried next run", card_no)
    return persisted


def poll_bank_events(platform) -> int:
    """Apply the events the banks produced on their own (each at most once, by event id)."""
    applied = 0
    for event in platform.get(BankGateway).poll_events(now=platform.clock.now()):
        for _attempt in range(3):  # a concurrent change to the card: apply on fresh state
            try:
                with platform.uow() as uow:
                    applied += service.apply_bank_event(uow=uow, event=event)
                    uow.commit()
                break
            except ConcurrentChange:
                continue
            except DomainError:
                log.exception("bank event %s cannot be applied", event.event_id)
                break
        else:
            log.error("bank event %s not applied after 3 concurrent changes", event.event_id)
    return applied


JOBS = [
    Job("cards.expire_temporary_losses", every_seconds=20, run=expire_temporary_losses),
    Job("cards.poll_bank_events", every_seconds=20, run=poll_bank_events),
]
