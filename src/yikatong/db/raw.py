"""Plain DBAPI selects for the hottest reads: a Core select compiled once per dialect, run on
the connection's own DBAPI cursor, its rows converted by the same result processors.

Through SQLAlchemy a small select costs 0.03-0.04 ms of CPU (its cache key, an execution
context, a cursor result and its rows); on the raw sqlite3 cursor the same select costs
0.006 ms (bench/request_path.py). `RawSelect` keeps what SQLAlchemy decides (the SQL of the
dialect, the order of the parameters, each column's conversion from what the driver returns:
SQLite's text dates to `datetime`, its integers to `bool`) and skips the rest. It runs inside
the caller's transaction, on the same connection, so it sees what a Core select would.

For selects whose parameters need no conversion on the way in (strings and integers), read in
a unit of work's transaction (`uow.connection()`); a driver error comes as the driver's own
exception, not wrapped in SQLAlchemy's (the request fails as it would have, with a 500).

Several selects of one request can be answered by one statement (`answered`): a joined select
fetched first, whose rows are cut into the rows each `RawSelect` would have fetched with given
parameters; while the block runs, such a select with exactly those parameters answers them
instead of asking the database (on PostgreSQL a round trip each, the largest part of a hot
read's cost there). Any other select, or other parameters, goes to the database as before.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect

from yikatong.db.statement import ResultProcessors
from yikatong.db.statement import converted as _converted
from yikatong.db.uow import UnitOfWork


@dataclass(frozen=True)
class OneTrip:
    """A joined select standing for several `RawSelect`s of one read, with its parameters, and
    `cut(dialect, rows)`: what each of those selects would have fetched (for `answered`)."""

    select: RawSelect
    params: dict[str, Any]
    cut: Callable[[Dialect, list], dict]

    def answers(self, connection: Connection) -> dict:
        return self.cut(connection.dialect, self.select.rows(connection, self.params))

    async def answers_async(self, cursor, dialect: Dialect) -> dict:
        return self.cut(dialect, await self.select.rows_async(cursor, dialect, self.params))

    def answers_on_cursor(self, cursor, dialect: Dialect) -> dict:
        return self.cut(dialect, self.select.rows_on_cursor(cursor, dialect, self.params))


class NotAnswered(BaseException):
    """A read on `answered_only` asked the database for what `answered` did not hold. A
    BaseException, so that no `except Exception` of the read takes it for the read's refusal:
    the caller runs the whole read again on a connection."""


class _AnsweredOnlyConnection:
    """What an answered-only read gets as its connection: the dialect, and no database."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def __getattr__(self, name: str):  # .connection (a RawSelect), .execute (Core), …
        raise NotAnswered()


class AnsweredOnlyUnitOfWork(UnitOfWork):
    """A read-only unit of work without a database: its plain selects are answered by
    `answered` (on the event loop, from rows fetched there); anything else raises NotAnswered."""

    def __init__(self, dialect: Dialect, clock, seams=None) -> None:
        super().__init__(None, clock, seams=seams, read_only=True)
        self._connection = _AnsweredOnlyConnection(dialect)

    @property
    def session(self):
        raise NotAnswered()

    def connection(self):
        return self._connection


# The rows already fetched for this request's selects (`answered`), by `RawSelect.key`.
_ANSWERED: ContextVar[dict | None] = ContextVar("ykt_raw_answered", default=None)


@contextmanager
def answered(found: dict | None) -> Iterator[None]:
    """While the block runs, each `RawSelect.key(params)` in `found` answers its rows from
    there instead of from the database (None or empty: nothing is answered so)."""
    token = _ANSWERED.set(found or None)
    try:
        yield
    finally:
        _ANSWERED.reset(token)


class RawSelect:
    """`select` compiled once per dialect; `rows(connection, params)` runs it."""

    def __init__(self, statement: Select, name: str) -> None:
        self._statement = statement
        self._name = name  # the row type's name (shown in a repr)
        self._by_dialect: dict[str, tuple] = {}

    def rows(self, connection: Connection, params: dict[str, Any]) -> list:
        """Every row, as named tuples whose fields are the select's column keys (what a Core
        row's attributes are), each value converted as SQLAlchemy converts it."""
        found = _ANSWERED.get()
        if found is not None:
            rows = found.get(self.key(params))
            if rows is not None:
                return list(rows)
        sql, order, processors, row_type = self._compiled(connection.dialect)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, [params[name] for name in order] if order is not None else params)
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        return _converted(fetched, processors, row_type)

    async def rows_async(self, cursor, dialect: Dialect, params: dict[str, Any]) -> list:
        """`rows` on a cursor of a psycopg AsyncConnection made with `dialect`'s connect
        arguments (its type adapters: db.loop_reads), on the event loop. The cursor is the
        connection's own, kept for its next statement (each execute starts afresh)."""
        sql, order, processors, row_type = self._compiled(dialect)
        await cursor.execute(sql, [params[name] for name in order] if order is not None else params)
        return _converted(await cursor.fetchall(), processors, row_type)

    def rows_on_cursor(self, cursor, dialect: Dialect, params: dict[str, Any]) -> list:
        """`rows` on a DBAPI cursor of a connection made with `dialect`'s connect arguments,
        outside any transaction of SQLAlchemy's (db.loop_reads.SqliteLoopReads)."""
        sql, order, processors, row_type = self._compiled(dialect)
        cursor.execute(sql, [params[name] for name in order] if order is not None else params)
        return _converted(cursor.fetchall(), processors, row_type)

    def first(self, connection: Connection, params: dict[str, Any]):
        """The first row, or None."""
        found = self.rows(connection, params)
        return found[0] if found else None

    def key(self, params: dict[str, Any]) -> tuple:
        """What names this select run with `params` in `answered`."""
        items = params.items()
        return self, tuple(items) if len(items) == 1 else tuple(sorted(items))

    def row(self, dialect: Dialect, values) -> Any:
        """A row of this select made of already converted `values` (a slice of a joined
        select's row whose columns are this select's, in its order and of its types)."""
        return self._compiled(dialect)[3]._make(values)

    def width(self, dialect: Dialect) -> int:
        """How many columns a row of this select has."""
        return len(self._compiled(dialect)[2])

    def _compiled(self, dialect: Dialect) -> tuple:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect)
            columns = compiled._result_columns  # what a CursorResult maps its rows by
            processors = ResultProcessors(column.type._cached_result_processor(dialect, None)
                                          for column in columns)
            order = list(compiled.positiontup) if compiled.positional else None
            row_type = namedtuple(self._name, [column.keyname for column in columns])
            found = self._by_dialect[dialect.name] = (compiled.string, order, processors, row_type)
        return found


class Stacked:
    """Several selects sent as one statement: their rows stacked (UNION ALL), each part's
    columns in a slice of the row of its own (NULL in the other parts' rows, typed as the
    part's column so the same result processors convert it), a `part` column saying whose row
    it is, and a `sort` column (an integer expression of each part, e.g. its id, or its id
    negated for newest first) by which each part's rows come ordered.

    A part's selects may depend on another's row only through the statement itself (a
    scalar subquery), not through a value fetched first: that is what makes it one round
    trip. `split(dialect, rows)` hands back each part's rows, as rows of the `RawSelect` whose
    columns that part selects (its `row_types`), for `answered`."""

    def __init__(self, name: str, parts: list[tuple[Select, Any, RawSelect]]) -> None:
        from sqlalchemy import BigInteger, cast, literal_column, null, union_all

        self._row_types = [row_type for _select, _sort, row_type in parts]
        columns = [list(select_.selected_columns) for select_, _sort, _row_type in parts]
        stacked = []
        for number, (select_, sort, _row_type) in enumerate(parts):
            values = [literal_column(str(number), BigInteger).label("part"),
                      cast(sort if sort is not None else null(), BigInteger).label("sort")]
            for other, other_columns in enumerate(columns):
                for place, column in enumerate(other_columns):
                    value = column if other == number else cast(null(), column.type)
                    values.append(value.label(f"p{other}_{place}"))
            stacked.append(select_.with_only_columns(*values))
        self._widths = [len(part_columns) for part_columns in columns]
        self.select = RawSelect(union_all(*stacked).order_by("part", "sort"), name)

    def split(self, dialect: Dialect, rows: list) -> list[list]:
        """Each part's rows, in its order, as its `RawSelect`'s rows."""
        parts: list[list] = [[] for _ in self._widths]
        starts, start = [], 2  # behind `part` and `sort`
        for width in self._widths:
            starts.append(start)
            start += width
        for row in rows:
            number = row[0]
            begin = starts[number]
            parts[number].append(self._row_types[number].row(
                dialect, row[begin:begin + self._widths[number]]))
        return parts
