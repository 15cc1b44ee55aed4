"""Request and response shapes of the cards API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from yikatong.cards.protocols import BankEventType
from yikatong.core.money import FenAmount


class BlockOut(BaseModel):
    id: int
    function: str
    kind: str
    reason_code: str
    set_by: str
    set_by_role: str
    channel: str
    branch_code: str | None
    started_at: datetime
    ends_at: datetime | None
    lifted_at: datetime | None
    lifted_by: str | None
    lifted_by_role: str | None
    lifted_channel: str | None
    lift_reason: str | None
    in_force: bool


class CapabilitiesOut(BaseModel):
    card_present: bool
    online: bool
    credit: bool


class FunctionOut(BaseModel):
    function: str = Field(description="hr 人社功能 | financial 金融功能")
    usable: bool
    status: str


class CardOut(BaseModel):
    card_no: str
    person_id: int
    kind: str
    bank_code: str
    pan_masked: str
    card_id_code: str
    asn: str
    state: str
    hr_status: str
    hr_loss_ends_at: datetime | None
    financial_status: str = Field(description="retired/cancelled for an ended card, whatever "
                                              "the bank last said / 卡片停用后显示停用")
    bank_financial_status: str = Field(description="the bank's last word / 银行最后通知的状态")
    functions: list[FunctionOut]
    financial_capabilities: CapabilitiesOut
    issue_date: date
    financial_valid_until: date
    predecessor_card_no: str | None
    successor_card_no: str | None
    handed_over_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    end_note: str | None
    transferred_to_province: str | None
    version: int = Field(description="send back as expected_version to guard against "
                                     "concurrent changes / 并发修改保护")
    blocks_in_force: list[BlockOut]


class CardListItemOut(BaseModel):
    card_no: str
    person_id: int
    name: str | None
    ssn_masked: str | None
    bank_code: str
    pan_masked: str
    state: str
    hr_status: str
    financial_status: str
    issue_date: date
    financial_valid_until: date


class Referral(BaseModel):
    zh: str
    en: str


class LossIn(BaseModel):
    kind: Literal["temporary", "formal"]
    function: str | None = Field(default=None, description="hr | financial | both; the "
                                 "transit wallet cannot be reported lost")
    reason_code: str = Field(default="lost", max_length=32)
    expected_version: int | None = None


class LossOut(BaseModel):
    card: CardOut
    referral: Referral | None


class UnblockIn(BaseModel):
    function: str | None = None
    expected_version: int | None = None


class UnblockOut(BaseModel):
    card: CardOut
    lifted: list[BlockOut]
    cancelled_replacements: list[str]


class FreezeIn(BaseModel):
    reason_code: str = Field(min_length=1, max_length=32)
    note: str | None = Field(default=None, max_length=500)
    expected_version: int | None = None


class UnfreezeIn(BaseModel):
    note: str | None = Field(default=None, max_length=500)
    expected_version: int | None = None


class TransferOutIn(BaseModel):
    destination_province: str = Field(min_length=2, max_length=16)
    rule_note: str = Field(min_length=1, max_length=500)
    expected_version: int | None = None


class DeceasedIn(BaseModel):
    note: str = Field(min_length=1, max_length=500)
    expected_version: int | None = None


class WalletRefundIn(BaseModel):
    refunded_fen: Annotated[FenAmount, Field(le=100_000)] = Field(
        description="refunded amount in fen (分); the wallet holds at most 1000 CNY")
    note: str | None = Field(default=None, max_length=500)


class ActivationIn(BaseModel):
    expected_version: int | None = None


class BankEventIn(BaseModel):
    event_id: str = Field(min_length=1, max_length=64)
    bank_code: str = Field(min_length=1, max_length=16)
    card_no: str = Field(min_length=1, max_length=32)
    pan: str = Field(min_length=1, max_length=19)
    type: BankEventType
    occurred_at: datetime
    channel: str | None = Field(default=None, max_length=32)
    ends_at: datetime | None = None
    task_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class BankEventOut(BaseModel):
    applied: bool
    card: CardOut


class ExpiryReminderOut(BaseModel):
    card_no: str
    person_id: int
    bank_code: str
    financial_valid_until: date
    days_left: int
    expired: bool
