"""A stream's replica count comes from the settings (R1 on one server, R3 on a cluster), and
YKT_NATS_URL may list a cluster's servers. The cluster itself: tests/banking/test_broker_faults.py."""

from __future__ import annotations

import pytest

from yikatong.core.settings import Settings
from yikatong.events.nats import JetStreamBus, server_urls
from yikatong.events.protocols import EventBus
from yikatong.platform import Platform


def test_a_cluster_url_lists_its_servers():
    assert server_urls("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    assert server_urls(" nats://a:1, nats://b:2 ,nats://c:3,") == [
        "nats://a:1", "nats://b:2", "nats://c:3"]
    with pytest.raises(ValueError):
        server_urls(" , ")


def test_replicas_from_the_environment(monkeypatch):
    monkeypatch.delenv("YKT_NATS_REPLICAS", raising=False)
    assert Settings.from_env().nats_replicas == 1
    monkeypatch.setenv("YKT_NATS_REPLICAS", "3")
    assert Settings.from_env().nats_replicas == 3


@pytest.mark.parametrize("replicas", [1, 3])
def test_the_platform_bus_creates_streams_with_the_configured_replicas(database_url, tmp_path,
                                                                       replicas):
    settings = Settings(database_url=database_url, nats_url="nats://127.0.0.1:1",
                        nats_replicas=replicas, key_store_path=str(tmp_path / "keystore.json"))
    platform = Platform(settings)
    bus = platform.get(EventBus)  # lazy: nothing connects until the first publish
    try:
        assert isinstance(bus, JetStreamBus) and bus.replicas == replicas
    finally:
        bus.close()
        platform.engine.dispose()


def test_no_stream_without_a_replica():
    with pytest.raises(ValueError):
        JetStreamBus("nats://127.0.0.1:1", replicas=0)
