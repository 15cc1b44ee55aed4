"""A period's run end to end on the platform side, through a fake of the bank's two calls:
payee list → payments → batch files → results → retry queue and notices → reconciliation."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from tests.benefits.conftest import SI_OFFICE, payee, upload
from tests.cards.conftest import act, hand_over, holder, produce, read
from yikatong.audit.models import AuditRecord
from yikatong.benefits import runs, service
from yikatong.benefits.errors import NotYourProgramme, PayeeListExists, PayeeListMissing
from yikatong.benefits.models import Payee, Payment, RetryItem
from yikatong.cards import service as cards
from yikatong.notices.models import SmsMessage

pytestmark = pytest.mark.db


def statuses(platform, period="2026-12"):
    with platform.uow() as uow:
        return {row.id_number: (row.status, row.reason_code, row.attempt, row.card_no)
                for row in uow.session.execute(select(Payment).where(Payment.period == period)).scalars()}


def test_a_run_pays_holds_and_fails_and_reconciles(platform, bank):
    paid_ssn, _, paid_card = payee(platform)
    held_ssn, held_person, _ = payee(platform, activate=False)
    frozen_ssn, frozen_person, frozen_card = payee(platform)
    with platform.uow() as uow:
        bank.frozen.add(cards.get_card(uow=uow, card_no=frozen_card).pan)
    stranger = "320402199001010018"  # no person, so no card
    upload(platform, "unemployment", "2026-12", [(paid_ssn, "王小明", 300000, ""),
                                            (held_ssn, "王小明", 250000, ""),
                                            (frozen_ssn, "王小明", 200000, ""),
                                            (stranger, "李四", 100000, "")])
    view = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert view.state == "reconciled"
    assert view.pay_date.isoformat() == "2026-12-15"
    got = statuses(platform)
    assert got[paid_ssn][:2] == ("posted", None) and got[paid_ssn][3] == paid_card
    assert got[held_ssn][:2] == ("held", None)          # a success: never retried
    assert got[frozen_ssn][:2] == ("failed", "account_frozen")
    assert got[stranger][:2] == ("failed", "no_card")
    rec = view.reconciliation
    assert rec["posted"] == {"count": 1, "fen": 300000}
    assert rec["held"] == {"count": 1, "fen": 250000}
    assert rec["failed"] == {"count": 2, "fen": 300000}
    assert rec["balanced"] and rec["complete"]
    with open(view.reconciliation_file, encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines[0][0] == "#YKT-DISB-RECON-1" and len(lines) == 2 + 4
    with platform.uow() as uow:
        queue = {r.payment_id: r.status for r in uow.session.execute(select(RetryItem)).scalars()}
        assert len(queue) == 2 and set(queue.values()) == {"waiting"}
        texts = uow.session.execute(select(SmsMessage).where(
            SmsMessage.template == "benefit_payment_failed")).scalars().all()
        assert [t.person_id for t in texts] == [frozen_person]
        held_texts = uow.session.execute(select(SmsMessage).where(
            SmsMessage.template == "payment_held")).scalars().all()
        assert [t.person_id for t in held_texts] == [held_person]  # from the result file, once
        batches = runs.batches_of(uow=uow, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
        assert [(b.state, b.row_count) for b in batches] == [("settled", 3)]
        audit = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "benefits.batch_written")).scalar_one()
        assert audit.after["rows"] == 3 and audit.after["sm3"] == batches[0].sm3_hex
        failures = runs.failures_of(uow=uow, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
        assert {f.reason_code for f in failures} == {"account_frozen", "no_card"}
        assert all(stranger not in f.id_number_masked for f in failures)


def test_running_again_pays_nobody_twice(platform, bank):
    people = [payee(platform) for _ in range(3)]
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 100000 + i, "") for i, (ssn, _, _)
                                            in enumerate(people)])
    first = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    again = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert first.reconciliation == again.reconciliation
    assert sum(bank.credited.values()) == 3 and set(bank.credited.values()) == {1}
    assert sum(bank.submissions.values()) == 1
    with platform.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Payment)).scalar_one() == 3


def test_a_bank_that_answers_later_leaves_the_run_open_until_it_does(platform, bank):
    ssn, _, _ = payee(platform)
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 100000, "")])
    bank.answer_later = True
    waiting = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert waiting.state == "paying" and waiting.reconciliation is None
    bank.answer_later = False
    done = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert done.state == "reconciled" and statuses(platform)[ssn][0] == "posted"
    assert bank.submissions["unemployment-2026-12-ICBC-0001"] == 1


def test_an_exchanged_card_takes_over_and_a_retry_pays_into_it(platform, bank):
    ssn, person_id, old_card = payee(platform)
    with platform.uow() as uow:
        bank.frozen.add(cards.get_card(uow=uow, card_no=old_card).pan)
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 100000, "")])
    runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert statuses(platform)[ssn][:2] == ("failed", "account_frozen")
    new_card = produce(platform, person_id=person_id, kind="exchange", predecessor=old_card).card_no
    hand_over(platform, new_card)
    assert runs.retry_failed(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12") == 1
    view = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    status, reason, attempt, card_no = statuses(platform)[ssn]
    assert (status, reason, attempt, card_no) == ("held", None, 2, new_card)  # the new card is not activated yet
    assert view.state == "reconciled" and view.reconciliation["held"]["count"] == 1
    assert sum(bank.credited.values()) == 1


def test_a_formally_lost_card_still_receives(platform, bank):
    ssn, person_id, card_no = payee(platform)
    act(platform, cards.report_loss, actor=holder(person_id), card_no=card_no, kind="formal_loss")
    assert read(platform, card_no).state == "in_use"  # lost, not yet replaced
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 100000, "")])
    runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert statuses(platform)[ssn][0] == "posted"


def test_a_name_that_differs_from_the_bank_fails_name_mismatch(platform, bank):
    ssn, _, _ = payee(platform, name="张三")
    upload(platform, "unemployment", "2026-12", [(ssn, "张叁", 100000, "")])
    runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert statuses(platform)[ssn][:2] == ("failed", "name_mismatch")


def test_payee_list_rules(platform, bank):
    ssn, _, _ = payee(platform)
    first = upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 100000, "")])
    again = upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 100000, "")])
    assert first.id == again.id
    with pytest.raises(PayeeListExists):
        upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 100001, "")])
    with pytest.raises(NotYourProgramme):
        upload(platform, "youth_talent", "2026-12", [(ssn, "王小明", 1, "")])
    with pytest.raises(PayeeListMissing):
        runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2027-01")


def test_holder_sees_own_payments_masked(platform, bank):
    ssn, person_id, _ = payee(platform)
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 123456, "")])
    runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    with platform.uow() as uow:
        [payment] = service.payments_of(uow=uow, person_id=person_id)
    assert (payment.programme, payment.amount_fen, payment.status) == ("unemployment", 123456, "posted")
    assert "*" in payment.account_masked


def test_a_pension_without_its_yearly_confirmation_is_held_back_not_sent(platform, bank):
    ssn, person_id, _ = payee(platform)
    upload(platform, "pension", "2026-12", [(ssn, "王小明", 300000, "")])
    view = runs.run(platform, actor=SI_OFFICE, programme_code="pension", period="2026-12")
    assert statuses(platform)[ssn][:2] == ("failed", "not_certified")
    assert view.reconciliation["failed"] == {"count": 1, "fen": 300000} and view.state == "reconciled"
    assert not bank.submissions  # nothing went to a bank
    with platform.uow() as uow:
        [item] = uow.session.execute(select(RetryItem)).scalars().all()
        assert item.status == "waiting"  # paid once the holder confirms


def test_names_and_memos_with_csv_and_copy_specials_reach_the_list_and_the_file_unchanged(
        platform, bank):
    """The payee list's rows go to the database as COPY text and the bank file is made by the
    server on PostgreSQL (runs._write_file_by_copy): a comma, a quote, a tab or a backslash in
    a name or memo is stored and written as given, and read back by a CSV reader as given."""
    names = ["王,小明", '王"小"明', "王\\小明", "王\t小明"]
    people = [payee(platform) for _ in names]
    memo = "备注,\t\\\"x\""
    upload(platform, "unemployment", "2026-12", [(ssn, name, 100000 + i, memo) for i, ((ssn, _, _), name)
                                                in enumerate(zip(people, names, strict=True))])
    with platform.uow() as uow:
        stored = {(p.name, p.memo) for p in uow.session.execute(select(Payee)).scalars()}
    assert stored == {(name, memo) for name in names}
    view = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert view.state == "reconciled"
    with platform.uow() as uow:
        batches = runs.batches_of(uow=uow, actor=SI_OFFICE, programme_code="unemployment",
                                  period="2026-12")
    written = []
    for batch in batches:
        data = (bank.root / batch.bank_code / "to_bank" / f"{batch.batch_id}.csv").read_bytes()
        written += list(csv.DictReader(io.StringIO(data.decode("utf-8").split("\n", 1)[1],
                                                   newline="")))
    assert sorted(row["name"] for row in written) == sorted(names)  # one row each
