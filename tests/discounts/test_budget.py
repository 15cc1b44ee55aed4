"""The budget: spend and reverse atomically against the campaign's budget and the per-holder
limit, idempotent by key; many threads on the last yuan never overspend."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.medical.conftest import registered
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import IdempotencyKeyReused
from yikatong.discounts import budget, errors
from yikatong.discounts.models import Campaign, CampaignHolderUse, CampaignSpend

pytestmark = pytest.mark.db

TILL = Actor(user_id="till", role=Role.MERCHANT, channel=Channel.MERCHANT, branch_code="M-CZ-0001")


def _campaign(platform, *, budget_fen=1_000, limit_count=None, limit_fen=None, code="C1") -> int:
    with platform.uow() as uow:
        campaign = Campaign(code=code, sponsor_code="CZ-HRSS", kind="spend_reduction",
                            name_zh="测试", name_en="test", budget_fen=budget_fen, spent_fen=0,
                            starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), status="active",
                            rule={}, eligibility={}, holder_limit_count=limit_count,
                            holder_limit_fen=limit_fen, created_at=uow.now(), created_by="t")
        uow.session.add(campaign)
        uow.commit()
        return campaign.id


def _spend(platform, campaign_id, person_id, amount, key, **kwargs):
    with platform.uow() as uow:
        result = budget.spend(uow, TILL, campaign_id=campaign_id, person_id=person_id,
                              amount_fen=amount, idempotency_key=key, source="till", **kwargs)
        uow.commit()
        return result


def _spent(platform, campaign_id) -> int:
    with platform.uow() as uow:
        return uow.session.get(Campaign, campaign_id).spent_fen


def test_spend_reverse_and_replay(platform):
    _, person = registered(platform)
    campaign = _campaign(platform, budget_fen=1_000, limit_count=2)
    first = _spend(platform, campaign, person, 300, "k1")
    assert (first.amount_fen, first.status, first.replayed) == (300, "spent", False)
    again = _spend(platform, campaign, person, 300, "k1")
    assert again.replayed and again.id == first.id
    assert _spent(platform, campaign) == 300
    with pytest.raises(IdempotencyKeyReused):
        _spend(platform, campaign, person, 301, "k1")
    _spend(platform, campaign, person, 300, "k2")
    with pytest.raises(errors.HolderLimitReached):
        _spend(platform, campaign, person, 100, "k3")
    assert _spent(platform, campaign) == 600
    with platform.uow() as uow:
        reversed_ = budget.reverse(uow, TILL, spend_id=first.id, reason="refund")
        budget.reverse(uow, TILL, spend_id=first.id, reason="refund twice")
        uow.commit()
    assert reversed_.status == "reversed"
    assert _spent(platform, campaign) == 300
    _spend(platform, campaign, person, 100, "k3")  # the reversal gave the use back
    with platform.uow() as uow:
        use = uow.session.execute(select(CampaignHolderUse)).scalar_one()
        assert (use.uses, use.spent_fen) == (2, 400)


def test_refusals_change_nothing_and_leave_the_transaction_usable(platform):
    _, person = registered(platform)
    campaign = _campaign(platform, budget_fen=500, limit_fen=400)
    with platform.uow() as uow:
        with pytest.raises(errors.HolderLimitReached):
            budget.spend(uow, TILL, campaign_id=campaign, person_id=person, amount_fen=450,
                         idempotency_key="a", source="till")
        ok = budget.spend(uow, TILL, campaign_id=campaign, person_id=person, amount_fen=400,
                          idempotency_key="b", source="till")
        uow.commit()
    assert ok.amount_fen == 400
    _, other = registered(platform, name="张二")
    with pytest.raises(errors.BudgetExhausted) as refused:
        _spend(platform, campaign, other, 101, "c")
    assert refused.value.details["left_fen"] == 100
    with platform.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(CampaignSpend)).scalar() == 1
    assert _spent(platform, campaign) == 400


def test_many_tills_on_the_last_yuan_never_overspend(platform):
    """16 threads, each a till spending 1 yuan for its own holder, against 10 yuan of budget:
    exactly 10 spends succeed and the rest are refused as BudgetExhausted."""
    people = [registered(platform, name=f"测{i}")[1] for i in range(16)]
    campaign = _campaign(platform, budget_fen=1_000)
    outcomes: list = [None] * len(people)
    start = threading.Barrier(len(people))

    def till(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = _spend(platform, campaign, people[i], 100, f"t{i}")
        except Exception as error:
            outcomes[i] = error

    threads = [threading.Thread(target=till, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    spent = [o for o in outcomes if isinstance(o, budget.SpendView)]
    refused = [o for o in outcomes if not isinstance(o, budget.SpendView)]
    assert len(spent) == 10
    assert all(isinstance(r, errors.BudgetExhausted) for r in refused), refused
    assert _spent(platform, campaign) == 1_000
    with platform.uow() as uow:
        total = uow.session.execute(select(func.sum(CampaignSpend.amount_fen))).scalar()
    assert total == 1_000


def test_spend_many_serves_in_order_replays_and_refuses_a_reused_key(platform):
    people = [registered(platform)[1] for _ in range(3)]
    campaign = _campaign(platform, budget_fen=250, limit_fen=120)
    items = [budget.ManyItem(person_id=p, amount_fen=100, idempotency_key=f"rebate:k{i}")
             for i, p in enumerate(people)]
    with platform.uow() as uow:
        first = budget.spend_many(uow, TILL, campaign_id=campaign, items=items, source="rebate", reference="F1")
        uow.commit()
    assert [(r.amount_fen, r.refused) for r in first] == [(100, None), (100, None), (50, budget.BUDGET_EXHAUSTED)]
    with platform.uow() as uow:
        again = budget.spend_many(uow, TILL, campaign_id=campaign, items=items, source="rebate", reference="F1")
        assert [(r.amount_fen, r.replayed) for r in again] == [(100, True), (100, True), (50, True)]
        counters = dict(uow.session.execute(select(CampaignHolderUse.person_id, CampaignHolderUse.spent_fen)).all())
    assert counters == dict(zip(people, (100, 100, 50), strict=True)) and _spent(platform, campaign) == 250
    with platform.uow() as uow, pytest.raises(IdempotencyKeyReused):
        budget.spend_many(uow, TILL, campaign_id=campaign, items=items[:1], source="rebate", reference="F2")
