"""One disbursement (代发) batch through the reference bank on PostgreSQL.

    .venv/bin/python bench/bank_disbursement_batch.py [--rows 50000] [--batches 2]
        [--admin postgresql://postgres@127.0.0.1:5432/postgres]

Creates a scratch database, opens `--rows` accounts at the bank in bulk (98 % active, 1 %
not activated; 1 % of the rows name an account the bank does not know), writes one batch
file per month into a file drop and times, per batch: `receive` (read the file, check the
header and the SM3, parse the rows), `process` (COPY into the staging table, every decision,
the bank transactions, the one ledger journal, the audit record, the commit) and the result
file; beside a bare COPY of the same rows into a plain table of the same columns, in the same
run. The first month opens the customers' ledger accounts; the second finds them.
Nothing is asserted: the numbers depend on the machine. The figures are in the docstring of
banking/disbursement.py.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from stdnum import luhn

from yikatong.banking import bankfiles, disbursement
from yikatong.banking.bankfiles import FileDrop
from yikatong.banking.runtime import ReferenceBank
from yikatong.core.clock import SystemClock
from yikatong.db.engine import make_engine

DB = "ykt_bench_bank_disbursement"


def pan_of(n: int) -> str:
    body = f"621226{n:012d}"
    return body + luhn.calc_check_digit(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ykt-bankfile-"))
    if args.sqlite:
        url = f"sqlite:///{workdir / 'bank.db'}"
    else:
        with psycopg.connect(args.admin, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB}")
            admin.execute(f"CREATE DATABASE {DB}")
        url = args.admin.rsplit("/", 1)[0] + f"/{DB}"
    engine = make_engine(url)
    bank = ReferenceBank(engine=engine, clock=SystemClock(), keystore=lambda: None,
                         files=FileDrop(workdir))
    rows = args.rows
    now = datetime.now(UTC)
    started = time.perf_counter()
    accounts = [("ICBC", pan_of(n), f"B{n:08d}", str(n), f"人{n}",
                 "not_activated" if n % 100 == 1 else "active", now, 0, 1) for n in range(rows)]
    columns = "bank_code, pan, card_no, holder_ref, holder_name, status, opened_at, last_atc, version"
    if args.sqlite:
        with engine.begin() as connection:
            connection.connection.driver_connection.cursor().executemany(
                f"INSERT INTO bank_accounts ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row[:6], row[6].strftime("%Y-%m-%d %H:%M:%S.%f"), *row[7:]) for row in accounts])
    else:
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            with cursor.copy(f"COPY bank_accounts ({columns}) FROM STDIN") as copy:
                for row in accounts:
                    copy.write_row(row)
            cursor.execute("ANALYZE bank_accounts")
    print(f"{rows:,} accounts opened in {time.perf_counter() - started:.1f} s")
    for month in range(1, args.batches + 1):
        batch_id = f"pension-2026{month:02d}-ICBC-0001"
        data = bankfiles.build_disbursement_file(
            batch_id=batch_id, bank_code="ICBC", payer_code="CZ-SI", pay_date=date(2026, month, 15),
            rows=((f"pension:2026-{month:02d}:{n}:1", pan_of(n + 10**9 if n % 100 == 2 else n),
                   f"人{n}", 100_000 + n % 997, "养老金") for n in range(rows)))
        name = f"{batch_id}.csv"
        bankfiles.write_atomically(bank.files.to_bank("ICBC", name), [data])
        sm3 = data.split(b"\n", 1)[0].decode().rsplit(",", 1)[-1]
        t0 = time.perf_counter()
        with bank.uow() as uow:
            disbursement.receive(uow=uow, files=bank.files, bank_code="ICBC", batch_id=batch_id,
                                 file_name=name, sm3_hex=sm3)
            uow.commit()
        t1 = time.perf_counter()
        with bank.uow() as uow:
            view = disbursement.process(uow=uow, files=bank.files, bank_code="ICBC",
                                        batch_id=batch_id)
            uow.commit()
        t2 = time.perf_counter()
        steps = disbursement.last_steps()
        with bank.uow() as uow:
            disbursement.write_result(uow=uow, files=bank.files, bank_code="ICBC",
                                      batch_id=batch_id,
                                      rows=disbursement._outcome_of("ICBC", batch_id))
        t3 = time.perf_counter()
        bare = bare_copy(url, batch_id, rows) if not args.sqlite else float("nan")
        print(f"month {month}: receive {t1 - t0:.2f} s, process {t2 - t1:.2f} s, result file "
              f"{t3 - t2:.2f} s; total {t3 - t0:.2f} s = {rows / (t3 - t0):,.0f} rows/s; "
              f"bare COPY {bare:.2f} s (ratio {(t3 - t0) / bare:.1f}×, process alone "
              f"{(t2 - t1) / bare:.1f}×); posted {view.posted_count:,} held {view.held_count:,} "
              f"failed {view.failed_count:,}")
        print("   process steps, s: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    engine.dispose()
    if not args.sqlite:
        with psycopg.connect(args.admin, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB}")


def bare_copy(url: str, batch_id: str, rows: int) -> float:
    """COPY the same payment rows into a plain table (no index, no decision): the floor."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bare_rows (line_no integer, row_ref varchar(64), "
                       "pan varchar(19), name varchar(64), amount_fen bigint, memo text)")
        cursor.execute("TRUNCATE bare_rows")
        conn.commit()
        t0 = time.perf_counter()
        with cursor.copy("COPY bare_rows FROM STDIN") as copy:
            for n in range(rows):
                copy.write_row((n + 1, f"{batch_id}:{n}", pan_of(n), f"人{n}", 100_000 + n % 997,
                                "养老金"))
        conn.commit()
        return time.perf_counter() - t0


if __name__ == "__main__":
    main()
