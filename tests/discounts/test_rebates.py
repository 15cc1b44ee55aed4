"""Transit rebates end to end: cards tap validators offline, the operator uploads the file, the
clearing settles it, the rebate run credits each card a pending top-up, and the card's next
contact at a counter writes it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.clearing.conftest import World, at
from tests.medical.conftest import registered
from tests.transit.conftest import COUNTER, assert_books_balance
from yikatong.applications.rules import luhn_complete
from yikatong.audit.models import AuditRecord
from yikatong.cards import service as cards
from yikatong.clearing.errors import BatchNotFound
from yikatong.clearing.national import NationalClearingHouse
from yikatong.core.actor import Actor, Channel, Role
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.discounts import rebates
from yikatong.discounts import service as discounts
from yikatong.discounts.models import Campaign, CampaignSpend
from yikatong.discounts.rebate_models import TransitRebate
from yikatong.transit import jobs, service
from yikatong.transit.errors import TopUpNotWritable
from yikatong.transit.models import TopUpOrder

pytestmark = pytest.mark.db

CLEARING = Actor.system("rebates-tests")
CENTRE = Actor(user_id="centre", role=Role.ADMIN, channel=Channel.SYSTEM)
_cards = iter(range(1, 10_000))


@pytest.fixture
def world(platform, tmp_path, clock) -> World:
    """The clearing tests' transit world: our cards, validators, uploads (tests/clearing)."""
    keystore = InMemoryKeyStore(seed=b"rebates-tests")
    platform.provide(KeyStore, keystore)
    return World(platform, keystore, NationalClearingHouse(tmp_path / "national", clock=clock))


def campaign(platform, code="METRO50", *, budget_fen=100_000, rate_bp=5000, cap_fen=200, month_fen=2000,
             eligibility=None, holder_limit_fen=None, ends_on=date(2026, 3, 31), credit_to="wallet",
             sponsor="CZ-HRSS") -> int:
    """The issue's example, opened through the discounts service: metro 50 % off, at most 2 CNY a
    ride, 20 CNY per holder per month."""
    with platform.uow() as uow:
        view = discounts.create_campaign(
            uow=uow, actor=CENTRE, code=code, kind="transit_rebate", name_zh="地铁半价", name_en="metro half price",
            budget_fen=budget_fen, starts_on=date(2026, 3, 1), ends_on=ends_on,
            rule={"rate_bp": rate_bp, "cap_fen": cap_fen, "holder_month_fen": month_fen, "modes": ["metro"],
                  "credit_to": credit_to},
            eligibility=eligibility, holder_limit_fen=holder_limit_fen, sponsor_code=sponsor)
    return view.id


def holder_card(world: World, *, balance: int = 5000, person_id: int | None = None, bank_code: str = "ICBC",
                issue_date: date = date(2026, 1, 5), card=None):
    """One of our cards, registered to a person (who the per-holder limit counts)."""
    card = card or world.card(balance=balance)
    if person_id is None:
        _, person_id = registered(world.platform)
    n = next(_cards)
    with world.platform.uow() as uow:
        cards.register_produced_card(
            uow=uow, actor=CLEARING, application_id=None, person_id=person_id, kind="first", bank_code=bank_code,
            card_no=f"R{n:08d}", card_id_code=f"320400D156000005R{n:015d}", chip_serial=f"RCHIP{n:011d}",
            pan=luhn_complete(f"621227{n:09d}"), asn=card.asn, issue_date=issue_date)
        uow.commit()
    return card, person_id


def metro_ride(world: World, card, minute: int, hour: int = 8) -> None:
    world.tap(world.gate_in("0101"), card, at(hour, minute))
    world.tap(world.gate_out("0104"), card, at(hour, minute + 20))


def ride_file(world: World, validators, card_rides) -> str:
    """Rides through one entry and one exit gate, each gate's file uploaded: the exit file's id
    (the fare is charged at the exit)."""
    entry, exit_ = validators
    for card, when in card_rides:
        world.tap(entry, card, at(*when))
        world.tap(exit_, card, at(when[0], when[1] + 20))
    world.upload(world.terminal_file(entry))  # the entries: no fare (entry_debit 0)
    result = world.upload(world.terminal_file(exit_))
    assert result.cleared == len(card_rides) and not result.rejected, result
    return result.file_id


def run(platform, file_id):
    with platform.uow() as uow:
        view = rebates.run_batch(uow=uow, actor=CLEARING, file_id=file_id)
        uow.commit()
    return view


def test_rebate_from_a_cleared_batch_is_written_at_the_next_contact(world):
    platform = world.platform
    campaign(platform)
    card, person = holder_card(world)
    service.contact(platform=platform, reader=card.present(), actor=COUNTER)  # the wallet is known
    gates = (world.gate_in("0101"), world.gate_out("0104"))
    file_id = ride_file(world, gates, [(card, (8, 0)), (card, (17, 0))])
    paid = card.charged
    assert paid > 0

    view = run(platform, file_id)
    fare_each = paid // 2
    expected = 2 * min(200, fare_each // 2)
    assert (view.granted, view.amount, view.credits, view.replayed) == (2, expected, 1, False)
    assert [(c.campaign, c.taps, c.amount, c.holders) for c in view.campaigns] == [("METRO50", 2, expected, 1)]
    with platform.uow() as uow:
        order = uow.session.execute(select(TopUpOrder).where(TopUpOrder.payer_kind == "rebate")).scalar_one()
        assert (order.asn, order.amount, order.state) == (card.asn, expected, "paid")
        assert uow.session.execute(select(func.sum(CampaignSpend.amount_fen))).scalar_one() == expected
        record = uow.session.execute(select(AuditRecord).where(AuditRecord.action == "discounts.rebates_run")).scalar_one()
        assert len(record.after["rows"]) == 2

    reading = service.contact(platform=platform, reader=card.present(), actor=COUNTER)
    assert [s.outcome for s in reading.settled] == ["written"]
    assert reading.balance == 5000 - paid + expected
    again = service.contact(platform=platform, reader=card.present(), actor=COUNTER)
    assert again.settled == () and again.balance == reading.balance  # written once
    assert world.account(rebates.sponsor_receivable("CZ-HRSS")) == expected
    assert_books_balance(platform)


def test_running_a_batch_again_credits_nothing_twice(world):
    platform = world.platform
    campaign(platform)
    card, _ = holder_card(world)
    file_id = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))])
    first = run(platform, file_id)
    second = run(platform, file_id)
    assert second.replayed and (second.amount, second.granted) == (first.amount, first.granted)
    with platform.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(TopUpOrder)
                                   .where(TopUpOrder.payer_kind == "rebate")).scalar_one() == 1
        assert uow.session.execute(select(func.count()).select_from(CampaignSpend)).scalar_one() == 1
    with platform.uow() as uow:
        assert file_id not in rebates.pending_files(uow=uow)


def test_a_crash_mid_run_leaves_nothing_and_the_rerun_does_it_once(world, monkeypatch):
    platform = world.platform
    campaign(platform)
    card, _ = holder_card(world)
    file_id = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))])

    def boom(*args, **kwargs):
        raise RuntimeError("crash after the spends, before the credits")

    monkeypatch.setattr(rebates, "_credit_cards", boom)
    with pytest.raises(RuntimeError), platform.uow() as uow:
        rebates.run_batch(uow=uow, actor=CLEARING, file_id=file_id)
        uow.commit()
    monkeypatch.undo()
    with platform.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(CampaignSpend)).scalar_one() == 0
        assert uow.session.get(Campaign, 1).spent_fen == 0
        assert file_id in rebates.pending_files(uow=uow)
    view = run(platform, file_id)
    assert view.granted == 1
    with platform.uow() as uow:
        assert uow.session.execute(select(func.sum(Campaign.spent_fen))).scalar_one() == view.amount


def test_monthly_holder_limit_spans_batches(world):
    platform = world.platform
    campaign(platform, cap_fen=200, month_fen=300)
    card, _ = holder_card(world)
    other, _ = holder_card(world)
    first = run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")),
                                    [(card, (7, 0)), (card, (8, 0))]))
    second = run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")),
                                     [(card, (9, 0)), (other, (10, 0))]))
    # 200 + 100 (the month's 300 reached), then 0 for the first holder + the other holder's ride
    assert (first.amount, second.amount) == (300, min(200, other.charged // 2))
    with platform.uow() as uow:
        report = rebates.campaign_report(uow=uow)
    [totals] = report
    assert (totals.taps, totals.amount, totals.holders, totals.holder_limit) == (3, 300 + second.amount, 2, 1)


def test_budget_runs_out_and_the_remaining_taps_get_nothing(world):
    platform = world.platform
    campaign(platform, budget_fen=250)
    riders = [holder_card(world)[0] for _ in range(3)]
    file_id = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")),
                        [(card, (8, 5 * i)) for i, card in enumerate(riders)])
    view = run(platform, file_id)
    [totals] = view.campaigns
    assert totals.amount == 250 and totals.budget_exhausted >= 1
    with platform.uow() as uow:
        assert uow.session.execute(select(Campaign.spent_fen)).scalar_one() == 250
        outcomes = uow.session.execute(select(TransitRebate.outcome, TransitRebate.amount)
                                       .order_by(TransitRebate.seq)).all()
    assert ("budget_exhausted", 0) in [tuple(o) for o in outcomes]


def test_bus_taps_and_other_campaigns_kinds_are_left_alone(world):
    platform = world.platform
    campaign(platform)  # metro only
    card, _ = holder_card(world)
    bus = world.bus()
    world.tap(bus, card, at(8, 0))
    file_id = world.upload(world.terminal_file(bus)).file_id
    view = run(platform, file_id)
    assert (view.taps, view.decided, view.credits) == (1, 0, 0)


def test_unknown_batch_and_rebate_orders_are_never_refunded(world):
    platform = world.platform
    with pytest.raises(BatchNotFound), platform.uow() as uow:
        rebates.run_batch(uow=uow, actor=CLEARING, file_id="NOPE")
    campaign(platform)
    card, _ = holder_card(world)
    run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))]))
    with platform.uow() as uow:
        order_no = uow.session.execute(select(TopUpOrder.order_no)).scalars().one()
    world.platform.clock.advance(timedelta(days=30))
    assert order_no not in jobs.stale_top_ups(platform)
    with pytest.raises(TopUpNotWritable):
        service.refund_order(platform=platform, order_no=order_no, reason="no_contact", actor=CLEARING)


def test_cli_runs_the_pending_files_once_and_reports_per_campaign(world, monkeypatch):
    from tests.conftest import cli_on

    platform = world.platform
    campaign(platform)
    card, _ = holder_card(world)
    file_id = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))])
    ykt = cli_on(platform, monkeypatch)
    assert ykt("discounts", "rebates", "run").exit_code != 0  # say which files
    first = ykt("discounts", "rebates", "run", "--pending")
    assert first.exit_code == 0, first.output
    assert file_id in first.output
    again = ykt("discounts", "rebates", "run", "--file-id", file_id)
    assert again.exit_code == 0 and "run before" in again.output
    missing = ykt("discounts", "rebates", "run", "--file-id", "NOPE")
    assert missing.exit_code == 1 and "clearing_batch_not_found" in missing.output
    report = ykt("discounts", "rebates", "report")
    assert report.exit_code == 0 and "METRO50" in report.output
    with platform.uow() as uow:
        [totals] = rebates.campaign_report(uow=uow)
        assert totals.taps == 1 and uow.session.execute(
            select(func.count()).select_from(TopUpOrder).where(TopUpOrder.payer_kind == "rebate")).scalar_one() == 1


def test_taps_of_the_last_day_cleared_after_it_are_paid_until_the_sponsor_closes_it(world):
    """The taps are what a rebate is for: taps of a campaign's last day that clear the day after
    are still paid (the spend is for a day within the period); once the sponsor has closed the
    campaign, a later file gets nothing from it."""
    platform = world.platform
    campaign(platform, ends_on=date(2026, 3, 2))
    card, _ = holder_card(world)
    first = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))])
    late = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (18, 0))])
    world.platform.clock.advance(timedelta(days=1))
    view = run(platform, first)
    assert (view.granted, view.credits) == (1, 1) and view.amount > 0
    with platform.uow() as uow:
        discounts.set_status(uow=uow, actor=CENTRE, code="METRO50", status="closed", reason="over")
    view = run(platform, late)
    assert (view.granted, view.amount, view.credits) == (0, 0, 0) and view.campaigns == []


def test_a_write_torn_after_the_card_credited_is_confirmed_by_the_phone_relay_once(world):
    """The counter's write of the rebate is torn right after the card committed the credit;
    the holder's phone (NFC, relayed by transit/contact.py) confirms it at the next contact:
    the rebate is on the card once and the books balance."""
    from tests.transit.conftest import phone
    from tests.transit.test_rider_updates import relay
    from yikatong.chip.emulator import TearPoint
    from yikatong.transit.errors import TopUpNotWritten

    platform = world.platform
    campaign(platform)
    card, person = holder_card(world)
    service.contact(platform=platform, reader=card.present(), actor=COUNTER)
    view = run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))]))
    assert view.amount > 0
    card.chip.arm_tear(TearPoint.AFTER_COMMIT, ins=0x52)  # CREDIT FOR LOAD
    with pytest.raises(TopUpNotWritten):
        service.contact(platform=platform, reader=card.present(), actor=COUNTER)
    step = relay(platform, phone(person), card.present(), "read")
    assert step.state == "done", step.problem
    assert [s["outcome"] for s in step.result["settled"]] == ["confirmed"]
    again = relay(platform, phone(person), card.present(), "read")
    assert again.result["settled"] == [] and again.result["balance"] == 5000 - card.charged + view.amount
    with platform.uow() as uow:
        order = uow.session.execute(select(TopUpOrder).where(TopUpOrder.payer_kind == "rebate")).scalar_one()
        assert (order.state, order.recovered, order.write_attempts) == ("done", True, 1)
    assert_books_balance(platform)


def test_the_worker_job_runs_what_clearing_received_once_a_campaign_runs(world):
    from yikatong.discounts.jobs import JOBS

    platform = world.platform
    card, _ = holder_card(world)
    file_id = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))])
    [job] = [j for j in JOBS if j.name == "discounts.rebate_cleared_files"]
    assert job.run(platform) == 0  # no campaign: nothing to do, nothing marked done
    campaign(platform)
    assert job.run(platform) == 2  # the entry gate's file and the exit gate's
    assert job.run(platform) == 0
    with platform.uow() as uow:
        assert rebates.get_run(uow=uow, file_id=file_id).granted == 1


def test_a_concurrent_till_leaves_less_than_planned(world, monkeypatch):
    platform = world.platform
    campaign_id = campaign(platform, budget_fen=300)
    riders = [holder_card(world)[0] for _ in range(3)]
    file_id = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")),
                        [(card, (8, 5 * i)) for i, card in enumerate(riders)])
    with platform.uow() as uow:  # a till took 150 fen after the run read the budget
        uow.session.get(Campaign, campaign_id).spent_fen = 150
        uow.commit()
    monkeypatch.setattr(rebates, "_left", lambda uow, campaign_id: 300)
    view = run(platform, file_id)
    with platform.uow() as uow:
        assert uow.session.get(Campaign, campaign_id).spent_fen == 300
        rows = uow.session.execute(select(TransitRebate.amount, TransitRebate.outcome)
                                   .order_by(TransitRebate.seq)).all()
    assert [tuple(r) for r in rows] == [(150, "granted"), (0, "budget_exhausted"), (0, "budget_exhausted")]
    assert view.amount == 150 and [c.budget_exhausted for c in view.campaigns] == [2]


def test_the_campaigns_holder_eligibility_is_the_discounts_rule(world):
    """The campaign's eligibility (here the holder's age on the tap's day) is judged by the
    discounts domain's own rule; the registered holders here are adults (born from 1960 on, a
    few weeks apart however many tests registered people before: tests/medical/conftest.py)."""
    platform = world.platform
    campaign(platform, "CHILDREN", eligibility={"max_age": 15})
    campaign(platform, "ADULTS", eligibility={"min_age": 18, "regions": ["3204"]})
    card, _ = holder_card(world)
    view = run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))]))
    assert [(c.campaign, c.taps) for c in view.campaigns] == [("ADULTS", 1)]
