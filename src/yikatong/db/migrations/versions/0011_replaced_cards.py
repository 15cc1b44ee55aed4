"""the reference bank records a retired card (replaced: dead on every door); every Jiangsu card
a person held is recorded (jiangsu_card_records), backfilled from the cards already issued or
ended

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BACKFILLED_BY = "migration-0011"


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retired_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("retired_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("successor_card_no", sa.String(length=9), nullable=True))

    op.create_table(
        "jiangsu_card_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("card_no", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jiangsu_card_records")),
        sa.UniqueConstraint(
            "person_id",
            "card_no",
            "source",
            name=op.f("uq_jiangsu_card_records_person_id_card_no_source"),
        ),
    )
    with op.batch_alter_table("jiangsu_card_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jiangsu_card_records_person_id"), ["person_id"], unique=False
        )

    # Every card already handed over was held; every retired one also ended (四.5). The
    # timestamps are copied as stored, so they keep the column type's own format.
    op.execute(
        sa.text(
            "INSERT INTO jiangsu_card_records (person_id, card_no, source, recorded_at, recorded_by) "
            "SELECT person_id, card_no, 'issued', handed_over_at, :by FROM cards "
            "WHERE handed_over_at IS NOT NULL ORDER BY id"
        ).bindparams(by=BACKFILLED_BY)
    )
    op.execute(
        sa.text(
            "INSERT INTO jiangsu_card_records (person_id, card_no, source, recorded_at, recorded_by) "
            "SELECT person_id, card_no, 'ended', COALESCE(ended_at, updated_at), :by FROM cards "
            "WHERE state = 'retired' ORDER BY id"
        ).bindparams(by=BACKFILLED_BY)
    )


def downgrade() -> None:
    with op.batch_alter_table("jiangsu_card_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jiangsu_card_records_person_id"))
    op.drop_table("jiangsu_card_records")
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.drop_column("successor_card_no")
        batch_op.drop_column("retired_reason")
        batch_op.drop_column("retired_at")
