"""Outbox → dispatcher → NATS JetStream: throughput, commit-to-consumer delay, catch-up.

    .venv/bin/python bench/outbox_nats.py [--events 6000] [--postgres ADMIN_URL]
                                         [--nats-url nats://127.0.0.1:4222]

Prints, from one run against one NATS server, each figure beside its baseline from the same
run (the ratio) and the goal of issue 11:
* the raw JetStream publish rate (js.publish awaiting each ack, the same message size and
  Msg-Id header; pipelined publish_async beside it);
* the dispatcher draining a full outbox through JetStreamBus (read 500 rows, publish, mark
  the acked ones published in one transaction): pipelined as it is now, and publishing one
  event at a time awaiting each ack as it did before (baseline). Goal: ≥ 80 % of the raw
  awaited rate and ≥ 10,000 events/s;
* a durable consumer catching up a stored backlog, each event applied through the inbox in
  the bank's database: one transaction per event (before, baseline) and 200 per transaction
  (batch_handler, now). Goal: ≥ 3,000 events/s;
* the delay from a use case's commit to the partner having applied the event in its own
  database (p50/p99): the dispatcher polling every 0.2 s (before, baseline) and woken by the
  commit (DispatchLoop; on PostgreSQL through LISTEN/NOTIFY only, as when the API and the
  worker are separate processes; on SQLite the in-process signal). Goal: p99 ≤ 50 ms.

Nothing is asserted: numbers depend on the machine.

Found (2026-12-04, PostgreSQL on 127.0.0.1, nats-server 2.9 on 127.0.0.1, the 2-core machine
shared with four other helpers, load average 5-7 throughout; two runs of the defaults):

  dispatcher, events/s         before (one ack at a time) 2,105 / 1,711   now 5,103 / 4,504
                               now/before 2.4 / 2.6; now/raw awaited 1.09 / 1.78 (goal ≥ 0.8 met);
                               raw pipelined 19,000 here, so ≥ 10,000/s was NOT met: reading
                               and marking 500 rows costs about as much as publishing them
  consumer catch-up, events/s  one tx per event 142 / 210   200 per tx 2,771 / 2,741
                               (13-20×; goal 3,000 just missed under this load)
  commit → applied, ms         polled every 0.2 s p50 179 / 162, p99 238 / 232
                               woken (LISTEN/NOTIFY) p50 15 / 10, p99 76 / 26 (goal ≤ 50 met
                               in the second run; the p99 follows the machine's load)

Then (2026-12-04 16:47 UTC, branch events2, same set-up; load average 7-10, a CI run and
other helpers on the same two cores): the dispatcher overlaps its batches (the next batch is
read and the previous one marked while JetStream publishes the current one; the next goes
out only once every event of the current one is acked), takes 1,000 rows per batch, and
marks a consecutive run of acked rows by seq range instead of 1,000 parameters:

  dispatcher, events/s         before (one ack at a time) 1,010   now 7,596 (rounds 7,705 /
                               7,596 / 7,293); now/before 7.5; now/raw awaited 2.45; raw
                               pipelined 12,009 in this run (rounds 5,469-18,571: the load
                               moved the raw figure more than the dispatcher's), so ≥ 10,000/s
                               NOT met under this load
  previous pipelined code vs   4 rounds of 5,000 alternating, same run, PostgreSQL: previous
  now, same run                960 / 1,180 / 3,792 / 5,310, now 3,605 / 5,309 / 7,523 / 2,996;
                               median now/previous 1.79 (a throwaway A/B script importing the
                               previous dispatcher.py; not in the repository). On a quieter
                               moment (load ~2) earlier the same A/B gave 1.05-1.31 with
                               batches of 500 and 1.15 with 1,000: overlap helps most when
                               PostgreSQL's share of the two cores is contended
  consumer catch-up, events/s  one tx per event 124   200 per tx 3,260 (26×; goal met in
                               this run; this path, events.inbox, is unchanged)
  commit → applied, ms         polled p50 193 / p99 489; woken p50 33 / p99 491 (the load)

Where the dispatcher's time goes now (py-spy, PostgreSQL): publishing ~45 % (in nats-py's
publish_async: os.urandom for each reply token and an asyncio.wait_for on its semaphore
take about half of that), marking ~35 % (mostly waiting for PostgreSQL to update 1,000 rows
and their published_at index), reading ~20 % (half of it JSON-decoding payloads that are
encoded again for the wire). The next step past 10,000/s would be a publish that skips
nats-py's per-message token and wait_for (our own reply subscription), not the database.

Then (2026-12-04 18:37 UTC, branch evpath; load average 4.4-4.5, other helpers on the two
cores), the question whether nats-py's per-message work (a NUID and os.urandom token per
reply inbox, an asyncio.wait_for on its semaphore, a PubAck dataclass per ack) is what holds
the dispatcher under 10,000/s. It is not: `JetStreamBus.publish_batch` alone, 1,000 events
of this size at a time on the same server, ran at 20,236-24,644 events/s (5 rounds; a
throwaway script, not in the repository), while draining the outbox through the dispatcher
at the same moment gave 1,371-2,558 events/s. cProfile of the publishing (loop) thread:
nats-py's publish_async and its ack handling are about a fifth of that thread's time, so
matching acks on our own reply subscription would gain at most that share of the thread
that is not the limit. The dispatcher's own thread spends its time waiting for
PostgreSQL (reading 1,000 rows, the UPDATE … RETURNING that marks them, the webhook
endpoints query) and JSON-decoding the payloads it reads (about a third of its CPU). So the
publish path was left as it is; the next step past 10,000/s is on the database side (e.g.
passing the stored payload JSON through to the wire without decoding it), and a quieter
machine: the quiet run below reached 7,190 with the code unchanged.

  (2026-12-04 18:18 UTC, same code as 16:47, load average 1.1-1.3: dispatcher one ack at a
  time 1,689 → pipelined 7,190 (rounds 7,190 / 6,438 / 7,450; 1.39 of raw awaited 5,164;
  raw pipelined 25,117); catch-up 200 per tx 5,948 (19.4× one per tx, 306); commit → applied
  woken p50 8.0 / p99 12.7 ms, polled p50 142 / p99 220 ms.)
  (Later, same dispatcher, load average 14-17: pipelined 1,543 and 1,989 events/s against
  one ack at a time 424 and 1,564, raw awaited 2,225 and 2,173; catch-up 200 per tx 647 and
  2,011; woken p50 74.8 / p99 221 ms and p50 13.0 / p99 61.2 ms. Figures at this load say
  little about the code.)

Then (2026-12-05, branch evpath; PostgreSQL; the two cores shared with other helpers'
benches and test runs, load average 5-11 all morning). Starting point, measured on the quiet
machine (load ≈ 1) this morning: pipelined 8,992 events/s (rounds 7,000 / 8,992 / 18,163),
1.23 of raw awaited 7,324; the goal of 10,000/s not met. Each step below was measured by
alternating the previous code and the new in separate processes, three times three rounds
of 5,000 events (a throwaway harness draining a filled outbox; not in the repository),
medians:

  payload passed through       the dispatcher reads each payload as its stored text and
  (events.codec)               splices it into the wire document (codec.StoredEvent,
                               wire_document); the outbox now stores payloads in the wire's
                               own form (codec.WirePayload: compact, UTF-8 unescaped), so the
                               bytes are exactly encode_event's (tests/events/test_codec.py;
                               a row stored before, still pending at the upgrade, goes out as
                               the same JSON value spelled as stored). With it: the marking
                               transaction also reads the batch after next (one transaction
                               per batch instead of two), and the marking UPDATE returns
                               whether the row's partner has a webhook endpoint (the separate
                               query is gone, same transaction, nothing cached).
                               previous ~5.9k → ~10.9k events/s (load 5.5-6.4)
  commit not waiting for disk  the marking transaction's commit does not wait for its WAL
                               (synchronous_commit off for that transaction only; losing a
                               mark is the crash between publish and mark: re-published,
                               dropped by Msg-Id or the inboxes). First as a SET LOCAL:
                               ~9.8k → ~11.7k (load 5.3-6.4); the SET's own round trip cost
                               5-10 ms under load, so it became an InitPlan of the UPDATE's
                               RETURNING (set_config): ~13.4k → ~17.4k (load 6.9-7.2)
  acks on our own inbox        the pipelined publish matches JetStream's acks by reply
  (events.nats._AckInbox)      subject on one subscription instead of nats-py's
                               publish_async (a future, a semaphore wait, a random token and a
                               PubAck per message); every ack still read and checked
                               (tests/events/test_ack_inbox.py). publish_batch alone: 31.5-34.0
                               → 15.8-16.2 µs of CPU per event, 10.8-13.5k → 19.4-23.6k
                               events/s. The dispatcher's A/B at load 8.5-8.9 showed no
                               difference (~8.3k vs ~8.7k): under that load it waits for
                               PostgreSQL; the CPU it frees goes to PostgreSQL and NATS on
                               the same two cores
  first round                  the first mark imported events.webhooks (httpx, cryptography:
                               176 ms under load): a first round's mark took 204-554 ms
                               against 20-70 ms for the others; imported with the dispatcher now
  catch-up (events.inbox)      a batch claims its inbox rows with one INSERT … ON CONFLICT
                               DO NOTHING RETURNING (an array of ids on PostgreSQL) instead of
                               a query and an ORM flush

Where a batch of 1,000 went (same harness, load ≈ 9, before the SET LOCAL became an
InitPlan): the marking UPDATE 30-45 ms, the read 10-20 ms, the SET 8-10 ms, BEGIN and COMMIT
the rest of 55-75 ms; the publish of the next batch (about 16 ms of CPU) overlaps it. Faking the bus (acks at once) the database side alone gave
10-16k/s at load 7, so what is left is PostgreSQL updating 1,000 rows and their six indexes.

This bench after all the changes:

    UTC    load      raw awaited  raw pipelined  one ack at a time  pipelined (now)        catch-up 200/tx
    11:02  6.4-10.9  8,512        31,330         3,338              15,605 (7,271 / 15,605  2,076 (one per tx 135)
                                                                    / 18,189): 1.83 of raw
                                                                    awaited
    11:12  9.9-14.7  3,870        8,396          1,730              7,954 (7,954 / 7,866 /  6,493 (117)
                                                                    15,355): 2.06 of raw
                                                                    awaited, 0.95 of raw
                                                                    pipelined
    11:16  8.8-12.0  6,470        31,404         3,583              22,067 (13,643 / 23,891 9,057 (202)
                                                                    / 22,067): 3.41 of raw
                                                                    awaited

  commit → applied, woken: p50 8.0 / 7.4 / 8.0 ms, p99 26.3 / 22.9 / 23.4 ms (polled p99 244 /
  551 / 233 ms). The first run's catch-up was before the inbox change (committed between
  the first run and the second). At these loads the goal of 10,000/s was met in two runs of three; in
  the third the raw pipelined publish itself ran at 8,396/s and the dispatcher at 0.95 of it,
  so what held it there was the machine, not the dispatcher. On the quiet machine the morning
  baseline was 8,992; a quiet run of this code is still to be made.

  The quiet run (2026-12-05 11:36 UTC, main at 6d5fd88 with every change above, load 2.0 →
  2.1, the defaults): raw awaited 7,701, raw pipelined 33,688; dispatcher one ack at a time
  4,036 → pipelined 20,876 events/s (rounds 19,194 / 21,079 / 20,876: 2.71 of raw awaited,
  0.62 of raw pipelined; goal ≥ 10,000/s met in every round); catch-up 200/tx 16,506 (one per
  tx 629: 26.3×); commit → applied woken p50 5.7 / p99 12.8 ms (polled p99 214.5 ms).

What made the difference, besides pipelining: publish_async without wait_stall (its timer
task per message cut the rate to a third), and the dispatcher reading and marking rows with
plain statements (one UPDATE … RETURNING) instead of ORM objects. On SQLite the dispatcher's
marking transaction and the consumers' inserts are the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nats
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from yikatong.core.settings import Settings  # noqa: E402
from yikatong.db.engine import make_engine  # noqa: E402
from yikatong.db.registry import load_all_models  # noqa: E402
from yikatong.events.dispatcher import DispatchLoop, dispatch_pending  # noqa: E402
from yikatong.events.inbox import once_batch_handler, once_handler  # noqa: E402
from yikatong.events.nats import JetStreamBus  # noqa: E402
from yikatong.events.wakeup import OutboxWakeup  # noqa: E402
from yikatong.platform import Platform  # noqa: E402

PAYLOAD = {"card_no": "6217001234567890", "status": "formal_loss", "channel": "branch",
           "branch": "ICBC-320400-0012", "reported_at": "2026-03-02T09:30:00+08:00",
           "reason_zh": "持卡人在网点办理正式挂失"}


def fresh_database(admin_url: str | None, workdir: Path, name: str) -> tuple[str, callable]:
    """A new empty database with every table; returns (url, drop)."""
    if admin_url is None:
        url = f"sqlite:///{workdir / name}.db"
        drop = lambda: None  # noqa: E731 (the temporary directory goes away)
    else:
        db = f"ykt_bench_{name}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        url = f"{admin_url.rpartition('/')[0]}/{db}"

        def drop() -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    engine = make_engine(url)
    load_all_models().create_all(engine)
    engine.dispose()
    return url, drop


def platform_on(url: str, workdir: Path) -> Platform:
    platform = Platform(Settings(database_url=url, key_store_path=str(workdir / "keys.json")))
    platform.after_commit.clear()  # the dispatcher below publishes, as the worker does
    return platform


def fill_outbox(platform: Platform, count: int, cards: int = 200) -> None:
    for start in range(0, count, 500):
        with platform.uow() as uow:
            for n in range(start, min(count, start + 500)):
                uow.emit("card.formal_loss", aggregate_type="card", aggregate_id=f"62170{n % cards:011d}",
                         partner="ICBC", payload={**PAYLOAD, "n": n})
            uow.commit()


async def raw_publish_rates(url: str, namespace: str, count: int, body: bytes) -> tuple[float, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    stream = f"{namespace.upper()}_RAW_{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(name=stream, subjects=[f"{namespace}.raw.>"], duplicate_window=600)
    try:
        started = time.perf_counter()
        for n in range(count):
            await js.publish(f"{namespace}.raw.{n % 200}.card.formal_loss", body,
                             headers={"Nats-Msg-Id": str(uuid.uuid4())})
        sequential = count / (time.perf_counter() - started)
        started = time.perf_counter()
        futures = [await js.publish_async(f"{namespace}.raw.{n % 200}.card.formal_loss", body,
                                          headers={"Nats-Msg-Id": str(uuid.uuid4())})
                   for n in range(count)]
        await asyncio.gather(*futures)
        pipelined = count / (time.perf_counter() - started)
    finally:
        await js.delete_stream(stream)
        await nc.close()
    return sequential, pipelined


class OneAtATime:
    """The JetStream bus as the dispatcher used it before: one publish, awaited, at a time
    (no publish_batch, so dispatch_pending publishes event by event)."""

    def __init__(self, bus: JetStreamBus) -> None:
        self.bus = bus

    def publish(self, event) -> None:
        self.bus.publish(event)

    def subscribe(self, event_type, handler) -> None:
        raise NotImplementedError


def drain(platform: Platform, bus) -> float:
    started = time.perf_counter()
    published = 0
    while (batch := dispatch_pending(platform, bus)) > 0:
        published += batch
    return published / (time.perf_counter() - started)


def commit_to_consumer(platform: Platform, bank: Platform, bus: JetStreamBus, url: str, namespace: str,
                       *, poll: float | None, events: int, rate: float) -> list[float]:
    """Commit `events` loss reports at `rate`/s; return commit → applied-at-the-bank delays (s).
    `poll`: the dispatcher polls at this interval; None: it is woken by each commit."""
    committed: dict[str, float] = {}
    applied: dict[str, float] = {}

    def apply(_uow, event) -> None:
        pass

    inbox = once_handler(bank, f"bench-{poll}", apply)

    def handler(event) -> None:
        inbox(event)  # the bank's own transaction: inbox row + effect, committed
        applied[event.event_id] = time.perf_counter()

    partner = f"LAT{int((poll or 0) * 1000)}"  # a stream of its own: the consumer starts at its beginning
    bank_bus = JetStreamBus(url, namespace=namespace)
    subscription = bank_bus.subscribe_partner(partner, "bank", handler, poll_seconds=0.5)
    stop = threading.Event()

    def dispatcher() -> None:
        while not stop.is_set():
            dispatch_pending(platform, bus)
            stop.wait(poll)

    woken = DispatchLoop(platform, bus, fallback_seconds=3600.0) if poll is None else None
    if woken is not None:
        woken.start()
        time.sleep(0.5)  # the listening connection is up
    else:
        worker = threading.Thread(target=dispatcher, daemon=True)
        worker.start()
    try:
        for n in range(events):
            with platform.uow() as uow:
                row = uow.emit("card.formal_loss", aggregate_type="card",
                               aggregate_id=f"62171{n % 50:011d}", partner=partner, payload={**PAYLOAD, "n": n})
                uow.commit()
            committed[row.event_id] = time.perf_counter()
            time.sleep(1 / rate)
        deadline = time.monotonic() + 30
        while len(applied) < len(committed) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        if woken is not None:
            woken.stop()
        else:
            worker.join()
        subscription.stop()
        bank_bus.close()
        bus.delete_stream(bus.stream_for(partner))
    return [applied[eid] - committed[eid] for eid in committed if eid in applied]


def _rounds(rates: list[float]) -> str:
    return "(" + ", ".join(f"{rate:.0f}" for rate in rates) + ")"


def catch_up_rate(bank: Platform, url: str, namespace: str, backlog: int, batch_size: int) -> float:
    """A bank back after an outage: its durable consumer drains `backlog` stored events, each
    applied through the inbox in the bank's database: one transaction per event
    (batch_size 1), or up to `batch_size` per transaction."""
    done = threading.Event()
    consumer = f"bench-catch-up-{batch_size}"
    inbox = once_handler(bank, consumer, lambda _uow, _event: None)
    applied = 0

    def count(events: int) -> None:
        nonlocal applied
        applied += events
        if applied >= backlog:
            done.set()

    def handler(event) -> None:
        inbox(event)
        count(1)

    inbox_batch = once_batch_handler(bank, consumer, lambda _uow, _event: None)

    def batch_handler(events) -> None:
        inbox_batch(events)
        count(len(events))

    bank_bus = JetStreamBus(url, namespace=namespace)
    started = time.perf_counter()
    subscription = bank_bus.subscribe_partner(
        "ICBC", consumer, handler, batch_size=batch_size,
        batch_handler=batch_handler if batch_size > 1 else None)
    try:
        done.wait(120)
        return applied / (time.perf_counter() - started)
    finally:
        subscription.stop()
        bank_bus.close()


def _verdict(met: bool) -> str:
    return "(met)" if met else "(NOT met)"


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="commits per second in the latency run")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="use fresh PostgreSQL databases, not SQLite")
    parser.add_argument("--nats-url", default=os.environ.get("YKT_NATS_URL") or "nats://127.0.0.1:4222")
    args = parser.parse_args()

    namespace = f"bench{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="ykt-bench-"))
    platform_url, drop_platform = fresh_database(args.postgres, workdir, "platform")
    bank_url, drop_bank = fresh_database(args.postgres, workdir, "bank")
    platform, bank = platform_on(platform_url, workdir), platform_on(bank_url, workdir)
    bus = JetStreamBus(args.nats_url, namespace=namespace)
    database = "PostgreSQL" if args.postgres else "SQLite (file)"
    print(f"database: {database}; NATS: {args.nats_url}; {os.cpu_count()} CPUs")
    try:
        bus.ensure_stream("ICBC")
        from yikatong.events.codec import encode_event
        from yikatong.events.dispatcher import as_event
        from yikatong.events.models import OutboxEvent

        # Rounds alternate raw and dispatcher runs so load from other processes on a shared
        # machine hits all alike; medians are reported.
        per_round = args.events // args.rounds
        raw, pipelined, dispatched, before, fill = [], [], [], [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            fill_outbox(platform, per_round)
            fill.append(per_round / (time.perf_counter() - started))
            with platform.uow() as uow:
                body = encode_event(as_event(uow.session.query(OutboxEvent).first()))
            rates = asyncio.run(raw_publish_rates(args.nats_url, namespace, per_round, body))
            raw.append(rates[0])
            pipelined.append(rates[1])
            dispatched.append(drain(platform, bus))
            fill_outbox(platform, per_round)
            before.append(drain(platform, OneAtATime(bus)))
        raw_rate, pipelined_rate = statistics.median(raw), statistics.median(pipelined)
        dispatch_rate, before_rate = statistics.median(dispatched), statistics.median(before)

        print(f"\nthroughput ({args.rounds} rounds of {per_round} events of {len(body)} bytes; medians)")
        print(f"  raw js.publish, ack awaited each   {raw_rate:10.0f} msg/s   {_rounds(raw)}")
        print(f"  raw js.publish_async, pipelined    {pipelined_rate:10.0f} msg/s   {_rounds(pipelined)}")
        print(f"  dispatcher, one ack at a time      {before_rate:10.0f} events/s {_rounds(before)}"
              "   (before: baseline)")
        print(f"  dispatcher, pipelined (now)        {dispatch_rate:10.0f} events/s {_rounds(dispatched)}")
        print(f"  now / before                       {dispatch_rate / before_rate:10.2f}")
        print(f"  now / raw awaited                  {dispatch_rate / raw_rate:10.2f}   goal ≥ 0.80 "
              f"{_verdict(dispatch_rate / raw_rate >= 0.8)}")
        print(f"  now / raw pipelined                {dispatch_rate / pipelined_rate:10.2f}   goal "
              f"≥ 10,000 events/s {_verdict(dispatch_rate >= 10_000)}")
        print(f"  (filling the outbox, 500 per commit {statistics.median(fill):9.0f} events/s, not included)")

        backlog = min(3000, per_round * args.rounds)
        one = catch_up_rate(bank, args.nats_url, namespace, backlog, batch_size=1)
        batched = catch_up_rate(bank, args.nats_url, namespace, backlog, batch_size=200)
        print(f"\ncatch-up after an outage: a durable consumer drains {backlog} stored events")
        print(f"  one transaction per event (before)  {one:8.0f} events/s")
        print(f"  200 per transaction (now)           {batched:8.0f} events/s   "
              f"now / before {batched / one:5.1f}   goal ≥ 3,000 events/s {_verdict(batched >= 3000)}")

        wake = "LISTEN/NOTIFY only" if args.postgres else "the in-process signal"
        if not args.postgres:
            platform.after_commit.append(platform.get(OutboxWakeup).notify)
        print(f"\ncommit → applied at the bank (inbox transaction in its own database), "
              f"{args.latency_events} events at {args.rate:.0f}/s")
        results = {}
        for poll in (0.2, None):
            delays = commit_to_consumer(platform, bank, bus, args.nats_url, namespace,
                                        poll=poll, events=args.latency_events, rate=args.rate)
            results[poll] = delays
            lost = args.latency_events - len(delays)
            title = f"dispatcher polling every {poll:.2f}s" if poll else f"woken on commit ({wake})"
            print(f"  {title:<42} p50 {percentile(delays, 50) * 1000:7.1f} ms"
                  f"   p99 {percentile(delays, 99) * 1000:7.1f} ms   max {max(delays) * 1000:7.1f} ms"
                  + (f"   ({lost} not applied within 30 s)" if lost else ""))
        p99_now, p99_before = percentile(results[None], 99), percentile(results[0.2], 99)
        print(f"  p99 now / before {p99_now / p99_before:5.2f}   goal p99 ≤ 50 ms "
              f"{_verdict(p99_now <= 0.050)}")
    finally:
        bus.delete_stream(bus.stream_for("ICBC"))
        bus.close()
        platform.engine.dispose()
        bank.engine.dispose()
        drop_platform()
        drop_bank()


if __name__ == "__main__":
    main()
