"""Request rates and latencies per route: a pure ASGI middleware around the whole application.

Labelled by the route's template as the access table names it (`/api/v1/cards/{card_no}`),
never by the path as requested: a card number, a person's id or an identity number in a path
never becomes a label (and the number of series stays the number of routes). A request no
route took (a 404, a 413 refused before routing) is counted under `unmatched`; a method
outside HTTP's usual ones under `other`.

Outermost (around the security middleware and Starlette's error middleware), so an answer
refused there or a 500 is counted too. The router writes the route it matched into the scope
it was given, which is not the outer one (a middleware in between, the CSRF one, passes a
copy on): the outer middleware puts a one-item list in the scope, which every copy shares,
and a wrapper around the router fills it in (`install`).
The labelled children are looked up once per (method, route, status) and kept, so a request
costs two clock reads, two dictionary lookups and three additions.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yikatong.observability.metrics import Metrics, metrics

UNMATCHED = "unmatched"
ROUTE_NOTE = "ykt.matched_route"  # the scope key of the list the router wrapper fills in
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """See the module docstring. `templates` maps a route object's id to its full template
    (built on the first request, when every route is in place)."""

    def __init__(self, app: ASGIApp, *, asgi_app=None, registry: Metrics | None = None) -> None:
        self.app = app
        self._asgi_app = asgi_app  # the FastAPI application, for its route table
        self._metrics = registry
        self._templates: dict[int, str] | None = None
        self._counters: dict[tuple, object] = {}
        self._histograms: dict[tuple, object] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts
        scope[ROUTE_NOTE] = note = [None]

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            self.record(scope["method"], note[0], status, time.perf_counter() - started)

    def record(self, method: str, route, status: int, seconds: float) -> None:
        key = (method, id(route) if route is not None else None)
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms[key] = self._registry().request_seconds.labels(
                *self._labels(method, route))
        histogram.observe(seconds)
        counter_key = (*key, status)
        counter = self._counters.get(counter_key)
        if counter is None:
            counter = self._counters[counter_key] = self._registry().requests.labels(
                *self._labels(method, route), str(status))
        counter.inc()

    def _registry(self) -> Metrics:
        if self._metrics is None:
            self._metrics = metrics()
        return self._metrics

    def _labels(self, method: str, route) -> tuple[str, str]:
        return (method if method in METHODS else "other"), self.template_of(route)

    def template_of(self, route) -> str:
        if route is None:
            return UNMATCHED
        if self._templates is None:
            self._templates = _route_templates(self._asgi_app) if self._asgi_app is not None else {}
        template = self._templates.get(id(route))
        if template is None:  # a route added after start-up: map the routes again, once
            self._templates = _route_templates(self._asgi_app) if self._asgi_app is not None else {}
            template = self._templates.get(id(route))
        if template is None:  # a mount (static files) or a route outside the table
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED
            self._templates[id(route)] = template
        return template


def _route_templates(app) -> dict[int, str]:
    from yikatong.api.deps import served_operations

    return {id(route): path for route, _method, path in served_operations(app)}


def install(app) -> None:
    """Wrap `app` in the request metrics, outermost (around whatever `build_middleware_stack`
    builds, the security middleware included), and its router in `_note_route`."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestMetrics(build(), asgi_app=app)
    app.router.middleware_stack = _note_route(app.router.middleware_stack)


def _note_route(router_app: ASGIApp) -> ASGIApp:
    """The router, telling the request metrics which route it matched (see the module docstring)."""

    async def routing(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await router_app(scope, receive, send)
        finally:
            note = scope.get(ROUTE_NOTE)
            if note is not None:
                note[0] = scope.get("route")

    return routing
