"""Set-based writes for the hot path: COPY on PostgreSQL, executemany in chunks elsewhere.
No ORM objects per row."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from sqlalchemy import Connection, Table, insert

CHUNK = 5000


def on_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def insert_rows(connection: Connection, table: Table, columns: list[str],
                rows: Iterable[tuple]) -> int:
    """Insert `rows` (tuples in `columns` order) into `table`; returns how many."""
    count = 0
    if on_postgres(connection):
        cursor = connection.connection.driver_connection.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    iterator = iter(rows)
    statement = insert(table)
    while chunk := list(islice(iterator, CHUNK)):
        connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in chunk])
        count += len(chunk)
    return count
