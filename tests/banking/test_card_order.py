"""Each card's order at the bank: a platform event older than the last one of its kind the
bank handled for that card (re-ordered by a pipelined publish after a dropped connection,
events.nats) is recorded as processed, once, and changes nothing, so the bank never ends with
a stale state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from tests.banking.helpers import card_numbers, teller
from tests.banking.nats_world import wait_until
from tests.banking.test_batch_apply import hr_change, hr_status, open_accounts, processed
from yikatong.banking import link, service
from yikatong.events.dispatcher import as_event, dispatch_pending
from yikatong.events.models import OutboxEvent
from yikatong.events.protocols import Event

OUT_OF_ORDER = "out of order"


def online(kind: str, card_no: str, seq: int) -> Event:
    """A holder's online formal loss, or its unblock: the HR function only (四.6(2))."""
    return Event(event_id=str(uuid.uuid4()), type=kind, aggregate_type="card",
                 aggregate_id=card_no, partner="ICBC",
                 payload={"card_no": card_no, "functions": ["hr"], "channel": "online_portal"},
                 occurred_at=datetime(2026, 3, 2, 2, seq % 60, tzinfo=UTC), seq=seq)


def active_account(bank) -> dict:
    """An account activated at a branch (committed without the relay: the platform has no
    such card)."""
    card = card_numbers()
    with bank.uow() as uow:
        service.open_account(uow=uow, bank_code="ICBC", card_no=card["card_no"], pan=card["pan"])
        service.activate_at_branch(uow=uow, actor=teller(), bank_code="ICBC", pan=card["pan"],
                                   id_document_checked=True, card_checked=True)
        uow.commit()
    return card


def account(bank, card_no: str) -> service.AccountView:
    with bank.uow() as uow:
        return service.account_view_by_card(uow=uow, bank_code="ICBC", card_no=card_no)


def outcomes(bank, events: list[Event]) -> list[tuple[str, str | None]]:
    """(outcome, note) of each event, in the events' order; each processed exactly once."""
    recorded = [m for m in processed(bank) if m.message_id in {e.event_id for e in events}]
    assert sorted(m.message_id for m in recorded) == sorted(e.event_id for e in events)
    by_id = {m.message_id: m for m in recorded}
    return [(by_id[e.event_id].outcome,
             OUT_OF_ORDER if (by_id[e.event_id].note or "").startswith(OUT_OF_ORDER)
             else by_id[e.event_id].note) for e in events]


@pytest.mark.db
def test_an_unblock_delivered_before_its_loss_leaves_no_protective_loss(bank):
    card = active_account(bank)
    loss = online("card.formal_loss_reported", card["card_no"], 10)
    unblock = online("card.unblocked", card["card_no"], 11)

    handle = link.bank_handler(bank)
    for event in (unblock, loss, loss, unblock):  # re-ordered, then copies of both
        handle(event)

    after = account(bank, card["card_no"])
    assert (after.status, after.losses_in_force) == ("active", ())
    assert outcomes(bank, [unblock, loss]) == [("ignored", "HR function only"),
                                             ("ignored", OUT_OF_ORDER)]


@pytest.mark.db
def test_in_order_the_same_events_put_the_protective_loss_on_and_lift_it(bank):
    card = active_account(bank)
    loss = online("card.formal_loss_reported", card["card_no"], 10)
    unblock = online("card.unblocked", card["card_no"], 11)

    link.bank_handler(bank)(loss)
    assert account(bank, card["card_no"]).status == "temporary_loss"
    link.bank_handler(bank)(unblock)

    assert account(bank, card["card_no"]).status == "active"
    assert outcomes(bank, [loss, unblock]) == [("applied", None), ("applied", None)]


@pytest.mark.db
def test_a_batch_keeps_the_newest_hr_status_whatever_order_it_came_in(bank):
    first, second = open_accounts(bank, 2)
    older, newer = hr_change(first, "formal_loss", 5), hr_change(first, "normal", 6)
    other = hr_change(second, "frozen", 4)  # another card: its own order

    link.bank_batch_handler(bank)([newer, other, older])
    link.bank_batch_handler(bank)([older, newer])  # redelivered: nothing twice

    assert (hr_status(bank, first), hr_status(bank, second)) == ("normal", "frozen")
    assert outcomes(bank, [newer, other, older]) == [
        ("applied", None), ("applied", None), ("ignored", OUT_OF_ORDER)]


@pytest.mark.db
def test_a_loss_and_its_hr_status_change_apply_in_either_order(bank):
    # One use case writes both; they are different states, so neither hides the other.
    card = active_account(bank)
    loss = online("card.formal_loss_reported", card["card_no"], 20)
    hr = hr_change(card["card_no"], "formal_loss", 21)

    link.bank_handler(bank)(hr)
    link.bank_handler(bank)(loss)

    after = account(bank, card["card_no"])
    assert (after.hr_status, after.status) == ("formal_loss", "temporary_loss")
    assert outcomes(bank, [hr, loss]) == [("applied", None), ("applied", None)]


@pytest.mark.db
@pytest.mark.nats
def test_over_jetstream_a_later_event_stored_first_wins(world):
    """The dispatcher's pipelined batch [older, newer] lost `older` on a dropped connection
    while `newer` was stored and acked; `older` goes again on the next run. The bank's node
    receives them from the stream in that order."""
    [card_no] = open_accounts(world.bank, 1)
    world.start_node()
    with world.platform.uow() as uow:
        rows = [uow.emit("card.hr_status_changed", aggregate_type="card", aggregate_id=card_no,
                         partner="ICBC", payload={"card_no": card_no, "before": "normal",
                                                  "after": after, "cause": "test"})
                for after in ("formal_loss", "normal")]
        uow.commit()
    older, newer = (as_event(row) for row in rows)

    assert world.bus.publish_batch([newer]) == [newer]  # stored; `older` lost on the wire
    with world.platform.uow() as uow:  # marked as the dispatcher marks an acked event
        uow.session.execute(update(OutboxEvent).where(OutboxEvent.seq == newer.seq)
                            .values(published_at=uow.now()))
        uow.commit()
    assert dispatch_pending(world.platform, world.bus) == 1  # the retry of `older`

    wait_until(lambda: len([m for m in processed(world.bank)
                            if m.message_id in (older.event_id, newer.event_id)]) == 2,
               what="the bank handling both events")
    assert hr_status(world.bank, card_no) == "normal"
    assert outcomes(world.bank, [newer, older]) == [("applied", None), ("ignored", OUT_OF_ORDER)]
