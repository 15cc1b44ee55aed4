"""Online first issue is for people who never held a Jiangsu card (四.5): a card the platform
ended (transferred out, exchanged) or an old provincial card declared at an outlet closes it,
and the refusal comes only after the real-name proof, like the flag's (issue 10)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.banking.helpers import OUTLET, act, produce
from tests.cards.conftest import CITIZEN_OUTLET
from yikatong.applications.models import Application
from yikatong.applications.reference import synthetic_photo
from yikatong.cards import service as cards
from yikatong.core.actor import Role
from yikatong.people.service import (
    find_person_by_ssn,
    jiangsu_card_records,
    register_applicant,
)

pytestmark = pytest.mark.db
API = "/api/v1/applications"
SSN, NAME = "320411200106150034", "陈浩"


def on_file(platform, admin_actor) -> int:
    with platform.uow() as uow:
        register_applicant(
            uow=uow,
            actor=admin_actor,
            name=NAME,
            document_type="resident_id_card",
            document_number=SSN,
            gender="M",
            birth_date=date(2001, 6, 15),
            nationality="CHN",
            document_valid_until=date(2036, 1, 1),
            photo_jpeg=synthetic_photo("c"),
            as_of=date(2026, 3, 2),
        )
        uow.commit()
    with platform.uow() as uow:
        return find_person_by_ssn(uow=uow, ssn=SSN).id


def apply_online(client, login):
    return client.post(
        f"{API}/online",
        headers=login(Role.HOLDER),
        json={
            "name": NAME,
            "id_number": SSN,
            "auth_evidence": "ok",
            "bank_code": "CCB",
            "mailing_address": "常州市新北区",
        },
    )


def applications(platform) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(Application)).scalar_one()


def transferred_out(platform, person_id: int) -> None:
    card = produce(platform, person_id=person_id)
    act(
        platform,
        cards.transfer_out,
        actor=OUTLET,
        card_no=card.card_no,
        destination_province="31",
        rule_note="上海：凭转出证明换领",
    )


def exchanged_then_transferred(platform, person_id: int) -> None:
    old = produce(platform, person_id=person_id)
    act(
        platform,
        cards.record_wallet_refund,
        refunded_fen=0,
        card_no=old.card_no,
        actor=CITIZEN_OUTLET,
    )
    new = produce(platform, person_id=person_id, kind="exchange", predecessor=old.card_no)
    act(
        platform,
        cards.transfer_out,
        actor=OUTLET,
        card_no=new.card_no,
        destination_province="31",
        rule_note="上海：凭转出证明换领",
    )


def declared(client, login, person_id: int) -> None:
    outlet = login(Role.SS_OUTLET, username="counter-decl", branch_code="SS-TN-01")
    response = client.post(
        f"/api/v1/people/{person_id}/provincial-card-declarations",
        headers=outlet,
        json={"old_card_no": "a1234 5678"},
    )
    assert response.status_code == 201, response.text
    assert (response.json()["card_no"], response.json()["source"]) == ("A12345678", "declared")
    again = client.post(
        f"/api/v1/people/{person_id}/provincial-card-declarations",
        headers=outlet,
        json={"old_card_no": "A12345678"},
    )
    assert again.json()["id"] == response.json()["id"]  # a retry records nothing new


@pytest.mark.parametrize("history", ["transferred_out", "exchanged", "declared"])
def test_online_first_issue_refused_once_a_jiangsu_card_was_held(
    client, login, platform, admin_actor, history
):
    person_id = on_file(platform, admin_actor)
    with platform.uow() as uow:
        assert jiangsu_card_records(uow=uow, person_id=person_id) == []
    if history == "transferred_out":
        transferred_out(platform, person_id)
    elif history == "exchanged":
        exchanged_then_transferred(platform, person_id)
    else:
        declared(client, login, person_id)
    before = applications(platform)
    response = apply_online(client, login)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "provincial_card_holder_outlet_only"
    assert applications(platform) == before


def test_issued_and_ended_cards_are_recorded(platform, admin_actor):
    person_id = on_file(platform, admin_actor)
    transferred_out(platform, person_id)
    with platform.uow() as uow:
        assert [r.source for r in jiangsu_card_records(uow=uow, person_id=person_id)] == [
            "issued",
            "ended",
        ]
        # the person's record says so too, not only the old flag an operator sets
        from yikatong.people.service import get_person

        assert get_person(uow=uow, person_id=person_id).had_provincial_card


def test_a_declaration_needs_an_outlet_role(client, login, platform, admin_actor):
    person_id = on_file(platform, admin_actor)
    response = client.post(
        f"/api/v1/people/{person_id}/provincial-card-declarations",
        headers=login(Role.HOLDER),
        json={"old_card_no": "A12345678"},
    )
    assert response.status_code in (403, 404)
    bad = client.post(
        f"/api/v1/people/{person_id}/provincial-card-declarations",
        headers=login(Role.SS_OUTLET),
        json={"old_card_no": "!!"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_person_data"
    with platform.uow() as uow:
        assert jiangsu_card_records(uow=uow, person_id=person_id) == []
