"""Request and response shapes of the transit wallet API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from yikatong.core.money import PositiveFenAmount
from yikatong.transit.protocols import PayerKind


class PayerIn(BaseModel):
    kind: PayerKind
    reference: str = Field(min_length=1, max_length=64,
                           description="masked card number, e-wallet order id or till; never a full PAN")


class TopUpIn(BaseModel):
    asn: str = Field(pattern=r"^\d{20}$", description="the card's application serial number (file 0015)")
    amount: PositiveFenAmount = Field(description="fen, whole yuan, within the wallet policy's limits")
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


class RiderGrantIn(BaseModel):
    person_id: int = Field(strict=True, ge=1, le=2**63 - 1, description="the registered person (people)")
    category: str = Field(min_length=1, max_length=32,
                          description="a rider category of the fares set against a proof: student, disabled")
    proof_kind: str = Field(min_length=1, max_length=32,
                            description="the proof seen, one the category accepts: student_status_certificate, "
                                        "student_card, disability_certificate")
    proof_reference: str = Field(min_length=1, max_length=64,
                                 description="the certificate's number; personal data, shown masked afterwards")
    valid_until: date | None = Field(default=None, description="last day of the grant (required for student: "
                                                               "the end of the school year); after today")


class RiderGrantRevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="why the grant ends (kept in the audit)")


class RiderGrantOut(BaseModel):
    id: int
    person_id: int
    category: str
    proof_kind: str
    proof_reference: str = Field(description="masked: the last characters only")
    valid_from: date
    valid_until: date | None
    state: Literal["active", "revoked", "expired"]
    in_force: bool = Field(description="true: it sets the person's rider category today")
    granted_by: str
    outlet_code: str | None
    granted_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None
    revoke_reason: str | None


class RefusedRiderRewriteOut(BaseModel):
    asn: str
    card_no: str | None
    person_id: int | None
    on_card: str = Field(description="the rider category the card still shows")
    wanted: str = Field(description="the registry's category the card refused to take")
    refusals: int
    status: str | None = Field(description="the card's last status word, e.g. 6988")
    refused_at: datetime
    last_seen_at: datetime | None
    last_seen_channel: str | None
