"""The pure lifecycle rules, one row per case from the seed (二.2, 四.6–9, 四.12)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from yikatong.cards import rules
from yikatong.cards.errors import (
    CardAlreadyLost,
    FinancialLossAtBank,
    LossChannelNotAllowed,
    NotLost,
    TransitCannotBeLost,
    UnblockChannelMismatch,
)
from yikatong.cards.rules import BlockFacts, BlockKind, Function, HrStatus
from yikatong.core.errors import InvalidInput

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
ICBC = ("工商银行", "Industrial and Commercial Bank of China")


def plan(kind, functions, channel, bank_channels=("bank_branch", "online")):
    return rules.plan_loss(kind=rules.parse_loss_kind(kind),
                           functions=rules.parse_functions(functions),
                           family=rules.channel_family(channel),
                           bank_temporary_channels=bank_channels, bank_names=ICBC,
                           hotline="95588")


@pytest.mark.parametrize(("kind", "functions", "channel", "hr", "financial", "refer"), [
    # 四.6 temporary loss of the HR function through 12333 (and online)
    ("temporary", None, "phone_12333", True, False, False),
    ("temporary", "hr", "online_app", True, False, False),
    # financial temporary loss follows the bank's rule: here it accepts branch and online
    ("temporary", "financial", "bank_branch", False, True, False),
    ("temporary", "both", "online_portal", True, True, False),
    # by phone the bank does not take it: HR done, financial side referred to the bank
    ("temporary", "both", "phone_12333", True, False, True),
    # 四.6(2) formal loss online: HR only, the financial side is referred to the bank
    ("formal", None, "online_portal", True, False, True),
    ("formal", "both", "online_app", True, False, True),
    # 四.6(1) formal loss at any branch of the card's bank: both functions
    ("formal", None, "bank_branch", True, True, False),
    ("formal", "hr", "bank_branch", True, False, False),
])
def test_loss_plan(kind, functions, channel, hr, financial, refer):
    outcome = plan(kind, functions, channel)
    assert (outcome.hr, outcome.financial, outcome.refer_financial_to_bank) == (hr, financial, refer)


@pytest.mark.parametrize(("kind", "functions", "channel", "error"), [
    ("temporary", None, "bank_branch", LossChannelNotAllowed),   # HR temporary: 12333 / online
    ("temporary", None, "outlet", LossChannelNotAllowed),
    ("formal", None, "phone_12333", LossChannelNotAllowed),      # formal: online or bank branch
    ("formal", "financial", "online_portal", FinancialLossAtBank),
    ("temporary", "financial", "phone_12333", FinancialLossAtBank),
    ("temporary", "transit", "phone_12333", TransitCannotBeLost),  # 四.12
    ("formal", "wallet", "bank_branch", TransitCannotBeLost),
    ("temporary", "pension", "phone_12333", InvalidInput),
    ("lost", None, "phone_12333", InvalidInput),
])
def test_loss_plan_refusals(kind, functions, channel, error):
    with pytest.raises(error):
        plan(kind, functions, channel)


def test_financial_referral_names_the_bank_hotline():
    with pytest.raises(FinancialLossAtBank) as refused:
        plan("formal", "financial", "online_app")
    assert "95588" in refused.value.message_zh and "工商银行" in refused.value.message_zh
    assert "95588" in refused.value.message_en


def test_loss_channel_message_names_the_allowed_channels():
    with pytest.raises(LossChannelNotAllowed) as refused:
        plan("formal", None, "phone_12333")
    assert "网上" in refused.value.message_zh and "银行" in refused.value.message_zh
    assert "online" in refused.value.message_en and "branch" in refused.value.message_en


def hr(kind, channel="phone_12333", started=T0, ends=None, lifted=None):
    return BlockFacts(function=Function.HR, kind=kind, channel=channel, started_at=started,
                      ends_at=ends, lifted_at=lifted)


TEMP = hr(BlockKind.TEMPORARY_LOSS, ends=rules.temporary_hr_loss_ends(T0))


@pytest.mark.parametrize(("state", "blocks", "at", "status"), [
    ("in_use", [], T0, HrStatus.NORMAL),
    ("in_use", [TEMP], T0, HrStatus.TEMPORARY_LOSS),
    # 四.6: 7 days = 168 h; 167:59 still lost, 168:00 unblocked without any job
    ("in_use", [TEMP], T0 + timedelta(hours=167, minutes=59), HrStatus.TEMPORARY_LOSS),
    ("in_use", [TEMP], T0 + timedelta(hours=168), HrStatus.NORMAL),
    ("in_use", [hr(BlockKind.FORMAL_LOSS, "online_app")], T0 + timedelta(days=400),
     HrStatus.FORMAL_LOSS),
    ("in_use", [hr(BlockKind.FREEZE, "system"), TEMP], T0, HrStatus.FROZEN),
    ("in_use", [hr(BlockKind.FREEZE, "system"), hr(BlockKind.FORMAL_LOSS)], T0,
     HrStatus.FORMAL_LOSS),
    ("in_use", [hr(BlockKind.FORMAL_LOSS, lifted=T0)], T0, HrStatus.NORMAL),
    ("produced", [], T0, HrStatus.NOT_IN_USE),
    ("retired", [hr(BlockKind.FORMAL_LOSS)], T0, HrStatus.RETIRED),
    ("cancelled", [], T0, HrStatus.CANCELLED),
])
def test_hr_status_is_derived_from_blocks_and_clock(state, blocks, at, status):
    assert rules.derive_hr_status(state, blocks, at) == status


def test_financial_block_holds_until_the_bank_lifts_it():
    block = BlockFacts(function=Function.FINANCIAL, kind=BlockKind.TEMPORARY_LOSS,
                       channel="bank_branch", started_at=T0, ends_at=T0 + timedelta(days=5))
    assert rules.block_in_force(block, T0 + timedelta(days=6))


@pytest.mark.parametrize(("kind", "blocks", "error"), [
    (BlockKind.TEMPORARY_LOSS, [TEMP], CardAlreadyLost),
    (BlockKind.FORMAL_LOSS, [TEMP], None),  # a formal loss supersedes a temporary one
    (BlockKind.TEMPORARY_LOSS, [hr(BlockKind.FORMAL_LOSS)], CardAlreadyLost),
    (BlockKind.FORMAL_LOSS, [hr(BlockKind.FORMAL_LOSS)], CardAlreadyLost),
    (BlockKind.TEMPORARY_LOSS, [hr(BlockKind.FREEZE)], None),
])
def test_hr_loss_stacking(kind, blocks, error):
    if error is None:
        rules.check_hr_loss_possible(kind, blocks)
    else:
        with pytest.raises(error):
            rules.check_hr_loss_possible(kind, blocks)


@pytest.mark.parametrize(("blocks", "functions", "channel", "lifted", "error"), [
    # 四.7: unblock through the route the loss was reported on
    ([TEMP], None, "phone_12333", [TEMP], None),
    ([TEMP], None, "online_portal", None, UnblockChannelMismatch),
    ([hr(BlockKind.FORMAL_LOSS, "online_app")], None, "online_portal", "all", None),  # one family
    ([hr(BlockKind.FORMAL_LOSS, "online_app")], None, "bank_branch", None, UnblockChannelMismatch),
    ([hr(BlockKind.FORMAL_LOSS, "bank_branch")], None, "phone_12333", None, UnblockChannelMismatch),
    ([], None, "phone_12333", None, NotLost),
    ([TEMP], "financial", "phone_12333", None, NotLost),
])
def test_unblock_plan(blocks, functions, channel, lifted, error):
    run = lambda: rules.plan_unblock(loss_blocks_in_force=blocks,  # noqa: E731
                                     functions=rules.parse_functions(functions),
                                     family=rules.channel_family(channel))
    if error:
        with pytest.raises(error):
            run()
    else:
        assert run() == (blocks if lifted == "all" else lifted)


def test_unblock_mismatch_names_the_right_channel():
    with pytest.raises(UnblockChannelMismatch) as refused:
        rules.plan_unblock(loss_blocks_in_force=[TEMP], functions=None, family="online")
    assert "12333" in refused.value.message_zh and "12333" in refused.value.message_en


@pytest.mark.parametrize(("issued", "valid_until"), [
    (date(2021, 12, 3), date(2031, 12, 2)),   # the sample card in domain-rules §2
    (date(2026, 1, 1), date(2035, 12, 31)),
    (date(2016, 2, 29), date(2026, 2, 28)),   # leap day
])
def test_financial_validity_is_ten_years_less_a_day(issued, valid_until):
    assert rules.financial_valid_until(issued) == valid_until


@dataclass
class FakeCard:
    financial_status: str
    financial_valid_until: date


@pytest.mark.parametrize(("status", "today", "expected"), [
    # 二.2: after 10 years no card-present transactions; online and credits still work
    ("active", date(2031, 12, 2), (True, True, True)),
    ("active", date(2031, 12, 3), (False, True, True)),
    ("expired", date(2030, 1, 1), (False, True, True)),
    ("temporary_loss", date(2030, 1, 1), (False, False, True)),
    ("formal_loss", date(2030, 1, 1), (False, False, True)),
    ("inactive", date(2030, 1, 1), (False, False, False)),
    ("closed", date(2030, 1, 1), (False, False, False)),
])
def test_financial_capabilities(status, today, expected):
    caps = rules.financial_capabilities(FakeCard(status, date(2031, 12, 2)), today)
    assert (caps.card_present, caps.online, caps.credit) == expected
    assert caps.as_dict() == dict(zip(("card_present", "online", "credit"), expected, strict=True))


@pytest.mark.parametrize(("valid_until", "today", "due"), [
    (date(2031, 12, 2), date(2031, 9, 3), True),    # 90 days left
    (date(2031, 12, 2), date(2031, 9, 2), False),   # 91 days left
    (date(2031, 12, 2), date(2032, 6, 1), True),    # past it
])
def test_expiry_reminder_window(valid_until, today, due):
    assert rules.expiry_reminder_due(valid_until, today) is due


@pytest.mark.parametrize(("text", "code"), [
    ("32", "32"), ("江苏", "32"), ("江苏省", "32"), ("Jiangsu", "32"), ("上海市", "31"),
    ("shanghai", "31"), ("广西", "45"), ("新疆", "65"),
])
def test_province_codes(text, code):
    assert rules.province_code(text) == code


def test_unknown_province_is_refused():
    with pytest.raises(InvalidInput):
        rules.province_code("Atlantis")


@pytest.mark.parametrize(("number", "ok"), [
    ("6217000000000000004", True), ("6217000000000000005", False), ("62170000000", False),
    ("62170000000000000x4", False),
])
def test_pan_check(number, ok):
    if ok:
        assert rules.check_pan(number) == number
    else:
        with pytest.raises(InvalidInput):
            rules.check_pan(number)


def test_pan_mask_keeps_bin_and_last_four():
    assert rules.mask_pan("6217000000000000004") == "621700*********0004"
