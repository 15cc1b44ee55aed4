"""Revision 0007 seals the webhook secrets a database already holds in plain hex under the
key store's KEK, and its downgrade unseals them again."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from yikatong.crypto.keystore import FileKeyStore
from yikatong.db.engine import make_engine
from yikatong.db.migrate import alembic_config, upgrade
from yikatong.events.webhooks import secret_context

pytestmark = pytest.mark.db
SECRETS = {"ICBC": bytes(range(32)), "CCB": bytes(range(100, 150))}


def endpoints(engine) -> dict[str, dict]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM webhook_endpoints")).mappings().all()
    return {row["partner"]: dict(row) for row in rows}


def test_plain_webhook_secrets_are_sealed_and_unsealed(empty_database, tmp_path):
    keys = FileKeyStore.init(tmp_path / "keystore.json", bytes(range(32)))
    engine = make_engine(empty_database)
    before_0007 = ScriptDirectory.from_config(alembic_config(empty_database)).get_revision("0007").down_revision
    upgrade(engine, before_0007)
    with engine.begin() as connection:
        for partner, secret in SECRETS.items():
            connection.execute(text(
                "INSERT INTO webhook_endpoints (partner, url, scheme, secret_hex, enabled, created_at) "
                "VALUES (:partner, 'https://bank.example/ykt', 'hmac-sm3', :secret, true, '2026-03-02 01:30:00')"),
                {"partner": partner, "secret": secret.hex()})

    upgrade(engine, "0007", key_store=lambda: keys)
    sealed = endpoints(engine)
    for partner, secret in SECRETS.items():
        row = sealed[partner]
        assert "secret_hex" not in row and secret.hex() not in str(row)
        assert keys.unseal(row["secret_sealed"], context=secret_context(partner)) == secret

    config = alembic_config(empty_database)
    with engine.begin() as connection:
        config.attributes.update(connection=connection, key_store=lambda: keys)
        command.downgrade(config, before_0007)
    assert {partner: bytes.fromhex(row["secret_hex"]) for partner, row in endpoints(engine).items()} == SECRETS
    engine.dispose()


def test_an_empty_database_needs_no_key_store(empty_database):
    def no_key_store():
        raise AssertionError("no secret to seal: the key store is not opened")

    engine = make_engine(empty_database)
    upgrade(engine, "0007", key_store=no_key_store)
    assert endpoints(engine) == {}
    engine.dispose()
