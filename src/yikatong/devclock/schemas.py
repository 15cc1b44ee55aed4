"""Request and response shapes of the development clock."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field


class ClockOut(BaseModel):
    now: datetime
    now_local: str = Field(description="Changzhou (Beijing) time / 北京时间")
    moved: bool = Field(description="Whether the clock differs from real time / 是否已拨动")


class ClockMoveIn(BaseModel):
    set_to: AwareDatetime | None = Field(
        default=None, description="Move to this instant / 拨到此刻"
    )
    advance_days: int = Field(default=0, ge=0, le=366 * 20)
    advance_hours: int = Field(default=0, ge=0, le=24 * 366)
    advance_minutes: int = Field(default=0, ge=0, le=60 * 24 * 366)
