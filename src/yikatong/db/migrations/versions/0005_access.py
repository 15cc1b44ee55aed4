"""access control: owners recorded by login id (users.id), not by login name

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

The owner columns are filled from the login names already recorded (a name that is no
login, e.g. a CLI or job actor's, owns nothing: NULL).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# (table, owner id column, login name column it is filled from, indexed)
OWNERS = (
    ("applications", "submitted_by_user_id", "submitted_by", True),
    ("employer_batches", "submitted_by_user_id", "submitted_by", True),
    ("transit_top_up_orders", "created_by_user_id", "created_by", False),
    ("transit_contact_sessions", "actor_user_id", "actor_user", False),
    ("person_corrections", "proposed_by_user_id", "proposed_by", False),
)


def upgrade() -> None:
    for table, column, name_column, indexed in OWNERS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
            if indexed:
                batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)
        op.execute(
            f"UPDATE {table} SET {column} = "
            f"(SELECT users.id FROM users WHERE users.username = {table}.{name_column})"
        )


def downgrade() -> None:
    for table, column, _name_column, indexed in reversed(OWNERS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if indexed:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
            batch_op.drop_column(column)
