"""Till redemptions per second at 100 concurrent tills on PostgreSQL, all on one campaign's
budget until it runs out, with zero overspend; against the same redemptions spread over one
campaign per till (no shared budget row) in the same run.

    PYTHONPATH=src .venv/bin/python bench/campaign_redemptions.py [--tills 100] [--per-till 20]
        [--people 50] [--connections 20] [--holder-limit 0]
        [--database-url postgresql://postgres@127.0.0.1:5432/ykt_bench_campaigns] [--keep]

A till is a thread in this process calling `discounts.service.redeem` (what POST
/api/v1/discounts/redemptions runs, without HTTP): find the card, check the merchant's
enrolment, the 满减 tier, then `budget.spend` (the conditional UPDATE of the campaign's budget,
the holder's counter, the spend row, its audit record) and commit. Each till waits for its
answer before its next order, with its own idempotency keys; the tills share a connection pool
of `--connections` (a server's pool: PostgreSQL's max_connections is shared with others here).
Holders (registered people with a card in use) are dealt to the orders round robin.

* measured: every till on one campaign whose budget holds three quarters of the orders, so
  the last quarter is refused (BudgetExhausted) while the others still spend: the tills race
  for the last yuan.
* baseline: the same number of orders, each till on a campaign of its own with room for all of
  them: the same statements with no shared budget row to wait for.

Printed: orders/s both ways and their ratio, redemptions that spent and refusals, and the
checks: the campaign's spent_fen equals the sum of its spend rows and the budget exactly (zero
overspend, nothing left behind), no refusal other than BudgetExhausted, a retry of every key
answers its first redemption and spends nothing. Nothing is asserted on timings.

## Measured (2026-12-05, 04:10-04:30 UTC, branch discounts)

The 2-core machine was shared with the other helpers and their test runs: load average 13-20
throughout (printed by each run). 100 tills × 20 orders, 50 card holders, a pool of 20
PostgreSQL connections, in process (no HTTP).

| run | baseline orders/s (a campaign per till) | shared budget orders/s | spent/s | ratio | checks |
|---|---|---|---|---|---|
| first version (limits read in a second select under the lock), no holder limit | 73.2 | 34.8 | 26.1 | 0.47 | zero overspend: 1,500 spent = the budget, 500 refused `campaign_budget_exhausted`, retries replayed |
| the UPDATE answers the limits (RETURNING), no holder limit (no counters) | 78.9 | 47.0 | 35.2 | 0.60 | same |
| same, holder limit 1,000 uses (the counter row updated under the lock) | 69.1 | 35.3 | 26.4 | 0.51 | same |

Every till on one campaign serialises on its budget row from the conditional UPDATE to commit
(the price of never spending the last yuan twice); the baseline's tills wait for no one. The
absolute figures say more about the machine's load than about the code.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from serving import fresh_database  # bench/serving.py

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.*: registering people and producing their cards

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/ykt_bench_campaigns"
DISCOUNT_FEN, ORDER_FEN = 1_000, 12_000  # 满 100 减 10 on a 120-yuan order


def seed(platform, args):
    """People with a card in use, the shared campaign, one campaign per till."""
    from tests.banking.helpers import produce
    from tests.medical.conftest import registered

    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.discounts import service

    cards = []
    for i in range(args.people):
        _, person_id = registered(platform, name=f"测试{i}")
        cards.append(produce(platform, person_id=person_id).card_no)
    admin = Actor(user_id="bench", role=Role.ADMIN, channel=Channel.SYSTEM)
    orders = args.tills * args.per_till
    rule = {"tiers": [[10_000, DISCOUNT_FEN]]}

    def campaign(code: str, budget_fen: int, merchants: list[str]) -> None:
        with platform.uow() as uow:
            service.create_campaign(uow=uow, actor=admin, code=code, kind="spend_reduction",
                                    name_zh=code, name_en=code, budget_fen=budget_fen,
                                    starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), rule=rule,
                                    sponsor_code="CZ-HRSS", holder_limit_count=args.holder_limit or None)
        for merchant in merchants:
            with platform.uow() as uow:
                service.enrol_merchant(uow=uow, actor=admin, code=code, merchant_code=merchant)

    tills = [f"M-{i:04d}" for i in range(args.tills)]
    campaign("SHARED", orders * 3 // 4 * DISCOUNT_FEN, tills)
    for i, till in enumerate(tills):
        campaign(f"SOLO-{i:04d}", args.per_till * DISCOUNT_FEN, [till])
    return cards, tills


def phase(platform, tills, cards, per_till: int, campaign_of, tag: str):
    """Every till redeems `per_till` orders at once; (seconds, outcomes Counter, keys)."""
    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.discounts import service

    outcomes: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(tills) + 1)
    keys: list[tuple[int, str, str, str]] = []

    def till(i: int, merchant: str) -> None:
        actor = Actor(user_id=merchant, role=Role.MERCHANT, channel=Channel.MERCHANT, branch_code=merchant)
        mine: Counter = Counter()
        start.wait()
        for n in range(per_till):
            card = cards[(i * per_till + n) % len(cards)]
            key = f"{tag}-{merchant}-{n}"
            try:
                with platform.uow() as uow:
                    service.redeem(uow=uow, actor=actor, campaign_code=campaign_of(i), card_no=card,
                                   order_fen=ORDER_FEN, idempotency_key=key, order_ref=key)
                mine["spent"] += 1
                keys.append((i, merchant, card, key))
            except Exception as error:  # counted by code; anything but the budget is a failure
                mine[getattr(error, "code", type(error).__name__)] += 1
        with lock:
            outcomes.update(mine)

    threads = [threading.Thread(target=till, args=(i, m)) for i, m in enumerate(tills)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, outcomes, keys


def checks(platform, outcomes: Counter, keys, campaign_of) -> list[str]:
    from sqlalchemy import func, select

    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.discounts import service
    from yikatong.discounts.models import Campaign, CampaignSpend

    problems = []
    with platform.uow(read_only=True) as uow:
        campaign = uow.session.execute(select(Campaign).where(Campaign.code == "SHARED")).scalar_one()
        rows, total = uow.session.execute(select(func.count(), func.coalesce(func.sum(CampaignSpend.amount_fen), 0))
                                          .where(CampaignSpend.campaign_id == campaign.id)).one()
    if campaign.spent_fen != total:
        problems.append(f"spent_fen {campaign.spent_fen} != sum of spends {total}")
    if campaign.spent_fen > campaign.budget_fen:
        problems.append(f"OVERSPENT: {campaign.spent_fen} > budget {campaign.budget_fen}")
    if campaign.spent_fen != campaign.budget_fen:
        problems.append(f"budget not used up: {campaign.spent_fen} of {campaign.budget_fen}")
    if rows != outcomes["spent"]:
        problems.append(f"{rows} spend rows for {outcomes['spent']} redemptions answered")
    odd = {k: v for k, v in outcomes.items() if k not in ("spent", "campaign_budget_exhausted")}
    if odd:
        problems.append(f"other outcomes: {odd}")
    for i, merchant, card, key in keys:  # every retry answers the first redemption
        actor = Actor(user_id=merchant, role=Role.MERCHANT, channel=Channel.MERCHANT, branch_code=merchant)
        with platform.uow() as uow:
            again = service.redeem(uow=uow, actor=actor, campaign_code=campaign_of(i), card_no=card,
                                   order_fen=ORDER_FEN, idempotency_key=key, order_ref=key)
        if not again.replayed:
            problems.append(f"retry of {key} was not a replay")
            break
    with platform.uow(read_only=True) as uow:
        after = uow.session.execute(select(Campaign.spent_fen).where(Campaign.code == "SHARED")).scalar_one()
    if after != campaign.spent_fen:
        problems.append(f"retries moved the budget: {campaign.spent_fen} -> {after}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tills", type=int, default=100)
    parser.add_argument("--per-till", type=int, default=20)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--holder-limit", type=int, default=0,
                        help="uses per holder on every campaign (0: none; a limit keeps per-holder counters)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("YKT_KEY_STORE", "memory")

    from yikatong.core.clock import FixedClock
    from yikatong.core.settings import Settings
    from yikatong.db.engine import make_engine
    from yikatong.db.migrate import upgrade
    from yikatong.platform import Platform

    with fresh_database(args.database_url, args.keep) as url:
        os.environ["YKT_DATABASE_URL"] = url
        engine = make_engine(url, pool_size=args.connections, max_overflow=0, pool_timeout=120)
        platform = Platform(Settings.from_env(), clock=FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC)),
                            engine=engine)
        upgrade(engine)
        started = time.perf_counter()
        cards, tills = seed(platform, args)
        print(f"seeded {len(cards)} card holders, {len(tills) + 1} campaigns in {time.perf_counter() - started:.1f} s")
        orders = len(tills) * args.per_till

        print(f"load average {os.getloadavg()[0]:.1f} before the baseline")
        base_s, base_out, _ = phase(platform, tills, cards, args.per_till, lambda i: f"SOLO-{i:04d}", "solo")
        print(f"load average {os.getloadavg()[0]:.1f} before the measured phase")
        shared_s, shared_out, keys = phase(platform, tills, cards, args.per_till, lambda i: "SHARED", "shared")
        print(f"load average {os.getloadavg()[0]:.1f} after")
        problems = checks(platform, shared_out, keys, lambda i: "SHARED")
        if base_out["spent"] != orders:
            problems.append(f"baseline: {dict(base_out)}")
        engine.dispose()

    print()
    print(f"tills {len(tills)}, orders per till {args.per_till}, pool {args.connections} connections, "
          f"holder limit {args.holder_limit or 'none'}")
    print(f"baseline (one campaign per till)  {orders / base_s:>9.1f} orders/s  ({base_s:.2f} s, {dict(base_out)})")
    print(f"shared budget, runs out           {orders / shared_s:>9.1f} orders/s  ({shared_s:.2f} s, {dict(shared_out)})")
    print(f"  of which spent                  {shared_out['spent'] / shared_s:>9.1f} redemptions/s")
    print(f"ratio shared / baseline           {base_s / shared_s:>9.2f}")
    print("checks: " + ("all passed (zero overspend)" if not problems else "FAILED\n  " + "\n  ".join(problems)))


if __name__ == "__main__":
    main()
