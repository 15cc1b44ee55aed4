"""The kill harness itself, on a tiny resumable command: it dies where it is told to, what was
committed stays, what was not is rolled back by PostgreSQL, and the rerun resumes."""

from __future__ import annotations

import sys

import pytest

from tests.faults.harness import FaultTemplate, Harness, needs_postgres, rows

pytestmark = [pytest.mark.db, pytest.mark.db_unseen, needs_postgres]  # (killed subprocesses)

TINY = [sys.executable, "-m", "tests.faults.tiny", "5"]


@pytest.fixture(scope="module")
def template():
    made = FaultTemplate.build()
    yield made
    made.drop()


@pytest.fixture
def harness(template, tmp_path):
    with template.clone() as url:
        yield Harness(url, tmp_path)


def steps(harness: Harness) -> list[tuple]:
    return rows(harness.database_url, "SELECT step, square FROM fault_tiny ORDER BY step")


def test_a_run_without_a_kill_passes_every_point_in_order(harness):
    points = harness.points(TINY)

    assert points == ["tiny.inside", "tiny.after_commit"] * 5
    assert steps(harness) == [(n, n * n) for n in range(1, 6)]


def test_killed_after_a_commit_keeps_it_and_the_rerun_resumes_from_there(harness):
    killed = harness.killed_at(TINY, "tiny.after_commit@3")

    assert killed.returncode == -9 and "killpoint tiny.after_commit@3" in killed.stderr
    assert killed.stdout == ""  # died before its last line
    assert [step for step, _ in steps(harness)] == [1, 2, 3]
    resumed = harness.completed(TINY)
    assert "resumed after 3" in resumed.stdout
    assert steps(harness) == [(n, n * n) for n in range(1, 6)]


def test_killed_inside_a_transaction_loses_it_to_postgresql_s_rollback(harness):
    harness.killed_at(TINY, "tiny.inside@2")

    assert [step for step, _ in steps(harness)] == [1]
    _, resumed = harness.kill_then_resume(TINY, "tiny.inside@1", resumes=2)
    assert "resumed after 5" in resumed.stdout  # the second rerun found nothing to do
    assert steps(harness) == [(n, n * n) for n in range(1, 6)]


def test_a_kill_that_never_happens_fails_the_test(harness):
    with pytest.raises(AssertionError, match="expected SIGKILL at tiny.nowhere"):
        harness.killed_at(TINY, "tiny.nowhere")
    with pytest.raises(AssertionError, match="expected SIGKILL"):
        harness.killed_at(TINY, "tiny.inside@6")  # reached five times only


def test_ykt_runs_the_platform_s_cli_on_the_clone(harness):
    run = harness.ykt("--help")

    assert run.returncode == 0, run.describe()
    assert "db" in run.stdout and "bank" in run.stdout
