"""The real platform for end-to-end journeys: `ykt serve` as a subprocess on a SQLite file, as
`make run` starts it, driven over HTTP with httpx.

One server for the whole e2e folder (session scope: starting one costs ~7 s, most of it
argon2 hashing of the demo logins). Journeys create their own people, so they do not depend on
each other's order. `YKT_E2E_DB=postgres` runs the same journeys against a fresh PostgreSQL
database instead (by hand: the suite's PostgreSQL pass runs only tests marked `db`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from tests.e2e.world import Server, World

START_TIMEOUT = 90  # seconds: a loaded 2-core machine hashing seven demo passwords
# Reported, harmless, PostgreSQL only: two deliveries of one event to the e-card consumer race
# (the CLI's in-process bus and the server's dispatcher); the loser logs its unique violation
# instead of treating it as "already applied" (events/inbox.py consume_once).
REPORTED_LOG_NOISE: tuple[str, ...] = ()  # tracebacks of reported, not yet fixed bugs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(root: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YKT_")}
    env.update(
        YKT_DATABASE_URL=database_url,
        YKT_CHIP_DIR=str(root / "chips"),
        YKT_KEY_STORE=str(root / "keystore.json"),  # development mode: a KEK file beside it
        YKT_HOST="127.0.0.1",
        # The journeys play a whole city's sign-ups and e-card checks from one address; the
        # per-address limits are for one household's (tests/core/test_throttle.py tests them).
        YKT_THROTTLE_LIMITS="holder_sign_up=100000 per hour; ecard_check=100000 per minute",
        PYTHONUNBUFFERED="1",
    )
    return env


def _start(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int, Path]:
    port = _free_port()
    log_path = root / f"server-{port}.log"
    log = log_path.open("wb")
    ykt = Path(sys.executable).with_name("ykt")
    process = subprocess.Popen([str(ykt), "serve", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT, cwd=root)
    log.close()
    return process, port, log_path


def _wait_healthy(process: subprocess.Popen, port: int) -> bool:
    """True once /healthz answers; False if the process died first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"ykt serve did not answer /healthz within {START_TIMEOUT} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _prepare_database(database_url: str) -> list[str]:
    """Migrate the fresh database as `ykt serve` would (it runs the same upgrade first, then
    finds nothing to do). If the migrations lag the models, `ykt serve` would die on its first
    insert: then build the models' schema by hand, stamp it as head, and return what was
    missing (reported by test_a_fresh_database_starts_like_make_run)."""
    from alembic import command

    from yikatong.db.migrate import alembic_config, pending_differences, upgrade
    from yikatong.db.registry import load_all_models

    engine = create_engine(database_url)
    try:
        upgrade(engine)
        missing = [_describe(difference) for difference in pending_differences(engine)]
        if missing:
            load_all_models().drop_all(engine)
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE alembic_version"))
            load_all_models().create_all(engine)
            command.stamp(alembic_config(database_url), "head")
        return missing
    finally:
        engine.dispose()


def _describe(difference) -> str:
    if isinstance(difference, list):  # column modifications come grouped
        return "; ".join(_describe(d) for d in difference)
    kind, *rest = difference
    names = [getattr(part, "name", None) or str(part) for part in rest if part is not None]
    return f"{kind} {' '.join(names)}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    if os.environ.get("YKT_E2E_DB") != "postgres":
        yield f"sqlite:///{tmp_path_factory.mktemp('ykt-db') / 'ykt.db'}"
        return
    from tests import servers

    admin = servers.postgres_admin_url()
    url = servers.create_database(admin)
    yield url
    servers.drop_database(admin, url)


@pytest.fixture(scope="session")
def server(tmp_path_factory, database_url) -> Iterator[Server]:
    """`ykt serve` on a fresh database, exactly as `make run` starts it."""
    root = tmp_path_factory.mktemp("ykt-e2e")
    env = _environment(root, database_url)
    schema_lag = _prepare_database(database_url)
    process, port, log_path = _start(root, env)
    if not _wait_healthy(process, port):
        raise AssertionError("ykt serve did not start:\n" + log_path.read_text(errors="replace")[-5000:])
    running = Server(root=root, port=port, log_path=log_path, env=env, schema_lag=schema_lag)
    try:
        yield running
    finally:
        running.close()
        _stop(process)


@pytest.fixture(scope="session")
def world(server) -> Iterator[World]:
    with World(server) as shared:
        yield shared


@pytest.fixture
def watch_server(request, server):
    """Fails the test if the server logged a traceback while it ran (a hidden 500); a test
    marked xfail for a reported bug may make the server log one."""
    mark = server.log_size()
    yield
    tracebacks = [t for t in server.tracebacks_since(mark) if not any(noise in t for noise in REPORTED_LOG_NOISE)]
    if request.node.get_closest_marker("xfail") is None:
        assert not tracebacks, "the server logged tracebacks:\n" + "\n\n".join(tracebacks)


def _database_url(server: Server, database: str) -> str:
    url = server.env["YKT_DATABASE_URL"]
    if database == "bank":
        from yikatong.banking.runtime import bank_database_url
        from yikatong.core.settings import Settings

        url = bank_database_url(Settings(database_url=url))
    return url


def count_rows(server: Server, *tables: str, database: str = "platform") -> dict[str, int]:
    """Rows per table in the platform's database, or in the reference bank's own (`bank`)."""
    engine = create_engine(_database_url(server, database))
    try:
        with engine.connect() as connection:
            return {t: connection.execute(select(func.count()).select_from(text(t))).scalar_one()
                    for t in tables}
    finally:
        engine.dispose()


def bank_has_account(server: Server, card_no: str) -> bool:
    """Whether the reference bank has opened the card's account yet: it does so from the
    platform's card event, a moment after the card is made, in its own process."""
    engine = create_engine(_database_url(server, "bank"))
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM bank_accounts WHERE card_no = :card_no")
            return connection.execute(query, {"card_no": card_no}).scalar_one() > 0
    finally:
        engine.dispose()
