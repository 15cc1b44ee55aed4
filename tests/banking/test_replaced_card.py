"""A replaced card is dead on every door of its bank too (issue 10): told by the platform's
`card.retired` event, the reference bank records the retirement, refuses to unblock, activate
or pay with the old card, and does with the old account what its declared policy says."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.banking.helpers import act, at_bank, produce, teller
from tests.banking.test_accounts import activated, pay
from tests.cards.conftest import CITIZEN_OUTLET
from yikatong.audit.models import AuditRecord
from yikatong.banking import service
from yikatong.banking.errors import CardReplaced
from yikatong.banking.models import BankAccount
from yikatong.banking.policy import ReplacedCardAction, replaced_card_action
from yikatong.cards import service as cards
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
BRANCH_LOSS = "formal_loss"


def replaced(platform, bank, *, person_id: int, bank_code: str = "ICBC"):
    """An activated card formally reported lost at the bank, then replaced and handed over."""
    old = activated(platform, bank, person_id=person_id, bank_code=bank_code)
    at_bank(
        bank,
        service.report_loss_at_branch,
        actor=teller(bank_code),
        bank_code=bank_code,
        pan=old.pan,
        kind=BRANCH_LOSS,
    )
    new = produce(
        platform,
        person_id=person_id,
        bank_code=bank_code,
        kind="replacement",
        predecessor=old.card_no,
    )
    return old, new


def bank_account(bank, card) -> BankAccount:
    with bank.uow() as uow:
        return uow.session.execute(
            select(BankAccount).where(
                BankAccount.bank_code == card.bank_code, BankAccount.card_no == card.card_no
            )
        ).scalar_one()


def test_the_bank_records_the_retirement_of_a_replaced_card(bank_platform, bank):
    old, new = replaced(bank_platform, bank, person_id=61)
    account = bank_account(bank, old)
    assert (account.retired_reason, account.successor_card_no) == ("replaced", new.card_no)
    assert account.retired_at is not None


def test_the_banks_unblock_door_refuses_a_replaced_card(bank_platform, bank):
    old, new = replaced(bank_platform, bank, person_id=62)
    with pytest.raises(CardReplaced) as refused:
        at_bank(bank, service.unblock_at_branch, actor=teller(), bank_code="ICBC", pan=old.pan)
    assert refused.value.code == "bank_card_replaced"
    assert refused.value.http_status == 409
    assert new.card_no in refused.value.message_zh
    assert bank_account(bank, old).status == "formal_loss"  # nothing changed


def test_the_banks_branch_api_refuses_the_unblock_with_409(bank_platform, bank, client, login):
    old, _ = replaced(bank_platform, bank, person_id=63)
    icbc = login(Role.BANK, bank_code="ICBC", branch_code="ICBC-CZ-001", channel="bank_branch")
    response = client.post(f"/api/v1/banks/ICBC/accounts/{old.pan}/unblock", headers=icbc)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "bank_card_replaced"


def test_payments_and_activation_with_a_replaced_card_are_refused(bank_platform, bank):
    old, _ = replaced(bank_platform, bank, person_id=64)
    with bank.uow() as uow:  # even if the loss were gone, the card itself is dead
        row = uow.session.get(BankAccount, bank_account(bank, old).id)
        row.status = "active"
        uow.commit()
    with pytest.raises(CardReplaced):
        pay(bank, old, "after-replacement", 100)
    with bank.uow() as uow:
        row = uow.session.get(BankAccount, bank_account(bank, old).id)
        row.activated_at = None
        uow.commit()
    with pytest.raises(CardReplaced):
        at_bank(
            bank,
            service.activate_at_branch,
            actor=teller(),
            bank_code="ICBC",
            pan=old.pan,
            id_document_checked=True,
            card_checked=True,
        )


def test_a_platform_unblock_of_a_replaced_card_is_refused_and_recorded(bank_platform, bank, clock):
    from yikatong.events.protocols import Event

    old, _ = replaced(bank_platform, bank, person_id=65)
    late = Event(
        event_id="platform-evt-unblock-old",
        type="card.unblocked",
        aggregate_type="card",
        aggregate_id=old.card_no,
        partner="ICBC",
        occurred_at=clock.now(),
        seq=99,
        payload={"functions": ["hr", "financial"], "channel": "outlet"},
    )
    with bank.uow() as uow:
        assert service.handle_platform_event(uow=uow, bank_code="ICBC", event=late)
        uow.commit()
    with bank.uow() as uow:
        [record] = [
            m
            for m in service.processed_messages(uow=uow, bank_code="ICBC")
            if m.message_id == "platform-evt-unblock-old"
        ]
    assert (record.outcome, record.note) == ("ignored", "refused: bank_card_replaced")
    assert bank_account(bank, old).status == "formal_loss"


def _retired_audit(bank, card) -> dict:
    with bank.uow() as uow:
        [row] = uow.session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "bank.card_retired",
                AuditRecord.entity_id == f"{card.bank_code}:{card.card_no}",
            )
        ).scalars()
        return row.after


def test_default_policy_opens_a_closure_task_and_records_the_action(bank_platform, bank):
    assert replaced_card_action("ICBC") == ReplacedCardAction.CLOSURE_TASK
    old, new = replaced(bank_platform, bank, person_id=66)
    with bank.uow() as uow:
        [task] = service.closure_tasks(uow=uow, bank_code="ICBC")
    assert (task.card_no, task.successor_card_no, task.reason) == (
        old.card_no,
        new.card_no,
        "replaced",
    )
    after = _retired_audit(bank, old)
    assert (after["policy_action"], after["task_id"]) == ("closure_task", task.task_id)


def test_a_bank_declaring_move_to_successor_opens_no_task_and_records_the_move(bank_platform, bank):
    assert replaced_card_action("CCB") == ReplacedCardAction.MOVE_TO_SUCCESSOR
    old, new = replaced(bank_platform, bank, person_id=67, bank_code="CCB")
    with bank.uow() as uow:
        assert service.closure_tasks(uow=uow, bank_code="CCB") == []
    after = _retired_audit(bank, old)
    assert (after["policy_action"], after["successor_card_no"]) == (
        "move_to_successor",
        new.card_no,
    )
    with pytest.raises(CardReplaced):
        at_bank(bank, service.unblock_at_branch, actor=teller("CCB"), bank_code="CCB", pan=old.pan)


def test_an_exchange_is_recorded_but_keeps_its_own_closure(bank_platform, bank):
    old = activated(bank_platform, bank, person_id=68)
    act(
        bank_platform,
        cards.record_wallet_refund,
        refunded_fen=0,
        card_no=old.card_no,
        actor=CITIZEN_OUTLET,
    )
    produce(bank_platform, person_id=68, kind="exchange", predecessor=old.card_no)
    assert bank_account(bank, old).retired_reason == "exchanged"
    assert _retired_audit(bank, old)["policy_action"] is None


def test_an_older_bank_file_gets_the_new_columns(tmp_path):
    from sqlalchemy import inspect, text

    from yikatong.banking.runtime import ensure_schema
    from yikatong.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old-bank.db'}")
    ensure_schema(engine)
    with engine.begin() as connection:  # as a release before revision 0011 left it
        for column in ("retired_at", "retired_reason", "successor_card_no"):
            connection.execute(text(f"ALTER TABLE bank_accounts DROP COLUMN {column}"))
    ensure_schema(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("bank_accounts")}
    assert {"retired_at", "retired_reason", "successor_card_no"} <= columns
    engine.dispose()
