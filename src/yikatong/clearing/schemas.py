"""Response shapes of the clearing API (uploads are the raw file, see docs/clearing-batch-format.md),
built from the service views (core.response_models): a field is declared in the view only."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from yikatong.clearing.batches import BatchResult, Posting
from yikatong.clearing.day_review import ReviewResult
from yikatong.clearing.reports import AccountCheck, ExceptionView, SettlementLine
from yikatong.clearing.rules import CardDay
from yikatong.clearing.shadow_balances import Disagreement
from yikatong.core.response_models import response_model

PostingOut = response_model(Posting, name="PostingOut")  # amounts in fen
BatchOut = response_model(
    BatchResult, name="BatchOut", exclude=("replayed",), nested={"postings": list[PostingOut]}
)
ExceptionOut = response_model(
    ExceptionView,
    name="ExceptionOut",
    types={"opened_at": datetime, "resolved_at": datetime | None},
)
SettlementLineOut = response_model(SettlementLine, name="SettlementLineOut")
CardDayOut = response_model(
    CardDay, name="CardDayOut", exclude=("records",), properties=("difference",)
)
AccountCheckOut = response_model(AccountCheck, name="AccountCheckOut", properties=("agrees",))
DisagreementOut = response_model(Disagreement, name="DisagreementOut", properties=("difference",))
ReviewOut = response_model(ReviewResult, name="ReviewOut")


class SettlementOut(BaseModel):  # the settlement report and the day's reconciliation together
    day: date
    lines: list[SettlementLineOut]
    total_count: int
    total_amount: int
    pending_count: int
    pending_amount: int
    rejected_count: int
    loads_count: int
    loads_amount: int
    reconciled: bool
    cards_checked: int
    card_mismatches: list[CardDayOut]
    accounts: list[AccountCheckOut]


class ShadowBalanceOut(BaseModel):
    asn: str
    shadow_balance: int | None  # fen; null when nothing is known of the card
