"""audit checkpoints, verification results, append-only audit tables

Signed checkpoints of every audit chain's head (audit_checkpoints, audit_checkpoint_heads),
the outcome of each verification (audit_verifications), and triggers that refuse UPDATE and
DELETE on the four audit tables (docs/audit.md). The trigger SQL is written out here, not
imported, so this revision keeps doing what it did when the models change.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_records", "audit_checkpoints", "audit_checkpoint_heads", "audit_verifications")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION ykt_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_seq", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint_heads")),
        sa.UniqueConstraint("checkpoint_seq", "entity_type", "entity_id",
                            name=op.f("uq_audit_checkpoint_heads_checkpoint_seq_entity_type_entity_id")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("upto_record_id", sa.Integer(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("chain_count", sa.Integer(), nullable=False),
        sa.Column("changed_count", sa.Integer(), nullable=False),
        sa.Column("changes_root", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_checkpoints_seq")),
    )
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("from_checkpoint", sa.Integer(), nullable=True),
        sa.Column("to_checkpoint", sa.Integer(), nullable=True),
        sa.Column("chains", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("first_problem", sa.JSON(), nullable=True),
        sa.Column("triggered_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )
    with op.batch_alter_table("audit_verifications", schema=None) as batch_op:
        batch_op.create_index("ix_audit_verifications_at", ["at"], unique=False)
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for table in APPEND_ONLY_TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION ykt_refuse_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        elif dialect == "sqlite":
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ykt_refuse_change()")
    with op.batch_alter_table("audit_verifications", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_verifications_at")
    op.drop_table("audit_verifications")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_checkpoint_heads")
