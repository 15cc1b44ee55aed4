from __future__ import annotations

from pydantic import BaseModel


class BankOut(BaseModel):
    code: str
    name_zh: str
    short_name_zh: str
    name_en: str
    hotline: str
    ecard_channel: bool
    bin_prefixes: list[str]
    bin_prefixes_note: str = "example default – not official policy"


class OutletOut(BaseModel):
    code: str
    kind: str
    kind_zh: str
    kind_en: str
    name: str
    district: str
    bank_code: str | None
    refunds_transit_balance: bool


class HotlineOut(BaseModel):
    number: str
    name_zh: str
    name_en: str
