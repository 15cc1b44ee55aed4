"""The POST doors answered in front of the middleware stack (api.lean_posts, lean.LeanFront)
answer exactly what the ordinary path answers: the same status, headers and body bytes, the
same refusals (from the stack, in its order), the same counts. Each comparison sends the same
request to the application and to a copy of it without `LeanPosts`, on the same database."""

from __future__ import annotations

import json

import pytest
from fastapi import Depends, FastAPI, Header

from tests.api.ordinary import client_without
from tests.ecard import conftest as ecard_fixtures
from yikatong.api import lean, lean_posts
from yikatong.api.deps import authorize
from yikatong.core.actor import Role
from yikatong.ecard.schemas import VerificationOut, VerifyIn  # (the doors below: annotations)

pytestmark = pytest.mark.db
# The e-card tests' holder who shows codes (and their autouse fixtures), here too.
applied, chip_directory, holder, quick_argon2 = (
    ecard_fixtures.applied, ecard_fixtures.chip_directory, ecard_fixtures.holder,
    ecard_fixtures.quick_argon2)
VERIFY, REDEEM, CONTACTS = "/api/v1/ecard/verify", "/api/v1/ecard/redeem", "/api/v1/transit/contacts"


@pytest.fixture
def ordinary(platform):
    """The same application on the same platform, every POST through the stack and FastAPI."""
    with client_without(platform, lean_posts.LeanPosts) as test_client:
        yield test_client


@pytest.fixture
def in_front(monkeypatch) -> list[tuple[str, int | str]]:
    """What the front did with each POST to a door: (path, status) of an answer it made,
    (path, "refused") of a refusal of the work it passed to the stack."""
    done: list[tuple[str, int | str]] = []
    headers, refused = lean.LeanFront._answer_headers, lean_posts.refused

    def answered(self, scope, body):
        if scope["method"] == "POST":
            done.append((scope["path"], 200))
        return headers(self, scope, body)

    def noted(scope, post, refusal):
        done.append((scope["path"], "refused"))
        refused(scope, post, refusal)

    monkeypatch.setattr(lean.LeanFront, "_answer_headers", answered)
    monkeypatch.setattr(lean_posts, "refused", noted)
    return done


def answer(response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status_code, response.headers.raw, response.content


def assert_same(client, ordinary, path: str, *, headers: dict | None = None, json_body=None,
                content: bytes | None = None, differing: tuple[str, ...] = ()) -> tuple:
    """Both answers to one request; `differing`: answer fields that name what each request
    made (a new contact's id), compared by length and replaced before the bytes are."""
    got = []
    for test_client in (client, ordinary):
        response = test_client.post(path, headers=headers or {}, json=json_body, content=content)
        status, raw_headers, body = answer(response)
        for name in differing:
            value = response.json()[name]
            body = body.replace(json.dumps(value).encode(), b'"%d chars"' % len(str(value)))
        got.append((status, raw_headers, body))
    assert got[0] == got[1]
    return got[0]


@pytest.mark.no_db
def test_the_marked_doors_are_answered_in_front(client):
    [posts] = [r for r in client.app.router.routes if isinstance(r, lean_posts.LeanPosts)]
    assert set(posts.posts) == {VERIFY, REDEEM, CONTACTS}
    assert client.app.router.routes.index(posts) == 1  # behind the lean reads (GETs only)
    stack = client.app.middleware_stack
    assert isinstance(stack, lean.LeanFront) and set(stack._posts) == {VERIFY, REDEEM, CONTACTS}


@pytest.mark.no_db
def test_without_the_refusal_route_the_front_answers_no_post(ordinary):
    stack = ordinary.app.middleware_stack
    assert isinstance(stack, lean.LeanFront) and stack._posts == {}


@pytest.mark.no_db
def test_the_openapi_document_is_the_same_with_the_doors_in_front(client, ordinary):
    assert client.get("/openapi.json").content == ordinary.get("/openapi.json").content


@pytest.mark.no_db
def test_a_door_of_another_shape_or_behind_another_route_stays_ordinary():
    app = FastAPI(dependencies=[Depends(authorize)])

    @app.post(VERIFY, response_model=VerificationOut)
    @lean_posts.answered_in_front
    async def with_a_header(body: VerifyIn, x_thing: str = Header()):
        """A header FastAPI validates: not answered in front."""

    @app.post(REDEEM, response_model=VerificationOut)
    @lean_posts.answered_in_front
    async def plain(body: VerifyIn):
        """Answered in front."""

    @app.post(CONTACTS)
    async def in_front_of_it(body: VerifyIn):
        """Takes the marked door's requests."""

    @app.post(CONTACTS, response_model=VerificationOut)
    @lean_posts.answered_in_front
    async def behind(body: VerifyIn):
        """Never reached by FastAPI: not answered in front either."""

    assert [post.path for post in lean_posts.lean_posts(app)] == [REDEEM]


def test_the_check_answers_byte_for_byte_as_the_ordinary_path(client, ordinary, holder, login,
                                                             in_front):
    token = holder().qr()
    gate = login(Role.TRANSIT_OPERATOR, username="gate-front", branch_code="CZMETRO")
    cases = [
        ({}, {"token": token}, 200),  # public: counted by address
        (gate, {"token": token}, 200),  # a terminal: counted by its credential
        ({"Authorization": "Bearer not-a-token"}, {"token": token}, 200),  # by address
        # not looked at by the check; a channel it does not know goes to the stack
        ({"X-Ykt-Channel": "no-such-channel"}, {"token": token}, 200),
        ({}, {"token": "YKT1.NOTACODE"}, 200),  # malformed: a verdict, not a refusal
        ({}, {"token": "x" * 401}, 422),  # over the schema's max_length
        ({}, {"tokens": token}, 422),
        ({}, [token], 422),
    ]
    for headers, body, status in cases:
        got = assert_same(client, ordinary, VERIFY, headers=headers, json_body=body)
        assert got[0] == status, (headers, body, got)
    assert (b"x-frame-options", b"DENY") in got[1] and (b"cache-control", b"no-store") in got[1]
    assert in_front == [(VERIFY, 200)] * 4


def test_bodies_the_stack_refuses_are_refused_by_it(client, ordinary, holder, in_front):
    token = holder().qr()
    json_type = {"Content-Type": "application/json"}
    cases = [
        (json_type, b'{"token": ', 422),  # not JSON
        (json_type, b'{"token": "\xff"}', 400),  # not UTF-8
        (json_type, b"", 422),  # no body
        (json_type, b"[" * 100_000 + b"]" * 100_000, 413),  # over the limit, unread
        (json_type, b"[" * 20_000 + b"]" * 20_000, 400),  # too deep for the parser
        ({"Content-Type": "text/plain"}, json.dumps({"token": token}).encode(), 422),
        ({}, json.dumps({"token": token}).encode(), 422),  # no content type: not JSON
        ({"Content-Type": "application/json; charset=utf-8"},
         json.dumps({"token": token}).encode(), 200),  # JSON all the same
        ({"Content-Type": "application/vnd.ykt+json"}, json.dumps({"token": token}).encode(),
         200),  # FastAPI's JSON too: the stack answers it
        (json_type, json.dumps({"token": token, "pad": "x" * 70_000}).encode(), 413),
    ]
    for headers, content, status in cases:
        got = assert_same(client, ordinary, VERIFY, headers=headers, content=content)
        assert got[0] == status, (headers, content[:40], got)
    assert in_front == [(VERIFY, 200)]  # the charset one; the rest went to the stack untouched


def test_a_redeem_and_its_refusals_answer_as_the_ordinary_path(client, ordinary, holder, login,
                                                               in_front):
    person = holder()
    counter = login(Role.SS_OUTLET, username="ss-front", branch_code="SS-TN-01")
    first, second = person.qr(), person.qr()
    business = {"business": "hospital_registration", "terminal_id": "T1"}
    lean_answer = answer(client.post(REDEEM, headers=counter, json={"token": first, **business}))
    ordinary_answer = answer(ordinary.post(REDEEM, headers=counter,
                                           json={"token": second, **business}))
    assert lean_answer == ordinary_answer and lean_answer[0] == 200
    me = login(Role.HOLDER, username="holder-front", person_id=person.person_id)
    cases = [
        (counter, {"token": first, **business}, 422),  # used: replayed
        (counter, {"token": second, **business}, 422),
        (me, {"token": person.qr(), **business}, 403),  # a holder may not redeem
        ({}, {"token": first, **business}, 401),  # no credential: the stack's
        ({"Authorization": "Bearer not-a-token"}, {"token": first, **business}, 401),
        # a channel that is none: authorize refuses it first (the stack's answer)
        ({**counter, "X-Ykt-Channel": "no-such-channel"}, {"token": first, **business}, 403),
        ({**counter, "X-Ykt-Channel": "bank_branch"}, {"token": first, **business}, 403),
        (counter, {"token": "YKT1.NOTACODE", **business}, 422),
        (counter, {"token": first}, 422),  # no business: the schema's refusal, after the count
    ]
    for headers, body, status in cases:
        got = assert_same(client, ordinary, REDEEM, headers=headers, json_body=body)
        assert got[0] == status, (headers, body, got)
    assert in_front == [(REDEEM, 200), (REDEEM, "refused"), (REDEEM, "refused"),
                        (REDEEM, "refused"), (REDEEM, "refused"), (REDEEM, "refused"),
                        (REDEEM, "refused")]


def test_a_terminal_over_quota_gets_the_same_429_after_the_same_count(
        client, ordinary, platform, holder, login, in_front):
    from tests.core.test_throttle import assert_refused, limit

    person = holder()
    limit(platform, ecard_terminal="5 per minute", ecard_check="2 per minute")
    counter = login(Role.SS_OUTLET, username="ss-quota", branch_code="SS-TN-01")
    body = {"token": person.qr(), "business": "hospital_registration"}
    assert client.post(REDEEM, headers=counter, json=body).status_code == 200  # call 1
    for status in (422, 422, 429):  # calls 2-3, 4-5, 6-7 (a used code: refused, counted)
        got = assert_same(client, ordinary, REDEEM, headers=counter, json_body=body)
        assert got[0] == status, got
    business = {"business": "hospital_registration"}
    assert_refused(client.post(REDEEM, headers=counter, json={"token": person.qr(), **business}),
                   "too_many_requests")
    token = person.qr()  # the public check, by address: 2 a minute
    assert assert_same(client, ordinary, VERIFY, json_body={"token": token})[0] == 200
    assert assert_same(client, ordinary, VERIFY, json_body={"token": token})[0] == 429
    assert (VERIFY, 200) in in_front and (VERIFY, "refused") in in_front


def test_a_contact_start_answers_as_the_ordinary_path(client, ordinary, login, in_front):
    counter = login(Role.CITIZEN_OUTLET, username="smk-front", channel="citizen_outlet",
                    branch_code="SMK-DIRECT-01")
    bank = login(Role.BANK, username="icbc-front", bank_code="ICBC", branch_code="ICBC-CZ-001",
                 channel="bank_branch")
    got = assert_same(client, ordinary, CONTACTS, headers=counter, json_body={"purpose": "read"},
                      differing=("contact_id",))
    assert got[0] == 201 and (b"content-type", b"application/json") in got[1]
    cases = [
        (counter, {"purpose": "top_up"}, 422),  # the endpoint's own refusal
        (counter, {"purpose": "borrow"}, 422),  # the schema's
        (bank, {"purpose": "read"}, 403),
        ({}, {"purpose": "read"}, 401),
    ]
    for headers, body, status in cases:
        assert assert_same(client, ordinary, CONTACTS, headers=headers, json_body=body)[0] \
            == status, body
    assert in_front == [(CONTACTS, 200), (CONTACTS, "refused"), (CONTACTS, "refused")]


def test_a_moved_clock_is_named_on_answers_made_in_front(client, ordinary, platform, holder,
                                                         monkeypatch, in_front):
    token = holder().qr()
    monkeypatch.setattr(platform.clock, "moved", True, raising=False)
    _status, headers, _body = assert_same(client, ordinary, VERIFY, json_body={"token": token})
    assert any(name == b"x-ykt-clock" for name, _ in headers) and in_front == [(VERIFY, 200)]


def test_answers_made_in_front_are_counted_under_their_route_once(client, holder, platform,
                                                                  admin_actor, login):
    from tests.observability.test_metrics import monitoring_key, samples

    monitoring = monitoring_key(platform, admin_actor)
    counter = login(Role.SS_OUTLET, username="ss-counted", branch_code="SS-TN-01")

    def counted(route: str, status: str) -> float:
        found = samples(client.get("/metrics", headers=monitoring).text)
        return found.get(("ykt_http_requests_total", (("method", "POST"), ("route", route),
                                                      ("status", status))), 0)

    token = holder().qr()
    before = counted(VERIFY, "200"), counted(REDEEM, "422"), counted(REDEEM, "200")
    assert client.post(VERIFY, json={"token": token}).status_code == 200
    body = {"token": token, "business": "hospital_registration"}
    assert client.post(REDEEM, headers=counter, json=body).status_code == 200
    assert client.post(REDEEM, headers=counter, json=body).status_code == 422
    assert (counted(VERIFY, "200"), counted(REDEEM, "422"), counted(REDEEM, "200")) == \
        (before[0] + 1, before[1] + 1, before[2] + 1)


def test_a_dependency_overridden_sends_the_doors_to_fastapi(platform, login, in_front):
    from fastapi.testclient import TestClient

    from yikatong.api.app import create_app
    from yikatong.api.deps import current_actor
    from yikatong.core.errors import Unauthenticated

    async def nobody():
        raise Unauthenticated()

    counter = login(Role.CITIZEN_OUTLET, username="smk-override", channel="citizen_outlet",
                    branch_code="SMK-DIRECT-01")
    app = create_app(platform)
    app.dependency_overrides[current_actor] = nobody
    with TestClient(app) as overridden:
        assert overridden.post(CONTACTS, headers=counter, json={"purpose": "read"}).status_code \
            == 401
    assert in_front == []
