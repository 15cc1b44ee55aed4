"""A benefits run (代发) of N payees end to end on PostgreSQL, against a bare COPY of the same
payment rows in the same run.

    PYTHONPATH=src .venv/bin/python bench/disbursement.py [--payees 1000000]
        [--database-url postgresql://postgres@127.0.0.1:5432/ykt_bench_disbursement]
        [--programme pension] [--period 2026-12] [--profile] [--keep]

SEEDED DIRECTLY (set-based COPY by tests/faults/payees.py, shared with the fault tests; not
through the services: a million people with cards made through people.service and
cards.service would take hours), in a PostgreSQL database created afresh, migrated to head with
the reference data loaded (`platform_setup.prepare`):

  persons             N people, valid GB 11643 ID numbers (320402 + birth date + sequence +
                      check), Chinese names, pension age, `nationality` CHN
  cards               one first card each, `in_use`, at one of the reference banks (dealt out
                      evenly), a Luhn-valid PAN on the bank's BIN, financial status `active`
                      (1 in 50 `inactive`: the bank holds those payments)
  bank_accounts       the reference bank's account of each card (holder_ref = person id;
                      status `active`, or `not_activated` for the inactive ones; 1 in 500
                      `closed`: the bank fails those rows `account_closed`)
  ledger_accounts     each account's customer account in the bank's ledger (balance 0)
  benefit_account_map the ID→account map entry of each person (what the card events keep)
  benefit_enrolments  each person enrolled in the programme from the period, a monthly amount
                      between 1,800.00 and 4,800.00 CNY

Everything after that is the platform's own code, timed as one run of `ykt benefits run
PROGRAMME --period PERIOD` (in process, on the same functions the CLI calls): the payee list
from the reference paying office → the payments mapped to accounts → one batch file per 50,000
rows per bank in the file drop → submitted to the reference bank, which posts them (COPY into
its staging table, ledger postings, bank_transactions) and writes its result files → the
results read back → the reconciliation.

The baseline, same database, same run: `CREATE TABLE bench_bare_payments (LIKE
benefit_payments INCLUDING ALL)` and one COPY of exactly the rows the run left in
benefit_payments (same columns, same indexes and constraints), one transaction. Printed: both
times, the ratio (goal ≤ 3×, issue 14), the run's steps, and the checks: every payee's posting
in the bank's ledger (a credit on the payee's customer account in a journal of the batch) or
held, every row_ref once in bank_transactions, one audit record per batch naming its rows, and
paid + held + failed = due. Timings are never asserted; the machine is shared, so run twice
before quoting a figure. `--profile` prints the SQL statements by total time (SQLAlchemy's
cursor events: COPY through the driver connection shows as its COPY statement only when it goes
through a cursor) and the top functions under cProfile.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.faults.payees: the seeding shared with the fault tests
from tests.faults import payees  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/ykt_bench_disbursement"


# --- databases ---------------------------------------------------------------------------------


def _admin(url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from yikatong.db.engine import normalise_url

    target = make_url(normalise_url(url))
    return target, create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def database(url: str, keep: bool) -> Iterator[str]:
    """The named PostgreSQL database created afresh (dropped after unless `keep`)."""
    from sqlalchemy import text

    target, admin = _admin(url)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    try:
        yield target.render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        admin.dispose()


def driver(platform):
    """A raw psycopg connection on the platform's database (for COPY)."""
    import psycopg

    url = platform.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url)


# --- the baseline ------------------------------------------------------------------------------


def bare_copy(platform) -> tuple[float, int]:
    """COPY the rows the run left in benefit_payments into an empty twin table (same columns,
    indexes, constraints); returns (seconds of the COPY and its commit, rows)."""
    with driver(platform) as connection:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_bare_payments")
            cursor.execute("CREATE TABLE bench_bare_payments (LIKE benefit_payments INCLUDING ALL)")
            buffer = io.BytesIO()
            with cursor.copy("COPY benefit_payments TO STDOUT") as copy:
                for data in copy:
                    buffer.write(data)
        connection.commit()
        data = buffer.getvalue()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy("COPY bench_bare_payments FROM STDIN") as copy:
                step = 1 << 20
                for offset in range(0, len(data), step):
                    copy.write(data[offset:offset + step])
            rows = cursor.rowcount
        connection.commit()
        return time.perf_counter() - started, rows


# --- profiling -----------------------------------------------------------------------------------


class Statements:
    """SQL statements by total time, from SQLAlchemy's cursor events (client side)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args) -> None:
        self._started.append(time.perf_counter())

    def _after(self, _conn, _cursor, statement, _params, _context, executemany) -> None:
        took = time.perf_counter() - self._started.pop()
        key = " ".join(statement.split())[:150] + (" [executemany]" if executemany else "")
        self.totals[key][0] += 1
        self.totals[key][1] += took

    def report(self, top: int = 15) -> str:
        lines = [f"{'calls':>7} {'seconds':>8}  statement"]
        for statement, (calls, seconds) in sorted(self.totals.items(), key=lambda kv: -kv[1][1])[:top]:
            lines.append(f"{calls:>7} {seconds:>8.3f}  {statement}")
        return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payees", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--programme", default="pension")
    parser.add_argument("--period", default="2026-12")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ykt-bench-disb-"))
    os.chdir(workdir)  # the file drop and every default var/ path land here
    print(f"load average {os.getloadavg()[0]:.1f}; work directory {workdir}")
    with database(args.database_url, args.keep) as url:
        os.environ.update({"YKT_DATABASE_URL": url, "YKT_KEY_STORE": "memory",
                           "YKT_CHIP_DIR": str(workdir / "chips"),
                           "YKT_AUDIT_CHECKPOINT_DIR": str(workdir / "checkpoints")})
        run_bench(args, workdir)


def run_bench(args, workdir: Path) -> None:
    from yikatong.core.clock import FixedClock
    from yikatong.platform import Platform
    from yikatong.platform_setup import prepare

    # The run's pay day must be ahead: the clock is fixed in the month before the period.
    year, month = map(int, args.period.split("-"))
    clock = FixedClock(datetime(year if month > 1 else year - 1, month - 1 or 12, 20, 2, 0, tzinfo=UTC))
    platform = Platform(clock=clock)
    started = time.perf_counter()
    prepare(platform)
    print(f"migrated and reference data loaded in {time.perf_counter() - started:.1f} s")

    def progress(what: str) -> None:
        print(f"  seeded {what} ({time.perf_counter() - started:.1f} s)", flush=True)

    started = time.perf_counter()
    seeded = payees.seed(platform.engine.url.render_as_string(hide_password=False), args.payees,
                         programme=args.programme, period=args.period, now=clock.now(),
                         no_card=False, progress=progress)
    print(f"seeded directly in {time.perf_counter() - started:.1f} s: {seeded}")

    statements = Statements(platform.engine) if args.profile else None
    profiler = cProfile.Profile() if args.profile else None
    print(f"load average {os.getloadavg()[0]:.1f} before the run")
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    outcome = the_run(platform, args.programme, args.period)
    run_seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
    print(f"load average {os.getloadavg()[0]:.1f} after the run")

    bare_seconds, bare_rows = bare_copy(platform)
    print(f"load average {os.getloadavg()[0]:.1f} after the bare COPY")
    checks(platform, args.programme, args.period, seeded, outcome)

    print()
    print(f"payees            {args.payees:>12,}")
    print(f"run, end to end   {run_seconds:>12.2f} s   ({args.payees / run_seconds:,.0f} payees/s)")
    print(f"bare COPY         {bare_seconds:>12.2f} s   ({bare_rows:,} rows of benefit_payments)")
    print(f"ratio             {run_seconds / bare_seconds:>12.2f} ×   (goal ≤ 3×)")
    if statements:
        print("\nSQL statements by total time (client side):")
        print(statements.report())
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())


def the_run(platform, programme: str, period: str):
    """The timed part: what `ykt benefits run PROGRAMME --period PERIOD` does."""
    raise NotImplementedError("waiting for benefits.run (bnfcore)")


def checks(platform, programme: str, period: str, seeded: dict, outcome) -> None:
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
