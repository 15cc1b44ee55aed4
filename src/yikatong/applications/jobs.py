"""Background work of applications, run by `ykt worker`.

`exchange_on_printed_data_change`: a maker-checker correction that changes data printed on
the card emits `person.printed_data_changed` (people); for a person with a live card an
exchange application (reason info_change) is opened. The job reads those events from the
transactional outbox behind its own cursor, one transaction per event, so it works the same
with the in-process bus and with NATS, and never writes from inside the dispatcher's
transaction (on SQLite that would wait on the dispatcher's own write lock).
"""

from __future__ import annotations

from yikatong.applications.models import EventCursor
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError
from yikatong.db.uow import UnitOfWork
from yikatong.events.inbox import drain_outbox
from yikatong.events.protocols import Event
from yikatong.worker.runner import Job

CONSUMER = "applications.exchange_on_printed_data_change"
EVENT_TYPE = "person.printed_data_changed"


ACTOR = Actor.system("applications")


def exchange_on_printed_data_change(platform, *, limit: int = 100) -> int:
    """Open exchange applications for the corrections committed since the last run; returns
    how many events were handled."""
    return drain_outbox(platform, consumer=CONSUMER, cursor_model=EventCursor,
                        event_types=(EVENT_TYPE,), apply_fn=_open_exchange,
                        on_skip=_record_skipped, limit=limit)


def _open_exchange(uow: UnitOfWork, event: Event) -> None:
    from yikatong.applications.service import open_exchange_for_changed_data

    # A no-op exchange (no live card) still moves the cursor.
    open_exchange_for_changed_data(uow=uow, actor=ACTOR, person_id=int(event.payload["person_id"]),
                                   fields=list(event.payload.get("fields", [])))


def _record_skipped(uow: UnitOfWork, event: Event, error: DomainError) -> None:
    # e.g. the transit balance is not refunded yet: the outlet opens the exchange by hand
    # once it is; the event is not retried forever.
    uow.audit(actor=ACTOR, action="application.auto_exchange_skipped",
              entity_type="person", entity_id=event.payload.get("person_id"),
              reason=f"{error.code}: {error.message_en}")


JOBS = [Job(CONSUMER, every_seconds=5, run=exchange_on_printed_data_change)]
