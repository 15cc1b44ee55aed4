"""Kill a real command at a chosen point, on a real PostgreSQL database, then resume it.

What a fault test does (docs/fault-testing.md has the whole story):

    template = FaultTemplate.build(seed)          # once: schema + the test's data, on PostgreSQL
    with template.clone() as db:                  # each case: a fresh copy (CREATE … TEMPLATE)
        h = Harness(db, workdir)
        h.kill_then_resume(["benefits", "run", "pension", "--period", "2026-12"],
                           kill_at="benefits.run.after_submit")
        ... check db's final state ...

`Harness.ykt(...)` runs `python -m yikatong.cli.main …` as a subprocess with YKT_DATABASE_URL
set to the clone and its working directory in the test's tmp_path (so every default `var/…`
path lands there), `YKT_KILL_AT` set when asked. A killed run must die by SIGKILL at the named
point (returncode -9 and the point announced on stderr) — a run that finishes, fails, or dies
elsewhere fails the test — and the resumed run, without the kill, must exit 0.

No mocks: the process really dies; PostgreSQL rolls back what it had not committed when its
connection drops, files half written stay half written. These tests need PostgreSQL (they are
`db` tests and skip themselves on SQLite, where one process's kill is not what they are about).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests import servers
from yikatong.core.killpoints import KILL_AT, KILL_TRACE

REPO = Path(__file__).resolve().parents[2]
SIGKILLED = -signal.SIGKILL

needs_postgres = pytest.mark.skipif(
    os.environ.get("YKT_TEST_DB", "sqlite") != "postgres",
    reason="fault tests kill a process on PostgreSQL (YKT_TEST_DB=postgres -m db)")


@dataclass
class Run:
    """One subprocess: its arguments, exit code (-9: SIGKILL), output, points it passed."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    points: list[str] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return self.returncode == SIGKILLED

    def describe(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}"
                f"\n--- stderr\n{self.stderr[-3000:]}")


def _admin_url() -> str:
    return servers.postgres_admin_url()


def _named(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


class FaultTemplate:
    """A PostgreSQL database with the schema and a test's seed data, that clones are made from
    (CREATE DATABASE … TEMPLATE: a file copy on the server, tens of milliseconds for a small
    database). Nobody may be connected to it while it is cloned: `seed` must dispose of its
    engines (a Platform: `platform.engine.dispose()`)."""

    def __init__(self, admin_url: str, url: str) -> None:
        self.admin_url = admin_url
        self.url = url

    @classmethod
    def build(cls, seed: Callable[[str], None] | None = None) -> FaultTemplate:
        from yikatong.db.engine import make_engine
        from yikatong.db.registry import load_all_models

        admin = _admin_url()
        url = servers.create_database(admin)
        engine = make_engine(url)
        load_all_models().create_all(engine)
        engine.dispose()
        if seed is not None:
            seed(url)
        return cls(admin, url)

    @contextlib.contextmanager
    def clone(self) -> Iterator[str]:
        """A fresh copy of the template, dropped afterwards."""
        name = f"{make_url(self.url).database}_c{uuid.uuid4().hex[:6]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(self.url).database}"')
        url = _named(self.url, name)
        try:
            yield url
        finally:
            servers.drop_database(self.admin_url, url)

    def drop(self) -> None:
        servers.drop_database(self.admin_url, self.url)


class Harness:
    """Runs commands against one database, from one working directory, with one key store."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str] | None = None,
                 timeout: float = 300.0) -> None:
        self.database_url = database_url
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YKT_")},
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
            "YKT_DATABASE_URL": database_url,
            "YKT_KEY_STORE": str(self.workdir / "keystore.json"),
            "YKT_CHIP_DIR": str(self.workdir / "chips"),
            "YKT_AUDIT_CHECKPOINT_DIR": str(self.workdir / "checkpoints"),
            "YKT_THROTTLE": "off",
            "COLUMNS": "200",
            **(env or {}),
        }

    def settings(self):
        """The Settings a command run by this harness sees (for seeding in-process with the
        same database and key store)."""
        from yikatong.core.settings import Settings

        return Settings(database_url=self.database_url, key_store_path=self.env["YKT_KEY_STORE"],
                        chip_store_path=self.env["YKT_CHIP_DIR"])

    def run(self, argv: Sequence[str], *, kill_at: str | None = None, trace: bool = False,
            env: dict[str, str] | None = None) -> Run:
        """Run argv (the first element an executable) and wait; never raises on its exit code."""
        run_env = {**self.env, **(env or {})}
        trace_file = None
        if kill_at:
            run_env[KILL_AT] = kill_at
        if trace:
            trace_file = self.workdir / f"trace-{uuid.uuid4().hex[:8]}.txt"
            run_env[KILL_TRACE] = str(trace_file)
        argv = [str(arg) for arg in argv]
        done = subprocess.run(argv, cwd=self.workdir, env=run_env, capture_output=True,
                              text=True, timeout=self.timeout, check=False)
        points = trace_file.read_text().split() if trace_file and trace_file.exists() else []
        return Run(argv, done.returncode, done.stdout, done.stderr, points)

    def ykt(self, *args: object, kill_at: str | None = None, trace: bool = False,
            env: dict[str, str] | None = None) -> Run:
        """`ykt ARGS…` as a subprocess."""
        return self.run([sys.executable, "-m", "yikatong.cli.main", *map(str, args)],
                        kill_at=kill_at, trace=trace, env=env)

    def killed_at(self, argv: Sequence[str], kill_at: str, **kwargs) -> Run:
        """Run argv armed to die at `kill_at`; assert it did, there (not elsewhere, not at all)."""
        run = self.run(argv, kill_at=kill_at, **kwargs)
        points = [entry.strip().partition("@")[0] for entry in kill_at.split(",") if entry.strip()]
        assert run.killed, f"expected SIGKILL at {kill_at}\n{run.describe()}"
        assert any(f"killpoint {point}@" in run.stderr for point in points), \
            f"killed, but not at {kill_at}\n{run.describe()}"
        return run

    def completed(self, argv: Sequence[str], **kwargs) -> Run:
        """Run argv without a kill; assert it exited 0."""
        run = self.run(argv, **kwargs)
        assert run.returncode == 0, f"expected a clean exit\n{run.describe()}"
        return run

    def kill_then_resume(self, argv: Sequence[str], kill_at: str, *,
                         resumes: int = 1, **kwargs) -> tuple[Run, Run]:
        """Kill argv at `kill_at`, then run it again unarmed (`resumes` times: a resumed run
        must also be idempotent); returns the killed run and the last resumed one."""
        killed = self.killed_at(argv, kill_at, **kwargs)
        resumed = killed
        for _ in range(resumes):
            resumed = self.completed(argv, **kwargs)
        return killed, resumed

    def points(self, argv: Sequence[str], **kwargs) -> list[str]:
        """The killpoints argv passes through, in order, with repeats (a run that changes the
        database: use it on a clone of its own)."""
        return self.completed(argv, trace=True, **kwargs).points


def ykt_argv(*args: object) -> list[str]:
    """The argv of `ykt ARGS…` for Harness.run/killed_at/kill_then_resume."""
    return [sys.executable, "-m", "yikatong.cli.main", *map(str, args)]


def rows(url: str, sql: str, **params) -> list[tuple]:
    """The rows of a query on the database at url (psycopg, no ORM: a snapshot to compare)."""
    from yikatong.db.engine import normalise_url

    plain = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        return [tuple(row) for row in conn.execute(sql, params or None).fetchall()]
