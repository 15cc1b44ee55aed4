"""The pension confirmation through its doors: the JSON API for the holder, the counter and
the paying office, and the pages (/me/pension, /counter/pension, /office/pension) as a browser
would use them. What they show is compared with what the services say."""

from __future__ import annotations

from datetime import date

import pytest

from tests.benefits.pension_helpers import COUNTER, Paid, PaymentsStandIn, at, pensioner
from tests.ecard.conftest import chip_directory, quick_argon2  # noqa: F401 - autouse fixtures
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.benefits import certification, certification_jobs, recovery
from yikatong.cards import service as cards
from yikatong.core.actor import Role
from yikatong.pages.formatting import money

pytestmark = pytest.mark.db

API = "/api/v1/benefits/pension"


def test_the_holder_confirms_through_the_api_and_sees_it(platform, client, login):
    person = pensioner(platform, since=date(2025, 3, 20))
    headers = login(Role.HOLDER, person_id=person.person_id)
    answer = client.post(f"{API}/me/certifications", headers=headers,
                         json={"channel": "ecard", "request_id": "r-1"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["valid_until"] == "2027-03-02"
    again = client.post(f"{API}/me/certifications", headers=headers,
                        json={"channel": "ecard", "request_id": "r-1"})
    assert again.json()["id"] == answer.json()["id"]  # a retry, not a second confirmation
    mine = client.get(f"{API}/me", headers=headers).json()
    assert mine["eligibility"]["status"] == "active" and len(mine["certifications"]) == 1


def test_a_formally_lost_card_is_refused_with_a_problem(platform, client, login):
    person = pensioner(platform, since=date(2025, 3, 20))
    person.card_op(cards.report_loss, kind="formal_loss")
    headers = login(Role.HOLDER, person_id=person.person_id)
    answer = client.post(f"{API}/me/certifications", headers=headers,
                         json={"channel": "card", "card_no": person.card_no, "request_id": "r-2"})
    assert answer.status_code == 409
    assert answer.json()["code"] == "card_not_usable_for_certification"


def test_the_counter_and_the_office_through_the_api(platform, client, login):
    person = pensioner(platform, since=date(2025, 1, 10))  # lapsed in January
    office = login(Role.PAYING_OFFICE, branch_code="CZ-SI")
    suspended = client.get(f"{API}/pensioners", params={"status": "suspended"}, headers=office)
    assert [p["person_id"] for p in suspended.json()] == [person.person_id]
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    done = client.post(f"{API}/people/{person.person_id}/certifications", headers=outlet,
                       json={"channel": "outlet", "documents": "居民身份证", "request_id": "c-1"})
    assert done.status_code == 201, done.text
    assert done.json()["back_pay_periods"] == ["2026-02", "2026-03"]
    detail = client.get(f"{API}/pensioners/{person.person_id}", headers=office).json()
    assert detail["suspensions"][0]["back_pay_status"] == "due"
    holder = login(Role.HOLDER, person_id=person.person_id)
    assert client.get(f"{API}/pensioners", headers=holder).status_code == 403  # the table


def test_the_pages_for_the_holder_the_counter_and_the_office(platform, clock, signed_in, monkeypatch):  # noqa: F811
    person = pensioner(platform, since=date(2025, 3, 20))
    me = signed_in(Role.HOLDER, person_id=person.person_id)
    page = me.get("/me/pension")
    assert page.status_code == 200 and "养老金待遇资格认证" in page.text and "2026年03月20日" in page.text
    token = form_token(me, "/me/pension")
    done = me.post("/me/pension/certify", follow_redirects=False,
                   data={"csrf_token": token, "channel": "ecard", "idempotency_key": "k1"})
    assert done.status_code == 303
    with platform.uow() as uow:
        assert certification.eligibility_of(uow=uow, person_id=person.person_id).valid_until == date(2027, 3, 2)

    lapsed = pensioner(platform, since=date(2025, 1, 10))
    desk = signed_in(Role.SS_OUTLET, branch_code="SS-TN-01")
    with platform.uow() as uow:
        from yikatong.people.service import get_person

        ssn = get_person(uow=uow, person_id=lapsed.person_id).ssn
    found = desk.get("/counter/pension", params={"ssn": ssn})
    assert found.status_code == 200 and "暂停发放" in found.text
    token = form_token(desk, "/counter/pension")
    recorded = desk.post(f"/counter/pension/{lapsed.person_id}/certify", follow_redirects=False,
                         data={"csrf_token": token, "channel": "outlet", "documents": "",
                               "idempotency_key": "k2"})
    assert recorded.status_code == 422 and "身份证件" in recorded.text  # documents required
    recorded = desk.post(f"/counter/pension/{lapsed.person_id}/certify", follow_redirects=False,
                         data={"csrf_token": token, "channel": "outlet", "documents": "居民身份证",
                               "idempotency_key": "k3"})
    assert recorded.status_code == 303

    stand_in = PaymentsStandIn({person.person_id: [Paid("pension", "2026-07", 300_000, "posted")]})
    monkeypatch.setattr(recovery, "benefits_service", lambda: stand_in)
    clock.set(at(date(2026, 7, 20)))
    with platform.uow() as uow:
        cards.retire_deceased(uow=uow, actor=COUNTER, card_no=person.card_no, note="死亡",
                              died_on=date(2026, 6, 2))
        uow.commit()
    certification_jobs.deaths_from_outbox(platform)
    office = signed_in(Role.PAYING_OFFICE, branch_code="CZ-SI")
    page = office.get("/office/pension", params={"status": "deceased"})
    assert page.status_code == 200
    assert "已身故" in page.text and "2026-07" in page.text and money(300_000) in page.text
    assert "待追回" in page.text
