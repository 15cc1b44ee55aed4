"""CPU of one e-card code check in process: the plain-select path beside the ORM path, in
one run (load-independent: CPU time of this process, all its threads, per check).

    PYTHONPATH=src .venv/bin/python bench/ecard_check.py [--checks 300] [--rounds 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/ykt_bench_check]

Without --database-url a SQLite file in a temporary folder; a PostgreSQL URL names a database
the bench creates afresh and drops afterwards. Two levels, each path measured in alternating
rounds (the best round counts):

- the service: `ecard.service.verify_token` (ORM: the e-card with its consents, the person,
  the current card; the HTML page, medical and HR services use it) beside
  `read_verification` (plain selects of the columns it needs), in a read-only unit of work;
- the door: `POST /api/v1/ecard/verify` through the whole application (middleware, the
  throttle's counter unless YKT_THROTTLE=off, FastAPI) with Starlette's TestClient, beside the
  same door as it was (a sync route on `verify_token`, the same throttle dependency) mounted
  at `/bench/verify-orm` in the same application.

and, with the throttle on, the counter's hit on its own (wall time per hit, see
`throttle_levels`). Nothing is asserted; each ratio is printed beside its baseline from the
same run.

## First runs (2026-12-05, branch ecardfast from main ce10e0d, load average 2.3-5.4)

SQLite: service 1.73 → 0.54 ms CPU a check (3.2x), door 4.97 → 2.80 (1.8x); with
YKT_THROTTLE=off the door 5.36 → 2.36 (2.3x). PostgreSQL: service 2.70 → 0.80 (3.4x), door
5.62 → 2.76 (2.0x), a throttle hit 0.51 → 0.42 ms wall (1.2x). More in bench/request_path.py's
section "The e-card check door on plain selects".
"""


import argparse
import os
import sys
import time
from pathlib import Path

from serving import in_process_platform  # bench/serving.py

REPO = Path(__file__).resolve().parents[1]
THROTTLE_LIMITS = "ecard_terminal=100000000 per minute; ecard_check=100000000 per minute"


def seed(holders: int, granted: int | None = None):
    """A platform with `holders` e-card holders (distinct invented names), the first `granted`
    of them (all by default) with the official app's consent and a password."""
    sys.path.insert(0, str(REPO))
    from tests.applications.conftest import new_applicant
    from tests.ecard.conftest import Holder, submit, walk_to_hand_over

    from yikatong.platform import Platform
    from yikatong.platform_setup import prepare

    platform = Platform()
    prepare(platform)
    made = []
    for n in range(holders):
        application = submit(platform, new_applicant(name="测试" + "".join(
            "甲乙丙丁戊己庚辛壬癸"[n // 10 ** place % 10] for place in range(3))))
        holder = Holder(platform, application.person_id, None, application.id)
        holder.card_no = walk_to_hand_over(platform, application.id).card_no
        made.append(holder)
    for holder in made[:granted]:
        holder.grant("official_app")
        holder.set_password()
    return platform, made


def cpu_per_call(call, count: int) -> float:
    """CPU milliseconds of this process per call."""
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) * 1000 / count


def service_levels(platform, token: str, checks: int, rounds: int) -> dict[str, float]:
    from yikatong.crypto.protocols import KeyStore
    from yikatong.ecard import service

    keys = platform.get(KeyStore)

    def check(function):
        def one():
            with platform.uow(read_only=True) as uow:
                assert function(uow=uow, token=token, keys=keys).valid
        return one

    best: dict[str, float] = {}
    for _ in range(rounds):
        for label, function in (("service, ORM (verify_token)", service.verify_token),
                                ("service, plain selects (read_verification)",
                                 service.read_verification)):
            best[label] = min(best.get(label, 1e9), cpu_per_call(check(function), checks))
    return best


def door_levels(platform, token: str, checks: int, rounds: int) -> dict[str, float]:
    from fastapi import Depends
    from fastapi.testclient import TestClient

    from yikatong.api.app import create_app
    from yikatong.api.deps import platform_dep
    from yikatong.auth.access import ACCESS, TERMINALS
    from yikatong.auth.throttle import throttled_per_credential_or_address
    from yikatong.crypto.protocols import KeyStore
    from yikatong.ecard import service
    from yikatong.ecard.api import verification_out
    from yikatong.ecard.schemas import VerificationOut, VerifyIn

    # the same public entry in the access table as the door it stands beside
    ACCESS["POST /bench/verify-orm"] = ACCESS["POST /api/v1/ecard/verify"]
    app = create_app(platform)

    # the door before (no `from __future__ import annotations` here: FastAPI reads VerifyIn)
    def verify_orm(body: VerifyIn, platform=Depends(platform_dep)):
        with platform.uow(read_only=True) as uow:
            return verification_out(service.verify_token(uow=uow, token=body.token.strip(),
                                                         keys=platform.get(KeyStore)))

    app.add_api_route("/bench/verify-orm", verify_orm, methods=["POST"],
                      response_model=VerificationOut, dependencies=[
                          throttled_per_credential_or_address("ecard_terminal", "ecard_check",
                                                              TERMINALS)])
    best: dict[str, float] = {}
    with TestClient(app) as client:
        def post(path):
            def one():
                answer = client.post(path, json={"token": token})
                assert answer.status_code == 200 and answer.json()["valid"], answer.text
            return one

        for _ in range(rounds):
            for label, path in (("door, as it was (sync route, ORM)", "/bench/verify-orm"),
                                ("door, now (PG: on the loop)", "/api/v1/ecard/verify")):
                best[label] = min(best.get(label, 1e9), cpu_per_call(post(path), checks))
    return best


def throttle_levels(platform, checks: int, rounds: int) -> dict[str, float]:
    """One hit of the e-card check's counter: inside a transaction of its own (what every
    hit was: BEGIN, SET LOCAL synchronous_commit, the upsert, COMMIT on PostgreSQL) beside
    a hit alone (on PostgreSQL one autocommit statement). Wall milliseconds here: the
    round trips are the difference, and the database server's CPU is not this process's."""
    from yikatong.auth.throttle import Throttle

    throttle = platform.get(Throttle)

    def in_transaction():
        with throttle.transaction():
            throttle.hit("ecard_check", "bench")

    def alone():
        throttle.hit("ecard_check", "bench")

    best: dict[str, float] = {}
    for _ in range(rounds):
        for label, call in (("throttle hit, own transaction (as it was)", in_transaction),
                            ("throttle hit, alone (now)", alone)):
            started = time.perf_counter()
            for _ in range(checks):
                call()
            best[label] = min(best.get(label, 1e9),
                              (time.perf_counter() - started) * 1000 / checks)
    return best


def run(args) -> None:
    with in_process_platform(args.database_url, THROTTLE_LIMITS, "check.db") as url:
        platform, holders = seed(3)
        token = holders[-1].qr()
        print(f"database: {url.split('@')[-1]}, throttle: "
              f"{os.environ.get('YKT_THROTTLE', 'on')}, checks per round: {args.checks}")
        for measure in (service_levels, door_levels):
            figures = list(measure(platform, token, args.checks, args.rounds).items())
            (base_label, base), (label, now) = figures
            print(f"  {base_label:45s} {base:6.2f} ms CPU a check")
            print(f"  {label:45s} {now:6.2f} ms CPU a check ({base / now:.2f}x)")
        if os.environ.get("YKT_THROTTLE", "on") != "off":
            (base_label, base), (label, now) = throttle_levels(
                platform, args.checks, args.rounds).items()
            print(f"  {base_label:45s} {base:6.2f} ms wall a hit")
            print(f"  {label:45s} {now:6.2f} ms wall a hit ({base / now:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
