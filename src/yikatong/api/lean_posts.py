"""The hot POST doors answered in front of the middleware stack (api.lean.LeanFront), as the
lean reads are: the e-card check by a terminal, the e-card redeem, the transit contact start.

What a POST costs in FastAPI beyond its work: the eleven layers around the route (each a call
and a `send` wrapper), matching the path against the nested routers, solving the dependencies
(the access check, the throttle, the credential headers declared for the OpenAPI document:
a fifth of the SQLite e-card check's CPU) and validating the answer again before serialising
it (bench/request_path.py, bench/write_doors.py). For a request where none of that can change
the outcome, `LeanFront` answers with the door's own pieces, in FastAPI's order:

- the body read as FastAPI reads it, parsed as `Request.json` parses it and validated with the
  route's own body field (the door's Pydantic schema, `ModelField.validate`);
- the route's dependencies called as `solve_dependencies` calls them, depth first in the
  order declared, each once (the application's `authorize`, the door's throttle, the actor),
  the same functions on a `Request` whose scope names the route;
- the route's own endpoint, then its answer serialised by the route's response field (FastAPI's
  serialiser; an instance of exactly the response model is not validated again), with the
  route's status, and what every layer adds to it (`LeanFront._answer_headers`, the metrics).

Every request whose answer the ordinary path could make otherwise goes there untouched (the
body it was sent replayed): no Content-Length or a chunked body, a body over the route's limit
or empty, a content type other than JSON, JSON that does not parse or does not validate, an
`X-Ykt-Channel` that names no channel, no credential on a route that needs one. None of these
has had any effect by then: the refusals come from the stack, in its order, with its bytes.
A refusal of the work itself (a 401, 403, 429, 409 or any exception: its dependencies or its
endpoint may have written, as on the ordinary path) is passed to the stack in the scope, and
`LeanPosts`, the route in front of the door's, raises it where the door would have, into the
same exception handlers, layers and metrics: the work is never done twice.

A door is registered by marking its endpoint `@answered_in_front` under its route decorator;
`install` takes it if its route is of the shape this module can answer exactly (an `async`
POST of a literal path, one JSON body model and nothing else from the request, dependencies
that ask for nothing but the request and each other, FastAPI's default answer class) and no
route in front of it takes its path; any other route marked stays on the ordinary path.
tests/api/test_lean_posts.py compares the answers byte for byte with the application without
`LeanPosts`.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from fastapi.routing import APIRoute, iter_route_contexts, serialize_response
from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Message, Receive, Scope, Send

from yikatong.api.deps import authorize, credential_headers
from yikatong.auth.access import PUBLIC, allowed_roles

_REFUSED = "yikatong.lean_post_refused"  # (post, exception): a refusal LeanFront met
_MARK = "ykt_answered_in_front"
_JSON = "application/json"


def answered_in_front(endpoint: Callable) -> Callable:
    """Mark a POST door's endpoint to be answered in front of the middleware stack (put it
    under the route decorator); `install` decides whether its route can be. The endpoint
    returns its answer's data (a model, a dict), never a `Response` of its own."""
    setattr(endpoint, _MARK, True)
    return endpoint


@dataclass(frozen=True)
class LeanPost:
    """One POST door answered in front of the stack, with what start-up worked out about it."""

    route: APIRoute  # the route as declared: the scope's, the metrics', the access table's
    effective: Any  # the route as the routers include it (fastapi.routing.RouteContext):
    #                 the application's dependencies in front of its own, its body field
    path: str
    needs_credential: bool  # not PUBLIC: without a credential `authorize` refuses (401)
    body_name: str  # the endpoint's parameter that receives the validated body
    model: type[BaseModel]  # the response model
    status: int

    def body(self, raw: bytes) -> Any | None:
        """The body as the route's body field validates it, or None where FastAPI would not
        get that far or would refuse it (the stack answers)."""
        try:
            parsed = json.loads(raw)  # as starlette's Request.json
            value, errors = self.effective.body_field.validate(parsed, {}, loc=("body",))
        except Exception:  # not JSON (422), not UTF-8 or nested too deep (400): the stack's
            return None
        return None if errors else value

    async def answer(self, request: Request, body: Any) -> bytes:
        """The route's dependencies and endpoint on `request`, and its answer's bytes."""
        solved: dict[Callable, Any] = {}
        values = {self.body_name: body}
        for dependency in self.effective.dependant.dependencies:
            value = await _solved(dependency, request, solved)
            if dependency.name is not None:
                values[dependency.name] = value
        answer = await self.route.endpoint(**values)
        if type(answer) is self.model:  # FastAPI's validation would hand it back as it is
            return serialised(self.effective, answer)
        return await validated_and_serialised(self.effective, answer)


def serialised(route: Any, answer: Any) -> bytes:
    """`answer` serialised by `route`'s response field as FastAPI serialises it, not validated
    again (for an answer FastAPI's validation would hand back as it is)."""
    return route.response_field.serialize_json(
        answer, include=route.response_model_include,
        exclude=route.response_model_exclude, by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none)


async def validated_and_serialised(route: Any, answer: Any) -> bytes:
    """FastAPI's own way (validate, then serialise): for an answer of another type."""
    return await serialize_response(
        field=route.response_field, response_content=answer,
        include=route.response_model_include, exclude=route.response_model_exclude,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none, is_coroutine=True, dump_json=True)


async def _solved(dependant: Dependant, request: Request, solved: dict[Callable, Any]) -> Any:
    """`dependant`'s value as `solve_dependencies` makes it for a request whose headers are
    valid: its own dependencies first, in order, each call once per request (FastAPI's cache);
    the credential headers are only declared for the document (their one check, the channel,
    was made before: `LeanFront`)."""
    call = dependant.call
    if call in solved:
        return solved[call]
    if call is credential_headers:
        solved[call] = None
        return None
    values = {}
    for dependency in dependant.dependencies:
        value = await _solved(dependency, request, solved)
        if dependency.name is not None:
            values[dependency.name] = value
    if dependant.request_param_name is not None:
        values[dependant.request_param_name] = request
    value = solved[call] = await call(**values)
    return value


class LeanPosts(BaseRoute):
    """In front of the application's routes, behind the lean reads: takes only a request that
    `LeanFront` passes on with the refusal of a door's work, and raises it where the door's
    route would have (its route and endpoint in the scope, for the metrics and the handlers).
    Without it in the routes `LeanFront` answers no POST (tests take it out to compare)."""

    def __init__(self, posts: list[LeanPost]) -> None:
        self.posts = {post.path: post for post in posts}

    def url_path_for(self, name: str, /, **path_params) -> None:
        raise NoMatchFound(name, path_params)  # the doors' routes keep their names

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        refused = scope.get(_REFUSED)
        if refused is None or scope.get("type") != "http":
            return Match.NONE, {}
        route = refused[0].route
        return Match.FULL, {"endpoint": route.endpoint, "route": route, "path_params": {}}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise scope[_REFUSED][1]


def install(app) -> LeanPosts | None:
    """Put `LeanPosts` in front of `app`'s routes, behind the lean reads (after every route is
    in place), for the marked doors it can answer; None if there is none."""
    from yikatong.api.lean import LeanReads

    posts = lean_posts(app)
    if not posts:
        return None
    refusals = LeanPosts(posts)
    routes = app.router.routes
    routes.insert(1 if routes and isinstance(routes[0], LeanReads) else 0, refusals)
    return refusals


def lean_posts(app) -> list[LeanPost]:
    """Every marked POST door of `app` this module answers exactly as FastAPI would."""
    found, earlier = [], []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and getattr(route.endpoint, _MARK, False):
            post = _lean_post(route, context, context.path_format,
                              getattr(context, "path_regex", None))
            if post is not None and not any(_takes(other, post.path) for other in earlier):
                found.append(post)
        earlier.append(route)
    return found


def _takes(route: BaseRoute, path: str) -> bool:
    """Whether `route`, in front of a door, could take a POST to its path."""
    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": []}
    try:
        return route.matches(scope)[0] is Match.FULL
    except Exception:  # a route that needs more of a request to tell: leave it to FastAPI
        return True


def _lean_post(route: APIRoute, effective, path: str, regex: re.Pattern[str] | None
               ) -> LeanPost | None:
    dependant = effective.dependant
    allowed = allowed_roles("POST", path)
    model = effective.response_model
    if not (route.methods == {"POST"} and inspect.iscoroutinefunction(route.endpoint)
            # an API path: no page's CSRF check, no FHIR outcome in front of it (LeanFront)
            and path.startswith("/api/v1/")
            and regex is not None and regex.groups == 0 and regex.fullmatch(path)
            and allowed is not None
            and not (dependant.path_params or dependant.query_params or dependant.header_params
                     or dependant.cookie_params or _special(dependant))
            and len(dependant.body_params) == 1 and effective.body_field is not None
            and not isinstance(effective.body_field.field_info, Form)
            and not getattr(effective, "_embed_body_fields", True)
            and getattr(effective, "max_body_size", None) is None  # FastAPI's own limit: none
            and not (effective.is_json_stream or effective.is_sse_stream)
            and dependant.dependencies and dependant.dependencies[0].call is authorize
            and all(_answerable(d) for d in dependant.dependencies)
            and isinstance(effective.response_class, DefaultPlaceholder)
            and effective.response_field is not None and isinstance(model, type)
            and issubclass(model, BaseModel)
            and model.model_config.get("revalidate_instances", "never") == "never"):
        return None
    return LeanPost(route=route, effective=effective, path=path, needs_credential=allowed is not PUBLIC,
                    body_name=dependant.body_params[0].name, model=model,
                    status=effective.status_code or 200)


def _answerable(dependant: Dependant) -> bool:
    """A dependency `_solved` makes as FastAPI does: an `async` function of the request and
    of other such dependencies only (or the credential headers, declared for the document)."""
    if dependant.call is credential_headers:
        return True
    return (inspect.iscoroutinefunction(dependant.call) and dependant.use_cache
            and not (dependant.path_params or dependant.query_params or dependant.header_params
                     or dependant.cookie_params or dependant.body_params or _special(dependant))
            and all(_answerable(d) for d in dependant.dependencies))


def _special(dependant: Dependant) -> bool:
    """Asks for something other than the request (a response to change, background tasks,
    security scopes, a websocket)."""
    return any((dependant.websocket_param_name, dependant.http_connection_param_name,
                dependant.response_param_name, dependant.background_tasks_param_name,
                dependant.security_scopes_param_name, dependant.own_oauth_scopes))


# --- the body, read in front -------------------------------------------------------------------


def declared_json_length(scope: Scope) -> int | None:
    """The Content-Length of a JSON body sent whole (no Transfer-Encoding), else None: FastAPI
    parses a body as JSON for `application/json` (parameters aside); anything else the stack
    answers."""
    length = content_type = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            if length is not None:
                return None
            try:
                length = int(value)
            except ValueError:
                return None
        elif name == b"content-type":
            if content_type is not None:
                return None
            content_type = value
        elif name == b"transfer-encoding":
            return None
    if content_type is None or length is None or length <= 0:
        return None
    if content_type.split(b";", 1)[0].strip().lower() != _JSON.encode():
        return None
    return length


async def read_body(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """(the body, the messages read): the body None if it went past `limit`, or the client
    went away, before it ended (the stack, given the messages again, answers as before)."""
    messages, chunks, size = [], [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, messages
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that gives `messages` first (the body read in front), then the client's."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def refused(scope: Scope, post: LeanPost, refusal: Exception) -> None:
    """Note `refusal` in the scope for `LeanPosts` to raise."""
    scope[_REFUSED] = (post, refusal)
