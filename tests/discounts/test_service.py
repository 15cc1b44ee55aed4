"""Campaigns end to end in the service: a till's 满减 redemption and refund, eligibility, the
per-holder limit, vouchers granted, claimed, redeemed for a venue sale, released and expired,
settlement statements and the report."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.discounts.conftest import (
    ADMIN,
    BANK_SPONSOR,
    OTHER_TILL,
    SPONSOR,
    TILL,
    VENUE,
    act,
    card_holder,
    holder,
    reduction_campaign,
    voucher_campaign,
)
from yikatong.audit.models import AuditRecord
from yikatong.core.errors import Forbidden, IdempotencyKeyReused
from yikatong.discounts import errors, service

pytestmark = pytest.mark.db


def _redeem(platform, card, order_fen, key, *, actor=TILL, code="MJ1", ref=None):
    return act(platform, service.redeem, actor=actor, campaign_code=code, card_no=card.card_no,
               order_fen=order_fen, idempotency_key=key, order_ref=ref)


def test_till_redeems_the_highest_tier_and_a_retry_answers_the_same(platform):
    _, card = card_holder(platform)
    reduction_campaign(platform)
    first = _redeem(platform, card, 25_000, "order-1", ref="R1")
    assert (first.discount_fen, first.pay_fen, first.replayed) == (3_000, 22_000, False)
    again = _redeem(platform, card, 25_000, "order-1", ref="R1")
    assert again.replayed and again.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        _redeem(platform, card, 26_000, "order-1", ref="R1")
    assert _redeem(platform, card, 12_000, "order-2").discount_fen == 1_000
    with pytest.raises(errors.BelowThreshold):
        _redeem(platform, card, 9_999, "order-3")
    view = act(platform, service.campaign, actor=SPONSOR, code="MJ1")
    assert (view.spent_fen, view.left_fen) == (4_000, 96_000)


def test_only_enrolled_merchants_and_live_cards(platform):
    _, card = card_holder(platform)
    reduction_campaign(platform)
    with pytest.raises(errors.MerchantNotEnrolled):
        _redeem(platform, card, 20_000, "k", actor=OTHER_TILL)
    with pytest.raises(errors.NoLiveCard):
        act(platform, service.redeem, actor=TILL, campaign_code="MJ1", card_no="X00000000",
            order_fen=20_000, idempotency_key="k2")
    with pytest.raises(errors.CampaignNotFound):
        _redeem(platform, card, 20_000, "k3", code="NOPE")


def test_eligibility_and_the_per_holder_limit(platform):
    _, card = card_holder(platform)
    _, other_bank_card = card_holder(platform, name="王他行", bank_code="BOC")
    reduction_campaign(platform, limit_count=2, eligibility={"card_kinds": ["ICBC"], "regions": ["3204"]})
    with pytest.raises(errors.NotEligible):
        _redeem(platform, other_bank_card, 20_000, "b1")
    _redeem(platform, card, 20_000, "a1")
    _redeem(platform, card, 20_000, "a2")
    with pytest.raises(errors.HolderLimitReached):
        _redeem(platform, card, 20_000, "a3")


def test_the_budget_runs_out_at_the_till(platform):
    _, card = card_holder(platform)
    _, card2 = card_holder(platform, name="张二")
    reduction_campaign(platform, budget_fen=4_000)
    _redeem(platform, card, 20_000, "a1")
    with pytest.raises(errors.BudgetExhausted):
        _redeem(platform, card2, 20_000, "b1")
    assert _redeem(platform, card2, 10_000, "b2").discount_fen == 1_000  # the last 10 yuan


def test_refund_gives_the_discount_back_once_and_only_the_merchant_may(platform):
    _, card = card_holder(platform)
    reduction_campaign(platform, merchants=("M-CZ-0001", "M-CZ-0002"))
    redemption = _redeem(platform, card, 20_000, "a1")
    with pytest.raises(errors.SpendNotFound):
        act(platform, service.refund, actor=OTHER_TILL, redemption_id=redemption.id, reason="x")
    refunded = act(platform, service.refund, actor=TILL, redemption_id=redemption.id, reason="退货")
    assert refunded.status == "reversed"
    act(platform, service.refund, actor=TILL, redemption_id=redemption.id, reason="again")
    assert act(platform, service.campaign, actor=SPONSOR, code="MJ1").spent_fen == 0


def test_sponsors_see_only_their_campaigns(platform):
    reduction_campaign(platform)
    assert [c.code for c in act(platform, service.campaigns, actor=SPONSOR)] == ["MJ1"]
    assert act(platform, service.campaigns, actor=BANK_SPONSOR) == []
    assert [c.code for c in act(platform, service.campaigns, actor=TILL)] == ["MJ1"]
    with pytest.raises(errors.CampaignNotFound):
        act(platform, service.report, actor=BANK_SPONSOR, code="MJ1")
    with pytest.raises(Forbidden):
        act(platform, service.report, actor=TILL, code="MJ1")


def test_settlement_states_each_merchant_once_and_carries_a_later_refund(platform, clock):
    _, card = card_holder(platform)
    reduction_campaign(platform, merchants=("M-CZ-0001", "M-CZ-0002"))
    one = _redeem(platform, card, 20_000, "a1")
    _redeem(platform, card, 10_000, "b1", actor=OTHER_TILL)
    clock.advance(timedelta(days=31))  # April
    made = act(platform, service.settle, actor=SPONSOR, campaign_code="MJ1", period="2026-03")
    assert [(s.payee_code, s.redemptions, s.net_fen) for s in made] == [
        ("M-CZ-0001", 1, 3_000), ("M-CZ-0002", 1, 1_000)]
    with pytest.raises(errors.AlreadySettled):
        act(platform, service.settle, actor=SPONSOR, campaign_code="MJ1", period="2026-03")
    act(platform, service.refund, actor=TILL, redemption_id=one.id, reason="退货")
    clock.advance(timedelta(days=30))  # May
    later = act(platform, service.settle, actor=SPONSOR, campaign_code="MJ1", period="2026-04")
    assert [(s.payee_code, s.reversals, s.net_fen) for s in later] == [("M-CZ-0001", 1, -3_000)]
    paid = act(platform, service.mark_paid, actor=SPONSOR, settlement_id=made[0].id,
               payment_reference="TRF-001")
    assert paid.status == "paid"
    assert {s.payee_code for s in act(platform, service.statements, actor=TILL)} == {"M-CZ-0001"}
    report = act(platform, service.report, actor=SPONSOR, code="MJ1")
    assert (report.redemptions, report.reversed, report.redeemed_fen, report.settled_fen,
            report.paid_fen) == (1, 1, 1_000, 1_000, 3_000)
    assert "<svg" in str(service.report_chart(report))
    with platform.uow() as uow:
        actions = set(uow.session.execute(select(AuditRecord.action)).scalars())
    assert {"discount.spent", "discount.reversed", "campaign.settled", "campaign.statement_paid"} <= actions


def _redeem_voucher(platform, person, code, key, amount=26_000, operator="CZ-DINO"):
    with platform.uow() as uow:
        discount = service.redeem_voucher(uow=uow, actor=VENUE, voucher_ref=code, person_id=person,
                                          venue_operator_code=operator, amount_fen=amount,
                                          idempotency_key=key)
        uow.commit()
        return discount


def _reverse_voucher(platform, code, key):
    with platform.uow() as uow:
        view = service.reverse_voucher(uow=uow, actor=VENUE, voucher_ref=code, idempotency_key=key)
        uow.commit()
        return view


def test_vouchers_claimed_redeemed_at_a_venue_released_and_expired(platform, clock):
    person, _ = card_holder(platform)
    voucher_campaign(platform, budget_fen=6_000)
    claimed = act(platform, service.claim_voucher, actor=holder(person), campaign_code="TOUR1",
                  idempotency_key="c1")
    assert act(platform, service.claim_voucher, actor=holder(person), campaign_code="TOUR1",
               idempotency_key="c1").code == claimed.code
    with pytest.raises(errors.HolderLimitReached):
        act(platform, service.claim_voucher, actor=holder(person), campaign_code="TOUR1",
            idempotency_key="c2")
    with pytest.raises(errors.VoucherUnusable):
        _redeem_voucher(platform, person, claimed.code, "tourism:s1", amount=4_000)  # below 50 yuan
    with pytest.raises(errors.VoucherUnusable):
        _redeem_voucher(platform, person, claimed.code, "tourism:s1", operator="CZ-OTHER")  # not enrolled
    with pytest.raises(errors.VoucherNotFound):
        _redeem_voucher(platform, person + 1000, claimed.code, "tourism:s1")
    assert _redeem_voucher(platform, person, claimed.code, "tourism:s1") == 3_000
    assert _redeem_voucher(platform, person, claimed.code, "tourism:s1") == 3_000  # the sale's retry
    with pytest.raises(errors.VoucherUnusable):
        _redeem_voucher(platform, person, claimed.code, "tourism:s2")  # another sale
    assert _reverse_voucher(platform, claimed.code, "tourism:s1").status == "issued"
    assert _reverse_voucher(platform, claimed.code, "tourism:s1").status == "issued"  # again: nothing
    mine = act(platform, service.vouchers_of, actor=holder(person))
    assert [(v.code, v.status) for v in mine] == [(claimed.code, "issued")]
    _, card2 = card_holder(platform, name="赵二")
    granted = act(platform, service.grant_voucher, actor=SPONSOR, campaign_code="TOUR1",
                  person_id=card2.person_id, idempotency_key="g1")
    assert act(platform, service.campaign, actor=ADMIN, code="TOUR1").spent_fen == 6_000
    clock.advance(timedelta(days=11))
    expired = act(platform, service.expire_vouchers)
    assert set(expired) == {claimed.code, granted.code}
    assert act(platform, service.campaign, actor=ADMIN, code="TOUR1").spent_fen == 0


def test_a_voucher_refunded_after_settlement_comes_off_the_next_statement(platform, clock):
    person, _ = card_holder(platform)
    voucher_campaign(platform)
    voucher = act(platform, service.claim_voucher, actor=holder(person), campaign_code="TOUR1",
                  idempotency_key="c1")
    _redeem_voucher(platform, person, voucher.code, "tourism:s1")
    clock.advance(timedelta(days=31))
    stated = act(platform, service.settle, actor=SPONSOR, campaign_code="TOUR1", period="2026-03")
    assert [(s.payee_code, s.net_fen) for s in stated] == [("CZ-DINO", 3_000)]
    assert _reverse_voucher(platform, voucher.code, "tourism:s1").status == "void"
    assert act(platform, service.campaign, actor=ADMIN, code="TOUR1").spent_fen == 0
    clock.advance(timedelta(days=30))
    later = act(platform, service.settle, actor=SPONSOR, campaign_code="TOUR1", period="2026-04")
    assert [(s.payee_code, s.net_fen) for s in later] == [("CZ-DINO", -3_000)]


def test_a_transit_rebate_campaign_takes_where_the_tap_was_in_its_rule_and_who_in_eligibility(platform):
    view = act(platform, service.create_campaign, actor=SPONSOR, code="TR1", kind="transit_rebate",
               name_zh="地铁返还", name_en="metro rebate", budget_fen=100_000,
               starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31),
               rule={"rate_bp": 5_000, "cap_fen": 200, "holder_month_fen": 2_000, "modes": ["metro"],
                     "credit_to": "account"},
               eligibility={"card_kinds": ["ICBC"], "rider_categories": ["student"], "regions": ["320400"]})
    assert view.rule == {"rate_bp": 5_000, "cap_fen": 200, "holder_month_fen": 2_000, "modes": ["metro"],
                         "credit_to": "account"}
    assert view.eligibility == {"card_kinds": ["ICBC"], "rider_categories": ["student"], "regions": ["320400"]}
    with pytest.raises(errors.WrongKind):
        act(platform, service.enrol_merchant, actor=SPONSOR, code="TR1", merchant_code="M-CZ-0001")
    with pytest.raises(errors.CampaignInvalid):
        act(platform, service.create_campaign, actor=SPONSOR, code="TR2", kind="transit_rebate",
            name_zh="x", name_en="x", budget_fen=1, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31),
            rule={"rate_bp": 5_000, "tiers": []})


def test_the_worker_expires_vouchers_once_with_one_audit_record_naming_them(platform, clock):
    from yikatong.audit.models import AuditRecord
    from yikatong.discounts.jobs import JOBS
    from yikatong.worker.runner import all_jobs

    [job] = [j for j in JOBS if j.name == "discounts.expire_vouchers"]
    assert job.name in {j.name for j in all_jobs()}  # the worker runs it
    voucher_campaign(platform, budget_fen=9_000, limit_count=2)
    first, _ = card_holder(platform)
    second, _ = card_holder(platform, name="钱二")
    kept = act(platform, service.claim_voucher, actor=holder(first), campaign_code="TOUR1", idempotency_key="k")
    used = act(platform, service.claim_voucher, actor=holder(first), campaign_code="TOUR1", idempotency_key="u")
    other = act(platform, service.grant_voucher, actor=SPONSOR, campaign_code="TOUR1", person_id=second,
                idempotency_key="o")
    _redeem_voucher(platform, first, used.code, "tourism:s9")
    assert job.run(platform) == 0  # nothing past its day yet
    clock.advance(timedelta(days=11))
    assert job.run(platform) == 2
    assert job.run(platform) == 0  # idempotent: each voucher expires once
    with platform.uow() as uow:
        records = uow.session.query(AuditRecord).filter_by(action="voucher.expired_batch").all()
    assert [sorted(r.after["vouchers"]) for r in records] == [sorted([kept.code, other.code])]
    statuses = {v.code: v.status for v in act(platform, service.vouchers_of, actor=holder(first))}
    assert statuses == {kept.code: "expired", used.code: "redeemed"}
    assert act(platform, service.campaign, actor=ADMIN, code="TOUR1").spent_fen == 3_000  # the redeemed one
