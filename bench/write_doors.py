"""The doors that write, in process: SQL statements (and transactions) per request and CPU
per request for each, through the application (TestClient), on SQLite or PostgreSQL.

    PYTHONPATH=src .venv/bin/python bench/write_doors.py [--database-url postgresql://…]
        [--requests 200] [--profile DOOR] [--calls N]

Doors: the e-card check by a terminal (`POST /ecard/verify`), a transit contact started
(`POST /transit/contacts`), an e-card code redeemed at a counter (`POST /ecard/redeem`), a
card temporarily lost and unblocked by 12333 (`POST /cards/{no}/loss`, `/unblock`).
Statement counts do not move with the machine's load; CPU per request does (it includes
the TestClient's own side). `--profile DOOR` prints cProfile's top functions for one door
(of the main thread only: the request itself runs on the TestClient's threads, so for the
use case's own profile call it in the main thread, as the 2026-12-05 evening section did).

## The doors that commit answered in front of the middleware stack (2026-12-06 night,
## branch postfront from 4e27deb)

`api.lean_posts`: the e-card check, the redeem and the contact start answered by
`api.lean.LeanFront` (the body validated with the door's schema, its dependencies and endpoint
called as FastAPI calls them, the same bytes), and the loop connections' long statements'
conversion kept (`db.loop_connection.KeptQuery`). `--requests 60 --calls 30`, main's
`src` and the branch's side by side at 01:43-01:48 (load 4.5-9; three other helpers):

| door (calls a request, application's thread) | PostgreSQL: main → front → front + kept | SQLite: main → front |
|-----------------------------------------------|------------------------------------------|----------------------|
| e-card check by a terminal                    | 6,894 → 3,104 → 2,997                    | 6,361 → 2,609        |
| contact start                                 | 9,393 → 2,695 → 2,696                    | 9,179 → 2,477 (+ its hop's thread) |
| redeem                                        | 8,482 → 3,632 → 3,461                    | 7,444 → 2,591 (+ its hop's thread) |

Round trips and statements unchanged (PostgreSQL 2 / 2 / 3, all on the loop). CPU a request
in process (the TestClient's side included; `--requests 300`, 01:31-01:42, load 5-6, branch
/ main / branch): check 4.33 / 6.08 / 3.78 ms, contact start 3.11 / 4.82 / 3.37, redeem
4.20 / 7.18 / 4.87. The kept conversion: −107 calls a check, −171 a redeem (psycopg's
`_split_query` of 13 and 19 KB per call).

## The lifecycle writes: fewer statements, one hop, the delivery after the answer
## (2026-12-05 evening, branch writehop from 67faccf)

What a 12333 temporary loss or unblock cost, and where (PostgreSQL; this script, main's
`src` and the branch's alternating at 16:50-16:54, load 5-9; CPU is per request and loose):

| door                       | round trips, 67faccf → writehop | CPU ms a request |
|----------------------------|---------------------------------|------------------|
| temporary loss (12333)     | 65 → 42                         | 57.2 → 45.0      |
| unblock (12333)            | 64 → 42                         | 54.3 → 37.0      |
| contact start              | 6 → 4                           | 9.1 → 9.9 (noise) |
| redeem                     | 15 → 13                         | 15.1 → 15.2      |
| e-card check (untouched)   | 8 → 8                           | 12.7 → 13.5      |

The loss's and unblock's use case called in the main thread under cProfile with a CPU
clock (after the cuts below): the in-process delivery after the commit was still 68 % of
the CPU (the e-card consumer 36 %, of it `sync_person` 28 %; the bank's run 16 %; the
notices 6 %; reading and marking the outbox 10 %), the use case and its commit 32 %. Nothing
stood out: SM2 signing 0.5 ms a list, the rest SQLAlchemy's and psycopg's per-statement
cost spread over the statements, so the statements are what was cut:

- `events.inbox.once_handler` claims with `consume_all_once`'s one INSERT … ON CONFLICT DO
  NOTHING RETURNING (the select and the savepointed insert were 4 round trips), for the
  e-card's and the notices' consumers;
- the in-process bus hands a dispatch's events to the reference bank as one run
  (`InProcessBus.publish_run`, `banking.link.bank_run_handler`: the NATS consumer's batch
  handler, one by one when the run fails): a loss's two events for the bank (the action and
  `card.hr_status_changed`) in one transaction, one claim, one load of the account;
- the dispatcher reads the outbox as a statement on its own (no BEGIN and ROLLBACK);
- `ecard.publish_status_lists`: the lists' rows in one select, the listed indices and the
  highest index in another (were five selects); `sync_person`'s audit record inserted at
  once (record and key in one statement);
- `directory.get_bank` asks for the row before counting the table; the development SMS
  outbox reads its row's id before the commit (no reload; no phones in this seed, so not in
  the counts above);
- the credential lookup of every authenticated route (`api.deps.authorize`) runs on the
  event loop: one statement on the loop's own connections, before the body is validated
  (the refusals keep their order: tests/core/test_access_matrix.py), where it took a
  thread-pool hop and BEGIN, SELECT, ROLLBACK. The cards' lifecycle writes are async routes
  with one hop for the use case, the commit and the answer (a sync route's answer was
  validated in a third hop). A holder's call is still counted on a thread (a write).

Then `api.deps.write_in_thread` holds the in-process delivery of a card lifecycle write's
commits (`events.wiring.held_until_answered`) and hands it to the request's background task,
which Starlette runs once the answer is sent; the TestClient waits for it, so the counts
above include it. What the caller reads in the answer was committed before it; the e-card's
status, a code's check and the QR refusals are derived from the card itself, so a holder
or a terminal reading right after the answer sees the loss; what follows by milliseconds is
only what the delivery writes (the signed status lists, trusted by terminals for 15
minutes anyway; the SMS; the reference bank's HR copy).

`bench/request_path.py --duration 10 --writes-only --before 67faccf`, PostgreSQL, before
and now one after the other. **The machine was saturated** (load 18-25: other helpers'
suites and benches, and this branch's own test runs at nice 15): the bare write made 173
rps where the quiet afternoon had 356; read the pairs, not the figures.

| figure (rps, p50 ms), 1 worker | run 1, 67faccf (17:14, load 18) | run 1, writehop (17:17, load 20) | run 2, 67faccf (17:34, load 20) | run 2, writehop (17:37, load 23) |
|--------------------------------|---------------------|---------------------|---------------------|---------------------|
| bare write (1 row)             | 173 (206)           |                     | 201 (202)           |                     |
| e-card check (untouched)       | 96 (405)            | 80 (539)            | 110 (373)           | 132 (281)           |
| contact start                  | 180 (195)           | 63 (559)            | 135 (305)           | 126 (399)           |
| redeem (c=4, 2 s of codes)     | 33 (104)            | 69 (45)             | 35 (84)             | 26 (144)            |
| day: reads                     | 50 (706)            | 112 (365)           | 77 (367)            | 191 (182)           |
| day: lifecycle writes          | 1 (1,035), p99 4,316 | 3 (626), p99 1,918 | 2 (607), p99 3,843  | 5 (289), p99 1,850  |

Zero errors but one expired code at the redeem door before. In both runs the day's lifecycle
writes went 2-3× faster with their p50 halved, and the day's reads (which share the thread
pool with them) 2.2-2.5×; the doors on their own moved within the noise of a saturated
machine either way (contact start 180 → 63 in run 1, 135 → 126 in run 2: its code did not
change but for the credential lookup on the loop). The two-worker figures were lost (a second
run of this bench dropped the shared database mid-run: this branch's mistake). To be
measured again on a quiet machine, with two workers.

Not done: the e-card consumer is still 14 round trips a loss (the e-card and its consents,
the card and its blocks through the ORM, the audit chain's head, the lists' two updates);
re-signing the lists once per dispatch run rather than per event, or flipping one bit of the
stored list, would cut more, but two workers' consumers can already write the lists from
snapshots that miss each other's change (the last writer wins until the 5-minute re-sign):
a lock on the lists' rows would fix both and was left for the lead to decide. The e-card
redeem door (branch ecarddoor) could take `write_in_thread`'s one hop too; its throttle
still looks the credential up on a thread.
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
        SqliteStatements.count = SqliteStatements.on_loop = Hops.count = 0
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


class SqliteStatements:
    """Statements SQLite runs, as its trace callback sees them (the plain DBAPI statements of
    db.raw and db.statement too, BEGIN and COMMIT included, PRAGMAs left out), on every
    connection the platform opens (the event loop's own ones too: `on_loop`, counted in
    `count` too), and thread-pool hops (anyio's `to_thread.run_sync`, which Starlette's
    `run_in_threadpool` and FastAPI's sync routes and dependencies use). Install it before
    the platform is made."""

    count = 0
    on_loop = 0

    @classmethod
    def install(cls) -> None:
        import asyncio

        from yikatong.db import engine

        def traced(statement: str) -> None:
            if statement.lstrip()[:6].upper() == "PRAGMA":
                return
            cls.count += 1
            if asyncio._get_running_loop() is not None:
                cls.on_loop += 1

        class Traced(engine.TurnTakingConnection):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self.set_trace_callback(traced)

        engine.TurnTakingConnection = Traced


class Hops:
    """Thread-pool hops (anyio.to_thread.run_sync: Starlette's run_in_threadpool, FastAPI's sync
    routes and dependencies)."""

    count = 0

    @classmethod
    def install(cls) -> None:
        import anyio.to_thread

        run_sync = anyio.to_thread.run_sync

        async def counted(*args, **kwargs):
            cls.count += 1
            return await run_sync(*args, **kwargs)

        anyio.to_thread.run_sync = counted


class Calls:
    """Function calls (Python's and C's, as cProfile counts them) made in the thread that runs
    the application: the TestClient's event loop thread (its portal), not the client's side.
    The doors measured here take no thread-pool hop (`hops 0`), so that is all of a request."""

    count = 0

    @classmethod
    def hook(cls, _frame, event, _arg) -> None:
        if event == "call" or event == "c_call":
            cls.count += 1

    @classmethod
    def per_request(cls, client, calls) -> float:
        """Calls a request over `calls` (each one request)."""
        import sys

        cls.count = 0
        client.portal.call(sys.setprofile, cls.hook)
        try:
            for call in calls:
                call()
        finally:
            client.portal.call(sys.setprofile, None)
        return cls.count / len(calls)


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

        if not args.database_url:
            SqliteStatements.install()
        Hops.install()
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
                         if RoundTrips.count else
                         f"SQLite statements {SqliteStatements.count} ({SqliteStatements.on_loop}"
                         f" on the loop), " if SqliteStatements.count else "")
                trips += f"hops {Hops.count}, "
                if args.calls:  # the first of the timed calls, apart
                    trips += f"calls {Calls.per_request(client, calls[2:2 + args.calls]):,.0f}, "
                    calls = calls[:2] + calls[2 + args.calls:]
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
    parser.add_argument("--calls", type=int, default=0, metavar="N",
                        help="function calls a request in the application's thread, over N "
                             "requests of each door (taken from the timed ones)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
