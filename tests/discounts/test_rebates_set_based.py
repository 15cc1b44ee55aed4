"""The transit rebates' set-based spend (budget.spend_many): one charge of the campaign row per
file for all its holders, in tap order; the budget's edge in the middle of a file; the
campaign-wide holder limit kept by the counters written in bulk; a till spending the same
budget concurrently (PostgreSQL) never makes it overspend."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from tests.conftest import ONLY_ON_POSTGRES
from tests.discounts import test_rebates as _rebates
from tests.discounts.test_rebates import campaign, holder_card, ride_file, run
from yikatong.core.actor import Actor, Channel, Role
from yikatong.discounts import budget, rebates
from yikatong.discounts.models import Campaign, CampaignHolderUse, CampaignSpend
from yikatong.discounts.rebate_models import TransitRebate

pytestmark = pytest.mark.db

world = _rebates.world  # the clearing tests' transit world (fixture)
TILL = Actor(user_id="till", role=Role.MERCHANT, channel=Channel.MERCHANT, branch_code="M-CZ-0001")


def _rides(world):
    """Three holders: A and B ride twice, C once; exits in the order A, B, A, B, C. Returns the
    file id, the rebate of a ride (r), the people (A, B, C) and their cards."""
    (a, pa), (b, pb), (c, pc) = (holder_card(world) for _ in range(3))
    file_id = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")),
                        [(a, (8, 0)), (b, (8, 5)), (a, (9, 0)), (b, (9, 5)), (c, (9, 10))])
    fares = {a.charged // 2, b.charged // 2, c.charged}
    assert len(fares) == 1, fares  # one fare between the two stations
    return file_id, min(200, fares.pop() // 2), (pa, pb, pc), (a, b, c)


def _rows(platform):
    with platform.uow() as uow:
        return [tuple(r) for r in uow.session.execute(
            select(TransitRebate.amount, TransitRebate.outcome).order_by(TransitRebate.batch_id, TransitRebate.seq))]


def _spends(platform):
    with platform.uow() as uow:
        return dict(uow.session.execute(select(CampaignSpend.person_id, CampaignSpend.amount_fen)).all())


def test_budget_runs_out_in_the_middle_of_a_file_of_several_holders(world, monkeypatch):
    platform = world.platform
    file_id, r, (pa, pb, pc), _ = _rides(world)
    campaign_id = campaign(platform, budget_fen=10 * r)
    with platform.uow() as uow:  # a till took all but 3.5 rides' worth after the run read the budget
        uow.session.get(Campaign, campaign_id).spent_fen = 10 * r - (3 * r + r // 2)
        uow.commit()
    monkeypatch.setattr(rebates, "_left", lambda uow, campaign_id: 10 * r)  # what the rules planned with
    view = run(platform, file_id)
    # A gets both rides, B the first and half the second (the edge), C nothing
    assert _rows(platform) == [(r, "granted"), (r, "granted"), (r, "granted"), (r // 2, "granted"),
                               (0, "budget_exhausted")]
    assert _spends(platform) == {pa: 2 * r, pb: r + r // 2}  # one spend per holder; none for C
    assert view.amount == 3 * r + r // 2 and [c.budget_exhausted for c in view.campaigns] == [1]
    with platform.uow() as uow:
        assert uow.session.get(Campaign, campaign_id).spent_fen == 10 * r
    again = run(platform, file_id)  # idempotent: nothing charged twice
    assert again.replayed and again.amount == view.amount
    assert _spends(platform) == {pa: 2 * r, pb: r + r // 2}
    with platform.uow() as uow:
        assert uow.session.get(Campaign, campaign_id).spent_fen == 10 * r


def test_the_campaign_wide_holder_limit_is_kept_in_bulk_across_files(world):
    platform = world.platform
    file_id, r, (pa, pb, pc), (a, _, c) = _rides(world)
    campaign_id = campaign(platform, holder_limit_fen=r + r // 2)
    run(platform, file_id)
    assert _rows(platform) == [(r, "granted"), (r, "granted"), (r // 2, "granted"), (r // 2, "granted"),
                               (r, "granted")]
    with platform.uow() as uow:
        counters = {p: (u, f) for p, u, f in uow.session.execute(
            select(CampaignHolderUse.person_id, CampaignHolderUse.uses, CampaignHolderUse.spent_fen)
            .where(CampaignHolderUse.campaign_id == campaign_id))}
    assert counters == {pa: (1, r + r // 2), pb: (1, r + r // 2), pc: (1, r)}
    # a second file: A and B are at their limit, C has r // 2 left (the counters updated in bulk)
    second = ride_file(world, (world.gate_in("0101"), world.gate_out("0104")),
                       [(a, (11, 0)), (c, (11, 5))])
    view = run(platform, second)
    assert _rows(platform)[5:] == [(0, "holder_limit"), (r // 2, "granted")]
    assert view.amount == r // 2


@ONLY_ON_POSTGRES
def test_a_till_spending_while_the_run_waits_for_the_budget_never_overspends(world):
    """The till's spend holds the campaign row's lock; the run read the budget before it (its
    plan covers the whole file), waits on the row in spend_many, then charges only what the
    till's commit left: the holders in tap order, the edge partial, the rest nothing."""
    platform = world.platform
    file_id, r, (pa, pb, pc), _ = _rides(world)
    _, till_person = holder_card(world)
    campaign_id = campaign(platform, budget_fen=5 * r)
    till_took = r + r // 2
    locked, done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def till():
        try:
            with platform.uow() as uow:
                budget.spend(uow, TILL, campaign_id=campaign_id, person_id=till_person, amount_fen=till_took,
                             idempotency_key="till:M-CZ-0001:concurrent", source="till")
                locked.set()
                done.wait(30)  # hold the lock until the run is seen waiting for it
                uow.commit()
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)
            locked.set()

    views = []

    def rebate_run():
        try:
            views.append(run(platform, file_id))
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    thread = threading.Thread(target=till)
    thread.start()
    assert locked.wait(30)
    runner = threading.Thread(target=rebate_run)
    runner.start()
    with platform.engine.connect() as watch:  # wait until the run waits on the campaign row's lock
        for _ in range(3000):
            waiting = watch.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar_one()
            watch.rollback()  # pg_stat_activity is a snapshot per transaction: a fresh one each round
            if waiting or not runner.is_alive():
                break
            threading.Event().wait(0.01)
    assert waiting == 1, ("the run did not wait for the till's lock", runner.is_alive(), failures)
    done.set()
    thread.join(30)
    runner.join(60)
    assert not failures, failures
    [view] = views
    # 5 r planned, 3.5 r left after the till: A both rides, B one and a half, C nothing
    assert _rows(platform) == [(r, "granted"), (r, "granted"), (r, "granted"), (r // 2, "granted"),
                               (0, "budget_exhausted")]
    assert view.amount == 5 * r - till_took
    with platform.uow() as uow:
        spent = uow.session.get(Campaign, campaign_id).spent_fen
        total = sum(uow.session.execute(select(CampaignSpend.amount_fen)).scalars())
    assert spent == total == 5 * r  # exactly the budget, never above
