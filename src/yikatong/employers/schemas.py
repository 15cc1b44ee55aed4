"""Request and response bodies of the employers API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from yikatong.employers.service import LinkView


class EndLinkIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="why the link ends / 终止理由")


class LinkOut(BaseModel):
    id: int
    employer_uscc: str
    person_id: int
    started_at: datetime
    ended_at: datetime | None
    made_by: str
    employer_batch_id: int | None
    ended_by: str | None

    @classmethod
    def of(cls, link: LinkView) -> LinkOut:
        return cls(**link.__dict__)
