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
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect


class RawSelect:
    """`select` compiled once per dialect; `rows(connection, params)` runs it."""

    def __init__(self, statement: Select, name: str) -> None:
        self._statement = statement
        self._name = name  # the row type's name (shown in a repr)
        self._by_dialect: dict[str, tuple] = {}

    def rows(self, connection: Connection, params: dict[str, Any]) -> list:
        """Every row, as named tuples whose fields are the select's column keys (what a Core
        row's attributes are), each value converted as SQLAlchemy converts it."""
        sql, order, processors, row_type = self._compiled(connection.dialect)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, [params[name] for name in order] if order is not None else params)
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        if not any(processors):
            return [row_type._make(row) for row in fetched]
        return [row_type._make([value if convert is None or value is None else convert(value)
                                for convert, value in zip(processors, row, strict=True)])
                for row in fetched]

    def first(self, connection: Connection, params: dict[str, Any]):
        """The first row, or None."""
        found = self.rows(connection, params)
        return found[0] if found else None

    def _compiled(self, dialect: Dialect) -> tuple:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect)
            columns = compiled._result_columns  # what a CursorResult maps its rows by
            processors = [column.type._cached_result_processor(dialect, None)
                          for column in columns]
            order = list(compiled.positiontup) if compiled.positional else None
            row_type = namedtuple(self._name, [column.keyname for column in columns])
            found = self._by_dialect[dialect.name] = (compiled.string, order, processors, row_type)
        return found
