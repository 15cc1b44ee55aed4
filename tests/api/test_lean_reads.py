"""The lean answer path of the hot reads (api.lean) answers exactly what the ordinary FastAPI
path answers: the same status, headers and body bytes, the same refusals in the same order,
and the same OpenAPI document. Each comparison runs the same request through the application
and through a copy of it without the lean path, on the same database."""

from __future__ import annotations

import pytest

from tests.api.ordinary import client_without, client_without_front
from tests.cards.conftest import card_in_use
from yikatong.api import lean
from yikatong.api.deps import served_operations
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
CARDS = "/api/v1/cards"


@pytest.fixture
def ordinary(platform):
    """The same application on the same platform, without the lean path."""
    with client_without(platform, lean.LeanReads) as test_client:
        yield test_client


@pytest.fixture
def lean_answers(monkeypatch) -> list[str]:
    """The paths the lean path answered (so that a comparison is known to compare two paths):
    in front of the stack (`LeanFront`, its answers) or by `LeanReads.handle` (a refusal met in
    front, or a request with a body)."""
    answered: list[str] = []
    handle, headers = lean.LeanReads.handle, lean.LeanFront._answer_headers

    async def counted(self, scope, receive, send):
        answered.append(scope["path"])
        await handle(self, scope, receive, send)

    def counted_in_front(self, scope, body):
        if scope["method"] == "GET":  # (the POST doors' answers in front are not reads)
            answered.append(scope["path"])
        return headers(self, scope, body)

    monkeypatch.setattr(lean.LeanReads, "handle", counted)
    monkeypatch.setattr(lean.LeanFront, "_answer_headers", counted_in_front)
    return answered


def answer(response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status_code, response.headers.raw, response.content


def assert_same(client, ordinary, path: str, headers: dict | None = None) -> tuple:
    lean_answer, ordinary_answer = (answer(c.get(path, headers=headers or {}))
                                    for c in (client, ordinary))
    assert lean_answer == ordinary_answer
    return lean_answer


@pytest.mark.no_db
def test_every_read_access_route_is_answered_the_lean_way(client):
    app = client.app
    checks_in_its_read = {path for route, method, path in served_operations(app)
                          if app.state.route_access[(id(route), method)][1]}
    [installed] = [r for r in app.router.routes if isinstance(r, lean.LeanReads)]
    assert app.router.routes[0] is installed
    answered = {read.route.path_format for read in installed.reads}
    # The holder's home page checks in its read too (cards.web); a page, it is drawn by its
    # own route, never answered the lean (JSON) way.
    assert checks_in_its_read == {"/api/v1/cards/{card_no}", "/api/v1/cards/{card_no}/blocks",
                                  "/api/v1/transit/contacts/{contact_id}", "/me"}
    assert {"/cards/{card_no}", "/cards/{card_no}/blocks",
            "/transit/contacts/{contact_id}"} == answered


def test_a_card_and_its_blocks_answer_byte_for_byte_as_the_ordinary_path(
        client, ordinary, platform, login, lean_answers):
    card_no = card_in_use(platform, person_id=2001)
    agent = login(Role.PHONE_AGENT, username="agent-lean")
    assert client.post(f"{CARDS}/{card_no}/loss", headers=agent,
                       json={"kind": "temporary", "function": "both"}).status_code == 200
    admin = login(Role.ADMIN, username="admin-lean")
    for path, shown in ((f"{CARDS}/{card_no}", card_no), (f"{CARDS}/{card_no}/blocks", "temporary_loss")):
        status, headers, body = assert_same(client, ordinary, path, admin)
        assert status == 200 and (b"cache-control", b"no-store") in headers
        assert (b"x-frame-options", b"DENY") in headers and shown.encode() in body
    assert lean_answers == [f"{CARDS}/{card_no}", f"{CARDS}/{card_no}/blocks"]


def test_a_remembered_card_answer_is_the_cards_answer_now(client, ordinary, platform, login,
                                                          lean_answers):
    """The card read's bytes are remembered with its answer model (lean.answers_remembered,
    cards.api): the same bytes for an unchanged card, new ones once it changed, each time the
    ordinary path's."""
    [installed] = [r for r in client.app.router.routes if isinstance(r, lean.LeanReads)]
    remembered = {read.route.path_format for read in installed.reads if read.remembered}
    assert remembered == {"/cards/{card_no}"}  # (not the blocks, not the contact poll)
    card_no = card_in_use(platform, person_id=2020)
    admin = login(Role.ADMIN, username="admin-remembered")
    path = f"{CARDS}/{card_no}"
    first = assert_same(client, ordinary, path, admin)
    assert assert_same(client, ordinary, path, admin) == first
    agent = login(Role.PHONE_AGENT, username="agent-remembered")
    assert client.post(f"{path}/loss", headers=agent,
                       json={"kind": "temporary", "function": "both"}).status_code == 200
    lost = assert_same(client, ordinary, path, admin)
    assert lost[0] == 200 and lost[2] != first[2] and b"temporary_loss" in lost[2]
    assert lean_answers == [path] * 3


def test_the_contact_poll_answers_byte_for_byte_as_the_ordinary_path(
        client, ordinary, login, lean_answers):
    counter = login(Role.CITIZEN_OUTLET, username="smk-lean", channel="citizen_outlet",
                    branch_code="SMK-DIRECT-01")
    started = client.post("/api/v1/transit/contacts", headers=counter, json={"purpose": "read"})
    assert started.status_code == 201, started.text
    path = f"/api/v1/transit/contacts/{started.json()['contact_id']}"
    assert assert_same(client, ordinary, path, counter)[0] == 200
    bank = login(Role.BANK, username="icbc-lean", bank_code="ICBC", branch_code="ICBC-CZ-001",
                 channel="bank_branch")
    assert assert_same(client, ordinary, path, bank)[0] == 403  # closed to banks
    assert assert_same(client, ordinary, "/api/v1/transit/contacts/nobody", counter)[0] == 404
    assert len(lean_answers) == 3


def test_refusals_come_in_the_same_order_with_the_same_answers(
        client, ordinary, platform, login, lean_answers):
    card_no = card_in_use(platform, person_id=2002)
    other_bank = card_in_use(platform, person_id=2003, bank_code="BOC")
    path = f"{CARDS}/{card_no}"
    agent = login(Role.PHONE_AGENT, username="agent-order")
    icbc = login(Role.BANK, username="icbc-order", bank_code="ICBC", branch_code="ICBC-CZ-001",
                 channel="bank_branch")
    transit = login(Role.TRANSIT_OPERATOR, username="metro-order", branch_code="CZMETRO")
    cases = [
        (path, {}, 401),  # no credential: the ordinary path refuses it
        (path, {"Authorization": "Bearer not-a-token"}, 401),
        (path, transit, 403),  # the access table closes cards to transit
        (path, {**agent, "X-Ykt-Channel": "bank_branch"}, 403),  # a channel it may not claim
        (path, {**agent, "X-Ykt-Channel": "no-such-channel"}, 422),  # the ordinary path
        (f"{CARDS}/{other_bank}", icbc, 404),  # another bank's card reads as none
        (f"{CARDS}/NOT-A-CARD", agent, 422),
        (f"{CARDS}/C99999999", agent, 404),
        (f"{CARDS}/expiry-reminders", agent, None),  # a route in front takes it
    ]
    for request_path, headers, status in cases:
        got = assert_same(client, ordinary, request_path, headers)[0]
        assert status is None or got == status, (request_path, headers, got)
    # Not lean: no credential (401), no such channel (422) and the route in front.
    assert len(lean_answers) == len(cases) - 3


def test_a_holder_over_quota_gets_the_same_429_after_the_same_count(
        client, ordinary, platform, login, lean_answers):
    from tests.core.test_throttle import assert_refused, limit

    mine = card_in_use(platform, person_id=2004)
    limit(platform, holder_calls="4 per minute")
    holder = login(Role.HOLDER, username="holder-lean", person_id=2004)
    path = f"{CARDS}/{mine}"
    assert_same(client, ordinary, path, holder)  # calls 1 and 2
    assert_same(client, ordinary, f"{CARDS}/{mine}/blocks", holder)  # 3 and 4
    assert_same(client, ordinary, path, holder)  # 5 and 6: both refused
    assert_refused(client.get(path, headers=holder), "too_many_requests")
    assert len(lean_answers) == 4


def test_a_moved_clock_is_named_on_lean_answers_too(client, ordinary, platform, login,
                                                    monkeypatch, lean_answers):
    card_no = card_in_use(platform, person_id=2005)
    admin = login(Role.ADMIN, username="admin-clock")
    monkeypatch.setattr(platform.clock, "moved", True, raising=False)
    _status, headers, _body = assert_same(client, ordinary, f"{CARDS}/{card_no}", admin)
    assert any(name == b"x-ykt-clock" for name, _ in headers) and lean_answers


@pytest.mark.no_db
def test_the_openapi_document_is_the_same_with_the_lean_path(client, ordinary):
    assert client.get("/openapi.json").content == ordinary.get("/openapi.json").content


@pytest.mark.no_db
def test_an_answer_of_another_type_is_validated_as_fastapi_does(client):
    [read] = [r for r in client.app.router.routes[0].reads if r.route.path == "/cards/{card_no}/blocks"]
    assert read.already_valid([]) and not read.already_valid(())
    assert not read.already_valid([{"id": 1}])


@pytest.mark.no_db
def test_urls_are_still_built_by_name_with_the_lean_route_in_front(client):
    """`request.url_for` asks every route for the name; the lean route names none."""
    assert str(client.app.url_path_for("oidc_callback")) == "/api/v1/oidc/callback"


@pytest.fixture
def ordinary_health(platform):
    """The same application on the same platform, /healthz answered by its FastAPI route."""
    with client_without(platform, lean.LeanConstant) as test_client:
        yield test_client


@pytest.mark.no_db
def test_the_health_check_answers_byte_for_byte_as_its_route(client, ordinary_health, platform,
                                                             monkeypatch):
    [constant] = [r for r in client.app.router.routes if isinstance(r, lean.LeanConstant)]
    routes = client.app.router.routes
    assert constant.path == "/healthz" and routes.index(constant) < routes.index(constant.route)
    answered = []
    handle = lean.LeanConstant.handle

    async def counted(self, scope, receive, send):
        answered.append(scope["path"])
        await handle(self, scope, receive, send)

    monkeypatch.setattr(lean.LeanConstant, "handle", counted)
    status, headers, body = assert_same(client, ordinary_health, "/healthz")
    assert status == 200 and body == b'{"status":"ok"}' and (b"x-frame-options", b"DENY") in headers
    for method in ("POST", "HEAD", "PUT"):  # the route itself: 405, as before
        lean_answer, ordinary_answer = (answer(c.request(method, "/healthz"))
                                        for c in (client, ordinary_health))
        assert lean_answer == ordinary_answer and lean_answer[0] == 405, method
    monkeypatch.setattr(platform.clock, "moved", True, raising=False)
    _status, headers, _body = assert_same(client, ordinary_health, "/healthz")
    assert any(name == b"x-ykt-clock" for name, _ in headers)
    assert answered == ["/healthz", "/healthz"]


def test_the_health_check_is_counted_under_its_route(client, platform, admin_actor):
    from tests.observability.test_metrics import monitoring_key, samples

    client.get("/healthz")
    found = samples(client.get("/metrics", headers=monitoring_key(platform, admin_actor)).text)
    assert found["ykt_http_requests_total",
                 (("method", "GET"), ("route", "/healthz"), ("status", "200"))] >= 1


# --- the lean reads answered in front of the middleware stack (lean.LeanFront) ------------------


@pytest.fixture
def inside(platform):
    """The same application, the lean reads answered inside the middleware stack."""
    with client_without_front(platform) as test_client:
        yield test_client


@pytest.fixture
def front_answers(monkeypatch) -> list[tuple[str, int]]:
    """(path, status) of what `LeanFront` answered itself, and of what it passed on with a
    refusal (the refusal's status is the stack's)."""
    answered: list[tuple[str, int]] = []
    headers, call = lean.LeanFront._answer_headers, lean.LeanFront.__call__

    def counted(self, scope, body):
        if scope["method"] == "GET":  # (the POST doors' answers in front are not reads)
            answered.append((scope["path"], 200))
        return headers(self, scope, body)

    async def noting_refusals(self, scope, receive, send):
        async def noting(message):
            if message["type"] == "http.response.start" and lean._REFUSED in scope:
                answered.append((scope["path"], message["status"]))
            await send(message)

        await call(self, scope, receive, noting)

    monkeypatch.setattr(lean.LeanFront, "_answer_headers", counted)
    monkeypatch.setattr(lean.LeanFront, "__call__", noting_refusals)
    return answered


@pytest.mark.no_db
def test_the_front_is_outermost_around_the_stack_it_knows(client, inside):
    stack = client.app.middleware_stack
    assert isinstance(stack, lean.LeanFront) and stack.app.__class__.__name__ == "OperationOutcomes"
    assert not isinstance(inside.app.middleware_stack, lean.LeanFront)


@pytest.mark.no_db
def test_an_unknown_middleware_leaves_the_stack_without_front(platform):
    from fastapi.testclient import TestClient
    from starlette.middleware.gzip import GZipMiddleware

    from yikatong.api.app import create_app

    app = create_app(platform)
    app.add_middleware(GZipMiddleware)
    with TestClient(app):
        assert not isinstance(app.middleware_stack, lean.LeanFront)


def test_answers_made_in_front_are_the_stacks_byte_for_byte(client, inside, platform, login,
                                                            front_answers, monkeypatch):
    card_no = card_in_use(platform, person_id=2006)
    other_bank = card_in_use(platform, person_id=2007, bank_code="BOC")
    admin = login(Role.ADMIN, username="admin-front")
    agent = login(Role.PHONE_AGENT, username="agent-front")
    icbc = login(Role.BANK, username="icbc-front", bank_code="ICBC", branch_code="ICBC-CZ-001",
                 channel="bank_branch")
    transit = login(Role.TRANSIT_OPERATOR, username="metro-front", branch_code="CZMETRO")
    path = f"{CARDS}/{card_no}"
    cases = [
        (path, admin, 200), (f"{path}/blocks", admin, 200), (path, agent, 200),
        (path, {**admin, "X-Forwarded-Proto": "https"}, 200),  # over TLS: HSTS
        (path, {**admin, "X-Ykt-Channel": "outlet"}, 200),
        (path, {"Authorization": "Bearer not-a-token"}, 401),
        (path, transit, 403), (path, {**agent, "X-Ykt-Channel": "bank_branch"}, 403),
        (f"{CARDS}/{other_bank}", icbc, 404), (f"{CARDS}/NOT-A-CARD", agent, 422),
        (f"{CARDS}/C99999999", agent, 404),
    ]
    for request_path, headers, status in cases:
        assert assert_same(client, inside, request_path, headers)[0] == status, request_path
    assert front_answers == [(p, s) for p, _h, s in cases]
    # a body (even empty) goes through the stack, whose security layer counts it
    front_answers.clear()
    assert assert_same(client, inside, path, {**admin, "Content-Length": "0"})[0] == 200
    assert front_answers == []
    monkeypatch.setattr(platform.clock, "moved", True, raising=False)
    _status, headers, _body = assert_same(client, inside, path, admin)
    assert any(name == b"x-ykt-clock" for name, _ in headers) and front_answers == [(path, 200)]


def test_answers_made_in_front_are_counted_under_their_route_once(client, platform, login,
                                                                  admin_actor):
    from tests.observability.test_metrics import monitoring_key, samples

    card_no = card_in_use(platform, person_id=2008)
    admin = login(Role.ADMIN, username="admin-counted")
    monitoring = monitoring_key(platform, admin_actor)

    def counted(status: str) -> float:
        found = samples(client.get("/metrics", headers=monitoring).text)
        return found.get(("ykt_http_requests_total", (("method", "GET"),
                                                      ("route", "/api/v1/cards/{card_no}"),
                                                      ("status", status))), 0)

    before = counted("200"), counted("404")
    assert client.get(f"{CARDS}/{card_no}", headers=admin).status_code == 200
    assert client.get(f"{CARDS}/C99999999", headers=admin).status_code == 404
    assert (counted("200"), counted("404")) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("raw", [
    [(b"authorization", b"Bearer abc")],
    [(b"authorization", b"bearer abc"), (b"x-ykt-channel", b"outlet")],
    [(b"authorization", b"Basic abc"), (b"x-api-key", b"key-1")],
    [(b"authorization", b"Bearer "), (b"x-api-key", b"key-1")],
    [(b"x-api-key", b"")],
    [(b"x-api-key", b"key-1"), (b"x-api-key", b"key-2"), (b"x-ykt-channel", b"a"),
     (b"x-ykt-channel", b"b")],
    [(b"authorization", b"Bearer one"), (b"authorization", b"Bearer two")],
    [(b"Authorization", b"Bearer upper-case: not an ASGI name")],
    [(b"host", b"x"), (b"authorization", "Bearer caf\u00e9".encode("latin-1"))],
    [],
])
@pytest.mark.no_db
def test_the_front_reads_credential_and_channel_as_starlettes_headers_do(raw):
    from starlette.datastructures import Headers

    from yikatong.api.deps import credential, credential_of

    headers = Headers(scope={"type": "http", "headers": raw})
    first = lean._FirstHeaders(raw)
    assert credential_of(first.get("authorization") or "", first.get) == credential(headers)
    assert first.get("x-ykt-channel") == headers.get("x-ykt-channel")
