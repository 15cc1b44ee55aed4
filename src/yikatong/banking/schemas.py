"""Request and response shapes of the bank's branch API (`/banks`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from yikatong.banking.payments import TransactionView
from yikatong.banking.service import AccountView, ClosureTaskView, LossView
from yikatong.core.money import PositiveFenAmount
from yikatong.core.response_models import response_model

RequestId = Field(min_length=1, max_length=64,
                  description="the caller's idempotency key: a repeat returns the first answer")


LossOut = response_model(LossView, name="LossOut")
# The holder reference stays inside the bank.
AccountOut = response_model(AccountView, name="AccountOut", exclude=("holder_ref",),
                            nested={"losses_in_force": list[LossOut]})


class AccountIn(BaseModel):
    """One line of the production list: the account number of a produced card."""

    card_no: str = Field(min_length=9, max_length=9)
    pan: str = Field(min_length=16, max_length=19)
    issue_date: date


class ActivationIn(BaseModel):
    id_document_checked: bool = Field(description="the teller checked the holder's valid ID")
    card_checked: bool = Field(description="the holder presented the card")


class BranchLossIn(BaseModel):
    kind: Literal["temporary_loss", "formal_loss"]


class DepositIn(BaseModel):
    request_id: str = RequestId
    amount_fen: PositiveFenAmount
    currency: str = "CNY"


class ChipIn(BaseModel):
    """What the POS/ATM forwards from the chip's GENERATE AC (hex for bytes)."""

    pan: str
    psn: int = Field(ge=0, le=99)
    key_version: int = Field(ge=0, le=255)
    cdol1_data: str = Field(pattern=r"^[0-9A-Fa-f]{48}$")
    atc: int = Field(ge=0, le=0xFFFF)
    arqc: str = Field(pattern=r"^[0-9A-Fa-f]{16}$")


class CardTransactionIn(BaseModel):
    request_id: str = RequestId
    kind: Literal["pos_purchase", "withdrawal"]
    amount_fen: PositiveFenAmount
    merchant: str | None = Field(default=None, max_length=64)
    channel: Literal["pos", "atm", "counter"] = "pos"
    chip: ChipIn


class OnlinePaymentIn(BaseModel):
    request_id: str = RequestId
    amount_fen: PositiveFenAmount
    merchant: str = Field(min_length=1, max_length=64)
    currency: str = "CNY"
    country: str = "CN"


class TransferIn(BaseModel):
    request_id: str = RequestId
    to_account: str = Field(min_length=16, max_length=19)
    amount_fen: PositiveFenAmount
    currency: str = "CNY"
    country: str = "CN"


class CreditIn(BaseModel):
    request_id: str = RequestId
    amount_fen: PositiveFenAmount
    payer: str = Field(min_length=1, max_length=64, description="e.g. the pension fund")
    currency: str = "CNY"
    country: str = "CN"


TransactionOut = response_model(TransactionView, name="TransactionOut",
                                types={"status": Literal["posted", "held", "failed"]})
ClosureTaskOut = response_model(ClosureTaskView, name="ClosureTaskOut")
