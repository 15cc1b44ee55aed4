"""Revision 0002 (accounts): API keys from before it get an expiry and keep working; bearer
tokens and already-expiring keys are left as they were."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from yikatong.db.engine import make_engine
from yikatong.db.migrate import upgrade

pytestmark = pytest.mark.db

CREATED = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def test_api_keys_without_expiry_get_one_at_the_upgrade(empty_database):
    engine = make_engine(empty_database)
    upgrade(engine, "0001")
    bearer_expiry = CREATED + timedelta(hours=8)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (id, username, display_name, role, active, created_at) "
            "VALUES (1, 'metro-system', 'metro', 'transit_operator', :yes, :at)"), {"yes": True, "at": CREATED})
        connection.execute(text(
            "INSERT INTO access_tokens (token_hash, user_id, kind, label, created_at, expires_at) VALUES "
            "('a', 1, 'api_key', 'gates', :at, NULL), ('b', 1, 'bearer', NULL, :at, :bearer)"),
            {"at": CREATED, "bearer": bearer_expiry})
    before = datetime.now(UTC)
    upgrade(engine)
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT token_hash, expires_at FROM access_tokens")).all())
        hints = connection.execute(text("SELECT hint FROM access_tokens")).scalars().all()
    engine.dispose()
    key_expiry = rows["a"] if isinstance(rows["a"], datetime) else datetime.fromisoformat(rows["a"])
    key_expiry = key_expiry.replace(tzinfo=key_expiry.tzinfo or UTC)
    assert before + timedelta(days=364) < key_expiry < datetime.now(UTC) + timedelta(days=366)
    assert rows["b"] is not None and hints == [None, None]
