"""Money, dates and times as Changzhou reads them (pages.formatting)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.core.money import parse_yuan
from yikatong.pages.formatting import day, moment, money


@pytest.mark.parametrize(("fen", "shown"), [
    (0, "¥0.00"), (5, "¥0.05"), (1234, "¥12.34"), (-5, "-¥0.05"), (123456789, "¥1,234,567.89"),
    (None, ""),
])
def test_money_is_yuan_with_two_decimals(fen, shown):
    assert money(fen) == shown


@settings(max_examples=200)
@given(st.integers(min_value=-10**15, max_value=10**15))
def test_money_reads_back_to_the_same_fen(fen):
    shown = money(fen)
    assert parse_yuan(shown.replace("¥", "").replace(",", "")) == fen


def test_days_in_chinese_and_english():
    assert day(date(2026, 3, 2), "zh_CN") == "2026年03月02日"
    assert day(date(2026, 3, 2), "en") == "2 Mar 2026"


def test_a_moment_is_shown_in_beijing_time():
    late_utc = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)  # 07:30 the next morning in Changzhou
    assert moment(late_utc, "zh_CN") == "2026年12月04日 07:30"
    assert day(late_utc, "en") == "4 Dec 2026"
    assert moment(late_utc.replace(tzinfo=None), "en") == "4 Dec 2026 07:30"  # SQLite: naive UTC
