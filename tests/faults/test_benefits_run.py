"""Never paid twice: a benefits run killed (SIGKILL) at each of its step boundaries on
PostgreSQL, then run again, pays every payee exactly once and ends in the state of a run that
was never killed (issue 14). The bank is the in-process reference bank on the same database;
its own steps (the batch decided, committed, its result file not yet written) are killed too.

`ykt benefits run pension --period 2026-12` runs as a subprocess on a clone of a template
database that holds the payee list (the reference paying office's, handed in at seeding as
`ykt benefits reference-list` would). The payees: 300 people seeded set-based
(tests/faults/payees.py) at six banks: most accounts active (posted), 1 in 50 not activated
(held), 1 in 500 closed and one without a card (failed)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.faults import payees
from tests.faults.harness import FaultTemplate, Harness, needs_postgres, rows, ykt_argv

pytestmark = [pytest.mark.db, pytest.mark.db_unseen, needs_postgres]  # (killed subprocesses)

PROGRAMME, PERIOD, PAYEES = "pension", "2026-12", 300
RUN = ykt_argv("benefits", "run", PROGRAMME, "--period", PERIOD)

# Where the run is killed: after each step's commit, between a bank call and the commit that
# records its answer, inside the bank's transaction, and mid reconciliation. `@N`: the Nth
# time (six batches, one per bank). Each case is two processes of a few seconds (Python and
# the platform start in each): the first list runs by default, the second too with
# YKT_FAULTS=all.
POINTS = [
    "run.created",                  # the run recorded on the payee list, no payment yet
    "run.batched",                  # payments mapped to accounts, batches planned
    "batch.written@3",              # three files in the drop
    "batch.sent@1",                 # the bank has batch 1 (and paid it); we have not noted it
    "bank.disbursement.decided@2",  # the bank dies inside batch 2's transaction
    "bank.disbursement.processed@4",  # batch 4 paid and committed, its result file not written
    "batch.result_read@2",          # batch 2's results applied, not committed
    "run.reconciliation_written",   # the office's file written, the run not updated
]
MORE_POINTS = [
    "run.mapped",                   # the payee list mapped to accounts
    "batch.submitted@6",            # every batch submitted
    "batch.settled@5",              # five result files read
    "run.reconciled",               # done: the rerun finds nothing to pay
]
KILLED_AT = POINTS + (MORE_POINTS if os.environ.get("YKT_FAULTS") == "all" else [])
# A run that runs again once reconciled changes nothing (benefits.runs.run): no second
# benefits.run_reconciled record, the office's file untouched.


def seed(url: str) -> None:
    from yikatong.benefits import paying_office
    from yikatong.core.actor import Actor
    from yikatong.core.settings import Settings
    from yikatong.platform import Platform

    platform = Platform(Settings(database_url=url, key_store_path="memory"))
    payees.schema_and_reference_data(platform)
    payees.seed(url, PAYEES, programme=PROGRAMME, period=PERIOD,
                now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    with platform.uow() as uow:  # what `ykt benefits reference-list` does
        paying_office.submit_reference_list(uow=uow, actor=Actor.system("test"),
                                            programme_code=PROGRAMME, period=PERIOD)
        uow.commit()
    platform.engine.dispose()


@pytest.fixture(scope="module")
def template():
    made = FaultTemplate.build(seed)
    yield made
    made.drop()


@pytest.fixture(scope="module")
def unkilled(template, tmp_path_factory):
    """The state a run that was never killed leaves, and the points it passed."""
    workdir = tmp_path_factory.mktemp("unkilled")
    with template.clone() as url:
        harness = Harness(url, workdir)
        points = harness.points(RUN)
        yield {"state": state(url, workdir), "points": points, "harness": harness}


def test_an_unkilled_run_pays_each_payee_once_and_passes_every_point(unkilled):
    points = unkilled["points"]
    for point in POINTS + MORE_POINTS:
        name, _, count = point.partition("@")
        assert points.count(name) >= int(count or 1), f"{point} is never reached: {points}"
    figures = unkilled["state"]["run"][0][1]
    assert {k: figures[k]["count"] for k in ("posted", "held", "failed")} == {
        "posted": 292, "held": 6, "failed": 2}


def test_a_finished_run_run_again_pays_nobody_again(unkilled):
    harness = unkilled["harness"]
    harness.completed(RUN)
    again = state(harness.database_url, harness.workdir)

    assert_paid_once(again)
    for key, expected in unkilled["state"].items():
        assert again[key] == expected, f"{key} changed when a finished run ran again"
    assert dict(again["audit"])["benefits.run_reconciled"] == 1


@pytest.mark.parametrize("point", KILLED_AT)
def test_a_run_killed_there_resumes_to_the_same_result(template, unkilled, tmp_path, point):
    with template.clone() as url:
        harness = Harness(url, tmp_path)
        harness.kill_then_resume(RUN, point)
        after = state(url, tmp_path)
    assert_paid_once(after)
    for key, expected in unkilled["state"].items():
        assert after[key] == expected, f"{key} differs from an unkilled run's"


def assert_paid_once(after: dict) -> None:
    """Every payee once in the payments, each posted one credited once in the bank's ledger and
    booked once at the bank, paid + held + failed = due."""
    payments = after["payments"]
    assert len(payments) == PAYEES == len({p[0] for p in payments})
    posted = [p for p in payments if p[1] == "posted"]
    assert after["credits_per_payee"] == [(p[0], 1) for p in posted]
    booked = [p for p in payments if p[1] in ("posted", "held")]
    assert after["bank_transactions_per_payee"] == [(p[0], 1) for p in booked]
    (run_state, figures), = after["run"]
    assert run_state == "reconciled"
    due = figures["due"]
    assert sum(figures[s]["count"] for s in ("posted", "held", "failed")) == due["count"] == PAYEES
    assert sum(figures[s]["fen"] for s in ("posted", "held", "failed")) == due["fen"]


def state(url: str, workdir: Path) -> dict:
    """What a run leaves, without ids and times (a killed run's resume may number rows
    differently): payments, batches, the bank's transactions and ledger, the retry queue, the
    texts to holders, the office's reconciliation file."""
    ref = "p.programme_code || ':' || p.period || ':' || p.id || ':' || p.attempt"
    recon = sorted(workdir.rglob("*.reconciliation.csv"))
    return {
        "run": rows(url, "SELECT state, reconciliation FROM benefit_runs"),
        "payments": rows(url, """
            SELECT id_number, status, reason_code, attempt, bank_code, pan, amount_fen,
                   batch_seq, paid_on FROM benefit_payments ORDER BY id_number"""),
        "batches": rows(url, """
            SELECT batch_id, state, row_count, total_fen, posted_count, posted_fen, held_count,
                   held_fen, failed_count, failed_fen, sm3_hex IS NOT NULL, receipt_id IS NOT NULL,
                   result_file FROM benefit_batches ORDER BY batch_id"""),
        "bank_batches": rows(url, """
            SELECT bank_code, batch_id, status, row_count, posted_count, posted_fen, held_count,
                   failed_count FROM bank_disbursement_batches ORDER BY batch_id"""),
        "bank_transactions_per_payee": rows(url, f"""
            SELECT p.id_number, count(t.id) FROM benefit_payments p
            JOIN bank_transactions t ON t.bank_code = p.bank_code AND t.request_id = {ref}
            GROUP BY p.id_number ORDER BY p.id_number"""),
        "credits_per_payee": rows(url, """
            SELECT p.id_number, count(l.id) FROM benefit_payments p
            JOIN ledger_accounts a ON a.code = 'bank:' || p.bank_code || ':customer:' || p.pan
            JOIN ledger_postings l ON l.account_id = a.id
            JOIN ledger_journals j ON j.id = l.journal_id AND j.kind = 'bank_disbursement'
            WHERE l.amount < 0 GROUP BY p.id_number ORDER BY p.id_number"""),
        "balances": rows(url, """
            SELECT code, balance FROM ledger_accounts WHERE balance <> 0 ORDER BY code"""),
        "journals": rows(url, """
            SELECT request_id, memo FROM ledger_journals WHERE kind = 'bank_disbursement'
            ORDER BY request_id"""),
        "retry_queue": rows(url, """
            SELECT p.id_number, q.reason_code, q.status, q.attempts FROM benefit_retry_queue q
            JOIN benefit_payments p ON p.id = q.payment_id ORDER BY p.id_number"""),
        "texts": rows(url, """
            SELECT count(*), count(DISTINCT subject) FROM sms_messages
            WHERE subject LIKE 'benefit:%%'"""),
        "audit": rows(url, """
            SELECT action, count(*) FROM audit_records
            WHERE action LIKE 'benefits.%%' OR action LIKE 'bank.disbursement%%'
            GROUP BY action ORDER BY action"""),
        "reconciliation_file": [path.read_bytes() for path in recon],
    }
