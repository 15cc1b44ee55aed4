"""A sponsor opens the issue's travel-discount campaign through the API (metro 50 % off, at most
2 CNY a ride, 20 CNY per holder per month) and the rule the rebates read is what was sent."""

from __future__ import annotations

import pytest

from yikatong.core.actor import Role
from yikatong.discounts import rebates
from yikatong.discounts.models import Campaign

pytestmark = pytest.mark.db


def test_the_sponsor_opens_a_metro_rebate_campaign(platform, client, login):
    sponsor = login(Role.CAMPAIGN_SPONSOR, branch_code="CZ-HRSS")
    created = client.post("/api/v1/discounts/campaigns", headers=sponsor, json={
        "code": "METRO-HALF", "kind": "transit_rebate", "name_zh": "地铁半价", "name_en": "metro half price",
        "budget_fen": 1_000_000, "starts_on": "2026-03-01", "ends_on": "2026-03-31",
        "rule": {"rate_bp": 5000, "cap_fen": 200, "holder_month_fen": 2000, "modes": ["metro"]}})
    assert created.status_code == 201, created.text
    with platform.uow() as uow:
        row = uow.session.query(Campaign).filter_by(code="METRO-HALF").one()
        campaign = rebates.campaign_of(row.code, row.starts_on, row.ends_on, row.rule)
    assert (campaign.rule.percent_bp, campaign.rule.max_per_ride, campaign.rule.max_per_holder) == (5000, 200, 2000)
    assert campaign.where.modes == frozenset({"metro"})
    refused = client.post("/api/v1/discounts/campaigns", headers=sponsor, json={
        "code": "BAD", "kind": "transit_rebate", "name_zh": "错", "name_en": "bad", "budget_fen": 100,
        "starts_on": "2026-03-01", "ends_on": "2026-03-31", "rule": {"rate_bp": 5000, "holder_month_fen": -1}})
    assert refused.status_code == 422
