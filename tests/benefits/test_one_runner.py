"""One runner of a period's run at a time: a second caller (a second click, the CLI beside
the API) is refused at once with RunInProgress and changes nothing. Two runners at once used
to each trust the batch states read when they began: on SQLite the second rewrote a settled
batch's file with no rows and every later run failed ("0 of 8 rows matched"); on PostgreSQL
the second crashed on the run's unique key (a 500)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.benefits.conftest import SI_OFFICE, payee, upload
from tests.conftest import at_once
from yikatong.benefits import runs
from yikatong.benefits.errors import RunInProgress
from yikatong.benefits.models import Payment, Run
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
PERIOD = "2026-12"


def payees(platform, count: int) -> None:
    people = [payee(platform, activate=i % 3 != 0) for i in range(count)]
    upload(platform, "unemployment", PERIOD,
           [(ssn, "王小明", 100000 + i, "") for i, (ssn, _, _) in enumerate(people)])


def run(platform):
    return runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period=PERIOD)


def test_while_the_run_is_held_a_second_caller_is_refused_and_changes_nothing(platform, bank):
    payees(platform, 3)
    with runs._alone(platform, "unemployment", PERIOD):
        with pytest.raises(RunInProgress) as refused:
            run(platform)
        with pytest.raises(RunInProgress):
            runs.retry_failed(platform, actor=SI_OFFICE, programme_code="unemployment",
                              period=PERIOD)
        assert refused.value.to_problem()["status"] == 409
        with platform.uow(read_only=True) as uow:
            assert uow.session.scalar(select(func.count()).select_from(Run)) == 0
        # another period of the same programme is another run
        with runs._alone(platform, "unemployment", "2027-01"):
            pass
    assert run(platform).state == "reconciled"  # released when the holder is done


def test_two_runners_at_once_end_in_one_reconciled_run_paying_everyone_once(platform, bank):
    payees(platform, 8)
    outcomes = at_once(lambda: run(platform), lambda: run(platform))
    refused_or_failed = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, RunInProgress) for o in refused_or_failed), outcomes
    assert len(refused_or_failed) < 2
    again = run(platform)
    assert again.state == "reconciled" and again.reconciliation["balanced"]
    assert (again.reconciliation["posted"]["count"], again.reconciliation["held"]["count"]) == (5, 3)
    assert set(bank.credited.values()) == {1} and sum(bank.credited.values()) == 8  # held too
    with platform.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Payment)) == 8


def test_the_api_answers_409_while_the_run_is_held(platform, bank, client, login):
    payees(platform, 1)
    with runs._alone(platform, "unemployment", PERIOD):
        answer = client.post(f"/api/v1/benefits/programmes/unemployment/periods/{PERIOD}/run",
                             headers=login(Role.PAYING_OFFICE, branch_code="CZ-SI"))
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "benefits_run_in_progress"
    assert "正在" in answer.json()["title"] and "in progress" not in answer.json()["title"]
    assert "another request" in answer.json()["title_en"]
