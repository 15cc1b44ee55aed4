"""Response shapes of the clearing API (uploads are the raw file, see docs/clearing-batch-format.md)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class PostingOut(BaseModel):
    city: str
    operator: str
    issuer_id: str
    count: int
    amount: int  # fen
    debit: str
    credit: str
    unfunded: int = 0  # fen of `amount` debited to clearing:unfunded_spend (never topped up)


class BatchOut(BaseModel):
    file_id: str
    kind: str
    records: int
    cleared: int
    pending_national: int
    rejected: int
    exceptions: dict[str, int]
    settled_amount: int  # fen
    postings: list[PostingOut]
    acknowledgement: str | None


class ExceptionOut(BaseModel):
    id: int
    file_id: str
    seq: int
    asn: str
    counter_kind: str
    counter: int
    reason: str
    zh: str
    en: str
    details: dict
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str | None


class SettlementLineOut(BaseModel):
    city: str
    operator: str
    issuer_id: str
    own_card: bool
    count: int
    amount: int


class CardDayOut(BaseModel):
    asn: str
    debits: int
    credits: int
    opening: int
    closing: int
    difference: int


class AccountCheckOut(BaseModel):
    code: str
    ledger: int
    records: int
    agrees: bool


class SettlementOut(BaseModel):
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


class DisagreementOut(BaseModel):
    asn: str
    card_balance: int
    shadow_balance: int
    difference: int
    last_seen: str


class ReviewOut(BaseModel):
    day: date
    cards: int
    taps: int
    not_rated: int
    mismatches_opened: int
    mismatches_resolved: int
    gaps_opened: int
    gaps_resolved: int
    open_mismatches: int
    open_gaps: int
