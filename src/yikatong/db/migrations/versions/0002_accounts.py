"""accounts: API keys show a hint and every API key expires

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00

`access_tokens.hint` holds an API key's last four characters, so a listing tells keys apart
without the secret. API keys issued before this revision never expired: they now expire one
maximum lifetime (auth.rules.API_KEY_MAX_LIFETIME, 365 days) after the upgrade, so none stops
at once and none lives for ever.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration keeps the value it was written with.
LEGACY_API_KEY_LIFETIME = timedelta(days=365)


def upgrade() -> None:
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hint", sa.String(length=4), nullable=True))
    access_tokens = sa.table(
        "access_tokens",
        sa.column("kind", sa.String()),
        sa.column("expires_at", yikatong.db.base.UTCDateTime(timezone=True)),
    )
    op.execute(
        access_tokens.update()
        .where(access_tokens.c.kind == "api_key", access_tokens.c.expires_at.is_(None))
        .values(expires_at=datetime.now(UTC) + LEGACY_API_KEY_LIFETIME)
    )


def downgrade() -> None:
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_column("hint")
