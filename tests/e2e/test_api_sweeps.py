"""Sweeps over the whole API as the running server publishes it (/openapi.json): who may read
what, and what bad input gets. Every route is taken from the spec, so a route added tomorrow is
swept too; a path parameter the sweeps have no value for fails loudly (add it to `values`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest

from tests.e2e.conftest import count_rows
from tests.e2e.world import Citizen, applicant_json, is_problem

pytestmark = [pytest.mark.usefixtures("watch_server"), pytest.mark.own_database]  # a server on a database of the e2e suite's own (YKT_E2E_DB)
PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    operation: dict

    @property
    def protected(self) -> bool:
        return bool(self.operation.get("security"))

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, values: dict[str, str]) -> str:
        missing = [name for name in self.params if name not in values]
        assert not missing, f"{self.method} {self.path}: the sweep has no value for {missing}"
        return PARAM.sub(lambda m: str(values[m.group(1)]), self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@pytest.fixture(scope="module")
def spec(world) -> dict:
    return world.get("/openapi.json")


@pytest.fixture(scope="module")
def routes(spec) -> list[Route]:
    return [Route(method.upper(), path, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items()]


@dataclass
class Someone:
    """A holder with a card, an e-card, a top-up order and a card contact of their own."""

    citizen: Citizen
    paths: dict

    def values(self) -> dict:
        return self.paths


def _someone(world) -> Someone:
    citizen = world.citizen_with_card()
    world.use_ecard(citizen)
    phone = {**citizen.holder, "X-Ykt-Channel": "online_app"}  # NFC top-up in the app
    order = world.top_up(phone, world.card(citizen.card_no), 2000, key=f"app-{citizen.card_no}",
                         payer={"kind": "e_wallet", "reference": "wx-order-1"})
    return Someone(citizen, world.path_values(citizen, order_no=order["order_no"], contact_id=order["contact_id"]))


@pytest.fixture(scope="module")
def victim(world) -> Someone:
    return _someone(world)


@pytest.fixture(scope="module")
def intruder(world) -> Someone:
    return _someone(world)


# --- role boundaries -----------------------------------------------------------------------------


def test_anonymous_callers_get_401_problem_on_every_protected_route(world, routes, victim):
    protected = [route for route in routes if route.protected]
    assert len(protected) > 50, "the spec should mark protected routes with their security scheme"
    wrong = []
    for route in protected:
        response = world.raw(route.method, route.url(victim.values()))
        if response.status_code != 401 or not is_problem(response):
            wrong.append(f"{route} → {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_public_routes_answer_anonymous_callers_without_a_500(world, routes, victim):
    public = [route for route in routes if not route.protected and route.method == "GET"]
    answers = {str(route): world.raw("GET", route.url(victim.values())).status_code for route in public}
    assert answers and all(status < 500 for status in answers.values()), answers


def test_a_holder_never_reads_another_holders_resources(world, routes, victim, intruder):
    readable = [route for route in routes if route.method == "GET" and route.params and route.protected]
    own, others, leaks = {}, {}, []
    for route in readable:
        own[str(route)] = world.call("GET", route.url(intruder.values()), as_=intruder.citizen.holder,
                                     expect=(200, 403, 404)).status_code
        response = world.raw("GET", route.url(victim.values()), headers=intruder.citizen.holder)
        others[str(route)] = response.status_code
        if response.status_code not in (403, 404) or not is_problem(response):
            leaks.append(f"{route} → {response.status_code} {response.text[:300]}")
    assert not leaks, "\n".join(leaks)
    # the refusals are about who asks, not bad values: the same routes answer the owner
    for mine in ("/cards/{card_no}", "/cards/{card_no}/blocks", "/applications/{application_id}",
                 "/people/{person_id}", "/transit/top-ups/{order_no}", "/transit/contacts/{contact_id}"):
        assert own[f"GET /api/v1{mine}"] == 200, (mine, own)
    for theirs in ("/cards/{card_no}", "/applications/{application_id}", "/people/{person_id}"):
        assert world.call("GET", f"/api/v1{theirs}".format(**victim.values()), as_=world.staff("admin"))


def test_a_holder_cannot_act_on_another_holders_card_or_application(world, victim, intruder):
    me, card = intruder.citizen.holder, victim.citizen.card_no
    before = world.card_view(card)
    for path, body in ((f"cards/{card}/loss", {"kind": "temporary"}), (f"cards/{card}/loss", {"kind": "formal"}),
                       (f"cards/{card}/unblock", {}),
                       (f"applications/{victim.citizen.application_id}/cancel", {"reason": "not mine"}),
                       (f"applications/{victim.citizen.application_id}/hand-over", None),
                       ("transit/contacts", {"purpose": "refund", "card_no": card})):
        refused = world.call("POST", path, as_=me, json=body, expect=(403, 404))
        assert is_problem(refused), refused.text
    # asking for another person's cards answers none of them (a holder sees their own, or a
    # child's they are the guardian of: people.guardians.may_act_for); their own are still theirs
    assert world.get("cards", as_=me, params={"person_id": victim.citizen.person_id}) == []
    assert [c["card_no"] for c in world.get("cards", as_=me)] == [intruder.citizen.card_no]
    after = world.card_view(card)
    assert (after["version"], after["hr_status"], after["blocks_in_force"]) == (
        before["version"], "normal", [])


def test_a_bank_acts_only_on_its_own_cards(world):
    """ICBC's teller and another bank's (CCB) card: read 404, act 403/404, nothing changes."""
    icbc = world.staff("icbc")
    ccb_holder = world.citizen_with_card(bank="CCB", signed_up=False)
    card_no, pan = ccb_holder.card_no, world.card(ccb_holder.card_no).pan
    before = world.card_view(card_no)
    assert world.call("GET", f"cards/{card_no}", as_=icbc, expect=404)
    assert world.call("GET", f"cards/{card_no}/blocks", as_=icbc, expect=404)
    assert card_no not in [c["card_no"] for c in world.get("cards", as_=icbc, params={"bank_code": "CCB"})]
    attempts = [
        ("POST", f"cards/{card_no}/loss", {"kind": "formal"}),
        ("POST", f"cards/{card_no}/unblock", {}),
        ("POST", f"cards/{card_no}/financial-activation", {}),
        ("POST", "cards/bank-events", {"event_id": "icbc-forged-1", "bank_code": "CCB", "card_no": card_no,
                                       "pan": pan, "type": "formal_loss",
                                       "occurred_at": "2026-01-01T00:00:00Z"}),
        ("GET", f"banks/CCB/accounts/{pan}", None),
        ("POST", f"banks/CCB/accounts/{pan}/losses", {"kind": "formal_loss"}),
        ("GET", f"banks/ICBC/accounts/{pan}", None),
        ("POST", f"banks/ICBC/accounts/{pan}/activation", {"id_document_checked": True, "card_checked": True}),
        ("POST", f"banks/ICBC/accounts/{pan}/losses", {"kind": "formal_loss"}),
        ("POST", f"banks/ICBC/accounts/{pan}/deposits", {"request_id": "icbc-dep-1", "amount_fen": 100}),
        ("GET", "banks/CCB/closure-tasks", None),
    ]
    for method, path, body in attempts:
        refused = world.call(method, path, as_=icbc, json=body, expect=(403, 404))
        assert is_problem(refused), (method, path, refused.text)
    after = world.card_view(card_no)
    assert (after["version"], after["hr_status"], after["financial_status"]) == (
        before["version"], before["hr_status"], before["financial_status"])


def test_a_holder_applies_online_only_in_their_own_name(world, server, intruder):
    """Fixed in applications: a signed-up holder could apply online with anybody's name and ID
    number (any evidence ticket passes the synthetic real-name check), read the answer with that
    person's full ID number, and cancel it. 赵敏 and 陈浩 are on file in the synthetic registry."""
    online = {"auth_evidence": "face-check-ticket", "kind": "first", "bank_code": "ICBC", "delivery": "ems_cod",
              "mailing_address": "江苏省常州市武进区示例路 4 号", "phone": "13900000004"}
    before = count_rows(server, "persons", "applications")
    someone_else = world.call("POST", "applications/online", as_={**intruder.citizen.holder, "X-Ykt-Channel": "online_app"},
                              json={**online, "name": "陈浩", "id_number": "320411200106150034"}, expect=403)
    assert someone_else.json()["code"] == "online_application_not_own_identity"
    assert "320411200106150034" not in someone_else.text
    assert count_rows(server, "persons", "applications") == before

    zhao = Citizen("赵敏", "320412197801010043", date(1978, 1, 1), "F", 0, 0)
    holder = world.sign_up(zhao, channel="online_app")  # signed up before she ever applied
    assert world.get("auth/me", as_=holder)["person_id"] is None
    own = world.post("applications/online", as_=holder, expect=201, json={**online, "name": zhao.name, "id_number": zhao.ssn})
    assert own["channel"] == "online" and world.get("auth/me", as_=holder)["person_id"] == own["person_id"]


def test_signing_up_with_somebody_elses_id_number_under_another_name_opens_nothing(world):
    """Fixed in auth: the sign-up linked a login to whichever person record had the ID number,
    whatever name was given, so knowing a number was enough to see (and report lost) the card."""
    victim = world.citizen_with_card(signed_up=False)
    impostor = {"proof": "real_name", "name": "冒名者", "id_number": victim.ssn,
                "evidence": "face-check-ticket", "username": f"impostor-{victim.ssn[-6:]}",
                "password": "Changzhou-Card-2026!"}
    refused = world.call("POST", "auth/holders", json=impostor, expect=422)
    assert refused.json()["code"] == "real_name_failed" and victim.name not in refused.text
    # The right name and number are not enough either: a code is proof only from the phone or
    # the card, and the refusal is the one an unknown number gets.
    guessed = {**impostor, "proof": "sms_code", "name": victim.name, "code": "000000"}
    guessed.pop("evidence")
    refused = world.call("POST", "auth/holders", json=guessed, expect=422)
    unknown = world.call("POST", "auth/holders", json={**guessed, "id_number": "320402199001010011"},
                         expect=422)
    assert refused.json() == unknown.json() and refused.json()["code"] == "binding_proof_failed"

    # signed up first under a made-up name: when the number's owner later applies, nothing links
    name, ssn, birth, gender = world.new_person()
    early = {**impostor, "id_number": ssn, "username": f"early-{ssn[-6:]}"}
    assert world.post("auth/holders", json=early, expect=201)["linked_to_person"] is False
    login = world.login(early["username"], early["password"])
    application = world.post("applications", as_=world.staff("outlet"), expect=201, json={
        "applicant": applicant_json(name, ssn, birth, gender), "bank_code": "ICBC", "pickup_outlet_code": "SS-TN-01"})
    assert world.get("auth/me", as_=login)["person_id"] is None
    world.call("GET", f"applications/{application['id']}", as_=login, expect=404)
