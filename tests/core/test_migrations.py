"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import inspect

from yikatong.db.engine import make_engine
from yikatong.db.migrate import pending_differences, upgrade
from yikatong.db.registry import load_all_models

pytestmark = pytest.mark.db


@pytest.fixture
def empty_database(request, tmp_path):
    from tests import servers
    from tests.conftest import ON_POSTGRES

    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    admin = servers.postgres_admin_url()
    url = servers.create_database(admin)
    yield url
    servers.drop_database(admin, url)


def test_upgrade_to_head_matches_the_models(empty_database):
    engine = make_engine(empty_database)
    upgrade(engine)
    assert pending_differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in load_all_models().sorted_tables} <= tables
    upgrade(engine)  # a second upgrade is a no-op
    engine.dispose()
