"""The database refuses UPDATE and DELETE on the audit tables, whether the schema came from the
models (create_all, as the tests and the reference bank build it) or from the migrations; the
test fixture's TRUNCATE between PostgreSQL tests still works."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.audit import helpers
from yikatong.audit.jobs import take_checkpoint
from yikatong.audit.models import APPEND_ONLY_TABLES
from yikatong.db.engine import make_engine
from yikatong.db.migrate import upgrade

pytestmark = pytest.mark.db


def refused(engine, statement: str) -> bool:
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    except DatabaseError as error:
        assert "append-only" in str(error)
        return True
    return False


def test_update_and_delete_are_refused_on_every_audit_table(platform):
    helpers.write(platform, "A", "new", "active")
    take_checkpoint(platform)
    for table in APPEND_ONLY_TABLES[:3]:
        assert refused(platform.engine, f"UPDATE {table} SET id = id"), table
        assert refused(platform.engine, f"DELETE FROM {table}"), table
    with platform.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_records")).scalar_one() == 2
    assert triggered_tables(platform.engine) == set(APPEND_ONLY_TABLES)


def triggered_tables(engine) -> set[str]:
    query = ("SELECT DISTINCT event_object_table FROM information_schema.triggers "
             "WHERE trigger_name LIKE '%append_only' AND event_object_table NOT IN "
             "(SELECT relname FROM pg_class WHERE relispartition)"  # audit_records' months (db.partitioning)
             if engine.dialect.name == "postgresql"
             else "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_no_%'")
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(text(query))}


@pytest.fixture
def migrated_engine(request, tmp_path):
    from tests import servers
    from tests.conftest import ON_POSTGRES

    if not ON_POSTGRES:
        engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
        yield engine
        engine.dispose()
        return
    admin = servers.postgres_admin_url()
    url = servers.create_database(admin)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    servers.drop_database(admin, url)


def test_the_migrated_schema_refuses_them_too_and_truncate_still_empties_the_table(migrated_engine):
    upgrade(migrated_engine)
    with migrated_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO audit_records (at, actor_id, role, channel, action, entity_type, entity_id, "
            "seq, prev_hash, hash) VALUES (CURRENT_TIMESTAMP, 'x', 'system', 'system', 'a', 'card', "
            "'A', 1, 'p', 'h')"))
    assert refused(migrated_engine, "UPDATE audit_records SET id = id")
    assert refused(migrated_engine, "DELETE FROM audit_records")
    assert triggered_tables(migrated_engine) == set(APPEND_ONLY_TABLES)  # the others are empty
    if migrated_engine.dialect.name == "postgresql":  # what tests/conftest.py does between tests
        with migrated_engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_records RESTART IDENTITY CASCADE"))
        with migrated_engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM audit_records")).scalar_one() == 0
