"""What the database knows, read at scrape time: outbox lag, bank sync lag, clearing progress.

Every query reads an index (outbox rows not yet published, the day's clearing files by their
received time, the records awaiting the national house by their partial index), never a whole
table, and the figures are kept for `max_age` seconds so several scrapers, or a scraper's
retries, cost one round of queries. The same figures whichever worker process answers.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from yikatong.core.clock import as_utc, local_date

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 5.0


class PlatformCollector:
    """A prometheus_client collector over the platform's database (see the module docstring)."""

    def __init__(self, platform_of, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        # The application's platform is looked up at each scrape (app.state.platform), and the
        # figures kept only for that platform: another platform's figures are never served.
        self.platform_of = platform_of
        self.max_age = max_age
        self._lock = threading.Lock()
        self._cached: tuple[object, float, list] | None = None

    def collect(self):
        with self._lock:
            platform, now = self.platform_of(), time.monotonic()
            if self._cached is None or self._cached[0] is not platform or now - self._cached[1] > self.max_age:
                self._cached = (platform, now, self._families(platform))
            return list(self._cached[2])

    def _families(self, platform) -> list:
        up = GaugeMetricFamily("ykt_database_figures_up", "1 when the database figures below "
                               "were read at this scrape, 0 when the read failed")
        try:
            with platform.uow(read_only=True) as uow:
                families = [*outbox_lag(uow), *bank_sync_lag(uow), *clearing_progress(uow)]
        except Exception:
            log.exception("reading the database figures for /metrics failed")
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]


def _seconds_since(now: datetime, moment: datetime | None) -> float:
    return max(0.0, (now - as_utc(moment)).total_seconds()) if moment is not None else 0.0


def _timestamp(moment: datetime | None) -> float:
    return as_utc(moment).timestamp() if moment is not None else 0.0


def outbox_lag(uow) -> list:
    """Events committed and not yet published (the dispatcher's backlog) and the oldest one's age."""
    from yikatong.events.models import OutboxEvent

    now = as_utc(uow.now())
    count, oldest = uow.session.execute(
        select(func.count(), func.min(OutboxEvent.occurred_at))
        .where(OutboxEvent.published_at.is_(None))).one()
    waiting = GaugeMetricFamily("ykt_outbox_unpublished_events",
                                "Outbox events committed and not yet published")
    waiting.add_metric([], count)
    age = GaugeMetricFamily("ykt_outbox_oldest_unpublished_age_seconds",
                            "Age of the oldest unpublished outbox event (0: none waiting)")
    age.add_metric([], _seconds_since(now, oldest))
    return [waiting, age]


def bank_sync_lag(uow) -> list:
    """Platform to bank, per partner bank of the directory (and any bank an event waits for):
    events for it not yet delivered and the oldest one's age; bank to platform: when the
    platform last applied a message of that bank (the bank's newest event applied)."""
    from yikatong.cards.models import BankEventRecord
    from yikatong.directory.models import Bank
    from yikatong.events.models import OutboxEvent

    now = as_utc(uow.now())
    waiting = {partner: (count, oldest) for partner, count, oldest in uow.session.execute(
        select(OutboxEvent.partner, func.count(), func.min(OutboxEvent.occurred_at))
        .where(OutboxEvent.partner.is_not(None), OutboxEvent.published_at.is_(None))
        .group_by(OutboxEvent.partner))}
    banks = sorted(set(uow.session.execute(select(Bank.code)).scalars()) | set(waiting))
    undelivered = GaugeMetricFamily("ykt_bank_undelivered_events",
                                    "Platform events for a partner bank not yet delivered", labels=["bank"])
    lag = GaugeMetricFamily("ykt_bank_sync_lag_seconds", "Platform to bank: age of the oldest "
                            "event not yet delivered to the bank (0: none waiting)", labels=["bank"])
    heard = GaugeMetricFamily("ykt_bank_last_message_applied_timestamp_seconds",
                              "Bank to platform: when the platform last applied a message of the "
                              "bank (Unix time; 0: never)", labels=["bank"])
    for bank in banks:
        count, oldest = waiting.get(bank, (0, None))
        undelivered.add_metric([bank], count)
        lag.add_metric([bank], _seconds_since(now, oldest))
        # The newest row of the bank by the primary key: one index probe per bank.
        last = uow.session.execute(
            select(BankEventRecord.received_at).where(BankEventRecord.bank_code == bank)
            .order_by(BankEventRecord.id.desc()).limit(1)).scalar()
        heard.add_metric([bank], _timestamp(last))
    return [undelivered, lag, heard]


def clearing_progress(uow) -> list:
    """The clearing files of the current Beijing day (received or sent) and their records, the
    newest file's time, and the records of other issuers' cards awaiting the national house."""
    from yikatong.centre.service import day_start
    from yikatong.clearing.models import ClearedRecord, ClearingBatch, RecordStatus

    today = local_date(uow.now())
    start, end = day_start(today), day_start(today + timedelta(days=1))
    files = GaugeMetricFamily("ykt_clearing_files_today", "Clearing files received or sent "
                              "since Beijing midnight, by kind and direction", labels=["kind", "direction"])
    records = GaugeMetricFamily("ykt_clearing_records_today", "Records in those files",
                                labels=["kind", "direction"])
    for kind, direction, count, total in uow.session.execute(
            select(ClearingBatch.kind, ClearingBatch.direction, func.count(),
                   func.coalesce(func.sum(ClearingBatch.record_count), 0))
            .where(ClearingBatch.received_at >= start, ClearingBatch.received_at < end)
            .group_by(ClearingBatch.kind, ClearingBatch.direction)):
        files.add_metric([kind, direction], count)
        records.add_metric([kind, direction], int(total))
    newest = uow.session.execute(select(func.max(ClearingBatch.received_at))).scalar()
    last = GaugeMetricFamily("ykt_clearing_last_file_timestamp_seconds",
                             "When the newest clearing file was received or sent (Unix time; 0: never)")
    last.add_metric([], _timestamp(newest))
    awaiting = uow.session.execute(
        select(func.count()).select_from(ClearedRecord)
        .where(ClearedRecord.status == RecordStatus.PENDING_NATIONAL)).scalar()
    house = GaugeMetricFamily("ykt_clearing_records_awaiting_house",
                              "Other issuers' records waiting for the national clearing house's verdict")
    house.add_metric([], awaiting)
    return [files, records, last, house]
