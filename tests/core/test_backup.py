"""`ykt db backup` / `ykt db restore` (db.backup) on the engine of the run: a database filled
through the platform's use cases, backed up, restored into an empty database, compared table
by table and row by row, and its audit trail verified there; refusals of a target holding
tables and of a file that does not match its manifest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from tests import servers
from tests.audit.helpers import write
from tests.conftest import ON_POSTGRES
from typer.testing import CliRunner

from yikatong.audit.jobs import take_checkpoint
from yikatong.cli import context
from yikatong.cli.main import app
from yikatong.core.clock import SystemClock
from yikatong.db import backup, errors
from yikatong.db.engine import make_engine
from yikatong.demo.population import build_population

pytestmark = pytest.mark.db

runner = CliRunner()


@pytest.fixture
def empty_target(tmp_path) -> Iterator[str]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    admin = servers.postgres_admin_url()
    url = servers.create_database(admin)
    yield url
    servers.drop_database(admin, url)


def every_row(url: str) -> dict[str, list[tuple]]:
    """Every table's rows, in an order that does not depend on how they were stored."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {f"{schema}.{table}": sorted(
                        (tuple(row) for row in connection.execute(text(f'SELECT * FROM "{schema}"."{table}"'))),
                        key=repr)
                    for schema, table in backup._tables(connection)}
    finally:
        engine.dispose()


def ykt(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_a_population_restored_into_an_empty_database_has_every_row_and_a_verifying_trail(
        platform, database_url, empty_target, tmp_path, monkeypatch):
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    build_population(platform)
    assert take_checkpoint(platform) is not None  # the restored trail is checked against it
    platform.engine.dispose()
    original = every_row(database_url)
    assert sum(map(len, original.values())) > 1000 and len(original["main.audit_records" if not ON_POSTGRES
                                                                    else "public.audit_records"]) > 100

    made = ykt("db", "backup", str(tmp_path / "ykt.backup"), "--database-url", database_url)
    assert made.exit_code == 0, made.output
    manifest = backup.Manifest.read(tmp_path / "ykt.backup")
    assert manifest.engine == ("postgresql" if ON_POSTGRES else "sqlite")
    assert manifest.tables == {name.split(".", 1)[1]: len(rows) for name, rows in original.items()}
    assert manifest.sm3 in "".join(made.output.split())

    restored = ykt("db", "restore", str(tmp_path / "ykt.backup"), "--database-url", empty_target)
    assert restored.exit_code == 0, restored.output
    assert "every count as in the manifest" in " ".join(restored.output.split())
    assert every_row(empty_target) == original

    # `ykt audit verify` on the restored database, with the platform's key store
    monkeypatch.setenv("YKT_DATABASE_URL", empty_target)
    monkeypatch.setenv("YKT_KEY_STORE", platform.settings.key_store_path)
    context.platform.cache_clear()
    try:
        verified = ykt("audit", "verify")
    finally:
        context.platform.cache_clear()
    assert verified.exit_code == 0, verified.output
    assert "audit trail intact" in verified.output


def test_restore_refuses_a_target_with_tables_and_a_file_unlike_its_manifest(
        platform, database_url, empty_target, tmp_path):
    write(platform, "8100000001", "issued", "active")
    platform.engine.dispose()
    path = tmp_path / "small.backup"
    manifest = backup.backup(database_url, path, now=SystemClock().now())
    assert manifest.tables["audit_records"] == 2

    with pytest.raises(errors.RestoreTargetNotEmpty):  # the database it came from holds tables
        backup.restore(database_url, path)

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    altered = tmp_path / "altered.backup"
    altered.write_bytes(bytes(data))
    backup.manifest_path(path).replace(backup.manifest_path(altered))
    refused = ykt("db", "restore", str(altered), "--database-url", empty_target)
    assert refused.exit_code == 1 and "backup_checksum_mismatch" in refused.output
    assert every_row(empty_target) == {}  # nothing was written

    backup.manifest_path(altered).replace(backup.manifest_path(path))
    assert backup.restore(empty_target, path).tables["audit_records"] == 2
    write(platform, "8100000001", "blocked")  # the source moves on; a later backup replaces the copy
    platform.engine.dispose()
    later = backup.backup(database_url, tmp_path / "later.backup", now=SystemClock().now())
    with pytest.raises(errors.RestoreTargetNotEmpty):
        backup.restore(empty_target, tmp_path / "later.backup")
    replaced = backup.restore(empty_target, tmp_path / "later.backup", replace=True)
    assert replaced.tables == later.tables and replaced.tables["audit_records"] == 3
    assert every_row(empty_target) == every_row(database_url)
