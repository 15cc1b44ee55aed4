"""The application as it would be without one of its fast route classes (the lean reads, the
lean /healthz, the medical lean door), or without the lean reads' front (api.lean.LeanFront):
what those are compared with, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from yikatong.api.app import create_app


@contextmanager
def client_without(platform, route_class: type) -> Iterator[TestClient]:
    """A TestClient of `create_app(platform)` with every route of `route_class` taken out, so
    each request falls through to the ordinary FastAPI route behind it."""
    app = create_app(platform)
    app.router.routes[:] = [route for route in app.router.routes if not isinstance(route, route_class)]
    with TestClient(app) as test_client:
        yield test_client


@contextmanager
def client_without_front(platform) -> Iterator[TestClient]:
    """A TestClient of `create_app(platform)` whose middleware stack is built without
    `lean.LeanFront`: the lean reads answered inside the stack, by `LeanReads.handle`."""
    from yikatong.api.lean import LeanFront

    app = create_app(platform)
    build = app.build_middleware_stack

    def without_front():
        stack = build()
        return stack.app if isinstance(stack, LeanFront) else stack

    app.build_middleware_stack = without_front
    with TestClient(app) as test_client:
        yield test_client
