"""Properties of a period's run over generated payee lists, populations and batch sizes:
paid + held + failed = the programme's total due; no payee is paid twice (not in the
platform's payments, not at the bank, not on a re-run); an exchanged card's payments land on
the new card's account."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.benefits.conftest import SI_OFFICE, payee, upload
from tests.cards.conftest import hand_over, produce
from yikatong.benefits import catalogue, runs
from yikatong.benefits.models import Payment
from yikatong.cards.service import get_card

pytestmark = pytest.mark.db

KINDS = ("active", "inactive", "frozen", "exchanged", "no_card", "renamed")
_periods = itertools.count(0)


def population(platform, bank) -> dict[str, list[tuple[str, str, str | None]]]:
    """Two people of each kind: (ID number, name to send, the account they must land on)."""
    people: dict[str, list] = {kind: [] for kind in KINDS}
    for kind in KINDS:
        for n in range(2):
            if kind == "no_card":
                people[kind].append((f"32040219900101{n:03d}X"[:18], "无卡", None))
                continue
            ssn, person_id, card_no = payee(platform, activate=kind != "inactive")
            if kind == "exchanged":
                card_no = produce(platform, person_id=person_id, kind="exchange",
                                  predecessor=card_no).card_no
                hand_over(platform, card_no)
            with platform.uow() as uow:
                pan = get_card(uow=uow, card_no=card_no).pan
            if kind == "frozen":
                bank.frozen.add(pan)
            name = "王小明" if kind != "renamed" else "王晓明"
            people[kind].append((ssn, name, pan))
    return people


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_payee_is_accounted_for_once(platform, bank, monkeypatch, data):
    people = getattr(platform, "_benefit_people", None)
    if people is None:
        people = platform._benefit_people = population(platform, bank)
    everyone = [p for group in people.values() for p in group]
    chosen = data.draw(st.lists(st.sampled_from(everyone), min_size=1, max_size=len(everyone),
                                unique_by=lambda p: p[0]))
    amounts = data.draw(st.lists(st.integers(1, 10**7), min_size=len(chosen), max_size=len(chosen)))
    cap = data.draw(st.integers(1, 5))
    book = dataclasses.replace(catalogue.packaged_programmes(), batch_rows=cap)
    monkeypatch.setattr(runs, "packaged_programmes", lambda: book)
    index = next(_periods)
    period = f"{2030 + index // 12}-{index % 12 + 1:02d}"
    upload(platform, "unemployment", period,
           [(ssn, name, amount, "") for (ssn, name, _), amount in zip(chosen, amounts, strict=True)])
    before = Counter(bank.credited)
    first = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period=period)
    again = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period=period)

    rec = first.reconciliation
    assert rec == again.reconciliation and rec["complete"]
    assert rec["due"] == {"count": len(chosen), "fen": sum(amounts)}
    assert (rec["posted"]["fen"] + rec["held"]["fen"] + rec["failed"]["fen"]) == sum(amounts)
    credited = Counter(bank.credited) - before
    assert all(n == 1 for n in credited.values())
    with platform.uow() as uow:
        payments = uow.session.execute(select(Payment).where(Payment.period == period)).scalars().all()
    assert len({p.id_number for p in payments}) == len(payments) == len(chosen)
    assert sum(credited.values()) == sum(p.status in ("posted", "held") for p in payments)
    landed = {p.id_number: p for p in payments}
    expected = {"active": "posted", "inactive": "held", "frozen": "failed", "exchanged": "held",  # a new card: not yet activated
                "no_card": "failed", "renamed": "failed"}
    for kind, group in people.items():
        for ssn, _name, pan in group:
            if ssn in landed:
                assert landed[ssn].status == expected[kind], (kind, landed[ssn].reason_code)
                if kind == "exchanged":
                    assert landed[ssn].pan == pan  # the new card's account, never the old one
    assert max((b.row_count for b in runs_batches(platform, period)), default=0) <= cap


def runs_batches(platform, period):
    with platform.uow() as uow:
        return runs.batches_of(uow=uow, actor=SI_OFFICE, programme_code="unemployment", period=period)
