"""Request and response shapes of the transit wallet API; the responses are built from the
service views (core.response_models), where their fields and descriptions are declared."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from yikatong.core.money import PositiveFenAmount
from yikatong.core.response_models import response_model
from yikatong.transit.contact import ContactStep
from yikatong.transit.deny_list import DenyListDelta
from yikatong.transit.grants import GrantView
from yikatong.transit.protocols import PayerKind
from yikatong.transit.refunds import RefundView
from yikatong.transit.riders import RefusedRewrite
from yikatong.transit.service import TopUpView


class PayerIn(BaseModel):
    kind: PayerKind
    reference: str = Field(min_length=1, max_length=64,
                           description="masked card number, e-wallet order id or till; never a full PAN")


class TopUpIn(BaseModel):
    asn: str = Field(pattern=r"^\d{20}$", description="the card's application serial number (file 0015)")
    amount: PositiveFenAmount = Field(description="fen, whole yuan, within the wallet policy's limits")
    payer: PayerIn


TopUpOut = response_model(TopUpView, name="TopUpOut", exclude=("expected_counter", "rider_update"))


class ContactIn(BaseModel):
    purpose: Literal["read", "top_up", "refund"]
    order_no: str | None = Field(default=None, max_length=32, description="for purpose top_up")
    card_no: str | None = Field(default=None, max_length=32, description="for purpose refund")


class CardAnswerIn(BaseModel):
    response: str | None = Field(default=None, description="the card's answer in hex, SW1 SW2 included")
    card_removed: bool = Field(default=False, description="the card left (or stopped answering)")


ContactOut = response_model(ContactStep, name="ContactOut")
DenyListOut = response_model(DenyListDelta, name="DenyListOut")


class UnreadableIn(BaseModel):
    card_no: str


WalletRefundOut = response_model(RefundView, name="WalletRefundOut")


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


RiderGrantOut = response_model(GrantView, name="RiderGrantOut")
RefusedRiderRewriteOut = response_model(RefusedRewrite, name="RefusedRiderRewriteOut")
