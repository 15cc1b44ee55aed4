"""the reference bank: direct debits and their refunds (the holder's authorisation, the
original request), holder names from the production list, frozen accounts, and disbursement
(代发) batch files with their rows

Revision ID: 0019
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder_name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("frozen_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("frozen_reason", sa.String(length=64), nullable=True))
    with op.batch_alter_table("bank_transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("authorisation", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("original_request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank_transactions", schema=None) as batch_op:
        batch_op.drop_column("original_request_id")
        batch_op.drop_column("authorisation")
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.drop_column("frozen_reason")
        batch_op.drop_column("frozen_at")
        batch_op.drop_column("holder_name")
