"""Request dependencies: the platform, the access check every route goes through, the actor.

`authorize` runs before every route (the application declares it once, `create_app`): it
looks the matched route up in the access table (yikatong.auth.access), lets PUBLIC routes
through without looking at credentials, and otherwise resolves the credential and checks the
role. A route reads the acting user with `Depends(current_actor)`, which is the same actor
(FastAPI resolves a dependency once per request).

A hot read route may instead declare `Depends(read_access)`: `authorize` then leaves the
credential lookup to the route's own read-only unit of work (`ReadAccess.read`), so the
request makes one pool checkout and one transaction, in one thread-pool hop, for the access
check and the read, with the same checks in the same order. Such a route is also answered
by the lean path (api.lean) whenever FastAPI's dependency solving and answer validation
could not change the outcome.

Every other route's credential is looked up on the event loop (`_holder_on_loop`: SQLite's
loop connection, PostgreSQL's loop connections), so a write route that is `async` and hands
its work to the thread pool once waits in the pool's queue once, behind a busy server's
reads, where the lookup's own hop made it wait twice. A holder's call is counted (a write)
in the thread pool, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import BackgroundTasks, Depends, Header, Request
from fastapi.routing import iter_route_contexts
from fastapi.security import OAuth2PasswordBearer
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import BaseRoute

from yikatong.auth.access import PUBLIC, RoleNotAllowed, allowed_roles
from yikatong.auth.errors import ChannelNotAllowed
from yikatong.auth.rules import CHANNELS_BY_CREDENTIAL, channel_for, channel_table_markdown
from yikatong.auth.service import (
    CredentialHolder,
    credential_holder,
    link_holder_person,
    resolve_credential,
)
from yikatong.auth.throttle import count_holder_call, credential_holder_counted_on_loop
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.choices import echo
from yikatong.core.errors import Unauthenticated
from yikatong.db.raw import AnsweredOnlyUnitOfWork, NotAnswered, OneTrip, answered
from yikatong.db.uow import UnitOfWork
from yikatong.events.wiring import deliver_pending, held_until_answered
from yikatong.pages.sessions import session_secret
from yikatong.platform import Platform

T = TypeVar("T")

log = logging.getLogger(__name__)

# A database row id as a path, query or body value: outside 1..2^63-1 it is a 422, not a
# database overflow (SQLite) or an out-of-range error (PostgreSQL).
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Offset = Annotated[int, Field(ge=0, le=2**63 - 1)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# The dependencies that do no I/O are `async def`: FastAPI calls them on the event loop
# instead of handing each to the thread pool (a hop of tens of microseconds, and a queue
# behind every other request's hops under load).


async def platform_dep(request: Request) -> Platform:
    return request.app.state.platform


def served_operations(app) -> Iterator[tuple[BaseRoute, str, str]]:
    """(route, method, full path template) of every route the application serves."""
    for context in iter_route_contexts(app.routes):
        for method in sorted(context.methods or ()):
            yield context.original_route, method, context.path_format


def route_access(app) -> dict[tuple[int, str], tuple[frozenset | None, bool]]:
    """The access table's entry for each (route, method) the application serves, and whether
    the route checks access in its own read (`read_access`), by the route object's id (routes
    compare by value and do not hash), built once at start-up so the check of a request is one
    dictionary lookup. (A route object knows its path within its router only; the table names
    the full path.)"""
    return {(id(route), method): (allowed_roles(method, path), _checks_in_its_read(route))
            for route, method, path in served_operations(app)}


def _checks_in_its_read(route: BaseRoute) -> bool:
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:
        dependency = pending.pop()
        if dependency.call is read_access:
            return True
        pending.extend(dependency.dependencies)
    return False


async def authorize(request: Request) -> Actor | None:
    """The access check of every route: None on a PUBLIC route, else the authenticated actor
    whose role the access table allows here (401 without a credential, 403 otherwise). The
    credential is looked up in the thread pool (a database read); a PUBLIC route never
    leaves the event loop here."""
    key = (id(request.scope["route"]), request.method)
    try:
        allowed, in_its_read = request.app.state.route_access[key]
    except KeyError:  # a route added after start-up: map the routes again, once
        request.app.state.route_access = route_access(request.app)
        allowed, in_its_read = request.app.state.route_access.get(key, (None, False))
    if allowed is None:  # deny by default; tests/core/test_access_matrix.py names the route
        log.error("%s %s has no entry in the access table", request.method, request.url.path)
        raise RoleNotAllowed()
    if allowed is PUBLIC:
        return None
    secret, channel = request_credential(request), request.headers.get("x-ykt-channel")
    if in_its_read:
        if not secret:  # refused here, as on every other route, before any validation
            raise Unauthenticated()
        request.state.read_access = ReadAccess(request.app.state.platform, allowed, secret, channel)
        return None
    platform = request.app.state.platform
    if not secret:
        raise Unauthenticated()
    # (a route's per-credential throttle hit counted in the same statement: auth.throttle)
    holder = await credential_holder_counted_on_loop(request, secret, allowed, channel)
    if holder is not None and holder.role != Role.HOLDER:
        actor = _role_allowed(_actor_of(platform, secret, holder, channel), allowed)
    else:  # a holder's call is counted (and the person linked) on a thread: writes
        actor = await run_in_threadpool(_allowed_actor, platform, allowed, secret, channel, holder)
    request.state.actor = actor  # what a page's layout shows (pages.rendering)
    return actor


def _allowed_actor(platform: Platform, allowed, secret: str | None, channel: str | None,
                   holder: CredentialHolder | None = None) -> Actor:
    """The authenticated actor if the access table allows its role here (one thread-pool hop
    for the lookup, unless `holder` is what it found, and for a holder the quota count)."""
    actor = _role_allowed(authenticate(platform, secret, channel, holder), allowed)
    # Every holder call a route serves counts against the holder login's quota. Counted after
    # the access check, so a route closed to holders answers 403, as documented, and never
    # the 429 that only routes open to holders document (api.problems).
    if actor.role is Role.HOLDER:
        count_holder_call(platform, actor.account_id)
    return actor


def _role_allowed(actor: Actor, allowed) -> Actor:
    if actor.role not in allowed:
        raise RoleNotAllowed()
    return actor


async def write_in_thread(platform: Platform, background: BackgroundTasks,
                          work: Callable[..., T], *args) -> T:
    """`work(*args)` in one thread-pool hop, for a write route: the events its commits emit
    are delivered in process (events.wiring) once the answer is sent, a background task of the
    request, not before the answer in the route's own hop (on the loss and unblock, two thirds
    of the request's CPU: the e-card re-derived and both status lists re-signed, the bank's
    copy, the holder's notice). What the caller reads in the answer was committed before it;
    what a holder reads next (the card, the e-card's status, a code checked) is derived from
    the card itself, never from what the delivery writes.

    Refused after a commit (a request that commits, then raises): delivered before the
    refusal is answered, as there is no answer for a background task to follow."""
    with held_until_answered() as held:
        try:
            outcome = await run_in_threadpool(work, *args)
        except BaseException:
            if held.due:
                await run_in_threadpool(deliver_pending, platform)
            raise
    if held.due:
        background.add_task(deliver_pending, platform)
    return outcome


@dataclass(frozen=True)
class ReadAccess:
    """The access check of a read route (`Depends(read_access)`), made in the route's read."""

    platform: Platform
    allowed: frozenset
    secret: str
    channel: str | None

    async def answer(self, use_case: Callable[[UnitOfWork, Actor], T],
                     one_trip: Callable[[str], OneTrip | None] | None = None) -> T:
        """`read(use_case)` from a route: on SQLite the read runs on the event loop itself
        (Platform.loop_read_uow) and only what writes goes to the thread pool (a holder's
        first call that links their person, a holder's call counted: each may wait for the
        one write lock); on a server database all of it in one thread-pool hop.

        `one_trip(secret)`, if given, is the credential lookup and the use case's plain selects
        in one statement (db.raw.OneTrip), or None: the same checks then run on the rows it
        fetched (db.raw.answered), in one round trip. On PostgreSQL that statement runs on the
        event loop (Platform.loop_reads) and, if it answers every select the read makes, the
        read never leaves the loop; a read that needs more (a holder's guardianship, an
        employer's staff) runs on a thread as without it. On a SQLite file it runs on the
        loop's own connection outside a unit of work (Platform.sqlite_loop_reads: one
        statement, one snapshot, no BEGIN, ROLLBACK or pool checkout); a read that needs more
        runs in the loop's unit of work as without it."""
        trip = one_trip(self.secret) if one_trip is not None else None
        # A SQLite file: the one statement on the loop's connection, else in the unit of work
        on_sqlite = self.platform.sqlite_loop_reads() if trip is not None else None
        found = on_sqlite.answers(trip) if on_sqlite is not None else None
        checked = self._checked_answered(use_case, found) if found is not None else None
        if checked is None:
            uow = self.platform.loop_read_uow()
            if uow is None:
                checked = await self._checked_on_loop(use_case, trip)
                if checked is None:
                    return await run_in_threadpool(self.read, use_case, trip)
            else:
                checked = self._checked_read(uow, use_case, trip)
        actor, outcome, refusal = checked
        if actor is None or actor.role is Role.HOLDER:
            return await run_in_threadpool(self._after_read, actor, outcome, refusal, use_case)
        if refusal is not None:
            raise refusal
        return outcome

    async def _checked_on_loop(self, use_case: Callable[[UnitOfWork, Actor], T],
                               trip: OneTrip | None):
        """`_checked_read` on the event loop from `trip`'s rows fetched there, or None (no
        trip, no loop connections, or a select the trip did not answer)."""
        reads = self.platform.loop_reads() if trip is not None else None
        found = await reads.answers(trip) if reads is not None else None
        if found is None:
            return None
        return self._checked_answered(use_case, found)

    def _checked_answered(self, use_case: Callable[[UnitOfWork, Actor], T], found: dict):
        """`_checked_read` on `found` alone (no database), or None if the read asked for a
        select that `found` does not answer."""
        uow = AnsweredOnlyUnitOfWork(self.platform.engine.dialect, self.platform.clock,
                                     seams=self.platform)
        try:
            return self._checked_read(uow, use_case, found=found)
        except NotAnswered:
            return None

    def read(self, use_case: Callable[[UnitOfWork, Actor], T],
             trip: OneTrip | None = None) -> T:
        """`use_case(uow, actor)` in a read-only unit of work whose connection first looks the
        credential up: the same checks as `authorize`, in the same order (401, then 403 for the
        role, then a holder's call counted, 429 over quota), on one pool checkout and in one
        transaction (call it in the thread pool: it blocks).

        The holder's count writes on a connection of its own, so it is made once the read's
        connection is back in the pool: a thread holding one connection while waiting for
        another could, with every pooled connection taken that way, wait for ever. A count
        over quota still answers 429 instead of the read (which changed nothing)."""
        actor, outcome, refusal = self._checked_read(self.platform.statement_read_uow(), use_case,
                                                     trip)
        return self._after_read(actor, outcome, refusal, use_case)

    def _checked_read(self, uow: UnitOfWork, use_case: Callable[[UnitOfWork, Actor], T],
                      trip: OneTrip | None = None, found: dict | None = None
                      ) -> tuple[Actor | None, T | None, Exception | None]:
        """(actor, outcome, refusal of the use case) from one read-only unit of work; the
        actor None: a holder whose person must be linked first (`_after_read` does). Its
        selects are answered by `found`, else by `trip` fetched first, else one by one."""
        platform = self.platform
        actor = outcome = refusal = None
        with uow:
            if found is None and trip is not None:
                found = trip.answers(uow.connection())
            with answered(found):
                holder = credential_holder(connection=uow.connection(), secret=self.secret,
                                           now=platform.clock.now())
                if not _needs_person_link(holder):
                    actor = _role_allowed(_actor_of(platform, self.secret, holder, self.channel),
                                          self.allowed)
                    try:
                        outcome = use_case(uow, actor)
                    except Exception as error:  # answered after the holder's count, as before
                        refusal = error
        return actor, outcome, refusal

    def _after_read(self, actor: Actor | None, outcome: T | None, refusal: Exception | None,
                    use_case: Callable[[UnitOfWork, Actor], T]) -> T:
        """What follows the read, with the read's connection given back: the person link and
        the read again, or a holder's call counted; then the read's answer or refusal."""
        platform = self.platform
        if actor is None:  # a holder's first call since their person exists: linking writes
            actor = _allowed_actor(platform, self.allowed, self.secret, self.channel)
            with platform.uow(read_only=True) as uow:
                return use_case(uow, actor)
        if actor.role is Role.HOLDER:
            count_holder_call(platform, actor.account_id)
        if refusal is not None:
            raise refusal
        return outcome


async def credential_headers(
    _token: str | None = Depends(oauth2_scheme),
    _api_key: str | None = Header(default=None, alias="X-API-Key"),
    # Named apart from any route's own `channel` path parameter.
    _requested_channel: Channel | None = Header(
        default=None, alias="X-Ykt-Channel",
        description="The channel the caller acts through; without it, the first its credential "
                    "may claim. A claim outside this table is refused (403 channel_not_allowed).\n\n"
                    + channel_table_markdown()),
) -> None:
    """Declared for the OpenAPI document (how to authenticate, which channel to claim) by
    every route that needs a login; `authorize` reads the headers themselves."""


async def read_access(request: Request, _documented: None = Depends(credential_headers)
                      ) -> ReadAccess:
    """The access check `authorize` left to a read route, to run as `access.read(use_case)`."""
    access = getattr(request.state, "read_access", None)
    if access is None:  # a PUBLIC route that asks for an actor: a mistake in the table
        raise Unauthenticated()
    return access


def credential(headers: Headers) -> str | None:
    """The secret a request carries: its bearer token, else its API key."""
    return credential_of(headers.get("authorization", ""), headers.get)


def credential_of(authorization: str, header: Callable[[str], str | None]) -> str | None:
    """`credential` from the Authorization header's value and the request's `header` lookup
    (asked for the API key only without a bearer token)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    return header("x-api-key") or None


def request_credential(request: Request) -> str | None:
    """The bearer token or API key a request carries; on a page, else the browser's session
    cookie (pages.sessions: the API never takes the cookie)."""
    return credential(request.headers) or session_secret(request)


def authenticate(platform: Platform, secret: str | None, requested_channel: str | None,
                 holder: CredentialHolder | None = None) -> Actor:
    """The actor behind a bearer token or API key, acting through a channel that kind of
    credential may claim for its role (auth.rules.CHANNELS_BY_CREDENTIAL); `holder`: what
    `credential_holder` just found for it."""
    if not secret:
        raise Unauthenticated()
    if holder is None:
        with platform.reading_engine.connect() as connection:  # one indexed read, no session
            holder = credential_holder(connection=connection, secret=secret,
                                       now=platform.clock.now())
    return _actor_of(platform, secret, holder, requested_channel)


def _needs_person_link(holder: CredentialHolder) -> bool:
    return holder.role == Role.HOLDER and holder.person_id is None and bool(holder.verified_ssn)


def _actor_of(platform: Platform, secret: str, holder: CredentialHolder,
              requested_channel: str | None) -> Actor:
    person_id = holder.person_id
    if _needs_person_link(holder):
        person_id = _link_holder(platform, secret)  # once, the first call after the person exists
    role = Role(holder.role)
    acting_channel = channel_for(role, holder.kind, requested_channel)
    if acting_channel is None:
        allowed = [str(c) for c in CHANNELS_BY_CREDENTIAL[holder.kind].get(role, ())]
        raise ChannelNotAllowed(channel=echo(requested_channel), credential=holder.kind, allowed=allowed)
    return Actor(
        user_id=holder.username, role=role, channel=acting_channel, bank_code=holder.bank_code,
        branch_code=holder.branch_code, person_id=person_id, account_id=holder.account_id,
        employer_uscc=holder.employer_uscc,
    )


def _link_holder(platform: Platform, secret: str) -> int | None:
    """Tie a holder login to their person record if it now exists (a write, in its own unit
    of work); the person id, or None."""
    with platform.uow() as uow:
        user, _kind = resolve_credential(uow=uow, secret=secret)
        if user.person_id is None and user.verified_ssn:
            if link_holder_person(uow=uow, user=user) is not None:
                uow.commit()
        return user.person_id


async def current_actor(actor: Actor | None = Depends(authorize),
                        _documented: None = Depends(credential_headers)) -> Actor:
    """The authenticated actor of a route the access table does not mark PUBLIC."""
    if actor is None:  # a PUBLIC route that asks for an actor: a mistake in the table
        raise Unauthenticated()
    return actor
