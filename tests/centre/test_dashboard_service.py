"""The card centre's dashboard counts, from rows written with known times and states: exact
counts, Beijing-day buckets (an instant just after Beijing midnight is the next day), the
window's edges, and the bank lag from the outbox and the bank's messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.centre.seed import (
    add_application,
    add_bank_message,
    add_card,
    add_cleared,
    add_event,
    add_loss,
    add_top_up,
)
from yikatong.centre import service

pytestmark = pytest.mark.db

# The test clock: 2026-03-02 01:30 UTC, 09:30 in Beijing.
TODAY = date(2026, 3, 2)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.no_db
def test_days_are_beijing_days_ending_today():
    days = service.last_days(TODAY, 3)
    assert days == (date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2))
    assert service.day_start(date(2026, 3, 2)) == at("2026-03-01T16:00:00")
    assert len(service.last_days(TODAY, 10_000)) == service.MAX_DAYS


def test_applications_are_counted_per_beijing_day_and_state(platform):
    with platform.uow() as uow:
        add_application(uow, "submitted", at("2026-03-01T16:30:00"))  # 3-02 00:30 Beijing
        add_application(uow, "submitted", at("2026-03-01T15:59:00"))  # 3-01 23:59 Beijing
        add_application(uow, "approved", at("2026-03-01T02:00:00"))   # 3-01
        add_application(uow, "handed_over", at("2026-02-28T03:00:00"))  # 2-28
        add_application(uow, "handed_over", at("2026-02-27T15:00:00"))  # 2-27 23:00: outside
        uow.commit()
    with platform.uow(read_only=True) as uow:
        board = service.applications_by_day(uow=uow, days=service.last_days(TODAY, 3))
    assert {s.key: s.values for s in board.series} == {
        "approved": (0, 1, 0), "handed_over": (1, 0, 0), "submitted": (0, 1, 1)}
    assert board.day_totals() == (1, 2, 1)
    assert board.total == 4


def test_cards_are_counted_by_the_day_produced_and_their_state_now(platform):
    with platform.uow() as uow:
        add_card(uow, "in_use", at("2026-03-02T00:10:00"))
        add_card(uow, "in_use", at("2026-03-02T00:20:00"))
        add_card(uow, "produced", at("2026-02-28T10:00:00"))
        add_card(uow, "retired", at("2026-02-10T10:00:00"))  # outside 14 days
        uow.commit()
    with platform.uow(read_only=True) as uow:
        board = service.dashboard(uow=uow).cards
    assert len(board.days) == service.DEFAULT_DAYS and board.days[-1] == TODAY
    assert {s.key: s.total for s in board.series} == {"in_use": 2, "produced": 1}
    assert board.series[0].values[-1] == 2  # in_use, today


def test_losses_by_channel_and_kind_only_losses_in_the_window(platform):
    with platform.uow() as uow:
        card = add_card(uow, "in_use", at("2026-01-02T00:00:00"))
        add_loss(uow, card, "temporary_loss", "phone_12333", at("2026-03-01T00:00:00"))
        add_loss(uow, card, "temporary_loss", "phone_12333", at("2026-02-25T00:00:00"))
        add_loss(uow, card, "formal_loss", "bank_branch", at("2026-03-02T00:00:00"))
        add_loss(uow, card, "freeze", "system", at("2026-03-02T00:00:00"))  # not a loss
        add_loss(uow, card, "formal_loss", "online_app", at("2026-01-05T00:00:00"))  # outside
        uow.commit()
    with platform.uow(read_only=True) as uow:
        rows = service.dashboard(uow=uow).losses
    assert [(r.channel, r.kind, r.count) for r in rows] == [
        ("bank_branch", "formal_loss", 1), ("phone_12333", "temporary_loss", 2)]


def test_top_ups_by_channel_and_state_with_amounts_in_fen(platform):
    with platform.uow() as uow:
        add_top_up(uow, "citizen_outlet", "done", 5000, at("2026-03-01T00:00:00"))
        add_top_up(uow, "citizen_outlet", "done", 2050, at("2026-03-02T01:00:00"))
        add_top_up(uow, "citizen_outlet", "failed", 1000, at("2026-03-02T01:00:00"))
        add_top_up(uow, "nfc", "paid", 300, at("2026-02-20T01:00:00"))
        uow.commit()
    with platform.uow(read_only=True) as uow:
        rows = service.dashboard(uow=uow).top_ups
    assert [(r.channel, r.state, r.count, r.amount_fen) for r in rows] == [
        ("citizen_outlet", "done", 2, 7050), ("citizen_outlet", "failed", 1, 1000), ("nfc", "paid", 1, 300)]


def test_clearing_by_operator_splits_purchases_loads_and_refusals(platform):
    with platform.uow() as uow:
        add_cleared(uow, "CZBUS", "offline", 200, date(2026, 3, 1))
        add_cleared(uow, "CZBUS", "offline", 150, date(2026, 3, 2))
        add_cleared(uow, "CZBUS", "online", 5000, date(2026, 3, 2))
        add_cleared(uow, "CZBUS", "offline", 999, date(2026, 3, 2), status="rejected")
        add_cleared(uow, "METRO", "offline", 300, date(2026, 2, 17))  # the window's first day
        add_cleared(uow, "METRO", "offline", 300, date(2026, 2, 16))  # outside
        uow.commit()
    with platform.uow(read_only=True) as uow:
        rows = service.dashboard(uow=uow).clearing
    assert rows == (service.ClearingRow("CZBUS", 2, 350, 1, 5000, 1),
                    service.ClearingRow("METRO", 1, 300, 0, 0, 0))


def test_bank_lag_is_the_age_of_the_oldest_undelivered_event(platform):
    now = platform.clock.now()
    with platform.uow() as uow:
        add_card(uow, "in_use", at("2026-01-02T00:00:00"), bank_code="ICBC")
        add_card(uow, "in_use", at("2026-01-02T00:00:00"), bank_code="BOC")
        add_event(uow, "ICBC", now - timedelta(minutes=90))
        add_event(uow, "ICBC", now - timedelta(minutes=5))
        add_event(uow, "ICBC", now - timedelta(hours=3), published_at=now - timedelta(hours=2))
        add_event(uow, None, now - timedelta(days=1))  # not for a bank
        add_bank_message(uow, "BOC", now - timedelta(minutes=7))
        add_bank_message(uow, "BOC", now - timedelta(minutes=30))
        uow.commit()
    with platform.uow(read_only=True) as uow:
        lags = {lag.bank_code: lag for lag in service.bank_sync_lag(uow=uow)}
    assert set(lags) == {"BOC", "ICBC"}
    icbc, boc = lags["ICBC"], lags["BOC"]
    assert (icbc.undelivered, icbc.lag_seconds) == (2, 90 * 60)
    assert icbc.oldest_undelivered_at == now - timedelta(minutes=90)
    assert icbc.last_delivered_at == now - timedelta(hours=2)
    assert (boc.undelivered, boc.lag_seconds, boc.oldest_undelivered_at) == (0, 0, None)
    assert boc.last_bank_message_at == now - timedelta(minutes=7)


def test_an_empty_platform_has_empty_charts(platform):
    with platform.uow(read_only=True) as uow:
        board = service.dashboard(uow=uow, days=7)
    assert board.applications.series == () and board.applications.day_totals() == (0,) * 7
    assert (board.losses, board.top_ups, board.clearing, board.banks) == ((), (), (), ())
