"""Background work of applications, run by `ykt worker`.

`exchange_on_printed_data_change`: a maker-checker correction that changes data printed on
the card emits `person.printed_data_changed` (people); for a person with a live card an
exchange application (reason info_change) is opened. The job reads those events from the
transactional outbox behind its own cursor, one transaction per event, so it works the same
with the in-process bus and with NATS, and never writes from inside the dispatcher's
transaction (on SQLite that would wait on the dispatcher's own write lock).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from yikatong.applications.models import EventCursor
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.events.models import OutboxEvent
from yikatong.worker.runner import Job

log = logging.getLogger(__name__)

CONSUMER = "applications.exchange_on_printed_data_change"
EVENT_TYPE = "person.printed_data_changed"


def exchange_on_printed_data_change(platform, *, limit: int = 100) -> int:
    """Open exchange applications for the corrections committed since the last run; returns
    how many events were handled."""
    from yikatong.applications.service import open_exchange_for_changed_data

    actor = Actor.system("applications")
    with platform.uow() as uow:
        cursor = uow.session.get(EventCursor, CONSUMER)
        after = cursor.last_seq if cursor else 0
        events = uow.session.execute(
            select(OutboxEvent.seq, OutboxEvent.payload)
            .where(OutboxEvent.type == EVENT_TYPE, OutboxEvent.seq > after)
            .order_by(OutboxEvent.seq).limit(limit)).all()
    for seq, payload in events:
        try:
            with platform.uow() as uow:
                _advance(uow, seq)
                open_exchange_for_changed_data(uow=uow, actor=actor,
                                               person_id=int(payload["person_id"]),
                                               fields=list(payload.get("fields", [])))
                uow.commit()  # a no-op exchange still moves the cursor
        except DomainError as error:
            # e.g. the transit balance is not refunded yet: the outlet opens the exchange
            # by hand once it is; the event is not retried forever.
            log.warning("no automatic exchange for person %s: %s", payload.get("person_id"), error)
            with platform.uow() as uow:
                _advance(uow, seq)
                uow.audit(actor=actor, action="application.auto_exchange_skipped",
                          entity_type="person", entity_id=payload.get("person_id"),
                          reason=f"{error.code}: {error.message_en}")
                uow.commit()
    return len(events)


def _advance(uow, seq: int) -> None:
    cursor = uow.session.get(EventCursor, CONSUMER)
    if cursor is None:
        uow.session.add(EventCursor(consumer=CONSUMER, last_seq=seq))
    else:
        cursor.last_seq = seq
    uow.session.flush()


JOBS = [Job(CONSUMER, every_seconds=5, run=exchange_on_printed_data_change)]
