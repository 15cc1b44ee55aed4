"""A platform and a reference bank talking over a real NATS JetStream server, each in its own
namespace of subjects, with the pieces a deployment runs: the platform's dispatcher and
consumers of the banks' streams, and the bank as a node in a thread or as `ykt bank serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from yikatong.banking.link import BankStreamConsumers
from yikatong.banking.node import BankNode
from yikatong.banking.runtime import ReferenceBank, bank_database_url
from yikatong.banking.wiring import use_reference_bank
from yikatong.core.clock import SystemClock
from yikatong.core.settings import Settings
from yikatong.crypto.protocols import KeyStore
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.nats import JetStreamBus, partner_stream
from yikatong.events.protocols import EventBus
from yikatong.platform import Platform

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class NatsWorld:
    def __init__(self, *, database_url: str, nats_url: str, workdir: Path,
                 bank_codes: tuple[str, ...] = ("ICBC",), duplicate_window: float = 600.0,
                 replicas: int = 1, namespace: str | None = None) -> None:
        """`replicas`: each stream on that many servers of a cluster (tests/nats_cluster.py);
        `namespace`: the production one ("ykt") when a real `ykt worker` takes part, on a
        server of the test's own."""
        self.nats_url = nats_url
        self.namespace = namespace or f"t{uuid.uuid4().hex[:10]}"
        self.bank_codes = bank_codes
        self.replicas = replicas
        self.workdir = workdir
        settings = Settings(database_url=database_url, nats_url=nats_url, nats_replicas=replicas,
                            key_store_path=str(workdir / "keystore.json"))
        self.platform = Platform(settings, clock=SystemClock())
        self.bus = JetStreamBus(nats_url, namespace=self.namespace,
                                duplicate_window_seconds=duplicate_window, replicas=replicas)
        for code in bank_codes:  # created here, so the test decides the duplicate window
            self.bus.ensure_stream(code)
        self.platform.provide(EventBus, self.bus)
        use_reference_bank(self.platform)  # NatsBankGateway in this namespace
        self.bank_url = bank_database_url(settings)
        self.bank = ReferenceBank.for_platform(self.platform)
        self.bank.bank_codes = frozenset(bank_codes)
        self.consumers = BankStreamConsumers(self.platform, self.bus, bank_codes, poll_seconds=0.2)
        self.node: BankNode | None = None
        self.process: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self._threads: list[tuple[threading.Event, threading.Thread]] = []

    # -- the platform's side ---------------------------------------------------------------

    def start_platform(self, dispatch_every: float = 0.02) -> None:
        """The worker's dispatcher and the consumers of the banks' streams."""
        self.consumers.ensure_running()
        self._loop(lambda: dispatch_pending(self.platform, self.bus), dispatch_every)

    # -- the bank's side -------------------------------------------------------------------

    def start_node(self, **options) -> BankNode:
        """The bank in a thread of this process (its own database and connections)."""
        node = BankNode(self.bank, nats_url=self.nats_url, namespace=self.namespace,
                        **{"consumer_poll": 0.2, "replicas": self.replicas, **options})
        try:
            node.start()
        except BaseException:
            node.close()
            raise
        self.node = node
        stop = threading.Event()
        thread = threading.Thread(target=self.node.run, args=(stop.is_set,), daemon=True)
        thread.start()
        self._node_stop = (stop, thread)
        return self.node

    def stop_node(self) -> None:
        stop, thread = self._node_stop
        stop.set()
        thread.join(timeout=10)
        self.node.close()
        self.node = None

    def start_process(self) -> subprocess.Popen:
        """The bank as its own process: `ykt bank serve`."""
        env = {**os.environ, "YKT_NATS_URL": self.nats_url, "YKT_NATS_REPLICAS": str(self.replicas),
               "YKT_KEY_STORE": str(Path(self.platform.settings.key_store_path))}
        args = [str(Path(sys.executable).with_name("ykt")), "bank", "serve",
                "--namespace", self.namespace, "--database-url", self.bank_url]
        for code in self.bank_codes:
            args += ["--bank", code]
        self.process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        return self.process

    def kill_process(self) -> None:
        """Take the bank down hard: no clean-up, no last acks."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    # -- the platform's worker as its own process ------------------------------------------

    def start_worker(self) -> subprocess.Popen:
        """`ykt worker` on the platform's database: the outbox dispatcher and the consumers of
        the banks' streams, as deployed. It speaks the production namespace, so the world
        must have been made with namespace="ykt" (on a NATS server of the test's own)."""
        assert self.namespace == "ykt", "ykt worker publishes in the namespace ykt"
        settings = self.platform.settings
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("YKT_")},
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
               "YKT_DATABASE_URL": settings.database_url, "YKT_NATS_URL": self.nats_url,
               "YKT_NATS_REPLICAS": str(self.replicas), "YKT_KEY_STORE": settings.key_store_path,
               "YKT_BANK_DATABASE_URL": self.bank_url, "YKT_THROTTLE": "off"}
        self.worker_log = self.workdir / "worker.log"
        with open(self.worker_log, "ab") as log:
            self.worker = subprocess.Popen([sys.executable, "-m", "yikatong.cli.main", "worker"],
                                           env=env, cwd=self.workdir, stdout=log,
                                           stderr=subprocess.STDOUT)
        return self.worker

    def kill_worker(self) -> None:
        """SIGKILL: the worker dies mid-dispatch, mid-apply, without a last ack or commit."""
        self.worker.send_signal(signal.SIGKILL)
        assert self.worker.wait(timeout=10) == -signal.SIGKILL

    # -- plumbing --------------------------------------------------------------------------

    def keystore(self) -> KeyStore:
        return self.platform.get(KeyStore)

    def _loop(self, step: Callable[[], object], every: float) -> None:
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                try:
                    step()
                except Exception:  # the test sees the effect or times out
                    pass
                stop.wait(every)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self._threads.append((stop, thread))

    def close(self) -> None:
        for stop, thread in self._threads:
            stop.set()
            thread.join(timeout=5)
        if self.node is not None:
            self.stop_node()
        for process in (self.process, self.worker):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        self.consumers.stop()
        for code in self.bank_codes:
            self.bus.delete_stream(partner_stream(code, self.namespace))
        self.bus.close()
        from yikatong.cards.protocols import BankGateway

        self.platform.get(BankGateway).close()
        self.bank.close()
        self.platform.engine.dispose()
