"""Transit rebates: one cleared file's taps rebated, against a bare insert of the same taps.

    .venv/bin/python bench/transit_rebates.py [--taps 20000] [--cards 5000]
        [--database-url postgresql://postgres@127.0.0.1/postgres]

A synthetic cleared metro file (`--taps` exit taps of `--cards` registered cards of as many
people, fares 2–6 CNY) is written straight into `clearing_records` (TACs are not the point
here), with one running campaign: 50 % off, at most 2 CNY a ride, 20 CNY per holder per
month, a budget that runs out at about 80 % of the file. In the same database, in the same run:

  bare insert  the file's rows inserted again with one executemany into a copy of the
               clearing table (the cost of writing one row per tap, nothing decided);
  rebates      `rebates.run_batch` in one transaction and its commit: the one query over the
               file's taps, the holders' month so far, the rules, one set-based
               `budget.spend_many` for the campaign (its conditional charge, the spend rows
               in bulk), the rebate rows, one wallet credit per card, the journal, the audit
               record.

Prints both and the ratio. Nothing is asserted: the machine is shared, run it twice before
quoting a figure. The default database is a new SQLite file in a temporary directory; with a
PostgreSQL URL a new database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Table, func, insert, select, text

from yikatong.cards.models import Card
from yikatong.clearing.models import ClearedRecord, ClearingBatch
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import FixedClock
from yikatong.core.settings import Settings
from yikatong.db.engine import make_engine, normalise_url
from yikatong.db.registry import load_all_models
from yikatong.discounts import rebates
from yikatong.discounts.models import Campaign, CampaignSpend
from yikatong.people.models import Person
from yikatong.platform import Platform

DAY = date(2026, 3, 2)
ADMIN = Actor(user_id="bench", role=Role.ADMIN, channel=Channel.SYSTEM)


def _database(url: str | None) -> tuple[str, callable]:
    if url is None:
        path = Path(tempfile.mkdtemp(prefix="ykt-rebates-")) / "bench.db"
        return f"sqlite:///{path}", lambda: None
    name = f"ykt_bench_rebates_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return normalise_url(url).rsplit("/", 1)[0] + f"/{name}", drop


def _rows(taps: int, cards: int, batch_id: int) -> list[dict]:
    rng = random.Random(20260302)
    rows = []
    for seq in range(1, taps + 1):
        n = rng.randrange(cards) + 1
        minute = seq * 600 // taps  # spread over 10 hours
        rows.append({
            "batch_id": batch_id, "seq": seq, "asn": f"3040{n:016d}", "issuer_id": "01013040FFFFFFFF",
            "own_card": True, "counter_kind": "offline", "counter": seq, "tx_type": 9,
            "amount": rng.choice((190, 285, 380, 475, 570)), "balance_after": 10_000, "terminal_id": "304002000001",
            "terminal_serial": seq, "card_time": f"{DAY:%Y%m%d}{7 + minute // 60:02d}{minute % 60:02d}00",
            "occurred_at": datetime(2026, 3, 1, 23 + 0, 0, tzinfo=UTC), "tx_date": DAY, "tac": "00000000",
            "key_version": 1, "alg_id": 4, "city": "3040", "operator": "CZMETRO", "mode": "metro", "tap": "exit",
            "line": "1", "station": "0104", "region": "", "card_kind": "social_security", "rider": "adult",
            "recovered": False, "status": "cleared", "settled_by": None, "national_file": None, "national_seq": None,
        })
    return rows


def _setup(platform: Platform, taps: int, cards: int) -> tuple[str, list[dict]]:
    now = platform.clock.now()
    with platform.uow() as uow:
        s = uow.session
        s.execute(insert(Person), [
            {"id": n, "name": f"乘客{n}", "gender": "F", "birth_date": date(1990, 1, 1), "nationality": "CHN",
             "created_at": now, "updated_at": now, "version": 1} for n in range(1, cards + 1)])
        s.execute(insert(Card), [
            {"card_no": f"B{n:08d}", "person_id": n, "kind": "first", "bank_code": "ICBC",
             "card_id_code": f"BENCH{n:027d}", "chip_serial": f"C{n:012d}", "pan": f"62{n:017d}",
             "asn": f"3040{n:016d}", "issue_date": date(2026, 1, 5), "financial_valid_until": date(2036, 1, 5),
             "state": "in_use", "produced_at": now, "financial_status": "active", "updated_at": now, "version": 1}
            for n in range(1, cards + 1)])
        batch = ClearingBatch(file_id="BENCH-METRO-0001", kind="TERMINAL", direction="in", sender="304002000001",
                              operator="CZMETRO", terminal_id="304002000001", reference=None, digest="-" * 64,
                              record_count=taps, total_1=0, total_2=0, received_at=now, received_by="bench", result={})
        s.add(batch)
        s.flush()
        rows = _rows(taps, cards, batch.id)
        s.execute(insert(ClearedRecord), rows)
        s.add(Campaign(code="METRO50", sponsor_code="CZ-HRSS", kind="transit_rebate", name_zh="地铁半价",
                       name_en="metro half price", budget_fen=int(taps * 150 * 0.8), spent_fen=0,
                       starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31), status="active",
                       rule={"rate_bp": 5000, "cap_fen": 200, "holder_month_fen": 2000, "modes": ["metro"]},
                       eligibility={}, holder_limit_count=None, holder_limit_fen=None,
                       created_at=now, created_by="bench"))
        uow.commit()
        return batch.file_id, rows


def _bare(platform: Platform, rows: list[dict]) -> float:
    metadata = load_all_models()
    copy = Table("bench_bare_records", metadata, *[c._copy() for c in ClearedRecord.__table__.columns])
    copy.create(platform.engine)
    started = time.perf_counter()
    with platform.engine.begin() as connection:
        connection.execute(insert(copy), rows)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taps", type=int, default=20_000)
    parser.add_argument("--cards", type=int, default=5_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url, drop = _database(args.database_url)
    try:
        platform = Platform(Settings(database_url=url, key_store_path="memory"),
                            clock=FixedClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC)))
        load_all_models().create_all(platform.engine)
        file_id, rows = _setup(platform, args.taps, args.cards)
        bare = _bare(platform, rows)
        started = time.perf_counter()
        with platform.uow() as uow:
            view = rebates.run_batch(uow=uow, actor=ADMIN, file_id=file_id)
            uow.commit()
        took = time.perf_counter() - started
        with platform.uow() as uow:
            spends = uow.session.execute(select(func.count()).select_from(CampaignSpend)).scalar_one()
            spent = uow.session.execute(select(Campaign.spent_fen)).scalar_one()
        [totals] = view.campaigns
        print(f"database: {platform.engine.dialect.name}; file of {args.taps} taps, {args.cards} cards")
        print(f"bare insert of the taps: {bare:.3f} s ({args.taps / bare:,.0f} rows/s)")
        print(f"rebates run:             {took:.3f} s ({args.taps / took:,.0f} taps/s); ratio {took / bare:.1f}x the bare insert")
        print(f"  granted {view.granted} taps, {view.amount} fen to {totals.holders} holders ({view.credits} wallet credits); "
              f"refused: holder limit {totals.holder_limit}, budget out {totals.budget_exhausted}; "
              f"budget spends {spends}, campaign spent {spent} fen")
    finally:
        drop()


if __name__ == "__main__":
    main()
