"""discounts: transit rebates (one row per campaign and cleared tap, one run per clearing batch)

Revision ID: 0027
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('discount_rebates',
    sa.Column('campaign', sa.String(length=32), nullable=False),
    sa.Column('batch_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('asn', sa.String(length=20), nullable=False),
    sa.Column('holder', sa.String(length=40), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('tx_date', sa.Date(), nullable=False),
    sa.Column('fare', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('credit_ref', sa.String(length=32), nullable=True),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('campaign', 'batch_id', 'seq', name=op.f('pk_discount_rebates'))
    )
    op.create_index('ix_discount_rebates_batch', 'discount_rebates', ['batch_id'], unique=False)
    op.create_index('ix_discount_rebates_holder', 'discount_rebates', ['campaign', 'holder', 'period'], unique=False)
    op.create_index(op.f('ix_discount_rebates_asn'), 'discount_rebates', ['asn'], unique=False)
    op.create_table('discount_rebate_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('taps', sa.Integer(), nullable=False),
    sa.Column('decided', sa.Integer(), nullable=False),
    sa.Column('granted', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('credits', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('run_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('run_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_rebate_runs')),
    sa.UniqueConstraint('batch_id', name=op.f('uq_discount_rebate_runs_batch_id'))
    )


def downgrade() -> None:
    op.drop_table('discount_rebate_runs')
    op.drop_index(op.f('ix_discount_rebates_asn'), table_name='discount_rebates')
    op.drop_index('ix_discount_rebates_holder', table_name='discount_rebates')
    op.drop_index('ix_discount_rebates_batch', table_name='discount_rebates')
    op.drop_table('discount_rebates')
