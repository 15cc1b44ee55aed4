"""The bank's relay (banking.node) is woken by the commits that write to the bank's outbox,
in this process and, on PostgreSQL, in any process (NOTIFY); its poll is only a fallback."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.banking.nats_world import wait_until
from tests.banking.test_card_order import active_account
from tests.banking.test_nats import at_bank, ready_cards
from tests.conftest import ON_POSTGRES
from yikatong.banking import service
from yikatong.banking.models import BankOutboxMessage
from yikatong.banking.runtime import ReferenceBank
from yikatong.cards.service import get_card
from yikatong.db.engine import make_engine

from .helpers import teller

AN_HOUR = 3600.0


@pytest.mark.db
def test_only_a_committed_outbox_write_wakes_the_relay(bank):
    card = active_account(bank)
    bank.outbox_wakeup.wait(0)  # the activation told the platform: woken, now cleared

    with bank.uow() as uow:  # writes no message
        service.open_account(uow=uow, bank_code="ICBC", card_no=card["card_no"], pan=card["pan"])
        uow.commit()
    assert not bank.outbox_wakeup.wait(0)
    with bank.uow() as uow:  # a message, rolled back
        service.report_loss_at_branch(uow=uow, actor=teller(), bank_code="ICBC", pan=card["pan"],
                                      kind="formal_loss")
    assert not bank.outbox_wakeup.wait(0)
    with bank.uow() as uow:  # a message, committed
        service.report_loss_at_branch(uow=uow, actor=teller(), bank_code="ICBC", pan=card["pan"],
                                      kind="formal_loss")
        uow.commit()
    assert bank.outbox_wakeup.wait(0)


def unpublished(world) -> int:
    with world.bank.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(BankOutboxMessage).where(
            BankOutboxMessage.published_at.is_(None))).scalar_one()


def hr_status(world, card_no: str) -> str:
    with world.platform.uow() as uow:
        return get_card(uow=uow, card_no=card_no).hr_status


def settled_card(world):
    """A card in use and activated, with nothing of the bank's left to relay: from here on
    the relay waits for a wake-up (its fallback an hour away)."""
    world.start_node(relay_fallback=AN_HOUR)
    world.start_platform()
    [card] = ready_cards(world, 1)
    wait_until(lambda: unpublished(world) == 0, what="the activation relayed")
    return card


@pytest.mark.db
@pytest.mark.nats
def test_a_branch_loss_reaches_the_platform_without_the_relay_polling(world):
    card = settled_card(world)

    at_bank(world, service.report_loss_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            kind="formal_loss")

    wait_until(lambda: hr_status(world, card.card_no) == "formal_loss", timeout=10,
               what="the branch loss on the platform")


@pytest.mark.db
@pytest.mark.nats
@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite has no notifications: another process's "
                    "commit is seen by the relay's poll")
def test_a_commit_in_another_process_wakes_the_relay(world):
    card = settled_card(world)
    elsewhere = ReferenceBank(engine=make_engine(world.bank_url), clock=world.bank.clock,
                              keystore=world.keystore, bank_codes=["ICBC"], owns_engine=True)
    try:  # its own engine and wake-up flag: only NOTIFY reaches the node
        with elsewhere.uow() as uow:
            service.report_loss_at_branch(uow=uow, actor=teller(), bank_code="ICBC",
                                          pan=card.pan, kind="formal_loss")
            uow.commit()
    finally:
        elsewhere.close()

    wait_until(lambda: hr_status(world, card.card_no) == "formal_loss", timeout=10,
               what="the branch loss on the platform")
