"""The bank's pure rules, one row per case of the seed (二.2, 三.3, 四.6, 四.9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.banking import rules
from yikatong.banking.errors import (
    AccountClosed,
    AccountLost,
    AccountNotActivated,
    AlreadyLost,
    CardPresentExpired,
    CountryNotSupported,
    CryptogramMismatch,
    CurrencyNotSupported,
)
from yikatong.banking.rules import AccountStatus, Outcome, TransactionKind
from yikatong.cards.bank_rules import bank_loss_rule
from yikatong.chip.bankcard import cdol1_data
from yikatong.ledger.rules import validate_legs

VALID_UNTIL = date(2036, 3, 1)
BEFORE, LAST_DAY, AFTER = date(2030, 1, 1), VALID_UNTIL, VALID_UNTIL + timedelta(days=1)
K = TransactionKind

DECISIONS = [
    # status, kind, today, outcome or refusal
    ("not_activated", K.CREDIT, BEFORE, Outcome.HOLD),            # 四.9: benefits wait
    ("not_activated", K.TRANSFER_IN, BEFORE, Outcome.HOLD),
    ("not_activated", K.ONLINE_PAYMENT, BEFORE, Outcome.HOLD),    # contributions wait
    ("not_activated", K.TRANSFER_OUT, BEFORE, Outcome.HOLD),
    ("not_activated", K.POS_PURCHASE, BEFORE, AccountNotActivated),  # a till cannot wait
    ("not_activated", K.WITHDRAWAL, BEFORE, AccountNotActivated),
    ("not_activated", K.DEPOSIT, BEFORE, AccountNotActivated),
    ("active", K.POS_PURCHASE, LAST_DAY, Outcome.POST),
    ("active", K.POS_PURCHASE, AFTER, CardPresentExpired),         # 二.2
    ("active", K.WITHDRAWAL, AFTER, CardPresentExpired),
    ("active", K.ONLINE_PAYMENT, AFTER, Outcome.POST),             # online unaffected
    ("active", K.TRANSFER_OUT, AFTER, Outcome.POST),
    ("active", K.CREDIT, AFTER, Outcome.POST),                     # money still comes in
    ("active", K.DEPOSIT, AFTER, Outcome.POST),
    ("temporary_loss", K.ONLINE_PAYMENT, BEFORE, AccountLost),
    ("formal_loss", K.POS_PURCHASE, BEFORE, AccountLost),
    ("formal_loss", K.TRANSFER_OUT, BEFORE, AccountLost),
    ("formal_loss", K.CREDIT, BEFORE, Outcome.POST),
    ("temporary_loss", K.DEPOSIT, BEFORE, Outcome.POST),
    ("closed", K.CREDIT, BEFORE, AccountClosed),
    ("closed", K.ONLINE_PAYMENT, BEFORE, AccountClosed),
]


@pytest.mark.parametrize(("status", "kind", "today", "expected"), DECISIONS)
def test_what_an_account_may_do(status, kind, today, expected):
    if isinstance(expected, type):
        with pytest.raises(expected) as refused:
            rules.decide(status=status, valid_until=VALID_UNTIL, kind=kind, today=today)
        assert refused.value.message_zh and refused.value.message_en
    else:
        assert rules.decide(status=status, valid_until=VALID_UNTIL, kind=kind, today=today) == expected


def test_expired_card_present_message_names_the_last_day_and_what_still_works():
    with pytest.raises(CardPresentExpired) as refused:
        rules.decide(status="active", valid_until=VALID_UNTIL, kind=K.POS_PURCHASE, today=AFTER)
    assert "2036-03-01" in refused.value.message_zh and "线上无卡交易不受影响" in refused.value.message_zh
    assert "online payments" in refused.value.message_en


@pytest.mark.parametrize(("status", "today", "expected"), [
    ("not_activated", BEFORE, "inactive"), ("active", BEFORE, "active"),
    ("active", AFTER, "expired"), ("temporary_loss", AFTER, "temporary_loss"),
    ("formal_loss", BEFORE, "formal_loss"), ("closed", BEFORE, "closed")])
def test_financial_status_in_the_platforms_terms(status, today, expected):
    assert rules.financial_status(status, VALID_UNTIL, today) == expected


@pytest.mark.parametrize("currency", ["CNY", "cny", "156", "0156"])
def test_cny_accepted(currency):
    rules.check_currency(currency)


@pytest.mark.parametrize("currency", ["USD", "HKD", "840", "", "RMB1"])
def test_other_currencies_refused(currency):
    with pytest.raises(CurrencyNotSupported) as refused:
        rules.check_currency(currency)
    assert "仅支持人民币" in refused.value.message_zh and "only CNY" in refused.value.message_en


@pytest.mark.parametrize("country", ["HK", "US", "344", "JP"])
def test_use_outside_china_refused(country):
    with pytest.raises(CountryNotSupported) as refused:
        rules.check_country(country)
    assert "仅限中国境内" in refused.value.message_zh


@pytest.mark.parametrize(("status", "kind", "refused"), [
    ("active", "temporary_loss", None), ("active", "formal_loss", None),
    ("not_activated", "formal_loss", None),             # nothing to freeze, still recorded
    ("temporary_loss", "formal_loss", None),            # formal supersedes temporary
    ("temporary_loss", "temporary_loss", AlreadyLost),
    ("formal_loss", "temporary_loss", AlreadyLost), ("formal_loss", "formal_loss", AlreadyLost),
    ("closed", "formal_loss", AccountClosed)])
def test_which_losses_may_follow(status, kind, refused):
    if refused:
        with pytest.raises(refused):
            rules.check_loss_possible(status, kind)
    else:
        rules.check_loss_possible(status, kind)


@pytest.mark.parametrize("bank_code", ["ICBC", "CCB", "JNRCB", "CITIC"])
def test_temporary_loss_ends_per_the_banks_rule(bank_code):
    rule = bank_loss_rule(bank_code)
    reported = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    ends = rules.loss_ends_at(rule, AccountStatus.TEMPORARY_LOSS, reported)
    assert ends == (reported + rule.temporary_loss_duration if rule.auto_lift else None)
    assert rules.loss_ends_at(rule, AccountStatus.FORMAL_LOSS, reported) is None


def test_lift_returns_to_the_status_before_the_loss():
    assert rules.status_after_lift(True) == AccountStatus.ACTIVE
    assert rules.status_after_lift(False) == AccountStatus.NOT_ACTIVATED


def test_online_formal_loss_policy_per_bank():
    """The seed (四.6(2)): an online formal loss leaves the financial function to the bank, so
    the default does nothing more; a bank may declare a protective hold (ICBC here)."""
    assert rules.online_formal_loss_action("ICBC") == "temporary_loss"
    assert rules.online_formal_loss_action("JNRCB") == "note"
    assert rules.online_formal_loss_action("CCB") == "note"  # no declaration: the default
    assert rules.online_formal_loss_action("NO-SUCH-BANK") == "note"


WHEN = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def test_chip_data_read_back_from_what_the_terminal_sends():
    data = rules.parse_cdol1(cdol1_data(amount=12_345, when=WHEN, unpredictable_number=b"\x01\x02\x03\x04"))
    assert (data.amount, data.other_amount, data.currency, data.country) == (12_345, 0, "156", "156")
    assert data.day == "260302" and data.unpredictable_number == b"\x01\x02\x03\x04"
    rules.check_chip_data(data, amount=12_345)
    with pytest.raises(CryptogramMismatch):
        rules.check_chip_data(data, amount=12_346)


def test_chip_data_in_another_currency_or_country_refused():
    good = cdol1_data(amount=100, when=WHEN, unpredictable_number=bytes(4))
    usd = good[:14] + bytes.fromhex("0840") + good[16:]
    abroad = good[:12] + bytes.fromhex("0344") + good[14:]
    with pytest.raises(CurrencyNotSupported):
        rules.check_chip_data(rules.parse_cdol1(usd), amount=100)
    with pytest.raises(CountryNotSupported):
        rules.check_chip_data(rules.parse_cdol1(abroad), amount=100)
    with pytest.raises(CryptogramMismatch):
        rules.parse_cdol1(good[:20])


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(list(TransactionKind)), amount=st.integers(1, 10**12))
def test_every_kind_posts_a_balanced_journal_touching_the_customer(kind, amount):
    legs = rules.legs(kind, bank_code="ICBC", pan="6212260000000000", amount=amount,
                      party="CZ-WATER")  # the payee of a direct debit or refund
    assert validate_legs(legs) == legs
    customer = dict(legs)[rules.customer_code("ICBC", "6212260000000000")]
    # the customer's deposit is a liability: money in is a credit (negative leg)
    assert (customer < 0) == (kind in rules.INCOMING)
