"""Every money amount the API takes (found by walking /openapi.json: integer fields named like
an amount) has a documented upper bound, and no amount however large is anything but a 4xx
problem+json that changes nothing (a bank credit of 2^63 − 1 used to be accepted, then failed
every activation of that account with a 500)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import count_rows
from tests.e2e.test_bad_input import (
    BANK_TABLES,
    PLATFORM_TABLES,
    Sweep,
    _encode,
    _who,
    counts_once_settled,
)
from tests.e2e.world import is_problem
from yikatong.core.money import MAX_AMOUNT_FEN

pytestmark = [pytest.mark.usefixtures("watch_server"), pytest.mark.own_database]  # a server on a database of the e2e suite's own (YKT_E2E_DB)
MONEY = re.compile(r"(^|_)(amount|fen)(_|$)")
HUGE = [MAX_AMOUNT_FEN + 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63), -(10**30)]


def money_fields(sweep: Sweep, spec: dict) -> list[tuple[str, str, dict, tuple]]:
    """(method, route, operation, path of the field) of every integer amount in a request body."""
    found = []
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if media is None:
                continue
            for path, kind in sweep.leaves(media["schema"]):
                if kind == "integer" and MONEY.search(str(path[-1])):
                    found.append((method.upper(), route, operation, path))
    return found


def field_schema(sweep: Sweep, schema: dict, path: tuple) -> dict:
    for step in path:
        schema = sweep.resolve(schema)
        schema = schema["items"] if isinstance(step, int) else schema["properties"][step]
    return sweep.resolve(schema)


def test_every_amount_is_bounded_and_no_amount_is_a_5xx_or_a_change(world, server):
    spec = world.get("/openapi.json")
    someone = world.citizen_with_card()
    values = world.path_values(someone)
    logins = {**world.staff_logins(), "holder": someone.holder}
    sweep = Sweep(world, spec, values, logins)
    fields = money_fields(sweep, spec)
    routes = {f"{method} {route}" for method, route, _, _ in fields}
    assert {"POST /api/v1/banks/{bank_code}/accounts/{pan}/credits", "POST /api/v1/transit/top-ups",
            "POST /api/v1/cards/{card_no}/wallet-refund"} <= routes, routes

    unbounded = []
    for method, route, operation, path in fields:
        schema = field_schema(sweep, operation["requestBody"]["content"]["application/json"]["schema"], path)
        if not schema.get("maximum", float("inf")) <= MAX_AMOUNT_FEN or "minimum" not in schema and \
                "exclusiveMinimum" not in schema:
            unbounded.append(f"{method} {route} {'/'.join(map(str, path))}: {schema}")
    assert not unbounded, "amounts without a documented bound:\n" + "\n".join(unbounded)

    before = counts_once_settled(world, server, someone)
    wrong = []
    for method, route, operation, path in fields:
        url = "/api/v1" + route.removeprefix("/api/v1").format(**values)
        headers = {**logins.get(_who(route), {}), "Content-Type": "application/json"}
        valid = sweep.example(operation["requestBody"]["content"]["application/json"]["schema"])
        for amount in HUGE:
            response = world.raw(method, url, headers=headers, content=_encode(sweep.replaced(valid, path, amount)))
            if not (400 <= response.status_code < 500 and is_problem(response)):
                wrong.append(f"{method} {route} {path[-1]}={amount} → {response.status_code}: {response.text[:200]}")
    after = count_rows(server, *PLATFORM_TABLES), count_rows(server, *BANK_TABLES, database="bank")
    assert not wrong, "\n".join(wrong)
    assert after == before
