"""A cardholder signs up online after real-name authentication and sees only their own data."""

import random
from datetime import date

import pytest

from yikatong.people.samples import make_applicant
from yikatong.people.service import register_applicant

pytestmark = pytest.mark.db


def sign_up(client, **changes):
    body = dict(name="王小明", id_number="320402199003070013", evidence="face-ok",
                username="wangxm", password="long-enough-pw")
    return client.post("/api/v1/auth/holders", json={**body, **changes})


def token(client, username="wangxm", password="long-enough-pw"):
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_sign_up_before_any_application_links_later(client, platform, admin_actor):
    response = sign_up(client)
    assert response.status_code == 201 and response.json() == {"username": "wangxm",
                                                               "linked_to_person": False}
    headers = token(client)
    assert client.get("/api/v1/auth/me", headers=headers).json()["person_id"] is None

    applicant = make_applicant(random.Random(1))
    applicant.update(name="王小明", document_number="320402199003070013", gender="M",
                     birth_date=date(1990, 3, 7))
    with platform.uow() as uow:
        outcome = register_applicant(uow=uow, actor=admin_actor, as_of=date(2026, 3, 2), **applicant)
        uow.commit()
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me["person_id"] == outcome.person_id


def test_failed_real_name_check_creates_nothing(client):
    response = sign_up(client, evidence="mismatch")
    assert response.status_code == 422 and response.json()["code"] == "real_name_failed"
    bad_login = client.post("/api/v1/auth/token", data={"username": "wangxm", "password": "long-enough-pw"})
    assert bad_login.status_code == 401


def test_one_account_per_id_number(client):
    assert sign_up(client).status_code == 201
    second = sign_up(client, username="someone-else")
    assert second.status_code == 409 and second.json()["code"] == "holder_already_registered"
