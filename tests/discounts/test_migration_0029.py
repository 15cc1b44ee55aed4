"""Revision 0029 brings stored campaigns to eligibility with one meaning per condition: the
partner bank's card (`bank_codes`) is `card_kinds`, the tap conditions eligibility accepted and
ignored move into a transit rebate's rule (where they apply) and are dropped elsewhere, a
validator's card kind is dropped, and a transit rule says its rebates went to the wallet."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from yikatong.db.engine import make_engine
from yikatong.db.migrate import upgrade

pytestmark = pytest.mark.db


def test_stored_campaigns_read_as_the_rules_now_say(empty_database):
    engine = make_engine(empty_database)
    upgrade(engine, "0027")
    campaigns = [
        ("MJ", "spend_reduction", {"tiers": [[10000, 1000]]},
         {"bank_codes": ["ICBC"], "modes": ["metro"], "card_kinds": ["social_security"], "regions": ["3204"]}),
        ("TR", "transit_rebate", {"rate_bp": 5000, "card_kinds": ["social_security"], "modes": ["metro"]},
         {"lines": ["1"], "operators": ["CZMETRO"], "min_age": 60}),
        ("V", "tourism_voucher", {"face_fen": 3000}, {}),
    ]
    with engine.begin() as connection:
        for i, (code, kind, rule, eligibility) in enumerate(campaigns, start=1):
            connection.execute(text(
                "INSERT INTO discount_campaigns (id, code, sponsor_code, kind, name_zh, name_en, budget_fen, "
                "spent_fen, starts_on, ends_on, status, rule, eligibility, created_at, created_by) VALUES "
                "(:id, :code, 'CZ-HRSS', :kind, 'x', 'x', 1000, 0, '2026-03-01', '2026-03-31', 'active', :rule, "
                ":eligibility, '2026-03-01 00:00:00', 'test')"),
                {"id": i, "code": code, "kind": kind, "rule": json.dumps(rule), "eligibility": json.dumps(eligibility)})
    upgrade(engine)
    with engine.connect() as connection:
        rows = {code: (_json(rule), _json(eligibility)) for code, rule, eligibility in connection.execute(
            text("SELECT code, rule, eligibility FROM discount_campaigns"))}
    engine.dispose()
    assert rows["MJ"] == ({"tiers": [[10000, 1000]]}, {"card_kinds": ["ICBC"], "regions": ["3204"]})
    assert rows["TR"] == ({"rate_bp": 5000, "modes": ["metro"], "lines": ["1"], "operators": ["CZMETRO"],
                           "credit_to": "wallet"}, {"min_age": 60})
    assert rows["V"] == ({"face_fen": 3000}, {})


def _json(value):
    return json.loads(value) if isinstance(value, str) else value
