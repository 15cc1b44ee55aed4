"""The development SMS outbox: an `SmsGateway` that delivers into a table instead of a
carrier, so the demo and the tests can read the messages (and their one-time codes).

Development and tests only: `development_only = True` marks it, and a production start
refuses every registered seam implementation so marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from yikatong.core.clock import Clock
from yikatong.notices.models import DevelopmentSmsDelivery
from yikatong.notices.protocols import SmsUnavailable


@dataclass(frozen=True)
class Delivered:
    id: int
    reference: str
    phone: str
    text: str
    delivered_at: object


class DevelopmentSmsOutbox:
    """Keeps each message in `sms_development_outbox` (its own transaction, after the
    platform's commit). `available = False` simulates a carrier outage."""

    development_only = True

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.available = True

    def send(self, *, phone: str, text: str, reference: str) -> str:
        if not self.available:
            raise SmsUnavailable()
        with Session(self.engine) as session:
            row = DevelopmentSmsDelivery(reference=reference, phone=phone, text=text,
                                         delivered_at=self.clock.now())
            session.add(row)
            session.flush()
            carrier_ref = f"DEV-{row.id}"  # read before the commit expires the row (a reload)
            session.commit()
            return carrier_ref

    def delivered(self, *, phone: str | None = None, limit: int = 50) -> list[Delivered]:
        """The newest messages first (to one number if given)."""
        query = select(DevelopmentSmsDelivery).order_by(DevelopmentSmsDelivery.id.desc()).limit(limit)
        if phone is not None:
            query = query.where(DevelopmentSmsDelivery.phone == phone)
        with Session(self.engine) as session:
            return [Delivered(id=r.id, reference=r.reference, phone=r.phone, text=r.text,
                              delivered_at=r.delivered_at) for r in session.execute(query).scalars()]
