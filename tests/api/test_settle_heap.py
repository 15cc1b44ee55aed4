"""A server process's start-up heap is frozen out of the garbage collector's sight when it
starts serving (api.serving.settle_heap, `ykt serve`), and only then: a test's application
is not frozen, so that it can be collected once the test is over."""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient

from yikatong.api.app import create_app


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # what the test froze goes back to the collector


def test_a_served_application_freezes_its_start_up_heap(platform, unfrozen):
    app = create_app(platform, settle_heap=True)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:  # the lifespan: start-up
        assert gc.get_freeze_count() > 10_000
        assert client.get("/healthz").json() == {"status": "ok"}


def test_an_application_made_elsewhere_freezes_nothing(platform, unfrozen):
    with TestClient(create_app(platform)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0
