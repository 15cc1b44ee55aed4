"""Plain DBAPI statements for the hottest writes (and selects whose parameters need converting):
a Core statement compiled once per dialect, run on the connection's own DBAPI cursor, its
parameters and rows converted by SQLAlchemy's own processors (db.raw's `RawSelect` does the
same for selects of plain parameters, and answers several of them from one statement).

Through SQLAlchemy each statement pays its execution path (a cache key, an execution context,
parameter processing, a cursor result and its rows; through a session also the ORM's execute);
the medical door makes about 35 statements per visit, most of them small (bench/medical_settlement.py).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect


class ResultProcessors(tuple):
    """Each result column's processor (None: the value as fetched), with the places of those
    that have one (`converting`): a wide row (a card read's credential, card and block
    columns) converts its handful of dates and times without a test of every column."""

    converting: tuple[tuple[int, Any], ...]

    def __new__(cls, processors) -> ResultProcessors:
        made = super().__new__(cls, processors)
        made.converting = tuple((place, convert) for place, convert in enumerate(made)
                                if convert is not None)
        return made


def converted(fetched: list, processors: ResultProcessors, row_type) -> list:
    """Fetched driver rows as `row_type`s, each value through its column's result processor."""
    converting = processors.converting
    if not converting:
        return [row_type._make(row) for row in fetched]
    width, rows = len(processors), []
    for row in fetched:
        if len(row) != width:  # as zip(strict=True) refused it
            raise ValueError(f"a row of {len(row)} columns for {width} result processors")
        values = list(row)
        for place, convert in converting:
            value = values[place]
            if value is not None:
                values[place] = convert(value)
        rows.append(row_type._make(values))
    return rows


class RawStatement:
    """Any statement (an INSERT, UPDATE or DELETE with or without RETURNING, or a select whose
    parameters need converting) compiled once per dialect and run on the connection's own DBAPI
    cursor, as `RawSelect` runs a select: the SQL, the parameters' order and each parameter's and
    result column's conversion are SQLAlchemy's (its bind and result processors: SQLite's
    datetimes as text, JSON as text, PostgreSQL's bind casts), without its execution path (a
    cache key, an execution context, a cursor result) per statement.

    For the writes of a hot path inside a unit of work's transaction (`uow.connection()`, which
    begins it). A driver error is raised as SQLAlchemy raises it (`IntegrityError` for a unique
    violation, wrapped by `DBAPIError.instance`), so callers catch what they caught before.
    `columns`: the parameter names an INSERT of a table's columns binds (`insert(table)`
    compiled for these keys, as SQLAlchemy compiles it for a dict of them); make the INSERT
    `.inline()` when nothing reads the new row's key (else PostgreSQL returns it unasked).
    Expanding parameters (`IN` of a list) are not supported."""

    def __init__(self, statement: Any, name: str, *, columns: tuple[str, ...] | None = None) -> None:
        self._statement = statement
        self._name = name
        self._columns = columns
        self._by_dialect: dict[str, tuple] = {}

    def execute(self, connection: Connection, params: dict[str, Any]) -> int:
        """Run it once; how many rows it touched."""
        return self._run(connection, params, many=False).rowcount

    def executemany(self, connection: Connection, params: list[dict[str, Any]]) -> int:
        """Run it once per parameter set (the driver's executemany); rows touched in all."""
        return self._run(connection, params, many=True).rowcount

    def rows(self, connection: Connection, params: dict[str, Any]) -> list:
        """Run it once; the rows it returned (RETURNING, or a select's), converted, as named
        tuples of the result columns' keys."""
        fetched = self._run(connection, params, many=False).fetchall()
        _sql, _binds, _processors, results, row_type, _fixed = self._compiled(connection.dialect)
        return converted(fetched, results, row_type)

    async def rows_async(self, cursor, dialect: Dialect, params: dict[str, Any]) -> list:
        """`rows` on a cursor of a psycopg AsyncConnection made with `dialect`'s connect
        arguments, on the event loop (db.loop_reads: autocommit, so a write is its own
        transaction). A driver error is raised as the driver raises it: the caller goes the
        thread's way."""
        sql, binds, processors, results, row_type, fixed = self._compiled(dialect)
        await cursor.execute(sql, self._bound({**fixed, **params} if fixed else params, binds, processors))
        return converted(await cursor.fetchall(), results, row_type)

    def rows_on_cursor(self, cursor, dialect: Dialect, params: dict[str, Any]) -> list:
        """`rows` on a DBAPI cursor of a connection made with `dialect`'s connect arguments,
        outside any transaction of SQLAlchemy's (db.sqlite_loop_writes: SQLite in autocommit,
        so a write is its own transaction). A driver error is raised as the driver raises it."""
        sql, binds, processors, results, row_type, fixed = self._compiled(dialect)
        cursor.execute(sql, self._bound({**fixed, **params} if fixed else params, binds, processors))
        return converted(cursor.fetchall(), results, row_type)

    def first(self, connection: Connection, params: dict[str, Any]) -> Any:
        """The first row it returned, or None."""
        found = self.rows(connection, params)
        return found[0] if found else None

    def _run(self, connection: Connection, params: Any, *, many: bool):
        dialect = connection.dialect
        sql, binds, processors, _results, _row_type, fixed = self._compiled(dialect)
        if fixed:  # the statement's own values (a `literal`), beside the caller's
            params = [{**fixed, **p} for p in params] if many else {**fixed, **params}
        args = [self._bound(p, binds, processors) for p in params] if many else \
            self._bound(params, binds, processors)
        cursor = _cursor_of(connection)
        try:
            if many:
                cursor.executemany(sql, args)
            else:
                cursor.execute(sql, args)
        except dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(sql, args, error, dialect.loaded_dbapi.Error,
                                          dialect=dialect) from error
        return cursor

    @staticmethod
    def _bound(params: dict[str, Any], binds: tuple, processors: tuple) -> Any:
        """The driver's parameters: a list in `binds`' order (positional), or a dict."""
        # every value through its processor, None too, as SQLAlchemy does (JSON's None is 'null')
        if binds[0]:  # positional: (True, names)
            return [value if convert is None else convert(value)
                    for convert, value in zip(processors, (params[name] for name in binds[1]), strict=True)]
        out = dict(params) if binds[1] is None else {escaped: params[name] for name, escaped in binds[1]}
        for name, convert in processors:
            out[name] = convert(out[name])
        return out

    def _compiled(self, dialect: Dialect) -> tuple:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = (self._statement.compile(dialect=dialect, column_keys=list(self._columns))
                        if self._columns is not None else self._statement.compile(dialect=dialect))
            if any(bind.expanding for bind in compiled.binds.values()):
                raise ValueError(f"{self._name}: expanding parameters are not supported")
            bind_processors = compiled._bind_processors
            escaped = compiled.escaped_bind_names or {}
            if compiled.positional:
                names = tuple(compiled.positiontup)
                binds = (True, names)
                processors: tuple = tuple(bind_processors.get(name) for name in names)
            else:
                binds = (False, tuple((name, escaped.get(name, name)) for name in compiled.binds) if escaped else None)
                processors = tuple((escaped.get(name, name), convert) for name, convert in bind_processors.items())
            columns = compiled._result_columns
            results = ResultProcessors(column.type._cached_result_processor(dialect, None)
                                       for column in columns)
            row_type = namedtuple(self._name, [column.keyname for column in columns]) if columns else tuple
            fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
            found = self._by_dialect[dialect.name] = (compiled.string, binds, processors, results, row_type, fixed)
        return found


_CURSOR = "yikatong.db.statement.cursor"  # the DBAPI connection's info: (that connection, its cursor)


def _cursor_of(connection: Connection) -> Any:
    """The DBAPI connection's cursor for RawStatements, made once per DBAPI connection and
    kept in its pool record's info (a connection serves one thread at a time; every use
    executes, then reads all it needs, before the next). A psycopg cursor made per statement
    cost more than the driver's sending of the query (0.18 against 0.15 s of the door's 5.8 s
    for 200 visits under cProfile, bench/medical_settlement.py)."""
    pooled = connection.connection
    dbapi_connection = pooled.dbapi_connection
    kept = pooled.info.get(_CURSOR)
    if kept is not None and kept[0] is dbapi_connection:
        return kept[1]
    cursor = dbapi_connection.cursor()
    pooled.info[_CURSOR] = (dbapi_connection, cursor)
    return cursor
