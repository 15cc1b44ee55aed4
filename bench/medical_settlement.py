"""Whole outpatient visits per second through the institution interface, on PostgreSQL, against
bare inserts of the same rows in the same run.

    PYTHONPATH=src .venv/bin/python bench/medical_settlement.py [--terminals 50] [--duration 20]
        [--people 400] [--workers 2] [--client raw|httpx] [--database-url postgresql://postgres@127.0.0.1:5432/ykt_bench_medical]
        [--profile 200]

A visit is what a hospital's terminal does for an outpatient at the counter: 2201 register,
2204 upload the fee lines (catalogue codes, quantities, prices), 2206 pre-settle, 2207 settle;
every message a signed envelope (x-tif headers with the institution's secret, a nonce spent
once, a msgid answered once), each write audited, the settlement posting fund → institution and
personal account → institution in the ledger. The platform is a real `ykt serve` process
(`--workers N`, no background jobs, the throttle off) on a PostgreSQL database created afresh;
people (employees and residents, in service and retired, most with a personal-account balance)
and the reference institutions (each with its secret, a MEDICAL_INSTITUTION login and an API
key) are made through the services before it starts (medical/simulation.py). The terminals are
asyncio tasks in this process, each on its own keep-alive connection written and read by hand
(`RawTerminal`; `--client httpx` for httpx, which cost the load generator as much CPU per visit
as the server spent), each waiting for an answer before its next request; the terminals of one
institution share its sign-in (9001) and its msgid sequence.

The baseline, same run, same PostgreSQL server: a copy of the seeded database (CREATE DATABASE
… TEMPLATE, taken before the server starts) receives exactly the rows the measured phase
inserted, read back from the bench database: the same tables with the same indexes and
constraints, grouped per visit (a row goes with the visit of the row it references, the other
rows are dealt out evenly), four transactions per visit as the door makes four messages, with
as many concurrent connections as terminals (SQLAlchemy Core executemany, asyncio + psycopg).
Updates the door makes (account balances, year totals) are not in the baseline: it is the floor
of writing what a visit leaves behind. The baseline's CPU per visit is printed too (since
2026-12-06), PostgreSQL's and its client's: the client (SQLAlchemy's async executemany) is the
bound there, PostgreSQL alone would write the rows several times faster. Printed: visits/s
both ways and their ratio, the settle call's (2207) p50/p99 and every message's, CPU per visit
of the server (psutil), of this database's PostgreSQL backends and of the load generator
(with what 250 visits/s leaves the server after PostgreSQL's share), the PostgreSQL sessions
opened, errors;
each message's p50/p99 also without the phase's first 2 s (every terminal connects and sends at
once), and the lowest, median and highest of the terminals' median latencies (a terminal keeps
its connection, so its worker: an uneven split of the terminals between workers shows there);
the door's figures before the baseline's, which can fail on a full server.
Nothing is asserted. Goal (issue 13): ≥ 250 visits/s and settle p99 < 50 ms at 50 terminals.
`--profile N` runs N visits in process (no server: httpx over ASGI, one terminal) under cProfile
first and prints where the time goes: CPU per message type, statements per message, Python
function calls per message (a count: it does not move with the machine's load), CPU by package;
`--profile-only` stops there. YKT_BENCH_PROFILE_OUT / YKT_BENCH_APP_PROFILE_OUT name files for
the door's and the whole application's raw profiles (pstats).

## Measured (2026-12-04, 22:38-23:08 UTC, branch medsim with medstore 2c9766f and medapi 12283ad)

**The 2-core machine was shared with the other helpers of the medical domain and their test
runs throughout: `uptime` load average 10-19** (printed by each run before the door, after it
and after the baseline). Every process here (server, PostgreSQL backends, this load generator)
got a small share of the two cores, so the absolute figures say more about the machine's load
than about the code; the ratio to the bare inserts of the same run, and the in-process CPU per
visit, are the figures to compare. No run had a refused message or an error once the client's
idle connections expired before uvicorn's keep-alive (an earlier run had 17 ReadErrors from
that race).

| run (PostgreSQL, 400 people, 10 hospitals)     | door visits/s | bare visits/s | ratio | 2207 p50 / p99 ms | server CPU ms/visit | load before → after |
|------------------------------------------------|---------------|---------------|-------|-------------------|---------------------|---------------------|
| 50 terminals, 1 worker, 30 s                   | 6.0           | 38.8          | 0.155 | 1,500 / 7,142     | 72.3                | 10.2 → 14.5         |
| 50 terminals, 2 workers, 30 s                  | 3.6           | 25.0          | 0.144 | 2,257 / 12,798    | 82.4                | 10.9 → 15.0         |
| 50 terminals, 1 worker, 30 s (after medapi's one-commit door) | 4.2 | 37.1      | 0.113 | 2,040 / 9,228     | 66.3                | 13.5 → 18.9         |
| 5 terminals, 1 worker, 20 s                    | 3.7           | 33.8          | 0.108 | 401 / 1,301       | 78.0                | 14.8 → 16.0         |
| 50 terminals, 1 worker, 30 s (23:07, quieter)  | 6.2           | 42.4          | 0.147 | 1,876 / 6,633     | 70.5                | 10.3 → 13.2         |

The goal (≥ 250 visits/s, settle p99 < 50 ms at 50 terminals) is **not met, by far**: about
40-60× too slow here. The bare inserts of the same rows (≈ 20 rows per visit: the visit, 3
fee lines, the settlement, 3 audit records, 3 stored answers, 4 spent nonces, a journal and
2 postings when money moves, the year totals on a person's first settlement) run 6-9× faster than the door on the same machine in the same run.
At 50 terminals the latencies are mostly the queue (50 visits in flight over 4-6 visits/s); at
5 terminals a settle still takes 400 ms at p50 because the server got about a third of a core.

Where a visit's time goes (`--profile 40`, in process, one terminal, load 13):

* **CPU: 79-95 ms per visit through the whole application** (httpx over ASGI, middlewares, API
  key, the door, the thread-pool hop; the load generator's side included). The goal needs
  ≤ 8 ms per visit for the server and PostgreSQL together on two cores: a tenth of this.
* **73 SQL statements per visit, each a round trip**: 2201 15, 2204 13, 2206 14, 2207 31
  (psycopg's send and wait take ≈ 70 % of the door's wall time under cProfile). Repeated work
  seen in the statement trace of one visit:
  - `service.identify` runs on 2201, 2206 and 2207, and each time reads the person twice
    through `people.service` (`find_person_by_ssn` and `get_person`, each `_view`: persons,
    person_documents, person_photos *with the JPEG bytes*, jiangsu_card_records): 8 statements
    per message where one narrow select of the person's name, gender, birth date and ssn would do;
  - the institution row is read three times per message (the door's `institution_secret`,
    `get_institution`, `visits._institution` → `service.institution_of`), and the sealed secret
    unsealed on every message;
  - the sign-out check (`_signed_out`: one select per message), the msgid lookup in
    medical_messages, the audit chain's previous record (select seq/hash before each insert);
  - the settle: the fee lines, the year-totals row (select, then insert under a savepoint on
    the person's first settlement, then select again), the ledger's locks, journal lookup and
    insert, two balance updates, the postings, the settlement, the lines' settlement_id one
    UPDATE per line, the visit's state.
* Owners: the door (medical/interface.py, medapi) and the visit lifecycle and identification
  (medical/visits.py, medical/service.py, medstore; people.service's `_view`). Nothing in the
  bench or the simulation is on this path. The first steps, in order of statements saved: a
  narrow person lookup for identify (≈ 7 per message), the institution and its unsealed secret
  read once per message (or cached per process with the secret's issue time as its version),
  the fee lines' settlement_id in one UPDATE, and the year totals upserted in one statement.

## Measured after branch medperf (2026-12-04, 23:24-23:39 UTC, `--profile 40 --terminals 2 --duration 3 --people 20`)

**The machine was loaded** (a CI run, other helpers, and this branch's own test runs; load
average 4-10), so CPU figures move by ±10 ms/visit between runs of the same code; the
statement counts are exact. In-process CPU of the whole application per visit, and SQL
statements per message of the door (executemany counted as one):

| state                                                        | CPU ms/visit | 2201 | 2204 | 2206 | 2207 | per visit |
|--------------------------------------------------------------|--------------|------|------|------|------|-----------|
| before (main ac4364d)                                        | 56.5         | 15   | 13   | 14   | 26.5 | 68.5      |
| narrow person read for identification                        | 54.5         | 12   | 13   | 11   | 23.5 | 59.5      |
| institution read once, unsealed secret cached by sealed value | 44.3         | 10   | 11   | 9    | 21.5 | 51.5      |
| sign-out check in the institution's select                   | 55.7 (noise) | 9    | 10   | 8    | 20.5 | 47.5      |
| + fee lines in one UPDATE, year totals by ON CONFLICT DO NOTHING | 54.9 (noise) | 9 | 10   | 8    | 20.5 | 47.5      |

21 statements per visit fewer (−31 %). The last two changes do not move this counter: the
per-line UPDATEs were already one executemany (one round trip, N statements on the server;
now one statement), and 2207's count did not change with the year-totals upsert (first
settlement: select, insert, select, where it was select, savepoint, insert, release, select);
why the profile does not show it (few first settlements in it?) was not checked.
The CPU saving visible above the noise is the secret no longer unsealed on every message.

## Measured after branch medperf2 (2026-12-05, 00:44-01:47 UTC)

**The machine was shared with six other helpers and their test runs: `uptime` load average
6-10 for most of the session** (about 1 at its start). Absolute CPU figures moved by ±20 %
between runs of the same code, so every CPU figure below compares two trees run *side by
side at the same moment* (the tree before, exported with `git archive`, and this one, each
seeding its own database; two rounds, crossed). Statement counts are exact
(`before_cursor_execute`, executemany counted once), per visit of 100 visits.

| cut (commit order)                                                       | statements / visit | 2201 | 2204 | 2206 | 2207 | CPU effect (side by side)            |
|--------------------------------------------------------------------------|--------------------|------|------|------|------|--------------------------------------|
| before (main cc6b067)                                                    | 47.6               | 9    | 10   | 8    | 20.6 |                                      |
| msgid look-up folded into the door's institution select                 | 44.6               | 8    | 9    | 8    | 19.6 | noise                                |
| audit `new_entity`: no previous-record select for a new visit/settlement | 42.6               | 7    | 9    | 8    | 18.6 | noise                                |
| lean door: no FastAPI routing/dependencies, credential in the message's transaction | 42.6 | 7 | 9 | 8 | 18.6 | app CPU 41.0 → 38.3 ms/visit (back to back, load 5.7); 8 round trips per visit fewer (the credential read's own BEGIN and ROLLBACK) |
| identification by ID number: person and enrolment in one select        | 39.6               | 6    | 9    | 7    | 17.6 | noise                                |
| 2206: the visit and its unsettled lines in one select                   | 38.6               | 6    | 9    | 6    | 17.6 | noise                                |
| 2207: ledger posting last, no journal look-up (`new_request`)           | 37.9               | 6    | 9    | 6    | 16.9 | noise; hot rows locked for less time |
| hot selects built once with bind parameters                             | 37.9               |      |      |      |      | door CPU −15 % (41.6 → 35.4)         |
| plain INSERT/UPDATE for the nonce, fee lines, settled lines             | 37.9               |      |      |      |      | door CPU −5 % (33.3 → 31.6)          |

Before and after, side by side (load 7-8):

| in process, 100 visits (60 through the app), PostgreSQL         | main cc6b067 | medperf2   | change |
|-----------------------------------------------------------------|--------------|------------|--------|
| the door alone (`interface.call_service`), CPU ms per visit     | 41.6 / 41.6  | 30.5 / 31.7 | −25 % |
| whole application (httpx over ASGI, client included), CPU ms per visit | 58.0 / 56.4 | 36.4 / 36.6 | −36 % |
| SQL statements per visit (the door alone)                       | 47.6         | 37.9       | −20 %  |
| round trips per visit through the application (statements + BEGIN + COMMIT + ROLLBACK) | 68.2 | 50.4 | −26 % |

The full bench, after (`--terminals 50 --duration 20`, 400 people):

| run (PostgreSQL, 400 people, 10 hospitals)                          | door visits/s | bare visits/s | ratio | 2207 p50 / p99 ms | server CPU ms/visit | load before → after |
|----------------------------------------------------------------------|---------------|---------------|-------|-------------------|---------------------|---------------------|
| before (main, the same day on an idle machine, as the lead measured) | 17.9          | 220           | 0.081 | – / 2,600         | 49.7                | idle                |
| 50 terminals, 1 worker, 20 s (01:44)                                 | 15.4          | 119.3         | 0.129 | 549 / 2,759       | 29.4                | 5.2 → 6.8           |
| 50 terminals, 2 workers, 20 s (01:45)                                | 31.0          | 242.1         | 0.128 | 301 / 1,597       | 27.2                | 5.3 → 4.5           |
| 50 terminals, 1 worker, 20 s (01:46, this branch's tests running too) | 17.5         | 105.9         | 0.165 | 544 / 2,541       | 29.5                | 4.1 → 4.8           |

No refused message and no error in any run. The server's CPU per visit fell by about 40 %
(49.7 → 29.4 ms) although these runs had a loaded machine and the morning's an idle one; the
bare inserts of the same rows ran at half their idle speed here, so the door/bare ratio
(0.081 → 0.13-0.17) is the fairer comparison of throughput. With 50 terminals the
latencies are still the queue: 50 visits in flight over 15-31 visits/s.

Still far from the goal: the server spends about a third less CPU per visit than this
morning, where the goal needs about a tenth. Where the rest goes (CPU profile of the door,
`cProfile` with `time.process_time`): SQLAlchemy's execution path per statement (cache-key
generation, parameter processing, result set-up, ORM row loading) and the ORM flush of
the objects still written through it (the visit, the settlement, the audit records, the
journal and postings, the message row), the psycopg round trips themselves, the envelope's
validation and serialisation, and Starlette/uvicorn per request. The next cuts, in order of
expected effect: (1) the settle message's writes as Core statements (settlement, journal,
postings, balance updates as one `UPDATE … FROM (VALUES …)` checked by its row count, the
message row, the audit record) — about 9 ORM flushes per visit; (2) the visit's audit head
carried on the visit row (a column updated under the visit's lock) instead of a select on
2204; (3) 2206's year totals and account balance in one select, 2207's personal account read
once (the balance read under the year lock, then locked again by the posting); (4) psycopg
pipeline mode for the statements that do not depend on each other's results (the nonce
INSERT with the institution select, the audit and message INSERTs before COMMIT); (5) two
workers: here they doubled the rate at the same CPU per visit (31.0 against 15.4 visits/s),
where on 2026-12-04 two workers were slower than one (the first table).

## Measured after branch medperf3 (2026-12-05, 02:11-02:13 UTC, `--profile 40 --terminals 2 --duration 3 --people 20`)

Load average 5-9 (six other helpers). Old tree (`git archive` of main 71213a2) and new, each
seeding its own database, run back to back; statements per visit exact, CPU ±20 %.

| cut                                                          | 2201 | 2204 | 2206 | 2207 | per visit | app CPU ms/visit (old → new) |
|--------------------------------------------------------------|------|------|------|------|-----------|------------------------------|
| before (main 71213a2)                                        | 6    | 9    | 6    | 16.8 | 37.8      | 39.2 (load 4.9 → 6.4)        |
| 2206: year totals and account balance in one select          | 6    | 9    | 5    | 16.8 | 36.8      | 33.4 (load 8.7 → 8.4), noise |

A second round, crossed (new first, 02:24, load 9.4; then old, 02:25, load 8.7): 33.1 against
35.8 ms/visit. Both rounds favour the new tree (−15 % and −8 %), but one select fewer per
visit cannot account for that much: read it as noise, with the statement saved as the gain.

Not done in this branch (time): 2207's writes as Core statements, the visit's audit head
carried on the visit row. 2207's year row and personal account in one locked select was
written and dropped: one statement locking both rows takes them in plan order, which can
deadlock against a cancel (year row, then the account in the ledger's posting); locking only
the year row and reading the balance in the same statement answers a stale balance on
PostgreSQL (the statement's snapshot), where today's separate read after the lock is current.

## Measured after branch med (2026-12-05, 10:25-11:13 UTC)

**The 2-core machine was shared with the other helpers' benches and tests throughout: `uptime`
load average 3.6 at the start, 7-12 for most of the session.** CPU per visit moved by ±20-30 %
between runs of the same code, so the figures to compare are (a) counts that do not move with
the load — SQL statements and Python function calls per message — and (b) runs of the tree
before (main 22fb573, exported with `git archive`, run by this bench) and this one *side by
side*, crossed.

First, what the bench itself measured wrongly or paid for (before, main 22fb573, 2 workers,
httpx terminals, 10:25-10:30, load 3.6 → 7.0):

| run                                   | door visits/s | server | PostgreSQL | load generator | sessions opened | 2207 p50 / p99 ms |
|---------------------------------------|---------------|--------|------------|----------------|-----------------|-------------------|
| 2 workers, httpx terminals (10:25)    | 21.0          | 19.7   | –          | –              | –               | 382 / 2,974       |
| 2 workers, httpx terminals (10:27)    | 26.9          | 17.5   | (not yet counted right) | 14.3 | –            | 364 / 2,057       |
| 2 workers, httpx terminals (10:29)    | 23.3          | 26.5   | 7.7        | 18.3           | 193             | 378 / 2,457       |
| + the door's limiter, raw terminals (10:31) | 39.4    | 24.5   | 6.2        | 1.6            | 6               | 283 / 3,037       |

CPU in ms per visit. Two findings:

* **The load generator cost as much CPU as the server**: 50 httpx terminals in this process
  took 14-18 ms of CPU per visit on the same two cores (the server 17-27). It now writes and
  reads its keep-alive HTTP/1.1 by hand (`RawTerminal`, `--client httpx` keeps the old one):
  1.0-1.8 ms per visit. The server's CPU per visit (psutil) stays the figure to compare; the
  bench now also prints this database's PostgreSQL backends' CPU and the load generator's.
* **The server opened ~9 PostgreSQL sessions a second**: 50 terminals kept up to 25 messages
  per worker in anyio's 40 threads, over a pool of 5 (+ 10 overflow); each overflow
  connection was closed on its return and opened again (193 sessions in a 22 s run). The lean
  door now holds messages in flight per process to the pool's size (`LeanDoor._limiter`): the
  others wait in the event loop for a connection that stays open (5-6 sessions per run, the
  pool's own).

Then the door's CPU, cut by cut (`--profile 100 --profile-only`, in process, 40-60 people;
statements and function calls per message are counts, CPU is not):

| cut (commit order)                                                        | 2201 | 2204 | 2206 | 2207 | statements / visit | Python calls / visit |
|---------------------------------------------------------------------------|------|------|------|------|--------------------|----------------------|
| before (main 22fb573)                                                      | 7    | 10   | 5.1  | 17.8 | 39.9               | 23,802               |
| audit records, message row, settlement row, settle's journal as plain statements (`UnitOfWork.audit(insert_now=True)`, `ledger.post(plain=True)`, INSERT … RETURNING id) | 7 | 10 | 5 | 17.0 | 39.0 | 19,102 |
| those statements on the session's connection (not the ORM session's execution path) | 7 | 10 | 5 | 16.3 | 38.3 | 18,292 |
| audit record and its key in one statement on PostgreSQL (the key a data-modifying CTE) | 6 | 9 | 5 | 15.3 | 35.3 | 17,803 |
| flat dataclasses to dicts without `asdict`'s deep copy                     | 6    | 9    | 5    | 15.3 | 35.3               | 16,156               |
| the visit's touch/state and the settle's year totals as Core UPDATEs checked by version (under the rows' locks) | 6 | 9 | 5 | 15.3 | 35.3 | 15,522 |
| final, side by side with main (11:03-11:05, load 7-9): door CPU 18.5 → 14.4 ms/visit | 6 | 9 | 5.1 | 16.0 | 36.1 | 23,802 → 16,481 (−31 %) |

(2207's statement count varies with the share of a person's first settlement of the year in
the sample: those make the year-totals row.) Function calls per message after: 2201 3,004,
2204 4,297, 2206 2,919, 2207 6,261 (before 4,111 / 5,911 / 3,335 / 10,445).

The whole bench, the tree before and this one side by side (same bench file, same raw
terminals, 50 terminals, 2 workers, 20 s, 400 people; CPU ms per visit):

| run (time, load before → after)        | door visits/s | bare visits/s | server CPU | PostgreSQL CPU | load generator | sessions | 2207 p50 / p99 ms |
|----------------------------------------|---------------|---------------|------------|----------------|----------------|----------|-------------------|
| main 22fb573 (11:08, 10.4 → 10.6)      | 31.7          | 170.6         | 27.3       | 7.8            | 1.8            | 44       | 540 / 3,454       |
| this branch (11:09, 10.6 → 9.0)        | 56.5          | 163.2         | 16.8       | 5.4            | 1.1            | 6        | 166 / 790         |
| this branch (11:10, 8.8 → 11.2)        | 52.9          | 198.0         | 14.8       | 4.7            | 1.0            | 5        | 193 / 996         |
| main 22fb573 (11:11, 11.8 → 12.7)      | 42.2          | 90.8          | 23.8       | 7.0            | 1.4            | 46       | 418 / 2,164       |
| this branch + Core UPDATEs, 7e8e3f1 (11:16, 10.1 → 12.0) | 49.0 | 167.3   | 14.6       | 4.8            | 1.0            | 6        | 265 / 687         |
| main 22fb573 (11:18, 11.4 → 10.9)      | 46.9          | 98.8          | 19.2       | 5.6            | 1.2            | 27       | 377 / 1,674       |

Server CPU per visit −24 to −38 % (27.3 / 23.8 / 19.2 → 16.8 / 14.8 / 14.6), PostgreSQL CPU
per visit −15 to −30 % (fewer statements, no session churn), visits per second +4 to +78 % at
the same moment (the third round, at load 10-12, had the machine so full that both trees got
about the same share of it: there the CPU per visit is the figure). No
refused message and no error in any run. The bare inserts' own rate moved 91-198 visits/s with
the load, so the door/bare ratio (0.19-0.47 before, 0.27-0.35 after) is noisier than the
side-by-side rates.

Tried and not concluded: uvicorn with httptools and uvloop (`pip install --target` into a
scratch folder put on the server's PYTHONPATH; the project's venv has neither, so uvicorn
parses HTTP with the pure-Python h11): one run gave 19.0 against 24.5 ms of server CPU per
visit (10:32, load 6-8, before the plain writes), one 20.1 against 18.6 (11:07, load 10-11).
Not a result either way on this machine today; worth a run on a quiet one, as a dependency
(`uvicorn[standard]`) is the lead's call.

**The goal is still far**: ≥ 250 visits/s on two cores leaves 8 ms of CPU per visit for the
server, PostgreSQL and the load generator together; this branch spends about 15-17 (server)
+ 5 (PostgreSQL) + 1 (load generator): 250 visits/s needs about a third of it. Where the server's rest goes (profiles of the door and
of the whole application): per statement, SQLAlchemy's execution path and psycopg's result
set-up (about 55 % of the door's CPU is inside `execute` for 35 statements per visit; psycopg
builds a column description of every result, ~240 columns per visit from full-entity selects);
outside the door, uvicorn's h11, the middlewares (observability, request counting, FastAPI's
body limit and telemetry), the thread hop and the answer's validation (≈ 1-2 ms per message).
Next cuts, in order of expected effect: narrow selects (columns, not entities) for the
institution, the visit and the year row; 2201's visit INSERT through the ORM (the last ORM
flush of the hot path; 2102 and the tests need the visit as an object); the visit's audit head on
the visit row (one select of 2204; a schema change); httptools on a quiet machine; psycopg
pipeline mode for the writes whose results nothing reads.

## Measured after branch med, second round (2026-12-05, 11:24-11:48 UTC)

Columns, not entities, where the door reads rows it does not keep as objects; 2201's visit a
plain INSERT. Counts in process (`--profile 100 --profile-only --people 40`; function calls
and statements are counts that do not move with the load; "columns" is psycopg's result
columns described per visit, the `_column.py` constructor's count / 100):

| cut (commit order)                                                           | 2201  | 2204  | 2206  | 2207  | calls / visit | columns / visit |
|------------------------------------------------------------------------------|-------|-------|-------|-------|---------------|-----------------|
| before (main 9ad5c46)                                                        | 3,004 | 3,945 | 2,897 | 5,678 | 15,525        | 236             |
| year totals read (2206) and locked (2207) as columns; 2201's visit INSERT … RETURNING, the object joined to the session as stored (`make_transient_to_detached`) | 2,704 | 3,944 | 2,827 | 5,490 | 14,965 | 228 |
| the enrolment (2201/2206/2207) and the unsettled lines (2206/2207) as columns | 2,577 | 3,944 | 2,554 | 5,185 | 14,261        | 201             |
| 2204/2207 lock the visit as columns (`_touch_locked` writes a row or an entity) | 2,577 | 3,766 | 2,554 | 4,990 | 13,887     | 185             |
| the personal account's balance as one column (the ORM's read if changes are pending) | 2,577 | 3,767 | 2,553 | 4,857 | 13,754 | 178      |
| 2206's visit and lines one select of columns; 2204's known serials a Core select | 2,577 | 3,734 | 2,338 | 4,859 | 13,508       | 168             |
| the year totals' and answers' dataclass field names kept per class (not `dataclasses.fields` per use) | 2,561 | 3,701 | 2,301 | 4,789 | 13,352 | 168 |
| 2204's inserted lines answered from plain records (`SimpleNamespace`), not FeeLine objects made for the answer | 2,561 | 3,314 | 2,301 | 4,787 | 12,964 | 168 |
| the stored answer's plain values (str, int, None, dict) kept without a dataclass check (`_to_json`) | 2,496 | 3,176 | 2,301 | 4,692 | 12,666 | 168 |

Statements per visit unchanged (6 / 9 / 5 / 15.3 = 35.3): the cuts are per statement, in
SQLAlchemy's ORM loading and psycopg's result description. Calls per visit −18 %, columns −29 %.
Tried and dropped: the institution (4 selects per visit) as a Core select with the entity made
from the row and added to the session as stored — 13,754 → 14,190 calls: making the object
(`__init__`, `make_transient_to_detached`, `Session.add`) costs more than the ORM's loading of
it, and the handlers need it in the session (`session.get`).

The whole bench, the tree before (main 9ad5c46, `git archive`, its own bench file: the same
code) and this one side by side, crossed (defaults: 50 raw terminals, 2 workers, 20 s, 400
people; CPU ms per visit; load average 1.2-8.3, other helpers' work on the machine):

| run (time, load before → after the door) | door visits/s | bare visits/s | server CPU | PostgreSQL CPU | load generator | 2207 p50 / p99 ms |
|------------------------------------------|---------------|---------------|------------|----------------|----------------|-------------------|
| main 9ad5c46 (11:37, 1.7 → 4.7)          | 73.9          | 312.6         | 13.9       | 4.5            | 0.9            | 169 / 587         |
| this branch 6d5fd88 (11:38, 4.1 → 6.0)   | 91.5          | 286.1         | 11.3       | 3.9            | 0.8            | 132 / 399         |
| this branch 6d5fd88 (11:39, 5.0 → 7.1)   | 78.2          | 372.6         | 11.1       | 3.9            | 0.8            | 179 / 295         |
| main 9ad5c46 (11:40, 6.1 → 6.8)          | 107.7         | 403.9         | 12.1       | 3.6            | 0.8            | 126 / 415         |
| this branch b495f91 (11:46, 1.6 → 5.4)   | 70.2          | 261.7         | 11.6       | 4.0            | 0.8            | 107 / 1,648       |
| main 9ad5c46 (11:47, 6.8 → 8.3)          | 80.5          | 221.9         | 13.2       | 4.3            | 0.9            | 170 / 507         |

Server CPU per visit −4 to −19 % across the pairs (13.9 / 12.1 / 13.2 → 11.3 / 11.1 / 11.6;
the last pair after the last three cuts); PostgreSQL's CPU per visit about the same (the same
statements). The visits per second moved with the other helpers' load more than with the code
(the second and third pairs favour the old tree; the bench's own processes add about 4 to
the load average, the rest is the other helpers'; the third pair's 2207 p99 of 1.6 s for the
new tree is one run's tail, not explained here), so they are not a result of this round. No refused message, no error. Still far from the
goal: about 16 ms of CPU per visit in all (server 11, PostgreSQL 4, load generator 1) where
250 visits/s on two cores leaves 8.

Left, in order: the institution's four selects per visit (an ORM entity the handlers find by
`session.get`: passing the selected row to the handlers instead is a change of every
handler's signature); the audit chain head (2204; `UnitOfWork._chain_head` stays an ORM read:
it must see audit records added to the session and not flushed yet) and the schema change
that would keep it on the visit row; the ledger's locked accounts (2207) as columns (the
ledger's own code); psycopg pipeline mode for the writes whose results nothing reads.

## Measured after branch medfast (2026-12-05, 13:22-14:28 UTC)

**The 2-core machine was shared with the other helpers' benches and tests: `uptime` load
average 2 at the start, 7-17 for most of the session**, and their benches filled
PostgreSQL's 100 sessions at times (four runs of both trees died with "too many clients";
only complete runs are below). Both trees side by side: main adf802b (`git archive`) and
this branch, each seeding its own database, alternately.

**2207's tail was a lock convoy on the ledger's shared rows**, as suspected. A sampler of
pg_stat_activity (every 50 ms during the door, this database's sessions) counted, in main,
2,277 samples of a session waiting for a lock in 1,739 rounds (1.3 sessions waiting on
average, of about 10): all on `SELECT … FROM ledger_accounts … FOR UPDATE` (wait events
`tuple` and `transactionid`). Every settlement locked the city's fund pool (one row for all
of them) and the institution's payable from its posting to its COMMIT: the journal, postings,
balance UPDATE, the message row, the answer built in Python, and the commit's WAL flush; each
of those round trips gave the GIL away and waited to get it back from the other threads, so
the row's holder held it for tens of ms, and the settlements queued behind it. The cut,
in the ledger (`post(late_unchecked=True)`, ledger/service.py): the accounts a posting raises,
or that may go negative (the pool: an expense account a settlement debits; the payable: a
liability allowed to go negative), are not locked nor read before writing: their balances
move by `balance = balance + x` (bounded by ±MAX_BALANCE_FEN in its WHERE, checked by row
count) as the transaction's last statement, on the session's `before_commit`; the personal
account (taken down, may not go negative) is locked, checked and written by one conditional
UPDATE as before the journal. Same journal, postings and balances after the commit; a
rollback forgets the moves; any balance read through the ledger in the same transaction
applies them first; inside a savepoint they are made at once. After it: 77 lock-wait samples
in 1,763 rounds (0.04 sessions waiting), on the late UPDATE (the COMMIT's WAL flush while it
is held). Lock order: the person's year row, visit and personal account in the message, the
pool and payable at commit in code order; a cancel (2208) still locks all three in code
order in its posting; neither holds a pool or payable while waiting for a person's row.

| run (50 raw terminals, 2 workers, 20 s, 400 people; time, load before → after the door) | door visits/s | bare visits/s | server CPU ms/visit | PostgreSQL CPU | 2201 / 2204 / 2206 p50 ms | 2207 p50 / p99 ms |
|--------------------------------------------|------|-------|------|-----|-----------------|-------------------|
| main adf802b (13:22, 2.0 → 8.2)            | 40.5 | 158.7 | 18.9 | 8.1 | 212 / 208 / 194 | 428 / 2,199       |
| medfast 185f79e (13:26, 7.5 → 13.1)        | 50.0 | 74.6  | 17.4 | 8.2 | 189 / 206 / 187 | 275 / 939         |
| medfast 3e8d215 (13:35, 6.9 → 10.8)        | 57.7 | 100.3 | 16.6 | 7.5 | 161 / 184 / 155 | 247 / 698         |
| medfast 5236d6f (13:59, 10.5 → 17.0)       | 45.9 | 64.3  | 17.5 | 8.6 | 203 / 221 / 192 | 266 / 1,006       |
| main adf802b (14:01, 11.7 → 14.7)          | 38.6 | 79.3  | 19.8 | 8.8 | 129 / 143 / 122 | 439 / 3,856       |
| medfast 5236d6f (14:14, 9.5 → 13.2)        | 46.6 | 63.9  | 18.3 | 8.1 | 187 / 197 / 171 | 284 / 2,058       |
| main adf802b (14:16, 9.8 → 13.1)           | 39.9 | 98.1  | 21.4 | 9.0 | 124 / 127 / 105 | 316 / 3,607       |
| main adf802b (14:24, 7.0 → 10.0)           | 43.9 | 74.2  | 21.2 | 8.8 | 123 / 132 / 118 | 306 / 3,144       |
| medfast 5236d6f (14:26, 10.1 → 14.4)       | 39.2 | 68.0  | 20.1 | 8.9 | 270 / 276 / 218 | 355 / 1,314       |

2207's p99 fell from 2.2-3.9 s to 0.7-2.1 s, and its p50 from 2.1-3.4× the other messages'
(the lock queue) to 1.3-1.5× (its own CPU: about twice the others'); visits per second +17
to +42 % in the first three pairs, −11 % in the last (its load was 3-4 higher). With 50
terminals each waiting for its answer, the latency is the queue: 50 visits in flight over
40-58 visits/s is about 1 s a visit, 250 ms a message. **The p99 < 50 ms goal cannot be met
before the throughput goal is**: at 250 visits/s the same 50 terminals wait 200 ms a visit.
The remaining lock waits (the late UPDATE held over the commit's WAL flush) cap settlements
per pool at about 1 / (flush time), a few hundred a second on this disk; far above today's
rate, not above the goal's with a slow disk.

Counts, in process (`--profile 200 --profile-only`, both trees back to back, the same
figures twice; CPU per visit moved 12.5-15.8 ms with the load for the same code):

| cut (commit order)                                                     | 2201 | 2204 | 2206 | 2207 | statements / visit | calls / visit |
|------------------------------------------------------------------------|------|------|------|------|--------------------|---------------|
| before (main adf802b)                                                  | 6.0  | 9.0  | 5.5  | 17.3 | 37.8               | 13,594        |
| the late post (an unlocked read of the accounts, then the lock and update of the personal account) | 6.0 | 9.0 | 5.5 | 18.2 | 38.7 | 13,699 |
| the personal account taken down by one conditional UPDATE (10 visits, `YKT_BENCH_TRACE`) | 6.0 | 9.0 | 5.4 | 16.9 |        |               |
| 2207 reads the personal account's balance with the pool and payable (`ledger.read_accounts`, kept for the transaction: the posting selects none again); a first year-totals row made by INSERT … ON CONFLICT DO NOTHING RETURNING (no select after it) | 6.0 | 9.0 | 5.5 | 16.4 | 36.9 | 13,453 |

(Calls per message of 2201/2204/2206 +12: the two session event listeners per transaction.)
`YKT_BENCH_TRACE=N` now prints the profile's first N statements with their message.

Left, in order of payoff: (1) the CPU per visit (server 17-21 ms, PostgreSQL 8-9 ms, 250
visits/s needs 8 in all): per statement, SQLAlchemy's execution path and psycopg's result
set-up are about 0.3 ms of the door's CPU (36.9 statements, 4 BEGIN/COMMIT a visit); the
earlier rounds' list stands — the institution's four ORM selects, the audit chain head on
2204 (a schema change to keep it on the visit row), psycopg pipeline mode for the writes
nothing reads (the nonce, the message row, the audit record); (2) the hot accounts without a
balance UPDATE per posting (balance = stored + postings since a watermark, or sharded
sub-accounts), so no settlement waits on another's WAL flush — a schema change, and
`balance`/`statement`/`trial_balance` taught the watermark; (3) a run on a quiet machine: no
figure of this session was taken at a load under 5.

## The quiet pair after medfast (2026-12-05, 14:57-14:58 UTC, main 0c99f04 and adf802b)

50 terminals, 2 workers, 20 s, one run each back to back (load 0.6 → 3.9, then 3.2 → 6.4):

| tree | visits/s | bare visits/s | ratio | server / PostgreSQL CPU ms per visit | 2207 p50 / p99 ms |
|---|---|---|---|---|---|
| 0c99f04 (late post) | 62.0 | 222.1 | 0.279 | 19.9 / 8.0 | 253 / 604 |
| adf802b (before) | 59.0 | 258.3 | 0.228 | 20.7 / 8.2 | 327 / 2,288 |

The settle's tail is cut by 3.8× on a quiet machine; the visits per second are bound by CPU
per visit (about 29 ms in all where 250 visits/s leaves 8).

## Measured after branch medcpu (2026-12-05, 16:59-17:37 UTC, main 67faccf beside it)

**The machine was overloaded: `uptime` load average 8-20 during the profiles, 20-28 during the
full runs** (the other helpers' benches and tests, and this branch's own PostgreSQL test run
at nice 15 during all four full runs). CPU per visit is the figure to compare; the rates
moved with the load (the bare inserts ran at 21-42 visits/s, a tenth of their quiet rate).

The cut: the door's statements no longer go through SQLAlchemy's execution path.
`db.statement.RawStatement` compiles a Core statement once per dialect and runs it on the
connection's own DBAPI cursor with SQLAlchemy's own bind and result processors (JSON, UTC
datetimes, SQLite's text dates, PostgreSQL's bind casts, a `literal`'s value; a driver error
raised as SQLAlchemy's `IntegrityError` &c.), as `db.raw.RawSelect` already did for the card
read: the nonce, visit, fee lines, settlement, message, audit record (with its key), journal
and postings INSERTs; the visit's, year totals', fee lines' and balances' UPDATEs; the selects
(institution, person by ID number, visit, lines, year totals and balance, accounts, audit chain
head). The INSERTs whose new id nothing reads are `.inline()` (SQLAlchemy had PostgreSQL return
the id anyway). The institution is a selected row (no ORM entity), noted for the message's
transaction (`service.note_institution`) so `institution_of` does not select it again. Then,
per statement: the unit of work keeps its connection for the transaction (Session.connection()
walked its state machine on every call), one cursor per DBAPI connection (a psycopg cursor
made per statement showed in the profile). And: msgid's, inf_time's and fee_ocur_time's fixed
formats read by position (strptime's own split and ValueError: checked against strptime on
200,000 strings), the sign_no key derived once per sealer (an HKDF-SM3 on every message
before). Every check, signature, nonce, audit record and posting is as before; the same
statements in the same order.

In process (`--profile 200 --profile-only --people 40`, both trees with this bench file, whose
statement counter now counts at psycopg's cursor: the raw statements bypass SQLAlchemy's
`before_cursor_execute`); calls and statements are counts, CPU is not (load in brackets):

| state                                                   | 2201  | 2204  | 2206  | 2207  | calls / visit | statements / visit | door CPU ms/visit | whole app CPU ms/visit |
|---------------------------------------------------------|-------|-------|-------|-------|---------------|--------------------|-------------------|------------------------|
| main 67faccf (17:02, load 11 → 16)                      | 2,259 | 2,886 | 2,094 | 3,971 | 11,210        | 6 / 9 / 5 / 14.3   | 22.0              | 33.3                   |
| raw statements, institution row (16:59, load 8 → 11)    | 1,614 | 2,018 | 1,245 | 2,567 | 7,444         | the same           | 12.0              | 22.3                   |
| + connection kept per transaction, one cursor, times read by position, derived key kept (17:17, load 19 → 20) | 1,483 | 1,796 | 1,130 | 2,313 | 6,723 | the same | 8.1 | 17.2 |

Python calls per visit −40 %. Where the door's CPU goes now (own time under the profiler):
psycopg 35 % (query conversion, parameter dumping, prepared-statement bookkeeping, the wait per
statement), the medical code 19 %, SQLAlchemy 15 % (the session per message: begin,
connection, commit, close), builtins 13 %, db.statement 8 %.

The whole bench, side by side, crossed (50 raw terminals, 2 workers, 15 s, 400 people; CPU ms
per visit; load before → after the door):

| run                    | door visits/s | bare visits/s | server CPU | PostgreSQL CPU | load generator | 2207 p50 / p99 ms | load        |
|------------------------|---------------|---------------|------------|----------------|----------------|-------------------|-------------|
| main 67faccf (17:20)   | 24.7          | 23.1          | 22.2       | 9.0            | 1.9            | 531 / 2,034       | 22.0 → 28.1 |
| medcpu 60a81ac (17:25) | 40.7          | 20.6          | 14.0       | 7.3            | 1.4            | 322 / 1,008       | 23.1 → 28.6 |
| medcpu 60a81ac (17:30) | 51.8          | 41.5          | 13.5       | 7.7            | 1.4            | 253 / 1,008       | 21.9 → 23.7 |
| main 67faccf (17:34)   | 34.5          | 33.9          | 21.2       | 8.8            | 1.6            | 380 / 1,357       | 22.7 → 28.0 |

Server CPU per visit −35 to −39 % (22.2 / 21.2 → 14.0 / 13.5 ms); PostgreSQL's −13 to −18 %
(9.0 / 8.8 → 7.3 / 7.7: the same statements; four INSERTs no longer return an id; not
explained further, and PostgreSQL's share moves with the load); visits per second +50 to +65 %
at the same moments. No refused message, no error. Still far from the goal: about 22 ms of CPU
per visit in all (server 14, PostgreSQL 7.5, load generator 1.4) where 250 visits/s on two
cores leaves 8.

Left, in order of expected payoff:
1. Outside the door the server spends about 5-6 ms per visit (server 13.5-14 against the
   door's ~8 in process): uvicorn's pure-Python h11 (the venv has no httptools/uvloop: a
   dependency, the lead's call), the middlewares, the answer's validation and serialisation
   (`serialize_response`). Not measured apart this round.
2. Statements: 34.3 per visit, about 0.2 ms of PostgreSQL CPU each, and psycopg's share of the
   door's CPU. 2207's settlement INSERT, year totals, fee lines, visit and audit record could be
   one statement on PostgreSQL (data-modifying CTEs; SQLite keeps them apart); the credential
   read and the institution's select one statement (not done: it needs the body parsed before
   the credential is checked, a change of the door's order for an unauthenticated caller);
   psycopg pipeline mode for the message row, the late balance UPDATE and the COMMIT (round
   trips rather than CPU). The audit chain head on the visit row (a schema change; one select
   of 2204) was not measured this round.
3. The session per message (SQLAlchemy's 15 %): the door could run on a bare connection where
   no handler needs the ORM (2201-2207 no longer do, but 9001/9002/2503/2601 and the error
   paths do).

## The quiet pair of 2026-12-05 evening (main 67faccf at 16:33, fd398de with medcpu at 18:17)

50 terminals, 2 workers, 15 s, one run each, no helper running during the door (load 1.7 →
6.3 and 1.6 → 5.2; the first run's baseline ran as the evening's helpers started, load 8.6,
which is why its bare figure is half the second's: compare the door and the CPU per visit).

| tree | visits/s | bare visits/s | server / PostgreSQL CPU ms per visit | 2207 p50 / p99 ms |
|---|---|---|---|---|
| 67faccf | 40.6 | 110.3 | 27.2 / 11.5 | 397 / 757 |
| fd398de | **74.0** | 204.5 | **15.4 / 8.0** | 196 / 731 |

1.8× the visits per second at 43 % less server CPU per visit. The goal stays far: 23.4 ms of
server and PostgreSQL CPU a visit where 250 visits/s on two cores leaves 8, and the bare
inserts of the same rows made 204.5 visits/s in the same run: below the goal's 250 on this
VM, so no door that writes these rows can reach it here.

## Measured after branch medcpu2 (2026-12-05, 19:57-21:05 UTC, main 101cca4 beside it)

**The machine was overloaded: `uptime` load average 7-22 through every full run** (other
helpers' benches, browser tests and test suites; PostgreSQL's 100 sessions full at times: one
run's baseline died with "too many clients", so the door's figures are now printed before the
baseline runs). Both trees side by side, alternately, each with this bench file.

Two cuts, both round trips on PostgreSQL (SQLite keeps its statements apart), the same checks,
rows and answers:
1. The door's nonce is spent by the institution's select (interface.py: a data-modifying CTE,
   `INSERT … ON CONFLICT (scope, key) DO NOTHING RETURNING id`, and `nonce_spent` in the row).
   The signature is checked first as before, then a nonce the statement did not insert is
   NonceReplayed; a refusal rolls the row back with the transaction, as when it was written
   after the check, and a message refused after its signature still spends it apart. A
   concurrent message with the same nonce waits for the first's commit, as the plain INSERT
   did. One round trip a message fewer.
2. 2207's settlement INSERT, the lines' settlement_id and the visit's state (checked by
   version) are one statement (visits.py `_settle_chained`: data-modifying CTEs; the lines by
   `id = ANY(array)`, so one statement for any count). Two round trips a settlement fewer. The
   year totals stay apart: with them the statement binds 55 parameters, and **psycopg caches
   a query's conversion only up to 50 parameters** (`_queries.MAX_CACHED_STATEMENT_PARAMS`);
   above that it parses the SQL with its regex on every call: the first version of this cut
   (67 parameters) cost 2207 +900 Python calls (2,380 → 3,277) for 3 round trips saved. The
   constant values (state, version 1, no cancellation) are written into the SQL, and the
   visit's id and the time bound once: 42 parameters.

Not folded, and why: 2204's known serials into the visit's locking select (the subquery would
read the snapshot taken before the lock's wait, so a concurrent upload's lines could be missed
and a duplicate serial end as an IntegrityError instead of DuplicateFeeLine); the BEGIN (psycopg
sends it as a round trip of its own, and syncs after it even in pipeline mode).

In process (`--profile 200 --profile-only --people 40`; counts do not move with the load):

| tree          | 2201 | 2204 | 2206 | 2207 | statements / visit | calls / visit |
|---------------|------|------|------|------|--------------------|---------------|
| main 101cca4  | 6    | 9    | 5    | 14.3 | 34.3               | 6,726         |
| medcpu2       | 5    | 8    | 4    | 11.3 | 28.3               | 6,422         |

CPU in process, the trees alternated (after, before, before, after; 20:38-20:45, load 8.5-12.6):
the door alone (`interface.call_service`, no profiler) 10.9 / 10.4 ms a visit against main's
11.3 / 10.2; the whole application (httpx over ASGI, client included) 19.3 / 23.6 against
22.4 / 20.4. Below the noise at this load: six round trips fewer save their driver calls
(−4.5 % Python calls a visit, −17 % statements), and the CPU they save on either side is a
few per cent of the 20-25 ms a visit costs in all.

The whole bench (50 raw terminals, 2 workers, 15 s, 400 people; CPU ms per visit; load before
→ after the door):

| run (time)                 | door visits/s | server CPU | PostgreSQL CPU | 2207 p50 / p99 ms | load          |
|----------------------------|---------------|------------|----------------|-------------------|---------------|
| main (20:13)               | 62.3          | 14.1       | 8.2            | 212 / 1,058       | 6.7 → 10.0    |
| medcpu2 (20:17)            | 72.5          | 10.8       | 6.9            | 169 / 486         | 11.5 → 16.5   |
| main (20:19)               | 45.6          | 14.9       | 9.8            | 329 / 1,303       | 12.5 → 18.2   |
| medcpu2 (20:23, sampled)   | 39.0          | 17.3       | 9.9            | 312 / 1,107       | 17.6 → 22.1   |
| main (20:27, sampled)      | 40.0          | 17.0       | 9.1            | 327 / 1,151       | 14.7 → 18.9   |
| main (20:30)               | 47.8          | 16.6       | 9.4            | 292 / 1,547       | 13.5 → 15.9   |
| medcpu2 (20:32)            | 54.5          | 15.1       | 8.9            | 268 / 776         | 11.9 → 13.5   |
| medcpu2 (20:35)            | 57.1          | 14.2       | 8.4            | 239 / 874         | 11.2 → 14.2   |
| main (20:37)               | 49.5          | 13.5       | 7.2            | 271 / 795         | 11.0 → 12.8   |
| medcpu2 (20:48)            | 50.9          | 15.5       | 8.8            | 266 / 909         | 12.8 → 16.5   |
| main (20:51)               | 54.1          | 15.5       | 9.3            | 284 / 1,091       | 13.5 → 20.0   |

Means: main 49.9 visits/s, server 15.3, PostgreSQL 8.8 ms/visit; medcpu2 54.8, 14.6, 8.6.
At these loads the runs of one tree differ by more than the trees do (server CPU 10.8-17.3
for the same code), so the full bench does not resolve a cut of this size here: six round
trips of about 46 a visit (34.3 statements, 4 credential selects, 4 BEGIN, 4 COMMIT). It
wants a quiet pair. No refused message and no error at the door in any run.

**Why 2207's p99 is 3-4× its p50** (the runs above and one with one worker; in two of them a sampler of
pg_stat_activity every 50 ms during the door, and `ss` for the connections; and two new lines
of this bench: each message type's p50/p99 without the phase's first 2 s, and the spread of
the terminals' median latencies):
* It is not 2207's own: 2204 and 2206 have the same shape (p99 3-4.5× p50 in every run).
  Most of it is the queue: 50 terminals each waiting for their answer, 5 messages in flight
  per worker (`LeanDoor._limiter`, the pool's size): a message waits for ~20 others.
* **The two workers do not get the same share of the terminals.** Each terminal keeps its
  connection, so its worker; the 50 connections, opened at once, were accepted 34/16 and
  38/12 by the two workers (`ss` in the two sampled runs). The terminals' median latencies
  ran from 95-180 ms (lowest) to 245-311 ms (highest), 1.4-3× apart (widest, 2.2-2.5×, in
  the two runs with the split seen). uvicorn's workers share one listening socket and
  whichever is in accept() first takes the connection; a production front (a load balancer,
  terminals that connect over time) spreads them otherwise, and SO_REUSEPORT would hash them.
  But it is not what makes the p99: one worker (medcpu2, 20:47, load 9.3 → 13.8: 46.9
  visits/s, server 12.6 ms a visit) had the terminals' medians within 1.3× (193-252 ms) and
  still 2207 p50 / p99 250 / 963 ms (3.9×), 2201-2206 3.6-4.2×. The tail is within each
  terminal's own messages: the whole worker stalling now and then.
* The start: every terminal's first message (50 at once, connections being accepted) made
  2201's p99 2.8-4.9 s in the runs where it showed; without the first 2 s, 2201's p99 is
  0.6-1.0 s, like the others'. 2207 is not affected (its p99 is the same either way).
* 2207's own extra (its p50 is 1.2-1.8× the others'): its CPU (about twice a 2201's), and the
  ledger's hot rows. The sampler counted, per 50 ms round, 0.5 (medcpu2) and 1.2 (main)
  sessions waiting on `transactionid` at `UPDATE ledger_accounts SET balance = balance + …`
  (the late post's pool and payable UPDATE, branch medfast), i.e. behind another settlement's
  COMMIT, and 1.3-1.6 sessions in the COMMIT's WAL flush (`WALWrite`, `WALSync`: the disk, on
  a machine this loaded); 11-12 sessions "idle in transaction" per round: the servers'
  threads waiting for a core (or the GIL) with a transaction open. One sample per run each;
  the medfast sampler's finding stands (the late UPDATE held over the WAL flush caps
  settlements per fund pool at about 1 / flush time).
* The pool: not a cause here (the limiter keeps the messages in flight to the pool's size;
  16-36 PostgreSQL sessions opened per run in both trees: the pools' first connections and
  the bench's own).

So the p99 is the queue's and the stalls' more than 2207's: with 5 messages in flight per
worker, anything that holds them (a COMMIT's WAL flush on a disk other benches were filling,
the late UPDATE of the pool and payable held over it, the server's threads waiting for a core
at load 10-20) holds all 50 terminals. The quiet figures of the lead (2207 p50 140-170, p99
460-590 ms at load 2) have the same ratio. The p99 goal needs the throughput first (at 250
visits/s the same 50 terminals wait 200 ms a visit), then the hot accounts without a balance
UPDATE per settlement (medfast's (2): a schema change), and an even spread of terminals over
workers.

Left, in order of expected payoff (the earlier rounds' list stands):
1. Server CPU outside the door. In process with the ASGI application driven directly (no
   HTTP client library; the terminal's envelopes, signatures and JSON, about 1 ms, included),
   the whole application cost 10.8-14.1 ms CPU a visit against the door's 7-9
   (`interface.call_service`; 19:59-20:04, load 3-4); the lean door's `serve` added 1.6-2.2 ms a visit
   over `call_service` (the credential's select, the unit of work's session and connection,
   the body's JSON), and the event loop's side (ten middlewares, the thread hop, the answer's
   validation and serialisation) the rest. No single function there is above ~5 % of it.
2. Round trips still per visit: 4 BEGIN, 4 COMMIT, 4 credential selects, 28.3 statements.
   The credential and the institution could be one select (the body parsed first, the
   credential still checked first on the row; the refusals' order kept); the audit record
   and the message row one statement (2201, 2204, 2207; an API of `UnitOfWork.audit` for a
   CTE beside it); the year totals into 2207's chain as INSERT … SELECT from the locked visit
   (under 50 parameters).
3. The SQLAlchemy session per message (its begin, connection and commit: ~15 % of the
   door's CPU).

## The quiet runs of the night (main 4822d38 at 19:46, merged 2804b17 with medcpu2 at 21:29 and 21:31)

50 terminals, 2 workers, 20 s; the VM slowed during the evening (the bare inserts 274 → 189-204
visits/s), so compare the ratio:

| tree | visits/s | bare visits/s | ratio | server / PostgreSQL CPU ms per visit | 2207 p50 / p99 ms |
|---|---|---|---|---|---|
| 4822d38 (h11) | 90.3 | 274.4 | 0.329 | 12.2 / 6.3 | 140 / 460 |
| 4822d38 + httptools | 91.7 | 242.4 | 0.378 | 11.9 / 6.8 | 171 / 588 |
| 2804b17 | 64.8 | 188.7 | 0.343 | 16.6 / 10.1 | 204 / 536 |
| 2804b17, again | 82.0 | 203.6 | 0.403 | 13.4 / 7.6 | 182 / 385 |

Within the runs' spread: six round trips fewer a visit is a few per cent, below what one run on
this VM resolves.

## Measured after branch medcpu3 (2026-12-05 night, 22:50-23:34 UTC, main e45b7e5 beside it)

**Load average 4-7 during the in-process runs, 5-14 during the full ones** (other helpers'
benches and tests). New in this bench: `--profile` also drives the application by ASGI calls
in process (`AsgiTerminal`: no client library, only the application's CPU counted, the body as
bytes as uvicorn hands it over): its CPU and SQL statements per visit, and with
YKT_BENCH_SERVER_PROFILE_OUT its profile (the event loop's and the door thread's) and Python
calls per visit. Where the application's CPU went outside the door (main, under cProfile):
the credential's own select (~10 % of the lean door's `serve`), the session's set-up and commit
(~70 µs a message against a bare connection, measured apart: left), the thread hop (anyio,
~0.1 ms a message: left), the middlewares (another helper's), FastAPI's answer validation and
serialisation (14 µs a message: not worth a path of its own).

The cuts, all round trips on PostgreSQL (SQLite keeps its statements apart), the same rows,
checks, refusals and answers:
1. The lean door's first statement reads the credential (auth.service.with_credential), the
   institution with its signed-out and handled checks and spends the nonce (the door's
   select, CTE) at once (`interface.read_ahead`), for a message whose envelope and signature
   headers are well formed; `credential_holder` checks the same row through db.raw.answered,
   in the same order of refusals (the credential, the role, the body, then the envelope's).
   A refusal rolls the transaction back, the nonce's row with it (tested: a refused credential,
   role, channel or institution leaves the nonce usable). −1 round trip a message.
2. For 2201/2206/2207 identifying by ID number (cert type 02, insured here), the person and
   enrolment select (`service.insured_by_ssn_select`) is a third part of that statement, taken
   once by `check_insured` when its parameters are the same (`service.note_insured`). Nothing
   of a visit locks the enrolment, so read a moment earlier in the same transaction it is what
   a message a moment earlier reads. −3 round trips a visit.
3. The audit record of 2201/2204/2207 is made at once and written by the message row's INSERT
   (`UnitOfWork.audit(hold=True)`, `insert_beside_audit`, db.uow.BesideAudit: the record and its
   key as CTEs); a held record is written before any chain head is read, at commit if nothing
   took it, never after its transaction rolled back. −3 a visit.
4. 2207's year totals UPDATE (checked by version) is a fourth CTE of the settlement's
   statement; under psycopg's cached-conversion limit of 50 parameters by taking the
   settlement's six visit columns from the locked visit's row (48 parameters). −1 a visit.
   psycopg also caches a conversion only for **SQL up to 4096 bytes**: the first version of
   cut 2 was 4,496 bytes and cost +490 Python calls a visit (its query parsed on every call);
   short table aliases brought it to 3,872 (tests/medical/test_door_statements.py keeps the
   hot statements within both limits).

In process (`--profile 200 --profile-only --people 40`; counts are load-independent):

| tree (time, load)            | statements / visit through the application | the door alone 2201 / 2204 / 2206 / 2207 | Python calls / visit, application | door alone |
|------------------------------|------|-------------------|-------|-------|
| main e45b7e5 (23:18, 5.9)    | 32.4 | 5 / 8 / 4 / 10.5  | 9,062 | 6,361 |
| medcpu3 cuts 1+3 (23:01)     | 25.4 | 4 / 7 / 4 / 9.8   |       | 6,229 |
| medcpu3 1-4 (23:25, 5.7)     | 21.4 | 4 / 7 / 4 / 8.5   | 8,664 | 6,173 |

−11 statements a visit (−34 %), −4.4 % Python calls through the application. The CPU of the
application alone moved 9.8-15.7 ms a visit between runs of one tree at this load (main 11.2 /
15.7, medcpu3 12.3 / 9.8 / 11.1): not a result.

The whole bench, the two trees alternated (defaults: 50 raw terminals, 2 workers, 20 s, 400
people; CPU ms per visit; load before → after the door):

| run (time, load)                 | door visits/s | bare visits/s | server CPU | PostgreSQL CPU | 2207 p50 / p99 ms |
|----------------------------------|---------------|---------------|------------|----------------|-------------------|
| medcpu3 (23:27, 5.6 → 10.3)      | 78.5          | 107.7         | 11.4       | 6.9            | 201 / 719         |
| main e45b7e5 (23:29, 7.0 → 12.0) | 73.7          | 101.2         | 12.8       | 6.9            | 197 / 534         |
| medcpu3 (23:31, 9.2 → 14.5)      | 89.0          | 138.9         | 9.9        | 5.7            | 171 / 583         |
| main e45b7e5 (23:32, 9.8 → 12.0) | 80.4          | 131.9         | 10.6       | 6.3            | 184 / 718         |

Means: main 77.1 visits/s, server 11.7, PostgreSQL 6.6 ms a visit; medcpu3 83.8, 10.7, 6.3
(+9 %, −9 %, −5 %), each pair the same way; the ratio to the bare inserts 0.73 / 0.64 against
0.73 / 0.61. No refused message, no error. Still far from the goal: about 17 ms of server and
PostgreSQL CPU a visit where 250 visits/s on two cores leaves 8, and the bare inserts of the
same rows made 101-139 visits/s here.

Left, in order of expected payoff: the session per message (~70 µs a message over a bare
connection, and its pool checkout and check-in: the unit of work would need a connection-only
mode, and the ledger's late post rides on the session's before_commit); 2207's journal and
postings as one statement (the ledger's code); 2206's visit-and-lines and year-totals selects
as one (the year row is found by the visit's person: a join, no lock involved); the thread hop.
Not folded, as the brief said and for the same reason (a snapshot taken before a lock's wait):
2204's known serials and its audit chain head into the visit's locking select, 2207's lines
and the personal account's balance into the visit's or the year row's.

## Tried on branch med6 and not landed (2026-12-06, 01:19-02:03 UTC, main 4e27deb beside it)

Five round trips a visit fewer moved neither CPU nor rate (below), for ~450 lines more and a
second code path (PostgreSQL's folded statements beside SQLite's) in visits.py, the ledger and
the unit of work: not merged. The names below (`_JOURNAL_WITH_POSTINGS`, `BesideAudit(also=…)`,
`with_audit_head`) are the branch's, kept here so the next attempt starts from its figures.
Where round trips would pay is a database across a network (each ~0.2-0.5 ms, and shorter
lock holds for 2204 and 2207): measure there before taking it up again.

**Load average 5-12 through every run** (three other helpers; the quiet figure of 01:16 in
the brief, load 1.6: 86.7 visits/s, server 12.6, PostgreSQL 7.0 ms a visit).

Two rows per visit are not duplicates: `idempotency_records` (4 a visit) are the signatures'
nonces, one per message, 2206 and refused messages included (a replayed envelope is refused
as NonceReplayed, -3, even when its msgid was answered); `medical_messages` (3 a visit) keep
the msgid's answer (a retry under a fresh nonce gets the stored answer). Neither check holds
the other's guarantee (tests/medical/test_interface_door.py), and merging them is a schema
change. Both kept.

The cuts (round trips on PostgreSQL; SQLite keeps its statements), the same rows, checks,
refusals and answers:
1. The ledger's plain post writes the journal and its postings by one statement (the journal a
   data-modifying CTE, the postings INSERT … SELECT from two arrays in the legs' order:
   `ledger.service._JOURNAL_WITH_POSTINGS`). −1 a settlement that moves money.
2. 2206's visit-and-lines select also reads the person's year totals and the personal
   account's balance (outer joins by their unique keys). −1 a visit.
3. 2201 (and 2401) write the new visit as a CTE of the message row's statement, beside the
   audit record and its key (`db.uow.BesideAudit(also=…)`); the answer is made from the
   values (no ORM object: the visit is not read back in the message). −1 a visit.
4. 2204 reads its known serials with the visit's audit chain head (`db.uow.with_audit_head`,
   given to `UnitOfWork.audit(head=…)`, which reads again if any audit record or change is
   pending), both after the visit's lock; and writes its lines with the visit's touch (the
   UPDATE a CTE, the lines INSERT … SELECT from arrays). −2 a visit.
5. 2207 locks the year row and reads the visit's unsettled lines by one select (`FOR UPDATE
   OF` the year row, lines outer-joined). The lines may be read in the statement that waits
   for the year lock: the visit's lock is held from before it began, and every writer of a
   visit's lines (2204, 2601, 2207, 2208 through the visit's versioned UPDATE) goes through
   that lock. A person's first settlement of the year (no row yet) makes the row and reads
   the lines as before. −1 a settlement otherwise. The new statements are under psycopg's
   cached-conversion limits (tests/medical/test_door_statements.py).

In process (`--profile 200 --profile-only --people 40`, both trees back to back twice, 01:52-01:57,
load 7-10; counts are load-independent, CPU is not):

| tree | statements / visit through the application | door alone 2201 / 2204 / 2206 / 2207 | Python calls / visit (door) | 2201 / 2204 / 2206 / 2207 calls | app alone CPU ms / visit | door alone CPU ms / visit |
|---|---|---|---|---|---|---|
| main 4e27deb | 21.4 | 4 / 7 / 4 / 8.8 | 6,189 | 1,382 / 1,696 / 1,079 / 2,033 | 12.6 / 10.9 | 7.6 / 7.3 |
| med6 | 15.9 | 3 / 5 / 3 / 7.5 | 5,923 | 1,064 / 1,876 / 1,010 / 1,972 | 13.3 / 9.5 | 7.5 / 6.9 |

−26 % statements a visit, −4.3 % Python calls. 2204's calls went up by 180: psycopg dumps a
Python list by looking at its elements (`_find_list_element`, `upgrade`, a ListDumper per
array) and SQLAlchemy's ARRAY runs its item processor per element: 11 arrays per upload.
2201's fell by 318 (no Visit object made, made detached and added to the session).

The whole bench, alternated (defaults: 50 raw terminals, 2 workers, 20 s, 400 people; CPU ms a visit):

| run (time, load before → after the door) | door visits/s | bare visits/s | server CPU | PostgreSQL CPU | load generator | 2207 p50 / p99 ms |
|---|---|---|---|---|---|---|
| main 4e27deb (01:44, 6.1 → 11.2) | 79.4 | 98.4 | 10.9 | 6.5 | 1.1 | 182 / 632 |
| med6 (01:46, 8.6 → 11.0) | 86.3 | 88.7 | 10.9 | 6.8 | 1.1 | 198 / 1,385 |
| med6 (01:47, 7.2 → 9.2) | 96.8 | 108.1 | 9.3 | 5.5 | 1.0 | 166 / 600 |
| main 4e27deb (01:49, 7.3 → 12.3) | 101.1 | 101.3 | 9.2 | 5.3 | 0.9 | 147 / 552 |
| med6 (01:59, 9.9 → 13.7) | 71.2 | 76.5 | 10.3 | 7.9 | 1.1 | 227 / 883 |
| main 4e27deb (02:02, 9.8 → 11.2) | 66.2 | 63.0 | 11.3 | 8.8 | 1.1 | 252 / 1,353 |

Means: main 82.2 visits/s, server 10.5, PostgreSQL 6.9 ms a visit; med6 84.8, 10.2, 6.7 (+3 %,
−3 %, −3 %). No refused message, no error.
**Not a result in CPU or rate at this load**: five round trips a visit fewer (of about 29 with
BEGIN and COMMIT) do not move the server's or PostgreSQL's CPU per visit beyond the spread of
one tree's runs. A round trip here is cheap on both sides (psycopg's share per statement about
40 µs, PostgreSQL's for a small indexed statement less than its commit's WAL flush); what a visit
costs is the rows it writes (the same 22-23) and the 4 commits, and on the server the HTTP,
the middlewares and Python per message. The 2207 p99 of 1,385 ms is one run's tail (the next
run of the same tree 600).

Left, in order of expected payoff: the session per message (~70 µs a message) and the thread
hop (~0.1 ms) are each 2-3 % of the server's CPU a visit; 2204's arrays as one JSON parameter
(`json_to_recordset`: one str dumped instead of 11 lists, about −150 calls a visit). Not
folded: 2207's account facts (the personal balance) into the year-lock statement: a second
part of that statement reads the snapshot taken before the lock's wait, and the balance must
be read after it. The goal needs a tenth of the CPU a visit, not round trips.

## Branch medfront, tried and not merged: the door in front of the middleware stack (2026-12-06, 04:09-05:11 UTC, main 8f7aab7 beside it)

Not merged: 127 lines more in api/lean.py and a test file for 0.4 % of the server's CPU a
visit (below). The branch's code is not in the tree; its figures are kept here.

**Load average 1.6 at the first run, 5-16 for the rest** (other helpers' benches and tests,
and this branch's own test runs at nice 15). The change: the institutions' lean door
(`interface.LeanDoor`) is answered in front of the middleware stack as the e-card and transit
POST doors are (`api.lean.FrontDoor`, `LeanFront._answer_door`): for a body sent whole with its
Content-Length, within the security layer's limit, as JSON, the door's own `matches` and
`handle` are called there (the raw bytes, the signatures, the nonce, the msgid, the envelope's
refusals: all the door's code, unchanged), the layers' headers are added to its answer and it
is counted under its route; a refusal `handle` raises goes through the stack (`LeanPosts`), as
a POST door's does; anything a layer could answer first goes through the stack untouched.
tests/medical/test_door_in_front.py compares it with the door inside the stack.

What it saves is small, because the door already skipped FastAPI's routing and dependencies
(`LeanDoor`, medperf2): only the eleven layers around it were left.

| measure (how) | main 8f7aab7 | medfront | change |
|---|---|---|---|
| Python calls a visit through the application (`--profile 200 --profile-only --people 40`, YKT_BENCH_SERVER_PROFILE_OUT; a count) | 8,703 | 8,395 | −308 (−3.5 %) |
| the way to the door's `handle` and back, µs CPU a message (the door's `handle` stubbed to a fixed answer, 6 × 3,000 messages in one process, the two ways interleaved) | 20.2-21.1 | 11.8-12.3 | −8.5 µs a message, −34 µs a visit |
| the door alone (`call_service`), Python calls a visit | 6,172 | 6,173 | the same code |

So about 35 µs of CPU a visit of the server's 8-10 ms: 0.4 %, below what the whole bench
resolves. The whole bench, alternated (defaults: 50 raw terminals, 2 workers, 20 s, 400
people; CPU ms a visit):

| run (time, load before → after the door) | door visits/s | bare visits/s | server CPU | PostgreSQL CPU | 2207 p50 / p99 ms |
|---|---|---|---|---|---|
| main 8f7aab7 (04:10, 1.7 → 5.8) | 112.1 | 100.5 | 8.5 | 5.8 | 140 / 625 |
| medfront (04:21, 7.1 → 11.2) | 70.9 | 80.8 | 8.2 | 5.5 | 147 / 1,045 |
| main 8f7aab7 (04:23, 9.8 → 13.2) | 71.6 | 93.6 | 10.2 | 6.2 | 206 / 837 |
| main 8f7aab7 (04:26, 9.0 → 14.1) | 83.8 | 135.2 | 9.9 | 6.2 | 192 / 756 |
| medfront (04:28, 10.3 → 13.5) | 94.2 | 80.5 | 7.8 | 5.3 | 132 / 431 |
| medfront (04:30, 11.5 → 15.8) | 49.8 | 53.0 | 10.0 | 7.4 | 303 / 1,581 |
| main 8f7aab7 (04:33, 10.9 → 16.7) | 72.3 | 78.3 | 10.0 | 6.7 | 229 / 1,206 |
| medfront b9224e7 (05:07, 9.6 → 13.3) | 105.6 | 129.0 | 8.5 | 5.5 | 125 / 422 |
| main 8f7aab7 (05:09, 10.7 → 12.8) | 81.6 | 91.9 | 9.4 | 6.3 | 174 / 591 |

Means: main 9.6 ms of server CPU a visit (five runs; 9.9 for the four at load 9-17),
medfront 8.6 (four runs at load 7-16), each of the four pairs run back to back favouring
medfront by 0.9-2.1 ms but one (10.0 against 10.0); the counts above say the change is worth
0.4 % of it, so read most of that as the load's noise. No refused message, no error.

**Where the rest went: the thread hop, in process.** The application alone in process
(AsgiTerminal, one terminal) with the lean door's `to_thread.run_sync` replaced by a direct
call on the event loop's thread (a measurement only: /tmp script, not in the tree; the bench's
`--profile 200 --profile-only --people 40`, alternated):

| run (load) | application alone, CPU ms a visit | the door alone in the same run (load's yardstick) |
|---|---|---|
| direct call (7.4) | 7.05 | 7.1 |
| thread hop (10.2) | 10.12 | 5.8 |
| direct call (11.2) | 7.79 | 6.9 |
| thread hop (11.9) | 10.22 | 6.1 |
| thread hop (16.5, 04:47) | 10.74 | 6.7 |
| direct call (15.3, 04:49) | 8.99 | 7.8 |

About 2.5-3 ms a visit (0.6-0.8 ms a message) more CPU with the hop, although the door alone
measured cheaper in those runs. Two more in-process runs with asyncio's `run_in_executor` (a
pool of 5, the caller's context copied) in place of anyio's `to_thread.run_sync`: 8.33 and 7.95
ms a visit (load 14.6, 13.4; the door alone 6.9 and 6.4), near the direct call. Microbenchmarks
do not explain the difference: anyio's hop with a limiter costs 40 µs CPU against
`run_in_executor`'s 22 µs, and five `SELECT 1` with BEGIN/COMMIT on one psycopg connection cost
100-106 µs directly against 164-192 µs through anyio's hop.
**It does not carry over to the server**: the executor in `ykt serve` (a copy of this tree, one
pair, 04:54-04:57, load 13.6-14.5) gave 8.4 against 8.7 ms of server CPU a visit (76.5 against
82.7 visits/s), within one run's spread; so it is not in this branch. With one terminal in
process the event loop has nothing else to do while the thread works; in the server it serves
the other connections meanwhile. What costs the in-process case its extra 2-3 ms a visit was not
found (next: `strace -f -c` and `perf sched` of the two modes, then several server pairs on a
quiet machine before changing the hop).

Not done (time): 2204's fee lines as one JSON parameter (about −150 calls a visit, 1.8 %, and
a second statement for SQLite), the session per message (~70 µs a message). Both are below
what the whole bench resolves, as this branch's cut is.

## The door's messages in flight: three a process, not the pool's 20 (2026-12-06, 07:01-07:17 UTC)

A new machine, about half as fast as the last (the bare inserts 146-175 visits/s where they
made 277-308). The door held the messages a process works on at once to the connection pool's
size, 20 since the pool grew for the read doors: with 50 terminals on two workers, up to 40
threads took turns at two GILs and 40 PostgreSQL backends were busy. Held to
`interface.MESSAGES_IN_FLIGHT` (a constant; an environment variable for the runs only),
alternated, `--duration 15`, load 3-7 (the bench's own):

| in flight | visits/s | server CPU ms/visit | PostgreSQL CPU ms/visit | ratio to the bare inserts | 2207 p99 ms |
|---|---|---|---|---|---|
| 20 (before) | 78.0, 70.5, 79.2, 59.3 | 14.6, 16.1, 14.4, 18.6 | 7.6, 8.1, 7.0, 9.7 | 0.444, 0.457, 0.465, 0.460 | 378-520 |
| 8 | 71.9 | 16.3 | 7.8 | 0.536 | 420 |
| 6 | 91.5, 55.6 | 12.8, 21.3 | 5.9, 9.7 | 0.584, 0.400 | 304, 527 |
| 4 | 66.4 | 16.9 | 7.7 | 0.522 | 423 |
| 3 | 96.5, 101.7, 80.0, 100.6, 37.9 | 12.5, 11.9, 13.0, 11.7, 32.7 | 5.6, 5.5, 6.6, 5.3, 13.1 | 0.567, 0.597, 0.497, 0.585, 0.499 | 237-407 |
| 2 | 96.9, 89.8 | 11.5, 13.7 | 5.2, 5.8 | 0.596, 0.570 | 252, 332 |

(The 37.9 at three was a minute the whole VM ran slow: its CPU per visit doubled, and its ratio
to the bare inserts of the same minute stayed where the others are.) Two or three in flight:
+25-30 % visits/s and bare-insert ratio, a fifth less server CPU and a quarter less PostgreSQL
CPU a visit. Three landed (3da6c12). Workers, with three in flight (one run each, no result
beyond the spread): 1 worker 55.6 / 69.8, 2 workers 89.3, 3 workers 69.4 / 110.4 visits/s.

Where PostgreSQL's share leaves the goal (the bench prints it since 9033e9e): the door's
statements cost PostgreSQL 4.6-6.0 ms a visit here, so 250 visits/s on two cores would leave
the server and the load generator 2-3.4 ms a visit, where the server spends 10.6-13.7. The bare
inserts are bound by their Python client (PostgreSQL 2.2-3.3 ms a visit, the client 5.3-7.3):
PostgreSQL alone would write the rows at 500-900 visits/s. And the p99 goal needs more than the
rate goal: 50 terminals each waiting for its answer keep 50 messages in flight, so by Little's
law the mean message waits 50 / (4 × visits/s): 50 ms at exactly 250 visits/s. A settle p99
under 50 ms needs the mean well under it, about 400-500 visits/s.

## Branch medstmt, tried and not merged: the reads beside a visit's lock in the locking statement (2026-12-06, 07:43-08:06 UTC, main 9033e9e beside it)

**Load average 2.9-7.2 through the runs** (other helpers). The earlier rounds left 2204's known
serials and audit chain head, and 2207's unsettled lines, out of the visit's locking select
because a statement that waits for the lock reads every other row as of its start (checked
here on PostgreSQL 15 with two psql sessions: the waiter got the visit's newest row, version 2,
with the lines and the audit head of before the wait). The cut reads them there anyway, with
the visit's version as of the statement's start (`seen_version`, a scalar subquery of the
visit by id: it reads the statement's snapshot, not the locked row); when it differs from the
locked row's version the statement waited for a writer, and the serials, the head or the lines
are read again by their own selects after the lock, as before. It holds because every
transaction that writes a visit's lines or its audit records updates the visit's row by its
version (2204/2301, 2207/2304 and the visitor's settle, 2208 and 2601's undo through `_touch`,
2402; 2201/2401/2102 make a new visit no one sees before its commit). The audit head is taken
by `UnitOfWork.audit(head=…)` only for the transaction's first record (nothing held, added or
pending; else read as before); a chain with no record in audit_records (archived) is read as
before. Only the visit is locked (`FOR UPDATE OF` it; the lines and head outer-joined): the
same locks in the same order. SQLite runs the same statements (its writers never wait inside
a statement). The branch's tests (tests/medical/test_visits_concurrency.py) held a visit's lock with an
upload and had a second upload or a settle wait for it: the second upload's duplicate serial is
DuplicateFeeLine and its audit record chains after the first's, the settle takes the new line;
without the version check all three fail (ConcurrentChange, ConcurrentChange, a line left out).

In process (`--profile 200 --profile-only --people 60`, back to back, 07:48-07:50, load 3.5-5.7;
counts do not move with the load):

| tree | statements / visit, application alone | door alone 2201 / 2204 / 2206 / 2207 | Python calls / visit (door) | 2201 / 2204 / 2206 / 2207 calls |
|---|---|---|---|---|
| main 9033e9e | 21.8 | 4 / 7 / 4 / 9.3 | 6,234 | 1,379 / 1,708 / 1,073 / 2,074 |
| medstmt | 18.8 | 4 / 5 / 4 / 8.3 | 6,035 | 1,380 / 1,562 / 1,073 / 2,019 |

−3 statements a visit (−14 %), −199 Python calls (−3.2 %).

The whole bench (`--duration 15`, defaults otherwise: 50 raw terminals, 2 workers, 400 people),
the trees alternated, each with its own database; CPU ms a visit:

| run (time, load before → after the door) | door visits/s | bare visits/s | ratio | server CPU | PostgreSQL CPU | 2207 p50 / p99 ms |
|---|---|---|---|---|---|---|
| medstmt (07:53, 4.8 → 5.5) | 71.6 | 121.7 | 0.588 | 12.7 | 6.1 | 89 / 665 |
| main (07:54, 5.6 → 6.4) | 75.3 | 109.6 | 0.687 | 12.0 | 6.1 | 179 / 408 |
| main (07:55, 6.8 → 7.0) | 74.3 | 130.1 | 0.571 | 11.1 | 5.7 | 180 / 433 |
| medstmt (07:56, 6.9 → 7.2) | 84.1 | 147.5 | 0.570 | 11.4 | 5.2 | 148 / 405 |
| medstmt (07:57, 5.5 → 4.9) | 100.7 | 162.7 | 0.619 | 11.5 | 5.2 | 110 / 320 |
| main (07:58, 3.9 → 5.1) | 46.9 | 111.7 | 0.420 | 17.5 | 7.4 | 277 / 789 |
| main (08:02, 2.9 → 4.7) | 71.6 | 148.1 | 0.483 | 11.8 | 5.6 | 181 / 406 |
| medstmt (08:03, 4.0 → 4.6) | 58.1 | 114.0 | 0.510 | 17.4 | 7.8 | 231 / 520 |
| medstmt (08:04, 3.9 → 4.3) | 69.0 | 124.2 | 0.555 | 11.9 | 5.8 | 190 / 549 |
| main (08:05, 3.8 → 5.2) | 75.3 | 124.8 | 0.603 | 11.6 | 5.6 | 169 / 321 |

Medians of five: main 74.3 visits/s, server 11.8, PostgreSQL 5.7 ms a visit, ratio 0.571;
medstmt 71.6, 11.9, 5.8, 0.570. No refused message, no error. **Not a result in CPU or rate**,
as med6 found for five round trips: three statements of ~19 a visit move neither side's CPU
beyond one tree's spread (each tree had one run at 17.4-17.5 ms). What it does save is counted
above, and on a database across a network each is a round trip (and 2204's and 2207's visit
lock is held for two and one fewer). **Not merged**: about 80 lines in visits.py and uow.py, and
a correctness argument (every writer of a visit's lines or audit records moves the visit's
version) that every later writer would have to keep, for no gain this machine can show.

## Tried on main and not kept: multi-row INSERTs for the fee lines and the postings (2026-12-06, 08:09-08:16 UTC)

py-spy (`--gil`, both workers, 12 s of the door phase) put 7.8 % of the workers' GIL-holding
samples in psycopg's pipeline (`BasePipeline._communicate_gen` under `executemany`): a visit
makes two driver executemanys of a few rows (2204's fee lines, 2207's postings), and psycopg
sends each row as its own statement in pipeline mode. Alone (psycopg, three rows into a
four-column table, 3,000 times): executemany 154-165 µs of client and 103-107 µs of PostgreSQL
CPU, one INSERT of three VALUES rows 49-54 and 47-50 µs. A `RawRowsInsert` (a RawStatement per
row count, typed parameters for every row, at most 50 parameters a statement: beyond that
psycopg parses the placeholders on every execution) took 2204's calls from 1,703 to 1,598. The
whole bench, alternated, four runs each (load 1.2-3.5): before 100.1 / 113.4 / 93.3 / 97.9
visits/s, server 12.2 / 10.6 / 13.1 / 12.3, PostgreSQL 5.4 / 4.9 / 5.8 / 5.8 ms a visit; after
94.0 / 109.2 / 100.1 / 93.0, 13.0 / 11.0 / 12.1 / 13.0, 5.6 / 5.1 / 5.5 / 6.0. The ~0.3 ms a
visit the micro-measurement promises is under the runs' spread, so it was not kept.

Also measured: a thread hop on this VM (20,000 calls of a 5 µs function, three at a time):
anyio's `to_thread.run_sync` 94-102 µs of CPU, asyncio's `run_in_executor` 56 µs, a direct call
5 µs; four hops a visit, 0.2-0.4 ms. `run_in_executor` in the door, alternated three runs each
at load 4.5-6 (a helper's runs beside): 107.8 / 66.3 / 67.3 against 60.8 / 67.3 / 88.0 visits/s,
no result. py-spy's share of anyio's `Queue.put` (12 % of the GIL samples) is the lock release
that wakes the worker thread (`Condition.notify`, threading.py:382).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import itertools
import os
import pstats
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from serving import REPO, free_port, load, server_cpu, serving, ykt_serve  # bench/serving.py

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/ykt_bench_medical"
VISIT = ("2201", "2204", "2206", "2207")


# --- databases ---------------------------------------------------------------------------------


def _admin(url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from yikatong.db.engine import normalise_url

    target = make_url(normalise_url(url))
    return target, create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def database(url: str) -> Iterator[str]:
    """The named PostgreSQL database created afresh, and its bare twin's name; both dropped after."""
    from sqlalchemy import text

    target, admin = _admin(url)
    names = (target.database, f"{target.database}_bare")
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{names[0]}"'))
    try:
        yield target.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def copy_database(url: str) -> str:
    """CREATE DATABASE <name>_bare TEMPLATE <name> (nobody may be connected to the template)."""
    from sqlalchemy import text

    target, admin = _admin(url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{target.database}_bare" TEMPLATE "{target.database}"'))
    admin.dispose()
    return target.set(database=f"{target.database}_bare").render_as_string(hide_password=False)


def server_env(url: str, workdir: Path) -> dict[str, str]:
    return {**os.environ, "YKT_DATABASE_URL": url, "YKT_KEY_STORE": "memory", "YKT_THROTTLE": "off",
            "YKT_CHIP_DIR": str(workdir / "chips"), "YKT_AUDIT_CHECKPOINT_DIR": str(workdir / "checkpoints"),
            # this checkout first; then what the caller's PYTHONPATH adds (e.g. a folder of extra
            # packages to try in the server: httptools, uvloop)
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO),
                                           *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])}


def seed(env: dict[str, str], people: int):
    """Migrate, load reference data; people enrolled and credited, institutions provisioned.
    Returns (people, institutions, catalogue items by kind)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("YKT_")})
    from yikatong.core.progress import SILENT
    from yikatong.medical import service, simulation
    from yikatong.platform import Platform
    from yikatong.platform_setup import prepare

    platform = Platform()
    prepare(platform)
    day = service.today(platform.uow())
    rng = random.Random(20261204)
    persons = simulation.make_people(platform, people, day, rng, SILENT)
    with platform.uow() as uow:
        for person in persons:
            person.psn_no = service.psn_no_of(uow=uow, person_id=person.person_id) or ""
    institutions = [i for i in simulation.provision_institutions(platform) if i.kind == "hospital"]
    items = simulation.catalogue_lines(day)
    platform.engine.dispose()
    return persons, institutions, items


def snapshot(url: str) -> dict[str, set]:
    """Every table's primary keys now."""
    from sqlalchemy import create_engine, select

    from yikatong.db.registry import load_all_models

    engine = create_engine(url)
    keys = {}
    with engine.connect() as connection:
        for table in load_all_models().sorted_tables:
            columns = list(table.primary_key.columns)
            keys[table.name] = {tuple(row) for row in connection.execute(select(*columns))}
    engine.dispose()
    return keys


# --- the server ----------------------------------------------------------------------------------


# --- the terminals -------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.visits = 0
        self.refused: dict[str, int] = defaultdict(int)
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.profile: cProfile.Profile | None = None
        self.client_cpu = 0.0  # this process (the terminals) during the measured phase
        self.database_cpu = 0.0  # the bench database's PostgreSQL backends, same phase
        self.database_sessions = 0  # connections PostgreSQL accepted for it, same phase
        self.t0 = 0.0  # time.monotonic() when the measured phase began
        self.sent_at: dict[str, list[float]] = defaultdict(list)  # per message type, beside latency
        self.by_client: dict[int, list[float]] = defaultdict(list)  # every latency, per terminal


def hospital_systems(institutions, clock, transport_for) -> list:
    from yikatong.medical.simulation import HospitalSystem

    return [HospitalSystem(code=i.code, name=i.name, secret=i.secret, credential={"X-API-Key": i.api_key},
                           clock=clock, transport=transport_for(), sequence=itertools.count(1))
            for i in institutions]


async def send(client, his, infno: str, payload: dict, stats: Stats) -> dict | None:
    from yikatong.medical.simulation import INTERFACE_URL

    body = his.envelope(infno, payload)
    started = time.perf_counter()
    try:
        response = await client.post(INTERFACE_URL, json=body, headers=his.headers())
    except Exception as error:  # noqa: BLE001 (a connection the server dropped: counted, not fatal)
        stats.refused[f"{infno}:{type(error).__name__}"] += 1
        return None
    took = (time.perf_counter() - started) * 1000
    stats.latency[infno].append(took)
    stats.sent_at[infno].append(time.monotonic() - took / 1000 - stats.t0)
    stats.by_client[id(client)].append(took)
    answer = response.json() if response.status_code == 200 else {"infcode": response.status_code}
    if answer.get("infcode") != 0:
        stats.refused[f"{infno}:{answer.get('err_code') or answer.get('infcode')}"] += 1
        return None
    return answer


async def visit(client, his, person, items, rng: random.Random, stats: Stats) -> bool:
    from yikatong.medical import simulation as sim

    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 8 * 3600))
    serial = f"MZ{rng.getrandbits(40):010X}"
    answer = await send(client, his, "2201", sim.registration(
        psn_no=person.psn_no, insutype=person.scheme, cert_no=person.ssn, begntime=when, serial=serial), stats)
    if answer is None:
        return False
    mdtrt_id = answer["output"]["data"]["mdtrt_id"]
    lines = sim.draw_lines(items, rng, count=rng.randint(1, 5))
    if await send(client, his, "2204", sim.fee_details(mdtrt_id=mdtrt_id, psn_no=person.psn_no, med_type="11",
                                                       lines=lines, when=when), stats) is None:
        return False
    request = sim.settlement_request(psn_no=person.psn_no, insutype=person.scheme, cert_no=person.ssn,
                                     mdtrt_id=mdtrt_id, med_type="11", total=sum(line.amount for line in lines),
                                     use_account=True, serial=serial)
    if await send(client, his, "2206", request, stats) is None:
        return False
    return await send(client, his, "2207", request, stats) is not None


async def terminal(client, his, people, items, until: float, stats: Stats, seed: int) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        if await visit(client, his, rng.choice(people), items, rng, stats):
            stats.visits += 1


async def sign_in(client, systems) -> None:
    from yikatong.medical.simulation import INTERFACE_URL

    for his in systems:
        response = await client.post(INTERFACE_URL, json=his.sign_in_message(), headers=his.headers())
        answer = response.json()
        if answer.get("infcode") != 0:
            raise SystemExit(f"{his.code} could not sign in: {answer}")
        his.signed_in(answer)


class DatabaseCpu:
    """CPU seconds spent by the PostgreSQL backends serving `database` (their process title
    names it) from now to `spent()`, per backend, so other databases' work (other benches on
    the shared machine) is not counted; sampled every 0.5 s, so a backend that exits meanwhile
    (a pool's overflow connection closed on its return) loses only its last moments. And the
    sessions PostgreSQL opened for the database meanwhile (pg_stat_database.sessions)."""

    def __init__(self, database: str, url: str) -> None:
        import threading

        self.database, self.url = database, url
        self.sessions_before = self._sessions()
        self.start = self._times()
        self.seen = dict(self.start)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sessions(self) -> int:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.connect() as connection:
            found = connection.execute(text("SELECT sessions FROM pg_stat_database WHERE datname = :name"),
                                       {"name": self.database}).scalar() or 0
        engine.dispose()
        return found

    def _times(self) -> dict[int, float]:
        import psutil

        found = {}
        for process in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                title = " ".join(process.info["cmdline"] or [])
                if title.startswith("postgres:") and f" {self.database} " in f"{title} ":
                    times = process.cpu_times()
                    found[process.pid] = times.user + times.system
        return found

    def _sample(self) -> None:
        while not self.done.wait(0.5):
            self.seen.update(self._times())

    def spent(self) -> tuple[float, int]:
        """(CPU seconds, sessions opened) since this was made."""
        self.done.set()
        self.thread.join()
        self.seen.update(self._times())
        cpu = sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.seen.items())
        return cpu, self._sessions() - self.sessions_before


class RawTerminal:
    """One terminal's keep-alive HTTP/1.1 connection, written and read by hand (asyncio
    streams, `json`): the load generator's CPU per request is a fraction of httpx's, which on
    this 2-core machine cost about as much CPU per visit as the server itself (bench docstring,
    2026-12-05). Answers what `send` reads of an httpx response: status_code and json()."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, url: str, json: dict, headers: dict):  # noqa: A002 (httpx's name)
        import json as _json

        body = _json.dumps(json, ensure_ascii=False).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {url} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
                   f"content-length: {len(body)}\r\n{head}\r\n").encode() + body
        for attempt in (1, 2):  # a connection the server closed while idle: opened again once
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(request)
                return await self._answer()
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _answer(self) -> _RawAnswer:
        status_line = await self.reader.readuntil(b"\r\n")
        length, closing = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                closing = True
        answer = _RawAnswer(int(status_line.split()[1]), await self.reader.readexactly(length))
        if closing:
            await self.close()
        return answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class AsgiTerminal:
    """A terminal calling the ASGI application in process, as uvicorn calls it (one http scope
    per message, the body as bytes, the answer's start and body collected): `cpu` sums the
    process CPU of the application's calls alone (one terminal: nothing else runs meanwhile,
    the thread-pool hop's thread included), not the terminal's envelope, signature and JSON.
    `profiler`, when set, is enabled around those calls only."""

    def __init__(self, app) -> None:
        self.app = app
        self.cpu = 0.0
        self.calls = 0
        self.profiler: cProfile.Profile | None = None

    async def post(self, url: str, json: dict, headers: dict):  # noqa: A002 (httpx's name)
        import json as _json

        body = _json.dumps(json, ensure_ascii=False).encode()
        raw_headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode())]
        raw_headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": url, "raw_path": url.encode(), "query_string": b"",
                 "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 50000),
                 "server": ("bench", 80), "state": {}}
        sent = [False]
        status, chunks = [0], []

        async def receive():
            if sent[0]:
                await asyncio.sleep(3600)  # no disconnect while the answer is made
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        started = time.process_time()
        if self.profiler is not None:
            self.profiler.enable()
        await self.app(scope, receive, send)
        if self.profiler is not None:
            self.profiler.disable()
        self.cpu += time.process_time() - started
        self.calls += 1
        return _RawAnswer(status[0], b"".join(chunks))


class _RawAnswer:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code, self.body = status_code, body

    def json(self) -> dict:
        import json

        return json.loads(self.body)


async def measure(base: str, pid: int, systems, people, items, terminals: int, duration: float,
                  database: tuple[str, str], client_kind: str = "raw") -> tuple[Stats, float, float]:
    import httpx

    # uvicorn closes a connection idle for 5 s; the client drops its idle ones first (else a
    # request can race the server's close and end in a ReadError)
    limits = httpx.Limits(max_connections=terminals + 5, max_keepalive_connections=terminals + 5,
                          keepalive_expiry=3.0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as shared:
        def client_of(n: int):  # one connection per terminal (raw), or httpx's shared pool
            return RawTerminal(base) if client_kind == "raw" else shared

        await sign_in(shared, systems)
        warm = Stats()  # the server's first requests (imports, caches, pool) are not measured
        until = time.monotonic() + 3
        await asyncio.gather(*(terminal(client_of(n), systems[n % len(systems)], people, items, until, warm, n)
                               for n in range(min(5, terminals))))
        clients = [client_of(n) for n in range(terminals)]
        stats = Stats()
        cpu, database_cpu, own_cpu = server_cpu(pid), DatabaseCpu(*database), time.process_time()
        started = stats.t0 = time.monotonic()
        until = started + duration
        await asyncio.gather(*(terminal(clients[n], systems[n % len(systems)], people, items, until, stats, 1000 + n)
                               for n in range(terminals)))
        elapsed = time.monotonic() - started
        stats.client_cpu = time.process_time() - own_cpu
        stats.database_cpu, stats.database_sessions = database_cpu.spent()
        for client in clients:
            if isinstance(client, RawTerminal):
                await client.close()
        return stats, elapsed, server_cpu(pid) - cpu


# --- the baseline: bare inserts of the same rows --------------------------------------------------


def new_rows(url: str, before: dict[str, set]):
    """[(table, [row dicts])] the measured phase inserted, in dependency order."""
    from sqlalchemy import create_engine, select

    from yikatong.db.registry import load_all_models

    engine = create_engine(url)
    found = []
    with engine.connect() as connection:
        for table in load_all_models().sorted_tables:
            keys = [c.name for c in table.primary_key.columns]
            rows = [dict(row._mapping) for row in connection.execute(select(table))]
            fresh = [row for row in rows if tuple(row[k] for k in keys) not in before[table.name]]
            if fresh:
                found.append((table, fresh))
    engine.dispose()
    return found


# Rows opened once and shared by later visits (an institution's payable account, opened at its
# first settlement): inserted into the bare database before its clock starts.
PRELUDE = frozenset({"ledger_accounts"})


def per_visit(found, visits: int) -> tuple[list[tuple], list[list[tuple]]]:
    """(prelude rows, rows grouped per visit): a row goes with the visit of the new row it
    references (its first foreign key into rows of this phase), the others are dealt out
    evenly by key."""
    chunks: list[list[tuple]] = [[] for _ in range(visits)]
    prelude: list[tuple] = []
    owner: dict[tuple[str, object], int] = {}
    referenced = {(fk.column.table.name, fk.column.name) for table, _ in found for fk in table.foreign_keys}
    for table, rows in found:
        if table.name in PRELUDE:
            prelude.extend((table, row) for row in rows)
            continue
        keys = [c.name for c in table.primary_key.columns]
        links = [(fk.parent.name, fk.column.table.name, fk.column.name) for fk in table.foreign_keys]
        rows = sorted(rows, key=lambda row: tuple(str(row[k]) for k in keys))
        for rank, row in enumerate(rows):
            chunk = None
            for column, parent, parent_column in links:
                chunk = owner.get((f"{parent}.{parent_column}", row[column]))
                if chunk is not None:
                    break
            if chunk is None:
                chunk = rank * visits // len(rows)
            for column in table.columns:
                if (table.name, column.name) in referenced:
                    owner[(f"{table.name}.{column.name}", row[column.name])] = chunk
            chunks[chunk].append((table, row))
    return prelude, chunks


async def bare_inserts(url: str, prelude: list[tuple], chunks: list[list[tuple]], connections: int) -> float:
    from sqlalchemy import insert
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(make_url(url).set(drivername="postgresql+psycopg_async"),
                                 pool_size=connections, max_overflow=0)
    queue: asyncio.Queue = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        async with engine.connect() as connection:
            while not queue.empty():
                chunk = queue.get_nowait()
                size = max(1, -(-len(chunk) // len(VISIT)))
                for part in range(0, len(chunk), size):  # one transaction per message of the visit
                    async with connection.begin():
                        for table, group in itertools.groupby(chunk[part:part + size], key=lambda item: item[0]):
                            await connection.execute(insert(table), [row for _, row in group])

    async with engine.begin() as first:
        for table, group in itertools.groupby(prelude, key=lambda item: item[0]):
            await first.execute(insert(table), [row for _, row in group])
    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    await engine.dispose()
    return elapsed


# --- in-process profile ------------------------------------------------------------------------------


def profile(env: dict[str, str], systems_of, people, items, visits: int) -> str:
    """Where a visit's time goes, in process, one terminal, no other load from this bench:
    (a) CPU per visit through the whole application (httpx over ASGI: middlewares, routing,
    the API key, the door, the thread-pool hop), as process CPU time; (b) the door alone
    (interface.call_service called directly) under cProfile."""
    import json
    from decimal import Decimal

    import httpx

    from yikatong.api.app import create_app
    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.core.clock import SystemClock
    from yikatong.medical import interface
    from yikatong.platform import Platform

    os.environ.update({k: v for k, v in env.items() if k.startswith("YKT_")})
    platform = Platform()
    app = create_app(platform)
    systems = systems_of(SystemClock())

    async def through_app() -> tuple[float, float, Stats]:
        stats = Stats()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            await sign_in(client, systems)
            rng = random.Random(7)
            for n in range(10):
                await visit(client, systems[n % len(systems)], rng.choice(people), items, rng, stats)
            stats = Stats()
            whole = cProfile.Profile(time.process_time) if os.environ.get("YKT_BENCH_APP_PROFILE_OUT") else None
            cpu, wall = time.process_time(), time.perf_counter()
            if whole is not None:
                whole.enable()
            for n in range(visits):
                stats.visits += await visit(client, systems[n % len(systems)], rng.choice(people), items, rng, stats)
            if whole is not None:  # the whole application's profile, for pstats
                whole.disable()
                whole.dump_stats(os.environ["YKT_BENCH_APP_PROFILE_OUT"])
            return time.process_time() - cpu, time.perf_counter() - wall, stats

    cpu, wall, stats = asyncio.run(through_app())
    lines = [f"in process, whole application: {stats.visits} visits, {cpu * 1000 / max(1, stats.visits):.1f} ms "
             f"CPU and {wall * 1000 / max(1, stats.visits):.1f} ms wall per visit; refused {dict(stats.refused) or 0}"]

    async def server_side(profiled: bool) -> tuple[Stats, float, int]:
        """The application called as the server calls it (an ASGI call per message, the body
        as bytes): only the application's CPU is counted (`AsgiTerminal`), not the terminal's
        envelope, signature and JSON."""
        stats = Stats()
        terminal = AsgiTerminal(app)
        rng = random.Random(10)
        for n in range(10):
            await visit(terminal, systems[n % len(systems)], rng.choice(people), items, rng, stats)
        stats, terminal.cpu = Stats(), 0.0
        statements.pop("through the application", None)  # the warm-up's not counted
        whole = cProfile.Profile(time.process_time) if profiled else None
        terminal.profiler = whole
        serve = interface.serve
        in_thread = cProfile.Profile(time.process_time)  # cProfile sees one thread: the hop's own

        def profiled_serve(*args, **kwargs):
            in_thread.enable()
            try:
                return serve(*args, **kwargs)
            finally:
                in_thread.disable()

        if whole is not None:
            interface.serve = profiled_serve
        try:
            for n in range(visits):
                stats.visits += await visit(terminal, systems[n % len(systems)], rng.choice(people), items, rng, stats)
        finally:
            interface.serve = serve
        if whole is not None:  # the server side's profile (the loop's and the thread's), for pstats
            both = pstats.Stats(whole, in_thread)
            both.dump_stats(os.environ["YKT_BENCH_SERVER_PROFILE_OUT"])
            lines.append(f"Python function calls per visit through the application (ASGI calls, under the "
                         f"profiler; load-independent): {both.total_calls / max(1, visits):,.0f}")
        return stats, terminal.cpu, terminal.calls

    _json = json
    # one profiler per message type, CPU time (not wall: the waits on PostgreSQL are not ours)
    profilers: dict[str, cProfile.Profile] = defaultdict(lambda: cProfile.Profile(time.process_time))
    profiling = [False]
    current = [""]
    statements: dict[str, int] = defaultdict(int)
    cpu_by_infno: dict[str, float] = defaultdict(float)

    trace: list[str] = []  # YKT_BENCH_TRACE=N: the statements of the first N messages, printed

    def count(statement, executemany: bool) -> None:
        statements[current[0]] += 1
        if len(trace) < 400:
            statement = statement if isinstance(statement, str) else str(statement)
            trace.append(f"{current[0]} {'many ' if executemany else ''}{' '.join(statement.split())[:110]}")

    # Counted at the driver's cursor (every statement sent: through SQLAlchemy or on the
    # connection's own cursor, db.statement / db.raw); an executemany counts once
    counted_cursors = _count_statements(platform.engine, count)

    current[0] = "through the application"  # the statements of the ASGI calls, counted apart
    served, server_cpu_s, _calls = asyncio.run(server_side(profiled=False))
    app_statements = statements.pop(current[0], 0)
    trace.clear()
    lines.append(f"in process, the application alone (ASGI calls, no client library): {served.visits} visits, "
                 f"{server_cpu_s * 1000 / max(1, served.visits):.2f} ms CPU and "
                 f"{app_statements / max(1, visits):.1f} SQL statements per visit; "
                 f"refused {dict(served.refused) or 0}")
    if os.environ.get("YKT_BENCH_SERVER_PROFILE_OUT"):  # a second run, under the profiler
        asyncio.run(server_side(profiled=True))

    class Direct:  # the HIS posting straight into the door's function
        def __init__(self, his) -> None:
            self.his = his
            self.actor = Actor(user_id=f"his-{his.code}", role=Role.MEDICAL_INSTITUTION, channel=Channel.HOSPITAL,
                               branch_code=his.code)

        async def post(self, url: str, json: dict, headers: dict):  # noqa: A002 (httpx's name)
            body = _json.loads(_json.dumps(json), parse_float=Decimal)
            current[0] = body["infno"]
            started = time.process_time()
            profiler = profilers[current[0]] if profiling[0] else None
            if profiler is not None:
                profiler.enable()
            answer = interface.call_service(platform, self.actor, body, headers)
            if profiler is not None:
                profiler.disable()
            cpu_by_infno[current[0]] += time.process_time() - started
            return _Answer(answer)

    class _Answer:
        status_code = 200

        def __init__(self, answer: dict) -> None:
            self.answer = answer

        def json(self) -> dict:
            return self.answer


    async def door_only(seed: int, profiled: bool) -> Stats:
        stats = Stats()
        rng = random.Random(seed)
        profiling[0] = profiled
        for n in range(visits):
            his = systems[n % len(systems)]
            await visit(Direct(his), his, rng.choice(people), items, rng, stats)
        profiling[0] = False
        return stats

    asyncio.run(door_only(8, profiled=False))
    if os.environ.get("YKT_BENCH_TRACE"):
        lines.append("statements of the first messages:\n  " + "\n  ".join(trace[:int(os.environ["YKT_BENCH_TRACE"])]))
    lines.append("SQL statements per message (the door alone): " + ", ".join(
        f"{infno} {n / max(1, visits):.1f}" for infno, n in sorted(statements.items())))
    lines.append("the door alone, CPU ms per message (no profiler): " + ", ".join(
        f"{infno} {cpu * 1000 / max(1, visits):.2f}" for infno, cpu in sorted(cpu_by_infno.items()))
        + f"; per visit {sum(cpu_by_infno.values()) * 1000 / max(1, visits):.1f}")
    asyncio.run(door_only(9, profiled=True))
    # Python function calls per message: a count, not a time, so it does not move with the
    # machine's load (the CPU figures above do, by ±20 % on the shared machine)
    lines.append("Python function calls per message (under the profiler; load-independent): " + ", ".join(
        f"{infno} {pstats.Stats(p).total_calls / max(1, visits):,.0f}" for infno, p in sorted(profilers.items()))
        + f"; per visit {sum(pstats.Stats(p).total_calls for p in profilers.values()) / max(1, visits):,.0f}")
    profiler = pstats.Stats(*profilers.values())
    if os.environ.get("YKT_BENCH_PROFILE_OUT"):  # the raw profile, for pstats' callers views
        profiler.dump_stats(os.environ["YKT_BENCH_PROFILE_OUT"])
    out = io.StringIO()
    by_package: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in profiler.stats.items():
        by_package[_package(filename)] += own
    total = sum(by_package.values()) or 1
    out.write("CPU by package (own time under the profiler): " + ", ".join(
        f"{name} {share * 100 / total:.0f} %" for name, share in sorted(by_package.items(), key=lambda x: -x[1])
        if share / total >= 0.01) + "\n")
    profiler.stream = out
    profiler.sort_stats("cumulative").print_stats("yikatong", 45)
    profiler.sort_stats("tottime").print_stats(25)
    platform.engine.dispose()
    counted_cursors()  # the driver's cursor as it was
    lines.append(f"the door alone (interface.call_service), {visits} visits under cProfile (CPU time):")
    return "\n".join(lines) + "\n" + out.getvalue()


def _count_statements(engine, count):
    """Every statement the engine's driver cursor executes, passed to `count(statement,
    executemany)` (psycopg's Cursor, or sqlite3's through SQLAlchemy's event); returns the undo."""
    if engine.dialect.driver != "psycopg":
        from sqlalchemy import event

        def counted(_connection, _cursor, statement, _parameters, _context, executemany) -> None:
            count(statement, executemany)

        event.listen(engine, "before_cursor_execute", counted)
        return lambda: event.remove(engine, "before_cursor_execute", counted)
    import psycopg

    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted_execute(cursor, query, *args, **kwargs):
        count(query, False)
        return execute(cursor, query, *args, **kwargs)

    def counted_executemany(cursor, query, *args, **kwargs):
        count(query, True)
        return executemany(cursor, query, *args, **kwargs)

    psycopg.Cursor.execute, psycopg.Cursor.executemany = counted_execute, counted_executemany

    def undo() -> None:
        psycopg.Cursor.execute, psycopg.Cursor.executemany = execute, executemany
    return undo


def _package(filename: str) -> str:
    """The top-level package of a profiled function's file (`yikatong.medical`: two levels)."""
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0].split(".")[0]
    if "/src/yikatong/" in filename:
        return "yikatong." + filename.split("/src/yikatong/")[1].split("/")[0].removesuffix(".py")
    if filename.startswith("<") or filename == "~":
        return "builtins"
    return "stdlib:" + filename.rsplit("/", 1)[-1].removesuffix(".py")


# --- main ---------------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terminals", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20, help="seconds measured")
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--profile", type=int, default=0, help="N visits in process under cProfile first")
    parser.add_argument("--profile-only", action="store_true", help="the in-process profile, no server run")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="the terminals' HTTP client: hand-written keep-alive HTTP/1.1 (light), or httpx")
    args = parser.parse_args()
    import tempfile

    from yikatong.core.clock import SystemClock

    with tempfile.TemporaryDirectory(prefix="ykt-medical-bench-") as folder, database(args.database_url) as url:
        workdir = Path(folder)
        env = server_env(url, workdir)
        print(f"seeding {args.people} people and the institutions…", flush=True)
        people, institutions, items = seed(env, args.people)
        if args.profile:
            print(profile(env, lambda clock: hospital_systems(institutions, clock, lambda: None), people, items,
                          args.profile))
            if args.profile_only:
                return
        before = snapshot(url)
        bare_url = copy_database(url)
        print(f"load before: {load()}", flush=True)
        systems = hospital_systems(institutions, SystemClock(), lambda: None)
        port = free_port()
        with serving(ykt_serve(port, "--no-worker", "--workers", str(args.workers)), env, port,
                     workdir / "server.log") as (base, pid):
            stats, elapsed, cpu = asyncio.run(measure(base, pid, systems, people, items, args.terminals,
                                                      args.duration, (_admin(url)[0].database, url), args.client))
        print(f"load after the door: {load()}", flush=True)
        if any(not key.split(":")[1].lstrip("-").isdigit() and "_" not in key.split(":")[1] for key in stats.refused):
            print("the server's last words:\n" + "\n".join(
                (workdir / "server.log").read_text(errors="replace").splitlines()[-25:]))
        report_door(args, stats, elapsed, cpu)  # before the baseline, which can fail on a full server
        found = new_rows(url, before)
        rows = sum(len(r) for _, r in found)
        opened = next((len(r) for t, r in found if t.name == "medical_visits"), stats.visits)
        prelude, chunks = per_visit(found, max(1, opened))  # every visit the phase opened (warm-up, unfinished)
        bare_database = DatabaseCpu(_admin(bare_url)[0].database, bare_url)
        bare_cpu = time.process_time()
        bare_elapsed = asyncio.run(bare_inserts(bare_url, prelude, chunks, args.terminals))
        bare_cpu = time.process_time() - bare_cpu
        bare_database_cpu, _ = bare_database.spent()
        print(f"load after the baseline: {load()}")
    door_rate = stats.visits / elapsed
    bare_rate = len(chunks) / bare_elapsed
    print(f"baseline: the same {rows} rows ({rows / max(1, stats.visits):.1f} per visit) as {len(chunks)} visits "
          f"× {len(VISIT)} transactions in {bare_elapsed:.2f} s = {bare_rate:.1f} visits/s")
    per_bare_visit_ms = 1000 / max(1, len(chunks))
    print(f"baseline CPU per visit: PostgreSQL {bare_database_cpu * per_bare_visit_ms:.1f} ms, its client (this "
          f"process) {bare_cpu * per_bare_visit_ms:.1f} ms: PostgreSQL alone, writing these rows, would make at "
          f"most {2000 / max(1e-9, bare_database_cpu * per_bare_visit_ms):.0f} visits/s on 2 cores")
    print(f"ratio door / bare inserts: {door_rate / bare_rate:.3f}")
    print("rows per table: " + ", ".join(f"{t.name} {len(r)}" for t, r in found))


def report_door(args, stats: Stats, elapsed: float, cpu: float) -> None:
    door_rate = stats.visits / elapsed
    settle = stats.latency["2207"]
    print(f"\n{args.terminals} terminals ({args.client} client), {args.workers} worker(s), {elapsed:.1f} s, PostgreSQL")
    print(f"door:     {stats.visits} visits = {door_rate:.1f} visits/s "
          f"({sum(len(v) for v in stats.latency.values())} messages; refused {dict(stats.refused) or 0}); "
          f"server CPU {cpu * 1000 / max(1, stats.visits):.1f} ms/visit")
    per_visit_ms = 1000 / max(1, stats.visits)
    print(f"CPU per visit: server {cpu * per_visit_ms:.1f} ms, PostgreSQL (this database's backends) "
          f"{stats.database_cpu * per_visit_ms:.1f} ms, load generator (this process) "
          f"{stats.client_cpu * per_visit_ms:.1f} ms; total {(cpu + stats.database_cpu + stats.client_cpu) * per_visit_ms:.1f} ms "
          f"(250 visits/s on 2 cores leaves 8 ms; after this PostgreSQL CPU, "
          f"{8 - stats.database_cpu * per_visit_ms:.1f} ms for the server and the load generator); "
          f"{stats.database_sessions} PostgreSQL sessions opened", flush=True)
    for infno in VISIT:
        values = stats.latency.get(infno, [])
        # the phase's first 2 s apart: 50 terminals connect and send at once (a burst the
        # steady state does not see)
        steady = [took for took, at in zip(values, stats.sent_at.get(infno, []), strict=True) if at >= 2.0]
        print(f"  {infno}: p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f} ms "
              f"({len(values)} calls); after the first 2 s p50 {percentile(steady, 0.5):.1f}, "
              f"p99 {percentile(steady, 0.99):.1f} ms")
    medians = sorted(statistics.median(values) for values in stats.by_client.values() if values)
    if medians:  # each terminal keeps its connection, so its worker: an uneven split shows here
        print(f"  per terminal, the median of its messages' latency: lowest {medians[0]:.1f}, "
              f"median {statistics.median(medians):.1f}, highest {medians[-1]:.1f} ms ({len(medians)} terminals)")
    print(f"settle (2207) p50 {statistics.median(settle) if settle else float('nan'):.1f} ms, "
          f"p99 {percentile(settle, 0.99):.1f} ms; goal ≥ 250 visits/s, p99 < 50 ms", flush=True)


if __name__ == "__main__":
    main()
