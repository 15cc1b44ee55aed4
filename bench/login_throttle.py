"""Logins per second through the API with the login throttle on, against the same with it off.

    .venv/bin/python bench/login_throttle.py [--logins 100] [--postgres ADMIN_URL]

One database (a SQLite file, or a fresh PostgreSQL database with --postgres), one user with the
production argon2 costs, `POST /api/v1/auth/token` through the ASGI app in this process. Two
platforms on that database take turns in blocks of ten: one with the throttle on (its limits
raised so that nothing is refused: every login still pays its counter upserts), one with
YKT_THROTTLE=off. Successful logins (two hits, a clear and a give-back) and failed ones (two
hits) are timed apart. The baseline is the throttle-off run of the same kind in the same run.

It also times the throttle's own work per login alone (no argon2 around it).

Nothing is asserted: numbers depend on the machine. Expect the ratio near 1: the argon2
verify every login pays costs far more than its few indexed row updates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from outbox_nats import fresh_database  # noqa: E402

from yikatong.api.app import create_app  # noqa: E402
from yikatong.auth.errors import TooManyRequests  # noqa: E402
from yikatong.auth.service import create_user  # noqa: E402
from yikatong.auth.throttle import DEFAULT_LIMITS, Throttle  # noqa: E402
from yikatong.core.actor import Actor, Role  # noqa: E402
from yikatong.core.settings import Settings  # noqa: E402
from yikatong.platform import Platform  # noqa: E402

PASSWORD = "bench-password-long-enough"
BLOCK = 10


def platform_on(url: str, *, throttle: bool) -> Platform:
    platform = Platform(Settings(database_url=url, key_store_path="memory",
                                 throttle_enabled=throttle))
    if throttle:  # every hit is counted, none refused
        platform.provide(Throttle, Throttle(platform.engine, platform.clock,
                                            {rule: "100000000 per hour" for rule in DEFAULT_LIMITS}))
    return platform


def timed_logins(client: TestClient, count: int, password: str, status: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post("/api/v1/auth/token",
                               data={"username": "bench-outlet", "password": password})
        samples.append(time.perf_counter() - started)
        assert response.status_code == status, response.text
    return samples


def run(url: str, logins: int) -> None:
    on, off = platform_on(url, throttle=True), platform_on(url, throttle=False)
    with on.uow() as uow:
        create_user(uow=uow, actor=Actor.system("bench"), username="bench-outlet",
                    password=PASSWORD, role=Role.SS_OUTLET)
        uow.commit()
    clients = {"on": TestClient(create_app(on)), "off": TestClient(create_app(off))}
    kinds = {"successful": (PASSWORD, 200), "failed": ("wrong-password-1", 401)}
    samples = {(mode, kind): [] for mode in clients for kind in kinds}
    for client in clients.values():  # warm-up: imports, the dummy hash, connections
        for password, status in kinds.values():
            timed_logins(client, 3, password, status)
    for _ in range(max(1, logins // BLOCK)):
        for kind, (password, status) in kinds.items():
            for mode, client in clients.items():
                samples[mode, kind] += timed_logins(client, BLOCK, password, status)
    print(f"database: {on.engine.dialect.name}, {len(samples['on', 'successful'])} logins "
          f"of each kind in each mode, blocks of {BLOCK} taking turns")
    for kind in kinds:
        rates = {mode: 1 / statistics.median(samples[mode, kind]) for mode in clients}
        print(f"  {kind + ' logins':<18} throttle on {rates['on']:7.1f}/s   "
              f"off {rates['off']:7.1f}/s   on/off {rates['on'] / rates['off']:.3f}")
    work = throttle_work(on.get(Throttle), logins * 5)
    print(f"  the throttle's own work per successful login (2 transactions): "
          f"p50 {statistics.median(work) * 1000:.2f} ms")
    for platform in (on, off):
        platform.engine.dispose()


def throttle_work(throttle: Throttle, count: int) -> list[float]:
    """What login_attempt and LoginAttempt.succeeded do, without the login around them."""
    samples = []
    for n in range(count):
        started = time.perf_counter()
        by_address, _by_user = throttle.hit_all(
            ("login_address", f"192.0.2.{n % 250}", TooManyRequests),
            ("login_user", f"user-{n % 1000}", TooManyRequests))
        with throttle.transaction():
            throttle.forget("login_user", f"user-{n % 1000}")
            throttle.give_back(by_address)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=100, help="of each kind in each mode")
    parser.add_argument("--postgres", metavar="ADMIN_URL", default=None,
                        help="e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url, drop = fresh_database(args.postgres, Path(workdir), "login_throttle")
        try:
            run(url, args.logins)
        finally:
            drop()


if __name__ == "__main__":
    main()
