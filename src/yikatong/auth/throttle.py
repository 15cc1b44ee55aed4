"""Throttling and lockout, counted in the platform database so every worker process sees the
same counts (N workers never allow N times the attempts).

The counting strategy is the `limits` library's fixed window (a window opens at its first hit
and lasts the rule's period); `DatabaseStorage` runs it over the `throttle_counters` table, one
upsert of one row by its primary key per hit, on SQLite and PostgreSQL alike, on the platform
clock (a test moves the clock to lift a lockout).

Rules are data: `DEFAULT_LIMITS` below, overridden per deployment with
`YKT_THROTTLE_LIMITS="login_user=5 per 15 minutes; holder_calls=600 per minute"` (the
`limits` notation). A door attaches a rule in one line:

    @router.post("/things", dependencies=[throttled("holder_sign_up")])   # per client address
    @router.post("/redeem", dependencies=[throttled_per_credential("ecard_terminal")])

or counts inside a use case with `platform.get(Throttle).hit(rule, who)` (e.g. per phone
number for a one-time code). A spent limit is a 429 problem with Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from yikatong.auth.errors import LoginLocked, TooManyRequests
from yikatong.auth.models import ThrottleCounter
from yikatong.core.clock import Clock
from yikatong.crypto.protocols import KeyStore
from yikatong.db.loop_reads import LoopReads
from yikatong.db.sqlite_loop_writes import SqliteLoopWrites
from yikatong.db.statement import RawStatement

log = logging.getLogger(__name__)

# name -> limit, in the `limits` notation. Each rule says who it counts.
# The label of the key the counters' names are hashed under (KeyStore.derived_key); a Throttle
# made without a key store (a unit test's) uses a fixed development key.
DIGEST_KEY_LABEL = "throttle counter names v1"
DEVELOPMENT_DIGEST_KEY = b"yikatong development throttle key"

DEFAULT_LIMITS: dict[str, str] = {
    # Failed logins per user name, whether or not the name exists; then the name is locked
    # until its window ends (a successful login clears the count).
    "login_user": "10 per 15 minutes",
    # Failed logins per client address (a successful one is given back, so the many citizens
    # behind one mobile carrier's address are not locked out by each other's logins).
    "login_address": "50 per 15 minutes",
    # Holder sign-up attempts (and requests for its one-time codes) per client address.
    "holder_sign_up": "20 per hour",
    # One-time codes asked for one person (counted by the ID number or phone number asked
    # for, whether or not it is on file), whoever asks: no texting a phone to death.
    "sign_up_code_target": "5 per hour",
    # Public e-card checks (the page and its JSON twin) per client address.
    "ecard_check": "60 per minute",
    # E-card codes checked or redeemed by a terminal (hospital, gate, bus, bank), per
    # credential, never per address: a busy gate is never locked out by its neighbours.
    "ecard_terminal": "1200 per minute",
    # Calls of one holder login (every authenticated holder request).
    "holder_calls": "300 per minute",
    # Masked personal records a 12333 agent or partner outlet login asks to see whole (each
    # with a reason, audited): a normal shift needs a handful, a scraper many.
    "personal_data_disclosure": "30 per hour",
}


def parse_limits(text: str | None) -> dict[str, str]:
    """`name=limit; name=limit` (YKT_THROTTLE_LIMITS) as a mapping; names and limits checked."""
    chosen: dict[str, str] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        name, separator, limit = (piece.strip() for piece in part.partition("="))
        if not separator or name not in DEFAULT_LIMITS:
            raise ValueError(f"YKT_THROTTLE_LIMITS: unknown rule {name!r} "
                             f"(known: {', '.join(DEFAULT_LIMITS)})")
        parse(limit)  # ValueError names a bad limit
        chosen[name] = limit
    return chosen


class DatabaseStorage(Storage):
    """A `limits` storage over the throttle_counters table, on the platform clock.

    Each call is a short transaction of its own (or joins the one `transaction` opened),
    apart from the request's unit of work: a hit counts even when the request it belongs to
    fails and rolls back."""

    STORAGE_SCHEME = None  # built directly, never from a URI

    def __init__(self, engine: Engine, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self._open: ContextVar[Connection | None] = ContextVar(f"throttle-{id(self)}", default=None)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction for the calls inside (a login's two hits: one commit, not two).
        On PostgreSQL it does not wait for its commit to reach the disk: a crash may forget
        the last moments' counts, never corrupt them, and a login does not queue for an fsync."""
        if (connection := self._open.get()) is not None:
            yield connection
            return
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            token = self._open.set(connection)
            try:
                yield connection
            finally:
                self._open.reset(token)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` hits; a window that has ended starts again with them (one upsert).

        On PostgreSQL a hit outside `transaction` is one statement in autocommit: one round
        trip where BEGIN, SET LOCAL, the upsert and COMMIT took four. The statement turns
        synchronous_commit off for its own (implicit) transaction itself (`set_config(…,
        true)` in the row it inserts), as `transaction` does with SET LOCAL."""
        now = self.clock.now()
        table = ThrottleCounter.__table__
        ends_at = now + timedelta(seconds=expiry)
        alone = self._open.get() is None and self.engine.dialect.name == "postgresql"
        if alone:
            row = select(bindparam("key", key, type_=table.c.key.type),
                         bindparam("hits", amount, type_=table.c.hits.type),
                         bindparam("ends_at", ends_at, type_=table.c.window_ends_at.type)
                         ).select_from(_ASYNC_COMMIT)
            insert = _insert_for(self.engine)(table).from_select(
                ["key", "hits", "window_ends_at"], row)
        else:
            insert = _insert_for(self.engine)(table).values(
                key=key, hits=amount, window_ends_at=ends_at)
        ended = table.c.window_ends_at <= now
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"hits": case((ended, insert.excluded.hits), else_=table.c.hits + amount),
                  "window_ends_at": case((ended, insert.excluded.window_ends_at),
                                         else_=table.c.window_ends_at)},
        ).returning(table.c.hits)
        if alone:
            with self.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT") as connection:
                return connection.execute(statement).scalar_one()
        with self.transaction() as connection:
            return connection.execute(statement).scalar_one()

    def decr(self, key: str, amount: int = 1) -> int:
        """Give hits back (never below zero) within the current window."""
        now = self.clock.now()
        statement = (
            update(ThrottleCounter)
            .where(ThrottleCounter.key == key, ThrottleCounter.window_ends_at > now)
            .values(hits=case((ThrottleCounter.hits > amount, ThrottleCounter.hits - amount),
                              else_=0))
            .returning(ThrottleCounter.hits))
        with self.transaction() as connection:
            return connection.execute(statement).scalar() or 0

    def get(self, key: str) -> int:
        window = self._window(key)
        return window[0] if window else 0

    def get_expiry(self, key: str) -> float:
        window = self._window(key)
        return (window[1] if window else self.clock.now()).timestamp()

    def _window(self, key: str) -> tuple[int, datetime] | None:
        with self.transaction() as connection:
            row = connection.execute(
                select(ThrottleCounter.hits, ThrottleCounter.window_ends_at)
                .where(ThrottleCounter.key == key,
                       ThrottleCounter.window_ends_at > self.clock.now())).first()
        return (row.hits, row.window_ends_at) if row else None

    def check(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(select(func.count()).select_from(ThrottleCounter))
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return connection.execute(delete(ThrottleCounter)).rowcount

    def clear(self, key: str) -> None:
        with self.transaction() as connection:
            connection.execute(delete(ThrottleCounter).where(ThrottleCounter.key == key))

    def purge_ended(self) -> int:
        """Drop windows that have ended (they count nothing any more); returns how many."""
        with self.engine.begin() as connection:
            return connection.execute(delete(ThrottleCounter).where(
                ThrottleCounter.window_ends_at <= self.clock.now())).rowcount


# The row source of a hit on its own on PostgreSQL: evaluated once, for the one row inserted,
# it sets synchronous_commit off for the statement's own transaction.
_ASYNC_COMMIT = select(func.set_config("synchronous_commit", "off", true()).label("async")
                       ).subquery("async_commit")


def _counted_in_window(upsert, table) -> RawStatement:
    """A hit's upsert (PostgreSQL's or SQLite's INSERT of key, hits, ends_at) that restarts the
    count in a window that has ended and adds to it in one that has not, answering the count
    and the window's end (`ThrottleHitRow`)."""
    ended = table.c.window_ends_at <= bindparam("now", type_=table.c.window_ends_at.type)
    return RawStatement(upsert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"hits": case((ended, upsert.excluded.hits), else_=table.c.hits + upsert.excluded.hits),
              "window_ends_at": case((ended, upsert.excluded.window_ends_at),
                                     else_=table.c.window_ends_at)},
    ).returning(table.c.hits, table.c.window_ends_at), "ThrottleHitRow")


def _hit_alone_on_postgresql() -> RawStatement:
    """`DatabaseStorage.incr`'s statement on its own on PostgreSQL (an autocommit upsert whose
    row source turns synchronous_commit off for its implicit transaction), every value a
    parameter, answering the count and the window's end (for Retry-After): what a hit on the
    event loop's connection sends (`Throttle.hit_on_loop`)."""
    from sqlalchemy.dialects.postgresql import insert

    table = ThrottleCounter.__table__
    row = select(bindparam("key", type_=table.c.key.type),
                 bindparam("hits", type_=table.c.hits.type),
                 bindparam("ends_at", type_=table.c.window_ends_at.type)
                 ).select_from(_ASYNC_COMMIT)
    upsert = insert(table).from_select(["key", "hits", "window_ends_at"], row)
    return _counted_in_window(upsert, table)


_HIT_ALONE = _hit_alone_on_postgresql()


def _hit_alone_on_sqlite() -> RawStatement:
    """`DatabaseStorage.incr`'s upsert on SQLite, every value a parameter, answering the count
    and the window's end as `_HIT_ALONE` does: what a hit on the event loop's own SQLite
    connection writes (`Throttle.hit_on_loop`, db.sqlite_loop_writes: a statement outside a
    transaction, its own, not waiting for the disk, as PostgreSQL's hit does not)."""
    from sqlalchemy.dialects.sqlite import insert

    table = ThrottleCounter.__table__
    upsert = insert(table).values(key=bindparam("key", type_=table.c.key.type),
                                  hits=bindparam("hits", type_=table.c.hits.type),
                                  window_ends_at=bindparam("ends_at",
                                                           type_=table.c.window_ends_at.type))
    return _counted_in_window(upsert, table)


_HIT_ON_SQLITE = _hit_alone_on_sqlite()


def _insert_for(engine: Engine):
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


@dataclass(frozen=True)
class Counted:
    """One hit counted under a rule (what `Throttle.give_back` returns)."""

    rule: str
    key: str | None  # None when the throttle is off


class Throttle:
    """The platform's rules over the database storage; `hit` counts or refuses."""

    def __init__(self, engine: Engine, clock: Clock, limits: Mapping[str, str] | None = None,
                 *, enabled: bool = True, digest_key: Callable[[], bytes] | None = None) -> None:
        self.enabled = enabled
        self._digest_key = digest_key or (lambda: DEVELOPMENT_DIGEST_KEY)
        self._key: bytes | None = None
        self.clock = clock
        self.items: dict[str, RateLimitItem] = {
            name: parse(limit) for name, limit in {**DEFAULT_LIMITS, **(limits or {})}.items()}
        self.storage = DatabaseStorage(engine, clock)
        self.limiter = FixedWindowRateLimiter(self.storage)

    @classmethod
    def for_platform(cls, platform) -> Throttle:
        settings = platform.settings
        if not settings.throttle_enabled and settings.is_production:
            raise ValueError("YKT_THROTTLE=off is for development only; "
                             "production keeps login throttling on")
        return cls(platform.engine, platform.clock, parse_limits(settings.throttle_limits),
                   enabled=settings.throttle_enabled,
                   digest_key=lambda: platform.get(KeyStore).derived_key(DIGEST_KEY_LABEL))

    def hit(self, rule: str, who: str, *,
            refusal: type[TooManyRequests] = TooManyRequests) -> Counted:
        """Count one hit of `rule` for `who`; raise `refusal` (429) once its limit is spent."""
        [counted] = self.hit_all((rule, who, refusal))
        return counted

    def hit_all(self, *hits: tuple[str, str, type[TooManyRequests]]) -> list[Counted]:
        """Count each (rule, who, refusal) in one transaction, all of them, then raise the
        first refusal whose limit is spent."""
        if not self.enabled:
            return [Counted(rule, None) for rule, _who, _refusal in hits]
        counted, refused = [], None
        # One hit is one statement of its own (on PostgreSQL one round trip, `incr`); several
        # share one transaction.
        with self.storage.transaction() if len(hits) > 1 else nullcontext():
            for rule, who, refusal in hits:
                item, identity = self.items[rule], self._digest(who)
                if not self.limiter.hit(item, rule, identity) and refused is None:
                    refused = refusal(retry_after=self._retry_after(item, rule, identity))
                counted.append(Counted(rule, item.key_for(rule, identity)))
        if refused is not None:
            raise refused
        return counted

    async def hit_on_loop(self, rule: str, who: str, reads: LoopReads | SqliteLoopWrites | None,
                          *, refusal: type[TooManyRequests] = TooManyRequests) -> Counted | None:
        """`hit` as one statement on the event loop's own connection (PostgreSQL's, `reads`:
        Platform.loop_reads; a SQLite file's, Platform.sqlite_loop_writes): the same upsert of
        the same row as a hit alone, so every worker counts against the one limit; no
        thread-pool hop. None when it could not run there (no loop connection, a connection
        that failed, on SQLite another process's writer busy or this process's write turn not
        free within TURN_WAIT_SECONDS): the caller hits on a thread."""
        if not self.enabled:
            return Counted(rule, None)
        if reads is None:
            return None
        item, identity = self.items[rule], self._digest(who)
        key, now = item.key_for(rule, identity), self.clock.now()
        params = {"key": key, "hits": 1, "now": now,
                  "ends_at": now + timedelta(seconds=item.get_expiry())}
        if isinstance(reads, SqliteLoopWrites):  # waits on the loop for a thread's write turn
            found = await reads.write_in_turn(_HIT_ON_SQLITE, params)
        else:
            found = await reads.rows(_HIT_ALONE, params)
        if found is None:
            return None
        [(hits, window_ends_at)] = found
        _refuse_past_limit(item, hits, window_ends_at, now, refusal)
        return Counted(rule, key)

    def give_back(self, counted: Counted) -> None:
        """Uncount a hit that turned out to be harmless (a successful login)."""
        if counted.key is not None:
            self.storage.decr(counted.key)

    def transaction(self):
        """Several calls (e.g. a forget and a give-back) in one transaction."""
        return self.storage.transaction()

    def forget(self, rule: str, who: str) -> None:
        """Start `who`'s count under `rule` afresh (a user name after a successful login)."""
        if self.enabled:
            self.limiter.clear(self.items[rule], rule, self._digest(who))

    def remaining(self, rule: str, who: str) -> int:
        item = self.items[rule]
        return self.limiter.get_window_stats(item, rule, self._digest(who)).remaining

    def _digest(self, who: str) -> str:
        """Counters are keyed by a keyed hash (HMAC-SHA256 under a key derived from the key
        store's KEK): user names, addresses and credentials are not stored, and an address's
        counter cannot be found by hashing the 2^32 IPv4 addresses."""
        if self._key is None:  # first use: the key store is open by now
            self._key = self._digest_key()
        return hmac.new(self._key, who.encode(), hashlib.sha256).hexdigest()[:32]

    def _retry_after(self, item: RateLimitItem, rule: str, identity: str) -> int:
        reset_at = self.limiter.get_window_stats(item, rule, identity).reset_time
        return max(1, math.ceil(reset_at - self.clock.now().timestamp()))


# --- who a request is -------------------------------------------------------------------------


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy, let the server take it from
    the proxy's header, e.g. uvicorn --forwarded-allow-ips). An IPv6 client counts by its /64:
    one subscriber gets a whole /64 to change addresses within."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def presented_credential(request: Request) -> str | None:
    """The bearer token or API key a request carries (hashed before any counting)."""
    from yikatong.api.deps import credential

    return credential(request.headers)


def throttle_of(platform) -> Throttle:
    return platform.get(Throttle)


# --- dependencies the doors attach -------------------------------------------------------------


def throttled(rule: str, by: Callable[[Request], str] = client_address):
    """`dependencies=[throttled(rule)]`: one hit of `rule` per request, for the caller `by`
    names (the client address unless told otherwise)."""

    def count(request: Request) -> None:
        throttle_of(request.app.state.platform).hit(rule, by(request))

    count.__name__ = f"throttle_{rule}"
    return Depends(count)


def throttled_per_credential(rule: str):
    """`dependencies=[throttled_per_credential(rule)]` on an authenticated route: one hit per
    credential (API key or token), counted only once the credential has authenticated (and
    the access check let it through), so a partner's quota is its own whatever address it
    shares. On PostgreSQL the hit is counted by the access check's own credential lookup, in
    its one statement (`credential_holder_counted_on_loop`), and refused here past the limit;
    where that statement did not count it, one statement on the event loop's connection
    (PostgreSQL's, a SQLite file's: no thread-pool hop), else on a thread."""
    from yikatong.api.deps import current_actor

    async def count(request: Request, _actor=Depends(current_actor)) -> None:
        looked = getattr(request.state, _COUNTED_WITH_CREDENTIAL, {}).get(rule)
        if looked is not None and looked.hits is not None:
            looked.refuse_past_limit()
            return
        platform = request.app.state.platform
        await _hit(platform, rule, "credential:" + (presented_credential(request) or ""))

    count.__name__ = f"throttle_{rule}_per_credential"
    count.ykt_credential_rule = rule  # found by credential_holder_counted_on_loop
    return Depends(count)


# request.state's name for the hits the access check's credential lookup counted, by rule
_COUNTED_WITH_CREDENTIAL = "ykt_counted_with_credential"
# A route's per-credential rule (throttled_per_credential), kept on the route under this name
_RULE_OF_ROUTE, _UNKNOWN = "ykt_credential_rule", object()
# The statements of a rule's hit with the lookup, by (rule, the route's roles, the channel);
# None where no role could be counted (`_folded`)
_FOLDED: dict[tuple[str, frozenset], _CredentialHit] = {}


async def credential_holder_counted_on_loop(request: Request, secret: str, allowed,
                                            channel: str | None):
    """`auth.service.credential_holder_on_loop` for the access check (api.deps.authorize) of
    a route that counts each call by its credential (`throttled_per_credential`): on
    PostgreSQL the route's hit is the lookup's own statement (`_CredentialHit`, one round trip
    where there were two), counted only for a credential in force whose role the access
    check then lets through: one of `allowed` (not a holder's, whose calls authorize handles
    on a thread), on `channel` whatever kind of credential it is. Then the same lookup
    (`credential_holder` on the row, its refusal raised) and the route's throttle dependency
    refuses past the limit (`throttled_per_credential`). Anything else looks the credential
    up as before, and the dependency makes the hit."""
    from yikatong.auth.service import credential_holder_on_loop

    platform = request.app.state.platform
    rule = _rule_of_route(request.scope.get("route"))
    folded = _folded(rule, allowed, channel) if rule is not None else None
    if folded is not None and secret == presented_credential(request):
        looked = await folded.lookup(platform, secret)
        if looked is not None:
            if looked.holder is None:
                if looked.hits is not None:  # never: in_force_with_role is no looser
                    log.error("throttle %s: a credential refused in Python was counted in SQL",
                              rule)
                raise looked.refusal
            setattr(request.state, _COUNTED_WITH_CREDENTIAL, {rule: looked})
            return looked.holder
    return await credential_holder_on_loop(platform, secret)


def _rule_of_route(route) -> str | None:
    """The route's per-credential rule, found once and kept on the route object itself (an id
    could name another route once this one is gone: a test's application)."""
    if route is None:
        return None
    found = getattr(route, _RULE_OF_ROUTE, _UNKNOWN)
    if found is _UNKNOWN:
        dependencies = getattr(getattr(route, "dependant", None), "dependencies", ())
        rules = [rule for dependency in dependencies
                 if (rule := getattr(dependency.call, "ykt_credential_rule", None))]
        found = rules[0] if len(rules) == 1 else None
        setattr(route, _RULE_OF_ROUTE, found)
    return found


def _folded(rule: str, allowed, channel: str | None) -> _CredentialHit | None:
    """The lookup-and-hit statement for `rule` counting only the roles a request on `channel`
    passes the access check with, for each kind of credential (`allowed`, not a holder,
    a channel `auth.rules.channel_for` gives that kind of credential of the role); None when
    no role does or the header names no channel (the lookup goes as before)."""
    from yikatong.auth.rules import API_KEY_ROLES, CREDENTIAL_KINDS, channel_for
    from yikatong.core.actor import Channel, Role

    if channel is not None and channel not in Channel.__members__.values():
        return None
    key = (rule, frozenset(allowed), channel)
    found = _FOLDED.get(key)
    if found is None and key not in _FOLDED:
        by_kind = {kind: frozenset(str(role) for role in allowed if role is not Role.HOLDER
                                   and channel_for(role, kind, channel) is not None
                                   and (kind != "api_key" or role in API_KEY_ROLES))
                   for kind in CREDENTIAL_KINDS}
        by_kind = {kind: roles for kind, roles in by_kind.items() if roles}
        roles = frozenset().union(*by_kind.values())
        found = _FOLDED[key] = _CredentialHit(rule, roles, by_kind) if roles else None
    return found


def throttled_per_credential_or_address(credential_rule: str, address_rule: str, roles):
    """On a public route partners also use: a caller presenting a valid credential of one of
    `roles` counts under `credential_rule` by that credential; anyone else under
    `address_rule` by address (a bad credential changes nothing: it counts by address).

    Neither the credential's lookup nor the hit leaves the event loop (`_role_of`, `_hit`; on
    SQLite the hit only while no other writer holds the write): a public check by a terminal
    takes no thread-pool hop for its count; on PostgreSQL a credential's lookup and its hit
    are one statement (`_CredentialHit`)."""
    allowed = {str(role) for role in roles}
    credential_hit = _CredentialHit(credential_rule, allowed)

    async def count(request: Request) -> None:
        platform = request.app.state.platform
        credential = presented_credential(request)
        if credential is not None:
            # On PostgreSQL the lookup and its hit in one statement (one round trip of two)
            counted = await credential_hit.count(platform, credential)
            if counted is True:
                return
            if counted is None and await _role_of(platform, credential) in allowed:
                await _hit(platform, credential_rule, "credential:" + credential)
                return
        await _hit(platform, address_rule, client_address(request))

    count.__name__ = f"throttle_{credential_rule}_or_{address_rule}"
    return Depends(count)


def _refuse_past_limit(item: RateLimitItem, hits: int, window_ends_at: datetime, now: datetime,
                      refusal: type[TooManyRequests]) -> None:
    """A counter's row after a hit counted by our own upsert (`_HIT_ALONE`): `refusal`, with
    the seconds left of the window, once the hits are past the limit (FixedWindowRateLimiter.
    hit's test)."""
    if hits > item.amount:
        raise refusal(retry_after=max(1, math.ceil(window_ends_at.timestamp() - now.timestamp())))


@dataclass(frozen=True)
class _Looked:
    """What a credential's lookup and hit in one statement found (`_CredentialHit.lookup`):
    the holder `credential_holder` makes of the row, or the refusal it raised; the hit's count
    and window end, or None where the statement did not count it."""

    holder: object | None  # auth.service.CredentialHolder
    refusal: Exception | None
    hits: int | None
    window_ends_at: datetime | None
    now: datetime
    item: RateLimitItem

    def refuse_past_limit(self) -> None:
        """TooManyRequests, with the seconds left of the window, once past the limit."""
        _refuse_past_limit(self.item, self.hits, self.window_ends_at, self.now, TooManyRequests)


class _CredentialHit:
    """A credential's lookup and, if it is in force with one of `allowed`'s roles, its hit
    of `rule`, in one statement on the event loop's connection (PostgreSQL): the hit's upsert
    a data-modifying CTE that inserts only for a credential row `in_force_with_role` accepts.
    Then the same checks as `_role_of` and `Throttle.hit_on_loop` run in Python on what it
    fetched: the credential's row through `credential_holder`, the count against the limit.
    Where the statement's test and Python's disagreed (it is written never to accept what
    Python refuses) the hit is made alone, as before."""

    def __init__(self, rule: str, allowed: set[str] | frozenset,
                 by_kind: dict[str, frozenset] | None = None) -> None:
        self.rule, self.allowed = rule, {str(role) for role in allowed}
        self.by_kind = by_kind  # the roles counted for each kind of credential, if not all
        self._statement: RawStatement | None = None  # built when first used (auth.service)

    async def count(self, platform, credential: str) -> bool | None:
        """True: the credential is in force with an allowed role and its hit is counted
        (TooManyRequests past the limit); False: it is not (nothing counted: the caller
        counts by address); None: this could not run on the loop (the caller goes the
        usual way)."""
        looked = await self.lookup(platform, credential)
        if looked is None:
            return None
        role = looked.holder.role if looked.holder is not None else None
        if role not in self.allowed:
            if looked.hits is not None:  # never: in_force_with_role is no looser than Python's
                log.error("throttle %s: a credential refused in Python was counted in SQL",
                          self.rule)
            return False
        if looked.hits is None:  # the statement's test stricter than Python's: the hit alone
            await _hit(platform, self.rule, "credential:" + credential)
            return True
        looked.refuse_past_limit()
        return True

    async def lookup(self, platform, credential: str) -> _Looked | None:
        """The statement on the event loop's connection and `credential_holder` on its row;
        None where it could not run there (SQLite, the throttle off, no connection)."""
        from yikatong.auth.service import credential_answers, credential_holder, credential_params
        from yikatong.core.errors import DomainError
        from yikatong.db.raw import answered

        throttle, reads = throttle_of(platform), platform.loop_reads()
        if not throttle.enabled or reads is None:
            return None
        item = throttle.items[self.rule]
        key = item.key_for(self.rule, throttle._digest("credential:" + credential))
        now = platform.clock.now()
        found = await reads.rows(self._built(), {
            **credential_params(credential), "key": key, "hits": 1, "now": now,
            "ends_at": now + timedelta(seconds=item.get_expiry())})
        if found is None:
            return None
        [row] = found
        holder = refusal = None
        try:
            with answered(credential_answers(platform.engine.dialect, row, credential)):
                holder = credential_holder(connection=None, secret=credential, now=now)
        except DomainError as refused:  # not a credential in force
            refusal = refused
        return _Looked(holder, refusal, row.hit_hits, row.hit_window_ends_at, now, item)

    def _built(self) -> RawStatement:
        if self._statement is None:
            self._statement = _credential_and_hit(self.allowed, self.by_kind)
        return self._statement


def _credential_and_hit(allowed, by_kind: dict | None = None) -> RawStatement:
    """The credential's row (`credential_holder`'s columns, NULLs when none has the hash) and
    the hit's count and window end (NULLs when it was not counted), from one statement: the
    upsert of `_HIT_ALONE` whose row source is the credential's row where in force with an
    allowed role (and, given `by_kind`, one of the roles it names for the credential's kind)."""
    from sqlalchemy import and_, or_
    from sqlalchemy.dialects.postgresql import insert

    from yikatong.auth.service import credential_cte, in_force_with_role, written_in

    table = ThrottleCounter.__table__
    now = bindparam("now", type_=table.c.window_ends_at.type)
    credential = credential_cte()
    row = (select(bindparam("key", type_=table.c.key.type),
                  bindparam("hits", type_=table.c.hits.type),
                  bindparam("ends_at", type_=table.c.window_ends_at.type))
           .select_from(_ASYNC_COMMIT.join(credential, true()))
           .where(in_force_with_role(credential, now, allowed)))
    if by_kind is not None:
        row = row.where(or_(*(and_(written_in(credential.c.kind, [kind]),
                                   written_in(credential.c.role, roles))
                              for kind, roles in sorted(by_kind.items()))))
    upsert = insert(table).from_select(["key", "hits", "window_ends_at"], row)
    ended = table.c.window_ends_at <= now
    hit = upsert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"hits": case((ended, upsert.excluded.hits), else_=table.c.hits + upsert.excluded.hits),
              "window_ends_at": case((ended, upsert.excluded.window_ends_at),
                                     else_=table.c.window_ends_at)},
    ).returning(table.c.hits, table.c.window_ends_at).cte("hit")
    anchor = select(literal_column("1").label("one")).subquery("anchor")
    return RawStatement(
        select(*credential.c, hit.c.hits.label("hit_hits"),
               hit.c.window_ends_at.label("hit_window_ends_at"))
        .select_from(anchor.outerjoin(credential, true()).outerjoin(hit, true())),
        "CredentialHitRow")


async def _role_of(platform, credential: str) -> str | None:
    """The role behind a credential in force, else None: `credential_holder`'s one indexed
    select (the checks of `resolve_token`, without a session or ORM objects), on PostgreSQL
    sent on the event loop's own connection, on SQLite read on the loop itself (a WAL read
    waits for no lock); on a thread only if neither can be had."""
    from yikatong.auth.service import credential_holder_on_loop
    from yikatong.core.errors import DomainError

    try:
        holder = await credential_holder_on_loop(platform, credential)
        if holder is None:
            return await run_in_threadpool(_role_on_thread, platform, credential,
                                           platform.clock.now())
        return holder.role
    except DomainError:  # not a credential in force
        return None


def _role_on_thread(platform, credential: str, now) -> str:
    from yikatong.auth.service import credential_holder

    with platform.reading_engine.connect() as connection:
        return credential_holder(connection=connection, secret=credential, now=now).role


async def _hit(platform, rule: str, who: str) -> None:
    """One hit of `rule` for `who`: on the event loop's connection where there is one
    (PostgreSQL's; a SQLite file's, waiting on the loop for this process's write turn, when no
    other process holds the write), else on a thread (the same upsert of the same row)."""
    throttle = throttle_of(platform)
    on_loop = platform.loop_reads() or platform.sqlite_loop_writes()
    if await throttle.hit_on_loop(rule, who, on_loop) is None:
        await run_in_threadpool(throttle.hit, rule, who)


class LoginAttempt:
    """A login counted against its user name and its client address before the password is
    checked (so parallel guesses cannot all slip past the count); `succeeded` gives back what a
    correct password should not cost."""

    def __init__(self, throttle: Throttle, username: str, by_address: Counted) -> None:
        self._throttle, self._username, self._by_address = throttle, username, by_address

    def succeeded(self) -> None:
        with self._throttle.transaction():  # address row first, as in login_attempt: no
            self._throttle.give_back(self._by_address)  # two logins lock the rows crosswise
            self._throttle.forget("login_user", self._username)


def login_attempt(request: Request, form: OAuth2PasswordRequestForm = Depends()) -> LoginAttempt:
    """The login throttle: 429 too_many_requests past the address's failures, 429 login_locked
    past the user name's (existing or not, so the lockout tells nothing about existence)."""
    throttle = throttle_of(request.app.state.platform)
    by_address, _by_user = throttle.hit_all(
        ("login_address", client_address(request), TooManyRequests),
        ("login_user", form.username, LoginLocked))
    return LoginAttempt(throttle, form.username, by_address)


def count_holder_call(platform, user_id: int) -> None:
    """One authenticated holder request (called where the credential is resolved)."""
    throttle_of(platform).hit("holder_calls", f"user:{user_id}")
