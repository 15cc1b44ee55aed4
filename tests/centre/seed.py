"""Rows with known times and states for the dashboard counts, written straight into the
domains' tables (the counts read those tables; how the rows got there is other tests' subject)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime

from yikatong.applications.models import Application
from yikatong.cards.models import BankEventRecord, Card, CardBlock
from yikatong.clearing.models import ClearedRecord, ClearingBatch
from yikatong.events.models import OutboxEvent
from yikatong.transit.models import TopUpOrder

_serial = itertools.count(1)


def add_application(uow, status: str, submitted_at: datetime) -> Application:
    row = Application(kind="first", mode="self", channel="outlet", status=status, person_id=next(_serial),
                      applicant={}, bank_code="ICBC", delivery="pickup", submitted_by="test",
                      submitted_at=submitted_at, updated_at=submitted_at)
    uow.session.add(row)
    uow.session.flush()
    return row


def add_card(uow, state: str, produced_at: datetime, bank_code: str = "ICBC") -> Card:
    n = next(_serial)
    row = Card(card_no=f"T{n:08d}", person_id=n, kind="first", bank_code=bank_code,
               card_id_code=f"ID{n:010d}", chip_serial=f"S{n}", pan=f"62220{n:014d}", asn=f"A{n:019d}",
               issue_date=produced_at.date(), financial_valid_until=date(2036, 1, 1), state=state,
               produced_at=produced_at, financial_status="active", updated_at=produced_at, version=1)
    uow.session.add(row)
    uow.session.flush()
    return row


def add_loss(uow, card: Card, kind: str, channel: str, started_at: datetime) -> CardBlock:
    row = CardBlock(card_id=card.id, function="hr", kind=kind, reason_code="lost", set_by="test",
                    set_by_role="admin", channel=channel, started_at=started_at)
    uow.session.add(row)
    uow.session.flush()
    return row


def add_top_up(uow, channel: str, state: str, amount: int, created_at: datetime) -> TopUpOrder:
    n = next(_serial)
    row = TopUpOrder(order_no=f"O{n}", idempotency_key=f"k{n}", request_hash="h", asn=f"A{n}",
                     issuer_id="CZ", amount=amount, channel=channel, payer_kind="cash",
                     payer_reference="p", state=state, balance_read=0, created_by="test",
                     created_at=created_at, updated_at=created_at)
    uow.session.add(row)
    uow.session.flush()
    return row


def add_cleared(uow, operator: str, counter_kind: str, amount: int, tx_date: date,
                status: str = "cleared") -> None:
    n = next(_serial)
    batch = ClearingBatch(file_id=f"F{n}", kind="records", direction="in", sender=operator,
                          operator=operator, digest="d", record_count=1, total_1=0, total_2=0,
                          received_at=datetime.combine(tx_date, datetime.min.time()).astimezone(),
                          received_by="test", result={})
    uow.session.add(batch)
    uow.session.flush()
    uow.session.add(ClearedRecord(
        batch_id=batch.id, seq=1, asn=f"A{n}", issuer_id="CZ", own_card=True, counter_kind=counter_kind,
        counter=n, tx_type=9 if counter_kind == "offline" else 2, amount=amount, balance_after=0,
        terminal_id="T1", terminal_serial=n, card_time=tx_date.strftime("%Y%m%d") + "120000",
        occurred_at=batch.received_at, tx_date=tx_date, tac="00000000", key_version=1, alg_id=0,
        city="CZ", operator=operator, mode="bus", tap="in", line="1", station="1", region="",
        card_kind="", rider="", recovered=False, status=status))
    uow.session.flush()


def add_event(uow, partner: str | None, occurred_at: datetime,
              published_at: datetime | None = None) -> OutboxEvent:
    row = OutboxEvent(event_id=str(uuid.uuid4()), type="card.changed", aggregate_type="card",
                      aggregate_id="X", partner=partner, payload={}, occurred_at=occurred_at,
                      published_at=published_at, attempts=0)
    uow.session.add(row)
    uow.session.flush()
    return row


def add_bank_message(uow, bank_code: str, received_at: datetime) -> BankEventRecord:
    row = BankEventRecord(event_id=str(uuid.uuid4()), bank_code=bank_code, card_no="X", type="activated",
                          occurred_at=received_at, received_at=received_at, payload={})
    uow.session.add(row)
    uow.session.flush()
    return row
