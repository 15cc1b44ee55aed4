"""Helpers for the application tests: synthetic applicants and a walk through production."""

from __future__ import annotations

import base64
import itertools
from datetime import date

import pytest

from yikatong.applications import production, service
from yikatong.applications.protocols import CardFactory
from yikatong.applications.reference import synthetic_photo
from yikatong.core.actor import Actor, Channel, Role
from yikatong.people.samples import make_citizen_ssn

_seq = itertools.count(1)


def new_applicant(*, birth: date = date(1990, 3, 7), gender: str = "M", name: str | None = None,
                  region: str = "320402", **overrides) -> service.ApplicantData:
    """A synthetic adult with a valid ID number and a photo meeting 四.4; unique per call."""
    n = next(_seq)
    number = make_citizen_ssn(region, birth, gender, seq=(2 * (n % 499)) + (gender == "M"))
    fields = dict(name=name or f"测试{'甲乙丙丁戊己庚辛壬癸'[n % 10]}{'一二三四五六七八九十'[n // 10 % 10]}",
                  document_type="resident_id_card", document_number=number, gender=gender,
                  birth_date=birth, nationality="CHN", document_valid_until=date(2036, 1, 1),
                  photo_jpeg=synthetic_photo(number))
    fields.update(overrides)
    return service.ApplicantData(**fields)


def applicant_json(applicant: service.ApplicantData) -> dict:
    data = applicant.snapshot()
    data.pop("holds_id_card")
    data["photo_jpeg_base64"] = base64.b64encode(applicant.photo_jpeg).decode()
    return data


def pickup(bank: str = "ICBC", outlet: str = "SS-TN-01", **kw) -> service.CardChoice:
    return service.CardChoice(kind=kw.pop("kind", "first"), bank_code=bank,
                              pickup_outlet_code=outlet, **kw)


@pytest.fixture(autouse=True)
def chip_directory(tmp_path, monkeypatch):
    """Chip images of the cards these tests produce go to a temporary folder."""
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    return tmp_path / "chips"


OUTLET = Actor(user_id="outlet-1", role=Role.SS_OUTLET, channel=Channel.OUTLET,
               branch_code="SS-TN-01")
ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)


@pytest.fixture
def apply(platform):
    """apply(applicant=None, choice=None, agent=None, actor=OUTLET) → submitted ApplicationView."""

    def submit(applicant=None, choice=None, *, agent=None, actor=OUTLET, key=None):
        with platform.uow() as uow:
            return service.submit_at_outlet(uow=uow, actor=actor,
                                            applicant=applicant or new_applicant(),
                                            choice=choice or pickup(), agent=agent,
                                            idempotency_key=key)

    return submit


@pytest.fixture
def issue_card(platform, apply):
    """Walk one application to a card in hand; returns the final ApplicationView."""

    def run(applicant=None, choice=None):
        app = apply(applicant, choice)
        return walk_to_hand_over(platform, app.id)

    return run


def walk_to_hand_over(platform, application_id: int):
    with platform.uow() as uow:
        service.approve(uow=uow, actor=OUTLET, application_id=application_id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    with platform.uow() as uow:
        service.mark_ready_for_pickup(uow=uow, actor=OUTLET, application_id=application_id)
    with platform.uow() as uow:
        return service.hand_over(uow=uow, actor=OUTLET, application_id=application_id)
