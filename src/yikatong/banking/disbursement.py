"""The reference bank's side of disbursement (代发) batch files (seam 1 of issue 14,
docs/bank-files.md).

`receive` (behind `BankGateway.submit_disbursement`) reads the file from the drop, checks its
header and SM3 and records the batch with a receipt id; the same batch again answers the same
receipt. `process` then decides every row in ONE bank transaction per batch:

* posted: the account takes the money now (active, or under a temporary or formal loss: a
  lost card's account still receives; past its validity too);
* held: the account is not activated: a bank transaction in status held, released by the
  existing activation path (payments.release_held), which then debits the payer's book. The
  batch's result file is its held notice: the payer (the platform's run, benefits.runs) reads
  the held rows from it and texts each holder once, in the transaction that settles the batch
  (one `payment_held` outbox message per held row, each applied to the platform in its own
  transaction, cost 20-50 ms a row: bench/disbursement.py);
* failed: `unknown_account` (no such account at this bank), `account_closed`,
  `account_frozen`, `name_mismatch` (the row's name differs from the name the bank holds
  from the production list, both normalised: rules.normalise_name; an account opened
  without a name is not compared), or `row_ref_reused` (the row_ref was seen before with
  another account, name or amount: nothing is paid under it).

A row_ref seen before with the same content (in this batch or an earlier one) answers the
first row's result and pays nothing. Posted and held rows become bank transactions (kind
credit, channel disbursement, request_id = row_ref) on the holder's statement; the posted
ones go into the shared ledger as ONE journal per batch: the payer's settlement book
(rules.settlement_code) debited with the total posted, each customer account credited, the
missing customer ledger accounts opened in bulk and every touched account's `version` bumped
(a concurrent ORM writer then fails with ConcurrentChange instead of overwriting).
One audit record per batch names its rows. The result file is written after the commit,
atomically, and rewritten from the rows if it went missing (`result_name`).

Set-based: the rows go into a temporary staging table (PostgreSQL: psycopg 3 COPY; SQLite:
executemany) and every decision, insert and update is an INSERT … SELECT or UPDATE … FROM
over it; no ORM object per row.

Measured (bench/bank_disbursement_batch.py, 2026-12-05, PostgreSQL 15 on 127.0.0.1, the
2-core machine shared with six other helpers, load average 5-10, so every figure moves ±50 %
from run to run): one batch of 50,000 rows (49,000 posted, 500 held, 500 unknown accounts)
onto 50,000 accounts, month 1 (the customers' ledger accounts opened) / month 2 (found):

    receive (read, SM3, parse 50,000 rows)      0.5-1.1 s
    process, one transaction, commit included   6.3-8.7 s  (first runs 4.1-5.9 s, before the
                                                 load rose)
    result file                                 0.1-0.2 s
    whole batch                                 7.3-9.6 s = 5,200-6,800 rows/s
    bare COPY of the same 50,000 rows into a
    plain table, same run                       0.64-0.94 s  → the batch is 9-12× it
                                                 (SQLite, same machine: whole batch 2.4-3.4 s)

Where process's time goes (month 2, s): COPY into staging 0.7 + ANALYZE 0.3, deciding and
inserting the rows 0.65, the bank transactions 1.0, the customers' balances 1.0, the
postings 1.7, held events, totals and the audit record 0.7. EXPLAIN ANALYZE shows the
per-row foreign-key checks of the inserts (bank_transactions → bank_accounts, ledger_postings
→ ledger_accounts and ledger_journals: ~0.4-0.6 s each) as the largest single cost; the
rest is index upkeep of the four tables every posted row lands in. A row table without
its foreign key, moving the balances before inserting the postings and one ordered read of
the outcome took about a third off the first version. 1,000,000 rows in 50,000-row batches
would take 2.5-3 min on this loaded machine, one batch at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, insert, select, text

from yikatong.banking import bankfiles, payments, rules
from yikatong.banking.bankfiles import (
    FAILED,
    HELD,
    POSTED,
    BatchResubmittedChanged,
    FileDrop,
)
from yikatong.banking.errors import NOT_ACTIVATED_EN, NOT_ACTIVATED_ZH
from yikatong.banking.models import (
    BankDisbursementBatch,
    BankDisbursementRow,
)
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.core.killpoints import killpoint
from yikatong.core.money import MAX_BALANCE_FEN, format_fen
from yikatong.db.base import UTCDateTime
from yikatong.db.uow import UnitOfWork
from yikatong.ledger.errors import BalanceLimitExceeded
from yikatong.ledger.models import Journal

log = logging.getLogger(__name__)

CHANNEL = "disbursement"
RECEIVED, PROCESSED = "received", "processed"
_STAGE = "bank_disb_stage"


# Seconds per step of the last `process` in this thread (the bench prints them): the
# platform's run hands the banks' batches to the bank from several threads at once.
_LAST = threading.local()


def last_steps() -> dict[str, float]:
    """Seconds per step of the last `process` in this thread."""
    return dict(getattr(_LAST, "steps", {}))


class _Steps:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        _LAST.steps = self.steps
        self._at = time.perf_counter()

    def step(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + now - self._at
        self._at = now


@dataclass(frozen=True)
class BatchView:
    bank_code: str
    batch_id: str
    receipt_id: str
    payer_code: str
    pay_date: date
    status: str
    row_count: int
    total_fen: int
    posted_count: int
    posted_fen: int
    held_count: int
    held_fen: int
    failed_count: int
    failed_fen: int
    journal_request_id: str | None
    result_file: str | None
    received_at: datetime
    processed_at: datetime | None


def bank_actor(bank_code: str) -> Actor:
    return Actor.system(f"bank:{bank_code}")


# ---------------------------------------------------------------------------------------
# Receiving a file


def receive(*, uow: UnitOfWork, files: FileDrop, bank_code: str, batch_id: str, file_name: str,
            sm3_hex: str) -> str:
    """Check the file in the drop and record the batch; its receipt id. `sm3_hex` is the SM3
    the header states (of the rows part). The same batch again answers the first receipt
    (nothing is read or paid again); the same batch id with another checksum is refused."""
    if not isinstance(batch_id, str) or not bankfiles.BATCH_ID.match(batch_id):
        raise bankfiles.invalid("批次号不合格", "the batch id is not [A-Za-z0-9-]{1,64}")
    if not isinstance(sm3_hex, str) or not bankfiles.SM3_HEX.match(sm3_hex):
        raise bankfiles.invalid("SM3 校验值应为 64 位十六进制", "the SM3 checksum is 64 hex digits")
    known = _batch(uow, bank_code, batch_id)
    if known is not None:
        if known.file_sm3 != sm3_hex.lower():
            raise BatchResubmittedChanged(batch_id=batch_id)
        return known.receipt_id
    header, rows = _read(files, bank_code, batch_id, file_name, sm3_hex, fresh=True)
    batch = BankDisbursementBatch(
        bank_code=bank_code, batch_id=batch_id, receipt_id=f"{bank_code}-R{uuid.uuid4().hex[:20]}",
        file_name=file_name, file_sm3=header.sm3_hex, payer_code=header.payer_code,
        pay_date=header.pay_date, row_count=len(rows), total_fen=header.total_fen,
        status=RECEIVED, received_at=uow.now())
    uow.session.add(batch)
    uow.session.flush()
    uow.audit(actor=bank_actor(bank_code), action="bank.disbursement_received",
              entity_type="bank_disbursement", entity_id=f"{bank_code}:{batch_id}",
              after={"receipt_id": batch.receipt_id, "file_name": file_name,
                     "sm3": header.sm3_hex, "payer_code": header.payer_code,
                     "pay_date": header.pay_date.isoformat(), "row_count": len(rows),
                     "total_fen": header.total_fen})
    return batch.receipt_id


# The last files parsed at receipt, by (bank, batch, SM3): processing right after the receipt
# (in-process at submit, or the node's worker) need not read and parse them again. The SM3 in
# the key is of the rows part, so a file changed in the drop meanwhile is never taken for it.
# Several threads may receive and process batches at once (the platform's run pays the
# banks side by side): the caches below are changed under `_CACHES`.
_PARSED: dict[tuple[str, str, str], tuple] = {}
_PARSED_KEEP = 4
_CACHES = threading.Lock()


def _read(files: FileDrop, bank_code: str, batch_id: str, file_name: str, sm3_hex: str,
          fresh: bool = False) -> tuple[bankfiles.DisbursementHeader,
                                        list[bankfiles.DisbursementRow]]:
    """The file's header and rows; at receipt (`fresh`) always read from the drop."""
    key = (bank_code, batch_id, sm3_hex.lower())
    if not fresh and (parsed := _PARSED.get(key)) is not None:
        return parsed
    parsed = _parse(files, bank_code, batch_id, file_name, sm3_hex)
    with _CACHES:
        while len(_PARSED) >= _PARSED_KEEP:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = parsed
    return parsed


def _parse(files: FileDrop, bank_code: str, batch_id: str, file_name: str,
           sm3_hex: str) -> tuple[bankfiles.DisbursementHeader, list[bankfiles.DisbursementRow]]:
    header, body = bankfiles.read_header(files.read_to_bank(bank_code, file_name))
    if header.batch_id != batch_id or header.bank_code != bank_code:
        raise bankfiles.invalid("文件头的批次号或银行与提交的不一致",
                                "the header's batch id or bank differs from the submission")
    if header.sm3_hex != sm3_hex.lower():
        raise bankfiles.invalid("提交的 SM3 校验值与文件头不一致",
                                "the submitted SM3 differs from the file's header")
    return header, bankfiles.read_rows(header, body)


# ---------------------------------------------------------------------------------------
# Processing a batch


def process(*, uow: UnitOfWork, files: FileDrop, bank_code: str, batch_id: str) -> BatchView:
    """Decide and pay every row of a received batch in the caller's transaction (which the
    caller commits); a processed batch is returned as it is."""
    batch = _batch(uow, bank_code, batch_id, lock=True)
    if batch is None:
        raise bankfiles.BankFileMissing(file_name=batch_id)
    if batch.status == PROCESSED:
        return _view(batch)
    clock = _Steps()
    header, rows = _read(files, bank_code, batch_id, batch.file_name, batch.file_sm3)
    clock.step("read")
    now = uow.now()
    connection = uow.session.connection()
    dialect = connection.dialect.name
    _stage(uow, dialect, rows, clock)
    clock.step("stage")
    params = {"pk": batch.id, "bank": bank_code}
    with _decide_plan(connection):
        decided = connection.execute(_DECIDE_NEW, params).rowcount
    clock.step("decide")
    if decided != len(rows):  # every row new (the usual batch): no repeat to look for
        connection.execute(_REPEATS, params)
    clock.step("repeats")
    connection.execute(_TRANSACTIONS, {**params, "payer": batch.payer_code, "now": now,
                                       "zh": NOT_ACTIVATED_ZH, "en": NOT_ACTIVATED_EN})
    clock.step("transactions")
    journal = _post_to_ledger(uow, batch, now, clock)
    counts = {POSTED: [0, 0], HELD: [0, 0], FAILED: [0, 0]}
    named: dict[str, list] = {POSTED: [], HELD: [], FAILED: []}
    outcome = connection.execute(_OUTCOMES, params).all()  # in the file's order
    for ref, status, reason, amount, _ in outcome:
        counts[status][0] += 1
        counts[status][1] += amount
        named[status].append(ref if status != FAILED else [ref, reason])
    totals = {status: tuple(pair) for status, pair in counts.items()}
    batch.posted_count, batch.posted_fen = totals[POSTED]
    batch.held_count, batch.held_fen = totals[HELD]
    batch.failed_count, batch.failed_fen = totals[FAILED]
    batch.status, batch.processed_at = PROCESSED, now
    batch.journal_request_id = journal
    batch.result_file = bankfiles.result_file_name(batch_id)
    with _CACHES:  # the result file is written from these once committed
        while len(_OUTCOME_CACHE) >= _OUTCOME_KEEP:
            _OUTCOME_CACHE.pop(next(iter(_OUTCOME_CACHE)))
        _OUTCOME_CACHE[(bank_code, batch_id)] = outcome
    uow.session.flush()
    clock.step("totals")
    uow.audit(actor=bank_actor(bank_code), action="bank.disbursement_processed",
              entity_type="bank_disbursement", entity_id=f"{bank_code}:{batch_id}",
              after={"receipt_id": batch.receipt_id, "payer_code": batch.payer_code,
                     "journal": journal, "posted": totals[POSTED], "held": totals[HELD],
                     "failed": totals[FAILED], "rows": named})
    clock.step("audit")
    if dialect == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_STAGE}")
    return _view(batch)


@contextlib.contextmanager
def _decide_plan(connection):
    """PostgreSQL: the plan _DECIDE_NEW is meant to have. No nested loops and no sequential
    scans: on a bank's first batch ever the tables' statistics say empty, and the planner
    then scans bank_disbursement_rows once per staged row, its own new rows included (16 s
    for a first batch of 50,000 rows, bench/disbursement.py, 300k payees); the seen-before
    probes go through the unique indexes, always. No JIT: the probes make the statement's
    estimated cost cross jit_above_cost, and compiling it took longer than running it
    (0.3-2.0 s a batch, disbfast)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    settings = ("enable_nestloop", "enable_seqscan", "jit")
    before = {name: connection.exec_driver_sql(
        f"SELECT current_setting('{name}')").scalar_one() for name in settings}
    for name in settings:
        connection.exec_driver_sql(f"SET LOCAL {name} = off")
    yield  # (a failure aborts the transaction, and SET LOCAL goes with it)
    for name in settings:
        connection.exec_driver_sql(f"SET LOCAL {name} = {'on' if before[name] == 'on' else 'off'}")


def _stage(uow: UnitOfWork, dialect: str, rows: list[bankfiles.DisbursementRow],
           clock: _Steps) -> None:
    """The batch's rows in a temporary table; `rnk` numbers a row_ref's occurrences."""
    seen: dict[str, int] = {}
    staged = []
    for row in rows:
        rnk = seen[row.row_ref] = seen.get(row.row_ref, 0) + 1
        staged.append((row.line_no, row.row_ref, row.pan, row.name, row.amount_fen,
                       row.fingerprint, rnk))
    columns = "line_no, row_ref, pan, name, amount_fen, fingerprint, rnk"
    connection = uow.session.connection()
    driver = connection.connection.driver_connection
    if dialect == "postgresql":
        with driver.cursor() as cursor:
            # the batch's sorts and hashes in memory, for this transaction only
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (line_no integer, "
                           "row_ref varchar(64), pan varchar(19), name varchar(64), "
                           "amount_fen bigint, fingerprint varchar(64), rnk integer) "
                           "ON COMMIT DROP")
            cursor.execute(f"TRUNCATE {_STAGE}")
            clock.step("stage_create")
            with cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
                for start in range(0, len(staged), 10_000):  # COPY text, a slice at a time
                    copy.write("".join([_copy_line(*item) for item in staged[start:start + 10_000]]))
            clock.step("stage_copy")
            cursor.execute(f"ANALYZE {_STAGE}")
        return
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_STAGE}")
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE {_STAGE} (line_no INTEGER PRIMARY KEY, row_ref TEXT, pan TEXT, "
        "name TEXT, amount_fen INTEGER, fingerprint TEXT, rnk INTEGER)")
    driver.cursor().executemany(f"INSERT INTO temp.{_STAGE} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                staged)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(line_no: int, ref: str, pan: str, name: str, amount: int, fingerprint: str,
               rnk: int) -> str:
    """One staged row in COPY text format (no NULLs). bankfiles.read_rows checked and made the
    fields: the fingerprint is hex, the row_ref printable and the name without whitespace, so
    only a backslash in those two, or a pan that is not all digits (its pattern's `$` lets a
    final newline through), needs escaping: translated only then."""
    if "\\" in ref or "\\" in name or not pan.isdigit():
        ref, pan, name = (value.translate(_COPY_ESCAPES) for value in (ref, pan, name))
    return f"{line_no}\t{ref}\t{pan}\t{name}\t{amount}\t{fingerprint}\t{rnk}\n"


_ROW_COLUMNS = ("batch_pk, bank_code, line_no, row_ref, pan, name, amount_fen, fingerprint, "
                "origin, first_id, account_id, status, reason_code")

# The first time the bank sees a row_ref: decide it from the account (LEFT JOIN: none is an
# unknown account), in the order the seam lists the reasons. "Seen before" is two scalar
# probes per staged row, each into a unique index (at most one row each): a NOT EXISTS would
# be planned as a hash anti-join that reads all of the bank's earlier rows in both tables for
# every batch, a cost that grows with the table (bench/disbursement.py, disb2).
_DECIDE_NEW = text(f"""
INSERT INTO bank_disbursement_rows ({_ROW_COLUMNS})
SELECT :pk, :bank, s.line_no, s.row_ref, s.pan, s.name, s.amount_fen, s.fingerprint, 'new',
       NULL, a.id,
       CASE WHEN a.id IS NULL OR a.status = 'closed' OR a.frozen_at IS NOT NULL
                 OR (a.holder_name IS NOT NULL AND a.holder_name <> s.name) THEN 'failed'
            WHEN a.status = 'not_activated' THEN 'held'
            ELSE 'posted' END,
       CASE WHEN a.id IS NULL THEN 'unknown_account'
            WHEN a.status = 'closed' THEN 'account_closed'
            WHEN a.frozen_at IS NOT NULL THEN 'account_frozen'
            WHEN a.holder_name IS NOT NULL AND a.holder_name <> s.name THEN 'name_mismatch'
            WHEN a.status = 'not_activated' THEN 'not_activated'
            END
FROM {_STAGE} s
LEFT JOIN bank_accounts a ON a.pan = s.pan AND a.bank_code = :bank
WHERE s.rnk = 1
  AND (SELECT r.id FROM bank_disbursement_rows r
       WHERE r.bank_code = :bank AND r.row_ref = s.row_ref AND r.origin = 'new') IS NULL
  AND (SELECT t.id FROM bank_transactions t
       WHERE t.bank_code = :bank AND t.request_id = s.row_ref) IS NULL
""")

# Every other row: a row_ref seen before (earlier, or earlier in this file). The same content
# answers the first row's result; other content (or a row_ref that is some other request's
# id at the bank) fails.
_REPEATS = text(f"""
INSERT INTO bank_disbursement_rows ({_ROW_COLUMNS})
SELECT :pk, :bank, s.line_no, s.row_ref, s.pan, s.name, s.amount_fen, s.fingerprint,
       CASE WHEN f.fingerprint = s.fingerprint THEN 'repeat' ELSE 'conflict' END,
       CASE WHEN f.fingerprint = s.fingerprint THEN f.id END,
       CASE WHEN f.fingerprint = s.fingerprint THEN f.account_id END,
       CASE WHEN f.fingerprint = s.fingerprint THEN f.status ELSE 'failed' END,
       CASE WHEN f.fingerprint = s.fingerprint THEN f.reason_code ELSE 'row_ref_reused' END
FROM {_STAGE} s
LEFT JOIN bank_disbursement_rows f
       ON f.bank_code = :bank AND f.row_ref = s.row_ref AND f.origin = 'new'
WHERE NOT EXISTS (SELECT 1 FROM bank_disbursement_rows x
                  WHERE x.batch_pk = :pk AND x.line_no = s.line_no)
""")

_TRANSACTIONS = text("""
INSERT INTO bank_transactions (bank_code, request_id, fingerprint, account_id, kind, amount_fen,
                               counterparty, channel, status, reason_code, reason_zh, reason_en,
                               created_at, settled_at)
SELECT :bank, r.row_ref, r.fingerprint, r.account_id, 'credit', r.amount_fen, :payer,
       'disbursement', r.status,
       CASE WHEN r.status = 'held' THEN 'not_activated' END,
       CASE WHEN r.status = 'held' THEN :zh END,
       CASE WHEN r.status = 'held' THEN :en END,
       :now, CASE WHEN r.status = 'posted' THEN :now END
FROM bank_disbursement_rows r
WHERE r.batch_pk = :pk AND r.origin = 'new' AND r.status IN ('posted', 'held')
""").bindparams(bindparam("now", type_=UTCDateTime()))

# The posted rows' money by customer account (a payee may have two rows in one file).
_POSTED_BY_ACCOUNT = """
SELECT :prefix || r.pan AS code, SUM(r.amount_fen) AS total FROM bank_disbursement_rows r
WHERE r.batch_pk = :pk AND r.origin = 'new' AND r.status = 'posted' GROUP BY r.pan
"""

# Customer accounts are liabilities: a credit raises the balance. The accounts that exist
# move (their version too, so a concurrent writer that read them fails instead of
# overwriting); the missing ones are opened with their balance. Both before the postings: the
# postings' foreign-key checks then find rows this transaction already holds.
_CREDIT_EXISTING = text(f"""
UPDATE ledger_accounts SET balance = ledger_accounts.balance + moved.total,
                           version = ledger_accounts.version + 1
FROM ({_POSTED_BY_ACCOUNT}) AS moved
WHERE ledger_accounts.code = moved.code
""")

_OPEN_CREDITED = text(f"""
INSERT INTO ledger_accounts (code, kind, currency, allow_negative, balance, version, created_at)
SELECT moved.code, 'liability', 'CNY', FALSE, moved.total, 1, :now
FROM ({_POSTED_BY_ACCOUNT}) AS moved
WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts l WHERE l.code = moved.code)
""").bindparams(bindparam("now", type_=UTCDateTime()))

_DEBIT_PAYER = text("""
UPDATE ledger_accounts SET balance = balance - :total, version = version + 1
WHERE code = :code RETURNING id
""")

_CUSTOMER_POSTINGS = text("""
INSERT INTO ledger_postings (journal_id, account_id, amount)
SELECT :journal, l.id, -r.amount_fen
FROM bank_disbursement_rows r
JOIN ledger_accounts l ON l.code = :prefix || r.pan
WHERE r.batch_pk = :pk AND r.origin = 'new' AND r.status = 'posted'
""")

# The accounts of the journal over the bound (or negative where they may not be): all of
# them, or only the payer's (`payer`) when the customers' were checked already.
_OVER_BOUND = text("""
SELECT COUNT(*) FROM ledger_accounts l
WHERE (l.id = :payer OR (:payer IS NULL AND
       l.id IN (SELECT account_id FROM ledger_postings WHERE journal_id = :journal)))
  AND (l.balance > :bound OR l.balance < -:bound OR (l.balance < 0 AND NOT l.allow_negative))
""")

# Every row's outcome in the file's order: the totals, the audit record and the result file.
_OUTCOMES = text("""
SELECT row_ref, status, reason_code, amount_fen, COALESCE(first_id, id)
FROM bank_disbursement_rows WHERE batch_pk = :pk ORDER BY line_no
""")
_OUTCOME_CACHE: dict[tuple[str, str], list] = {}
_OUTCOME_KEEP = 4  # one a thread processing batches (a batch left out is read back: _OUTCOMES)


# PostgreSQL: the customers' accounts moved, and the missing ones opened, in ONE upsert
# (instead of an UPDATE, then an INSERT of those it did not find), which returns what the
# bound is checked on (no re-read of every touched account after the postings). Before the
# postings: their foreign-key checks then find rows this transaction already holds.
# (Posting in the same statement, joined to what the upsert returns, was planned as a nested
# loop over the two CTEs: minutes per batch.)
_CREDIT_CUSTOMERS = text(f"""
WITH moved AS (
    INSERT INTO ledger_accounts (code, kind, currency, allow_negative, balance, version, created_at)
    SELECT moved.code, 'liability', 'CNY', FALSE, moved.total, 1, :now
    FROM ({_POSTED_BY_ACCOUNT}) AS moved
    ON CONFLICT (code) DO UPDATE SET balance = ledger_accounts.balance + EXCLUDED.balance,
                                     version = ledger_accounts.version + 1
    RETURNING balance, allow_negative
)
SELECT COUNT(*) FROM moved
WHERE balance > :bound OR balance < -:bound OR (balance < 0 AND NOT allow_negative)
""").bindparams(bindparam("now", type_=UTCDateTime()))


def _post_to_ledger(uow: UnitOfWork, batch: BankDisbursementBatch, now: datetime,
                    clock: _Steps) -> str | None:
    """One journal: the payer's settlement book debited with the total posted now, each
    posted row's customer account credited. None when nothing was posted."""
    connection = uow.session.connection()
    params = {"pk": batch.id}
    posted = connection.execute(text(
        "SELECT COALESCE(SUM(amount_fen), 0), COUNT(*) FROM bank_disbursement_rows "
        "WHERE batch_pk = :pk AND origin = 'new' AND status = 'posted'"), params).one()
    total, count = int(posted[0]), int(posted[1])
    payments.open_settlement_account(uow, batch.bank_code, batch.payer_code)  # held rows' too
    uow.session.flush()
    if total == 0:
        return None
    prefix = rules.customer_code(batch.bank_code, "")
    payer_id = connection.execute(_DEBIT_PAYER, {
        "total": total, "code": rules.settlement_code(batch.bank_code, batch.payer_code)}).scalar_one()
    request_id = rules.journal_request_id(batch.bank_code, f"disbursement:{batch.batch_id}")
    fingerprint = hashlib.sha256(
        f"{batch.file_sm3}|{batch.payer_code}|{total}|{count}".encode()).hexdigest()
    journal_id = connection.execute(insert(Journal.__table__).values(
        request_id=request_id, kind="bank_disbursement",
        memo=f"{batch.payer_code} {batch.batch_id}"[:256], fingerprint=fingerprint,
        created_at=now).returning(Journal.__table__.c.id)).scalar_one()
    customers = {**params, "prefix": prefix, "journal": journal_id}
    if connection.dialect.name == "postgresql":
        over = connection.execute(_CREDIT_CUSTOMERS, {**customers, "now": now,
                                                      "bound": MAX_BALANCE_FEN}).scalar_one()
    else:
        connection.execute(_CREDIT_EXISTING, customers)
        connection.execute(_OPEN_CREDITED, {**customers, "now": now})
        over = 0
    clock.step("ledger_credit")
    connection.execute(_CUSTOMER_POSTINGS, customers)
    clock.step("ledger_postings")
    connection.execute(text("INSERT INTO ledger_postings (journal_id, account_id, amount) "
                            "VALUES (:journal, :account, :amount)"),
                       {"journal": journal_id, "account": payer_id, "amount": total})
    # SQLite: every account of the journal re-read; PostgreSQL: the customers' were checked
    # on what the upsert returned, the payer's book here.
    journal_only = {"journal": journal_id, "bound": MAX_BALANCE_FEN,
                    "payer": payer_id if connection.dialect.name == "postgresql" else None}
    if over or connection.execute(_OVER_BOUND, journal_only).scalar_one():
        raise BalanceLimitExceeded(limit_yuan=format_fen(MAX_BALANCE_FEN))
    return request_id


# ---------------------------------------------------------------------------------------
# Results


def write_result(*, uow: UnitOfWork, files: FileDrop, bank_code: str, batch_id: str,
                 rows: list | None = None) -> str | None:
    """Write the processed batch's result file (again) from its rows (or `rows`, the outcome
    `process` just committed); its name, or None when the batch is not processed yet."""
    batch = _batch(uow, bank_code, batch_id)
    if batch is None or batch.status != PROCESSED:
        return None
    name = bankfiles.result_file_name(batch_id)
    header = bankfiles.ResultHeader(batch_id, bank_code, batch.row_count, batch.posted_fen,
                                    batch.held_fen, batch.failed_fen)
    if rows is None:
        rows = uow.session.connection().execute(_OUTCOMES, {"pk": batch.id})
    bankfiles.write_atomically(files.from_bank(bank_code, name), bankfiles.result_chunks(
        header, ((ref, status, reason if status == FAILED else None, f"{bank_code}D{ref_id:012d}")
                 for ref, status, reason, _, ref_id in rows)))
    return name


def result_name(*, uow: UnitOfWork, files: FileDrop, bank_code: str, batch_id: str) -> str | None:
    """The result file's name once the batch is processed (rewritten if it went missing)."""
    batch = _batch(uow, bank_code, batch_id)
    if batch is None:
        raise InvalidInput(reason_zh=f"本行没有收到批次 {batch_id}",
                           reason_en=f"this bank has not received batch {batch_id}")
    if batch.status != PROCESSED:
        return None
    if not files.from_bank(bank_code, batch.result_file).exists():
        write_result(uow=uow, files=files, bank_code=bank_code, batch_id=batch_id)
    return batch.result_file


def batch_view(*, uow: UnitOfWork, bank_code: str, batch_id: str) -> BatchView | None:
    batch = _batch(uow, bank_code, batch_id)
    return _view(batch) if batch is not None else None


def received_batches(*, uow: UnitOfWork, bank_codes: frozenset[str] | None = None) -> list[tuple[str, str]]:
    query = (select(BankDisbursementBatch.bank_code, BankDisbursementBatch.batch_id)
             .where(BankDisbursementBatch.status == RECEIVED).order_by(BankDisbursementBatch.id))
    if bank_codes is not None:
        query = query.where(BankDisbursementBatch.bank_code.in_(sorted(bank_codes)))
    return [(code, batch) for code, batch in uow.session.execute(query)]


def process_received(bank, bank_code: str | None = None) -> int:
    """Process every received batch of the bank (each in its own transaction), then write its
    result file; how many were processed. Run at submit (in-process: only the submitted
    batch's `bank_code`, so that the banks' batches submitted from several threads are each
    processed by the thread that submitted them) and by the bank's node (all)."""
    codes = bank.bank_codes
    if bank_code is not None:
        codes = frozenset({bank_code}) & codes if codes is not None else frozenset({bank_code})
    with bank.uow() as uow:
        waiting = received_batches(uow=uow, bank_codes=codes)
    done = 0
    for bank_code, batch_id in waiting:
        try:
            with bank.uow() as uow:
                view = process(uow=uow, files=bank.files, bank_code=bank_code, batch_id=batch_id)
                killpoint("bank.disbursement.decided")  # paid in the transaction, not committed
                bank.commit(uow)
            killpoint("bank.disbursement.processed")  # committed, no result file yet
        except DomainError as error:  # the file went from the drop, or changed there
            log.error("batch %s of %s cannot be read now (%s); left received", batch_id,
                      bank_code, error.code)
            continue
        with bank.uow() as uow:  # committed: the outcome `process` kept is the batch's
            write_result(uow=uow, files=bank.files, bank_code=bank_code, batch_id=view.batch_id,
                         rows=_outcome_of(bank_code, batch_id))
        done += 1
    return done


def _outcome_of(bank_code: str, batch_id: str) -> list | None:
    with _CACHES:
        return _OUTCOME_CACHE.pop((bank_code, batch_id), None)


# ---------------------------------------------------------------------------------------
# Behind the gateway (JSON answers)


def gateway_submit(*, uow: UnitOfWork, files: FileDrop, bank_code: str, batch_id: str,
                   file_name: str, sm3_hex: str) -> dict:
    return {"receipt_id": receive(uow=uow, files=files, bank_code=bank_code, batch_id=batch_id,
                                  file_name=file_name, sm3_hex=sm3_hex)}


def gateway_result(*, uow: UnitOfWork, files: FileDrop, bank_code: str, batch_id: str) -> dict:
    return {"file_name": result_name(uow=uow, files=files, bank_code=bank_code,
                                     batch_id=batch_id)}


# ---------------------------------------------------------------------------------------
# Helpers


def _batch(uow: UnitOfWork, bank_code: str, batch_id: str,
           lock: bool = False) -> BankDisbursementBatch | None:
    query = select(BankDisbursementBatch).where(BankDisbursementBatch.bank_code == bank_code,
                                                BankDisbursementBatch.batch_id == batch_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return uow.session.execute(query).scalar_one_or_none()


def _view(batch: BankDisbursementBatch) -> BatchView:
    return BatchView(
        bank_code=batch.bank_code, batch_id=batch.batch_id, receipt_id=batch.receipt_id,
        payer_code=batch.payer_code, pay_date=batch.pay_date, status=batch.status,
        row_count=batch.row_count, total_fen=batch.total_fen, posted_count=batch.posted_count,
        posted_fen=batch.posted_fen, held_count=batch.held_count, held_fen=batch.held_fen,
        failed_count=batch.failed_count, failed_fen=batch.failed_fen,
        journal_request_id=batch.journal_request_id, result_file=batch.result_file,
        received_at=batch.received_at, processed_at=batch.processed_at)


__all__ = ["BankDisbursementRow", "BatchView", "process", "receive", "result_name"]
