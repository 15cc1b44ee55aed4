"""Archiving old months of the time-partitioned tables (db.partitioning; PostgreSQL only).

A month older than its table's retention (`config/retention.toml`, data) is, in order:

1. checked and detached in one transaction that first locks the partition against writers:
   an outbox month only when every event in it is published and every webhook delivery of
   them made; an audit month only when a signed checkpoint's bound covers every record in it
   (the oldest such checkpoint is the archive's: `ykt audit verify` starts there);
2. copied out (`COPY … TO STDOUT`, PostgreSQL's text format) into `<partition>.copy.gz` in the
   archive directory, with `<partition>.json` beside it: table, month, columns, rows, the
   file's size, SHA-256 and SM3 (and for the audit trail the checkpoint's seq, bound and hash);
   the file is read back and its rows counted before anything is dropped;
3. dropped, in the transaction that records it in `partition_archives` with its audit record.

A crash between 1 and 3 leaves the detached month as a table of its own: the next run finds
it and carries on. Restoring a month: `CREATE TABLE … (LIKE <table>)`, `COPY … FROM` the
unzipped file, attach it (docs/production.md, "Time partitions and their archives").
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, text

from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.config_files import Sourced, Strict, validate_toml
from yikatong.core.errors import DomainError
from yikatong.core.progress import SILENT, Progress
from yikatong.db.backup import checksums
from yikatong.db.errors import ArchivingInProgress
from yikatong.db.exclusive import exclusively
from yikatong.db.models import PartitionArchive
from yikatong.db.partitioning import (
    PARTITIONED,
    MonthPartition,
    Partitioned,
    month_of,
    month_partitions,
)

RETENTION_FILE = Path(__file__).parent / "config" / "retention.toml"
ACTOR = Actor.system("db.archive")


class RetentionFileInvalid(DomainError):
    code = "retention_file_invalid"
    http_status = 500
    zh = "保留期配置 {origin} 有误：{problems}"
    en = "The retention file {origin} is invalid: {problems}"


class TableRetention(Sourced):
    months: int  # whole months kept in the database before the current one


class Retention(Strict):
    version: str
    status: str
    clearing_records: TableRetention
    outbox_events: TableRetention
    audit_records: TableRetention

    def months(self, table: str) -> int:
        return getattr(self, table).months


def load_retention(path: Path = RETENTION_FILE) -> Retention:
    retention = validate_toml(Retention, path.read_text(), origin=str(path), invalid=RetentionFileInvalid)
    for spec in PARTITIONED:
        if retention.months(spec.table) < 1:
            raise RetentionFileInvalid(origin=str(path), problems=f"{spec.table}.months: at least 1")
    return retention


@dataclass(frozen=True)
class Outcome:
    table: str
    partition: str
    month: date
    archived: bool
    rows: int = 0
    file: str = ""
    sm3: str = ""
    audit_checkpoint: int | None = None
    reason: str = ""  # why it was kept, when it was


def cutoff(now: datetime, months: int) -> date:
    """The first month kept: `months` whole months before the current one (China Standard Time)."""
    month = month_of(local_date(now))
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def archive_old_months(platform, *, directory: Path, retention: Retention | None = None,
                       progress: Progress = SILENT) -> list[Outcome]:
    """Archive every month older than its table's retention (oldest first; a table stops at
    the first month it must keep, so archives stay contiguous). Nothing on SQLite. One archiver
    at a time (the daily job, `ykt db archive`): two could copy the same detached month into
    the same file at once and drop it under each other."""
    if platform.engine.dialect.name != "postgresql":
        return []
    with exclusively(platform.engine, "db.archive", busy=ArchivingInProgress()):
        return _archive_old_months(platform, directory, retention or load_retention(), progress)


def _archive_old_months(platform, directory: Path, retention: Retention,
                        progress: Progress) -> list[Outcome]:
    directory.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for spec in PARTITIONED:
        first_kept = cutoff(platform.clock.now(), retention.months(spec.table))
        with platform.engine.connect() as connection:
            due = _leftovers(connection, spec) + [p for p in month_partitions(connection, spec) if p.month < first_kept]
        for partition in due:
            outcome = archive_month(platform, spec, partition, directory=directory, progress=progress)
            outcomes.append(outcome)
            if not outcome.archived:
                break
    return outcomes


def _leftovers(connection: Connection, spec: Partitioned) -> list[MonthPartition]:
    """Months detached by a run that did not finish (tables of the partitions' names that are
    no partition and not yet recorded as archived)."""
    names = connection.execute(text(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ :pattern "
        "AND NOT c.relispartition AND pg_table_is_visible(c.oid) AND c.relname NOT IN "
        "(SELECT partition_name FROM partition_archives) ORDER BY 1"),
        {"pattern": f"^{spec.table}_p[0-9]{{6}}$"}).scalars().all()
    return [MonthPartition(name, date(int(name[-6:-2]), int(name[-2:]), 1)) for name in names]


def archive_month(platform, spec: Partitioned, partition: MonthPartition, *, directory: Path,
                  progress: Progress = SILENT) -> Outcome:
    """Detach, copy out, check and drop one month (see the module's docstring)."""
    engine = platform.engine
    with engine.begin() as connection:
        attached = bool(connection.execute(text(
            "SELECT relispartition FROM pg_class WHERE relname = :p AND pg_table_is_visible(oid)"),
            {"p": partition.name}).scalar())
        if attached:  # writers of this month wait until the detach commits
            connection.execute(text(f"LOCK TABLE {partition.name} IN SHARE MODE"))
        reason = _why_kept(connection, spec, partition.name)
        if reason:
            return Outcome(spec.table, partition.name, partition.month, archived=False, reason=reason)
        checkpoint = _covering_checkpoint(connection, partition.name) if spec.table == "audit_records" else None
        if attached:
            connection.execute(text(f"ALTER TABLE {spec.table} DETACH PARTITION {partition.name}"))
    file = directory / f"{partition.name}.copy.gz"
    rows = _copy_out(engine, partition.name, file, progress)
    size, sha256, sm3 = checksums(file, progress)
    with gzip.open(file, "rb") as written:
        if sum(1 for _ in written) != rows:
            raise RuntimeError(f"{file}: the archive does not hold the {rows} rows copied")
    with engine.connect() as connection:
        columns = connection.execute(text(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = CAST(:p AS regclass) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"),
            {"p": partition.name}).all()
        if connection.execute(text(f"SELECT count(*) FROM {partition.name}")).scalar_one() != rows:
            raise RuntimeError(f"{partition.name} changed while it was copied out")
    manifest = {
        "table": spec.table, "partition": partition.name, "month": partition.month.isoformat(),
        "partition_key": spec.key, "columns": [list(c) for c in columns], "format": "PostgreSQL COPY text, gzip",
        "rows": rows, "size": size, "sha256": sha256, "sm3": sm3,
        "audit_checkpoint": checkpoint, "archived_at": platform.clock.now().isoformat(),
    }
    (directory / f"{partition.name}.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    with platform.uow() as uow:
        archive = PartitionArchive(
            table_name=spec.table, partition_name=partition.name, month=partition.month, rows=rows,
            file=str(file), size=size, sm3=sm3, audit_checkpoint=checkpoint["seq"] if checkpoint else None,
            archived_at=uow.now())
        uow.session.add(archive)
        if spec.table == "audit_records":  # their seqs are behind their chains' heads for good
            uow.session.execute(text(
                f"DELETE FROM audit_record_keys k USING {partition.name} r WHERE k.entity_type = r.entity_type "
                "AND k.entity_id = r.entity_id AND k.seq = r.seq"))
        uow.session.execute(text(f"DROP TABLE {partition.name}"))
        uow.audit(actor=ACTOR, action="db.partition_archived", entity_type="partition_archive",
                  entity_id=partition.name, after={"table": spec.table, "month": partition.month.isoformat(),
                                                   "rows": rows, "file": str(file), "sm3": sm3,
                                                   "audit_checkpoint": archive.audit_checkpoint})
        uow.commit()
    return Outcome(spec.table, partition.name, partition.month, archived=True, rows=rows, file=str(file),
                   sm3=sm3, audit_checkpoint=archive.audit_checkpoint)


def _why_kept(connection: Connection, spec: Partitioned, name: str) -> str:
    """Why this month must stay (empty: it may go)."""
    if spec.table == "outbox_events":
        if connection.execute(text(f"SELECT EXISTS (SELECT 1 FROM {name} WHERE published_at IS NULL)")).scalar_one():
            return "events not yet published / 有未发布的事件"
        if connection.execute(text(
                f"SELECT EXISTS (SELECT 1 FROM webhook_deliveries d JOIN {name} e ON e.seq = d.event_seq "
                "WHERE d.delivered_at IS NULL)")).scalar_one():
            return "webhook deliveries not yet made / 有未送达的推送"
    if spec.table == "audit_records" and _covering_checkpoint(connection, name) is None:
        return "no signed checkpoint covers its records yet / 尚无覆盖其记录的签名检查点"
    return ""


def _covering_checkpoint(connection: Connection, name: str) -> dict | None:
    """The oldest checkpoint whose bound covers every record of the partition (and every
    record archived before it), as the archive names it; None when there is none yet."""
    highest = connection.execute(text(f"SELECT max(id) FROM {name}")).scalar()
    earlier = connection.execute(text(
        "SELECT max(c.upto_record_id) FROM partition_archives a JOIN audit_checkpoints c "
        "ON c.seq = a.audit_checkpoint")).scalar()
    needed = max(highest or 0, earlier or 0)
    row = connection.execute(text(
        "SELECT seq, upto_record_id, hash FROM audit_checkpoints WHERE upto_record_id >= :n "
        "ORDER BY seq LIMIT 1"), {"n": needed}).first()
    return {"seq": row.seq, "upto_record_id": row.upto_record_id, "hash": row.hash} if row else None


def _copy_out(engine, name: str, file: Path, progress: Progress) -> int:
    rows = 0
    raw = engine.raw_connection()
    try:
        advance = progress.stage(f"COPY {name} (rows)", raw.driver_connection.execute(
            f"SELECT count(*) FROM {name}").fetchone()[0] or 1)
        with raw.driver_connection.cursor() as cursor, gzip.open(file, "wb") as target, \
                cursor.copy(f"COPY {name} TO STDOUT") as copy:
            for chunk in copy:
                target.write(chunk)
                lines = bytes(chunk).count(b"\n")
                rows += lines
                advance(lines)
        raw.driver_connection.commit()
    finally:
        raw.close()
    return rows


def archives(platform) -> list[PartitionArchive]:
    from sqlalchemy import select

    with platform.uow(read_only=True) as uow:
        return list(uow.session.execute(select(PartitionArchive).order_by(PartitionArchive.id)).scalars())
