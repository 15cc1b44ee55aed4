"""Time partitions of the tables that only grow (PostgreSQL declarative partitioning).

`clearing_records` (by `tx_date`), `outbox_events` (by `occurred_at`) and `audit_records` (by
`at`) are partitioned by month on PostgreSQL: one partition per month of China Standard Time
(`<table>_pYYYYMM`) and a DEFAULT partition (`<table>_pdefault`) for rows of a month without
its own (a card clock years off, rows older than the conversion). Old months are detached,
archived and dropped whole (db.archive) instead of deleted row by row. SQLite keeps plain
tables: nothing here runs there.

The models declare the plain tables (SQLite's truth, and what `create_all` builds first); on
PostgreSQL `partition_table` turns the plain table into a partitioned one with the same name,
columns, defaults, checks, indexes and triggers, moving any rows. It runs after `create_all`
creates the table (a DDL event, `attach_events`) and in revision 0030 for databases that hold
data. A partitioned table's primary key and unique constraints must include the partition key,
so each gets it appended:

| table | declared (SQLite) | on PostgreSQL | what keeps the rule |
|---|---|---|---|
| clearing_records | PK (batch_id, seq); unique (asn, counter_kind, counter) where live | + tx_date | a repeat of a record line has the same card time, so the same tx_date: the duplicate rule holds for every real repeat (docs/production.md) |
| outbox_events | PK seq; unique event_id | + occurred_at | seq comes from one sequence and event_id is a fresh UUID4 |
| audit_records | PK id; unique (entity_type, entity_id, seq) | + at | the plain table audit_record_keys, whose primary key is (entity_type, entity_id, seq), written with each record (UnitOfWork.audit): two writers of one seq collide as before |

`UNIQUE_WITH_KEY` names them; `db.migrate.pending_differences` expects exactly those
differences on PostgreSQL and no others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Table, event, text

MONTH_BOUND_ZONE = "+08"  # partitions are months of China Standard Time (business dates)


@dataclass(frozen=True)
class Partitioned:
    table: str
    key: str  # the partition key column
    key_is_date: bool  # a DATE column (else TIMESTAMP WITH TIME ZONE)

    def partition(self, month: date) -> str:
        return f"{self.table}_p{month:%Y%m}"

    @property
    def default(self) -> str:
        return f"{self.table}_pdefault"

    def bound(self, month: date) -> str:
        return f"'{month:%Y-%m-%d}'" if self.key_is_date else f"'{month:%Y-%m-%d} 00:00:00{MONTH_BOUND_ZONE}'"


PARTITIONED = (
    Partitioned("clearing_records", "tx_date", key_is_date=True),
    Partitioned("outbox_events", "occurred_at", key_is_date=False),
    Partitioned("audit_records", "at", key_is_date=False),
)
BY_TABLE = {spec.table: spec for spec in PARTITIONED}

# Unique constraints and indexes that get the partition key appended on PostgreSQL.
UNIQUE_WITH_KEY = {
    "clearing_records": ("pk_clearing_records", "ux_clearing_records_card_counter"),
    "outbox_events": ("pk_outbox_events", "uq_outbox_events_event_id"),
    "audit_records": ("pk_audit_records", "uq_audit_records_entity_type_entity_id_seq"),
}


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def is_partitioned(connection: Connection, table: str) -> bool:
    return bool(connection.execute(text(
        "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = :t AND pg_table_is_visible(c.oid)"), {"t": table}).scalar_one())


def _with_key(columns_sql: str, key: str) -> str:
    """'(a, b)' -> '(a, b, key)' for the first parenthesised column list of a definition."""
    return re.sub(r"\(([^()]*)\)", lambda m: f"({m.group(1)}, {key})", columns_sql, count=1)


def partition_table(connection: Connection, spec: Partitioned, *, months: list[date] | None = None) -> None:
    """Turn the plain table `spec.table` into a table partitioned by month on `spec.key`, with
    its rows (a partition for each month they fall in, plus `months`). Same name, columns,
    defaults, checks, indexes and triggers; unique ones get the key appended. Refuses a table
    another table's foreign key references (a partitioned table's unique keys include the
    partition key, so such a key could no longer point at it). PostgreSQL only."""
    table, key = spec.table, spec.key
    if is_partitioned(connection, table):
        return
    regclass = {"t": table}
    referencing = connection.execute(text(
        "SELECT conname FROM pg_constraint WHERE confrelid = CAST(:t AS regclass) AND contype = 'f'"),
        regclass).scalars().all()
    if referencing:
        raise RuntimeError(f"{table} is referenced by foreign keys {referencing}: drop them first")
    constraints = connection.execute(text(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u') ORDER BY contype, conname"),
        regclass).all()
    indexes = connection.execute(text(
        "SELECT i.relname, pg_get_indexdef(i.oid), x.indisunique FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 1"),
        regclass).all()
    triggers = connection.execute(text(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
        "AND NOT tgisinternal ORDER BY tgname"), regclass).scalars().all()
    sequences = connection.execute(text(
        "SELECT a.attname, pg_get_serial_sequence(:t, a.attname) FROM pg_attribute a "
        "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped "
        "AND pg_get_serial_sequence(:t, a.attname) IS NOT NULL"), regclass).all()
    in_rows = connection.execute(text(
        f"SELECT DISTINCT date_trunc('month', {_local(spec)})::date FROM {table} WHERE {key} IS NOT NULL"
    )).scalars().all()

    old = f"{table}__unpartitioned"
    connection.execute(text(f"ALTER TABLE {table} RENAME TO {old}"))
    connection.execute(text(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE "
        f"INCLUDING COMMENTS) PARTITION BY RANGE ({key})"))
    connection.execute(text(f"CREATE TABLE {spec.default} PARTITION OF {table} DEFAULT"))
    for month in sorted(set(in_rows) | set(months or [])):
        _create_month(connection, spec, month)
    connection.execute(text(f"INSERT INTO {table} SELECT * FROM {old}"))
    for column, sequence in sequences:
        connection.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column}"))
    connection.execute(text(f"DROP TABLE {old}"))
    for name, _kind, definition in constraints:
        connection.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {_with_key(definition, key)}"))
    for _name, definition, unique in indexes:
        connection.execute(text(_with_key(definition, key) if unique else definition))
    for definition in triggers:
        connection.execute(text(definition))


def _local(spec: Partitioned) -> str:
    """The key as a local (China Standard Time) date or timestamp, for month arithmetic."""
    return spec.key if spec.key_is_date else f"({spec.key} AT TIME ZONE 'Asia/Shanghai')"


def _create_month(connection: Connection, spec: Partitioned, month: date) -> None:
    connection.execute(text(
        f"CREATE TABLE {spec.partition(month)} PARTITION OF {spec.table} "
        f"FOR VALUES FROM ({spec.bound(month)}) TO ({spec.bound(next_month(month))})"))


@dataclass(frozen=True)
class MonthPartition:
    name: str
    month: date


def month_partitions(connection: Connection, spec: Partitioned) -> list[MonthPartition]:
    """The table's monthly partitions attached now, oldest first (the DEFAULT one left out)."""
    names = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:t AS regclass) ORDER BY 1"), {"t": spec.table}).scalars().all()
    found = []
    for name in names:
        matched = re.fullmatch(rf"{spec.table}_p(\d{{4}})(\d{{2}})", name)
        if matched:
            found.append(MonthPartition(name, date(int(matched.group(1)), int(matched.group(2)), 1)))
    return found


def ensure_months(connection: Connection, spec: Partitioned, first: date, last: date) -> list[str]:
    """Create the monthly partitions from `first`'s month to `last`'s that are missing (the
    maintenance job: this month and the next ones, before their rows arrive). A month some of
    whose rows already sit in the DEFAULT partition is left there (creating it would have to
    move them under a lock): the names of the partitions created."""
    have = {p.month for p in month_partitions(connection, spec)}
    created = []
    month = month_of(first)
    while month <= month_of(last):
        if month not in have and not connection.execute(text(
                f"SELECT EXISTS (SELECT 1 FROM {spec.default} WHERE {spec.key} >= {spec.bound(month)} "
                f"AND {spec.key} < {spec.bound(next_month(month))})")).scalar_one():
            _create_month(connection, spec, month)
            created.append(spec.partition(month))
        month = next_month(month)
    return created


def attach_events(table: Table) -> None:
    """After `create_all` creates the plain table on PostgreSQL, partition it."""
    spec = BY_TABLE[table.name]

    def partition(target, connection, **_kw) -> None:
        if connection.dialect.name == "postgresql":
            partition_table(connection, spec)

    event.listen(table, "after_create", partition)
