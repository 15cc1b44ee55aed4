"""The lean door (medical.interface.LeanDoor) answers what the door's ordinary FastAPI route
answers: the same refusals of the credential, the role and the body, byte for byte, and the
same envelopes, with the credential read in the message's own transaction. Each comparison
sends the request through the application and through a copy of it without the lean door,
on the same database. And it serves at most MESSAGES_IN_FLIGHT messages at once, the others
waiting for a place."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.ordinary import client_without
from tests.medical.conftest import HOSPITAL, OTHER_HOSPITAL, insured
from tests.medical.interface_helpers import URL, connected
from yikatong.core.actor import Role
from yikatong.medical import interface

pytestmark = pytest.mark.db


@pytest.fixture
def ordinary(platform):
    with client_without(platform, interface.LeanDoor) as test_client:
        yield test_client


@pytest.fixture
def lean_answers(monkeypatch) -> list[str]:
    answered: list[str] = []
    handle = interface.LeanDoor.handle

    async def counted(self, scope, receive, send):
        answered.append(scope["path"])
        await handle(self, scope, receive, send)

    monkeypatch.setattr(interface.LeanDoor, "handle", counted)
    return answered


def raw(response) -> tuple[int, list, bytes]:
    return response.status_code, response.headers.raw, response.content


@pytest.mark.no_db
def test_the_lean_door_is_in_front_of_the_routes_and_serves_the_door_only(client):
    from yikatong.api.lean import LeanReads
    from yikatong.api.lean_posts import LeanPosts

    routes = client.app.router.routes
    [at] = [n for n, route in enumerate(routes) if isinstance(route, interface.LeanDoor)]
    door = routes[at]
    # in front of every route but the lean reads (GETs) and the POST doors' refusals (which
    # take only a request the front passed on with one)
    assert isinstance(routes[0], LeanReads) and door.path == URL
    assert all(isinstance(route, LeanReads | LeanPosts) for route in routes[:at])
    assert door.allowed == frozenset({Role.MEDICAL_INSTITUTION})


def test_refusals_before_the_door_are_the_same_byte_for_byte(client, ordinary, platform, admin_actor,
                                                              clock, login, lean_answers, reference):
    hospital = connected(platform, client, admin_actor, clock, HOSPITAL)
    body = hospital.envelope("9001", {"opter_no": "1"}, key="signIn")
    cases = [
        ({"X-API-Key": "not-a-key"}, body),                                      # 401 token invalid
        (login(Role.ADMIN, username="admin-door"), body),                        # 403 role
        ({**hospital.credential, "X-Ykt-Channel": "bank_branch"}, body),         # 403 channel
        ({}, body),                                                              # 401, ordinary way
        ({**hospital.credential, "X-Ykt-Channel": "carrier-pigeon"}, body),      # 422, ordinary way
    ]
    for headers, json_body in cases:
        lean_answer, ordinary_answer = (raw(c.post(URL, json=json_body, headers=headers)) for c in (client, ordinary))
        assert lean_answer == ordinary_answer and lean_answer[0] in (401, 403, 422), lean_answer
    not_json = [raw(c.post(URL, content=b"{not json", headers={**hospital.credential,
                                                                "content-type": "application/json"}))
                for c in (client, ordinary)]
    assert not_json[0] == not_json[1] and not_json[0][0] == 422
    assert len(lean_answers) == 4  # the three credential refusals and the body: the lean way


def test_envelopes_are_the_same_through_both_doors(client, ordinary, platform, admin_actor, clock,
                                                   lean_answers, reference):
    hospital = connected(platform, client, admin_actor, clock, HOSPITAL)

    def shape(response) -> tuple:
        answer = response.json()
        headers = [(k, v) for k, v in response.headers.raw if k != b"content-length"]
        return response.status_code, headers, sorted(answer), answer["infcode"], answer["err_code"]

    for infno, data, key in (("9001", {"opter_no": "1"}, "signIn"), ("9999", {}, "data")):
        through = [c.post(URL, json=hospital.envelope(infno, data, key=key), headers=hospital.headers())
                   for c in (client, ordinary)]
        assert shape(through[0]) == shape(through[1])
    assert through[0].json()["err_code"] == "medical_unknown_infno"
    # a replayed nonce is refused whichever door saw it first
    body = hospital.envelope("9001", {"opter_no": "1"}, key="signIn")
    hospital.client = client
    assert hospital.post(body, nonce="lean-then-ordinary")["infcode"] == 0
    hospital.client = ordinary
    assert hospital.post(body, nonce="lean-then-ordinary")["err_code"] == "medical_nonce_replayed"
    assert len(lean_answers) == 3  # two envelopes and the first use of the nonce


def test_a_signed_message_refused_by_its_credential_is_refused_alike_and_spends_no_nonce(
        client, ordinary, platform, admin_actor, clock, login, lean_answers, reference, monkeypatch):
    """A well-formed signed message: on PostgreSQL the lean door reads the credential with the
    institution and the nonce in one statement (`read_ahead`); a refused credential, role,
    channel or institution answers what the ordinary door answers, and the nonce's row goes
    with the refused transaction: the same nonce then signs the message that passes."""
    hospital = connected(platform, client, admin_actor, clock, HOSPITAL)
    read_ahead, ahead_read = interface.read_ahead, []

    def recorded(*args, **kwargs):
        found = read_ahead(*args, **kwargs)
        ahead_read.append(found[1] is not None)
        return found

    monkeypatch.setattr(interface, "read_ahead", recorded)
    body = hospital.envelope("9001", {"opter_no": "1"}, key="signIn")
    signed = hospital.headers(nonce="ahead-refusals-1")
    other = connected(platform, client, admin_actor, clock, OTHER_HOSPITAL)
    for credential in ({"X-API-Key": "not-a-key"}, login(Role.ADMIN, username="admin-ahead"),
                       {**hospital.credential, "X-Ykt-Channel": "bank_branch"}):
        headers = {**signed, **credential}
        lean_answer, ordinary_answer = (raw(c.post(URL, json=body, headers=headers)) for c in (client, ordinary))
        assert lean_answer == ordinary_answer and lean_answer[0] in (401, 403), lean_answer
    mismatched = client.post(URL, json=body, headers={**signed, **other.credential}).json()
    assert mismatched["err_code"] == "medical_institution_mismatch"
    assert client.post(URL, json=body, headers={**signed, **hospital.credential}).json()["infcode"] == 0
    assert client.post(URL, json=body, headers={**signed, **hospital.credential}).json()["err_code"] \
        == "medical_nonce_replayed"
    on_postgres = platform.engine.dialect.name == "postgresql"
    assert ahead_read == [on_postgres] * 6 and len(lean_answers) == 6


def test_a_visit_by_id_number_reads_its_person_with_the_credential_on_postgres(
        client, platform, admin_actor, clock, reference, monkeypatch):
    """2201, 2206 and 2207 identifying their person by ID number (cert type 02): on PostgreSQL
    the lean door reads the person and enrolment in its first statement (`read_ahead`), and
    identification takes that row instead of selecting it again; the answers are the door's
    (an unknown ID number is still InsuredNotFound)."""
    from tests.medical.conftest import insured
    from tests.medical.test_interface_visit import fee_lines
    from yikatong.db.statement import RawStatement

    hospital = connected(platform, client, admin_actor, clock, HOSPITAL)
    hospital.sign_in()
    ssn, _person_id, _card_no = insured(platform, credit=50_000)
    first, selected, widest = RawStatement.first, [], {}

    def counted(self, connection, params):
        if self._name == "InsuredBySsn":
            selected.append(params)
        widest[self._name] = max(widest.get(self._name, 0), len(params))
        return first(self, connection, params)

    monkeypatch.setattr(RawStatement, "first", counted)
    credential = {"mdtrt_cert_type": "02", "mdtrt_cert_no": ssn}
    mdtrt_id = hospital.ok("2201", {**credential, "med_type": "11"})["data"]["mdtrt_id"]
    hospital.ok("2204", fee_lines(mdtrt_id), key="feedetail")
    settle = {**credential, "mdtrt_id": mdtrt_id, "medfee_sumamt": "145.00"}
    preview = hospital.ok("2206", settle)["setlinfo"]
    settled = hospital.ok("2207", settle)["setlinfo"]
    assert settled["medfee_sumamt"] == preview["medfee_sumamt"] == "145.00" and settled["setl_stas"] == "settled"
    unknown = hospital.send("2201", {"mdtrt_cert_type": "02", "mdtrt_cert_no": "320402199001019999",
                                     "med_type": "11"})
    assert unknown["err_code"] == "medical_person_not_found"
    assert len(selected) == (0 if platform.engine.dialect.name == "postgresql" else 4)
    # psycopg converts a query once and caches it only with at most 50 parameters
    assert max(widest.values()) <= 50, widest


def test_more_messages_than_in_flight_wait_for_a_place_and_every_one_is_answered(
        client, reference, admin_actor, clock, monkeypatch):
    """Three times MESSAGES_IN_FLIGHT person look-ups at once: no more than that many are served
    at a time (the others wait in the event loop), and every one is answered."""
    hospital = connected(reference, client, admin_actor, clock, HOSPITAL)
    hospital.sign_in()
    ssn, _person_id, _card_no = insured(reference, credit=50_000)
    serving, most, guard = [0], [0], threading.Lock()
    serve = interface.serve

    def counted(*args, **kwargs):
        with guard:
            serving[0] += 1
            most[0] = max(most[0], serving[0])
        try:
            time.sleep(0.05)  # long enough for every other message to arrive meanwhile
            return serve(*args, **kwargs)
        finally:
            with guard:
                serving[0] -= 1

    monkeypatch.setattr(interface, "serve", counted)
    envelopes = [hospital.envelope("1101", {"mdtrt_cert_type": "02", "mdtrt_cert_no": ssn})
                 for _ in range(3 * interface.MESSAGES_IN_FLIGHT)]
    with ThreadPoolExecutor(len(envelopes)) as senders:
        answers = list(senders.map(hospital.post, envelopes))
    assert [(answer["infcode"], answer["output"]["baseinfo"]["certno"]) for answer in answers] == \
        [(0, ssn)] * len(envelopes)
    assert most[0] == interface.MESSAGES_IN_FLIGHT
