"""The e-card's own 6-digit password: argon2, weak ones refused, retry counter and lock,
reset after an identity check, and the short session that lets the app refresh its code."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.ecard.conftest import PASSWORD

from yikatong.applications.protocols import IdentityAuthenticator
from yikatong.audit.models import AuditRecord
from yikatong.ecard import service
from yikatong.ecard.errors import (
    EcardPasswordAlreadySet,
    EcardPasswordLocked,
    EcardPasswordNotSet,
    EcardPasswordRequired,
    IdentityCheckFailed,
    WeakEcardPassword,
    WrongEcardPassword,
)
from yikatong.ecard.models import Ecard

pytestmark = pytest.mark.db


def stored_hash(platform, person_id: int) -> str | None:
    with platform.uow() as uow:
        return uow.session.execute(select(Ecard.password_hash).where(
            Ecard.person_id == person_id)).scalar_one()


def reset(person, *, id_number=None, evidence="face-ok", new_password="582039"):
    return person.do(service.reset_password, proof="real_name", name=person.applicant.name,
                     id_number=id_number or person.applicant.document_number, evidence=evidence,
                     new_password=new_password,
                     authenticator=person.platform.get(IdentityAuthenticator))


def test_set_change_and_weak_passwords(platform, holder, real_argon2):
    person = holder(password=False)
    with pytest.raises(EcardPasswordNotSet):
        person.qr()
    with pytest.raises(WeakEcardPassword):
        person.set_password("123456")
    assert stored_hash(platform, person.person_id) is None  # refused: nothing changed
    assert person.set_password().password_set
    hashed = stored_hash(platform, person.person_id)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in hashed
    with pytest.raises(EcardPasswordAlreadySet):
        person.set_password("582039")
    with pytest.raises(WrongEcardPassword) as wrong:
        person.set_password("582039", old="111222")
    assert wrong.value.details["remaining"] == 4
    person.set_password("582039", old=PASSWORD)
    with pytest.raises(WrongEcardPassword):
        person.qr(password=PASSWORD)
    assert person.qr(password="582039").startswith("YKT1.")


def test_five_wrong_passwords_lock_it_until_reset_or_a_day(platform, holder, clock):
    person = holder()
    for remaining in (4, 3, 2, 1):
        with pytest.raises(WrongEcardPassword) as wrong:
            person.qr(password="000111")
        assert wrong.value.details["remaining"] == remaining
    with pytest.raises(EcardPasswordLocked):
        person.qr(password="000111")
    with pytest.raises(EcardPasswordLocked):
        person.qr(password=PASSWORD)  # even the right one while locked
    assert person.ecard().password_locked_until == clock.now() + timedelta(hours=24)
    clock.advance(hours=24)
    assert person.qr(password=PASSWORD)


def test_reset_after_an_identity_check_lifts_the_lock(platform, holder):
    person = holder()
    for _ in range(5):
        with pytest.raises((WrongEcardPassword, EcardPasswordLocked)):
            person.qr(password="000111")
    with pytest.raises(IdentityCheckFailed):
        reset(person, id_number="320402199001010011")
    with pytest.raises(IdentityCheckFailed):
        reset(person, evidence="mismatch")
    with pytest.raises(WeakEcardPassword):
        reset(person, new_password="888888")
    after = reset(person)
    assert after.password_locked_until is None
    assert person.qr(password="582039")
    with pytest.raises(IdentityCheckFailed):  # the same assertion shown again proves nothing
        reset(person, new_password="602817")


def test_entering_the_password_opens_a_short_session_on_that_channel(platform, holder, clock):
    person = holder(consent=("official_app", "wechat_mini"))
    with pytest.raises(EcardPasswordRequired):
        person.qr(password=None)
    person.qr(password=PASSWORD)
    clock.advance(minutes=4)
    assert person.qr(password=None)  # the app refreshes its code without asking again
    with pytest.raises(EcardPasswordRequired):
        person.qr("wechat_mini", password=None)  # another channel has no session
    clock.advance(minutes=2)
    with pytest.raises(EcardPasswordRequired):
        person.qr(password=None)


def test_the_password_never_reaches_the_audit_trail(platform, holder):
    person = holder()
    with pytest.raises(WrongEcardPassword):
        person.qr(password="000111")
    hashed = stored_hash(platform, person.person_id)
    with platform.uow() as uow:
        records = uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "ecard")).scalars().all()
    text = json.dumps([[r.action, r.before, r.after, r.reason] for r in records], ensure_ascii=False)
    assert "ecard.password_set" in text and "ecard.password_failed" in text
    assert PASSWORD not in text and "000111" not in text and hashed not in text


# --- reset with the code texted to the phone on file (auth.binding) -------------------------

PHONE = "13912345678"


@pytest.fixture
def holder_with_phone(platform, applied):
    """A holder whose record has a phone, with a card in hand and a password set."""
    from tests.applications.conftest import new_applicant, walk_to_hand_over

    def make(phone: str | None = PHONE):
        person = applied(new_applicant(phone=phone))
        person.card_no = walk_to_hand_over(platform, person.application_id).card_no
        person.grant("official_app")
        person.set_password()
        return person

    return make


def texted_code(platform, phone: str = PHONE) -> str:
    import re

    from yikatong.notices.protocols import SmsGateway

    return re.search(r"验证码 (\d{6})", platform.get(SmsGateway).delivered(phone=phone)[0].text).group(1)


def sms_reset(person, code: str, new_password: str = "582039"):
    return person.do(service.reset_password, proof="sms_code", code=code, new_password=new_password)


def test_reset_with_a_code_texted_to_the_phone_on_file_lifts_the_lock(platform, holder_with_phone):
    from yikatong.auth.errors import BindingProofFailed

    person = holder_with_phone()
    for _ in range(5):
        with pytest.raises((WrongEcardPassword, EcardPasswordLocked)):
            person.qr(password="000111")
    with platform.uow() as uow:
        assert service.send_reset_code(uow=uow, actor=person.actor) == "139****5678"
        uow.commit()
    code = texted_code(platform)
    with pytest.raises(BindingProofFailed):
        sms_reset(person, f"{(int(code) + 1) % 10**6:06d}")
    with pytest.raises(WeakEcardPassword):
        sms_reset(person, code, new_password="888888")  # refused before the code is used up
    assert sms_reset(person, code).password_locked_until is None
    assert person.qr(password="582039")
    with pytest.raises(BindingProofFailed):
        sms_reset(person, code, new_password="602817")  # a code works once


def test_a_reset_code_needs_a_phone_on_file(platform, holder_with_phone):
    from yikatong.auth.errors import NoPhoneOnFile

    person = holder_with_phone(phone=None)
    with platform.uow() as uow, pytest.raises(NoPhoneOnFile):
        service.send_reset_code(uow=uow, actor=person.actor)


def test_reset_through_the_api_names_its_proof(client, login, platform, holder_with_phone):
    from yikatong.core.actor import Role

    person = holder_with_phone()
    me = login(Role.HOLDER, person_id=person.person_id)
    sent = client.post("/api/v1/ecard/me/password/reset/code", headers=me)
    assert sent.status_code == 202 and sent.json()["sent_to"] == "139****5678"
    code = texted_code(platform)
    unnamed = client.post("/api/v1/ecard/me/password/reset", headers=me,
                          json={"code": code, "new_password": "582039"})
    assert unnamed.status_code == 422
    done = client.post("/api/v1/ecard/me/password/reset", headers=me,
                       json={"proof": "sms_code", "code": code, "new_password": "582039"})
    assert done.status_code == 200 and done.json()["password_set"] and code not in done.text
    by_real_name = client.post("/api/v1/ecard/me/password/reset", headers=me, json={
        "proof": "real_name", "name": person.applicant.name,
        "id_number": person.applicant.document_number, "evidence": "id-token",
        "new_password": "602817"})
    assert by_real_name.status_code == 200
