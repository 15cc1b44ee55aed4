"""benefits: programmes, enrolments, payee lists, runs, batches, payments, retry queue and the
ID->account map (issue 14)

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('benefit_account_map',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('card_no', sa.String(length=9), nullable=False),
    sa.Column('bank_code', sa.String(length=16), nullable=False),
    sa.Column('pan', sa.String(length=19), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_benefit_account_map'))
    )
    with op.batch_alter_table('benefit_account_map', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_account_map_bank_code'), ['bank_code'], unique=False)

    op.create_table('benefit_enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_code', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('monthly_fen', sa.BigInteger(), nullable=True),
    sa.Column('start_period', sa.String(length=7), nullable=False),
    sa.Column('end_period', sa.String(length=7), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_enrolments')),
    sa.UniqueConstraint('programme_code', 'person_id', 'source_ref', name=op.f('uq_benefit_enrolments_programme_code_person_id_source_ref'))
    )
    with op.batch_alter_table('benefit_enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_enrolments_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_benefit_enrolments_programme_code'), ['programme_code'], unique=False)

    op.create_table('benefit_event_cursors',
    sa.Column('consumer', sa.String(length=64), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', name=op.f('pk_benefit_event_cursors'))
    )
    op.create_table('benefit_payee_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_code', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('office_code', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('received_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_payee_lists')),
    sa.UniqueConstraint('programme_code', 'period', name=op.f('uq_benefit_payee_lists_programme_code_period'))
    )
    op.create_table('benefit_programmes',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('office_code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=60), nullable=False),
    sa.Column('name_en', sa.String(length=80), nullable=False),
    sa.Column('schedule', sa.String(length=16), nullable=False),
    sa.Column('pay_day', sa.Integer(), nullable=False),
    sa.Column('payer_code', sa.String(length=32), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=400), nullable=False),
    sa.Column('config_version', sa.String(length=32), nullable=False),
    sa.Column('loaded_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_benefit_programmes'))
    )
    with op.batch_alter_table('benefit_programmes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_programmes_office_code'), ['office_code'], unique=False)

    op.create_table('benefit_payees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('id_number', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('memo', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['benefit_payee_lists.id'], name=op.f('fk_benefit_payees_list_id_benefit_payee_lists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_payees')),
    sa.UniqueConstraint('list_id', 'id_number', name=op.f('uq_benefit_payees_list_id_id_number'))
    )
    op.create_table('benefit_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_code', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('office_code', sa.String(length=16), nullable=False),
    sa.Column('payer_code', sa.String(length=32), nullable=False),
    sa.Column('pay_date', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('mapped', sa.Boolean(), nullable=False),
    sa.Column('due_count', sa.Integer(), nullable=False),
    sa.Column('due_fen', sa.BigInteger(), nullable=False),
    sa.Column('started_by', sa.String(length=64), nullable=False),
    sa.Column('started_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reconciled_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reconciliation', sa.JSON(), nullable=True),
    sa.Column('reconciliation_file', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['benefit_payee_lists.id'], name=op.f('fk_benefit_runs_list_id_benefit_payee_lists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_runs')),
    sa.UniqueConstraint('programme_code', 'period', name=op.f('uq_benefit_runs_programme_code_period'))
    )
    with op.batch_alter_table('benefit_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_runs_office_code'), ['office_code'], unique=False)

    op.create_table('benefit_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('bank_code', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('first_row_ref', sa.String(length=64), nullable=True),
    sa.Column('last_row_ref', sa.String(length=64), nullable=True),
    sa.Column('sm3_hex', sa.String(length=64), nullable=True),
    sa.Column('file_name', sa.String(length=300), nullable=True),
    sa.Column('receipt_id', sa.String(length=64), nullable=True),
    sa.Column('result_file', sa.String(length=300), nullable=True),
    sa.Column('posted_count', sa.Integer(), nullable=False),
    sa.Column('posted_fen', sa.BigInteger(), nullable=False),
    sa.Column('held_count', sa.Integer(), nullable=False),
    sa.Column('held_fen', sa.BigInteger(), nullable=False),
    sa.Column('failed_count', sa.Integer(), nullable=False),
    sa.Column('failed_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['benefit_runs.id'], name=op.f('fk_benefit_batches_run_id_benefit_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_batches')),
    sa.UniqueConstraint('batch_id', name=op.f('uq_benefit_batches_batch_id')),
    sa.UniqueConstraint('run_id', 'bank_code', 'seq', name=op.f('uq_benefit_batches_run_id_bank_code_seq'))
    )
    with op.batch_alter_table('benefit_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_batches_run_id'), ['run_id'], unique=False)

    op.create_table('benefit_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('programme_code', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('id_number', sa.String(length=20), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason_code', sa.String(length=32), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('bank_code', sa.String(length=16), nullable=True),
    sa.Column('pan', sa.String(length=19), nullable=True),
    sa.Column('card_no', sa.String(length=9), nullable=True),
    sa.Column('batch_seq', sa.Integer(), nullable=True),
    sa.Column('bank_reference', sa.String(length=64), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['benefit_runs.id'], name=op.f('fk_benefit_payments_run_id_benefit_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_payments')),
    sa.UniqueConstraint('programme_code', 'period', 'id_number', name=op.f('uq_benefit_payments_programme_code_period_id_number'))
    )
    with op.batch_alter_table('benefit_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_payments_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_benefit_payments_run_batch', ['run_id', 'bank_code', 'batch_seq'], unique=False)
        batch_op.create_index('ix_benefit_payments_run_status', ['run_id', 'status'], unique=False)

    op.create_table('benefit_retry_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('reason_code', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('queued_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['benefit_payments.id'], name=op.f('fk_benefit_retry_queue_payment_id_benefit_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_retry_queue')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_benefit_retry_queue_payment_id'))
    )
    with op.batch_alter_table('benefit_retry_queue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_retry_queue_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_benefit_retry_queue_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('benefit_retry_queue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benefit_retry_queue_status'))
        batch_op.drop_index(batch_op.f('ix_benefit_retry_queue_run_id'))

    op.drop_table('benefit_retry_queue')
    with op.batch_alter_table('benefit_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_benefit_payments_run_status')
        batch_op.drop_index('ix_benefit_payments_run_batch')
        batch_op.drop_index(batch_op.f('ix_benefit_payments_person_id'))

    op.drop_table('benefit_payments')
    with op.batch_alter_table('benefit_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benefit_batches_run_id'))

    op.drop_table('benefit_batches')
    with op.batch_alter_table('benefit_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benefit_runs_office_code'))

    op.drop_table('benefit_runs')
    op.drop_table('benefit_payees')
    with op.batch_alter_table('benefit_programmes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benefit_programmes_office_code'))

    op.drop_table('benefit_programmes')
    op.drop_table('benefit_payee_lists')
    op.drop_table('benefit_event_cursors')
    with op.batch_alter_table('benefit_enrolments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benefit_enrolments_programme_code'))
        batch_op.drop_index(batch_op.f('ix_benefit_enrolments_person_id'))

    op.drop_table('benefit_enrolments')
    with op.batch_alter_table('benefit_account_map', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benefit_account_map_bank_code'))

    op.drop_table('benefit_account_map')
