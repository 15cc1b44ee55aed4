"""a real-name assertion proves one thing: spent ID tokens are recorded by hash

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_identity_evidence",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("spent_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_spent_identity_evidence")),
    )


def downgrade() -> None:
    op.drop_table("spent_identity_evidence")
