"""The development clock through HTTP: who may read and move it, forward only, retries moving
it once, the header while moved, and a 7-day rule seen black-box after moving it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.cards.conftest import card_in_use
from tests.cards.test_api import Logins, register_person
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Role

CLOCK = "/api/v1/dev/clock"
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def when(response) -> datetime:
    return datetime.fromisoformat(response.json()["now"])


def test_any_signed_in_user_reads_it_and_no_header_before_it_moves(client, login):
    answer = client.get(CLOCK, headers=login(Role.HOLDER, person_id=1))
    assert answer.status_code == 200 and when(answer) == T0 and not answer.json()["moved"]
    assert answer.json()["now_local"] == "2026-03-02 09:30:00"
    assert "x-ykt-clock" not in answer.headers
    assert client.get(CLOCK).status_code == 401


def test_only_the_card_centre_moves_it(client, login, platform):
    refused = client.post(CLOCK, headers=login(Role.SS_OUTLET), json={"advance_days": 7})
    assert refused.status_code == 403 and platform.clock.now() == T0


def test_moved_forward_every_response_names_its_time(client, platform):
    admin = admin_key(platform)
    moved = client.post(CLOCK, headers=admin, json={"advance_days": 7, "advance_hours": 1})
    assert moved.status_code == 200, moved.text
    assert when(moved) == T0 + timedelta(days=7, hours=1) == platform.clock.now()
    health = client.get("/healthz")
    assert datetime.fromisoformat(health.headers["x-ykt-clock"]) == T0 + timedelta(days=7, hours=1)
    to = client.post(CLOCK, headers=admin, json={"set_to": "2036-03-10T09:00:00+08:00"})
    assert when(to) == datetime(2036, 3, 10, 1, 0, tzinfo=UTC) and to.json()["moved"]


def test_never_backwards_and_unclear_moves_change_nothing(client, login, platform):
    admin = admin_key(platform)
    audit_rows = _clock_audits(platform)
    back = client.post(CLOCK, headers=admin, json={"set_to": "2026-03-01T00:00:00+08:00"})
    assert back.status_code == 409 and back.json()["code"] == "dev_clock_backwards"
    assert "2026-03-02 09:30:00" in back.json()["title"]
    for unclear in ({}, {"set_to": "2027-01-01T00:00:00Z", "advance_days": 1}):
        answer = client.post(CLOCK, headers=admin, json=unclear)
        assert answer.status_code == 422 and answer.json()["code"] == "dev_clock_move_unclear"
    naive = client.post(CLOCK, headers=admin, json={"set_to": "2027-01-01T00:00:00"})
    assert naive.status_code == 422
    negative = client.post(CLOCK, headers=admin, json={"advance_days": -1})
    assert negative.status_code == 422
    assert platform.clock.now() == T0 and _clock_audits(platform) == audit_rows


def test_a_retried_move_moves_it_once_and_is_audited(client, login, platform):
    admin = {**admin_key(platform), "Idempotency-Key": "clock-move-1"}
    first = client.post(CLOCK, headers=admin, json={"advance_days": 3})
    again = client.post(CLOCK, headers=admin, json={"advance_days": 3})
    assert first.json() == again.json() and platform.clock.now() == T0 + timedelta(days=3)
    assert _clock_audits(platform) == 1


@pytest.mark.no_db
def test_production_mounts_no_clock_router():
    from yikatong.api.app import _domain_routers
    from yikatong.devclock.api import router

    assert router in list(_domain_routers("api"))
    assert router not in list(_domain_routers("api", production=True))


def test_a_seven_day_temporary_loss_ends_by_itself_once_the_clock_moves(
    client, login, platform, clock
):
    """Black-box: report a 7-day HR temporary loss through the API, move the clock 7 days
    through the API, and read the card unblocked."""
    person_id, ssn = register_person(platform, clock)
    card_no = card_in_use(platform, person_id=person_id)
    world = Logins(platform, person_id=person_id, ssn=ssn)
    lost = client.post(
        f"/api/v1/cards/{card_no}/loss", headers=world["phone"], json={"kind": "temporary"}
    )
    assert lost.status_code == 200 and lost.json()["card"]["hr_status"] == "temporary_loss"
    admin = admin_key(platform)
    client.post(CLOCK, headers=admin, json={"advance_days": 6, "advance_hours": 23})
    card = client.get(f"/api/v1/cards/{card_no}", headers=world["holder"])
    assert card.json()["hr_status"] == "temporary_loss"
    client.post(CLOCK, headers=admin, json={"advance_hours": 1, "advance_minutes": 1})
    card = client.get(f"/api/v1/cards/{card_no}", headers=world["holder"])
    assert card.json()["hr_status"] == "normal", card.json()
    assert "x-ykt-clock" in card.headers


def admin_key(platform) -> dict:
    """The card centre's API key: a bearer token would expire as the clock moves days ahead."""
    return Logins(platform, person_id=1)["admin_system"]


def _clock_audits(platform) -> int:
    with platform.uow() as uow:
        return uow.session.execute(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.entity_type == "dev_clock")
        ).scalar_one()


pytestmark = pytest.mark.db
