"""webhook secrets sealed under the KEK

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00

`webhook_endpoints.secret_hex` (the partner's HMAC key or the platform's SM2 signing key for
it, in plain hex) becomes `secret_sealed`: the same secret sealed under the key store's KEK
(crypto.sealing). Existing rows are sealed here, with the key store the caller hands to
`db.migrate.upgrade` or else the one the environment configures; a database without endpoints
needs no key store. The downgrade unseals them again.
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ENDPOINTS = sa.table("webhook_endpoints", sa.column("id", sa.Integer), sa.column("partner", sa.String),
                     sa.column("secret_hex", sa.String), sa.column("secret_sealed", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_sealed", sa.String(length=400), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(ENDPOINTS.c.id, ENDPOINTS.c.partner, ENDPOINTS.c.secret_hex)).all()
    if rows:
        keys = _key_store()
        for row_id, partner, secret_hex in rows:
            sealed = keys.seal(bytes.fromhex(secret_hex), context=_context(partner))
            connection.execute(ENDPOINTS.update().where(ENDPOINTS.c.id == row_id).values(secret_sealed=sealed))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret_sealed", existing_type=sa.String(length=400), nullable=False)
        batch_op.drop_column("secret_hex")


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_hex", sa.String(length=200), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(ENDPOINTS.c.id, ENDPOINTS.c.partner, ENDPOINTS.c.secret_sealed)).all()
    if rows:
        keys = _key_store()
        for row_id, partner, sealed in rows:
            secret = keys.unseal(sealed, context=_context(partner))
            connection.execute(ENDPOINTS.update().where(ENDPOINTS.c.id == row_id).values(secret_hex=secret.hex()))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret_hex", existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_column("secret_sealed")


def _context(partner: str) -> str:
    # The same binding as events.webhooks.secret_context, written out: a migration must not
    # change when the code it once matched does.
    return f"webhook_endpoints.secret:{partner}"


def _key_store():
    given = context.config.attributes.get("key_store")
    if given is not None:
        return given()
    from yikatong.core.settings import Settings
    from yikatong.crypto.wiring import key_store_from_settings

    return key_store_from_settings(Settings.from_env())
