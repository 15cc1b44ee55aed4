"""Pure ledger rules, one row per case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from yikatong.core.errors import InvalidInput
from yikatong.ledger import rules
from yikatong.ledger.errors import InvalidAmount, UnbalancedJournal, UnsupportedCurrency
from yikatong.ledger.rules import AccountKind


@pytest.mark.parametrize("legs", [
    [("a", 100), ("b", -100)],
    [("a", 250), ("b", -200), ("c", -50)],
    [("a", 1), ("a", -1)],
])
def test_balanced_legs_pass(legs):
    assert rules.validate_legs(legs) == [tuple(leg) for leg in legs]


@pytest.mark.parametrize(("legs", "error"), [
    ([("a", 100), ("b", -99)], UnbalancedJournal),
    ([("a", 100.0), ("b", -100)], InvalidAmount),
    ([("a", True), ("b", -1)], InvalidAmount),
    ([("a", Decimal(100)), ("b", -100)], InvalidAmount),
    ([("a", "100"), ("b", -100)], InvalidAmount),
    ([("a", 0), ("b", 0)], InvalidAmount),
    ([("a", 0)], InvalidAmount),
    ([], InvalidAmount),
    ([("a", 100, "x"), ("b", -100)], InvalidAmount),
    ([("", 100), ("b", -100)], InvalidInput),
    ([(" a", 100), ("b", -100)], InvalidInput),
])
def test_bad_legs_are_refused(legs, error):
    with pytest.raises(error):
        rules.validate_legs(legs)


def test_unbalanced_error_names_the_difference():
    with pytest.raises(UnbalancedJournal) as refused:
        rules.validate_legs([("a", 100), ("b", -90)])
    assert refused.value.details == {"total": 10}
    assert "10" in refused.value.message_zh


@pytest.mark.parametrize(("kind", "sign"), [
    (AccountKind.ASSET, 1), (AccountKind.EXPENSE, 1),
    (AccountKind.LIABILITY, -1), (AccountKind.INCOME, -1), (AccountKind.EQUITY, -1),
])
def test_balance_sign_per_kind(kind, sign):
    assert rules.normal_sign(kind) == sign
    assert rules.balance_change(kind, -500) == -500 * sign  # a credit of 5 CNY


def test_only_cny():
    assert rules.check_currency("CNY") == "CNY"
    with pytest.raises(UnsupportedCurrency):
        rules.check_currency("USD")


def test_fingerprint_ignores_leg_order_but_not_content():
    one = rules.legs_fingerprint("top_up", [("a", 100), ("b", -100)])
    assert one == rules.legs_fingerprint("top_up", [("b", -100), ("a", 100)])
    assert one != rules.legs_fingerprint("top_up", [("a", 101), ("b", -101)])
    assert one != rules.legs_fingerprint("refund", [("a", 100), ("b", -100)])


def test_net_by_account_merges_repeated_accounts():
    assert rules.net_by_account([("a", 100), ("a", 50), ("b", -150)]) == {"a": 150, "b": -150}
