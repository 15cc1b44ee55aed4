"""Request and response shapes of the transit wallet API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from yikatong.transit.protocols import PayerKind


class PayerIn(BaseModel):
    kind: PayerKind
    reference: str = Field(min_length=1, max_length=64,
                           description="masked card number, e-wallet order id or till; never a full PAN")


class TopUpIn(BaseModel):
    asn: str = Field(pattern=r"^\d{20}$", description="the card's application serial number (file 0015)")
    amount: int = Field(strict=True, description="fen, whole yuan, within the wallet policy's limits")
    payer: PayerIn


class TopUpOut(BaseModel):
    order_no: str
    asn: str
    amount: int
    channel: str
    state: str
    payer_kind: str
    balance_read: int
    payment_reference: str | None
    write_attempts: int
    tac: str | None
    tac_verified: bool | None
    recovered: bool
    needs_review: bool
    failure_reason: str | None
    created_at: datetime
    paid_at: datetime | None
    done_at: datetime | None
    refunded_at: datetime | None


class ContactIn(BaseModel):
    purpose: Literal["read", "top_up", "refund"]
    order_no: str | None = Field(default=None, max_length=32, description="for purpose top_up")
    card_no: str | None = Field(default=None, max_length=32, description="for purpose refund")


class CardAnswerIn(BaseModel):
    response: str | None = Field(default=None, description="the card's answer in hex, SW1 SW2 included")
    card_removed: bool = Field(default=False, description="the card left (or stopped answering)")


class ContactOut(BaseModel):
    contact_id: str
    purpose: str
    state: Literal["awaiting_card", "done", "failed"]
    command: str | None = Field(description="the APDU (hex) to send to the card next")
    result: dict | None
    problem: dict | None
    exchanges: int


class DenyListOut(BaseModel):
    version: int
    added: list[str]
    removed: list[str]
    complete: bool = Field(description="true: `added` is the whole list, replace yours")


class UnreadableIn(BaseModel):
    card_no: str


class WalletRefundOut(BaseModel):
    card_no: str
    asn: str
    kind: str
    state: str
    amount: int | None
    balance_source: str | None
    outlet_code: str | None
    created_at: datetime
    due_at: datetime | None
    refunded_at: datetime | None
