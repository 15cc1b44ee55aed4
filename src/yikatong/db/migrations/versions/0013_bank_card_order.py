"""the reference bank keeps each card's order: the platform seq of the last HR status and loss
event it handled per account (an older one arriving later is recorded, not applied)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_hr_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("platform_loss_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.drop_column("platform_loss_seq")
        batch_op.drop_column("platform_hr_seq")
