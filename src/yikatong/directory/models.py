"""Reference tables: partner banks and outlets (loaded from reference_data.toml)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class Bank(Base):
    __tablename__ = "directory_banks"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    short_name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(128))
    hotline: Mapped[str] = mapped_column(String(32))
    ecard_sync: Mapped[bool]
    bin_prefixes: Mapped[list]  # example defaults, not official policy (see the toml)
    position: Mapped[int]       # the seed's order (四.10)


class Outlet(Base):
    __tablename__ = "directory_outlets"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(128))
    district: Mapped[str] = mapped_column(String(32))
    bank_code: Mapped[str | None] = mapped_column(String(16))
