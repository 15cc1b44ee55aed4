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
    op.create_table(
        "bank_disbursement_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("receipt_id", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=128), nullable=False),
        sa.Column("file_sm3", sa.String(length=64), nullable=False),
        sa.Column("payer_code", sa.String(length=32), nullable=False),
        sa.Column("pay_date", sa.Date(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("posted_count", sa.Integer(), nullable=False),
        sa.Column("posted_fen", sa.BigInteger(), nullable=False),
        sa.Column("held_count", sa.Integer(), nullable=False),
        sa.Column("held_fen", sa.BigInteger(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("failed_fen", sa.BigInteger(), nullable=False),
        sa.Column("journal_request_id", sa.String(length=128), nullable=True),
        sa.Column("result_file", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_disbursement_batches")),
        sa.UniqueConstraint("bank_code", "batch_id",
                            name=op.f("uq_bank_disbursement_batches_bank_code_batch_id")),
        sa.UniqueConstraint("receipt_id", name=op.f("uq_bank_disbursement_batches_receipt_id")),
    )
    op.create_index(op.f("ix_bank_disbursement_batches_status"), "bank_disbursement_batches",
                    ["status"], unique=False)
    op.create_table(
        "bank_disbursement_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_pk", sa.Integer(), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("row_ref", sa.String(length=64), nullable=False),
        sa.Column("pan", sa.String(length=19), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason_code", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_disbursement_rows")),
        sa.UniqueConstraint("batch_pk", "line_no",
                            name=op.f("uq_bank_disbursement_rows_batch_pk_line_no")),
    )
    op.create_index("ux_bank_disbursement_rows_ref", "bank_disbursement_rows",
                    ["bank_code", "row_ref"], unique=True,
                    postgresql_where=sa.text("origin = 'new'"),
                    sqlite_where=sa.text("origin = 'new'"))


def downgrade() -> None:
    op.drop_index("ux_bank_disbursement_rows_ref", table_name="bank_disbursement_rows")
    op.drop_table("bank_disbursement_rows")
    op.drop_index(op.f("ix_bank_disbursement_batches_status"),
                  table_name="bank_disbursement_batches")
    op.drop_table("bank_disbursement_batches")
    with op.batch_alter_table("bank_transactions", schema=None) as batch_op:
        batch_op.drop_column("original_request_id")
        batch_op.drop_column("authorisation")
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.drop_column("frozen_reason")
        batch_op.drop_column("frozen_at")
        batch_op.drop_column("holder_name")
