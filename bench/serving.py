"""What the benches share: a server process on a free port, its CPU time, the machine's load.

Imported by the bench scripts (`python bench/NAME.py` puts this folder on the path)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]


class Server(NamedTuple):
    base: str  # http://127.0.0.1:PORT
    pid: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ykt_serve(port: int, *options: str) -> list[str]:
    """`ykt serve` on `port` with this interpreter (the venv the bench runs in)."""
    start = "import sys; from yikatong.cli.main import app; sys.argv[0] = 'ykt'; app()"
    return [sys.executable, "-c", start, "serve", "--port", str(port), *options]


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], port: int, log: Path,
            probe: str = "/healthz") -> Iterator[Server]:
    """Start `command` (its output appended to `log`), wait until `probe` answers 200, and stop
    it when the block ends."""
    with open(log, "ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + probe, process, log)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited ({process.returncode}); see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"server did not come up; see {log}")


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server and any process it started."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


@contextlib.contextmanager
def fresh_database(url: str, keep: bool = False) -> Iterator[str]:
    """The named PostgreSQL database created afresh (dropped after unless `keep`)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from yikatong.db.engine import normalise_url

    target = make_url(normalise_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    try:
        yield target.render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def in_process_platform(database_url: str | None, throttle_limits: str, sqlite_name: str) -> Iterator[str]:
    """The environment of a platform run in this process: a temporary folder for its chips and
    audit checkpoints, the in-memory key store, `throttle_limits` (unless set), and a database:
    the PostgreSQL one `database_url` names, created afresh, or a SQLite file in the folder.
    Yields the database's URL, also set as YKT_DATABASE_URL."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        os.environ.setdefault("YKT_KEY_STORE", "memory")
        os.environ["YKT_CHIP_DIR"] = str(Path(workdir) / "chips")
        os.environ["YKT_AUDIT_CHECKPOINT_DIR"] = str(Path(workdir) / "checkpoints")
        os.environ.setdefault("YKT_THROTTLE_LIMITS", throttle_limits)
        database = (fresh_database(database_url) if database_url
                    else contextlib.nullcontext(f"sqlite:///{workdir}/{sqlite_name}"))
        with database as url:
            os.environ["YKT_DATABASE_URL"] = url
            yield url
