"""The platform and the reference bank in real time over a real NATS JetStream server: the
bank's own process consuming the platform's stream and publishing its events back."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from tests.banking.helpers import act, cards_view, holder, produce, teller
from tests.banking.nats_world import ROOT, NatsWorld, wait_until
from tests.events.crashing_dispatcher import CRASH_EXIT_CODE
from yikatong.banking import service
from yikatong.banking.retries import with_retries
from yikatong.cards import service as cards
from yikatong.cards.protocols import BankUnavailable
from yikatong.core.errors import ConcurrentChange
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.models import OutboxEvent

pytestmark = [pytest.mark.nats, pytest.mark.db]


def bank_account(world, card_no: str):
    with world.bank.uow() as uow:
        try:
            return service.account_view_by_card(uow=uow, bank_code="ICBC", card_no=card_no)
        except service.UnknownAccount:
            return None


def at_bank(world, operation, **kwargs):
    """A teller's action; like a teller, press again if the bank's node was changing the same
    account at that moment (its answers to the platform run in the background)."""
    for attempt in range(5):
        try:
            with world.bank.uow() as uow:
                result = operation(uow=uow, **kwargs)
                uow.commit()  # the bank's node relays it
            return result
        except (ConcurrentChange, StaleDataError):
            if attempt == 4:
                raise
            time.sleep(0.2)


def processed(world) -> list:
    with world.bank.uow() as uow:
        return service.processed_messages(uow=uow, bank_code="ICBC")


def platform_events(world, card_nos: set[str]) -> list[OutboxEvent]:
    with world.platform.uow() as uow:
        rows = uow.session.execute(select(OutboxEvent).where(
            OutboxEvent.partner == "ICBC").order_by(OutboxEvent.seq)).scalars()
        return [row for row in rows if row.aggregate_id in card_nos]


def ready_cards(world, *people: int) -> list:
    """Cards in use whose accounts the bank has opened (learnt over NATS) and activated
    (asked through the gateway, over NATS request/reply)."""
    made = [produce(world.platform, person_id=person_id) for person_id in people]
    wait_until(lambda: all(bank_account(world, card.card_no) for card in made),
               what="the bank's accounts")
    for card in made:  # the production list; it may race the bank's consumer, so retry
        with_retries(lambda card=card: at_bank(world, service.open_account, bank_code="ICBC",
                                               card_no=card.card_no, pan=card.pan))
        view = act(world.platform, cards.activate_financial, actor=teller(), card_no=card.card_no)
        assert view.financial_status == "active"
    return made


def test_formal_loss_syncs_both_ways_in_real_time(world):
    world.start_node()
    world.start_platform()
    [card] = ready_cards(world, 1)

    # At a branch of the bank → the platform: HR and financial function (四.6(1)).
    at_bank(world, service.report_loss_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            kind="formal_loss")
    wait_until(lambda: cards_view(world.platform, card.card_no).hr_status == "formal_loss",
               what="the HR formal loss on the platform")
    assert cards_view(world.platform, card.card_no).financial_status == "formal_loss"
    at_bank(world, service.unblock_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan)
    wait_until(lambda: cards_view(world.platform, card.card_no).hr_status == "normal",
               what="the unblock on the platform")
    assert cards_view(world.platform, card.card_no).financial_status == "active"

    # Online at the platform → the bank → its protective loss → back to the platform.
    act(world.platform, cards.report_loss, actor=holder(1), card_no=card.card_no, kind="formal")
    wait_until(lambda: bank_account(world, card.card_no).hr_status == "formal_loss",
               what="the HR formal loss at the bank")
    wait_until(lambda: cards_view(world.platform, card.card_no).financial_status == "temporary_loss",
               what="the bank's protective loss on the platform")
    act(world.platform, cards.unblock, actor=holder(1), card_no=card.card_no)  # via the gateway
    assert cards_view(world.platform, card.card_no).financial_status == "active"
    assert bank_account(world, card.card_no).status == "active"

    # With the bank's process gone, a request through the gateway changes nothing.
    world.stop_node()
    before = cards_view(world.platform, card.card_no)
    with pytest.raises(BankUnavailable):
        act(world.platform, cards.report_loss, actor=teller(), card_no=card.card_no, kind="formal")
    after = cards_view(world.platform, card.card_no)
    assert (after.hr_status, after.financial_status, after.version) == (
        before.hr_status, before.financial_status, before.version)


def test_dispatcher_killed_after_publishing_the_event_arrives_once(database_url, tmp_path):
    from tests import servers

    # A duplicate window of one second: the re-publish after the crash is stored again, so
    # what keeps it from applying twice is the bank's processed-message table.
    world = NatsWorld(database_url=database_url, nats_url=servers.nats_url(), workdir=tmp_path,
                      duplicate_window=1.0)
    try:
        world.start_node()
        world.consumers.ensure_running()
        card = produce(world.platform, person_id=2)  # committed; the dispatcher never ran
        pending = len(platform_events(world, {card.card_no}))
        assert pending >= 3  # produced, handed over, HR status changed
        crash = subprocess.run(
            [sys.executable, "-m", "tests.events.crashing_dispatcher", database_url,
             world.nats_url, world.namespace, str(pending)],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert crash.returncode == CRASH_EXIT_CODE, crash.stderr  # died after the last ack
        with world.platform.uow() as uow:
            unmarked = uow.session.execute(select(OutboxEvent).where(
                OutboxEvent.published_at.is_(None))).scalars().all()
        assert len(unmarked) == pending  # nothing was marked published
        time.sleep(1.2)  # past the duplicate window
        assert dispatch_pending(world.platform, world.bus) == pending
        stream = world.bus.stream_for("ICBC")
        wait_until(lambda: len(processed(world)) >= pending, what="the bank to apply")
        time.sleep(0.5)  # give a second copy every chance to be applied
        assert world.bus.stream_message_count(stream) == 2 * pending  # each one delivered twice
        seen = [m.message_id for m in processed(world)]
        assert sorted(seen) == sorted(row.event_id for row in unmarked)  # each applied once
        assert bank_account(world, card.card_no).status == "not_activated"
    finally:
        world.close()


def test_bank_down_for_100_changes_gets_all_of_them_in_order(world):
    """The bank as its own process (`ykt bank serve`), killed; 100 changes on the platform;
    started again, it applies every one, in the platform's order, and its answers reach the
    platform."""
    world.start_process()
    world.start_platform()
    cards_ = ready_cards(world, *range(10, 20))
    world.kill_process()

    changes = 0
    for round_ in range(10):
        for card in cards_:
            operation = cards.report_loss if round_ % 2 == 0 else cards.unblock
            extra = {"kind": "formal"} if round_ % 2 == 0 else {}
            act(world.platform, operation, actor=holder(cards_.index(card) + 10),
                card_no=card.card_no, **extra)
            changes += 1
    assert changes == 100
    numbers = {card.card_no for card in cards_}
    sent = [row for row in platform_events(world, numbers)
            if row.type in ("card.formal_loss_reported", "card.unblocked")]
    assert len(sent) == 100
    wait_until(lambda: all(row.published_at for row in platform_events(world, numbers)),
               what="the dispatcher to publish everything while the bank is down")
    before = {m.message_id for m in processed(world)}

    world.start_process()
    expected = [row for row in platform_events(world, numbers) if row.event_id not in before]
    wait_until(lambda: len(processed(world)) >= len(before) + len(expected), timeout=60,
               what="the bank to catch up")
    applied = [m for m in processed(world) if m.message_id not in before]
    assert [m.message_id for m in applied] == [row.event_id for row in expected]  # in order
    changes_applied = [m for m in applied if m.type in ("card.formal_loss_reported",
                                                        "card.unblocked")]
    assert len(changes_applied) == 100
    for card in cards_:
        wait_until(lambda card=card: bank_account(world, card.card_no).status == "active"
                   and cards_view(world.platform, card.card_no).financial_status == "active",
                   what="both sides settled")
        assert bank_account(world, card.card_no).hr_status == "normal"
        assert cards_view(world.platform, card.card_no).hr_status == "normal"
