"""Rows of a database at a frozen schema revision, kept as a file the upgrade test loads.

The first release's schema (revision 0001) is frozen: a deployed database holds rows in that
shape, and every later revision must carry them to head. `snapshot` writes what a database at a
revision holds (every table, values tagged by type so JSON keeps datetimes and bytes) and
`restore` loads such a file into an empty database migrated to the same revision.

Made once per frozen revision, from a database the end-to-end journeys filled:
    python -m tests.core.schema_snapshots OUT.json.gz sqlite:///platform.db [sqlite:///bank.db]
(the reference bank keeps its tables in a database of its own; its bank_* rows are added).
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, select

from yikatong.db.engine import make_engine

SKIPPED_TABLES = {"alembic_version"}


def snapshot(engine: Engine, tables: set[str] | None = None) -> dict[str, list[dict]]:
    """Every row of every table (or of `tables`), ordered by primary key, values tagged."""
    metadata = MetaData()
    metadata.reflect(engine)
    rows: dict[str, list[dict]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            if table.name in SKIPPED_TABLES or (tables is not None and table.name not in tables):
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            result = connection.execute(select(table).order_by(*order))
            rows[table.name] = [{k: _tag(v) for k, v in row._mapping.items()} for row in result]
    return rows


def restore(engine: Engine, rows: dict[str, list[dict]]) -> None:
    """Insert the snapshot's rows into a database at the snapshot's revision, parents first."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            table_rows = rows.get(table.name)
            if table_rows:
                connection.execute(table.insert(), [_untag_row(row) for row in table_rows])


def comparable(value: Any) -> Any:
    """A value as both databases hand it back: datetimes as aware UTC, JSON text parsed."""
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC))
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def read(path: Path) -> dict[str, list[dict]]:
    return json.loads(gzip.decompress(path.read_bytes()))


def write(path: Path, rows: dict[str, list[dict]]) -> None:
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    path.write_bytes(gzip.compress(text.encode(), mtime=0))


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):  # stored as UTC; SQLite hands it back naive
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return {"$datetime": aware.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, str) and value[:1] in "[{":
        # JSON columns reflect as text on SQLite: keep them as text, the column decides.
        return {"$text": value}
    return value


def _untag_row(row: dict) -> dict:
    return {name: _untag(value) for name, value in row.items()}


def _untag(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        (tag, raw), = value.items()
        if tag == "$datetime":
            return datetime.fromisoformat(raw)
        if tag == "$date":
            return date.fromisoformat(raw)
        if tag == "$bytes":
            return base64.b64decode(raw)
        if tag == "$text":
            return raw
    return value


def main(out: str, platform_url: str, bank_url: str | None = None) -> None:
    rows = snapshot(make_engine(platform_url))
    if bank_url:  # only its bank_* tables: its audit and ledger tables would collide
        bank = snapshot(make_engine(bank_url))
        rows.update({name: bank[name] for name in bank if name.startswith("bank_")})
    write(Path(out), rows)
    print(f"{out}: {sum(map(len, rows.values()))} rows in {sum(1 for r in rows.values() if r)} tables")


if __name__ == "__main__":
    main(*sys.argv[1:])
