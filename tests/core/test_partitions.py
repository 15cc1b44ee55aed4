"""Time partitions (db.partitioning) and the archiving of old months (db.archive): on
PostgreSQL the three tables are partitioned by month, a month past its retention is archived
to a gzip COPY file with its SM3 and dropped only when nothing in it is still needed, and
`ykt audit verify` starts from the checkpoint of the last archived month of the trail; a
chain whose records are all archived goes on from its signed head. SQLite keeps plain tables."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, insert, select, text
from tests.audit.helpers import write
from tests.conftest import ON_POSTGRES
from typer.testing import CliRunner

from yikatong.audit import service
from yikatong.audit.jobs import take_checkpoint
from yikatong.audit.models import AuditRecord
from yikatong.clearing.models import ClearedRecord
from yikatong.cli import context
from yikatong.cli.main import app
from yikatong.crypto.protocols import KeyStore
from yikatong.db import archive, partitioning
from yikatong.db.backup import checksums
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.models import OutboxEvent

pytestmark = pytest.mark.db


def kept_for(months: int) -> archive.Retention:
    retention = archive.load_retention()
    return retention.model_copy(update={
        table: getattr(retention, table).model_copy(update={"months": months})
        for table in ("clearing_records", "outbox_events", "audit_records")})


def clearing_row(batch_id: int, seq: int, day: date) -> dict:
    strings = {c.name: "0" for c in ClearedRecord.__table__.columns if c.type.python_type is str}
    numbers = {c.name: 0 for c in ClearedRecord.__table__.columns if c.type.python_type is int}
    return {**strings, **numbers, "batch_id": batch_id, "seq": seq, "asn": f"{seq:020d}", "own_card": True,
            "counter_kind": "offline", "counter": seq, "card_time": f"{day:%Y%m%d}093000",
            "occurred_at": datetime(day.year, day.month, day.day, 1, 30, tzinfo=UTC), "tx_date": day,
            "recovered": False, "status": "cleared", "settled_by": None, "national_file": None,
            "national_seq": None}


def emit(platform, aggregate_id: str) -> None:
    with platform.uow() as uow:
        uow.emit("test.happened", aggregate_type="test", aggregate_id=aggregate_id, payload={})
        uow.commit()


@pytest.mark.skipif(not ON_POSTGRES, reason="partitions are PostgreSQL's; the SQLite test is below")
def test_old_months_are_archived_and_the_trail_verifies_from_the_archived_checkpoint(
        platform, clock, tmp_path, monkeypatch):
    with platform.engine.begin() as connection:
        for spec in partitioning.PARTITIONED:
            assert partitioning.is_partitioned(connection, spec.table)
            partitioning.ensure_months(connection, spec, date(2026, 1, 1), date(2026, 4, 1))
    clock.set(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))
    write(platform, "JAN-ONLY", "issued", "active")
    write(platform, "BOTH", "issued")
    emit(platform, "jan")
    with platform.engine.begin() as connection:  # as if the broker had been away since
        connection.execute(text("UPDATE outbox_events SET published_at = NULL"))
        connection.execute(insert(ClearedRecord), [clearing_row(1, n, date(2026, 1, 9)) for n in (1, 2)])

    clock.set(datetime(2026, 3, 20, 2, 0, tzinfo=UTC))  # keeping 1 month: January is past it
    directory = tmp_path / "archive"
    kept = archive.archive_old_months(platform, directory=directory, retention=kept_for(1))
    reasons = {outcome.table: outcome.reason for outcome in kept if not outcome.archived}
    assert "no signed checkpoint" in reasons["audit_records"]
    assert "not yet published" in reasons["outbox_events"]
    assert [o.table for o in kept if o.archived] == ["clearing_records"]  # nothing holds it back

    clock.set(datetime(2026, 2, 5, 2, 0, tzinfo=UTC))
    first = take_checkpoint(platform)  # vouches for January's records
    write(platform, "BOTH", "active")
    dispatch_pending(platform)
    clock.set(datetime(2026, 3, 20, 2, 0, tzinfo=UTC))
    done = [o for o in archive.archive_old_months(platform, directory=directory, retention=kept_for(1))
            if o.archived]
    assert [(o.table, o.partition) for o in done] == [
        ("outbox_events", "outbox_events_p202601"), ("audit_records", "audit_records_p202601")]
    assert done[1].audit_checkpoint == first.seq and done[1].rows == 3

    for outcome in done:
        manifest = json.loads((directory / f"{outcome.partition}.json").read_text())
        size, sha256, sm3 = checksums(directory / f"{outcome.partition}.copy.gz")
        assert (manifest["size"], manifest["sha256"], manifest["sm3"]) == (size, sha256, sm3) == \
            (size, sha256, outcome.sm3)
        with gzip.open(directory / f"{outcome.partition}.copy.gz", "rt") as rows:
            assert len(rows.read().splitlines()) == manifest["rows"] == outcome.rows
    with platform.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.entity_type != "partition_archive")).scalar_one() == 1  # BOTH's February one
        assert uow.session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0
        names = set(uow.session.execute(text("SELECT relname FROM pg_class WHERE relname LIKE '%_p2026%'")).scalars())
        assert not {"audit_records_p202601", "outbox_events_p202601", "clearing_records_p202601"} & names
        # from each chain's first record, the archived ones are missing; from the archive, intact
        assert not service.verify_trail(uow=uow, keys=platform.get(KeyStore)).ok
        assert service.archived_checkpoint(uow=uow) == first.seq

    # a chain whose records are all archived goes on from the head its checkpoint signed
    write(platform, "JAN-ONLY", "blocked")
    with platform.uow() as uow:
        record = uow.session.execute(select(AuditRecord).where(AuditRecord.entity_id == "JAN-ONLY")).scalar_one()
        assert record.seq == 3
    take_checkpoint(platform)
    monkeypatch.setenv("YKT_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("YKT_KEY_STORE", platform.settings.key_store_path)
    context.platform.cache_clear()
    try:
        verified = CliRunner().invoke(app, ["audit", "verify"], catch_exceptions=False)
    finally:
        context.platform.cache_clear()
    assert verified.exit_code == 0, verified.output
    assert f"from checkpoint {first.seq}" in " ".join(verified.output.split())


@pytest.mark.skipif(not ON_POSTGRES, reason="partitions are PostgreSQL's")
def test_one_archiver_at_a_time_the_job_leaves_the_month_to_the_cli_archiving_it(
        platform, clock, tmp_path, monkeypatch):
    import dataclasses

    from yikatong.db import jobs
    from yikatong.db.errors import ArchivingInProgress
    from yikatong.db.exclusive import exclusively

    with platform.engine.begin() as connection:
        partitioning.ensure_months(connection, partitioning.PARTITIONED[0], date(2026, 1, 1),
                                   date(2026, 4, 1))
        connection.execute(insert(ClearedRecord), [clearing_row(1, 1, date(2026, 1, 9))])
    clock.set(datetime(2026, 3, 20, 2, 0, tzinfo=UTC))
    monkeypatch.setattr(platform, "settings", dataclasses.replace(
        platform.settings, archive_dir=str(tmp_path / "archive")))  # the job's folder
    with exclusively(platform.engine, "db.archive", busy=RuntimeError("held")):  # `ykt db archive`
        with pytest.raises(ArchivingInProgress):
            archive.archive_old_months(platform, directory=tmp_path / "archive",
                                       retention=kept_for(1))
        assert jobs.archive_old_months(platform) == 0
        with platform.engine.connect() as connection:  # January untouched: still a partition
            assert connection.execute(text(
                "SELECT relispartition FROM pg_class WHERE relname = 'clearing_records_p202601'")).scalar()
    assert not (tmp_path / "archive").exists() or not any((tmp_path / "archive").iterdir())
    done = archive.archive_old_months(platform, directory=tmp_path / "archive", retention=kept_for(1))
    assert ("clearing_records", "clearing_records_p202601", True) in [
        (o.table, o.partition, o.archived) for o in done]


@pytest.mark.skipif(not ON_POSTGRES, reason="partitions are PostgreSQL's")
def test_the_coming_months_are_made_a_table_at_a_time_and_a_busy_table_waits_for_next_time(
        platform, clock, monkeypatch):
    """Each table's months in a transaction of their own, so the job holds one table's lock at
    a time: all of them in one transaction deadlocked with a request writing an outbox event
    and its audit record (tests/banking/test_broker_faults.py on PostgreSQL). A table another
    transaction holds is left for the next run after the lock timeout, the others made."""
    from yikatong.db import jobs

    clock.set(datetime(2031, 5, 10, 2, 0, tzinfo=UTC))  # months nobody has made yet
    monkeypatch.setattr(jobs, "LOCK_TIMEOUT", "200ms")
    with platform.engine.connect() as holder:
        holder.execute(text("LOCK TABLE outbox_events IN ACCESS SHARE MODE"))  # a long reader
        assert jobs.make_coming_months(platform) == 6  # 3 months of the two other tables
        holder.rollback()
    with platform.engine.connect() as connection:
        made = {p.name for spec in partitioning.PARTITIONED
                for p in partitioning.month_partitions(connection, spec) if p.month.year == 2031}
    assert "outbox_events_p203105" not in made and "audit_records_p203107" in made
    assert jobs.make_coming_months(platform) == 3  # the outbox's, now free


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only")
def test_sqlite_keeps_plain_tables_and_archives_nothing(platform, tmp_path):
    with platform.engine.connect() as connection:
        kinds = connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%\\_p%' ESCAPE '\\'")).scalars()
        assert [name for name in kinds if name.split("_p")[0] in partitioning.BY_TABLE] == []
    assert archive.archive_old_months(platform, directory=tmp_path / "archive") == []
    assert not (tmp_path / "archive").exists()


@pytest.mark.skipif(not ON_POSTGRES, reason="the key table is written on PostgreSQL only")
def test_two_writers_of_one_seq_still_collide_on_the_partitioned_trail(platform):
    """audit_records' unique key includes `at` on PostgreSQL; audit_record_keys keeps a seq
    of a chain to one writer: one that took seq 1 first (its key present) refuses the other."""
    from yikatong.audit.models import AuditRecordKey
    from yikatong.core.errors import ConcurrentChange

    with platform.uow() as uow:
        uow.session.add(AuditRecordKey(entity_type="card", entity_id="RACED", seq=1))
        uow.commit()
    with pytest.raises(ConcurrentChange):
        write(platform, "RACED", "issued")
    write(platform, "OTHER", "issued", "active")
    with platform.uow() as uow:
        assert set(uow.session.execute(select(AuditRecordKey.seq).where(
            AuditRecordKey.entity_id == "OTHER")).scalars()) == {1, 2}
