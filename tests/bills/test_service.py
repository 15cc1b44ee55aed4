"""Payments out end to end through the reference bank (seam 2): declared contributions, exam
fees and utility bills paid from the card account, receipts, refunds through the same path,
idempotency, refusals that change nothing, mandates, and the residents' medical contribution
keeping the medical enrolment current."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.banking.helpers import at_bank, teller
from tests.bills.conftest import (
    ADMIN,
    EXAM_OFFICE,
    GAS,
    SI_OFFICE,
    WATER,
    act,
    balance,
    holder,
    payer,
)
from tests.cards.conftest import row_counts as all_row_counts
from tests.conftest import at_once
from tests.medical.conftest import enrol
from yikatong.audit.models import AuditRecord
from yikatong.banking import service as bank_service
from yikatong.bills import errors, service
from yikatong.bills.models import BillPayment
from yikatong.core.errors import Forbidden, IdempotencyKeyReused
from yikatong.medical import service as medical

pytestmark = pytest.mark.db
TODAY = date(2026, 3, 2)


def flexible_bill(platform, person_id: int, base_fen: int = 800_000, months: int = 1):
    return act(platform, service.declare_flexible, actor=holder(person_id), person_id=person_id,
               base_fen=base_fen, months=months)


def pay(platform, person_id: int, bill_id: int, key: str, **more):
    return act(platform, service.pay_bill, actor=holder(person_id), bill_id=bill_id,
               idempotency_key=key, **({"confirmed": True} | more))


def row_counts(platform) -> dict[str, int]:
    """The platform's rows (on PostgreSQL the reference bank shares the database: its own
    record of a refused request is the bank's, not a change of the platform's)."""
    counts = {name: n for name, n in all_row_counts(platform).items()
              if not name.startswith(("bank_", "ledger_", "audit_"))}
    with platform.uow() as uow:
        counts["platform audit records"] = uow.session.query(AuditRecord).filter(
            AuditRecord.role != "bank", ~AuditRecord.entity_type.startswith("bank")).count()
    return counts


def texts_to(uow, person_id: int, template: str) -> list:
    from yikatong.notices.service import list_messages

    return list_messages(uow=uow, person_id=person_id, template=template)


def audit_actions(platform, entity_type: str, entity_id) -> list[str]:
    with platform.uow() as uow:
        return list(uow.session.execute(select(AuditRecord.action).where(
            AuditRecord.entity_type == entity_type, AuditRecord.entity_id == str(entity_id))
            .order_by(AuditRecord.seq)).scalars())


def test_a_flexible_contribution_is_paid_from_the_card_account_with_a_receipt(bank_platform, bank):
    _, person_id, card = payer(bank_platform, bank)
    bill = flexible_bill(bank_platform, person_id)
    assert (bill.amount_fen, bill.period, bill.status, bill.payee_code) == (160_000, "2026-03", "due", "CZ-SI")
    receipt = pay(bank_platform, person_id, bill.id, "click-1")
    assert balance(bank, card) == 500_000 - 160_000
    assert receipt.receipt_no.startswith("JF20260302") and receipt.amount_fen == 160_000
    assert receipt.account_masked != card.pan and receipt.account_masked.endswith(card.pan[-4:])
    assert "*" in receipt.payer_masked and receipt.authorisation == "once:click-1"
    assert receipt.status == "paid" and receipt.bank_reference
    with bank_platform.uow() as uow:
        assert service.get_bill(uow=uow, actor=holder(person_id), bill_id=bill.id).status == "paid"
        assert [r.receipt_no for r in service.receipts_of(uow=uow, actor=holder(person_id),
                                                          person_id=person_id)] == [receipt.receipt_no]
    assert audit_actions(bank_platform, "bill", bill.id) == ["bill.issued", "bill.paid"]


def test_a_double_click_or_a_retry_pays_once_and_returns_the_same_receipt(bank_platform, bank):
    _, person_id, card = payer(bank_platform, bank)
    bill = flexible_bill(bank_platform, person_id)
    first = pay(bank_platform, person_id, bill.id, "same-key")
    again = pay(bank_platform, person_id, bill.id, "same-key")
    assert again == first
    assert balance(bank, card) == 500_000 - 160_000
    with bank_platform.uow() as uow:
        assert uow.session.query(BillPayment).count() == 1
    with pytest.raises(errors.BillNotPayable):  # a second key for a paid bill
        pay(bank_platform, person_id, bill.id, "other-key")
    other = act(bank_platform, service.declare_resident, actor=holder(person_id), person_id=person_id,
                kind="resident_pension", year=2026, grade_fen=30_000)
    with pytest.raises(IdempotencyKeyReused):  # the key of another bill's payment
        pay(bank_platform, person_id, other.id, "same-key")
    assert balance(bank, card) == 500_000 - 160_000


def test_a_crash_after_the_bank_paid_is_recovered_by_the_retry_without_paying_twice(bank_platform, bank):
    """The bank's answer is final for its request id: the platform's transaction failing after
    it (nothing recorded) and the retry with the same key records the payment once."""
    _, person_id, card = payer(bank_platform, bank)
    bill = flexible_bill(bank_platform, person_id)
    with bank_platform.uow() as uow:  # paid at the bank, then the platform never commits
        original = uow.commit
        uow.commit = lambda: None
        service.pay_bill(uow=uow, actor=holder(person_id), bill_id=bill.id,
                         idempotency_key="crash", confirmed=True)
        uow.commit = original
    assert balance(bank, card) == 340_000
    with bank_platform.uow() as uow:
        assert uow.session.query(BillPayment).count() == 0
    receipt = pay(bank_platform, person_id, bill.id, "crash")
    assert receipt.status == "paid" and balance(bank, card) == 340_000


@pytest.mark.parametrize("case, refusal", [
    ("not_activated", errors.AccountNotActivated),
    ("insufficient", errors.InsufficientFunds),
    ("lost", errors.CardLost),
])
def test_a_refusal_is_clear_and_changes_nothing(bank_platform, bank, case, refusal):
    _, person_id, card = payer(bank_platform, bank, activate=case != "not_activated",
                               money=1_000 if case == "insufficient" else 500_000)
    if case == "lost":
        at_bank(bank, bank_service.report_loss_at_branch, actor=teller(), bank_code=card.bank_code,
                pan=card.pan, kind="formal_loss")
    bill = flexible_bill(bank_platform, person_id)
    before, money = row_counts(bank_platform), balance(bank, card) if case != "not_activated" else 0
    with pytest.raises(refusal) as refused:
        pay(bank_platform, person_id, bill.id, f"try-{case}")
    assert refused.value.http_status == 409 and refused.value.message_zh and refused.value.message_en
    assert row_counts(bank_platform) == before
    if case != "not_activated":
        assert balance(bank, card) == money


def test_without_confirmation_or_mandate_nothing_is_paid(bank_platform, bank):
    _, person_id, card = payer(bank_platform, bank)
    bill = flexible_bill(bank_platform, person_id)
    with pytest.raises(errors.ConfirmationRequired):
        pay(bank_platform, person_id, bill.id, "k", confirmed=False)
    with pytest.raises(Forbidden):  # the card centre cannot consent for the holder
        act(bank_platform, service.pay_bill, actor=ADMIN, bill_id=bill.id, idempotency_key="a",
            confirmed=True)
    with pytest.raises(Forbidden):
        act(bank_platform, service.create_mandate, actor=ADMIN, person_id=person_id, payee_code="CZ-SI")
    assert balance(bank, card) == 500_000


def test_another_holder_cannot_see_or_pay_the_bill(bank_platform, bank):
    _, person_id, _ = payer(bank_platform, bank)
    _, stranger, _ = payer(bank_platform, bank)
    bill = flexible_bill(bank_platform, person_id)
    with pytest.raises(errors.BillNotFound):
        pay(bank_platform, stranger, bill.id, "k")
    with pytest.raises(errors.BillNotFound), bank_platform.uow() as uow:
        service.bills_of(uow=uow, actor=holder(stranger), person_id=person_id)


def test_a_utility_bill_is_posted_paid_read_by_its_biller_and_refunded_the_same_way(bank_platform, bank):
    ssn, person_id, card = payer(bank_platform, bank)
    posted = act(bank_platform, service.post_utility_bill, actor=WATER, id_number=ssn,
                 account_ref="W-0001", bill_no="W202602-0001", period="2026-02", amount_fen=4_560,
                 due_date=date(2026, 3, 15))
    again = act(bank_platform, service.post_utility_bill, actor=WATER, id_number=ssn,
                account_ref="W-0001", bill_no="W202602-0001", period="2026-02", amount_fen=4_560,
                due_date=date(2026, 3, 15))
    assert again.id == posted.id and posted.kind == "utility" and "水费" in posted.title_zh
    with pytest.raises(errors.AlreadyDue):  # the same bill number with another amount
        act(bank_platform, service.post_utility_bill, actor=WATER, id_number=ssn, account_ref="W-0001",
            bill_no="W202602-0001", period="2026-02", amount_fen=9_999, due_date=date(2026, 3, 15))
    receipt = pay(bank_platform, person_id, posted.id, "water-1")
    assert balance(bank, card) == 500_000 - 4_560
    with bank_platform.uow() as uow:
        assert [r.receipt_no for r in service.payee_receipts(uow=uow, actor=WATER)] == [receipt.receipt_no]
        assert service.payee_receipts(uow=uow, actor=GAS) == []
    with pytest.raises(errors.PaymentNotFound):  # another biller's payment
        act(bank_platform, service.refund, actor=GAS, receipt_no=receipt.receipt_no, reason="x")
    refunded = act(bank_platform, service.refund, actor=WATER, receipt_no=receipt.receipt_no,
                   reason="抄表错误 / meter misread")
    assert refunded.status == "refunded" and refunded.refunded_at is not None
    assert balance(bank, card) == 500_000
    with pytest.raises(errors.NotRefundable):
        act(bank_platform, service.refund, actor=WATER, receipt_no=receipt.receipt_no, reason="again")
    assert balance(bank, card) == 500_000
    assert audit_actions(bank_platform, "bill", posted.id) == ["bill.issued", "bill.paid", "bill.refunded"]
    with bank_platform.uow() as uow:
        texts = texts_to(uow, person_id, "bill_refunded")
    assert len(texts) == 1 and receipt.receipt_no in texts[0].text_zh and "45.60" in texts[0].text_en


def test_the_residents_medical_contribution_keeps_the_medical_enrolment_current(bank_platform, bank):
    _, person_id, card = payer(bank_platform, bank)
    with bank_platform.uow() as uow:
        assert medical.enrolment_on(uow=uow, person_id=person_id, day=TODAY) is None
    this_year = act(bank_platform, service.declare_resident, actor=holder(person_id),
                    person_id=person_id, kind="resident_medical", year=2026)
    assert this_year.amount_fen == 40_000 and this_year.payee_code == "CZ-MI"
    pay(bank_platform, person_id, this_year.id, "med-2026")
    with bank_platform.uow() as uow:
        period = medical.enrolment_on(uow=uow, person_id=person_id, day=TODAY)
        assert period is not None and period.scheme == "390" and period.end_date is None
        assert period.start_date == TODAY
        assert medical.enrolment_on(uow=uow, person_id=person_id, day=date(2026, 12, 31)) is not None
    next_year = act(bank_platform, service.declare_resident, actor=holder(person_id),
                    person_id=person_id, kind="resident_medical", year=2027)
    pay(bank_platform, person_id, next_year.id, "med-2027")  # already covered: no new period
    with bank_platform.uow() as uow:
        assert len(medical.enrolments(uow=uow, person_id=person_id)) == 1
    assert balance(bank, card) == 500_000 - 80_000


def test_an_employee_insured_person_is_refused_before_any_money_moves(bank_platform, bank):
    _, person_id, card = payer(bank_platform, bank)
    enrol(bank_platform, person_id, scheme="310", start=date(2026, 1, 1))
    bill = act(bank_platform, service.declare_resident, actor=holder(person_id), person_id=person_id,
               kind="resident_medical", year=2026)
    with pytest.raises(errors.EmployeeInsured):
        pay(bank_platform, person_id, bill.id, "med")
    assert balance(bank, card) == 500_000
    with bank_platform.uow() as uow:
        assert medical.enrolment_on(uow=uow, person_id=person_id, day=TODAY).scheme == "310"


def test_an_exam_cancelled_refunds_every_fee_paid_and_withdraws_the_unpaid(bank_platform, bank):
    _, first, first_card = payer(bank_platform, bank)
    _, second, second_card = payer(bank_platform, bank)
    act(bank_platform, service.create_exam, actor=EXAM_OFFICE, code="PT-TEST", name_zh="测试考试",
        name_en="Test exam", exam_date=date(2026, 5, 10), subjects=["A", "B", "C"])
    paid = act(bank_platform, service.register_exam, actor=holder(first), person_id=first,
               exam_code="PT-TEST", subjects=["A", "B"])
    assert paid.amount_fen == 10_000 and paid.due_date == date(2026, 5, 9)
    receipt = pay(bank_platform, first, paid.id, "exam-1")
    due = act(bank_platform, service.register_exam, actor=holder(second), person_id=second,
              exam_code="PT-TEST", subjects=["C"])
    assert balance(bank, first_card) == 490_000
    with pytest.raises(Forbidden):  # a holder cannot cancel an exam
        act(bank_platform, service.cancel_exam, actor=holder(first), exam_code="PT-TEST", reason="x")
    exam, refunded = act(bank_platform, service.cancel_exam, actor=EXAM_OFFICE, exam_code="PT-TEST",
                         reason="考场不可用 / venue unavailable")
    assert exam.status == "cancelled" and refunded == [receipt.receipt_no]
    assert balance(bank, first_card) == 500_000 and balance(bank, second_card) == 500_000
    with bank_platform.uow() as uow:
        assert service.get_bill(uow=uow, actor=ADMIN, bill_id=paid.id).status == "refunded"
        assert service.get_bill(uow=uow, actor=ADMIN, bill_id=due.id).status == "cancelled"
    with pytest.raises(errors.ExamCancelled):
        act(bank_platform, service.register_exam, actor=holder(second), person_id=second,
            exam_code="PT-TEST", subjects=["A"])
    assert audit_actions(bank_platform, "exam_session", "PT-TEST") == ["exam.opened", "exam.cancelled"]


def test_a_mandate_pays_the_bills_due_within_its_limit_once_and_stops_when_revoked(bank_platform, bank):
    ssn, person_id, card = payer(bank_platform, bank)
    mandate = act(bank_platform, service.create_mandate, actor=holder(person_id), person_id=person_id,
                  payee_code="CZ-WATER", limit_fen=10_000)
    with pytest.raises(errors.MandateExists):
        act(bank_platform, service.create_mandate, actor=holder(person_id), person_id=person_id,
            payee_code="CZ-WATER")

    def post(no: str, amount: int, due: date):
        return act(bank_platform, service.post_utility_bill, actor=WATER, id_number=ssn,
                   account_ref="W-9", bill_no=no, period="2026-02", amount_fen=amount, due_date=due)

    small = post("W-1", 3_000, TODAY)
    large = post("W-2", 20_000, TODAY)         # above the limit: stays due for the holder
    later = post("W-3", 3_000, date(2026, 3, 20))  # not due yet
    ticks = []
    run = service.run_mandates(uows=bank_platform.uow, day=TODAY, progress=lambda d, t: ticks.append((d, t)))
    assert len(run.paid) == 1 and run.refused == {} and ticks == [(1, 1)]
    rerun = service.run_mandates(uows=bank_platform.uow, day=TODAY)
    assert rerun.paid == [] and balance(bank, card) == 497_000
    with bank_platform.uow() as uow:
        statuses = {b.id: b.status for b in service.bills_of(uow=uow, actor=holder(person_id),
                                                              person_id=person_id)}
        receipt = service.get_receipt(uow=uow, actor=holder(person_id), receipt_no=run.paid[0])
    assert statuses == {small.id: "paid", large.id: "due", later.id: "due"}
    assert receipt.authorisation == f"mandate:{mandate.id}"
    act(bank_platform, service.revoke_mandate, actor=holder(person_id), mandate_id=mandate.id)
    assert service.run_mandates(uows=bank_platform.uow, day=date(2026, 3, 31)).paid == []
    with pytest.raises(errors.MandateRevoked):
        act(bank_platform, service.revoke_mandate, actor=holder(person_id), mandate_id=mandate.id)


def a_bill_its_mandate_cannot_pay(bank_platform, bank):
    """A 50-yuan gas bill due today under the holder's mandate, the account holding 10 yuan:
    (person id, card, bill)."""
    ssn, person_id, card = payer(bank_platform, bank, money=1_000)
    act(bank_platform, service.create_mandate, actor=holder(person_id), person_id=person_id,
        payee_code="CZ-GAS")
    bill = act(bank_platform, service.post_utility_bill, actor=GAS, id_number=ssn, account_ref="G-1",
               bill_no="G-1", period="2026-02", amount_fen=5_000, due_date=TODAY)
    return person_id, card, bill


def test_a_mandate_run_counts_a_refusal_and_leaves_the_bill_due(bank_platform, bank):
    person_id, card, bill = a_bill_its_mandate_cannot_pay(bank_platform, bank)
    run = service.run_mandates(uows=bank_platform.uow, day=TODAY)
    assert run.paid == [] and run.refused == {bill.id: "bill_insufficient_funds"}
    service.run_mandates(uows=bank_platform.uow, day=TODAY)  # the day rerun: no second text
    with bank_platform.uow() as uow:
        assert service.get_bill(uow=uow, actor=ADMIN, bill_id=bill.id).status == "due"
        texts = texts_to(uow, person_id, "bill_mandate_refused")
    assert len(texts) == 1 and "50.00" in texts[0].text_zh and "余额不足" in texts[0].text_zh


def test_the_social_insurance_office_reads_only_the_payments_made_to_it(bank_platform, bank):
    ssn, person_id, _ = payer(bank_platform, bank)
    pay(bank_platform, person_id, flexible_bill(bank_platform, person_id).id, "si")
    water = act(bank_platform, service.post_utility_bill, actor=WATER, id_number=ssn, account_ref="W",
                bill_no="W-si", period="2026-02", amount_fen=100, due_date=TODAY)
    pay(bank_platform, person_id, water.id, "w")
    with bank_platform.uow() as uow:
        seen = service.payee_receipts(uow=uow, actor=SI_OFFICE)
    assert [r.payee_code for r in seen] == ["CZ-SI"]


def test_two_requests_with_the_same_key_at_the_same_time_pay_once(bank_platform, bank):
    """A double click arriving twice at once: the second waits for the bill's lock and
    answers the first one's receipt."""

    _, person_id, card = payer(bank_platform, bank)
    bill = flexible_bill(bank_platform, person_id)

    def click():
        return pay(bank_platform, person_id, bill.id, "together")

    answers = at_once(click, click)
    assert not any(isinstance(answer, Exception) for answer in answers), answers
    assert answers[0] == answers[1]
    assert balance(bank, card) == 500_000 - 160_000
    with bank_platform.uow() as uow:
        assert uow.session.query(BillPayment).count() == 1


def test_a_guardian_pays_a_childs_exam_fee_from_the_childs_card_account(bank_platform, bank):
    """The child's current live card's account pays (people.guardians.may_act_for), and the
    audit record names the child acted for; someone not linked cannot."""
    from tests.banking.helpers import produce, register_pan
    from tests.people.test_guardians import CHILD_BORN, OUTLET, person
    from yikatong.banking import payments
    from yikatong.people import guardians

    _, parent, parent_card = payer(bank_platform, bank)
    child = person(bank_platform, CHILD_BORN.replace(year=2014), 32)
    child_card = produce(bank_platform, person_id=child)
    register_pan(bank, child_card)
    at_bank(bank, bank_service.activate_at_branch, actor=teller(), bank_code=child_card.bank_code,
            pan=child_card.pan, id_document_checked=True, card_checked=True)
    at_bank(bank, payments.deposit, actor=teller(), bank_code=child_card.bank_code, pan=child_card.pan,
            amount_fen=20_000, request_id=f"cash-{child_card.card_no}")
    _, stranger, _ = payer(bank_platform, bank)
    with bank_platform.uow() as uow:
        guardians.link_guardian(uow=uow, actor=OUTLET, guardian_person_id=parent,
                                child_person_id=child, relation="parent", documents=("household_register",))
        uow.commit()
    act(bank_platform, service.create_exam, actor=EXAM_OFFICE, code="PT-KID", name_zh="考试",
        name_en="Exam", exam_date=date(2026, 7, 1), subjects=["A"])
    with pytest.raises(errors.BillNotFound):
        act(bank_platform, service.register_exam, actor=holder(stranger), person_id=child,
            exam_code="PT-KID", subjects=["A"])
    bill = act(bank_platform, service.register_exam, actor=holder(parent), person_id=child,
               exam_code="PT-KID", subjects=["A"])
    receipt = pay(bank_platform, parent, bill.id, "kid")
    assert balance(bank, child_card) == 15_000 and balance(bank, parent_card) == 500_000
    assert receipt.account_masked.endswith(child_card.pan[-4:])
    with bank_platform.uow() as uow:
        record = uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "bill", AuditRecord.entity_id == str(bill.id),
            AuditRecord.action == "bill.paid")).scalar_one()
    assert record.after["acting_for_person_id"] == child and record.actor_id == f"holder{parent}"


def test_the_worker_job_pays_the_mandates_due_today_and_is_listed(bank_platform, bank):
    from yikatong.bills.jobs import JOBS, pay_mandates_due
    from yikatong.worker.runner import all_jobs

    assert {job.name for job in JOBS} <= {job.name for job in all_jobs()}
    ssn, person_id, card = payer(bank_platform, bank)
    act(bank_platform, service.create_mandate, actor=holder(person_id), person_id=person_id,
        payee_code="CZ-POWER")
    act(bank_platform, service.post_utility_bill, actor=ADMIN, payee_code="CZ-POWER", id_number=ssn,
        account_ref="E-1", bill_no="E-job", period="2026-02", amount_fen=7_950, due_date=TODAY)
    assert pay_mandates_due(bank_platform) == 1
    assert pay_mandates_due(bank_platform) == 0
    assert balance(bank, card) == 500_000 - 7_950


def test_a_person_without_a_live_card_is_refused_before_the_bank_is_asked(bank_platform, bank):
    from tests.medical.conftest import registered

    _, person_id = registered(bank_platform, name="无卡人")
    bill = flexible_bill(bank_platform, person_id)
    before = row_counts(bank_platform)
    with pytest.raises(errors.NoLiveCard) as refused:
        pay(bank_platform, person_id, bill.id, "no-card")
    assert refused.value.http_status == 409 and row_counts(bank_platform) == before


def test_after_a_replacement_the_new_cards_account_pays(bank_platform, bank):
    """The current live card is the one paid from: the old card's account (lost, then the card
    replaced) is never asked."""
    from tests.banking.helpers import produce, register_pan
    from yikatong.banking import payments

    _, person_id, old = payer(bank_platform, bank)
    at_bank(bank, bank_service.report_loss_at_branch, actor=teller(), bank_code=old.bank_code,
            pan=old.pan, kind="formal_loss")
    new = produce(bank_platform, person_id=person_id, kind="replacement", predecessor=old.card_no)
    register_pan(bank, new)
    at_bank(bank, bank_service.activate_at_branch, actor=teller(), bank_code=new.bank_code,
            pan=new.pan, id_document_checked=True, card_checked=True)
    at_bank(bank, payments.deposit, actor=teller(), bank_code=new.bank_code, pan=new.pan,
            amount_fen=200_000, request_id=f"cash-{new.card_no}")
    receipt = pay(bank_platform, person_id, flexible_bill(bank_platform, person_id).id, "after-replacement")
    assert receipt.account_masked.endswith(new.pan[-4:])
    assert balance(bank, new) == 200_000 - 160_000 and balance(bank, old) == 500_000
