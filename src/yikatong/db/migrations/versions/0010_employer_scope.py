"""employer scope and review maker-checker: users.employer_uscc, employee_links, and the
pending merge of an identity review awaiting a second operator

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("employer_uscc", sa.String(length=18), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_employer_uscc"), ["employer_uscc"], unique=False)
    op.create_table(
        "employee_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employer_uscc", sa.String(length=18), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("started_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("made_by", sa.String(length=64), nullable=False),
        sa.Column("employer_batch_id", sa.Integer(), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_employee_links_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["employer_batch_id"],
            ["employer_batches.id"],
            name=op.f("fk_employee_links_employer_batch_id_employer_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employee_links")),
    )
    with op.batch_alter_table("employee_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_employee_links_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            "ix_employee_links_employer_person", ["employer_uscc", "person_id"], unique=False
        )
    # A merge waits for a second operator: who proposed it (the maker), when, and whom.
    with op.batch_alter_table("identity_reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposed_person_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("proposed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("proposed_by_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("proposed_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("proposal_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_reviews", schema=None) as batch_op:
        for column in (
            "proposal_reason",
            "proposed_at",
            "proposed_by_user_id",
            "proposed_by",
            "proposed_person_id",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("employee_links", schema=None) as batch_op:
        batch_op.drop_index("ix_employee_links_employer_person")
        batch_op.drop_index(batch_op.f("ix_employee_links_person_id"))
    op.drop_table("employee_links")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_employer_uscc"))
        batch_op.drop_column("employer_uscc")
