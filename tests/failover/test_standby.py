"""The platform on a PostgreSQL primary with a synchronous hot standby: the primary is killed in
the middle of a stream of formal losses, the standby promoted, and the same platform object
(same engine, same pool) goes on against it without a restart. Every loss a holder was told
succeeded is on the new primary with exactly one event, and every event is published once.

Runs once, in the SQLite suite, on two servers of its own (pgpair.py) shared by both tests:
the commit test first, the failover (which ends the primary) last.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from tests.cards.conftest import card_in_use, holder
from tests.failover.pgpair import PostgresPair
from yikatong.audit.service import verify_trail
from yikatong.cards import service as cards
from yikatong.cards.bank_gateway import SimpleBankGateway
from yikatong.cards.errors import CardAlreadyLost
from yikatong.cards.protocols import BankGateway
from yikatong.core.clock import FixedClock
from yikatong.core.settings import Settings
from yikatong.crypto.protocols import KeyStore
from yikatong.db.engine import make_engine
from yikatong.db.registry import load_all_models
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.models import OutboxEvent
from yikatong.events.protocols import EventBus
from yikatong.events.wakeup import OutboxWakeup
from yikatong.platform import Platform

pytestmark = pytest.mark.own_database  # a primary and a standby PostgreSQL of its own

CARDS = 24
KILL_AFTER = 8  # losses acknowledged before the primary dies
LOSS_EVENT = "card.formal_loss_reported"


class RecordingBus:
    """The platform's event bus here: keeps what the dispatcher publishes (after each commit,
    in process, and on the dispatcher's next run for what a failed dispatch left)."""

    def __init__(self) -> None:
        self.published: list = []

    def publish(self, event) -> None:
        self.published.append(event)

    def subscribe(self, event_type, handler) -> None:
        pass


@pytest.fixture(scope="module")
def pair():
    servers = PostgresPair().start()
    with psycopg.connect(servers.primary.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE ykt")
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def platform(pair, tmp_path_factory):
    url = pair.url("ykt")
    engine = make_engine(url)
    load_all_models().create_all(engine)
    engine.dispose()
    plat = Platform(Settings(database_url=url, key_store_path=str(tmp_path_factory.mktemp("failover") / "keystore.json")),
                    clock=FixedClock(datetime(2026, 3, 2, 1, 30, tzinfo=UTC)))
    plat.provide(BankGateway, SimpleBankGateway())
    plat.provide(EventBus, RecordingBus())
    yield plat
    plat.engine.dispose()


def report_until_answered(platform: Platform, person_id: int, card_no: str) -> tuple[str, int]:
    """A holder's app reporting the loss: on a lost connection it asks again, as a client
    does; a repeat of a loss that did commit is answered 'already lost' (the first answer
    stands). Returns how it was answered and after how many tries."""
    for attempt in itertools.count(1):
        try:
            with platform.uow() as uow:
                cards.report_loss(uow=uow, actor=holder(person_id), card_no=card_no, kind="formal")
                uow.commit()
            return "reported", attempt
        except CardAlreadyLost:
            return "already_lost", attempt
        except DBAPIError:  # the primary went away mid-request: try again
            if attempt > 400:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def test_a_commit_is_not_acknowledged_before_the_standby_has_it(pair, platform):
    """What makes the failover lossless: with the standby's WAL receiver stopped, a commit on
    the primary waits; it returns once the standby has flushed the transaction. (An
    asynchronous standby would let the commit return at once, and a loss acknowledged in that
    moment would be gone after a failover.)"""
    card_no = card_in_use(platform, person_id=4999)
    receiver = pair.walreceiver()
    receiver.suspend()
    finished = threading.Event()

    def report() -> None:
        report_until_answered(platform, 4999, card_no)
        finished.set()

    thread = threading.Thread(target=report)
    try:
        thread.start()
        assert not finished.wait(1.5), "the commit returned before the standby had it"
    finally:
        receiver.resume()
    assert finished.wait(20), "the commit did not return once the standby caught up"
    thread.join()
    with psycopg.connect(pair.standby.url("ykt")) as conn:  # the standby has it already
        assert conn.execute("SELECT count(*) FROM outbox_events WHERE aggregate_id = %s AND type = %s",
                            (card_no, LOSS_EVENT)).fetchone() == (1,)


def test_a_synchronous_standby_takes_over_and_no_acknowledged_loss_or_event_is_lost(pair, platform):
    owners = {card_in_use(platform, person_id=person_id): person_id
              for person_id in range(5000, 5000 + CARDS)}
    answered: dict[str, tuple[str, int]] = {}
    enough = threading.Event()

    def holders_reporting() -> None:
        for card_no, person_id in owners.items():
            answered[card_no] = report_until_answered(platform, person_id, card_no)
            if len(answered) == KILL_AFTER:
                enough.set()

    stream = threading.Thread(target=holders_reporting)
    stream.start()
    assert enough.wait(60), "the losses did not start"
    pair.primary.kill()
    time.sleep(0.3)  # the time it takes to notice; requests meanwhile fail and are retried
    pair.promote()
    stream.join(120)
    assert not stream.is_alive(), "the losses did not finish after the failover"

    assert not pair.standby.in_recovery(), "the standby was promoted"
    assert set(answered) == set(owners)
    retried = [card for card, (_, tries) in answered.items() if tries > 1]
    assert retried, "no request met the failover: the test did not test it"

    dispatch_pending(platform)  # what the worker's next round does
    with platform.uow() as uow:  # the same platform, now on the promoted standby
        states = {card: cards.get_card(uow=uow, card_no=card).hr_status for card in owners}
        losses = uow.session.execute(select(
            OutboxEvent.aggregate_id, OutboxEvent.event_id, OutboxEvent.published_at)
            .where(OutboxEvent.type == LOSS_EVENT, OutboxEvent.aggregate_id.in_(list(owners)))).all()
        report = verify_trail(uow=uow, keys=platform.get(KeyStore))
    assert set(states.values()) == {"formal_loss"}
    assert Counter(card for card, _, _ in losses) == Counter(list(owners)), \
        "one loss event per card: none lost, none doubled"
    assert all(published_at is not None for _, _, published_at in losses)
    published = {event.event_id for event in platform.get(EventBus).published}
    assert {event_id for _, event_id, _ in losses} <= published, "every event went out"
    assert report.problems == []
    assert _listener_connected(platform, pair.standby), \
        "the dispatcher's wake-up listener found the new primary"


def _listener_connected(platform: Platform, server) -> bool:
    """A LISTEN of the outbox wake-up (events/wakeup.py), started on the platform's engine,
    is a session on `server`: it connects with the pool's hosts, not the URL's last one."""
    wakeup = OutboxWakeup(channel="ykt_failover_probe")
    assert wakeup.listen(platform.engine)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with psycopg.connect(server.url()) as conn:
                if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s",
                                ("LISTEN ykt_failover_probe",)).fetchone()[0]:
                    return True
            time.sleep(0.1)
        return False
    finally:
        wakeup.close()
