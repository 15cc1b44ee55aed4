"""Bad input across the whole API, as the running server publishes it (/openapi.json): every
route that takes a body gets it empty, malformed, of the wrong types, with one string at a time
far too long and one integer at a time far too large. Every answer must be a 4xx problem+json
(a stable `code`, a Chinese `title`, an English `title_en`), never a 500, and the database must
not change."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest

from tests.e2e.conftest import bank_has_account, count_rows
from tests.e2e.world import is_problem

pytestmark = [pytest.mark.usefixtures("watch_server"), pytest.mark.own_database]  # a server on a database of the e2e suite's own (YKT_E2E_DB)
LONG = "界" * 20_000          # far beyond any column or field in the platform
HUGE = 10**30                 # beyond any integer column (SQLite and PostgreSQL: 2^63 − 1)
PLATFORM_TABLES = ("persons", "person_documents", "person_corrections", "identity_reviews", "applications",
                   "employer_batches", "production_batches", "cards", "card_blocks", "card_wallet_refunds",
                   "users", "ecards", "ecard_consents", "ecard_token_uses", "transit_top_up_orders",
                   "transit_contact_sessions", "transit_wallet_refunds", "ledger_journals", "clearing_batches",
                   "clearing_records", "idempotency_records")
BANK_TABLES = ("bank_accounts", "bank_losses", "bank_transactions", "bank_closure_tasks")


@dataclass
class Attempt:
    route: str
    variant: str
    status: int
    body: str

    def __str__(self) -> str:
        return f"{self.route} [{self.variant}] → {self.status}: {self.body[:300]}"


@dataclass
class Sweep:
    world: object
    spec: dict
    values: dict
    logins: dict
    attempts: list[Attempt] = field(default_factory=list)

    # -- schemas ---------------------------------------------------------------------------

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        if "anyOf" in schema:
            branches = [b for b in schema["anyOf"] if self.resolve(b).get("type") != "null"]
            return self.resolve(branches[0]) if branches else {"type": "null"}
        return schema

    def example(self, schema: dict, name: str = "") -> object:
        """A plausible value for a schema, using the sweep's real values by field name, so the
        one bad field of a variant is what the server has to deal with."""
        schema = self.resolve(schema)
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object":
            return {key: self.example(sub, key) for key, sub in schema.get("properties", {}).items()}
        if kind == "array":
            return [self.example(schema.get("items", {}), name)]
        if kind == "integer":
            return self.values.get(name, max(int(schema.get("minimum", 1)), 1))
        if kind == "number":
            return 1
        if kind == "boolean":
            return True
        if kind == "string":
            return self._string(schema, name)
        return None

    def _string(self, schema: dict, name: str) -> str:
        if name in self.values:
            return str(self.values[name])
        if schema.get("format") == "date":
            return date.today().isoformat()
        if schema.get("format") == "date-time":
            return datetime.now(UTC).isoformat()
        if schema.get("examples"):
            return schema["examples"][0]
        pattern = schema.get("pattern", "")
        if pattern.startswith("^[0-9A-Fa-f]{"):
            return "0" * int(pattern.split("{")[1].split("}")[0])
        if pattern == r"^\d{20}$":
            return "0" * 20
        return "x" * max(int(schema.get("minLength", 1)), 1)

    def wrong(self, schema: dict) -> object:
        """The same shape with every field of a type it cannot have."""
        schema = self.resolve(schema)
        if schema.get("type") == "object":
            return {key: self.wrong(sub) for key, sub in schema.get("properties", {}).items()}
        return {"string": {"not": ["a string"]}, "integer": "many", "number": "many", "boolean": "perhaps",
                "array": "not-a-list"}.get(schema.get("type"), 12345)

    # -- leaves of a body ----------------------------------------------------------------------

    def leaves(self, schema: dict, prefix: tuple = ()) -> list[tuple[tuple, str]]:
        """(path, type) of every string and integer field, nested ones included."""
        schema = self.resolve(schema)
        kind = schema.get("type")
        if kind == "object":
            return [leaf for key, sub in schema.get("properties", {}).items()
                    for leaf in self.leaves(sub, (*prefix, key))]
        if kind == "array":
            return self.leaves(schema.get("items", {}), (*prefix, 0))
        if kind in ("string", "integer") and "enum" not in schema:
            return [(prefix, kind)]
        return []

    @staticmethod
    def replaced(body: object, path: tuple, value: object) -> object:
        body = copy.deepcopy(body)
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return body

    # -- requests ------------------------------------------------------------------------------

    def send(self, method: str, route: str, url: str, variant: str, headers: dict, **content) -> None:
        response = self.world.raw(method, url, headers=headers, **content)
        self.attempts.append(Attempt(f"{method} {route}", variant, response.status_code,
                                     response.text if is_problem(response) else
                                     f"(not problem+json: {response.headers.get('content-type')}) "
                                     f"{response.text}"))

    def json_variants(self, schema: dict, required: bool) -> list[tuple[str, bytes]]:
        resolved = self.resolve(schema)
        valid = self.example(schema)
        variants = [("malformed JSON", b'{"kind": '), ("a JSON array", b"[1, 2]"), ("a JSON string", b'"x"'),
                    ("wrong types", _encode(self.wrong(schema)))]
        if required:
            variants.append(("no body", b""))
        if resolved.get("required"):
            variants.append(("empty object", b"{}"))
        for path, kind in self.leaves(schema):
            bad = LONG if kind == "string" else HUGE
            variants.append((f"{'/'.join(map(str, path))} {'too long' if kind == 'string' else 'too large'}",
                             _encode(self.replaced(valid, path, bad))))
        return variants

    def sweep(self, method: str, route: str, operation: dict) -> None:
        url = "/api/v1" + route.removeprefix("/api/v1").format(**self.values)
        headers = dict(self.logins.get(_who(route), {}))
        body = operation["requestBody"]
        for content_type, media in body["content"].items():
            if content_type == "application/json":
                for variant, raw in self.json_variants(media["schema"], body.get("required", False)):
                    self.send(method, route, url, variant, {**headers, "Content-Type": content_type}, content=raw)
            elif content_type == "application/x-www-form-urlencoded":
                for variant, form in (("no body", {}), ("username too long", {"username": LONG, "password": "x"}),
                                      ("password too long", {"username": "admin", "password": LONG})):
                    self.send(method, route, url, variant, headers, data=form)
            else:  # a file (text/plain batch, image/jpeg photo)
                for variant, raw in (("no body", b""), ("JSON instead", b'{"kind": 1}'),
                                     ("garbage", LONG.encode()), ("binary garbage", bytes(range(256)) * 64)):
                    self.send(method, route, url, variant, {**headers, "Content-Type": content_type}, content=raw)


def _encode(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _who(route: str) -> str:
    """The role that would normally call a route, so bad input gets past the role check and as
    deep into the service as it can."""
    path = route.removeprefix("/api/v1")
    rules = (("/auth/", "anonymous"), ("/ecard/me", "holder"), ("/ecard/qr", "holder"),
             ("/applications/online", "holder"), ("/ecard/redeem", "outlet"), ("/banks/", "icbc"),
             ("/cards/bank-events", "icbc"), ("/financial-activation", "icbc"), ("/wallet-refund", "citizen-outlet"),
             ("/transit/", "citizen-outlet"), ("/clearing/batches", "transit"),
             ("/applications/employer-batches", "employer"), ("/applications", "outlet"), ("/people/", "outlet"),
             ("/loss", "agent12333"), ("/unblock", "agent12333"))
    return next((who for prefix, who in rules if prefix in path), "admin")


def counts_once_settled(world, server, citizen) -> tuple[dict[str, int], dict[str, int]]:
    """Row counts once the events of the citizen's new card have been consumed: the e-card and
    the bank's account are made a moment after the card, and must not land mid-sweep."""
    world.wait_for_ecard(citizen)
    world.eventually(lambda: bank_has_account(server, citizen.card_no), timeout=30)
    return count_rows(server, *PLATFORM_TABLES), count_rows(server, *BANK_TABLES, database="bank")


def test_bad_input_everywhere_is_a_4xx_problem_and_changes_nothing(world, server):
    spec = world.get("/openapi.json")
    someone = world.citizen_with_card()
    world.use_ecard(someone)
    # body fields named like these get the citizen's real values, so one bad field is the only fault
    values = world.path_values(someone, id_number=someone.ssn, document_number=someone.ssn, name=someone.name,
                               pickup_outlet_code="SS-TN-01", outlet_code="SS-TN-01")
    logins = {**world.staff_logins(), "holder": someone.holder}
    sweep = Sweep(world, spec, values, logins)
    before = counts_once_settled(world, server, someone)

    swept = []
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch", "delete") and "requestBody" in operation:
                swept.append(f"{method.upper()} {route}")
                sweep.sweep(method.upper(), route, operation)

    after = count_rows(server, *PLATFORM_TABLES), count_rows(server, *BANK_TABLES, database="bank")
    assert len(swept) > 35 and len(sweep.attempts) > 300, (len(swept), len(sweep.attempts))
    wrong = [attempt for attempt in sweep.attempts
             if not 400 <= attempt.status < 500 or attempt.body.startswith("(not problem+json")]
    assert not wrong, f"{len(wrong)} of {len(sweep.attempts)} bad requests were not a 4xx problem:\n" + \
        "\n".join(map(str, wrong))
    assert after == before


def test_a_bank_event_with_an_oversized_channel_is_refused(world):
    """Fixed in cards (reported): the channel was written to card_blocks.channel, a String(32):
    stored on SQLite, a 500 on PostgreSQL."""
    citizen = world.citizen_with_card(signed_up=False)
    pan = world.card(citizen.card_no).pan
    event = {"event_id": f"icbc-{citizen.card_no}-loss", "bank_code": "ICBC", "card_no": citizen.card_no, "pan": pan,
             "type": "formal_loss", "occurred_at": datetime.now(UTC).isoformat(), "channel": LONG}
    answer = world.call("POST", "cards/bank-events", as_=world.staff("icbc"), json=event, expect=(200, 422))
    assert answer.status_code == 422 and is_problem(answer)
    assert world.card_view(citizen.card_no)["hr_status"] == "normal"


def test_a_refund_contact_for_a_malformed_or_unknown_card_opens_nothing(world, server):
    """Fixed in transit: the card number was checked only once the card answered, after a
    contact row had been stored with it (a String(32): a 500 on PostgreSQL for a longer one)."""
    counter = world.staff("citizen-outlet")
    before = count_rows(server, "transit_contact_sessions")
    for card_no, status in (("Z99999999", 404), ("not-a-card", 422), ("界" * 33, 422), (LONG, 422)):
        refused = world.call("POST", "transit/contacts", as_=counter, expect=status,
                             json={"purpose": "refund", "card_no": card_no})
        assert is_problem(refused) and len(refused.text) < 2000, refused.text[:300]
    assert count_rows(server, "transit_contact_sessions") == before


def _parameter_variants(schema: dict) -> list[tuple[str, str]]:
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "integer":
        return [("too large", "1" + "0" * 30), ("negative", "-1"), ("not a number", "abc")]
    if fmt == "date":
        return [("year 99999", "99999-01-01"), ("30 February", "2026-02-30"), ("too long", "界" * 500)]
    return [("too long", "界" * 500), ("path-like", "..%2F..%2Fetc"), ("a huge number", "1" + "0" * 30)]


def test_bad_path_and_query_parameters_everywhere_are_never_a_500(world, server):
    """Every parameter of every route, one at a time: far too long, far too large, negative,
    not a number, not a date. Reading routes may answer 2xx (an empty list is a fine answer to a
    filter); everything else must be a 4xx problem+json, and no row may change."""
    spec = world.get("/openapi.json")
    someone = world.citizen_with_card()
    values = world.path_values(someone)
    logins = {**world.staff_logins(), "holder": someone.holder}
    sweep = Sweep(world, spec, values, logins)
    before = counts_once_settled(world, server, someone)
    wrong = []
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            example = _encode(sweep.example(body["schema"])) if body else None
            headers = {**logins.get(_who(route), {}), "Content-Type": "application/json"}
            for parameter in operation.get("parameters", []):
                if parameter["in"] not in ("path", "query"):
                    continue
                name = parameter["name"]
                for variant, bad in _parameter_variants(sweep.resolve(parameter.get("schema", {}))):
                    path_values = {**values, name: bad} if parameter["in"] == "path" else values
                    url = "/api/v1" + route.removeprefix("/api/v1").format(**path_values)
                    params = {name: bad} if parameter["in"] == "query" else None
                    response = world.raw(method.upper(), url, params=params, headers=headers,
                                                  content=example)
                    ok = 400 <= response.status_code < 500 and is_problem(response)
                    if method == "get" and response.status_code < 300:
                        ok = True
                    if not ok:
                        wrong.append(f"{method.upper()} {route} [{name} {variant}] → {response.status_code}: "
                                     f"{response.text[:200]}")
    after = count_rows(server, *PLATFORM_TABLES), count_rows(server, *BANK_TABLES, database="bank")
    assert not wrong, f"{len(wrong)} bad parameters were not answered properly:\n" + "\n".join(wrong)
    assert after == before


def test_listing_cards_with_an_out_of_range_filter_is_a_422(world):
    """Fixed in cards (reported): beyond 2^63 − 1 SQLite raised OverflowError, a 500."""
    for params in ({"person_id": 10**30}, {"offset": 10**30}):
        refused = world.call("GET", "cards", as_=world.staff("admin"), params=params, expect=(422, 500))
        assert refused.status_code == 422 and is_problem(refused)


def test_no_such_route_or_method_is_a_problem_too(world):
    """Fixed in api/app.py: routing errors were FastAPI's bare {"detail": "Not Found"} JSON."""
    for method, path, status in (("GET", "/api/v1/no-such-thing", 404), ("DELETE", "/api/v1/auth/me", 405),
                                 ("GET", "/api/v1/cards/..%2F..%2Fetc", 404)):
        answer = world.call(method, path, as_=world.staff("admin"), expect=status)
        assert is_problem(answer), answer.text


@pytest.mark.parametrize(("path", "who", "parameter"), [
    ("people", "outlet", "offset"),
    ("applications", "outlet", "offset"),
    ("transit/deny-list", "transit", "since"),
])
def test_a_list_offset_beyond_any_row_number_is_a_422(world, path, who, parameter):
    """Fixed: offsets past 2^63 − 1 reached SQLite (OverflowError: a 500)."""
    refused = world.call("GET", path, as_=world.staff(who), params={parameter: 10**30}, expect=422)
    assert is_problem(refused)
