"""time partitions: clearing records, the outbox and the audit trail by month on PostgreSQL;
the archive log; the key table that keeps a chain's seq unique on a partitioned trail; the index
a writer of an archived chain reads its head from

Revision ID: 0030
Revises: 0029

On PostgreSQL the three tables are rebuilt as tables partitioned by month (db.partitioning),
their rows copied (one partition per month they fall in, and this month and the next two):
plan the downtime of a copy of the three tables. SQLite keeps plain tables. The outbox loses
the webhook deliveries' foreign key on both engines (a partitioned outbox's keys include
occurred_at, and its old months are archived).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from yikatong.core.clock import local_date
    from yikatong.db.partitioning import PARTITIONED, ensure_months, next_month, partition_table

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_webhook_deliveries_event_seq_outbox_events", type_="foreignkey")
    op.create_index("ix_audit_checkpoint_heads_chain", "audit_checkpoint_heads",
                    ["entity_type", "entity_id", "checkpoint_seq"], unique=False)
    op.create_table(
        "partition_archives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("partition_name", sa.String(length=64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("file", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sm3", sa.String(length=64), nullable=False),
        sa.Column("audit_checkpoint", sa.Integer(), nullable=True),
        sa.Column("archived_at", yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partition_archives")),
        sa.UniqueConstraint("partition_name", name=op.f("uq_partition_archives_partition_name")),
    )
    op.create_table(
        "audit_record_keys",
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("entity_type", "entity_id", "seq", name=op.f("pk_audit_record_keys")),
    )
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    connection.execute(sa.text("INSERT INTO audit_record_keys (entity_type, entity_id, seq) "
                               "SELECT entity_type, entity_id, seq FROM audit_records"))
    this_month = local_date(datetime.now(UTC)).replace(day=1)  # no platform clock in a migration
    ahead = next_month(next_month(this_month))
    for spec in PARTITIONED:
        partition_table(connection, spec)
        ensure_months(connection, spec, this_month, ahead)


def downgrade() -> None:
    from yikatong.db.partitioning import PARTITIONED, is_partitioned

    connection = op.get_bind()
    if connection.dialect.name == "postgresql" and any(is_partitioned(connection, s.table) for s in PARTITIONED):
        raise NotImplementedError("revision 0030 does not un-partition tables: restore a backup made before it")
    op.drop_table("partition_archives")
    op.drop_table("audit_record_keys")
    op.drop_index("ix_audit_checkpoint_heads_chain", table_name="audit_checkpoint_heads")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_webhook_deliveries_event_seq_outbox_events", "outbox_events",
                                    ["event_seq"], ["seq"])
