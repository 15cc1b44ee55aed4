"""Request and response bodies of the employers API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from yikatong.core.response_models import response_model
from yikatong.employers.service import LinkView


class EndLinkIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="why the link ends / 终止理由")


LinkOut = response_model(LinkView, name="LinkOut")
