"""Bulk writes and reads of record rows, straight through the driver.

A batch can hold a million records; the ORM would spend most of the time building objects, so
rows go to the driver directly, on the connection of the caller's unit of work: tuples through
`executemany` on SQLite; on PostgreSQL a polars frame, its columns derived in bulk and written
as COPY text (a million `write_row` calls would cost the client more than the server).
Duplicates are left to the unique index (`INSERT OR IGNORE` / `ON CONFLICT DO NOTHING`): what
was not inserted was a duplicate. The benchmark's bare load uses the same rows and statements. `Reader` reads a whole day back as
plain tuples for the daily review.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date
from functools import lru_cache
from typing import Any

import polars as pl
import psycopg
from sqlalchemy import Connection, Engine

from yikatong.clearing.fileformat import (
    LOAD_TYPES,
    OFFLINE,
    ONLINE,
    BatchRecord,
    card_datetime,
    frame_of,
)
from yikatong.clearing.models import RecordStatus
from yikatong.core.killpoints import killpoint

TABLE = "clearing_records"
# A prepared row (a tuple on SQLite, a frame's row on PostgreSQL): the record line's own fields
# in BatchRecord order, what clearing adds, then whether the row settles (a cleared purchase). The file's batch id goes in at insert time, as
# `settled_by` (of the rows that settle) and `batch_id`: rows can be prepared before the write
# transaction, whose id is not known yet. national_file and national_seq start NULL.
ROW_COLUMNS = (*BatchRecord._fields, "own_card", "counter_kind", "occurred_at", "tx_date", "status")
STORED_COLUMNS = (*ROW_COLUMNS, "settled_by", "batch_id")
_STAGING = "clearing_incoming"
_COPY_SLICE = 20_000  # rows of COPY text written at a time
# What prepare_rows gives and the inserts take: tuples for executemany (SQLite), a frame (PostgreSQL).
Prepared = list[tuple] | pl.DataFrame
_TX_TYPE, _CARD_TIME = BatchRecord._fields.index("tx_type"), BatchRecord._fields.index("card_time")


@lru_cache(maxsize=200_000)
def _sqlite_times(card_time: str) -> tuple[str, str]:
    """(occurred_at as SQLAlchemy stores a UTC datetime on SQLite, tx_date) of a card time."""
    m = card_datetime(card_time).astimezone(UTC)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d} {m.hour:02d}:{m.minute:02d}:{m.second:02d}.000000",
            f"{card_time[:4]}-{card_time[4:6]}-{card_time[6:8]}")


def prepare_rows(dialect: str, records: Sequence[BatchRecord], indexes: Iterable[int], own: Sequence[bool],
                 status: Sequence[str] | str, frame: pl.DataFrame | None = None) -> Prepared:
    """The prepared rows (ROW_COLUMNS + settles) of records[i] for i in indexes: tuples on
    SQLite, a frame on PostgreSQL (what `insert_live` and `insert_plain` take), started from
    the records' own `frame` when the file was read into one. `status` is one for all, or one
    per record."""
    if dialect == "sqlite":
        return _sqlite_rows(records, indexes, own, status)
    return _postgres_frame(records, list(indexes), own, status, frame)


def _sqlite_rows(records: Sequence[BatchRecord], indexes: Iterable[int], own: Sequence[bool],
                 status: Sequence[str] | str) -> list[tuple]:
    """One tight loop (a file can hold a million), times as SQLAlchemy stores them on SQLite
    (booleans go as they are: sqlite3 stores True as 1)."""
    rows = []
    append = rows.append
    for i in indexes:
        r = records[i]
        occurred_at, tx_date = _sqlite_times(r[_CARD_TIME])
        state = status if isinstance(status, str) else status[i]
        if r[_TX_TYPE] in LOAD_TYPES:
            append(r + (own[i], ONLINE, occurred_at, tx_date, state, False))
        else:
            append(r + (own[i], OFFLINE, occurred_at, tx_date, state, state == RecordStatus.CLEARED))
    return rows


_FREE_TEXT = ("line", "station", "region")  # the record fields the format lets hold any character but | CR LF


def _postgres_frame(records: Sequence[BatchRecord], chosen: list[int], own: Sequence[bool],
                    status: Sequence[str] | str, frame: pl.DataFrame | None) -> pl.DataFrame:
    """The chosen rows of the file's frame (or of a frame made from the records), with what
    clearing adds derived a column at a time."""
    frame = frame_of([records[i] for i in chosen]) if frame is None else frame.select(pl.all().gather(chosen))
    card_time = pl.col("card_time").str
    status_column = pl.lit(status) if isinstance(status, str) else pl.Series([status[i] for i in chosen], dtype=pl.String)
    load = pl.col("tx_type").is_in(list(LOAD_TYPES))
    day = pl.concat_str(card_time.slice(0, 4), pl.lit("-"), card_time.slice(4, 2), pl.lit("-"), card_time.slice(6, 2))
    return frame.with_columns(
        # COPY's text format: a backslash or a tab (the format allows them in these) is escaped
        *(pl.col(name).str.replace_all("\\", "\\\\", literal=True).str.replace_all("\t", "\\t", literal=True)
          for name in _FREE_TEXT),
        own_card=pl.Series([own[i] for i in chosen], dtype=pl.Boolean),
        counter_kind=pl.when(load).then(pl.lit(ONLINE)).otherwise(pl.lit(OFFLINE)),
        # the card's time is China Standard Time: given with its offset, PostgreSQL converts
        occurred_at=pl.concat_str(day, pl.lit(" "), card_time.slice(8, 2), pl.lit(":"), card_time.slice(10, 2),
                                  pl.lit(":"), card_time.slice(12, 2), pl.lit("+08")),
        tx_date=day,
        status=status_column,
    ).with_columns(settles=~load & (pl.col("status") == RecordStatus.CLEARED))


class Reader:
    """Plain tuples straight from the driver, for the reads of a whole day (a day can be
    millions): on a unit of work's connection (`of`), or on a connection of its own in a forked
    worker (`snapshot`). SQL is written with `?` placeholders."""

    def __init__(self, driver_connection: Any, dialect: str) -> None:
        self.driver, self.sqlite = driver_connection, dialect == "sqlite"

    @classmethod
    def of(cls, connection: Connection) -> Reader:
        return cls(connection.connection.driver_connection, connection.dialect.name)

    @classmethod
    @contextmanager
    def snapshot(cls, engine: Engine) -> Iterator[Reader]:
        """A reader on a new connection, in one read-only transaction (a deferred BEGIN on
        SQLite: the engine's own transactions begin IMMEDIATE, a writer's lock)."""
        raw = engine.raw_connection()
        try:
            if engine.dialect.name == "sqlite":
                raw.driver_connection.execute("BEGIN")
            else:
                raw.driver_connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield cls(raw.driver_connection, engine.dialect.name)
        finally:
            raw.rollback()
            raw.close()

    def fetch(self, sql: str, params: tuple = ()) -> list[tuple]:
        cursor = self.driver.cursor()
        try:
            cursor.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def day(self, day: date):
        """A date as this driver compares it with a Date column."""
        return day.isoformat() if self.sqlite else day

    def share_of_cards(self, share: int, shares: int) -> str:
        """An `AND` condition that keeps share `share` of `shares` of the cards, split by the
        last two characters of their ASN ("" for one share)."""
        if shares <= 1:
            return ""
        last_two = ("unicode(substr(asn, -1)) + 3 * unicode(substr(asn, -2, 1))" if self.sqlite
                    else "ascii(right(asn, 1)) + 3 * ascii(left(right(asn, 2), 1))")
        modulo = "%" if self.sqlite else "%%"  # psycopg reads a lone % as a placeholder
        return f" AND ({last_two}) {modulo} {int(shares)} = {int(share)}"

    def taps_before(self, columns: Sequence[str], below: dict[str, int], depth: int) -> dict[str, list[tuple]]:
        """Per card (ASN → an offline counter), its last `depth` live taps with a lower offline
        counter, newest first: a backward range of the unique (card, kind, counter) index."""
        live_taps = f"counter_kind = '{OFFLINE}' AND status <> 'rejected' AND mode <> ''"
        if self.sqlite:
            return self._each_card(f"SELECT {', '.join(columns)} FROM {TABLE} WHERE asn = ? AND counter < ? AND "
                                   f"{live_taps} ORDER BY counter DESC LIMIT {int(depth)}", below)
        return self._lateral(f"SELECT h.* FROM unnest(%s::text[], %s::bigint[]) AS c(card, below) CROSS JOIN "
                             f"LATERAL (SELECT {', '.join(columns)} FROM {TABLE} WHERE asn = c.card AND "
                             f"counter < c.below AND {live_taps} ORDER BY counter DESC LIMIT {int(depth)}) AS h",
                             below, asn_at=list(columns).index("asn"))

    def _each_card(self, sql: str, below: dict[str, int]) -> dict[str, list[tuple]]:
        """One indexed query per card: in-process SQLite answers each in microseconds."""
        found = {}
        cursor = self.driver.cursor()
        try:
            for asn, counter in below.items():
                if rows := cursor.execute(sql, (asn, counter)).fetchall():
                    found[asn] = rows
        finally:
            cursor.close()
        return found

    def _lateral(self, sql: str, below: dict[str, int], asn_at: int) -> dict[str, list[tuple]]:
        """One query per 5,000 cards (a round trip per card would cost more than the reads)."""
        found: dict[str, list[tuple]] = {}
        cards = list(below.items())
        with self.driver.cursor() as cursor:
            for start in range(0, len(cards), 5_000):
                chunk = cards[start:start + 5_000]
                cursor.execute(sql, ([asn for asn, _ in chunk], [counter for _, counter in chunk]))
                for row in cursor.fetchall():
                    found.setdefault(row[asn_at], []).append(row)
        return found


def insert_live(connection: Connection, rows: Prepared, *, batch_id: int) -> set[int] | None:
    """Insert prepared rows that the card-counter unique index may refuse; returns the sequence
    numbers of the rows it refused (already cleared), or None when every row went in."""
    if len(rows) == 0:
        return None
    if connection.dialect.name == "sqlite":
        return _sqlite_insert(connection, rows, batch_id)
    return _postgres_insert(connection, rows, batch_id)


def insert_plain(connection: Connection, rows: Prepared, *, batch_id: int, table: str = TABLE) -> None:
    """Insert prepared rows no unique index can refuse (rejected rows), or load a bare table."""
    if len(rows) == 0:
        return
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.driver_connection.cursor()
        cursor.executemany(_insert_sql(table, "INSERT", batch_id), rows)
        return
    _copy(connection.connection.driver_connection, table, rows, batch_id)


def _insert_sql(table: str, verb: str, batch_id: int) -> str:
    """The batch id is written into the statement (an integer of ours, not input)."""
    batch = int(batch_id)
    return (f"{verb} INTO {table} ({', '.join(STORED_COLUMNS)}) VALUES ({'?, ' * len(ROW_COLUMNS)}"
            f"CASE WHEN ? THEN {batch} END, {batch})")


def _copy(driver_connection, table: str, frame: pl.DataFrame, batch_id: int) -> None:
    """COPY text written by polars a slice at a time (the server reads one while the next is
    written); NULL is \\N, booleans true/false."""
    batch = pl.lit(int(batch_id), dtype=pl.Int64)
    stored = frame.with_columns(settled_by=pl.when(pl.col("settles")).then(batch), batch_id=batch).select(STORED_COLUMNS)
    with driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({', '.join(STORED_COLUMNS)}) FROM STDIN") as copy:
        for chunk in stored.iter_slices(_COPY_SLICE):
            copy.write(chunk.write_csv(include_header=False, separator="\t", quote_style="never", null_value="\\N"))
            killpoint("clearing.copy.slice")  # mid-COPY: the server holds part of the file


def _sqlite_insert(connection: Connection, rows: Sequence[tuple], batch_id: int) -> set[int] | None:
    cursor = connection.connection.driver_connection.cursor()
    cursor.executemany(_insert_sql(TABLE, "INSERT OR IGNORE", batch_id), rows)
    if cursor.rowcount == len(rows):  # sqlite3 sums the rows executemany changed
        return None
    cursor.execute(f"SELECT seq FROM {TABLE} WHERE batch_id = ? AND status <> 'rejected'", (batch_id,))
    inserted = {seq for (seq,) in cursor.fetchall()}
    return {row[0] for row in rows} - inserted


def _postgres_insert(connection: Connection, rows: pl.DataFrame, batch_id: int) -> set[int] | None:
    """COPY straight into the table under a savepoint: a file that repeats no earlier record
    (nearly every file) costs what a bare COPY costs. Only when the unique index refuses a row
    does the file go again through a staging table and `ON CONFLICT DO NOTHING`."""
    driver = connection.connection.driver_connection
    try:
        with driver.transaction():  # inside the unit of work's transaction: a savepoint
            _copy(driver, TABLE, rows, batch_id)
        return None
    except psycopg.errors.UniqueViolation:
        pass
    columns = ", ".join(STORED_COLUMNS)
    with driver.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {_STAGING} AS SELECT {columns} FROM {TABLE} WITH NO DATA")
    _copy(driver, _STAGING, rows, batch_id)
    with driver.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {_STAGING} ORDER BY seq "
                       "ON CONFLICT DO NOTHING")
        complete = cursor.rowcount == len(rows)  # the usual case: no need to return every seq
        cursor.execute(f"DROP TABLE {_STAGING}")
        if complete:
            return None
        cursor.execute(f"SELECT seq FROM {TABLE} WHERE batch_id = %s AND status <> 'rejected'", (batch_id,))
        inserted = {seq for (seq,) in cursor.fetchall()}
    return set(rows["seq"].to_list()) - inserted
