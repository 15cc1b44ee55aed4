"""Helpers for the binding tests: people on file with a phone, cards handed over, and the
development SMS outbox the codes arrive in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.applications.conftest import OUTLET, new_applicant, pickup, walk_to_hand_over
from yikatong.applications import service as applications
from yikatong.audit.models import AuditRecord
from yikatong.auth.models import BindingCode, User
from yikatong.notices.models import SmsMessage
from yikatong.notices.protocols import SmsGateway

PASSWORD = "Changzhou-Card-2026!"
PHONE = "13912345678"
AUTH = "/api/v1/auth"


@pytest.fixture(autouse=True)
def chip_directory(tmp_path, monkeypatch):
    """Chip images of the cards these tests produce go to a temporary folder."""
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))


def delivered(platform, phone: str | None = None):
    """What the development outbox delivered, newest first."""
    return platform.get(SmsGateway).delivered(phone=phone)


def last_code(platform, phone: str = PHONE) -> str:
    """The six-digit code of the newest message to `phone`."""
    return re.search(r"验证码 (\d{6})", delivered(platform, phone)[0].text).group(1)


def counts(platform) -> tuple[int, ...]:
    """Users, binding codes, recorded messages, audit records."""
    with platform.uow() as uow:
        return tuple(uow.session.execute(select(func.count()).select_from(m)).scalar_one()
                     for m in (User, BindingCode, SmsMessage, AuditRecord))


def on_file(platform, *, phone: str | None = PHONE, **overrides) -> applications.ApplicantData:
    """A person registered at an outlet (an application submitted), phone on file."""
    applicant = new_applicant(phone=phone, **overrides)
    with platform.uow() as uow:
        view = applications.submit_at_outlet(uow=uow, actor=OUTLET, applicant=applicant,
                                             choice=pickup())
    return applicant, view


@pytest.fixture
def person(platform):
    """person(phone=...) -> (applicant, application) for someone on file without a card."""
    return lambda **kw: on_file(platform, **kw)


@pytest.fixture
def card_holder(platform):
    """card_holder(phone=...) -> (applicant, handed-over application view with its
    activation code): a card in hand from the outlet."""

    def make(**kw):
        applicant, app = on_file(platform, **kw)
        return applicant, walk_to_hand_over(platform, app.id)

    return make


def sign_up(client, applicant, *, proof: str, username: str = "wang-holder", **fields):
    body = {"name": applicant.name, "id_number": applicant.document_number, "proof": proof,
            "username": username, "password": PASSWORD, **fields}
    return client.post(f"{AUTH}/holders", json=body)


def request_code(client, applicant=None, *, name=None, id_number=None):
    return client.post(f"{AUTH}/holders/codes", json={
        "name": name or applicant.name, "id_number": id_number or applicant.document_number})


def token(client, username: str = "wang-holder") -> dict[str, str]:
    response = client.post(f"{AUTH}/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


CARD_PIN = "123456"  # the PIN personalisation writes (chip.image.CardPersonalisation)


@pytest.fixture
def chip_holder(platform):
    """chip_holder(phone=...) -> (applicant, handed-over application): a card whose chip was
    personalised into the platform's ChipStore, so its PIN can be checked."""
    from tests.applications.conftest import ADMIN
    from yikatong.applications import production
    from yikatong.applications.protocols import CardFactory

    def make(**kw):
        applicant, app = on_file(platform, **kw)
        with platform.uow() as uow:
            applications.approve(uow=uow, actor=OUTLET, application_id=app.id)
        production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory),
                                  personalise=production.chip_personaliser(platform))
        with platform.uow() as uow:
            applications.mark_ready_for_pickup(uow=uow, actor=OUTLET, application_id=app.id)
        with platform.uow() as uow:
            return applicant, applications.hand_over(uow=uow, actor=OUTLET, application_id=app.id)

    return make
