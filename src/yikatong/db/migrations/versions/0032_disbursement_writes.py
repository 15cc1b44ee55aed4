"""disbursement writes: benefit_payments without the (run_id, status) index and, on PostgreSQL,
filled to 75 % (a batch's results update its payments in place); bank_transactions' held
index only over the held ones

Revision ID: 0032
Revises: 0030

A run's results set status, reason_code, bank_reference and paid_on of every payment; with
status in an index and full pages every one of those updates wrote a new entry into each of
the table's five indexes. Without it, and with room on the page, PostgreSQL updates the rows in
place (HOT). ALTER TABLE … SET (fillfactor) applies to pages written from now on. The held index
of bank_transactions keeps only status = 'held' rows: a disbursement run's posted
transactions (one per payee) add no entry to it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None

HELD = sa.text("status = 'held'")


def upgrade() -> None:
    with op.batch_alter_table("benefit_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_benefit_payments_run_status")
    with op.batch_alter_table("bank_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_transactions_held")
        batch_op.create_index("ix_bank_transactions_held", ["bank_code", "status"], unique=False,
                              postgresql_where=HELD, sqlite_where=HELD)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE benefit_payments SET (fillfactor = 75)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE benefit_payments RESET (fillfactor)")
    with op.batch_alter_table("bank_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_transactions_held")
        batch_op.create_index("ix_bank_transactions_held", ["bank_code", "status"], unique=False)
    with op.batch_alter_table("benefit_payments", schema=None) as batch_op:
        batch_op.create_index("ix_benefit_payments_run_status", ["run_id", "status"], unique=False)
