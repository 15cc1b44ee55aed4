"""Fixtures shared by every suite: clock, platform on a fresh database, API client, logins.

The database is SQLite unless YKT_TEST_DB=postgres (then only tests marked `db` run, on a
fresh PostgreSQL database; see tests/servers.py for where the server comes from).
"""

from __future__ import annotations

import gc
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.pool import Pool

from tests import servers
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import FixedClock
from yikatong.core.settings import Settings
from yikatong.db.engine import make_engine
from yikatong.db.registry import load_all_models
from yikatong.platform import Platform

# The password of every login the `login` fixture makes: strong enough for the password policy.
PASSWORD = "plum-rain-Tianning-4711"

ON_POSTGRES = os.environ.get("YKT_TEST_DB", "sqlite") == "postgres"
# Two sessions interleaved on purpose; SQLite runs one writer at a time (BEGIN IMMEDIATE).
ONLY_ON_POSTGRES = pytest.mark.skipif(not ON_POSTGRES, reason="SQLite serialises writers, so two sessions "
                                      "cannot interleave; PostgreSQL runs this in `make test`")


def overtake(platform: Platform, attempt, holding: threading.Event, commit_allowed: threading.Event) -> dict:
    """Run `attempt` twice, as the same request's first try and its retry: the first (in a thread
    named "first try", whose patched step sets `holding` and then waits for `commit_allowed`)
    until it holds its locks uncommitted, then the retry, until it waits for a lock; then the
    first commits. Returns each try's result, or the exception it raised."""
    outcome: dict = {}
    first = threading.Thread(target=_outcome_of, args=(outcome, "first try", attempt), name="first try")
    first.start()
    assert holding.wait(timeout=20)
    retry = threading.Thread(target=_outcome_of, args=(outcome, "retry", attempt), name="retry")
    retry.start()
    wait_for_a_lock_wait(platform)
    commit_allowed.set()
    first.join(timeout=30)
    retry.join(timeout=30)
    return outcome


def wait_for_a_lock_wait(platform: Platform, timeout: float = 20.0, *,
                         unless_ended: threading.Thread | None = None) -> None:
    """Until some session of the test database waits for a lock (PostgreSQL), or the thread
    `unless_ended` has ended: the moment a race test lets the session holding it go on."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                 "AND datname = current_database()")
    deadline = time.monotonic() + timeout
    while unless_ended is None or unless_ended.is_alive():
        with platform.engine.connect() as connection:  # a new transaction: pg_stat_activity is
            if connection.execute(query).scalar_one():  # a snapshot taken once per transaction
                return
        assert time.monotonic() < deadline, "no session came to wait for a lock"
        time.sleep(0.01)


def second_while_first_holds(platform: Platform, pause_at: str, first, second) -> dict:
    """Run `first` (in this thread) until it is about to execute a statement containing
    `pause_at` (what it read is read, its writes to come); there, its transaction open, run
    `second` in a thread until it has finished or waits for a lock; then let the first go on.
    Two callers of one read-decide-write at once, one interleaving forced: without a lock the
    second reads what the first has not written yet. Returns each one's result or exception,
    by name ("first", "second")."""
    outcome: dict = {}
    other = threading.Thread(target=_outcome_of, args=(outcome, "second", second), name="second")
    me = threading.current_thread()

    def pause(_conn, _cursor, statement, _params, _context, _many) -> None:
        if threading.current_thread() is me and other.ident is None and pause_at in statement:
            other.start()
            # On SQLite the second waits at BEGIN IMMEDIATE for the first's write lock, which
            # no query can see: the first goes on at once and the second follows it.
            if platform.engine.dialect.name == "postgresql":
                wait_for_a_lock_wait(platform, unless_ended=other)

    event.listen(platform.engine, "before_cursor_execute", pause)
    try:
        _outcome_of(outcome, "first", first)
    finally:
        event.remove(platform.engine, "before_cursor_execute", pause)
    assert other.ident, f"the first caller never came to {pause_at!r}"
    other.join(timeout=30)
    assert not other.is_alive(), "the second caller never finished"
    return outcome


def at_once(*calls) -> list:
    """Run the calls in threads released together (a Barrier): each one's result, or the
    exception it raised, in the calls' order. An unforced race: for a forced order see
    `second_while_first_holds`."""
    start = threading.Barrier(len(calls))
    outcome: dict = {}

    def released(name: int, call) -> None:
        start.wait()
        _outcome_of(outcome, name, call)

    threads = [threading.Thread(target=released, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return [outcome.get(i) for i in range(len(calls))]


def _outcome_of(outcome: dict, name, call) -> None:
    try:
        outcome[name] = call()
    except Exception as error:  # the caller's assertions report it
        outcome[name] = error


class _Connections:
    """Counts the database connections the tests take from any SQLAlchemy pool (every engine:
    the platform's, a migration's, a bench's), outside the fixtures' own schema set-up and
    clean-up (`uncounted`): what says whether a test touches the database at all."""

    def __init__(self) -> None:
        self.taken = 0
        self.quiet = 0
        self.db_marked_untouched: list[str] = []
        self.unmarked_touching: list[str] = []

    def checkout(self, *_args) -> None:
        if not self.quiet:
            self.taken += 1

    @contextmanager
    def uncounted(self):
        self.quiet += 1
        try:
            yield
        finally:
            self.quiet -= 1


CONNECTIONS = _Connections()
event.listen(Pool, "checkout", CONNECTIONS.checkout)


_TOUCHED = pytest.StashKey[bool]()  # the test's set-up or call took a database connection


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    before = CONNECTIONS.taken
    try:
        return (yield)
    finally:
        item.stash[_TOUCHED] = CONNECTIONS.taken > before


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Whether the test (its set-up and its call) took a database connection: a test marked
    `db` that took none reruns on PostgreSQL for nothing, and one that took some unmarked is
    never run there ("rerun on PostgreSQL only the tests that touch the database"); both are
    named in the summary. A connection taken in another process, or outside any pool, is not
    seen: such a test says so with `db_unseen`.
    A test that skipped itself or failed is not judged (one that skips on SQLite, "PostgreSQL
    only", takes no connection there and must keep its mark)."""
    before = CONNECTIONS.taken
    result = yield
    touched = item.stash.get(_TOUCHED, False) or CONNECTIONS.taken > before
    marked = touches_database(item)
    if marked and not touched and item.get_closest_marker("db_unseen") is None:
        CONNECTIONS.db_marked_untouched.append(item.nodeid)
    elif touched and not marked and not _runs_on_its_own_database(item):
        CONNECTIONS.unmarked_touching.append(item.nodeid)
    return result


def _runs_on_its_own_database(item) -> bool:
    """Marked `own_database`, or a browser test: the browser suite drives a server on a SQLite
    file of its own (tests/browser/harness.py), as the e2e suite does (tests/e2e/conftest.py)."""
    return any(item.get_closest_marker(name) is not None for name in ("own_database", "browser"))


def touches_database(item) -> bool:
    """Marked `db` (itself or its module) and not `no_db` (a test of a module marked db that
    touches no database)."""
    return item.get_closest_marker("db") is not None and item.get_closest_marker("no_db") is None


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        selected = [item for item in items if touches_database(item)]
        deselected = [item for item in items if not touches_database(item)]
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_configure(config):
    """Full collections a tenth as often (Python's default third threshold is 10): each test
    builds a platform and an app (tens of thousands of objects), which set off a full
    collection every few tests; in tests/cards they took 8-9 s of ~50 s CPU, with 100 about
    2 s, for ~70 MB more at the peak. The garbage is still collected, only in larger batches."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 100)
    config.addinivalue_line("markers", "no_db: touches no database though its module is marked "
                            "db; not rerun on PostgreSQL")
    config.addinivalue_line("markers", "own_database: takes a database of its own on purpose (its "
                            "SQLite files, its servers, a seeded copy), never the suite's: the "
                            "PostgreSQL rerun has nothing to run it on")
    config.addinivalue_line("markers", "db_unseen: marked db and touches the database where the "
                            "connection count cannot see it (another process, the SQLite loop's "
                            "own connection, a lock file beside the SQLite file)")


def _fastapi_callable_caches() -> list:
    """FastAPI (0.16x) remembers whether each endpoint and dependency is a coroutine or a
    generator in lru_caches of 4096 entries keyed by the callable itself. A deployment builds
    one app; the suite builds one per test (the `client` fixture), and those entries kept the
    last dozen or so apps alive with their platforms: about a million objects that every full
    collection walked again (a fifth of a test module's CPU time). Private names, looked up
    defensively: a FastAPI that renames them only brings the cost back."""
    from fastapi.dependencies import models

    names = ("_is_gen_callable_cached", "_is_async_gen_callable_cached",
             "_is_coroutine_callable_cached")
    return [cache for name in names if hasattr(cache := getattr(models, name, None), "cache_clear")]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After each test (its fixtures torn down): forget the apps FastAPI's caches still hold."""
    for cache in _fastapi_callable_caches():
        cache.cache_clear()


def pytest_unconfigure(config):
    """The whole suite leaves gigabytes of objects behind (3.3 GB on the PostgreSQL rerun);
    Python's last collection at exit walked them for two minutes after the summary. Every
    fixture has stopped its servers by now: freezing the heap skips that walk."""
    gc.freeze()


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section("what the suites ran against")
    database = servers.USED.get("PostgreSQL") if ON_POSTGRES else "SQLite files (embedded)"
    terminalreporter.write_line(f"database suite: {database or 'not used'}")
    terminalreporter.write_line(f"event suite: {servers.USED.get('NATS JetStream', 'not used')}")
    skipped = {name: where for name, where in servers.USED.items()
               if where.startswith(servers.NOT_RUN)}
    for name, where in servers.USED.items():
        if name not in ("PostgreSQL", "NATS JetStream", *skipped):
            terminalreporter.write_line(f"{name}: {where}")
    _report_database_marks(terminalreporter)
    if skipped:  # loud: a skipped suite must not read as a passed one
        terminalreporter.section("SUITES THAT DID NOT RUN", red=True, bold=True)
        for name, where in skipped.items():
            terminalreporter.write_line(f"{name} {where}", red=True, bold=True)


def _report_database_marks(terminalreporter) -> None:
    """The tests whose `db` mark disagrees with what they did (see pytest_runtest_call)."""
    wrong = [("marked db but took no database connection (they rerun on PostgreSQL for "
              "nothing: unmark them)", CONNECTIONS.db_marked_untouched)]
    if not ON_POSTGRES:
        wrong.append(("took a database connection but are not marked db (PostgreSQL never "
                      "runs them)", CONNECTIONS.unmarked_touching))
    for title, nodeids in wrong:
        if nodeids:
            terminalreporter.section(f"{len(nodeids)} tests {title}", yellow=True)
            for nodeid in nodeids:
                terminalreporter.write_line(nodeid)


@pytest.fixture(autouse=True)
def quick_login_argon2(request, monkeypatch):
    """Test-only: logins' passwords hashed with argon2id at small costs. The production costs
    (auth.service: time 3, 64 MiB, 4 lanes) took ~0.3 s of CPU per login made and signed in,
    and most tests make two or three. The code path is the production one; only the costs
    differ. A test that asks for `real_login_argon2` keeps the production hasher
    (tests/core/test_auth_api.py checks a stored hash carries the production costs)."""
    from argon2 import PasswordHasher

    from yikatong.auth import service

    if "real_login_argon2" in request.fixturenames:
        yield
        return
    # the timing-equaliser's hash is made once per process with whichever hasher runs first
    service._unmatchable_hash.cache_clear()
    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                           parallelism=1))
    yield
    service._unmatchable_hash.cache_clear()


@pytest.fixture
def real_login_argon2() -> None:
    """Ask for this to hash logins' passwords with the production argon2 costs."""


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 1, 30, tzinfo=UTC))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    admin = servers.postgres_admin_url()
    url = servers.create_database(admin)
    engine = make_engine(url)
    with CONNECTIONS.uncounted():
        load_all_models().create_all(engine)
    engine.dispose()
    yield url
    if cleaning := _CLEANING_ENGINES.pop(url, None):
        cleaning.dispose()
    servers.drop_database(admin, url)


@pytest.fixture
def empty_database(tmp_path) -> Iterator[str]:
    """A database with no schema at all, for migration tests: a SQLite file, or a fresh
    PostgreSQL database under YKT_TEST_DB=postgres."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    admin = servers.postgres_admin_url()
    url = servers.create_database(admin)
    yield url
    servers.drop_database(admin, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A SQLite file with the whole schema, made once: each test's database is a copy of it
    (a copy takes a millisecond; create_all took 0.16 s of CPU per test)."""
    path = tmp_path_factory.mktemp("template") / "ykt.db"
    engine = make_engine(f"sqlite:///{path}")
    with CONNECTIONS.uncounted():
        load_all_models().create_all(engine)
    engine.dispose()  # the last connection closed: the write-ahead log is checkpointed into it
    return str(path)


@pytest.fixture
def database_url(request, tmp_path) -> Iterator[str]:
    if not ON_POSTGRES:
        path = tmp_path / "ykt.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    empty_postgres_database(url)


_CLEANING_ENGINES: dict[str, Engine] = {}
# The sequences of serial and identity columns (what RESTART IDENTITY restarts) that were used.
OWNED_SEQUENCES_USED = (
    "SELECT s.oid::regclass::text FROM pg_class s JOIN pg_depend d ON d.classid = 'pg_class'::regclass "
    "AND d.objid = s.oid AND d.deptype IN ('a', 'i') JOIN pg_sequences q "
    "ON q.schemaname = s.relnamespace::regnamespace::text AND q.sequencename = s.relname "
    "WHERE s.relkind = 'S' AND q.last_value IS NOT NULL")


def empty_postgres_database(url: str) -> None:
    """Every table of the models empty and every sequence back at its start, as TRUNCATE of
    them all with RESTART IDENTITY left them, but touching only what the test filled: that
    TRUNCATE made new files for all 118 tables and their indexes after every test (0.35 s
    each). Tables with triggers of their own (the audit's append-only ones refuse DELETE)
    are truncated; the others deleted from, children first. Anything unexpected (a cycle of
    foreign keys): the full TRUNCATE as before."""
    engine = _CLEANING_ENGINES.get(url) or _CLEANING_ENGINES.setdefault(url, make_engine(url))
    tables = load_all_models().sorted_tables
    with CONNECTIONS.uncounted():
        try:
            with engine.begin() as conn:
                probe = " UNION ALL ".join(f'(SELECT {i} FROM "{t.name}" LIMIT 1)'
                                           for i, t in enumerate(tables))
                filled = [tables[i] for i in sorted(conn.execute(text(probe)).scalars())]
                guarded = set(conn.execute(text(
                    "SELECT DISTINCT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
                    "WHERE NOT g.tgisinternal")).scalars())
                truncated = [t for t in filled if t.name in guarded]
                if truncated:
                    names = ", ".join(f'"{t.name}"' for t in truncated)
                    conn.execute(text(f"TRUNCATE {names} CASCADE"))
                for table in reversed(filled):
                    if table.name not in guarded:
                        conn.execute(text(f'DELETE FROM "{table.name}"'))
                for sequence in conn.execute(text(OWNED_SEQUENCES_USED)).scalars():
                    conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
        except Exception:
            names = ", ".join(f'"{t.name}"' for t in tables)
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def platform(database_url, clock, tmp_path) -> Iterator[Platform]:
    settings = Settings(database_url=database_url, key_store_path=str(tmp_path / "keystore.json"))
    plat = Platform(settings, clock=clock)
    yield plat
    plat.engine.dispose()


@pytest.fixture
def admin_actor() -> Actor:
    return Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)


class _SharedApp:
    def __init__(self, app, shape: tuple) -> None:
        self.app, self.shape, self.users = app, shape, 0


_APPS: dict[tuple, _SharedApp] = {}


def _app_key(settings: Settings) -> tuple:
    """What an application is built from besides the platform it serves: the settings but the
    test's own database and key store (a test with other settings gets an app of its own),
    and the one environment variable read when its middleware is first built."""
    return (replace(settings, database_url="", key_store_path=""),
            os.environ.get("FORWARDED_ALLOW_IPS"))


def _app_shape(app) -> tuple:
    """What a test could change in an application: its routes, middleware, overrides,
    exception handlers and state."""
    return (tuple(map(id, app.router.routes)), len(app.user_middleware),
            tuple(app.dependency_overrides.items()), tuple(app.exception_handlers.items()),
            tuple(sorted(app.state._state)))


@contextmanager
def shared_app(platform: Platform):
    """The API application serving `platform`, built once per kind of settings and handed to
    test after test with the test's own platform (and so its own fresh database) in
    app.state.platform: building one maps every route's dependencies, about a second of CPU
    per test. The clients of one test share it, as browsers share one server. A test that
    changes the application (adds a route, an override, state) keeps that one to itself: the
    next test gets a new one."""
    from yikatong.api.app import create_app

    key = _app_key(platform.settings)
    shared = _APPS.get(key)
    if shared is not None and shared.users and shared.app.state.platform is not platform:
        yield create_app(platform)  # another platform's test holds it: one of this one's own
        return
    if shared is None:
        app = create_app(platform)
        shared = _APPS[key] = _SharedApp(app, _app_shape(app))
    shared.app.state.platform = platform
    shared.users += 1
    try:
        yield shared.app
    finally:
        shared.users -= 1
        if not shared.users:
            shared.app.state.platform = None  # no platform kept alive beyond its test
            if _app_shape(shared.app) != shared.shape:
                del _APPS[key]


@pytest.fixture
def client(platform):
    from fastapi.testclient import TestClient

    with shared_app(platform) as app, TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def login(platform, client, admin_actor):
    """login(role, username=..., **user fields) -> headers with a bearer token for a new user."""
    from yikatong.auth.service import create_user

    def make(role: Role, username: str | None = None, channel: str | None = None, **fields):
        username = username or f"{role.value}-{len(made)}"
        with platform.uow() as uow:
            create_user(uow=uow, actor=admin_actor, username=username, password=PASSWORD,
                        role=role, **fields)
            uow.commit()
        made.append(username)
        response = client.post("/api/v1/auth/token",
                               data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        if channel:
            headers["X-Ykt-Channel"] = channel
        return headers

    made: list[str] = []
    return make


def cli_on(platform: Platform, monkeypatch):
    """`ykt …` run on the test's platform (its database and its fixed clock): run(*args) gives
    the CliRunner result; arguments may be numbers."""
    from typer.testing import CliRunner

    from yikatong.cli import context
    from yikatong.cli.main import app

    monkeypatch.setattr(context, "platform", lambda: platform)

    def run(*args):
        return CliRunner().invoke(app, [str(arg) for arg in args], env={"COLUMNS": "250"})

    return run
