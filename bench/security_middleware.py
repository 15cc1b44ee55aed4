"""What the security middleware (api/middleware.py: body limit + security headers) costs on
the hottest read: the p99 of `GET /api/v1/cards/{card_no}` with a bearer token, through the
whole application, with the middleware and without it, in one run on one database.

    .venv/bin/python bench/security_middleware.py [--requests 3000] [--rounds 6]

The two apps are called in-process (httpx over ASGI, no sockets) in alternating rounds, so
drift on the machine hits both alike. Nothing is asserted: numbers depend on the machine.
Goal: the middleware costs at most 10 % at p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
from stdnum import luhn

from yikatong.api.app import create_app
from yikatong.auth.service import create_user
from yikatong.cards import service as cards
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.settings import Settings
from yikatong.db.engine import make_engine
from yikatong.db.registry import load_all_models
from yikatong.observability import http as request_metrics
from yikatong.platform import Platform

SYSTEM = Actor.system("bench")
OUTLET = Actor(user_id="outlet", role=Role.SS_OUTLET, channel=Channel.OUTLET, branch_code="SS-TN-01")
PASSWORD = "bench-password-2026"


def fresh_platform(directory: Path) -> Platform:
    url = f"sqlite:///{directory / 'bench.db'}"
    engine = make_engine(url)
    load_all_models().create_all(engine)
    engine.dispose()
    return Platform(Settings(database_url=url, key_store_path="memory"))


def make_card(platform: Platform) -> str:
    body = "621226000000000001"  # + the Luhn digit
    with platform.uow() as uow:
        view = cards.register_produced_card(
            uow=uow, actor=SYSTEM, application_id=None, person_id=1, kind="first", bank_code="ICBC",
            card_no="B00000001", card_id_code="320400D156000005" + "0" * 15 + "1", chip_serial="CHIP000000000001",
            pan=body + luhn.calc_check_digit(body), asn="0" * 19 + "1", issue_date=date(2026, 3, 2))
        uow.commit()
    with platform.uow() as uow:
        cards.hand_over(uow=uow, actor=OUTLET, card_no=view.card_no)
        uow.commit()
    with platform.uow() as uow:
        create_user(uow=uow, actor=SYSTEM, username="bench-admin", password=PASSWORD, role=Role.ADMIN)
        uow.commit()
    return view.card_no


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed_reads(client: httpx.AsyncClient, url: str, headers: dict, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        response = await client.get(url, headers=headers)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return samples


async def run(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        platform = fresh_platform(Path(directory))
        card_no = make_card(platform)
        # The security middleware alone: both apps without the request metrics (measured by
        # bench/request_metrics.py), which also wrap build_middleware_stack.
        install_metrics, request_metrics.install = request_metrics.install, lambda app: None
        try:
            guarded = create_app(platform)
            bare = create_app(platform)
        finally:
            request_metrics.install = install_metrics
        del bare.build_middleware_stack  # undo middleware.install (it set it on the instance)
        url = f"/api/v1/cards/{card_no}"
        samples: dict[str, list[float]] = {"with middleware": [], "without": []}
        clients = {name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
                   for name, app in (("with middleware", guarded), ("without", bare))}
        try:
            token = (await clients["without"].post("/api/v1/auth/token", data={
                "username": "bench-admin", "password": PASSWORD})).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            probe = await clients["with middleware"].get(url, headers=headers)
            assert probe.headers["cache-control"] == "no-store"
            assert "content-security-policy" not in (await clients["without"].get(url, headers=headers)).headers
            for client in clients.values():  # warm-up
                await timed_reads(client, url, headers, 200)
            for _ in range(rounds):
                for name, client in clients.items():
                    samples[name] += await timed_reads(client, url, headers, requests // rounds)
        finally:
            for client in clients.values():
                await client.aclose()
            platform.engine.dispose()
    print(f"GET /api/v1/cards/{{card_no}} with a token, {len(samples['without'])} reads each, in-process")
    for name, values in samples.items():
        print(f"  {name:16} p50 {statistics.median(values) * 1e3:7.3f} ms   p99 {percentile(values, 0.99) * 1e3:7.3f} ms")
    ratio = percentile(samples["with middleware"], 0.99) / percentile(samples["without"], 0.99)
    median_ratio = statistics.median(samples["with middleware"]) / statistics.median(samples["without"])
    print(f"  p99 ratio with/without: {ratio:.3f} (p50 ratio {median_ratio:.3f}); goal ≤ 1.10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
