"""Tables of discount campaigns: the campaign with its budget counter, the merchants enrolled in
it, each spend of its budget (a till's redemption, a transit rebate, a tourism voucher), the
per-holder counters, the vouchers, and the settlement statements the sponsor pays merchants by.

`Campaign.spent_fen` and `CampaignHolderUse.uses/spent_fen` are counters changed only by
budget.spend / budget.reverse, with conditional UPDATEs (never read-modify-write), so two tills
never spend the last yuan twice."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class Campaign(Base):
    """A discount campaign (优惠活动). `kind`: transit_rebate | spend_reduction | tourism_voucher.
    `rule` holds the kind's figures (threshold_fen/reduction_fen for 满减, rate_bp/cap_fen for a
    rebate, face_fen/valid_days for a voucher); `eligibility` who may benefit (card_kinds,
    rider_categories, regions, new_holders_since). Per-holder limits: a count and/or fen."""

    __tablename__ = "discount_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    sponsor_code: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    budget_fen: Mapped[int]
    spent_fen: Mapped[int] = mapped_column(default=0)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))  # active | paused | closed
    rule: Mapped[dict]
    eligibility: Mapped[dict]
    holder_limit_count: Mapped[int | None]
    holder_limit_fen: Mapped[int | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("spent_fen >= 0 AND spent_fen <= budget_fen", name="within_budget"),
    )


class CampaignMerchant(Base):
    """A merchant (or venue operator) enrolled in a campaign: its tills may redeem it."""

    __tablename__ = "discount_campaign_merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("discount_campaigns.id"))
    merchant_code: Mapped[str] = mapped_column(String(32), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    enrolled_at: Mapped[datetime]
    enrolled_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("campaign_id", "merchant_code"),)


class CampaignHolderUse(Base):
    """How much of a campaign one person has used: the per-holder limit's counter."""

    __tablename__ = "discount_holder_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("discount_campaigns.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    uses: Mapped[int] = mapped_column(default=0)
    spent_fen: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("campaign_id", "person_id"),)


class CampaignSpend(Base):
    """One spend of a campaign's budget: a till's redemption (source `till`), a transit rebate
    (`rebate`) or a tourism voucher granted (`voucher`). `idempotency_key` is unique across the
    table (callers prefix it with their source), so a retry spends nothing twice. `payee_code` is
    the merchant the sponsor pays at settlement (a voucher's: the venue operator, set when it is
    redeemed; a rebate's: none, it goes back to the holder)."""

    __tablename__ = "discount_spends"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("discount_campaigns.id"))
    source: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    card_no: Mapped[str | None] = mapped_column(String(32))
    payee_code: Mapped[str | None] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(64))  # order no., tap record, sale no.
    order_fen: Mapped[int | None]
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # spent | reversed
    spent_at: Mapped[datetime]
    spent_by: Mapped[str] = mapped_column(String(64))
    reversed_at: Mapped[datetime | None]
    reversed_by: Mapped[str | None] = mapped_column(String(64))
    reverse_reason: Mapped[str | None] = mapped_column(String(200))
    settlement_id: Mapped[int | None] = mapped_column(ForeignKey("discount_settlements.id"))
    reversal_settlement_id: Mapped[int | None] = mapped_column(ForeignKey("discount_settlements.id"))

    __table_args__ = (
        Index("ix_discount_spends_campaign_payee", "campaign_id", "payee_code", "status"),
    )


class Voucher(Base):
    """A tourism voucher (旅游专享抵扣券) granted to or claimed by a holder; its face value is
    spent from the campaign's budget when granted and paid to the venue operator once redeemed.
    status: issued | redeemed | expired | void (its ticket refunded after settlement)."""

    __tablename__ = "discount_vouchers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("discount_campaigns.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    spend_id: Mapped[int] = mapped_column(ForeignKey("discount_spends.id"), unique=True)
    face_fen: Mapped[int]
    min_order_fen: Mapped[int] = mapped_column(default=0)
    operator_codes: Mapped[list]
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime]
    valid_until: Mapped[date]
    redeemed_at: Mapped[datetime | None]
    redeemed_operator: Mapped[str | None] = mapped_column(String(32))
    redeemed_key: Mapped[str | None] = mapped_column(String(160))


class Settlement(Base):
    """A statement: what a campaign's sponsor owes one merchant for a period (redemptions less
    reversals of earlier-settled ones). Made once per (campaign, merchant, period)."""

    __tablename__ = "discount_settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("discount_campaigns.id"))
    payee_code: Mapped[str] = mapped_column(String(32), index=True)
    period: Mapped[str] = mapped_column(String(16))  # YYYY-MM
    redemptions: Mapped[int]
    redeemed_fen: Mapped[int]
    reversals: Mapped[int]
    reversed_fen: Mapped[int]
    net_fen: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # stated | paid
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime | None]
    paid_by: Mapped[str | None] = mapped_column(String(64))
    payment_reference: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("campaign_id", "payee_code", "period"),)


# The transit rebates' tables (rebates.py) live beside it; imported here so migrations see them.
from yikatong.discounts.rebate_models import (  # noqa: E402,F401
    RebateAccountCredit,
    TransitRebate,
    TransitRebateRun,
)
