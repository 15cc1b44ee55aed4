"""HR services on the card: cases and their documents (yikatong.hrservices)

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hr_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=48), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("outlet_code", sa.String(length=32), nullable=True),
        sa.Column("credential", sa.String(length=8), nullable=False),
        sa.Column("card_no", sa.String(length=16), nullable=True),
        sa.Column("particulars", sa.JSON(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_by_user_id", sa.Integer(), nullable=True),
        sa.Column("officer", sa.String(length=64), nullable=True),
        sa.Column("officer_user_id", sa.Integer(), nullable=True),
        sa.Column("requested", sa.JSON(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("opened_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_hr_cases_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_cases")),
    )
    with op.batch_alter_table("hr_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hr_cases_service_code"), ["service_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_cases_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_cases_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_cases_opened_by_user_id"), ["opened_by_user_id"], unique=False)
    op.create_table(
        "hr_case_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sm3", sa.String(length=72), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["hr_cases.id"], name=op.f("fk_hr_case_documents_case_id_hr_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_case_documents")),
    )
    with op.batch_alter_table("hr_case_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hr_case_documents_case_id"), ["case_id"], unique=False)
    op.create_table(
        "hr_case_document_contents",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["hr_case_documents.id"],
                                name=op.f("fk_hr_case_document_contents_document_id_hr_case_documents")),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_hr_case_document_contents")),
    )


def downgrade() -> None:
    op.drop_table("hr_case_document_contents")
    with op.batch_alter_table("hr_case_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_case_documents_case_id"))
    op.drop_table("hr_case_documents")
    with op.batch_alter_table("hr_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_cases_opened_by_user_id"))
        batch_op.drop_index(batch_op.f("ix_hr_cases_state"))
        batch_op.drop_index(batch_op.f("ix_hr_cases_person_id"))
        batch_op.drop_index(batch_op.f("ix_hr_cases_service_code"))
    op.drop_table("hr_cases")
