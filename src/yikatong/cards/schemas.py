"""Request and response shapes of the cards API; the card's responses are built from the
service views (core.response_models), where their fields are declared."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from yikatong.cards.protocols import BankEventType
from yikatong.cards.rules import FinancialCapabilities, FunctionUse
from yikatong.cards.service import BlockView, CardView, ExpiryReminder, UnblockOutcome
from yikatong.core.money import FenAmount
from yikatong.core.response_models import response_model

BlockOut = response_model(BlockView, name="BlockOut")
CapabilitiesOut = response_model(FinancialCapabilities, name="CapabilitiesOut")
FunctionOut = response_model(FunctionUse, name="FunctionOut")
# The PAN is shown masked; the chip's serial and the application stay inside.
CardOut = response_model(
    CardView, name="CardOut", exclude=("pan", "chip_serial", "application_id"),
    properties=("pan_masked",),
    nested={"functions": list[FunctionOut], "financial_capabilities": CapabilitiesOut,
            "blocks_in_force": list[BlockOut]})


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


UnblockOut = response_model(UnblockOutcome, name="UnblockOut",
                            nested={"card": CardOut, "lifted": list[BlockOut]})


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
    died_on: date | None = Field(default=None, description=(
        "date of death (death certificate); benefits paid for later months are recovered / 死亡日期"))
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


ExpiryReminderOut = response_model(ExpiryReminder, name="ExpiryReminderOut",
                                   properties=("expired",))
