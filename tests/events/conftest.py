"""Fixtures for the event suites: a JetStream bus in a namespace of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests import servers
from yikatong.events.nats import JetStreamBus, partner_stream

PARTNERS = ("ICBC", "BOC", None)


@pytest.fixture
def namespace() -> str:
    """Streams and subjects of one test never meet another test's (or a developer's)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def nats_url() -> str:
    return servers.nats_url()


@pytest.fixture
def bus(nats_url, namespace) -> Iterator[JetStreamBus]:
    jetstream = JetStreamBus(nats_url, namespace=namespace)
    yield jetstream
    for partner in PARTNERS:
        jetstream.delete_stream(partner_stream(partner, namespace))
    jetstream.close()


@pytest.fixture
def quiet_platform(platform):
    """The platform as in a deployment with an external transport: commits do not publish;
    only an explicit dispatch_pending (the worker) does."""
    platform.after_commit.clear()
    return platform
