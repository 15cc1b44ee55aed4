"""tourism: pass revenue split per venue (products.split, settlements, pass shares), gates

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tourism_products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('split', sa.JSON(), nullable=True))
    op.create_table('tourism_gates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gate_id', sa.String(length=32), nullable=False),
    sa.Column('venue_code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tourism_gates')),
    sa.UniqueConstraint('gate_id', name=op.f('uq_tourism_gates_gate_id'))
    )
    with op.batch_alter_table('tourism_gates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tourism_gates_venue_code'), ['venue_code'], unique=False)
    op.create_table('tourism_settlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_from', sa.Date(), nullable=False),
    sa.Column('period_to', sa.Date(), nullable=False),
    sa.Column('tickets', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('moved_fen', sa.BigInteger(), nullable=False),
    sa.Column('waiting', sa.Integer(), nullable=False),
    sa.Column('waiting_fen', sa.BigInteger(), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('journal', sa.String(length=128), nullable=True),
    sa.Column('settled_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tourism_settlements')),
    sa.UniqueConstraint('period_from', 'period_to', name=op.f('uq_tourism_settlements_period_from_period_to'))
    )
    op.create_table('tourism_pass_shares',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('ticket_no', sa.String(length=32), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('venue_code', sa.String(length=32), nullable=False),
    sa.Column('operator_code', sa.String(length=32), nullable=False),
    sa.Column('payment', sa.String(length=16), nullable=False),
    sa.Column('share_fen', sa.BigInteger(), nullable=False),
    sa.Column('from_account', sa.String(length=128), nullable=False),
    sa.Column('to_account', sa.String(length=128), nullable=False),
    sa.Column('reversed_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reversed_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['settlement_id'], ['tourism_settlements.id'],
                            name=op.f('fk_tourism_pass_shares_settlement_id_tourism_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tourism_pass_shares')),
    sa.UniqueConstraint('ticket_no', 'venue_code', name=op.f('uq_tourism_pass_shares_ticket_no_venue_code'))
    )
    with op.batch_alter_table('tourism_pass_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tourism_pass_shares_settlement_id'), ['settlement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tourism_pass_shares_venue_code'), ['venue_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tourism_pass_shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tourism_pass_shares_venue_code'))
        batch_op.drop_index(batch_op.f('ix_tourism_pass_shares_settlement_id'))
    op.drop_table('tourism_pass_shares')
    op.drop_table('tourism_settlements')
    with op.batch_alter_table('tourism_gates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tourism_gates_venue_code'))
    op.drop_table('tourism_gates')
    with op.batch_alter_table('tourism_products', schema=None) as batch_op:
        batch_op.drop_column('split')
