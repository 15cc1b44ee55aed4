"""A write route's events delivered in process once its answer is sent (events.wiring.
held_until_answered, api.deps.write_in_thread), and the in-process bus's runs
(events.bus.InProcessBus.publish_run): each consumer still takes each event once, in order."""

from __future__ import annotations

import asyncio

import pytest
from starlette.background import BackgroundTasks

from tests.events.helpers import emit
from yikatong.api.deps import write_in_thread
from yikatong.events.bus import InProcessBus
from yikatong.events.protocols import EventBus
from yikatong.events.wiring import deliver_pending, held_until_answered


def _delivered(platform) -> list[str]:
    return [event.type for event in platform.get(EventBus).delivered]


@pytest.mark.db
def test_a_commit_while_held_leaves_its_events_for_later(platform):
    with held_until_answered() as held:
        emit(platform, [("card.lost", "6217000801", None)])
    assert held.due and _delivered(platform) == []
    deliver_pending(platform)
    assert _delivered(platform) == ["card.lost"]


@pytest.mark.db
def test_a_write_in_a_thread_hands_its_delivery_to_the_answer_s_background(platform):
    background = BackgroundTasks()

    async def route():
        return await write_in_thread(platform, background, emit, platform,
                                     [("card.lost", "6217000802", None)])

    asyncio.run(route())
    assert _delivered(platform) == [] and len(background.tasks) == 1
    asyncio.run(background())
    assert _delivered(platform) == ["card.lost"]


@pytest.mark.db
def test_a_write_refused_after_its_commit_delivers_before_the_refusal(platform):
    background = BackgroundTasks()

    def commit_then_refuse():
        emit(platform, [("card.lost", "6217000803", None)])
        raise RuntimeError("refused after the commit")

    async def route():
        return await write_in_thread(platform, background, commit_then_refuse)

    with pytest.raises(RuntimeError):
        asyncio.run(route())
    assert _delivered(platform) == ["card.lost"] and not background.tasks


def test_a_write_that_commits_no_event_adds_no_background_task(platform):
    background = BackgroundTasks()
    assert asyncio.run(write_in_thread(platform, background, lambda: 7)) == 7
    assert not background.tasks


def _event(n: int):
    from datetime import UTC, datetime

    from yikatong.events.protocols import Event

    return Event(event_id=f"e{n}", type="card.lost", aggregate_type="card", aggregate_id="1",
                 partner="ICBC", payload={}, occurred_at=datetime(2026, 1, 1, tzinfo=UTC), seq=n)


def test_a_run_consumer_takes_the_run_at_once_or_one_by_one_up_to_a_failure():
    bus, runs, ones, plain = InProcessBus(), [], [], []
    failing = {"run": False, "one": None}

    def run(events):
        if failing["run"]:
            raise RuntimeError("the run failed")
        runs.append([event.seq for event in events])

    def one(event):
        if event.seq == failing["one"]:
            raise RuntimeError("this one failed")
        ones.append(event.seq)

    bus.subscribe("*", lambda event: plain.append(event.seq))
    bus.subscribe_runs(one, run)
    assert [event.seq for event in bus.publish_run([_event(1), _event(2)])] == [1, 2]
    assert (runs, ones, plain) == ([[1, 2]], [], [1, 2])
    failing.update(run=True, one=4)
    assert [event.seq for event in bus.publish_run([_event(3), _event(4), _event(5)])] == [3]
    assert ones == [3] and plain == [1, 2, 3, 4, 5]
    bus.publish(_event(6))  # one event alone: the run consumer's one-by-one handler
    assert ones == [3, 6] and [event.seq for event in bus.delivered] == [1, 2, 3, 6]


def test_a_plain_handler_failing_stops_the_run_before_the_run_consumers():
    bus, runs = InProcessBus(), []

    def plain(event):
        if event.seq == 2:
            raise RuntimeError("failed")

    bus.subscribe("*", plain)
    bus.subscribe_runs(lambda _event: None, lambda events: runs.append([e.seq for e in events]))
    assert [event.seq for event in bus.publish_run([_event(1), _event(2), _event(3)])] == [1]
    assert runs == [[1]]
