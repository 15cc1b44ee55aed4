"""A benefits run (代发) of N payees end to end on PostgreSQL, against a bare COPY of the same
payment rows in the same run.

    PYTHONPATH=src .venv/bin/python bench/disbursement.py [--payees 1000000]
        [--database-url postgresql://postgres@127.0.0.1:5432/ykt_bench_disbursement]
        [--programme pension] [--period 2026-12] [--profile] [--keep]

SEEDED DIRECTLY (set-based COPY, not through the services: a million people with cards made
through people.service and cards.service would take hours), in a PostgreSQL database created
afresh, migrated to head with the reference data loaded (`platform_setup.prepare`):

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
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/ykt_bench_disbursement"
BANKS = ("ICBC", "ABC", "CCB", "BOCOM", "BOC", "JSB")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华文玉兰红梅志强春梅海燕小红金凤国庆淑珍晓东德明永生"


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


# --- seeding -----------------------------------------------------------------------------------


def _ssn(birth: date, sequence: int) -> str:
    from yikatong.people.rules import mod11_2_check_char

    body = f"320402{birth:%Y%m%d}{sequence:03d}"
    return body + mod11_2_check_char(body)


def _pan(bin_prefix: str, number: int) -> str:
    from stdnum import luhn

    body = f"{bin_prefix}{number:012d}"
    return body + luhn.calc_check_digit(body)


def _copy(connection, table: str, columns: list[str], rows) -> int:
    count = 0
    with connection.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(platform, payees: int, programme: str, period: str, progress) -> dict[str, int]:
    """The rows the run needs, set-based (see the module docstring); returns counts by kind."""
    from yikatong.directory.rules import packaged_banks

    bins = {bank.code: bank.bin_prefixes[0] for bank in packaged_banks()}
    rng = random.Random(20261205)
    now = platform.clock.now()
    start = date(1940, 1, 1).toordinal()
    counts: dict[str, int] = defaultdict(int)
    people = []
    for n in range(payees):
        birth = date.fromordinal(start + n // 900)  # 900 a day: 1M born 1940-1943
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        bank = BANKS[n % len(BANKS)]
        kind = "inactive" if n % 50 == 7 else "closed" if n % 500 == 3 else "active"
        counts[kind] += 1
        people.append((n + 1, name, _ssn(birth, n % 900 + 1), "M" if n % 2 else "F", birth, bank,
                       _pan(bins[bank], n + 1), f"B{n + 1:08d}", kind,
                       rng.randrange(180000, 480001, 100)))
    progress("people made in memory")
    issued = date(2024, 6, 1)
    with driver(platform) as connection:
        _copy(connection, "persons", ["id", "name", "ssn", "gender", "birth_date", "nationality",
                                      "had_provincial_card", "created_at", "updated_at", "version"],
              ((pid, name, ssn, gender, birth, "CHN", False, now, now, 1)
               for pid, name, ssn, gender, birth, *_ in people))
        progress("persons")
        _copy(connection, "cards", [
            "card_no", "person_id", "kind", "bank_code", "card_id_code", "chip_serial", "pan",
            "asn", "issue_date", "financial_valid_until", "state", "produced_at",
            "handed_over_at", "financial_status", "updated_at", "version"],
            ((card_no, pid, "first", bank, f"CID{pid:012d}", f"CS{pid:012d}", pan,
              f"ASN{pid:016d}", issued, date(2034, 6, 1), "in_use", now, now,
              "inactive" if kind == "inactive" else "closed" if kind == "closed" else "active",
              now, 1)
             for pid, _, _, _, _, bank, pan, card_no, kind, _ in people))
        progress("cards")
        _copy(connection, "bank_accounts", [
            "bank_code", "pan", "card_no", "holder_ref", "status", "issue_date", "valid_until",
            "opened_at", "activated_at", "closed_at", "last_atc", "version"],
            ((bank, pan, card_no, str(pid),
              "not_activated" if kind == "inactive" else kind, issued, date(2034, 6, 1), now,
              None if kind == "inactive" else now, now if kind == "closed" else None, 0, 1)
             for pid, _, _, _, _, bank, pan, card_no, kind, _ in people))
        progress("bank accounts")
        _copy(connection, "ledger_accounts", ["code", "kind", "currency", "allow_negative",
                                              "balance", "version", "created_at"],
              ((f"bank:{bank}:customer:{pan}", "liability", "CNY", False, 0, 1, now)
               for _, _, _, _, _, bank, pan, *_ in people))
        progress("ledger accounts")
        _copy(connection, "benefit_account_map", ["person_id", "card_no", "bank_code", "pan",
                                                  "updated_at"],
              ((pid, card_no, bank, pan, now)
               for pid, _, _, _, _, bank, pan, card_no, _, _ in people))
        progress("account map")
        _copy(connection, "benefit_enrolments", [
            "programme_code", "person_id", "monthly_fen", "start_period", "end_period", "facts",
            "source", "source_ref", "status", "created_by", "created_at", "updated_at"],
            ((programme, pid, monthly, period, None, "{}", "bench", f"bench-{pid}", "active",
              "bench", now, now)
             for pid, *_, monthly in people))
        progress("enrolments")
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('persons', 'id'), %s)", (payees,))
            cursor.execute("ANALYZE")
        connection.commit()
    counts["payees"] = payees
    counts["due_fen"] = sum(row[-1] for row in people)
    return dict(counts)


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
    seeded = seed(platform, args.payees, args.programme, args.period, progress)
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
