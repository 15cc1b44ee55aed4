"""The reference library system behind LibrarySystem: loans, renewals, holds, fees and the
overdue block, with the example rules (5 items, 30 days, 1 renewal, overdue suspends, no fine);
every change idempotent for the same (reader, item, action, time)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.library.conftest import LIBRARIAN, person_with_card
from yikatong.audit.models import AuditRecord
from yikatong.library import service
from yikatong.library.protocols import LibrarySystem, PatronBlock

pytestmark = pytest.mark.db


def _audits(platform, action: str) -> int:
    from sqlalchemy import func, select

    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(AuditRecord)
                                   .where(AuditRecord.action == action)).scalar_one()


def test_checkout_renew_checkin_with_the_example_rules(lib_platform):
    _, _, _, reader = person_with_card(lib_platform)
    system: LibrarySystem = lib_platform.get(LibrarySystem)
    now = lib_platform.clock.now()  # 2026-03-02 09:30 in Changzhou
    out = system.checkout(reader.reader_no, "CZLIB-0002", now=now)
    assert out.ok and out.due_on == date(2026, 4, 1) and out.item.on_loan_to == reader.reader_no
    again = system.checkout(reader.reader_no, "CZLIB-0002", now=now)  # a retry
    assert again.ok and again.details["already"] and _audits(lib_platform, "library.checkout") == 1
    later = lib_platform.clock.advance(timedelta(days=20))
    renewed = system.renew(reader.reader_no, "CZLIB-0002", now=later)
    assert renewed.ok and renewed.due_on == date(2026, 4, 21)
    assert system.renew(reader.reader_no, "CZLIB-0002", now=later).details["already"]
    second = system.renew(reader.reader_no, "CZLIB-0002", now=later + timedelta(hours=1))
    assert not second.ok and second.code == "renewal_limit" and second.zh and second.en
    account = system.account(reader.reader_no, now=later)
    assert [loan.renewals for loan in account.loans] == [1] and account.loan_limit == 5
    back = system.checkin("CZLIB-0002", now=later, location="总馆")
    assert back.ok and back.fee is None and back.item.on_loan_to is None
    assert system.checkin("CZLIB-0002", now=later).details["already"]
    assert system.checkin("CZLIB-0002", now=later + timedelta(minutes=1)).code == "not_on_loan"
    assert system.account(reader.reader_no, now=later).loans == ()


def test_five_items_at_most_and_another_readers_item_is_refused(lib_platform):
    _, _, _, reader = person_with_card(lib_platform)
    _, _, _, other = person_with_card(lib_platform, name="李其他")
    system = lib_platform.get(LibrarySystem)
    now = lib_platform.clock.now()
    for n in range(1, 6):
        assert system.checkout(reader.reader_no, f"CZLIB-000{n}", now=now).ok
    sixth = system.checkout(reader.reader_no, "CZLIB-0006", now=now)
    assert not sixth.ok and sixth.code == "limit_reached"
    assert PatronBlock.LIMIT_REACHED in system.account(reader.reader_no, now=now).blocks
    taken = system.checkout(other.reader_no, "CZLIB-0001", now=now)
    assert not taken.ok and taken.code == "on_loan_to_other"
    assert system.checkout(other.reader_no, "NO-SUCH", now=now).code == "item_not_found"


def test_an_overdue_item_suspends_borrowing_until_returned_and_costs_nothing_by_default(lib_platform):
    _, _, _, reader = person_with_card(lib_platform)
    system = lib_platform.get(LibrarySystem)
    start = lib_platform.clock.now()
    assert system.checkout(reader.reader_no, "CZLIB-0003", now=start).ok
    late = lib_platform.clock.advance(timedelta(days=31))
    account = system.account(reader.reader_no, now=late)
    assert account.blocks == (PatronBlock.OVERDUE,) and account.loans[0].overdue
    refused = system.checkout(reader.reader_no, "CZLIB-0004", now=late)
    assert not refused.ok and refused.code == "overdue"
    assert system.renew(reader.reader_no, "CZLIB-0003", now=late).code == "overdue"
    back = system.checkin("CZLIB-0003", now=late)
    assert back.ok and back.fee is None  # no cash fine by default
    assert system.checkout(reader.reader_no, "CZLIB-0004", now=late).ok


def test_a_hold_puts_the_returned_item_aside_for_the_reader(lib_platform):
    _, _, _, first = person_with_card(lib_platform)
    _, _, _, second = person_with_card(lib_platform, name="王预约")
    system = lib_platform.get(LibrarySystem)
    now = lib_platform.clock.now()
    assert system.checkout(first.reader_no, "CZLIB-0005", now=now).ok
    assert system.place_hold(second.reader_no, "CZLIB-0005", now=now).ok
    assert system.renew(first.reader_no, "CZLIB-0005", now=now).code == "on_hold"
    back = system.checkin("CZLIB-0005", now=now + timedelta(days=3))
    assert back.ok and back.alert
    assert system.checkout(first.reader_no, "CZLIB-0005", now=now + timedelta(days=3)).code == \
        "on_hold_for_other"
    assert system.account(second.reader_no, now=now).holds[0].ready
    assert system.checkout(second.reader_no, "CZLIB-0005", now=now + timedelta(days=3)).ok
    assert system.account(second.reader_no, now=now).holds == ()


def test_fees_when_charged_block_above_the_limit_and_are_paid_once(lib_platform):
    _, _, _, reader = person_with_card(lib_platform)
    system = lib_platform.get(LibrarySystem)
    now = lib_platform.clock.now()
    with lib_platform.uow() as uow:
        fee = service.charge_fee(uow=uow, actor=LIBRARIAN, reader_no=reader.reader_no,
                                 amount_fen=2500, reason="damaged", item_barcode="CZLIB-0001")
    account = system.account(reader.reader_no, now=now)
    assert account.fees_owed_fen == 2500 and account.blocks == (PatronBlock.FEES_OWED,)
    assert system.checkout(reader.reader_no, "CZLIB-0001", now=now).code == "fees_owed"
    assert system.pay_fee(reader.reader_no, 9999, now=now).code == "bad_amount"
    paid = system.pay_fee(reader.reader_no, 2500, now=now, fee_id=fee.fee_id, transaction_id="T1")
    assert paid.ok and paid.details["fee_ids"] == [fee.fee_id]
    assert system.pay_fee(reader.reader_no, 2500, now=now, transaction_id="T1").details["already"]
    assert system.account(reader.reader_no, now=now).fees == ()
    assert _audits(lib_platform, "library.fee_paid") == 1
    assert system.checkout(reader.reader_no, "CZLIB-0001", now=now).ok


def test_a_hold_not_collected_in_time_lapses(lib_platform):
    _, _, _, first = person_with_card(lib_platform)
    _, _, _, second = person_with_card(lib_platform, name="赵迟到")
    system = lib_platform.get(LibrarySystem)
    now = lib_platform.clock.now()
    assert system.checkout(first.reader_no, "CZLIB-0006", now=now).ok
    assert system.place_hold(second.reader_no, "CZLIB-0006", now=now).ok
    assert system.checkin("CZLIB-0006", now=now).alert
    assert system.checkout(first.reader_no, "CZLIB-0006", now=now + timedelta(days=6)).code == \
        "on_hold_for_other"
    assert system.checkout(first.reader_no, "CZLIB-0006", now=now + timedelta(days=8)).ok
    assert system.account(second.reader_no, now=now).holds == ()
