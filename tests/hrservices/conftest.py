"""Helpers for the HR services tests: holders with cards (through the cards and people
services), an outlet, HR officers, and documents that pass the checks."""

from __future__ import annotations

import pytest

from tests.cards.conftest import ADMIN, OUTLET, act, person_with_card  # noqa: F401 - re-exported
from yikatong.core.actor import Actor, Channel, Role
from yikatong.hrservices import service

OFFICER = Actor(user_id="hr-officer-1", role=Role.HR_OFFICER, channel=Channel.AGENCY, account_id=9001)
OTHER_OFFICER = Actor(user_id="hr-officer-2", role=Role.HR_OFFICER, channel=Channel.AGENCY, account_id=9002)
PDF = b"%PDF-1.4\n% a test document\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def holder(person_id: int, account_id: int | None = None) -> Actor:
    return Actor(user_id=f"holder-{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id, account_id=account_id or 50_000 + person_id)


def open_with_documents(platform, actor: Actor, service_code: str, *, card_no: str | None = None,
                        particulars: dict | None = None, submit: bool = True):
    """A case of the service opened by `actor` with every required document attached (and
    submitted): the CaseView."""
    case = act(platform, service.open_case, actor=actor, service_code=service_code,
               particulars=particulars, card_no=card_no)
    for kind in service.service_of(service_code).required:
        act(platform, service.attach_document, actor=actor, case_id=case.id, kind=kind,
            file_name=f"{kind}.pdf", content_type="application/pdf", content=PDF, card_no=card_no)
    if submit:
        case = act(platform, service.submit_case, actor=actor, case_id=case.id, card_no=card_no)
    return case


def claimed(platform, case_id: int, officer: Actor = OFFICER):
    return act(platform, service.claim_case, actor=officer, case_id=case_id)


@pytest.fixture
def citizen(platform):
    """(ID number, person id, card number) of a holder with an activated card in use."""
    return person_with_card(platform)
