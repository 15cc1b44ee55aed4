"""guardian links: a guardian linked at an outlet acts for a child under 16 (people.guardians)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guardian_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guardian_person_id", sa.Integer(), nullable=False),
        sa.Column("child_person_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=24), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("active_key", sa.String(length=40), nullable=True),
        sa.Column("outlet_code", sa.String(length=32), nullable=False),
        sa.Column("linked_by", sa.String(length=64), nullable=False),
        sa.Column("linked_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("end_reason", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_person_id"],
            ["persons.id"],
            name=op.f("fk_guardian_links_child_person_id_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["guardian_person_id"],
            ["persons.id"],
            name=op.f("fk_guardian_links_guardian_person_id_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guardian_links")),
        sa.UniqueConstraint("active_key", name=op.f("uq_guardian_links_active_key")),
    )
    with op.batch_alter_table("guardian_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guardian_links_child_person_id"), ["child_person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_guardian_links_guardian_person_id"), ["guardian_person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("guardian_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guardian_links_guardian_person_id"))
        batch_op.drop_index(batch_op.f("ix_guardian_links_child_person_id"))

    op.drop_table("guardian_links")
