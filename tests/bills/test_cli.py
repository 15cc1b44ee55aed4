"""`ykt bills …` on the test's platform: the reference utility bills card holders (again: the
same bills), the mandates due are paid with a progress bar, exams are loaded and cancelled."""

from __future__ import annotations

import pytest

from tests.bills.conftest import act, balance, holder, payer
from tests.conftest import cli_on
from yikatong.bills import service

pytestmark = pytest.mark.db


def test_reference_bills_mandates_and_exams_from_the_command_line(bank_platform, bank, monkeypatch):
    run = cli_on(bank_platform, monkeypatch)
    _, person_id, card = payer(bank_platform, bank)
    act(bank_platform, service.create_mandate, actor=holder(person_id), person_id=person_id,
        payee_code="CZ-WATER")
    issued = run("bills", "issue-reference", "--biller", "CZ-WATER", "--period", "2026-02")
    assert issued.exit_code == 0, issued.output
    assert "issued: 1 bills" in issued.output
    assert run("bills", "issue-reference", "--biller", "CZ-WATER", "--period", "2026-02").exit_code == 0
    with bank_platform.uow() as uow:
        bills = service.bills_of(uow=uow, actor=holder(person_id), person_id=person_id)
    assert len(bills) == 1 and bills[0].due_date.isoformat() == "2026-03-15"
    assert bills[0].amount_fen % 335 == 0  # usage × the example tariff
    early = run("bills", "run-mandates", "--day", "2026-03-14")
    assert early.exit_code == 0 and "paid: 0" in early.output
    paid = run("bills", "run-mandates", "--day", "2026-03-15")
    assert paid.exit_code == 0 and "paid: 1" in paid.output, paid.output
    assert balance(bank, card) == 500_000 - bills[0].amount_fen
    receipts = run("bills", "receipts", "--payee", "CZ-WATER")
    assert receipts.exit_code == 0 and "JF" in receipts.output
    unknown = run("bills", "issue-reference", "--biller", "CZ-NOPE", "--period", "2026-02")
    assert unknown.exit_code == 1 and "bill_unknown_payee" in unknown.output
    assert run("bills", "exams", "load").exit_code == 0
    listed = run("bills", "exams", "list")
    assert "PT-2026-ACC" in listed.output
    cancelled = run("bills", "exams", "cancel", "PT-2026-ACC", "--reason", "test")
    assert cancelled.exit_code == 0 and "refunded 0" in cancelled.output
    again = run("bills", "exams", "cancel", "PT-2026-ACC", "--reason", "test")
    assert again.exit_code == 1 and "exam_cancelled" in again.output
