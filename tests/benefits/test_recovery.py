"""Death stops the pension and recovers what was paid for later months: the card's deceased
retirement (its event) → the pensioner deceased, `stop_payments` from the first unpaid month,
one recovery per overpaid payment (exactly those months), never twice; the bank debit with
its own request id, owed while the bank refuses or cannot debit, recovered once posted."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.benefits.pension_helpers import (
    COUNTER,
    OFFICE,
    BankWithoutDebit,
    DebitingBank,
    Paid,
    PaymentsStandIn,
    at,
    confirm,
    pensioner,
)
from tests.ecard.conftest import chip_directory, quick_argon2  # noqa: F401 - autouse fixtures
from yikatong.audit.models import AuditRecord
from yikatong.benefits import certification, certification_jobs, recovery
from yikatong.benefits.certification_models import PensionRecovery
from yikatong.cards import service as cards
from yikatong.cards.protocols import BankGateway
from yikatong.core.errors import InvalidInput

pytestmark = pytest.mark.db

MONTHLY = 312_550  # ¥3,125.50
DIED_ON = date(2026, 3, 10)


@pytest.fixture
def payments(monkeypatch) -> PaymentsStandIn:
    stand_in = PaymentsStandIn()
    monkeypatch.setattr(recovery, "benefits_service", lambda: stand_in)
    return stand_in


@pytest.fixture
def deceased(platform, clock, payments):
    """A pensioner paid January to July 2026 (June held, July failed), with an unemployment
    payment in April, who died on 10 March; the outlet cancels the card on 20 July."""
    person = pensioner(platform, since=date(2025, 6, 1))
    payments.payments[person.person_id] = [
        *(Paid("pension", f"2026-0{m}", MONTHLY, "posted") for m in range(1, 6)),
        Paid("pension", "2026-06", MONTHLY, "held"),
        Paid("pension", "2026-07", MONTHLY, "failed"),
        Paid("unemployment", "2026-04", 200_000, "posted"),
    ]
    clock.set(at(date(2026, 7, 20)))
    with platform.uow() as uow:
        cards.retire_deceased(uow=uow, actor=COUNTER, card_no=person.card_no,
                              note="死亡证明 No. 123", died_on=DIED_ON)
        uow.commit()
    certification_jobs.deaths_from_outbox(platform)
    return person


def recoveries(platform, person_id: int):
    with platform.uow() as uow:
        return recovery.recoveries_of(uow=uow, person_id=person_id)


def test_death_stops_payments_from_the_month_after_and_recovers_exactly_the_overpaid_months(
        platform, deceased, payments):
    assert payments.stopped == [(deceased.person_id, date(2026, 4, 1), "deceased")]
    found = recoveries(platform, deceased.person_id)
    assert [(r.period, r.amount_fen, r.status) for r in found] == [
        ("2026-04", MONTHLY, "owed"), ("2026-05", MONTHLY, "owed"), ("2026-06", MONTHLY, "owed")]
    assert sum(r.amount_fen for r in found) == 3 * MONTHLY
    assert all(r.died_on == DIED_ON and r.card_no == deceased.card_no for r in found)
    with platform.uow() as uow:
        assert certification.pension_payable(uow, deceased.person_id, "2026-03") is None
        assert certification.pension_payable(uow, deceased.person_id, "2026-04") == "deceased"
        assert certification.payable_person_ids(uow, [deceased.person_id], "2026-04") == set()
        view = certification.eligibility_of(uow=uow, person_id=deceased.person_id)
        assert (view.status, view.died_on) == ("deceased", DIED_ON)
        actions = set(uow.session.execute(select(AuditRecord.action).where(
            AuditRecord.entity_type == "pension")).scalars())
        assert {"pension.deceased", "pension.recoveries_recorded"} <= actions


def test_the_same_death_again_recovers_nothing_twice(platform, deceased, payments):
    certification_jobs.deaths_from_outbox(platform)  # the event read again: already applied
    with platform.uow() as uow:  # a second report, with another date: the first one stands
        outcome = recovery.record_death(uow=uow, actor=OFFICE, person_id=deceased.person_id,
                                        died_on=date(2026, 2, 1))
        uow.commit()
    assert outcome.new_recoveries == 0 and outcome.died_on == DIED_ON
    with platform.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PensionRecovery)) == 3


def test_a_death_with_no_date_given_takes_the_day_of_the_cancellation(platform, clock, payments):
    person = pensioner(platform, since=date(2025, 6, 1))
    payments.payments[person.person_id] = [Paid("pension", "2026-07", MONTHLY, "posted")]
    clock.set(at(date(2026, 7, 20)))
    with platform.uow() as uow:
        cards.retire_deceased(uow=uow, actor=COUNTER, card_no=person.card_no, note="死亡")
        uow.commit()
    certification_jobs.deaths_from_outbox(platform)
    assert recoveries(platform, person.person_id) == []  # July is the month of death: paid
    assert payments.stopped == [(person.person_id, date(2026, 8, 1), "deceased")]


def test_a_date_of_death_in_the_future_is_refused(platform, payments):
    person = pensioner(platform, since=date(2025, 6, 1))
    with platform.uow() as uow, pytest.raises(InvalidInput):
        cards.retire_deceased(uow=uow, actor=COUNTER, card_no=person.card_no, note="x",
                              died_on=date(2030, 1, 1))


def test_a_deceased_person_cannot_be_confirmed(platform, deceased):
    with pytest.raises(certification.PensionerDeceased):
        confirm(platform, COUNTER, deceased.person_id, "outlet", "counter-dead", documents="ID")


def test_the_bank_debits_each_recovery_once_and_a_refusal_stays_owed(platform, deceased):
    bank = DebitingBank(platform.get(BankGateway), refusals=["insufficient_funds"])
    platform.provide(BankGateway, bank)
    with platform.uow() as uow:
        first = recovery.collect(uow=uow, actor=OFFICE)
    assert [(r.period, r.status) for r in first] == [  # the bank refused the first one asked
        ("2026-04", "owed"), ("2026-05", "recovered"), ("2026-06", "recovered")]
    refused = next(r for r in first if r.status == "owed")
    assert refused.last_refusal == "insufficient_funds" and refused.attempts == 1
    with platform.uow() as uow:
        second = recovery.collect(uow=uow, actor=OFFICE)
    assert [(r.id, r.status, r.attempts) for r in second] == [(refused.id, "recovered", 2)]
    with platform.uow() as uow:
        assert recovery.collect(uow=uow, actor=OFFICE) == []  # nothing owed: nothing asked
    assert len(bank.requests) == 4
    ids = [request["request_id"] for request in bank.requests]
    assert len(set(ids)) == 4 and all(i.startswith("recover:pension:") for i in ids)
    assert {r["payee_code"] for r in bank.requests} == {"CZ-SI"}
    assert sum(r["amount_fen"] for r in bank.requests) == 4 * MONTHLY  # 3 posted + 1 refused
    final = recoveries(platform, deceased.person_id)
    assert all(r.status == "recovered" and r.bank_reference for r in final)


def test_without_a_bank_debit_the_recovery_is_recorded_as_owed(platform, deceased):
    platform.provide(BankGateway, BankWithoutDebit(platform.get(BankGateway)))
    with platform.uow() as uow:
        tried = recovery.collect(uow=uow, actor=OFFICE)
    assert {(r.status, r.last_refusal) for r in tried} == {("owed", "bank_debit_unavailable")}


def test_the_office_sees_the_deceased_and_the_recoveries(platform, deceased):
    with platform.uow() as uow:
        assert [v.person_id for v in certification.pensioners(uow=uow, actor=OFFICE,
                                                              status="deceased")] == [deceased.person_id]
        owed = recovery.recoveries(uow=uow, actor=OFFICE, status="owed")
        assert [r.period for r in owed] == ["2026-04", "2026-05", "2026-06"]


def test_the_in_process_bus_applies_the_death_as_the_card_is_cancelled(platform, clock, payments):
    person = pensioner(platform, since=date(2025, 6, 1))
    payments.payments[person.person_id] = [Paid("pension", "2026-05", MONTHLY, "posted")]
    clock.set(at(date(2026, 5, 20)))
    with platform.uow() as uow:
        cards.retire_deceased(uow=uow, actor=COUNTER, card_no=person.card_no, note="死亡",
                              died_on=date(2026, 4, 30))
        uow.commit()  # no catch-up job run: the subscription (certification_wiring) did it
    assert [(r.period, r.status) for r in recoveries(platform, person.person_id)] == [("2026-05", "owed")]
    assert payments.stopped == [(person.person_id, date(2026, 5, 1), "deceased")]


def test_a_payment_that_lands_after_the_death_was_applied_is_recovered_by_the_rescan(
        platform, deceased, payments):
    payments.payments[deceased.person_id].append(Paid("pension", "2026-07", MONTHLY, "posted"))
    with platform.uow() as uow:
        assert recovery.rescan_deceased(uow=uow, actor=OFFICE) == 1
    with platform.uow() as uow:
        assert recovery.rescan_deceased(uow=uow, actor=OFFICE) == 0
    assert [r.period for r in recoveries(platform, deceased.person_id)] == [
        "2026-04", "2026-05", "2026-06", "2026-07"]
