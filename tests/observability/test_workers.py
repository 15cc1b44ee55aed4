"""`ykt serve --workers 2` as a real process: every scrape, whichever worker answers it, counts
every worker's requests (prometheus_client's multiprocess mode), and the server's log is JSON
lines with no identity number in them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import _free_port, _stop
from yikatong.core.actor import Actor, Channel, Role

pytestmark = pytest.mark.own_database  # the workers' SQLite file

REQUESTS = 20  # at least; more while only one worker has answered
BOTH_WORKERS_TIMEOUT = 120  # seconds: readyz may be answered while the second worker still imports
ID = "320402199003070013"
START_TIMEOUT = 180  # seconds: demo logins hashed, two workers importing, on a loaded machine


def _prepare(root: Path, monkeypatch) -> tuple[str, str]:
    """The database as `ykt serve` prepares it, with a monitoring login's API key: (database
    URL, key). Prepared here, the demo logins hashed cheaply (the server finds them made and
    skips its seconds of argon2)."""
    from argon2 import PasswordHasher

    from yikatong.auth import service
    from yikatong.auth.service import create_api_key, create_user
    from yikatong.core.settings import Settings
    from yikatong.platform import Platform
    from yikatong.platform_setup import prepare

    url = f"sqlite:///{root / 'ykt.db'}"
    platform = Platform(Settings(database_url=url, key_store_path=str(root / "keystore.json")))
    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    prepare(platform)
    setup = Actor(user_id="setup", role=Role.ADMIN, channel=Channel.SYSTEM)
    with platform.uow() as uow:
        user = create_user(uow=uow, actor=setup, username="prometheus", password=None,
                           role=Role.MONITORING)
        key = create_api_key(uow=uow, user=user, label="scraper", actor=setup)
        uow.commit()
    platform.engine.dispose()
    return url, key


def _wait_ready(process: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "ykt serve --workers 2 died:\n" + log_path.read_text()[-3000:]
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"ykt serve --workers 2 was not ready within {START_TIMEOUT} s:\n"
                         + log_path.read_text()[-3000:])


def _card_reads(log_path: Path) -> list[dict]:
    access = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()
              if line.startswith("{") and '"uvicorn.access"' in line]
    return [line for line in access if line["path"] == "/api/v1/cards/B00000019"]


def _read_until_both_workers_answered(base: str, key: str, log_path: Path) -> int:
    """Card reads, a new connection each, until both workers have answered some: the kernel
    hands a connection to whichever worker accepts first, and on a loaded machine one worker
    can take twenty in a row or still be importing when the other answers /readyz. Returns how
    many were sent."""
    sent, deadline = 0, time.monotonic() + BOTH_WORKERS_TIMEOUT
    while time.monotonic() < deadline:
        assert httpx.get(f"{base}/api/v1/cards/B00000019", headers={"X-API-Key": key}).status_code == 403
        sent += 1
        if sent >= REQUESTS and len({line["pid"] for line in _card_reads(log_path)}) == 2:
            return sent
        if sent >= REQUESTS:
            time.sleep(0.05)
    raise AssertionError(f"only one worker answered {sent} card reads within {BOTH_WORKERS_TIMEOUT} s")


def _count(text: str, route: str, status: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "ykt_http_requests_total" and sample.labels["route"] == route
               and sample.labels["status"] == status)


def test_two_workers_count_together_and_log_json_lines_without_personal_data(tmp_path, monkeypatch):
    url, key = _prepare(tmp_path, monkeypatch)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YKT_", "PROMETHEUS_"))}
    env.update(YKT_DATABASE_URL=url, YKT_KEY_STORE=str(tmp_path / "keystore.json"),
               YKT_CHIP_DIR=str(tmp_path / "chips"), YKT_LOG_FORMAT="json", PYTHONUNBUFFERED="1",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("ykt")), "serve", "--port", str(port),
             "--workers", "2", "--no-worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
            cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base, log_path)
        sent = _read_until_both_workers_answered(base, key, log_path)
        assert httpx.get(f"{base}/api/v1/people/{ID}").status_code == 401
        scrapes = [httpx.get(f"{base}/metrics", headers={"X-API-Key": key}) for _ in range(4)]
    finally:
        _stop(process)
    for scrape in scrapes:
        assert scrape.status_code == 200
        assert _count(scrape.text, "/api/v1/cards/{card_no}", "403") == sent
        assert _count(scrape.text, "/api/v1/people/{person_id}", "401") == 1
    assert len(list((tmp_path / "metrics").glob("*.db"))) >= 2  # a file per worker process
    output = log_path.read_text(encoding="utf-8")
    assert ID not in output
    access = [json.loads(line) for line in output.splitlines()
              if line.startswith("{") and '"uvicorn.access"' in line]
    card_reads = _card_reads(log_path)
    assert len(card_reads) == sent
    assert len({line["pid"] for line in card_reads}) == 2  # both workers answered some
    assert any(line["path"] == "/api/v1/people/320402********0013" for line in access)
