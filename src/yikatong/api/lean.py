"""The lean answer path of the hot reads: the routes that check access in their own read
(`Depends(api.deps.read_access)`: the card, the card's blocks, the terminal's contact poll).

FastAPI spends most of a card read's CPU on its own machinery, not on the read: matching the
path against the nested routers in front of the route, solving the dependencies (the access
check and the credential headers declared for the OpenAPI document) and validating the answer
again before serialising it (bench/request_path.py has the figures). For a request where none
of that can change the outcome, `LeanReads`, the first route of the application, answers
instead:

- it matches the route's own path regex, and only if no route in front of it in FastAPI's
  order could have taken the request (those few are found at start-up and tried first);
- it calls the route's own endpoint with the path values and the `ReadAccess` that
  `authorize` would have made (same credential, same channel, same roles from the access
  table), so the checks run in the same order in the same code (`ReadAccess.read`);
- it serialises the answer with the route's own response field (`serialize_json`, FastAPI's
  own serialiser, by alias as FastAPI does), skipping only the validation of a model instance
  of exactly the response model (pydantic would hand the same instance back);
- refusals are raised as from the route, into the application's own exception handlers, and
  the security and clock middlewares wrap the answer as any other.

Any request that the ordinary path could answer differently goes the ordinary way: no
credential (401 from `authorize`), an `X-Ykt-Channel` that is not a channel (422 from the
header's validation), a route the access table leaves out or marks public, an answer of
another type. So the lean path changes how fast an answer comes, never what it says
(tests/api/test_lean_reads.py compares the two byte for byte). The OpenAPI document is built
from the routes, which stay as they are.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from yikatong.api import lean_posts
from yikatong.api.deps import ReadAccess, authorize, credential, credential_of, read_access
from yikatong.api.lean_posts import LeanPost, LeanPosts
from yikatong.auth.access import PUBLIC, allowed_roles
from yikatong.core.actor import Channel
from yikatong.core.remembered import ByIdentity

CHANNELS = frozenset(channel.value for channel in Channel)
_REMEMBERED = "yikatong_lean_answers_remembered"  # the mark of `answers_remembered`
_LEAN = "yikatong.lean_read"  # the child scope key naming the lean read matched
_REFUSED = "yikatong.lean_refused"  # (read, exception): a refusal LeanFront met, for LeanReads


def answers_remembered(endpoint: Callable) -> Callable:
    """Mark a lean read's endpoint (put it under the route decorator) whose answer to the same
    read of an unchanged thing is the same object, never changed once made (cards.api's card
    read: its answer model remembered with the card's view): the answer's bytes are then
    remembered with it, serialised once, not at every read."""
    setattr(endpoint, _REMEMBERED, True)
    return endpoint


@dataclass(frozen=True)
class LeanRead:
    """One route answered the lean way, with what start-up worked out about it."""

    route: APIRoute
    path_regex: re.Pattern[str]
    allowed: frozenset
    access_name: str  # the endpoint's parameter that receives the ReadAccess
    model: type[BaseModel]  # the response model, or the item model of a list[...] one
    is_list: bool
    shadows: tuple[re.Pattern[str], ...]  # earlier routes (GET) that could take the same path
    # its answers' bytes by the answer's identity, if its endpoint `answers_remembered`
    remembered: ByIdentity[Any, bytes] | None = None

    def values(self, match: re.Match[str]) -> dict[str, Any]:
        return {name: self.route.param_convertors[name].convert(value)
                for name, value in match.groupdict().items()}

    def already_valid(self, answer: Any) -> bool:
        """Whether FastAPI's validation of `answer` would hand it back unchanged: an instance of
        exactly the response model (or a list of them) that does not ask to be revalidated."""
        if self.is_list:
            return type(answer) is list and all(type(item) is self.model for item in answer)
        return type(answer) is self.model

    def serialise(self, answer: Any) -> bytes:
        if self.remembered is not None:
            return self.remembered(answer)
        return lean_posts.serialised(self.route, answer)

    async def validated_and_serialised(self, answer: Any) -> bytes:
        return await lean_posts.validated_and_serialised(self.route, answer)


class LeanReads(BaseRoute):
    """The first route of the application (see the module docstring); `install` puts it there."""

    def __init__(self, reads: list[LeanRead]) -> None:
        self.reads = reads
        self._prefixes = tuple({_literal_prefix(read.path_regex.pattern) for read in reads})

    def url_path_for(self, name: str, /, **path_params) -> None:
        """No URL is named here: `request.url_for` asks every route and goes on to the one
        that has the name (the routes answered here keep theirs)."""
        raise NoMatchFound(name, path_params)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":
            return Match.NONE, {}
        path = get_route_path(scope)
        if not path.startswith(self._prefixes):
            return Match.NONE, {}
        for read in self.reads:
            found = read.path_regex.match(path)
            if found is None:
                continue
            for shadow in read.shadows:
                if shadow.match(path):
                    return Match.NONE, {}  # a route in front of it takes the request
            headers = _FirstHeaders(scope["headers"])
            secret = credential_of(headers.get("authorization") or "", headers.get)
            channel = headers.get("x-ykt-channel")
            if not secret or not (channel is None or channel in CHANNELS):
                return Match.NONE, {}  # refused before the read (401, 422): the ordinary way
            return Match.FULL, {"endpoint": read.route.endpoint, "route": read.route,
                                "path_params": read.values(found),
                                _LEAN: (read, ReadAccess(scope["app"].state.platform,
                                                         read.allowed, secret, channel))}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        read, access = scope[_LEAN]
        refused = scope.get(_REFUSED)
        if refused is not None and refused[0] is read:  # LeanFront read it: its refusal
            raise refused[1]
        answer = await read.route.endpoint(**scope["path_params"], **{read.access_name: access})
        body = (read.serialise(answer) if read.already_valid(answer)
                else await read.validated_and_serialised(answer))
        await Response(content=body, media_type="application/json")(scope, receive, send)


class LeanConstant(BaseRoute):
    """`GET path` of a public route whose answer never changes (the health check), answered
    with the bytes its route answers, made once: no `Request`, no dependency solving (the
    global `authorize` lets a PUBLIC route through without looking at anything), no
    validation or serialisation of the same dictionary on every request. Every middleware
    wraps it as any route (security headers, request metrics under the route's template, the
    moved clock's header); another method goes on to the route itself (405 as before)."""

    def __init__(self, route: APIRoute, answer: Any) -> None:
        self.route = route
        self.path = route.path
        self._child_scope = {"endpoint": route.endpoint, "route": route}
        response = Response(content=route.response_field.serialize_json(answer, by_alias=True),
                            media_type="application/json")
        self._start = {"type": "http.response.start", "status": response.status_code,
                       "headers": response.raw_headers}
        self._body = {"type": "http.response.body", "body": response.body}

    def url_path_for(self, name: str, /, **path_params) -> None:
        raise NoMatchFound(name, path_params)  # the route behind keeps its name (LeanReads)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["method"] == "GET" and \
                get_route_path(scope) == self.path:
            return Match.FULL, {**self._child_scope, "path_params": {}}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Fresh messages each time: a middleware may change what it is given.
        await send({**self._start, "headers": list(self._start["headers"])})
        await send(dict(self._body))


class LeanFront:
    """The lean reads' answers made in front of the middleware stack, outermost: for a request
    `LeanReads` takes that carries no body, the read, its answer and what every layer around
    the route adds to a 200 (the security headers, the moved clock's header in development,
    the request metrics under the route's template), without passing the request through
    eleven layers (ours and FastAPI's, each a call and a `send` wrapper: a sixth of a card
    read's CPU under load, bench/request_path.py) and the router. Nothing the layers do before
    the route can refuse such a request: the body limits look at a body (none), the CSRF check
    passes API paths, the FHIR outcomes only rewrite errors under their root.

    A refusal (any exception of the read) goes the ordinary way: the request is passed to the
    stack with the refusal in its scope, and `LeanReads.handle` raises it where the route
    would have, into the same exception handlers, the same layers and metrics; the read is
    not made twice (a holder's call is counted once). Every other request goes to the stack
    at once. `install_front` puts it there only around the stack it knows (see there).

    The POST doors of api.lean_posts are answered here the same way (`_answer_post`): their
    body read and validated, their dependencies and endpoint called, their answer with the
    same headers and metrics; a request the stack could answer otherwise goes there untouched,
    a refusal of the work through `LeanPosts`, as a lean read's through `LeanReads`."""

    def __init__(self, app: ASGIApp, *, lean: LeanReads, metrics, security,
                 clock_header: Callable[[Any], tuple[bytes, bytes] | None] | None,
                 posts: LeanPosts | None = None) -> None:
        self.app = app
        self._lean = lean
        # the POST doors answered here (api.lean_posts), by path; none without LeanPosts
        self._posts = posts.posts if posts is not None else {}
        self._metrics = metrics  # observability.http.RequestMetrics, in the stack
        self._security = security  # api.middleware.SecurityMiddleware, in the stack
        # devclock.api.moved_clock_header if NameMovedClock is in the stack (development)
        self._clock_header = clock_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            post = self._posts.get(get_route_path(scope)) \
                if scope["type"] == "http" and scope["method"] == "POST" else None
            await (self.app(scope, receive, send) if post is None
                   else self._answer_post(post, scope, receive, send))
            return
        match, child = self._lean.matches(scope)
        if match is not Match.FULL or _may_carry_body(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        read, access = child[_LEAN]
        try:
            answer = await read.route.endpoint(**child["path_params"], **{read.access_name: access})
            body = (read.serialise(answer) if read.already_valid(answer)
                    else await read.validated_and_serialised(answer))
        except Exception as refusal:
            scope[_REFUSED] = (read, refusal)
            await self.app(scope, receive, send)
            return
        except BaseException:  # cancelled: counted as the metrics count it (no answer: 500)
            self._metrics.record("GET", read.route, 500, time.perf_counter() - started)
            raise
        await self._send(scope, send, "GET", read.route, 200, body, started)

    async def _answer_post(self, post: LeanPost, scope: Scope, receive: Receive,
                           send: Send) -> None:
        """A POST door's answer made here (api.lean_posts), or the request passed to the stack
        untouched (the body read replayed) wherever the stack could answer otherwise."""
        started = time.perf_counter()
        headers = Headers(scope=scope)
        channel, limit = headers.get("x-ykt-channel"), self._security.limit_of("POST", scope["path"])
        length = lean_posts.declared_json_length(scope)
        if (length is None or length > limit or not (channel is None or channel in CHANNELS)
                or (post.needs_credential and not credential(headers))
                or scope["app"].dependency_overrides):  # (a test's: FastAPI's to honour)
            await self.app(scope, receive, send)  # refused before the work, or not JSON
            return
        raw, messages = await lean_posts.read_body(receive, limit)
        receive = lean_posts.replaying(messages, receive)
        body = post.body(raw) if raw is not None else None
        if body is None:  # over the limit, not JSON, not valid: the stack refuses it
            await self.app(scope, receive, send)
            return
        request = Request({**scope, "route": post.route, "endpoint": post.route.endpoint,
                           "path_params": {}, "state": dict(scope.get("state") or {})}, receive)
        try:
            answer = await post.answer(request, body)
        except Exception as refusal:
            lean_posts.refused(scope, post, refusal)
            await self.app(scope, receive, send)
            return
        except BaseException:  # cancelled: counted as the metrics count it (no answer: 500)
            self._metrics.record("POST", post.route, 500, time.perf_counter() - started)
            raise
        await self._send(scope, send, "POST", post.route, post.status, answer, started)

    async def _send(self, scope: Scope, send: Send, method: str, route: APIRoute, status: int,
                    body: bytes, started: float) -> None:
        """The answer made here, sent with its headers (`_answer_headers`) and counted."""
        try:
            await send({"type": "http.response.start", "status": status,
                        "headers": self._answer_headers(scope, body)})
            await send({"type": "http.response.body", "body": body})
        finally:
            self._metrics.record(method, route, status, time.perf_counter() - started)

    def _answer_headers(self, scope: Scope, body: bytes) -> list[tuple[bytes, bytes]]:
        """What the route's `Response` carries, then the moved clock's header, then the security
        headers (replacing any of theirs), in the order the layers add them."""
        headers = [(b"content-length", str(len(body)).encode("latin-1")),
                   (b"content-type", b"application/json")]
        if self._clock_header is not None:
            named = self._clock_header(scope["app"].state.platform.clock)
            if named is not None:
                headers.append(named)
        extra, names = self._security.header_set(scope)
        return [header for header in headers if header[0] not in names] + extra


class _FirstHeaders(dict):
    """The value of each header name's first line (what starlette's `Headers.get` answers),
    read in one pass over the request's raw headers (lower-case names, as ASGI hands them)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        super().__init__()
        for name, value in raw:
            name = name.decode("latin-1")
            if name not in self:
                self[name] = value.decode("latin-1")


def _may_carry_body(scope: Scope) -> bool:
    """A Content-Length or a Transfer-Encoding: the security layer counts (or refuses) it."""
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


def install_front(app) -> bool:
    """Put `LeanFront` around `app`'s middleware stack when it is built (call last, after
    every layer is in place), if the stack is the one it answers for: the FHIR outcomes, the
    request metrics and the security layer outermost in that order, FastAPI's own layers, and
    among the application's own middlewares only the CSRF check and the moved clock's; every
    lean read's path outside the pages and the FHIR root. Otherwise nothing changes (the
    lean reads are answered inside the stack as before)."""
    from yikatong.api.middleware import SecurityMiddleware
    from yikatong.devclock.api import NameMovedClock, moved_clock_header
    from yikatong.medical.fhir_api import ROOT as FHIR_ROOT
    from yikatong.medical.fhir_api import OperationOutcomes
    from yikatong.observability.http import RequestMetrics
    from yikatong.pages.sessions import CsrfProtection, is_page_path

    routes = app.router.routes
    if not (routes and isinstance(routes[0], LeanReads)):
        return False
    posts = next((route for route in routes if isinstance(route, LeanPosts)), None)
    lean: LeanReads = routes[0]
    if any(is_page_path(prefix) or prefix.startswith(FHIR_ROOT) or FHIR_ROOT.startswith(prefix)
           for prefix in lean._prefixes):
        return False
    build = app.build_middleware_stack

    def build_with_front():
        stack = build()
        metrics = getattr(stack, "app", None)
        security = getattr(metrics, "app", None)
        own = [middleware.cls for middleware in app.user_middleware]
        if not (type(stack) is OperationOutcomes and type(metrics) is RequestMetrics
                and type(security) is SecurityMiddleware
                and set(own) <= {CsrfProtection, NameMovedClock} and len(own) == len(set(own))
                and app.router.routes and app.router.routes[0] is lean):  # (a test may take it out)
            return stack
        return LeanFront(stack, lean=lean, metrics=metrics, security=security,
                         clock_header=moved_clock_header if NameMovedClock in own else None,
                         # (a test may take the doors' refusal route out: no POST answered here)
                         posts=posts if posts in app.router.routes else None)

    app.build_middleware_stack = build_with_front
    return True


def install(app) -> LeanReads:
    """Put the lean path in front of `app`'s routes (after every route is in place)."""
    lean = LeanReads(lean_reads(app))
    app.router.routes.insert(0, lean)
    return lean


def install_constant(app, route: APIRoute, answer: Any) -> LeanConstant | None:
    """Answer `route` (a GET whose endpoint always returns `answer`) the lean way, right after
    the lean reads, if nothing could make its answer differ: the access table marks it PUBLIC,
    it declares nothing but the application's `authorize` (no parameter, dependency or answer
    class of its own), and no route in front of it takes its path."""
    dependant = route.dependant
    if not (route.methods == {"GET"} and allowed_roles("GET", route.path) is PUBLIC
            and [d.call for d in dependant.dependencies] == [authorize]
            and not (dependant.path_params or dependant.query_params or dependant.header_params
                     or dependant.cookie_params or dependant.body_params)
            and route.status_code in (None, 200) and route.response_field is not None
            and isinstance(route.response_class, DefaultPlaceholder)):
        return None
    scope = {"type": "http", "method": "GET", "path": route.path, "root_path": "", "headers": []}
    for other in app.router.routes:
        if other is route:
            break
        try:
            taken = other.matches(scope)[0] is not Match.NONE
        except Exception:  # a route that needs more of a request to tell: leave it to FastAPI
            taken = True
        if taken:
            return None
    else:
        return None  # not a route of this application
    constant = LeanConstant(route, answer)
    routes = app.router.routes
    routes.insert(1 if routes and isinstance(routes[0], LeanReads) else 0, constant)
    return constant


def lean_reads(app) -> list[LeanRead]:
    """Every `read_access` route of `app` that the lean path can answer exactly as FastAPI
    would; the others (and every other route) stay on the ordinary path."""
    reads, earlier = [], []
    for context in iter_route_contexts(app.routes):
        route, regex = context.original_route, getattr(context, "path_regex", None)
        read = _lean_read(context, route, regex, earlier)
        if read is not None:
            reads.append(read)
        earlier.append((regex, context.methods, context.path_format or getattr(route, "path", "")))
    return reads


def _lean_read(context, route, regex, earlier) -> LeanRead | None:
    if not (isinstance(route, APIRoute) and regex is not None and _answerable(route)):
        return None
    allowed = allowed_roles("GET", context.path_format)
    if allowed is None or allowed is PUBLIC:  # `authorize` refuses or lets through: its way
        return None
    prefix = _literal_prefix(regex.pattern)
    shadows = []
    for other_regex, methods, other_path in earlier:
        other_prefix = _literal_prefix(other_regex.pattern) if other_regex else other_path
        if not (prefix.startswith(other_prefix) or other_prefix.startswith(prefix)):
            continue  # no path starts with both
        if other_regex is None:  # a route we cannot match ourselves: leave it to FastAPI
            return None
        if methods is None or "GET" in methods:
            shadows.append(other_regex)
    model, is_list = _response_model(route)
    if model is None:
        return None
    [access] = route.dependant.dependencies
    remembered = (ByIdentity(1024, partial(lean_posts.serialised, route))
                  if getattr(route.endpoint, _REMEMBERED, False) else None)
    return LeanRead(route=route, path_regex=regex, allowed=allowed, access_name=access.name,
                    model=model, is_list=is_list, shadows=tuple(shadows), remembered=remembered)


def _answerable(route: APIRoute) -> bool:
    """A GET whose only inputs are plain `str` path values and `read_access` (so nothing can
    fail validation but the credential headers, which `_plain_request` looks at), answered
    by FastAPI's default JSON serialisation of its response model."""
    dependant = route.dependant
    return (route.methods == {"GET"} and inspect.iscoroutinefunction(route.endpoint)
            and [d.call for d in dependant.dependencies] == [read_access]
            and not (dependant.query_params or dependant.header_params
                     or dependant.cookie_params or dependant.body_params)
            and all(p.field_info.annotation is str and not p.field_info.metadata
                    for p in dependant.path_params)
            and route.status_code in (None, 200) and route.response_field is not None
            and isinstance(route.response_class, DefaultPlaceholder)
            and not route.dependencies)


def _response_model(route: APIRoute) -> tuple[type[BaseModel] | None, bool]:
    model = route.response_model
    is_list = getattr(model, "__origin__", None) is list
    if is_list:
        [model] = model.__args__
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None, False
    if model.model_config.get("revalidate_instances", "never") != "never":
        return None, False
    return model, is_list


def _literal_prefix(pattern: str) -> str:
    """The literal start of a compiled path regex ('^/api/v1/cards/(?P<card_no>…' →
    '/api/v1/cards/')."""
    literal = []
    for char in pattern.removeprefix("^"):
        if char in "([.*+?\\$|{":
            break
        literal.append(char)
    return "".join(literal)

