"""What the database operations keep about themselves: the archived partitions (db.archive)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class PartitionArchive(Base):
    """One month of a partitioned table (db.partitioning) detached, written to an archive file
    and dropped: where the file is and how to recognise it. For `audit_records`,
    `audit_checkpoint` is the signed checkpoint whose bound covers every archived record: a
    verification of what is present starts there (audit.service.archive_point)."""

    __tablename__ = "partition_archives"

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64))
    partition_name: Mapped[str] = mapped_column(String(64), unique=True)
    month: Mapped[date] = mapped_column(Date)
    rows: Mapped[int] = mapped_column(BigInteger)
    file: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    sm3: Mapped[str] = mapped_column(String(64))
    audit_checkpoint: Mapped[int | None]
    archived_at: Mapped[datetime]
