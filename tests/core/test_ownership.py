"""Ownership is recorded by login id (users.id), never by a login name; login names, staff or
holder, follow one pattern, and system actors live in a namespace no sign-up can take."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from yikatong.auth.errors import InvalidUsername
from yikatong.auth.rules import is_valid_username
from yikatong.core.actor import Actor, Channel, Role

pytestmark = pytest.mark.db


@pytest.mark.no_db
@pytest.mark.parametrize("name", ["cli:alice", "bank:ICBC", "bank:ICBC:001", "setup", "system",
                                  "SYSTEM", "platform", "ecard.sync", "名字", "a b", "ab"])
def test_system_actor_names_and_other_shapes_are_no_login_names(name):
    assert not is_valid_username(name)


@pytest.mark.no_db
@pytest.mark.parametrize("name", ["alice", "zhang.wei", "icbc-teller_01", "hr@acme"])
def test_staff_and_holder_names_share_one_pattern(name):
    assert is_valid_username(name)


def test_no_door_creates_a_login_in_the_system_namespace(client, login, platform, admin_actor):
    from yikatong.auth.service import create_user

    admin = login(Role.ADMIN)
    for name in ("cli:root", "setup"):
        signup = client.post("/api/v1/auth/holders", json={
            "name": "张三", "id_number": "320402199003070038", "evidence": "face-check-ticket",
            "username": name, "password": "holder-pass-2026"})
        assert signup.status_code == 422, signup.text
        staff = client.post("/api/v1/auth/users", headers=admin, json={
            "username": name, "password": "staff-pass-2026", "role": "ss_outlet_operator"})
        assert staff.status_code == 422 and staff.json()["code"] in ("invalid_input", "invalid_username")
    with platform.uow() as uow, pytest.raises(InvalidUsername):
        create_user(uow=uow, actor=admin_actor, username="bank:CCB", password=None, role=Role.BANK)


def test_a_login_owns_what_it_submitted_by_its_id_not_by_its_name(platform):
    """Two employer logins that would share a name (say one deactivated and its name given
    again, or a CLI actor's name) are two owners: the name decides nothing."""
    from tests.applications.conftest import new_applicant, pickup

    from yikatong.applications import service
    from yikatong.applications.errors import ApplicationNotFound, EmployerBatchNotFound

    # The namesake works for another employer: an employer agent's applications are its
    # employer's (tests/employers), the batch is the login's.
    owner = Actor(user_id="acme-hr", role=Role.EMPLOYER_AGENT, channel=Channel.EMPLOYER, account_id=41,
                  employer_uscc="91320400MA1M9XK3PH")
    namesake = Actor(user_id="acme-hr", role=Role.EMPLOYER_AGENT, channel=Channel.EMPLOYER, account_id=42,
                     employer_uscc="91320400MA1M9XK4PJ")
    agent = service.AgentData(name="单位经办人", document_type="resident_id_card",
                              document_number="320411200106150034")
    batch = service.submit_employer_batch(
        uows=platform.uow, actor=owner, employer_name="常州示例科技有限公司", agent=agent,
        employees=[service.EmployeeRow(new_applicant(), pickup())], authorisation_letter_ref="WT-1")
    application_id = batch.rows[0].application_id
    with platform.uow() as uow:
        assert service.get_employer_batch(uow=uow, actor=owner, batch_id=batch.id).id == batch.id
        assert service.get_application(uow=uow, actor=owner, application_id=application_id)
        with pytest.raises(EmployerBatchNotFound):
            service.get_employer_batch(uow=uow, actor=namesake, batch_id=batch.id)
        with pytest.raises(ApplicationNotFound):
            service.get_application(uow=uow, actor=namesake, application_id=application_id)
        stored = uow.session.execute(text(
            "SELECT submitted_by, submitted_by_user_id FROM applications WHERE id = :id"),
            {"id": application_id}).one()
    assert tuple(stored) == ("acme-hr", 41)


@pytest.mark.no_db
def test_a_system_actor_owns_nothing():
    assert not Actor.system("setup").owns(None)
    assert Actor(user_id="x", role=Role.HOLDER, channel=Channel.ONLINE_APP, account_id=7).owns(7)


def test_the_api_actor_carries_the_logins_id(client, login, platform):
    headers = login(Role.PHONE_AGENT, username="agent-7")
    from yikatong.api.deps import authenticate

    with platform.uow() as uow:
        user_id = uow.session.execute(text("SELECT id FROM users WHERE username = 'agent-7'")).scalar_one()
    actor = authenticate(platform, headers["Authorization"].split()[1], None)
    assert (actor.user_id, actor.account_id) == ("agent-7", user_id)


def test_the_migration_fills_the_owner_ids_from_the_names_recorded(tmp_path):
    """Rows written before revision 0005 get the id of the login whose name they carry (a
    name that is no login's, e.g. a CLI actor's, owns nothing)."""
    from tests.conftest import ON_POSTGRES

    from yikatong.db.engine import make_engine
    from yikatong.db.migrate import upgrade

    if ON_POSTGRES:
        pytest.skip("the SQL is the same on both; the schema check runs on both in test_migrations")
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    now = datetime(2026, 1, 1)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (id, username, display_name, role, active, created_at) "
            "VALUES (5, 'acme-hr', 'acme-hr', 'employer_agent', 1, :now)"), {"now": now})
        for batch_id, name in ((1, "acme-hr"), (2, "cli:root")):
            connection.execute(text(
                "INSERT INTO employer_batches (id, employer_name, agent, submitted_by, submitted_at, "
                "accepted, rejected, rows) VALUES (:id, 'ACME', '{}', :name, :now, 0, 0, '[]')"),
                {"id": batch_id, "name": name, "now": now})
    upgrade(engine)
    with engine.connect() as connection:
        owners = connection.execute(text(
            "SELECT id, submitted_by_user_id FROM employer_batches ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in owners] == [(1, 5), (2, None)]
