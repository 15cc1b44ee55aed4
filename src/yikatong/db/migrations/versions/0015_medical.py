"""medical insurance (issue 13): enrolment periods and insured persons, designated institutions
(interface secret sealed), chronic/special disease filings, visits, fee lines, settlements with
every setlinfo field, yearly totals, and the institutions' handled messages (msgid)

Revision ID: 0015
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('medical_disease_filings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filing_no', sa.String(length=30), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('disease_code', sa.String(length=20), nullable=False),
    sa.Column('disease_name', sa.String(length=100), nullable=False),
    sa.Column('fixmedins_code', sa.String(length=12), nullable=True),
    sa.Column('begin_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('filed_by', sa.String(length=64), nullable=False),
    sa.Column('filed_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_disease_filings')),
    sa.UniqueConstraint('filing_no', name=op.f('uq_medical_disease_filings_filing_no'))
    )
    with op.batch_alter_table('medical_disease_filings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_disease_filings_person_id'), ['person_id'], unique=False)

    op.create_table('medical_enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=3), nullable=False),
    sa.Column('insured_admdvs', sa.String(length=6), nullable=False),
    sa.Column('retired', sa.Boolean(), nullable=False),
    sa.Column('assistance', sa.Boolean(), nullable=False),
    sa.Column('employer_uscc', sa.String(length=18), nullable=True),
    sa.Column('employer_name', sa.String(length=128), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_enrolments'))
    )
    with op.batch_alter_table('medical_enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_enrolments_person_id'), ['person_id'], unique=False)

    op.create_table('medical_institutions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('admdvs', sa.String(length=6), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('secret_sealed', sa.String(length=400), nullable=True),
    sa.Column('secret_issued_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_medical_institutions'))
    )
    op.create_table('medical_insured',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('psn_no', sa.String(length=30), nullable=False),
    sa.Column('account_code', sa.String(length=64), nullable=False),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_medical_insured')),
    sa.UniqueConstraint('psn_no', name=op.f('uq_medical_insured_psn_no'))
    )
    op.create_table('medical_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fixmedins_code', sa.String(length=12), nullable=False),
    sa.Column('msgid', sa.String(length=30), nullable=False),
    sa.Column('infno', sa.String(length=4), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('reversed', sa.Boolean(), nullable=False),
    sa.Column('reversed_by', sa.String(length=30), nullable=True),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_messages')),
    sa.UniqueConstraint('fixmedins_code', 'msgid', name=op.f('uq_medical_messages_fixmedins_code_msgid'))
    )
    op.create_table('medical_visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mdtrt_id', sa.String(length=30), nullable=False),
    sa.Column('fixmedins_code', sa.String(length=12), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('psn_no', sa.String(length=30), nullable=False),
    sa.Column('insutype', sa.String(length=3), nullable=False),
    sa.Column('insuplc_admdvs', sa.String(length=6), nullable=False),
    sa.Column('mdtrtarea_admvs', sa.String(length=6), nullable=False),
    sa.Column('med_type', sa.String(length=4), nullable=False),
    sa.Column('cert_type', sa.String(length=2), nullable=False),
    sa.Column('dise_codg', sa.String(length=20), nullable=True),
    sa.Column('dept', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('begin_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('msgid', sa.String(length=30), nullable=False),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_visits')),
    sa.UniqueConstraint('mdtrt_id', name=op.f('uq_medical_visits_mdtrt_id'))
    )
    with op.batch_alter_table('medical_visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_visits_begin_at'), ['begin_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_visits_fixmedins_code'), ['fixmedins_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_visits_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_visits_state'), ['state'], unique=False)

    op.create_table('medical_year_totals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('outpatient_deductible', sa.BigInteger(), nullable=False),
    sa.Column('outpatient_fund', sa.BigInteger(), nullable=False),
    sa.Column('inpatient_admissions', sa.Integer(), nullable=False),
    sa.Column('inpatient_fund', sa.BigInteger(), nullable=False),
    sa.Column('serious_base', sa.BigInteger(), nullable=False),
    sa.Column('serious_paid', sa.BigInteger(), nullable=False),
    sa.Column('subsidy_paid', sa.BigInteger(), nullable=False),
    sa.Column('assistance_paid', sa.BigInteger(), nullable=False),
    sa.Column('medfee_total', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_year_totals')),
    sa.UniqueConstraint('person_id', 'year', name=op.f('uq_medical_year_totals_person_id_year'))
    )
    with op.batch_alter_table('medical_year_totals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_year_totals_person_id'), ['person_id'], unique=False)

    op.create_table('medical_fee_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('feedetl_sn', sa.String(length=30), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('item_class', sa.String(length=3), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('price_limit', sa.BigInteger(), nullable=True),
    sa.Column('pre_self_pay_bp', sa.Integer(), nullable=False),
    sa.Column('catalogue_version', sa.String(length=32), nullable=False),
    sa.Column('fee_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('msgid', sa.String(length=30), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=True),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['medical_visits.id'], name=op.f('fk_medical_fee_lines_visit_id_medical_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_fee_lines')),
    sa.UniqueConstraint('visit_id', 'feedetl_sn', name=op.f('uq_medical_fee_lines_visit_id_feedetl_sn'))
    )
    with op.batch_alter_table('medical_fee_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_fee_lines_settlement_id'), ['settlement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_fee_lines_visit_id'), ['visit_id'], unique=False)

    op.create_table('medical_settlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('setl_id', sa.String(length=30), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('mdtrt_id', sa.String(length=30), nullable=False),
    sa.Column('fixmedins_code', sa.String(length=12), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('psn_no', sa.String(length=30), nullable=False),
    sa.Column('insutype', sa.String(length=3), nullable=False),
    sa.Column('med_type', sa.String(length=4), nullable=False),
    sa.Column('insuplc_admdvs', sa.String(length=6), nullable=False),
    sa.Column('mdtrtarea_admvs', sa.String(length=6), nullable=False),
    sa.Column('cert_type', sa.String(length=2), nullable=False),
    sa.Column('cross_region', sa.String(length=16), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('medins_setl_id', sa.String(length=30), nullable=False),
    sa.Column('medfee_sumamt', sa.BigInteger(), nullable=False),
    sa.Column('fulamt_ownpay_amt', sa.BigInteger(), nullable=False),
    sa.Column('overlmt_selfpay', sa.BigInteger(), nullable=False),
    sa.Column('preselfpay_amt', sa.BigInteger(), nullable=False),
    sa.Column('inscp_scp_amt', sa.BigInteger(), nullable=False),
    sa.Column('act_pay_dedc', sa.BigInteger(), nullable=False),
    sa.Column('hifp_pay', sa.BigInteger(), nullable=False),
    sa.Column('pool_prop_selfpay', sa.Integer(), nullable=False),
    sa.Column('cvlserv_pay', sa.BigInteger(), nullable=False),
    sa.Column('hifes_pay', sa.BigInteger(), nullable=False),
    sa.Column('hifmi_pay', sa.BigInteger(), nullable=False),
    sa.Column('hifob_pay', sa.BigInteger(), nullable=False),
    sa.Column('maf_pay', sa.BigInteger(), nullable=False),
    sa.Column('oth_pay', sa.BigInteger(), nullable=False),
    sa.Column('fund_pay_sumamt', sa.BigInteger(), nullable=False),
    sa.Column('hosp_part_amt', sa.BigInteger(), nullable=False),
    sa.Column('psn_part_amt', sa.BigInteger(), nullable=False),
    sa.Column('acct_pay', sa.BigInteger(), nullable=False),
    sa.Column('psn_cash_pay', sa.BigInteger(), nullable=False),
    sa.Column('acct_mulaid_pay', sa.BigInteger(), nullable=False),
    sa.Column('balc', sa.BigInteger(), nullable=False),
    sa.Column('policy_version', sa.String(length=32), nullable=False),
    sa.Column('catalogue_version', sa.String(length=32), nullable=False),
    sa.Column('totals_delta', sa.JSON(), nullable=False),
    sa.Column('journal_request_id', sa.String(length=128), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('msgid', sa.String(length=30), nullable=False),
    sa.Column('settled_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_msgid', sa.String(length=30), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['medical_visits.id'], name=op.f('fk_medical_settlements_visit_id_medical_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_settlements')),
    sa.UniqueConstraint('setl_id', name=op.f('uq_medical_settlements_setl_id'))
    )
    with op.batch_alter_table('medical_settlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_settlements_fixmedins_code'), ['fixmedins_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_settlements_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_settlements_settled_at'), ['settled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_medical_settlements_visit_id'), ['visit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('medical_settlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_settlements_visit_id'))
        batch_op.drop_index(batch_op.f('ix_medical_settlements_settled_at'))
        batch_op.drop_index(batch_op.f('ix_medical_settlements_person_id'))
        batch_op.drop_index(batch_op.f('ix_medical_settlements_fixmedins_code'))

    op.drop_table('medical_settlements')
    with op.batch_alter_table('medical_fee_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_fee_lines_visit_id'))
        batch_op.drop_index(batch_op.f('ix_medical_fee_lines_settlement_id'))

    op.drop_table('medical_fee_lines')
    with op.batch_alter_table('medical_year_totals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_year_totals_person_id'))

    op.drop_table('medical_year_totals')
    with op.batch_alter_table('medical_visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_visits_state'))
        batch_op.drop_index(batch_op.f('ix_medical_visits_person_id'))
        batch_op.drop_index(batch_op.f('ix_medical_visits_fixmedins_code'))
        batch_op.drop_index(batch_op.f('ix_medical_visits_begin_at'))

    op.drop_table('medical_visits')
    op.drop_table('medical_messages')
    op.drop_table('medical_insured')
    op.drop_table('medical_institutions')
    with op.batch_alter_table('medical_enrolments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_enrolments_person_id'))

    op.drop_table('medical_enrolments')
    with op.batch_alter_table('medical_disease_filings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_disease_filings_person_id'))

    op.drop_table('medical_disease_filings')
