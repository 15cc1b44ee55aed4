"""The doors that write, in process: SQL statements (and transactions) per request and CPU
per request for each, through the application (TestClient), on SQLite or PostgreSQL.

    PYTHONPATH=src .venv/bin/python bench/write_doors.py [--database-url postgresql://…]
        [--requests 200] [--profile DOOR]

Doors: the e-card check by a terminal (`POST /ecard/verify`), a transit contact started
(`POST /transit/contacts`), an e-card code redeemed at a counter (`POST /ecard/redeem`), a
card temporarily lost and unblocked by 12333 (`POST /cards/{no}/loss`, `/unblock`).
Statement counts do not move with the machine's load; CPU per request does (it includes
the TestClient's own side). `--profile DOOR` prints cProfile's top functions for one door.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import os
import pstats
import time
from pathlib import Path

from ecard_check import seed  # bench/ecard_check.py: the same holders' set-up
from serving import in_process_platform  # bench/serving.py

REPO = Path(__file__).resolve().parents[1]
THROTTLE_LIMITS = ("ecard_terminal=100000000 per minute; ecard_check=100000000 per minute; "
                   "holder_calls=100000000 per minute")


class Statements:
    """Counts the SQL statements an engine sends (BEGIN and COMMIT included, as the
    DBAPI sees them: SQLAlchemy's `begin`/`commit` events)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.counts: collections.Counter[str] = collections.Counter()
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", lambda _c: self.counts.update(["BEGIN"]))
        event.listen(engine, "commit", lambda _c: self.counts.update(["COMMIT"]))
        event.listen(engine, "rollback", lambda _c: self.counts.update(["ROLLBACK"]))

    def _statement(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        self.counts[statement.split(None, 1)[0].upper()] += 1
        if os.environ.get("YKT_BENCH_SHOW_SQL") and self.show:
            print("     ", " ".join(statement.split())[:150])

    show = False

    @contextlib.contextmanager
    def counting(self):
        self.counts.clear()
        RoundTrips.count = RoundTrips.on_loop = 0
        yield self.counts


class RoundTrips:
    """Round trips to PostgreSQL as psycopg makes them: every statement on a cursor (the plain
    DBAPI selects of db.raw too, which SQLAlchemy's events do not see), the BEGIN psycopg
    sends before the first statement of a transaction, each COMMIT and ROLLBACK, and the
    statements on the event loop's own connections (`on_loop`, counted in `count` too)."""

    count = 0
    on_loop = 0

    @classmethod
    def install(cls) -> None:
        import psycopg
        from psycopg.pq import TransactionStatus

        execute, commit, rollback = psycopg.Cursor.execute, psycopg.Connection.commit, \
            psycopg.Connection.rollback

        def counted_execute(cursor, *args, **kwargs):
            connection = cursor.connection
            begins = (not connection.autocommit
                      and connection.info.transaction_status == TransactionStatus.IDLE)
            cls.count += 2 if begins else 1
            return execute(cursor, *args, **kwargs)

        def counted(method):
            def call(connection, *args, **kwargs):
                if connection.info.transaction_status != TransactionStatus.IDLE:
                    cls.count += 1
                return method(connection, *args, **kwargs)
            return call

        async_execute = psycopg.AsyncCursor.execute

        async def counted_async_execute(cursor, *args, **kwargs):
            cls.count += 1  # the event loop's connections are in autocommit (db.loop_reads)
            cls.on_loop += 1
            return await async_execute(cursor, *args, **kwargs)

        psycopg.Cursor.execute = counted_execute
        psycopg.AsyncCursor.execute = counted_async_execute
        psycopg.Connection.commit, psycopg.Connection.rollback = counted(commit), counted(rollback)


def login(client, username: str) -> dict[str, str]:
    from yikatong.platform_setup import DEMO_PASSWORD

    answer = client.post("/api/v1/auth/token", data={"username": username,
                                                     "password": DEMO_PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def doors(client, holders, requests: int):
    """Each door as a list of `requests` zero-argument calls, made before any is timed."""
    terminal, counter = login(client, "transit"), login(client, "citizen-outlet")
    outlet, phone = login(client, "outlet"), login(client, "agent12333")
    shown = holders[0].qr()
    holders[1].qr()
    codes = [holders[1].qr(password=None) for _ in range(requests)]
    cards = [holder.card_no for holder in holders[2:2 + requests]]

    def post(path, headers, body, status=200):
        def one():
            answer = client.post(path, headers=headers, json=body)
            assert answer.status_code == status, answer.text
        return one

    return {
        "verify": [post("/api/v1/ecard/verify", terminal, {"token": shown})] * requests,
        "contact_start": [post("/api/v1/transit/contacts", counter, {"purpose": "read"}, 201)]
        * requests,
        "redeem": [post("/api/v1/ecard/redeem", outlet, {
            "token": code, "business": "hospital_registration", "terminal_id": "T1"})
            for code in codes],
        "loss": [post(f"/api/v1/cards/{card}/loss", phone, {"kind": "temporary"})
                 for card in cards],
        "unblock": [post(f"/api/v1/cards/{card}/unblock", phone, {}) for card in cards],
    }


def run(args) -> None:
    with in_process_platform(args.database_url, THROTTLE_LIMITS, "doors.db"):
        from fastapi.testclient import TestClient

        from yikatong.api.app import create_app

        platform, holders = seed(args.requests + 2, granted=2)
        statements = Statements(platform.engine)
        if platform.engine.dialect.name == "postgresql":
            RoundTrips.install()
        print(f"database: {platform.engine.dialect.name}, {args.requests} requests a door")
        with TestClient(create_app(platform)) as client:
            for door, calls in doors(client, holders, args.requests).items():
                calls[0]()  # warm
                statements.show = door == args.profile
                with statements.counting() as counts:
                    calls[1]()
                statements.show = False
                shown = dict(counts)
                trips = (f"round trips {RoundTrips.count} ({RoundTrips.on_loop} on the loop), "
                         if RoundTrips.count else "")
                profile = cProfile.Profile() if args.profile == door else None
                started = time.process_time()
                if profile:
                    profile.enable()
                for call in calls[2:]:
                    call()
                if profile:
                    profile.disable()
                cpu = (time.process_time() - started) * 1000 / (len(calls) - 2)
                print(f"  {door:14s} {cpu:6.2f} ms CPU a request   {trips}SQLAlchemy "
                      f"statements {sum(shown.values())} {shown}")
                if profile:
                    pstats.Stats(profile).sort_stats("cumulative").print_stats(45)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--database-url")
    parser.add_argument("--profile")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
