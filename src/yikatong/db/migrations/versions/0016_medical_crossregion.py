"""medical cross-region care: filings (异地就医备案), the Changzhou office's inter-region
settlements (in: other regions' insured treated here; out: ours treated elsewhere) and the daily
inter-region clearing batches

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('medical_interregion_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('counterpart_admdvs', sa.String(length=6), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('receivable', sa.BigInteger(), nullable=False),
    sa.Column('payable', sa.BigInteger(), nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('differences', sa.JSON(), nullable=False),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_interregion_batches')),
    sa.UniqueConstraint('file_id', name=op.f('uq_medical_interregion_batches_file_id'))
    )
    op.create_table('medical_crossregion_filings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('insured_admdvs', sa.String(length=6), nullable=False),
    sa.Column('filed_admdvs', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=24), nullable=False),
    sa.Column('begin', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=True),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('after_the_fact', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cancelled_from', sa.Date(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=200), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_medical_crossregion_filings_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_crossregion_filings')),
    sa.UniqueConstraint('request_id', name=op.f('uq_medical_crossregion_filings_request_id'))
    )
    with op.batch_alter_table('medical_crossregion_filings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_crossregion_filings_person_id'), ['person_id'], unique=False)

    op.create_table('medical_interregion_settlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('counterpart_admdvs', sa.String(length=6), nullable=False),
    sa.Column('insured_admdvs', sa.String(length=6), nullable=False),
    sa.Column('treatment_admdvs', sa.String(length=6), nullable=False),
    sa.Column('setl_id', sa.String(length=64), nullable=False),
    sa.Column('entry', sa.String(length=8), nullable=False),
    sa.Column('msgid', sa.String(length=64), nullable=False),
    sa.Column('reverses', sa.Integer(), nullable=True),
    sa.Column('fixmedins_code', sa.String(length=32), nullable=False),
    sa.Column('psn_no', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('cross_region', sa.String(length=16), nullable=False),
    sa.Column('medfee_sumamt', sa.BigInteger(), nullable=False),
    sa.Column('fund_pay_sumamt', sa.BigInteger(), nullable=False),
    sa.Column('acct_pay', sa.BigInteger(), nullable=False),
    sa.Column('psn_cash_pay', sa.BigInteger(), nullable=False),
    sa.Column('owed', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('policy_version', sa.String(length=64), nullable=False),
    sa.Column('setlinfo', sa.JSON(), nullable=False),
    sa.Column('totals_delta', sa.JSON(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['medical_interregion_batches.id'], name=op.f('fk_medical_interregion_settlements_batch_id_medical_interregion_batches')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_medical_interregion_settlements_person_id_persons')),
    sa.ForeignKeyConstraint(['reverses'], ['medical_interregion_settlements.id'], name=op.f('fk_medical_interregion_settlements_reverses_medical_interregion_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_interregion_settlements')),
    sa.UniqueConstraint('direction', 'setl_id', 'entry', name=op.f('uq_medical_interregion_settlements_direction_setl_id_entry')),
    sa.UniqueConstraint('direction', 'fixmedins_code', 'msgid', name=op.f('uq_medical_interregion_settlements_msgid'))
    )
    with op.batch_alter_table('medical_interregion_settlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_interregion_settlements_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_interregion_settlements_counterpart_admdvs'), ['counterpart_admdvs'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_interregion_settlements_day'), ['day'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('medical_interregion_settlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_interregion_settlements_day'))
        batch_op.drop_index(batch_op.f('ix_medical_interregion_settlements_counterpart_admdvs'))
        batch_op.drop_index(batch_op.f('ix_medical_interregion_settlements_batch_id'))

    op.drop_table('medical_interregion_settlements')
    with op.batch_alter_table('medical_crossregion_filings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_crossregion_filings_person_id'))

    op.drop_table('medical_crossregion_filings')
    op.drop_table('medical_interregion_batches')
