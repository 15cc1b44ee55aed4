"""Background work of the pension confirmation, run by `ykt worker` (and by
`ykt benefits certification remind|lapse|deaths|collect`):

* `pension.follow_enrolled`: follows each person with an active pension enrolment not
  followed yet (the enrolment's first day counts as the first confirmation).
* `pension.certification_reminders`: texts each pensioner 30 days (config) before the
  confirmation runs out, once per window.
* `pension.certification_lapses`: suspends the pension of each one whose window ran out.
* `pension.deaths_from_outbox`: reads the `card.retired` events behind its own cursor and
  records each death once (the bus subscription in certification_wiring.py does it at once
  with the in-process bus; this catches up with NATS or after a failed handler).
"""

from __future__ import annotations

from yikatong.benefits import certification, recovery
from yikatong.benefits.certification_models import PensionEventCursor
from yikatong.events.inbox import drain_outbox
from yikatong.worker.runner import Job

SYSTEM = recovery.SYSTEM


def follow(platform) -> int:
    with platform.uow() as uow:
        return certification.follow_enrolled_pensioners(uow=uow, actor=SYSTEM)


def reminders(platform) -> int:
    with platform.uow() as uow:
        return certification.send_reminders(uow=uow, actor=SYSTEM)


def lapses(platform) -> int:
    with platform.uow() as uow:
        return certification.lapse_due(uow=uow, actor=SYSTEM)


def deaths_from_outbox(platform, *, limit: int = 200) -> int:
    return drain_outbox(platform, consumer=recovery.CONSUMER, cursor_model=PensionEventCursor,
                        event_types=recovery.EVENT_TYPES, apply_fn=recovery.apply, limit=limit)


def collect(platform) -> int:
    with platform.uow() as uow:
        recovery.rescan_deceased(uow=uow, actor=SYSTEM)
    with platform.uow() as uow:
        return sum(1 for r in recovery.collect(uow=uow, actor=SYSTEM) if r.status == recovery.RECOVERED)


JOBS = [
    Job("pension.follow_enrolled", every_seconds=600, run=follow),
    Job("pension.certification_reminders", every_seconds=3600, run=reminders),
    Job("pension.certification_lapses", every_seconds=3600, run=lapses),
    Job("pension.deaths_from_outbox", every_seconds=10, run=deaths_from_outbox),
    Job("pension.recoveries_collect", every_seconds=3600, run=collect),
]
