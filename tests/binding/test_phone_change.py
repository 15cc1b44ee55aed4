"""The phone number on file is the key to the account, so changing it needs proof: in person at
an outlet counter, or online with the old number's texted code plus the card's PIN (checked by
the card). Every change tells the old number."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.binding.conftest import CARD_PIN, PHONE, delivered, last_code, request_code
from yikatong.audit.models import AuditRecord
from yikatong.chip.protocols import ChipStore
from yikatong.core.actor import Role
from yikatong.people.service import get_person

pytestmark = pytest.mark.db

NEW_PHONE = "13700001111"
PEOPLE = "/api/v1/people"


def phone_on_file(platform, person_id: int) -> str | None:
    with platform.uow() as uow:
        return get_person(uow=uow, person_id=person_id).phone


def told_old_number(platform) -> bool:
    return any("13700001111"[:3] + "****1111" in m.text for m in delivered(platform, PHONE))


def pin_tries_left(platform, card_no: str) -> int:
    card = platform.get(ChipStore).load(card_no)
    return card.mf.pin.tries_left


# --- in person at an outlet -------------------------------------------------------------------


def test_an_outlet_operator_changes_the_phone_and_the_old_number_is_told(client, platform, login, person):
    _, app = person()
    outlet = login(Role.CITIZEN_OUTLET, branch_code="SMK-DIRECT-01")
    changed = client.put(f"{PEOPLE}/{app.person_id}/phone", headers=outlet, json={"phone": "137 0000 1111"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"person_id": app.person_id, "phone_masked": "137****1111"}
    assert phone_on_file(platform, app.person_id) == NEW_PHONE
    [notice] = delivered(platform, PHONE)
    assert "137****1111" in notice.text and "12333" in notice.text and "outlet counter" in notice.text
    with platform.uow() as uow:
        [record] = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "person.phone_changed")).scalars().all()
    trail = json.dumps([record.before, record.after])
    assert PHONE not in trail and NEW_PHONE not in trail and "139****5678" in trail


@pytest.mark.parametrize("role", [Role.HOLDER, Role.PHONE_AGENT, Role.EMPLOYER_AGENT, Role.BANK,
                                  Role.TRANSIT_OPERATOR])
def test_only_outlet_operators_change_a_phone_at_the_counter(client, platform, login, person, role):
    _, app = person()
    fields = {"person_id": app.person_id} if role is Role.HOLDER else {}
    refused = client.put(f"{PEOPLE}/{app.person_id}/phone", headers=login(role, **fields),
                         json={"phone": NEW_PHONE})
    assert refused.status_code == 403
    assert phone_on_file(platform, app.person_id) == PHONE and not delivered(platform)


def test_a_malformed_or_unchanged_number_is_refused(client, platform, login, person):
    _, app = person()
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    for phone in ("12345678901", "1391234567x", PHONE):
        answer = client.put(f"{PEOPLE}/{app.person_id}/phone", headers=outlet, json={"phone": phone})
        assert answer.status_code == 422, phone
    assert phone_on_file(platform, app.person_id) == PHONE and not delivered(platform)


# --- online: the old number's code and the card's PIN -----------------------------------------


@pytest.fixture
def holder(client, login, chip_holder):
    applicant, handed = chip_holder()
    headers = login(Role.HOLDER, person_id=handed.person_id, channel="online_app")
    return applicant, handed, headers


def change_own(client, headers, *, code: str, pin: str = CARD_PIN, phone: str = NEW_PHONE):
    return client.put(f"{PEOPLE}/me/phone", headers=headers, json={"phone": phone, "code": code, "pin": pin})


def test_the_holder_changes_the_phone_with_the_old_numbers_code_and_the_pin(client, platform, holder):
    _, handed, headers = holder
    sent = client.post(f"{PEOPLE}/me/phone/code", headers=headers)
    assert sent.status_code == 202 and sent.json()["sent_to"] == "139****5678"
    code = last_code(platform)
    changed = change_own(client, headers, code=code)
    assert changed.status_code == 200 and changed.json()["phone_masked"] == "137****1111"
    assert phone_on_file(platform, handed.person_id) == NEW_PHONE
    assert told_old_number(platform)
    assert CARD_PIN not in changed.text and pin_tries_left(platform, handed.card_no) == 3
    # The new number is now the key: a sign-up code goes there, not to the old one.
    before_old = len(delivered(platform, PHONE))
    request_code(client, name=holder[0].name, id_number=holder[0].document_number)
    assert len(delivered(platform, NEW_PHONE)) == 1 and len(delivered(platform, PHONE)) == before_old


def test_a_wrong_pin_is_counted_by_the_card_and_changes_nothing(client, platform, holder):
    _, handed, headers = holder
    client.post(f"{PEOPLE}/me/phone/code", headers=headers)
    code = last_code(platform)
    wrong = change_own(client, headers, code=code, pin="654321")
    assert wrong.status_code == 403 and wrong.json()["code"] == "wrong_pin"
    assert wrong.json()["details"]["remaining"] == 2 and pin_tries_left(platform, handed.card_no) == 2
    assert phone_on_file(platform, handed.person_id) == PHONE
    assert not told_old_number(platform)
    assert change_own(client, headers, code=code).status_code == 200  # the code was not used up
    assert pin_tries_left(platform, handed.card_no) == 3  # the right PIN resets the card's count


def test_three_wrong_pins_lock_the_card_pin(client, platform, holder):
    _, handed, headers = holder
    client.post(f"{PEOPLE}/me/phone/code", headers=headers)
    code = last_code(platform)
    for _ in range(3):
        change_own(client, headers, code=code, pin="000000")
    locked = change_own(client, headers, code=code)
    assert locked.status_code == 403 and locked.json()["code"] == "pin_locked"
    assert phone_on_file(platform, handed.person_id) == PHONE


def test_a_wrong_code_is_refused_before_the_pin_is_tried(client, platform, holder):
    _, handed, headers = holder
    client.post(f"{PEOPLE}/me/phone/code", headers=headers)
    code = last_code(platform)
    wrong = change_own(client, headers, code=f"{(int(code) + 1) % 10**6:06d}", pin="654321")
    assert wrong.status_code == 422 and wrong.json()["code"] == "binding_proof_failed"
    assert pin_tries_left(platform, handed.card_no) == 3
    assert phone_on_file(platform, handed.person_id) == PHONE


def test_a_sign_up_code_does_not_change_the_phone(client, platform, holder):
    applicant, handed, headers = holder
    request_code(client, applicant)
    refused = change_own(client, headers, code=last_code(platform))
    assert refused.status_code == 422 and refused.json()["code"] == "binding_proof_failed"
    assert phone_on_file(platform, handed.person_id) == PHONE


def test_without_a_card_the_phone_changes_only_at_an_outlet(client, platform, login, person):
    _, app = person()  # on file, application submitted, no card yet
    headers = login(Role.HOLDER, person_id=app.person_id, channel="online_app")
    client.post(f"{PEOPLE}/me/phone/code", headers=headers)
    refused = change_own(client, headers, code=last_code(platform))
    assert refused.status_code == 409 and refused.json()["code"] == "no_card_for_phone_change"


def test_a_card_whose_chip_cannot_be_reached_is_refused(client, platform, login, card_holder):
    _, handed = card_holder()  # produced without a chip image
    headers = login(Role.HOLDER, person_id=handed.person_id, channel="online_app")
    client.post(f"{PEOPLE}/me/phone/code", headers=headers)
    refused = change_own(client, headers, code=last_code(platform))
    assert refused.status_code == 409 and refused.json()["code"] == "card_pin_unavailable"
    assert phone_on_file(platform, handed.person_id) == PHONE


def test_only_the_holder_changes_their_own_phone_online(client, platform, login, holder):
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    assert client.post(f"{PEOPLE}/me/phone/code", headers=outlet).status_code == 403
    assert change_own(client, outlet, code="123456").status_code == 403
