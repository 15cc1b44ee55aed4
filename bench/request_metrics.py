"""What the request metrics and the masked log line cost on the hottest read: `GET
/api/v1/cards/{card_no}` with a bearer token, through the whole application, with the request
metrics (observability.http) and without them, in one run on one database; then one access
log line formatted as the server writes it: before (uvicorn's text line with the identity-number
filter of api.logging) and now (a masked JSON line, observability.logs; and the masked text line).

    PYTHONPATH=src .venv/bin/python bench/request_metrics.py [--requests 3000] [--rounds 6]
        [--multiprocess]

The two apps are called in-process (httpx over ASGI, no sockets) in alternating rounds, so drift
on the machine hits both alike; each figure is wall time per request (p50, p99) and the process's
CPU time per request. `--multiprocess` writes the metrics to memory-mapped files as
`ykt serve --workers N` does (prometheus_client's multiprocess mode). Nothing is asserted.
Goal: the card read not measurably slower (p50 ratio within the rounds' own spread).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from security_middleware import PASSWORD, fresh_platform, make_card, percentile  # noqa: E402

from yikatong.api import logging as access_logging  # noqa: E402
from yikatong.api.app import create_app  # noqa: E402
from yikatong.observability import http as request_metrics  # noqa: E402
from yikatong.observability.logs import JsonFormatter, MaskingFilter  # noqa: E402


async def timed(client: httpx.AsyncClient, url: str, headers: dict, count: int) -> tuple[list[float], float]:
    samples = []
    cpu = time.process_time()
    for _ in range(count):
        start = time.perf_counter()
        response = await client.get(url, headers=headers)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return samples, time.process_time() - cpu


async def requests_with_and_without(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        platform = fresh_platform(Path(directory))
        card_no = make_card(platform)
        measured = create_app(platform)
        install = request_metrics.install
        request_metrics.install = lambda app: None  # the same application without them
        try:
            bare = create_app(platform)
        finally:
            request_metrics.install = install
        url = f"/api/v1/cards/{card_no}"
        names = ("with metrics", "without")
        samples: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, float] = dict.fromkeys(names, 0.0)
        clients = {name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
                   for name, app in zip(names, (measured, bare), strict=True)}
        try:
            token = (await clients["without"].post("/api/v1/auth/token", data={
                "username": "bench-admin", "password": PASSWORD})).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            for client in clients.values():  # warm-up
                await timed(client, url, headers, 200)
            per_round: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(rounds):
                for name, client in clients.items():
                    values, seconds = await timed(client, url, headers, requests // rounds)
                    samples[name] += values
                    cpu[name] += seconds
                    per_round[name].append(statistics.median(values))
        finally:
            for client in clients.values():
                await client.aclose()
            platform.engine.dispose()
    count = len(samples["without"])
    print(f"GET /api/v1/cards/{{card_no}} with a token, {count} reads each, in-process")
    for name in names:
        print(f"  {name:13} p50 {statistics.median(samples[name]) * 1e3:7.3f} ms   "
              f"p99 {percentile(samples[name], 0.99) * 1e3:7.3f} ms   "
              f"CPU {cpu[name] / count * 1e3:7.3f} ms/request   "
              f"round p50s {' '.join(f'{v * 1e3:.3f}' for v in per_round[name])}")
    print(f"  ratio with/without: p50 {statistics.median(samples['with metrics']) / statistics.median(samples['without']):.3f}"
          f", p99 {percentile(samples['with metrics'], 0.99) / percentile(samples['without'], 0.99):.3f}"
          f", CPU {cpu['with metrics'] / cpu['without']:.3f}")


def access_line_cost(lines: int) -> None:
    args = ("127.0.0.1:50312", "GET", "/api/v1/cards/B00000019", "1.1", 200)

    def record() -> logging.LogRecord:
        return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                                 '%s - "%s %s HTTP/%s" %d', args, None)

    text = logging.Formatter("%(levelname)s:     %(message)s")
    before_filter, mask_filter, json_line = access_logging.MaskIdentityNumbers(), MaskingFilter(), JsonFormatter()

    def before():
        made = record()
        before_filter.filter(made)
        return text.format(made)

    def masked_text():
        made = record()
        mask_filter.filter(made)
        return text.format(made)

    def masked_json():
        return json_line.format(record())

    print(f"one access log line, {lines} times:")
    for name, write in (("before: text, ID filter", before), ("now: masked text", masked_text),
                        ("now: masked JSON", masked_json)):
        start = time.process_time()
        for _ in range(lines):
            write()
        print(f"  {name:24} {(time.process_time() - start) / lines * 1e6:6.1f} µs CPU per line")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--multiprocess", action="store_true")
    args = parser.parse_args()
    if args.multiprocess:
        from yikatong.observability.metrics import enable_multiprocess

        enable_multiprocess(tempfile.mkdtemp(prefix="ykt-bench-metrics-"))
    import os

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    asyncio.run(requests_with_and_without(args.requests, args.rounds))
    access_line_cost(args.lines)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
