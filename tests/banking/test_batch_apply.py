"""The bank applies a fetched batch of the platform's events in one transaction
(banking.link.bank_batch_handler, service.handle_platform_events): each event once, the
batch all or nothing, so the consumer's one-by-one fallback after a failure applies nothing
twice."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update

from tests.banking.helpers import card_numbers
from tests.banking.nats_world import wait_until
from tests.conftest import ONLY_ON_POSTGRES
from yikatong.banking import link, service
from yikatong.banking.models import BankAccount
from yikatong.core.errors import ConcurrentChange
from yikatong.events.protocols import Event

pytestmark = pytest.mark.db


def hr_change(card_no: str, after: str, seq: int, event_id: str | None = None) -> Event:
    return Event(event_id=event_id or str(uuid.uuid4()), type="card.hr_status_changed",
                 aggregate_type="card", aggregate_id=card_no, partner="ICBC",
                 payload={"card_no": card_no, "before": "normal", "after": after},
                 occurred_at=datetime(2026, 3, 2, 2, seq % 60, tzinfo=UTC), seq=seq)


def open_accounts(bank, count: int) -> list[str]:
    made = [card_numbers() for _ in range(count)]
    with bank.uow() as uow:
        for card in made:
            service.open_account(uow=uow, bank_code="ICBC", card_no=card["card_no"], pan=card["pan"])
        uow.commit()
    return [card["card_no"] for card in made]


def processed(bank) -> list:
    with bank.uow() as uow:
        return service.processed_messages(uow=uow, bank_code="ICBC")


def hr_status(bank, card_no: str) -> str:
    with bank.uow() as uow:
        return service.account_view_by_card(uow=uow, bank_code="ICBC", card_no=card_no).hr_status


def test_a_batch_applies_each_event_once_in_order(bank):
    first, second = open_accounts(bank, 2)
    earlier = hr_change(first, "temporary_loss", 1)
    link.bank_handler(bank)(earlier)  # applied before, one at a time
    batch = [earlier, hr_change(first, "formal_loss", 2), hr_change(second, "formal_loss", 3),
             hr_change("B99999999", "formal_loss", 4)]  # a card the bank does not know
    batch.append(batch[1])  # the same event twice in one fetch (a copy past the dedupe window)

    link.bank_batch_handler(bank)(batch)

    seen = processed(bank)
    assert [m.message_id for m in seen] == [e.event_id for e in batch[:4]]
    assert [m.outcome for m in seen] == ["applied", "applied", "applied", "ignored"]
    assert hr_status(bank, first) == "formal_loss" and hr_status(bank, second) == "formal_loss"


def test_a_batch_that_fails_commits_nothing_and_one_by_one_applies_the_rest_once(bank, monkeypatch):
    cards = open_accounts(bank, 3)
    before = [hr_status(bank, card) for card in cards]
    batch = [hr_change(card, "formal_loss", n) for n, card in enumerate(cards, start=1)]
    poisoned = batch[1].event_id
    real_apply = service._apply_platform_event

    def apply(uow, bank_code, event):
        if event.event_id == poisoned:
            raise RuntimeError("the bank's disk is full")  # not a domain refusal: retried
        return real_apply(uow, bank_code, event)

    monkeypatch.setattr(service, "_apply_platform_event", apply)
    with pytest.raises(RuntimeError):
        link.bank_batch_handler(bank)(batch)
    assert processed(bank) == []  # nothing of the batch stayed
    assert [hr_status(bank, card) for card in cards] == before

    one_by_one = link.bank_handler(bank)  # what the consumer does next, in order
    one_by_one(batch[0])
    with pytest.raises(RuntimeError):
        one_by_one(batch[1])
    one_by_one(batch[2])  # (the consumer would hold this until batch[1] passes)
    monkeypatch.setattr(service, "_apply_platform_event", real_apply)
    for event in batch:  # redelivered: the retry of the bad one, copies of the others
        one_by_one(event)
    assert sorted(m.message_id for m in processed(bank)) == sorted(e.event_id for e in batch)
    assert [hr_status(bank, card) for card in cards] == ["formal_loss"] * 3


@ONLY_ON_POSTGRES
def test_a_delivery_racing_the_batch_makes_it_wait_and_the_event_applies_once(bank):
    # The batch records its events as processed first (INSERT … ON CONFLICT DO NOTHING): an
    # event another delivery is applying, not yet committed, makes the batch wait for it,
    # and once it commits the batch skips that event and applies the rest.
    first, second = open_accounts(bank, 2)
    raced, other = hr_change(first, "formal_loss", 1), hr_change(second, "temporary_loss", 2)
    outcome: list = []
    with bank.uow() as elsewhere:
        assert service.handle_platform_event(uow=elsewhere, bank_code="ICBC", event=raced)
        batch = threading.Thread(target=lambda: outcome.append(
            link.bank_batch_handler(bank)([other, raced])))
        batch.start()
        wait_until(lambda: waiting_for_a_lock(bank), what="the batch waiting for the delivery")
        before = versions(bank, [first])
        elsewhere.commit()
    batch.join(timeout=30)

    assert outcome == [None]
    assert [m.message_id for m in processed(bank)] == [raced.event_id, other.event_id]
    assert (hr_status(bank, first), hr_status(bank, second)) == ("formal_loss", "temporary_loss")
    assert versions(bank, [first]) == [before[0] + 1]  # the raced event's one write


def waiting_for_a_lock(bank) -> bool:
    with bank.uow() as uow:
        return uow.session.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar_one() > 0


def test_refusal_notes_are_recorded_with_the_batch_in_the_order_applied(bank):
    [card] = open_accounts(bank, 1)
    batch = [hr_change("B99999998", "formal_loss", 1), hr_change(card, "frozen", 2),
             hr_change(card, "formal_loss", 3)]

    assert link.bank_batch_handler(bank)(batch) is None

    seen = processed(bank)
    assert [(m.message_id, m.outcome, m.note, m.platform_seq) for m in seen] == [
        (batch[0].event_id, "ignored", "unknown card", 1), (batch[1].event_id, "applied", None, 2),
        (batch[2].event_id, "applied", None, 3)]
    assert hr_status(bank, card) == "formal_loss"


def test_hr_statuses_written_together_still_see_an_account_changed_meanwhile(bank, monkeypatch):
    # The batch's HR statuses go in one executemany, versioned like the ORM's own UPDATE.
    cards = open_accounts(bank, 3)
    real_preload = service._claim_and_preload

    def preload_then_someone_changes_the_second(uow, events):
        fresh = real_preload(uow, events)
        table = BankAccount.__table__
        uow.session.connection().execute(update(table).where(table.c.card_no == cards[1])
                                          .values(version=table.c.version + 1))
        return fresh

    monkeypatch.setattr(service, "_claim_and_preload", preload_then_someone_changes_the_second)
    batch = [hr_change(card, "formal_loss", n) for n, card in enumerate(cards, start=1)]
    with pytest.raises(ConcurrentChange):
        link.bank_batch_handler(bank)(batch)
    assert processed(bank) == [] and [hr_status(bank, card) for card in cards] == [None] * 3

    monkeypatch.setattr(service, "_claim_and_preload", real_preload)
    before = versions(bank, cards)
    link.bank_batch_handler(bank)(batch + [hr_change(cards[0], "normal", 4)])
    assert [hr_status(bank, card) for card in cards] == ["normal", "formal_loss", "formal_loss"]
    assert versions(bank, cards) == [v + 1 for v in before]  # one write each, none at the flush


def versions(bank, cards: list[str]) -> list[int]:
    with bank.uow() as uow:
        return [uow.session.execute(select(BankAccount.version).where(BankAccount.card_no == card))
                .scalar_one() for card in cards]
