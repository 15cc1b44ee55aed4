"""pension eligibility confirmation (待遇资格认证), suspensions, recoveries after death (benefits)

Revision ID: 0020
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0020"
down_revision = "0017"
branch_labels = None
depends_on = None

UTC = yikatong.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pension_eligibility",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("office_code", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("suspended_from", sa.String(length=7), nullable=True),
        sa.Column("reminded_for", sa.Date(), nullable=True),
        sa.Column("died_on", sa.Date(), nullable=True),
        sa.Column("last_certification_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_pension_eligibility")),
    )
    with op.batch_alter_table("pension_eligibility", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pension_eligibility_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_pension_eligibility_valid_until"), ["valid_until"], unique=False)

    op.create_table(
        "pension_certifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("certified_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=True),
        sa.Column("ecard_no", sa.String(length=32), nullable=True),
        sa.Column("outlet_code", sa.String(length=32), nullable=True),
        sa.Column("documents", sa.String(length=200), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=160), nullable=False),
        sa.Column("certified_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pension_certifications")),
        sa.UniqueConstraint("request_id", name=op.f("uq_pension_certifications_request_id")),
    )
    with op.batch_alter_table("pension_certifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pension_certifications_person_id"), ["person_id"], unique=False)

    op.create_table(
        "pension_suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("from_period", sa.String(length=7), nullable=False),
        sa.Column("suspended_at", UTC, nullable=False),
        sa.Column("resumed_at", UTC, nullable=True),
        sa.Column("resumed_by_certification_id", sa.Integer(), nullable=True),
        sa.Column("back_pay_periods", sa.JSON(), nullable=True),
        sa.Column("back_pay_status", sa.String(length=16), nullable=False),
        sa.Column("open_key", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pension_suspensions")),
        sa.UniqueConstraint("open_key", name=op.f("uq_pension_suspensions_open_key")),
    )
    with op.batch_alter_table("pension_suspensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pension_suspensions_person_id"), ["person_id"], unique=False)

    op.create_table(
        "pension_recoveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("programme", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("died_on", sa.Date(), nullable=False),
        sa.Column("office_code", sa.String(length=16), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=True),
        sa.Column("card_no", sa.String(length=9), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_refusal", sa.String(length=64), nullable=True),
        sa.Column("bank_reference", sa.String(length=64), nullable=True),
        sa.Column("recovered_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pension_recoveries")),
        sa.UniqueConstraint("programme", "person_id", "period",
                            name=op.f("uq_pension_recoveries_programme_person_id_period")),
        sa.UniqueConstraint("request_id", name=op.f("uq_pension_recoveries_request_id")),
    )
    with op.batch_alter_table("pension_recoveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pension_recoveries_office_code"), ["office_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_pension_recoveries_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pension_recoveries_status"), ["status"], unique=False)

    op.create_table(
        "pension_event_cursors",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_pension_event_cursors")),
    )


def downgrade() -> None:
    op.drop_table("pension_event_cursors")
    with op.batch_alter_table("pension_recoveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pension_recoveries_status"))
        batch_op.drop_index(batch_op.f("ix_pension_recoveries_person_id"))
        batch_op.drop_index(batch_op.f("ix_pension_recoveries_office_code"))
    op.drop_table("pension_recoveries")
    with op.batch_alter_table("pension_suspensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pension_suspensions_person_id"))
    op.drop_table("pension_suspensions")
    with op.batch_alter_table("pension_certifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pension_certifications_person_id"))
    op.drop_table("pension_certifications")
    with op.batch_alter_table("pension_eligibility", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pension_eligibility_valid_until"))
        batch_op.drop_index(batch_op.f("ix_pension_eligibility_status"))
    op.drop_table("pension_eligibility")
