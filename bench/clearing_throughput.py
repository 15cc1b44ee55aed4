"""Clearing throughput: a day of terminal batches cleared, against a bare bulk load of the same rows.

    .venv/bin/python bench/clearing_throughput.py [--records 1000000] [--parts 1]
        [--database-url postgresql://postgres@127.0.0.1/postgres] [--processes 2]

The records are a synthetic day of the city: cards topped up once, then riding buses and the
metro (transfers within the hour included), fares from the fare engine, genuine SM4 TACs under a
fixed benchmark key store (computed with the vectorised verifier's own MAC), about 10% of the
taps by other cities' cards. They are written once as terminal batch files under var/bench/ and
reused (generating a million takes a while).

In the same database, in the same run:

  bare load  the same rows (as clearing stores them, prepared by the same function) inserted
             with the same statement into a table with the same unique index: `executemany`
             on SQLite, `COPY` on PostgreSQL, one transaction, one commit;
  clearing   every file received with `receive.upload_batch`, one transaction each: parse and
             digest, bulk TAC verification and the rows prepared before the transaction; in it,
             duplicates by the unique index, the ledger postings per (file, operator, issuer),
             the exceptions; then the day's review: every tap re-rated from the card's history,
             our cards' counters checked for gaps. With --processes N (default 2, the machine's
             cores) N uploads run side by side, each in its own process and transaction, as a
             clearing server would take them (its worker processes started before the clock
             starts, as a server's are already running; on SQLite their transactions take turns, see
             db.engine.writer_turn; reading and verifying the next file overlaps the writing),
             and the review splits the day's cards between N workers that read and re-rate
             their own share. --processes 1 does everything in one process.

The clearing table keeps more than the bare one: indexes by batch, by day and of the records
waiting for the national house. Both sides run with the cyclic garbage collector paused.

The default database is a new SQLite file in a temporary directory; with a PostgreSQL URL a new
database is created on that server and dropped afterwards. Timings are printed, never
asserted; the machine is shared, so run it twice before quoting a figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.pool
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, func, select, text

from yikatong.clearing import batches, bulk, day_review, fileformat, receive, rules
from yikatong.clearing.fileformat import BatchRecord, FileKind
from yikatong.clearing.models import ClearedRecord, ClearingException, RecordStatus
from yikatong.clearing.simulation import city_places, journey, post_cash_top_ups, terminal_ids
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import CST
from yikatong.core.memory import cyclic_gc_paused
from yikatong.core.settings import Settings
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm4_batch import tacs_sm4
from yikatong.db.engine import make_engine, normalise_url
from yikatong.db.registry import load_all_models
from yikatong.platform import Platform
from yikatong.transit.fare_config import default_fare_config
from yikatong.transit.fare_rules import quote

DAY = date(2026, 3, 2)
KEYS = InMemoryKeyStore(seed=b"clearing benchmark keys")
OURS, VISITOR = "01013040FFFFFFFF", "01013050FFFFFFFF"
ADMIN = Actor(user_id="bench", role=Role.ADMIN, channel=Channel.SYSTEM)


# --- the synthetic day -----------------------------------------------------------------------


class _Day:
    """The simulation's places (without the other cities'), their terminals and journeys."""

    def __init__(self, fares) -> None:
        self.fares = fares
        everywhere = city_places(fares)
        self.ids = terminal_ids(everywhere)
        self.places = {key: place for key, place in everywhere.items() if place.city == "3040"}

    def journey(self, rng: random.Random) -> list[tuple[float, str]]:
        return journey(self.places, rng, travels=False)


def _card_records(number: int, issuer: str, taps: int, day: _Day, rng: random.Random) -> list[BatchRecord]:
    """One card's day: a load (our cards), then whole journeys priced by the fare engine."""
    asn = f"{issuer[4:8]}{number:016d}"
    card = rules.card_context(issuer, "social_security", "adult")
    balance, records, history = 50_000, [], []
    clock = datetime(DAY.year, DAY.month, DAY.day, 6, 0, tzinfo=CST) + timedelta(minutes=rng.uniform(0, 120))
    if issuer == OURS:
        records.append(BatchRecord(0, asn, issuer, "304010000001", 0, 0x02, balance, balance, 0,
                                   fileformat.card_time_of(clock - timedelta(minutes=30)), "", 1, 0x04, "3040",
                                   "SMKOUTLET"))
    counter = rng.randrange(0, 500) if issuer != OURS else 0
    gap = max(5.0, 900 / max(1.0, taps / 1.7) - 30)
    while len(records) < taps + (issuer == OURS):
        steps = day.journey(rng)
        for minutes, key in steps:
            when = (clock + timedelta(minutes=minutes)).replace(microsecond=0)
            place = day.places[key]
            tap = place.tap(when)
            decision = quote(card, tap, history[-10:], day.fares, explain=False)
            history.append(decision.record(tap))
            balance -= decision.amount
            records.append(BatchRecord(0, asn, issuer, day.ids[key], 0, 0x09, decision.amount, balance, counter,
                                       fileformat.card_time_of(when), "", 1, 0x04, place.city, place.operator,
                                       place.mode.value, place.kind.value, place.line or "", place.station or "",
                                       place.region or "", "social_security", "adult"))
            counter += 1
        clock += timedelta(minutes=steps[-1][0] + rng.uniform(0.5, 1.5) * gap)
    return records[:taps + (issuer == OURS)]


def generate(records: int, parts: int, seed: int, directory: Path) -> list[Path]:
    """Write the day as terminal files, each terminal's day in `parts` uploads."""
    rng, day = random.Random(seed), _Day(default_fare_config())
    per_card = 15
    cards = max(1, records // per_card)
    everything: list[BatchRecord] = []
    started = time.perf_counter()
    for number in range(1, cards + 1):
        issuer = VISITOR if number % 10 == 0 else OURS
        everything += _card_records(number, issuer, per_card - (issuer == OURS), day, rng)
        if number % 10_000 == 0:
            print(f"  generated {len(everything):,} records ({time.perf_counter() - started:.0f} s)", flush=True)
    everything = everything[:records]
    by_terminal: dict[str, list[BatchRecord]] = defaultdict(list)
    for record in everything:
        by_terminal[record.terminal_id].append(record)
    uploads: list[tuple[str, str, list[BatchRecord]]] = []
    for terminal_id, terminal_records in by_terminal.items():
        terminal_records.sort(key=lambda r: (r.card_time, r.asn))
        numbered = [r._replace(terminal_serial=i if not r.is_load else 0)
                    for i, r in enumerate(terminal_records, start=1)]
        share = -(-len(numbered) // parts)
        for part, start in enumerate(range(0, len(numbered), share)):
            uploads.append((terminal_id, f"{terminal_id}-{DAY:%Y%m%d}-{part:03d}", numbered[start:start + share]))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for terminal_id, file_id, chunk in uploads:
        chunk = _with_tacs(chunk, rng)  # the terminal serial is in the TAC: sign after numbering
        path = directory / f"{file_id}.txt"
        path.write_text(fileformat.render_records(
            FileKind.TERMINAL, file_id, terminal_id, chunk, created=datetime(2026, 3, 2, 23, tzinfo=CST),
            operator=chunk[0].operator, terminal_id=terminal_id), encoding="utf-8")
        paths.append(path)
    return paths


def _with_tacs(records: list[BatchRecord], rng: random.Random) -> list[BatchRecord]:
    """Genuine TACs of our cards under the benchmark keys; other cities' cards get random ones
    (their issuers' keys are the national house's, which the benchmark leaves out)."""
    out = list(records)
    own = [i for i, r in enumerate(records) if rules.is_own_card(r.issuer_id)]
    for i in set(range(len(records))) - set(own):
        out[i] = records[i]._replace(tac=f"{rng.getrandbits(32):08X}")
    stub = [r._replace(tac="00000000") for r in records]
    master = KEYS.get("tac", version=1, algorithm="SM4").key
    for group in rules.tac_groups(fileformat.frame_of(stub), own):
        tacs = tacs_sm4(master, group.asns, group.tac_inputs, issuer_factors=[bytes.fromhex(group.issuer_id)])
        for index, tac in zip(group.indexes, tacs, strict=True):
            out[index] = records[index]._replace(tac=f"{int(tac):08X}")
    return out


# --- databases -------------------------------------------------------------------------------


def fresh_database(url: str | None) -> tuple[str, callable]:
    """(URL of a new empty database, a function that removes it)."""
    if url is None:
        directory = Path(tempfile.mkdtemp(prefix="ykt-clearing-bench-"))
        return f"sqlite:///{directory / 'bench.db'}", lambda: shutil.rmtree(directory, ignore_errors=True)
    if url.startswith("sqlite"):
        return url, lambda: None
    name = f"ykt_clearing_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    target = normalise_url(url).rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return target, drop


def bench_platform(url: str) -> Platform:
    platform = Platform(Settings(database_url=url, key_store_path="memory"))
    platform.provide(KeyStore, KEYS)
    if platform.engine.dialect.name == "sqlite":
        # WAL with synchronous=NORMAL (fsync at checkpoints, not at every commit) and a page
        # cache that holds the indexes of a million rows (256 MB), for the bare load and
        # clearing alike: every connection of the engine gets them.
        platform.engine.dispose()
        event.listen(platform.engine, "connect", _sqlite_bench_pragmas)
    return platform


_WORKER: dict[str, object] = {}  # an upload worker's platform and the start barrier


@contextmanager
def upload_workers(url: str, processes: int) -> Iterator[multiprocessing.pool.Pool | None]:
    """`processes` upload workers, started (spawned, each with its platform) before the clock
    starts, as a clearing server's workers would be running already. Spawned, not forked:
    this process has used polars (the bare load), whose thread pool does not survive a fork."""
    if processes <= 1:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes)
    with context.Pool(processes, initializer=_start_worker, initargs=(url, ready)) as pool:
        pool.map(_wait_for_the_others, range(processes), chunksize=1)
        yield pool


def upload_all(platform: Platform, pool: multiprocessing.pool.Pool | None, contents: list[bytes],
               stages: dict[str, float]) -> list[batches.BatchResult]:
    """Every file through receive.upload_batch, one transaction each; with a pool of N workers
    N uploads run side by side, as a clearing server takes them (each process its own
    connection; on SQLite the writes take turns, parsing and TAC checks overlap). Stage
    seconds are summed over the workers."""
    if pool is None:
        return [receive.upload_batch(platform=platform, actor=ADMIN, content=content, stages=stages)
                for content in contents]
    answers = pool.map(_upload_in_worker, contents, chunksize=1)
    for _result, worker_stages in answers:  # with "cpu": the workers' CPU seconds
        for name, seconds in worker_stages.items():
            stages[name] = stages.get(name, 0.0) + seconds
    return [result for result, _stages in answers]


def _start_worker(url: str, ready) -> None:
    _WORKER["platform"], _WORKER["ready"] = bench_platform(url), ready


def _wait_for_the_others(_index: int) -> None:
    """Held until every worker has started: each takes exactly one of these."""
    _WORKER["ready"].wait()


def _upload_in_worker(content: bytes) -> tuple[batches.BatchResult, dict[str, float]]:
    stages: dict[str, float] = {}
    cpu = time.process_time()
    result = receive.upload_batch(platform=_WORKER["platform"], actor=ADMIN, content=content, stages=stages)
    stages["cpu"] = time.process_time() - cpu
    return result, stages


def _sqlite_bench_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    dbapi_connection.execute("PRAGMA cache_size=-262144")


def cpu_seconds() -> float:
    """CPU time of this process and its reaped workers (user + system; the upload workers, still
    running, count their own): on a shared machine the wall clock also counts the time others'
    processes had the cores."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def bare_load(platform: Platform, records: list[BatchRecord]) -> tuple[float, float]:
    """The same rows into a table of the same columns with the same unique index; (wall, CPU) s."""
    with platform.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.execute(text("CREATE TABLE bench_bare_load AS SELECT * FROM clearing_records WHERE 0"))
        else:
            connection.execute(text("CREATE TABLE bench_bare_load (LIKE clearing_records INCLUDING DEFAULTS)"))
        connection.execute(text("CREATE UNIQUE INDEX ux_bench_bare_load ON bench_bare_load (asn, counter_kind, counter) "
                                "WHERE status <> 'rejected'"))
        connection.commit()
        rows = bulk.prepare_rows(connection.dialect.name, records, range(len(records)),
                                 [rules.is_own_card(r.issuer_id) for r in records], RecordStatus.CLEARED)
    started, cpu = time.perf_counter(), cpu_seconds()
    # one transaction (BEGIN IMMEDIATE on SQLite), one commit; the garbage collector paused as clearing pauses it
    with cyclic_gc_paused(), platform.engine.begin() as connection:
        bulk.insert_plain(connection, rows, batch_id=1, table="bench_bare_load")
    return time.perf_counter() - started, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=1, help="uploads per terminal (its day split in parts)")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file; or postgresql://…")
    parser.add_argument("--processes", type=int, default=2,
                        help="worker processes: uploads side by side, then the re-rating")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    directory = Path("var/bench") / f"clearing-{args.records}-{args.parts}-{args.seed}"
    paths = sorted(directory.glob("*.txt"))
    if not paths:
        print(f"generating {args.records:,} records into {directory} (once) …", flush=True)
        started = time.perf_counter()
        paths = generate(args.records, args.parts, args.seed, directory)
        print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    contents = [path.read_bytes() for path in paths]
    parsed = [record for content in contents for record in fileformat.parse(content).records]
    url, drop = fresh_database(args.database_url)
    try:
        platform = bench_platform(url)
        load_all_models().create_all(platform.engine)
        # The cards' top-ups, as the top-up service would have posted them: the float pays the fares.
        post_cash_top_ups(platform, [record for record in parsed if record.is_load])
        bare = bare_load(platform, parsed)
        stages: dict[str, float] = {}
        platform.engine.dispose()  # no open connection crosses into the workers
        spawning = time.perf_counter()
        with upload_workers(url, args.processes) as pool:
            if pool is not None:
                print(f"{args.processes} upload workers started in {time.perf_counter() - spawning:.1f} s "
                      "(before the clock, as a server's are already running)", flush=True)
            started, cpu = time.perf_counter(), cpu_seconds()
            results = upload_all(platform, pool, contents, stages)
            stages["uploads (all)"] = time.perf_counter() - started
            with platform.uow() as uow:
                review = day_review.review_day(uow=uow, actor=ADMIN, day=DAY, fares=default_fare_config(),
                                            processes=args.processes, stages=stages)
                uow.commit()
            clearing, clearing_cpu = time.perf_counter() - started, cpu_seconds() - cpu + stages.pop("cpu", 0.0)
        stages["review (all)"] = clearing - stages["uploads (all)"]
        with platform.uow() as uow:
            stored = uow.session.execute(select(func.count()).select_from(ClearedRecord)).scalar_one()
            flags = dict(uow.session.execute(select(ClearingException.reason, func.count())
                                             .group_by(ClearingException.reason)).all())
        report(args, platform, len(parsed), len(contents), bare, (clearing, clearing_cpu), stages, results, stored,
               flags, review)
        platform.engine.dispose()
    finally:
        drop()


def report(args, platform, records, files, bare, clearing, stages, results, stored, flags, review) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    (bare, bare_cpu), (clearing, clearing_cpu) = bare, clearing
    sync = " (WAL, synchronous=NORMAL, 256 MB page cache, for both)" if platform.engine.dialect.name == "sqlite" else ""
    print(f"\n{records:,} records in {files} terminal files; database {platform.engine.dialect.name}{sync}; "
          f"{args.processes} worker processes; {os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"bare load ({'executemany' if platform.engine.dialect.name == 'sqlite' else 'COPY'}, same unique index)"
          f": {bare:8.1f} s  {records / bare:>10,.0f} records/s")
    print(f"clearing (everything, one transaction per file)      : {clearing:8.1f} s  "
          f"{records / clearing:>10,.0f} records/s")
    print(f"ratio clearing / bare load: {clearing / bare:.2f}x wall clock   (target: within 3x)")
    print(f"CPU seconds (this process and its workers): bare load {bare_cpu:.1f}, clearing {clearing_cpu:.1f}, "
          f"ratio {clearing_cpu / bare_cpu:.2f}x")
    print("clearing stages (s; upload stages summed over the upload workers): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items()))
    cleared = sum(r.cleared for r in results)
    pending = sum(r.pending_national for r in results)
    rejected = sum(r.rejected for r in results)
    print(f"records stored {stored:,}: cleared {cleared:,}, waiting for the national house {pending:,}, "
          f"rejected {rejected:,}; taps re-rated {review.taps:,} ({review.not_rated:,} not rateable); "
          f"exceptions {flags or 'none'}")


if __name__ == "__main__":
    main()
