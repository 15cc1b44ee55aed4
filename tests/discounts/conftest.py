"""Helpers for the discounts tests: holders with a card in use, the sponsor's and a merchant's
actors, a campaign of each kind."""

from __future__ import annotations

from datetime import date

from tests.banking.helpers import produce
from tests.medical.conftest import registered
from yikatong.core.actor import Actor, Channel, Role
from yikatong.discounts import service

SPONSOR = Actor(user_id="sponsor", role=Role.CAMPAIGN_SPONSOR, channel=Channel.PARTNER_API,
                branch_code="CZ-HRSS")
BANK_SPONSOR = Actor(user_id="bank-sponsor", role=Role.CAMPAIGN_SPONSOR, channel=Channel.PARTNER_API,
                     branch_code="ICBC-CZ")
TILL = Actor(user_id="merchant", role=Role.MERCHANT, channel=Channel.MERCHANT, branch_code="M-CZ-0001")
OTHER_TILL = Actor(user_id="merchant2", role=Role.MERCHANT, channel=Channel.MERCHANT, branch_code="M-CZ-0002")
VENUE = Actor(user_id="venue", role=Role.VENUE_OPERATOR, channel=Channel.VENUE, branch_code="CZ-DINO")
ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)


def holder(person_id: int) -> Actor:
    return Actor(user_id=f"holder{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id)


def card_holder(platform, *, name: str = "李优惠", bank_code: str = "ICBC"):
    """A registered person with a card in use: (person id, card view)."""
    _, person_id = registered(platform, name=name)
    return person_id, produce(platform, person_id=person_id, bank_code=bank_code)


def act(platform, operation, **kwargs):
    with platform.uow() as uow:
        return operation(uow=uow, **kwargs)


def reduction_campaign(platform, *, code: str = "MJ1", budget_fen: int = 100_000,
                       limit_count: int | None = 3, eligibility: dict | None = None,
                       merchants=("M-CZ-0001",)):
    view = act(platform, service.create_campaign, actor=SPONSOR, code=code, kind="spend_reduction",
               name_zh="满减", name_en="reduction", budget_fen=budget_fen, starts_on=date(2026, 3, 1),
               ends_on=date(2026, 5, 31), rule={"tiers": [[10_000, 1_000], [20_000, 3_000]]},
               eligibility=eligibility or {}, holder_limit_count=limit_count)
    for merchant in merchants:
        act(platform, service.enrol_merchant, actor=SPONSOR, code=code, merchant_code=merchant)
    return view


def voucher_campaign(platform, *, code: str = "TOUR1", budget_fen: int = 10_000, limit_count: int = 1):
    view = act(platform, service.create_campaign, actor=SPONSOR, code=code, kind="tourism_voucher",
               name_zh="旅游券", name_en="voucher", budget_fen=budget_fen, starts_on=date(2026, 3, 1),
               ends_on=date(2026, 5, 31), rule={"face_fen": 3_000, "min_order_fen": 5_000, "valid_days": 10},
               holder_limit_count=limit_count)
    act(platform, service.enrol_merchant, actor=SPONSOR, code=code, merchant_code="CZ-DINO")
    return view
