"""Request and response shapes of the cross-region filing API (crossregion_api.py)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from yikatong.core.response_models import response_model
from yikatong.medical.crossregion import FilingView, Reason

ADMDVS = r"^[1-8]\d{5}$"
REASONS = ("retired_resettled 异地安置退休, long_term_residence 异地长期居住, posted_to_work 常驻异地工作 "
           "(long-term); referral 转诊转院, emergency 急诊抢救, other 其他临时外出就医 (temporary)")


class MyFilingIn(BaseModel):
    filed_admdvs: str = Field(pattern=ADMDVS, description="the region filed for: province, city or district code")
    reason: Reason = Field(description=REASONS)
    begin: date | None = Field(default=None, description="first day covered; default today")
    end: date | None = Field(default=None, description="last day covered; temporary default begin + 179 days, "
                                                       "long-term default open until cancelled")


class FilingIn(MyFilingIn):
    person_id: int = Field(ge=1, le=2**63 - 1, description="the insured person (people.id)")
    begin: date | None = Field(default=None, description="first day covered; before today = filed after the fact "
                                                       "(补办); default today")


class FilingCancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)
    effective: date | None = Field(default=None, description="first day no longer covered; default today")


FilingOut = response_model(FilingView, name="MedicalFilingOut", properties=("last_day",))
