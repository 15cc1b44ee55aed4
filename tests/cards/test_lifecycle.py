"""The card lifecycle through the service, one case per rule of the seed (二.2, 四.6–9, 四.12–13)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.cards.conftest import (
    ADMIN,
    CITIZEN_OUTLET,
    OUTLET,
    PHONE,
    act,
    audits_of,
    bank_branch,
    card_in_use,
    events_of,
    hand_over,
    holder,
    produce,
    read,
    row_counts,
)
from yikatong.cards import jobs, service
from yikatong.cards.bank_rules import bank_loss_rule
from yikatong.cards.errors import (
    CardNotFound,
    CardNotInUse,
    ExchangeNotAllowed,
    LiveCardExists,
    ReplacementInUse,
    ReplacementNotAllowed,
    TransferWithinJiangsu,
    TransitBalanceNotRefunded,
    TransitCannotBeLost,
    UnblockChannelMismatch,
    WalletRefundNotAllowed,
)
from yikatong.cards.models import BankAccountClosureTask
from yikatong.cards.protocols import WalletBalance
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_date
from yikatong.directory.service import get_bank

pytestmark = pytest.mark.db


def report(platform, card_no, actor, kind, function=None):
    return act(platform, service.report_loss, actor=actor, card_no=card_no, kind=kind,
               function=function)


def unblock(platform, card_no, actor, function=None):
    return act(platform, service.unblock, actor=actor, card_no=card_no, function=function)


@pytest.mark.parametrize("actor", [PHONE, holder(1, Channel.ONLINE_APP)],
                         ids=["12333", "online"])
def test_temporary_hr_loss_ends_after_exactly_168_hours(platform, clock, actor):
    card_no = card_in_use(platform, person_id=1)
    outcome = report(platform, card_no, actor, "temporary")
    assert outcome.card.hr_status == "temporary_loss"
    assert outcome.card.hr_loss_ends_at == clock.now() + timedelta(hours=168)
    assert outcome.card.financial_status == "active"  # the HR loss leaves the bank side alone
    clock.advance(hours=167, minutes=59)
    assert read(platform, card_no).hr_status == "temporary_loss"
    clock.advance(minutes=1)
    assert read(platform, card_no).hr_status == "normal"  # before any job has run


@pytest.mark.parametrize("bank_code", ["ICBC", "CCB", "JNRCB"])
def test_financial_temporary_loss_follows_the_bank_rule(platform, clock, bank_code):
    rule = bank_loss_rule(bank_code)
    card_no = card_in_use(platform, person_id=2, bank_code=bank_code)
    outcome = report(platform, card_no, bank_branch(bank_code), "temporary", "financial")
    assert (outcome.card.hr_status, outcome.card.financial_status) == ("normal", "temporary_loss")
    [block] = outcome.card.blocks_in_force
    assert block.set_by == f"bank:{bank_code}" and block.channel == "bank_branch"
    assert block.ends_at == (clock.now() + rule.temporary_loss_duration if rule.auto_lift
                             else None)
    clock.advance(rule.temporary_loss_duration - timedelta(minutes=1))
    jobs.poll_bank_events(platform)
    assert read(platform, card_no).financial_status == "temporary_loss"
    clock.advance(minutes=1)
    jobs.poll_bank_events(platform)
    expected = "active" if rule.auto_lift else "temporary_loss"
    assert read(platform, card_no).financial_status == expected


def test_formal_loss_online_covers_hr_only_and_refers_to_the_bank(platform):
    card_no = card_in_use(platform, person_id=3, bank_code="CMB")
    outcome = report(platform, card_no, holder(3), "formal", "both")
    assert (outcome.card.hr_status, outcome.card.financial_status) == ("formal_loss", "active")
    with platform.uow() as uow:
        bank = get_bank(uow=uow, bank_code="CMB")
    assert bank.hotline in outcome.referral_zh and bank.short_name_zh in outcome.referral_zh
    assert bank.hotline in outcome.referral_en
    [block] = outcome.card.blocks_in_force
    assert (block.kind, block.channel, block.set_by_role) == ("formal_loss", "online_portal",
                                                              "holder")


def test_formal_loss_at_a_branch_of_the_card_bank_covers_both(platform):
    card_no = card_in_use(platform, person_id=4)
    outcome = report(platform, card_no, bank_branch("ICBC", "ICBC-CZ-007"), "formal")
    assert (outcome.card.hr_status, outcome.card.financial_status) == ("formal_loss",
                                                                      "formal_loss")
    assert outcome.referral_zh is None
    hr_block = next(b for b in outcome.card.blocks_in_force if b.function == "hr")
    assert (hr_block.channel, hr_block.branch_code) == ("bank_branch", "ICBC-CZ-007")
    kinds = [e.type for e in events_of(platform, card_no)]
    assert "card.formal_loss_reported" in kinds and "card.hr_status_changed" in kinds
    partner = {e.partner for e in events_of(platform, card_no)
               if e.type == "card.formal_loss_reported"}
    assert partner == {"ICBC"}
    last = audits_of(platform, card_no)[-1]
    assert (last.action, last.role, last.channel) == ("card.formal_loss_reported", "bank",
                                                      "bank_branch")
    assert last.before["hr_status"] == "normal" and last.after["hr_status"] == "formal_loss"


def test_a_branch_of_another_bank_is_refused_and_nothing_changes(platform):
    card_no = card_in_use(platform, person_id=5, bank_code="ICBC")
    before = row_counts(platform)
    with pytest.raises(CardNotFound):  # another bank's card answers as a missing one
        report(platform, card_no, bank_branch("ABC", "ABC-CZ-001"), "formal")
    assert row_counts(platform) == before
    assert read(platform, card_no).hr_status == "normal"


def test_transit_wallet_cannot_be_reported_lost(platform):
    card_no = card_in_use(platform, person_id=6)
    before = row_counts(platform)
    with pytest.raises(TransitCannotBeLost) as refused:
        report(platform, card_no, PHONE, "temporary", "transit")
    assert "不能挂失" in refused.value.message_zh
    assert row_counts(platform) == before


BRANCH = bank_branch()
APP = holder(7, Channel.ONLINE_APP)
PORTAL = holder(7, Channel.ONLINE_PORTAL)


@pytest.mark.parametrize(("kind", "reported_by", "unblocked_by", "allowed"), [
    ("temporary", PHONE, PHONE, True),
    ("temporary", PHONE, PORTAL, False),
    ("temporary", APP, PORTAL, True),       # portal and app are one channel
    ("formal", APP, BRANCH, False),
    ("formal", BRANCH, BRANCH, True),
    ("formal", BRANCH, PHONE, False),
    ("formal", PORTAL, APP, True),
])
def test_unblock_goes_through_the_channel_of_the_loss(platform, kind, reported_by,
                                                      unblocked_by, allowed):
    card_no = card_in_use(platform, person_id=7)
    report(platform, card_no, reported_by, kind)
    if allowed:
        outcome = unblock(platform, card_no, unblocked_by)
        assert (outcome.card.hr_status, outcome.card.financial_status) == ("normal", "active")
        return
    before = row_counts(platform)
    with pytest.raises(UnblockChannelMismatch):
        unblock(platform, card_no, unblocked_by)
    assert row_counts(platform) == before


def test_unblock_refused_once_the_replacement_is_handed_over(platform):
    card_no = card_in_use(platform, person_id=8)
    report(platform, card_no, holder(8), "formal")
    with platform.uow() as uow:
        assert service.check_replacement_allowed(uow=uow, person_id=8) == card_no
    replacement = produce(platform, person_id=8, kind="replacement", predecessor=card_no)
    hand_over(platform, replacement.card_no)
    old = read(platform, card_no)
    assert (old.state, old.end_reason, old.successor_card_no) == ("retired", "replaced",
                                                                  replacement.card_no)
    with pytest.raises(ReplacementInUse) as refused:
        unblock(platform, card_no, holder(8))
    assert replacement.card_no in refused.value.message_zh
    assert read(platform, replacement.card_no).hr_status == "normal"


def test_unblock_before_hand_over_cancels_the_replacement(platform):
    card_no = card_in_use(platform, person_id=9)
    report(platform, card_no, holder(9), "formal")
    replacement = produce(platform, person_id=9, kind="replacement", predecessor=card_no)
    outcome = unblock(platform, card_no, holder(9))
    assert outcome.card.hr_status == "normal"
    assert outcome.cancelled_replacements == (replacement.card_no,)
    assert read(platform, replacement.card_no).state == "cancelled"
    with pytest.raises(CardNotInUse):
        hand_over(platform, replacement.card_no)


def test_replacement_needs_a_formal_loss(platform):
    card_no = card_in_use(platform, person_id=10)
    with platform.uow() as uow, pytest.raises(ReplacementNotAllowed):
        service.check_replacement_allowed(uow=uow, person_id=10)
    report(platform, card_no, PHONE, "temporary")
    with platform.uow() as uow, pytest.raises(ReplacementNotAllowed):
        service.check_replacement_allowed(uow=uow, person_id=10)
    with pytest.raises(LiveCardExists):
        produce(platform, person_id=10)  # one person, one live card


class FixedWallet:
    def __init__(self, balance):
        self.balance = balance

    def unrefunded_balance(self, *, uow, card_no):
        return self.balance


def test_exchange_refused_while_the_wallet_holds_money(platform):
    card_no = card_in_use(platform, person_id=11)
    platform.provide(WalletBalance, FixedWallet(3550))
    with platform.uow() as uow, pytest.raises(TransitBalanceNotRefunded) as refused:
        service.check_exchange_allowed(uow=uow, person_id=11)
    assert "35.50" in refused.value.message_zh and "直营网点" in refused.value.message_zh
    assert "refunded" in refused.value.message_en
    platform.provide(WalletBalance, FixedWallet(0))
    with platform.uow() as uow:
        assert service.check_exchange_allowed(uow=uow, person_id=11) == card_no


def test_exchange_waits_for_the_recorded_refund_unless_the_card_is_damaged(platform):
    card_no = card_in_use(platform, person_id=12)
    with platform.uow() as uow, pytest.raises(TransitBalanceNotRefunded):
        service.check_exchange_allowed(uow=uow, person_id=12)
    with platform.uow() as uow:  # too damaged to read: not held back
        assert service.check_exchange_allowed(uow=uow, person_id=12, card_damaged=True) == card_no
    with pytest.raises(WalletRefundNotAllowed):  # only a directly-run citizen-card outlet
        act(platform, service.record_wallet_refund, actor=OUTLET, card_no=card_no,
            refunded_fen=1200)
    act(platform, service.record_wallet_refund, actor=CITIZEN_OUTLET, card_no=card_no,
        refunded_fen=1200)
    with platform.uow() as uow:
        assert service.check_exchange_allowed(uow=uow, person_id=12) == card_no


def test_exchange_moves_hr_retires_the_old_card_and_closes_its_account(platform):
    card_no = card_in_use(platform, person_id=13, bank_code="BOC")
    act(platform, service.record_wallet_refund, actor=CITIZEN_OUTLET, card_no=card_no,
        refunded_fen=0)
    new = produce(platform, person_id=13, kind="exchange", bank_code="BOC", predecessor=card_no)
    with platform.uow() as uow, pytest.raises(ExchangeNotAllowed):
        service.check_exchange_allowed(uow=uow, person_id=13)  # one exchange at a time
    hand_over(platform, new.card_no)
    old = read(platform, card_no)
    assert (old.state, old.end_reason, old.successor_card_no) == ("retired", "exchanged",
                                                                  new.card_no)
    assert read(platform, new.card_no).hr_status == "normal"
    closure = [e for e in events_of(platform, card_no)
               if e.type == "card.bank_account_closure_requested"]
    assert len(closure) == 1 and closure[0].partner == "BOC"
    assert jobs.poll_bank_events(platform) == 1  # the bank reports the account closed
    closed = read(platform, card_no)
    assert (closed.financial_status, closed.bank_financial_status) == ("retired", "closed")
    assert not any(function.usable for function in closed.functions)
    from sqlalchemy import select

    from yikatong.cards.models import BankAccountClosureTask
    with platform.uow() as uow:
        task = uow.session.execute(select(BankAccountClosureTask)).scalar_one()
    assert (task.status, task.bank_task_id) == ("completed", closure[0].payload["bank_task_id"])


def test_financial_function_valid_ten_years(platform, clock):
    card_no = card_in_use(platform, person_id=14, issue_date=local_date(clock.now()))
    view = read(platform, card_no)
    with platform.uow() as uow:
        last_day = service.capabilities(uow=uow, card_no=card_no, today=view.financial_valid_until)
        after = service.capabilities(uow=uow, card_no=card_no,
                                     today=view.financial_valid_until + timedelta(days=1))
    assert last_day.as_dict() == {"card_present": True, "online": True, "credit": True}
    assert after.as_dict() == {"card_present": False, "online": True, "credit": True}
    report(platform, card_no, PHONE, "temporary")  # the HR function is not affected by expiry
    clock.set(clock.now() + timedelta(days=3660))
    assert read(platform, card_no).hr_status == "normal"


def test_expiry_reminders_list_cards_within_90_days_or_past(platform, clock):
    today = local_date(clock.now())
    valid_until = {"due": today + timedelta(days=90), "past": today - timedelta(days=1),
                   "later": today + timedelta(days=91)}
    cards = {}
    for person_id, (name, until) in enumerate(valid_until.items(), start=20):
        issued = until + timedelta(days=1)
        issued = issued.replace(year=issued.year - 10)
        cards[name] = card_in_use(platform, person_id=person_id, issue_date=issued)
    with platform.uow() as uow:
        reminders = {r.card_no: r for r in service.expiry_reminders(uow=uow)}
    assert set(reminders) == {cards["due"], cards["past"]}
    assert reminders[cards["due"]].days_left == 90 and reminders[cards["past"]].expired


def test_transfer_within_jiangsu_changes_nothing(platform):
    card_no = card_in_use(platform, person_id=30)
    before = row_counts(platform)
    with pytest.raises(TransferWithinJiangsu) as refused:
        act(platform, service.transfer_out, actor=OUTLET, card_no=card_no,
            destination_province="江苏", rule_note="n/a")
    assert "无需换卡" in refused.value.message_zh and "no new card" in refused.value.message_en
    assert row_counts(platform) == before and read(platform, card_no).state == "in_use"


def test_cross_province_transfer_retires_the_card(platform):
    card_no = card_in_use(platform, person_id=31)
    view = act(platform, service.transfer_out, actor=OUTLET, card_no=card_no,
               destination_province="上海", rule_note="转入地规定：凭原卡换领上海社保卡")
    assert (view.state, view.end_reason, view.transferred_to_province) == (
        "retired", "transferred_out", "31")
    assert "上海" in view.end_note
    with platform.uow() as uow:
        assert not service.has_live_card(uow=uow, person_id=31)


def test_death_retires_the_card(platform):
    card_no = card_in_use(platform, person_id=32)
    view = act(platform, service.retire_deceased, actor=OUTLET, card_no=card_no,
               note="死亡证明 2026-001")
    assert (view.state, view.end_reason) == ("retired", "deceased")
    with pytest.raises(CardNotInUse):
        report(platform, card_no, PHONE, "temporary")


@pytest.mark.parametrize("operation, kwargs, reason", [
    (service.retire_deceased, {"note": "死亡证明 2026-002"}, "deceased"),
    (service.transfer_out, {"destination_province": "浙江", "rule_note": "凭原卡换领"}, "transferred_out"),
])
def test_a_retired_card_has_no_financial_function_and_its_account_is_to_be_closed(
        platform, operation, kwargs, reason):
    card_no = card_in_use(platform, person_id=34)
    with platform.uow() as uow:
        assert service.capabilities(uow=uow, card_no=card_no).card_present
    act(platform, operation, actor=OUTLET, card_no=card_no, **kwargs)
    with platform.uow() as uow:
        capabilities = service.capabilities(uow=uow, card_no=card_no)
        tasks = uow.session.execute(select(BankAccountClosureTask).where(
            BankAccountClosureTask.card_no == card_no)).scalars().all()
    assert (capabilities.card_present, capabilities.online, capabilities.credit) == (False, False, False)
    assert [(task.reason, task.status, task.successor_card_no) for task in tasks] == [(reason, "requested", None)]
    assert "card.bank_account_closure_requested" in [e.type for e in events_of(platform, card_no)]


def test_freeze_is_admin_only_and_outranks_a_temporary_loss(platform):
    card_no = card_in_use(platform, person_id=33)
    with pytest.raises(Exception) as refused:
        act(platform, service.freeze, actor=PHONE, card_no=card_no, reason_code="fraud_check")
    assert refused.value.code == "forbidden"
    report(platform, card_no, PHONE, "temporary")
    act(platform, service.freeze, actor=ADMIN, card_no=card_no, reason_code="fraud_check")
    assert read(platform, card_no).hr_status == "frozen"
    unblock(platform, card_no, PHONE)
    assert read(platform, card_no).hr_status == "frozen"
    act(platform, service.unfreeze, actor=ADMIN, card_no=card_no)
    assert read(platform, card_no).hr_status == "normal"


def test_a_bank_event_is_applied_once(platform):
    from yikatong.cards.protocols import BankEvent, BankEventType

    card_no = card_in_use(platform, person_id=34, activate=False)
    view = read(platform, card_no)
    event = BankEvent(event_id="ICBC-evt-1", bank_code="ICBC", card_no=card_no, pan=view.pan,
                      type=BankEventType.ACTIVATED, occurred_at=platform.clock.now(),
                      channel="bank_branch")
    assert act(platform, service.apply_bank_event, event=event) is True
    counts = row_counts(platform)
    assert act(platform, service.apply_bank_event, event=event) is False
    assert row_counts(platform) == counts
    assert read(platform, card_no).financial_status == "active"


def test_activation_only_at_the_card_bank(platform):
    card_no = card_in_use(platform, person_id=35, activate=False)
    with pytest.raises(CardNotFound):  # another bank's card answers as a missing one
        act(platform, service.activate_financial, actor=bank_branch("CCB"), card_no=card_no)
    holder_online = Actor(user_id="h", role=Role.HOLDER, channel=Channel.ONLINE_APP,
                          person_id=35)
    with pytest.raises(Exception) as refused:
        act(platform, service.activate_financial, actor=holder_online, card_no=card_no)
    assert refused.value.code == "forbidden"
    view = act(platform, service.activate_financial, actor=bank_branch(), card_no=card_no)
    assert view.financial_status == "active"


def test_produced_card_is_not_in_use_until_handed_over(platform):
    view = produce(platform, person_id=36, issue_date=date(2026, 3, 1))
    assert (view.state, view.hr_status, view.financial_valid_until) == (
        "produced", "not_in_use", date(2036, 2, 29))
    with platform.uow() as uow:
        assert service.has_live_card(uow=uow, person_id=36)
        assert service.current_card_for(uow=uow, person_id=36).card_no == view.card_no
    with pytest.raises(CardNotInUse):
        report(platform, view.card_no, PHONE, "temporary")


def test_unblocking_only_the_financial_side_keeps_the_replacement(platform):
    card_no = card_in_use(platform, person_id=37)
    report(platform, card_no, BRANCH, "formal")  # both functions
    replacement = produce(platform, person_id=37, kind="replacement", predecessor=card_no)
    outcome = unblock(platform, card_no, BRANCH, "financial")
    assert (outcome.card.hr_status, outcome.card.financial_status) == ("formal_loss", "active")
    assert outcome.cancelled_replacements == ()
    assert read(platform, replacement.card_no).state == "produced"
