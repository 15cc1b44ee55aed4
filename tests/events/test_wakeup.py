"""The dispatcher wakes on commit (events.wakeup) instead of polling: with its fallback poll
an hour away it still publishes an event within seconds of the commit; and when no wake-up
comes, the fallback poll still publishes it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.conftest import ONLY_ON_POSTGRES
from tests.events.helpers import emit, wait_until
from yikatong.core.settings import Settings
from yikatong.events.dispatcher import DispatchLoop
from yikatong.events.models import OutboxEvent
from yikatong.events.protocols import EventBus
from yikatong.events.wakeup import OutboxWakeup
from yikatong.platform import Platform
from yikatong.worker import runner

pytestmark = [pytest.mark.nats, pytest.mark.db]

AN_HOUR = 3600.0
SHORTLY = 10.0  # a functional bound, far below the fallback poll; not a timing measurement


@pytest.fixture
def nats_platform(platform, bus):
    """The platform as deployed with NATS: commits publish nothing themselves; they only wake
    this process's dispatch loop."""
    platform.after_commit[:] = [platform.get(OutboxWakeup).notify]
    platform.provide(EventBus, bus)
    return platform


@pytest.fixture
def loop_of(bus) -> Iterator:
    loops: list[DispatchLoop] = []

    def start(platform, fallback_seconds: float) -> DispatchLoop:
        loops.append(DispatchLoop(platform, bus, fallback_seconds=fallback_seconds).start())
        return loops[-1]

    yield start
    for loop in loops:
        loop.stop()


def published(platform, event_ids: list[str]) -> bool:
    with platform.uow() as uow:
        rows = uow.session.query(OutboxEvent).filter(OutboxEvent.event_id.in_(event_ids)).all()
    return len(rows) == len(event_ids) and all(row.published_at for row in rows)


def test_a_commit_wakes_the_dispatcher_long_before_its_fallback_poll(nats_platform, bus, loop_of):
    loop = loop_of(nats_platform, AN_HOUR)
    for round_ in range(3):  # every commit wakes it, not only the first
        ids = emit(nats_platform, [("card.lost", f"621700110{round_}", "ICBC")])
        wait_until(lambda ids=ids: published(nats_platform, ids), timeout=SHORTLY,
                   what="the dispatch woken by the commit")
    assert loop.dispatched == 3
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 3


@ONLY_ON_POSTGRES
def test_a_commit_in_another_process_wakes_the_dispatcher_through_postgres(nats_platform, loop_of,
                                                                          database_url, tmp_path):
    loop_of(nats_platform, AN_HOUR)
    # Another process's platform (an API server): its own engine; nothing in this process
    # hears its commit except through LISTEN/NOTIFY.
    api_process = Platform(Settings(database_url=database_url,
                                    key_store_path=str(tmp_path / "keys.json")))
    api_process.after_commit.clear()
    try:
        ids = emit(api_process, [("card.lost", "6217001201", "ICBC")])
        wait_until(lambda: published(nats_platform, ids), timeout=SHORTLY,
                   what="the dispatch woken by NOTIFY")
    finally:
        api_process.engine.dispose()


@ONLY_ON_POSTGRES
def test_the_listener_reconnects_and_catches_up_after_losing_its_connection(nats_platform, loop_of):
    loop_of(nats_platform, AN_HOUR)
    query = text("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN ykt_outbox%' "
                 "AND datname = current_database()")

    def listener_pids() -> list[int]:
        with nats_platform.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    wait_until(lambda: len(listener_pids()) == 1, timeout=SHORTLY, what="the listening connection")
    [first] = listener_pids()
    with nats_platform.engine.connect() as connection:  # the connection drops (a restart, a proxy)
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    # Committed while no one listens: no wake-up arrives; the reconnect must catch it up.
    commit_unannounced(nats_platform, "2b1c0c4e-0000-4000-8000-000000000002", "6217001501")
    wait_until(lambda: published(nats_platform, ["2b1c0c4e-0000-4000-8000-000000000002"]),
               timeout=SHORTLY, what="the catch-up after the reconnect")
    wait_until(lambda: listener_pids() not in ([], [first]), timeout=SHORTLY, what="a new listener")
    ids = emit(nats_platform, [("card.lost", "6217001502", "ICBC")])
    wait_until(lambda: published(nats_platform, ids), timeout=SHORTLY,
               what="a commit after the reconnect")


def commit_unannounced(platform, event_id: str, card_no: str) -> None:
    """An outbox row written past the unit of work: no after-commit hook, no NOTIFY."""
    with platform.session_factory() as session:
        session.add(OutboxEvent(event_id=event_id, type="card.lost", aggregate_type="card",
                                aggregate_id=card_no, partner="ICBC", payload={},
                                occurred_at=platform.clock.now(), attempts=0))
        session.commit()


def test_an_event_committed_without_a_wake_up_goes_out_on_the_fallback_poll(nats_platform, loop_of):
    loop_of(nats_platform, 0.5)
    # Written past the unit of work: no after-commit hook, no NOTIFY (a missed wake-up).
    commit_unannounced(nats_platform, "2b1c0c4e-0000-4000-8000-000000000001", "6217001301")
    wait_until(lambda: published(nats_platform, ["2b1c0c4e-0000-4000-8000-000000000001"]),
               timeout=SHORTLY, what="the fallback poll")


def test_the_worker_runs_the_dispatch_loop(nats_platform, monkeypatch):
    monkeypatch.setattr(runner, "all_jobs", lambda: [])  # no timed job may publish it
    stopped = False
    worker = threading.Thread(target=runner.run_forever, args=(nats_platform,),
                              kwargs={"stop": lambda: stopped}, daemon=True)
    worker.start()
    try:
        ids = emit(nats_platform, [("card.lost", "6217001401", "ICBC")])
        wait_until(lambda: published(nats_platform, ids), timeout=SHORTLY,
                   what="the worker's dispatch loop")
    finally:
        stopped = True
        worker.join(timeout=15)
    assert not worker.is_alive()
