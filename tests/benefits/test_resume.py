"""A run stopped at any step boundary continues to the same result when run again: the
crash is simulated in-process here (an exception where `killpoint` would SIGKILL, so the
step's transaction is lost as a kill loses it); bnfbench's harness kills real processes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.benefits.conftest import SI_OFFICE, payee, upload
from yikatong.benefits import runs
from yikatong.benefits.models import Payment

pytestmark = pytest.mark.db


class Crash(BaseException):
    """Not an Exception: nothing on the way up may catch it, as nothing survives a SIGKILL."""


def outcome(platform):
    with platform.uow() as uow:
        return sorted((p.id_number, p.status, p.reason_code, p.attempt, p.card_no)
                      for p in uow.session.execute(select(Payment)).scalars())


@pytest.mark.parametrize("point", runs.KILLPOINTS)
def test_a_run_killed_at_a_point_resumes_to_the_same_result(platform, bank, monkeypatch, point):
    people = [payee(platform, activate=i % 3 != 0) for i in range(5)]
    with platform.uow() as uow:
        from yikatong.cards.service import get_card

        bank.frozen.add(get_card(uow=uow, card_no=people[1][2]).pan)
    upload(platform, "unemployment", "2026-12",
           [(ssn, "王小明", 100000 + i, "") for i, (ssn, _, _) in enumerate(people)]
           + [("320402199001010018", "李四", 5000, "")])
    hits = []

    def kill_at(name: str) -> None:
        if name == point and not hits:
            hits.append(name)
            raise Crash(name)

    monkeypatch.setattr(runs, "killpoint", kill_at)
    with pytest.raises(Crash):
        runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    view = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert hits == [point]
    assert view.state == "reconciled" and view.reconciliation["balanced"]
    rec = view.reconciliation
    assert (rec["posted"]["count"], rec["held"]["count"], rec["failed"]["count"]) == (2, 2, 2)
    assert set(bank.credited.values()) == {1} and sum(bank.credited.values()) == 4
    assert len(outcome(platform)) == 6
