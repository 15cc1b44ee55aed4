"""Holder sign-up is bound to a person only by proof a stranger cannot produce from a name and
an ID number: a code texted to the phone on file, the activation code handed over with the
card, or the real-name provider's assertion. No answer tells whether an ID number is on file."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest
from sqlalchemy import select

from tests.binding.conftest import (
    AUTH,
    PHONE,
    counts,
    delivered,
    last_code,
    request_code,
    sign_up,
    token,
)
from yikatong.applications.protocols import IdentityAuthenticator
from yikatong.audit.models import AuditRecord
from yikatong.auth import binding, rules
from yikatong.auth.errors import BindingProofFailed
from yikatong.auth.models import BindingCode
from yikatong.notices.models import SmsMessage
from yikatong.people.samples import make_applicant
from yikatong.people.service import register_applicant

pytestmark = pytest.mark.db

NOT_ON_FILE = "320402199001010011"


# --- a code texted to the phone on file ---------------------------------------------------


def test_a_code_texted_to_the_phone_on_file_signs_up_and_links(client, platform, person):
    applicant, app = person()
    answer = request_code(client, applicant)
    assert answer.status_code == 202
    [message] = delivered(platform, PHONE)
    code = last_code(platform)
    assert code in message.text and "注册" in message.text and "sign-up" in message.text
    with platform.uow() as uow:
        [record] = uow.session.execute(select(SmsMessage)).scalars().all()
        [stored] = uow.session.execute(select(BindingCode)).scalars().all()
    # The record keeps the template, a masked phone and the text without the code.
    assert (record.template, record.phone_masked, record.status) == ("code_sign_up", "139****5678", "sent")
    assert code not in record.text_zh + record.text_en and "******" in record.text_zh
    assert record.person_id == app.person_id and record.sent_at is not None
    assert stored.code_hash.startswith("$argon2id$") and code not in stored.code_hash
    created = sign_up(client, applicant, proof="sms_code", code=code)
    assert created.status_code == 201, created.text
    assert created.json() == {"username": "wang-holder", "linked_to_person": True}
    me = client.get(f"{AUTH}/me", headers=token(client)).json()
    assert me["person_id"] == app.person_id


def test_the_code_request_answers_the_same_whether_or_not_anyone_is_on_file(client, platform, person):
    applicant, _ = person()
    nobody_phone, _ = person(phone=None)
    before = counts(platform)
    answers = [request_code(client, name="无此人", id_number=NOT_ON_FILE),
               request_code(client, applicant, name="另一个名字"),  # the number, another name
               request_code(client, nobody_phone)]                  # on file without a phone
    assert {(a.status_code, a.text) for a in answers} == {(202, request_code(client, applicant).text)}
    assert len(delivered(platform)) == 1  # only the real holder's request texted anyone
    users, codes, messages, audits = counts(platform)
    assert (users, codes, messages) == (before[0], before[1] + 1, before[2] + 1)


def test_refusals_look_the_same_for_a_wrong_code_and_an_unknown_id_number(client, platform, person):
    applicant, _ = person()
    request_code(client, applicant)
    wrong = sign_up(client, applicant, proof="sms_code", code="000000" if last_code(platform) != "000000" else "111111")
    unknown = sign_up(client, applicant, proof="sms_code", code="123456", id_number=NOT_ON_FILE)
    other_name = sign_up(client, applicant, proof="sms_code", code=last_code(platform), name="另一个名字")
    for refused in (wrong, unknown, other_name):
        assert refused.status_code == 422 and refused.json()["code"] == "binding_proof_failed"
    assert wrong.json() == unknown.json() == other_name.json()
    assert client.post(f"{AUTH}/token", data={"username": "wang-holder", "password": "x"}).status_code == 401


def test_a_code_allows_five_wrong_tries_then_dies(client, platform, person):
    applicant, _ = person()
    request_code(client, applicant)
    code = last_code(platform)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(rules.SMS_CODE_MAX_ATTEMPTS):
        assert sign_up(client, applicant, proof="sms_code", code=wrong).status_code == 422
    dead = sign_up(client, applicant, proof="sms_code", code=code)
    assert dead.status_code == 422 and dead.json()["code"] == "binding_proof_failed"
    with platform.uow() as uow:
        stored = uow.session.execute(select(BindingCode)).scalar_one()
    assert (stored.attempts, stored.closed_reason) == (rules.SMS_CODE_MAX_ATTEMPTS, "attempts")


def test_a_code_works_once_expires_and_a_new_one_supersedes_it(client, platform, person, clock):
    applicant, _ = person()
    request_code(client, applicant)
    first = last_code(platform)
    request_code(client, applicant)
    second = last_code(platform)
    if first != second:  # the older code stopped working when the newer was sent
        assert sign_up(client, applicant, proof="sms_code", code=first).status_code == 422
    clock.advance(minutes=rules.SMS_CODE_TTL_MINUTES, seconds=1)
    assert sign_up(client, applicant, proof="sms_code", code=second).status_code == 422
    request_code(client, applicant)
    third = last_code(platform)
    assert sign_up(client, applicant, proof="sms_code", code=third).status_code == 201
    again = sign_up(client, applicant, proof="sms_code", code=third, username="second-try")
    assert again.status_code == 422 and again.json()["code"] == "binding_proof_failed"


def test_a_code_serves_only_its_own_purpose(platform, person):
    applicant, app = person()
    with platform.uow() as uow:  # a code for an e-card reset of the same person
        binding._send_code(uow, actor=binding.PUBLIC, person_id=app.person_id, phone=PHONE,
                           purpose="ecard_reset")
        uow.commit()
    with platform.uow() as uow, pytest.raises(BindingProofFailed):
        binding.prove_with_code(uow=uow, actor=binding.PUBLIC, kind=binding.SMS, purpose="sign_up",
                                person_id=app.person_id, code=last_code(platform))


def test_an_account_already_bound_is_said_only_after_the_proof(client, platform, person):
    applicant, _ = person()
    request_code(client, applicant)
    assert sign_up(client, applicant, proof="sms_code", code=last_code(platform)).status_code == 201
    without_proof = sign_up(client, applicant, proof="sms_code", code="000000", username="intruder")
    assert without_proof.json()["code"] == "binding_proof_failed"
    request_code(client, applicant)
    with_proof = sign_up(client, applicant, proof="sms_code", code=last_code(platform), username="twice")
    assert with_proof.status_code == 409 and with_proof.json()["code"] == "holder_already_registered"


# --- the activation code handed over with the card ----------------------------------------


def test_the_activation_code_from_the_hand_over_signs_up_once(client, platform, card_holder):
    applicant, handed = card_holder()
    code = handed.activation_code
    assert len(code) == 14 and code.count("-") == 2
    typed = code.lower().replace("-", " ")  # as a holder might type it
    created = sign_up(client, applicant, proof="activation_code", code=typed)
    assert created.status_code == 201 and created.json()["linked_to_person"] is True
    again = sign_up(client, applicant, proof="activation_code", code=code, username="second")
    assert again.status_code == 422 and again.json()["code"] == "binding_proof_failed"
    with platform.uow() as uow:
        trail = json.dumps([[r.action, r.after] for r in uow.session.execute(
            select(AuditRecord)).scalars()], ensure_ascii=False)
    assert "auth.activation_code_issued" in trail and code not in trail
    assert code.replace("-", "") not in trail


def test_a_wrong_or_another_persons_activation_code_is_refused(client, platform, card_holder):
    applicant, handed = card_holder()
    other, other_handed = card_holder(phone="13800000001")
    stolen = sign_up(client, applicant, proof="activation_code", code=other_handed.activation_code)
    assert stolen.status_code == 422 and stolen.json()["code"] == "binding_proof_failed"
    assert sign_up(client, applicant, proof="activation_code", code=handed.activation_code).status_code == 201


def test_a_stranger_guessing_cannot_close_the_holders_activation_code(client, platform, card_holder, clock):
    """Five (or fifty) wrong guesses by someone who knows the name and ID number leave the code
    handed over with the card working: closing it would send the holder back to the outlet.
    The guesses are bounded per client address by the sign-up throttle instead."""
    from yikatong.auth.throttle import DEFAULT_LIMITS

    applicant, handed = card_holder()
    wrong = "ABCD-EFGH-JKMN" if handed.activation_code != "ABCD-EFGH-JKMN" else "ZZZZ-ZZZZ-ZZZZ"
    allowed = int(DEFAULT_LIMITS["holder_sign_up"].split()[0])
    answers = [sign_up(client, applicant, proof="activation_code", code=wrong).status_code
               for _ in range(allowed + 1)]
    assert answers[:allowed] == [422] * allowed
    assert answers[-1] == 429  # the guesser's address is stopped, not the holder's code
    with platform.uow() as uow:
        stored = uow.session.execute(select(BindingCode)).scalar_one()
    assert stored.closed_at is None and stored.attempts == allowed
    clock.advance(hours=1)  # the throttle's window (this test client has one address)
    assert sign_up(client, applicant, proof="activation_code", code=handed.activation_code).status_code == 201


def test_the_hand_over_answer_shows_the_activation_code_once(client, platform, login, person):
    from tests.applications.conftest import ADMIN, OUTLET
    from yikatong.applications import production
    from yikatong.applications import service as applications
    from yikatong.applications.protocols import CardFactory
    from yikatong.core.actor import Role

    applicant, app = person()
    with platform.uow() as uow:
        applications.approve(uow=uow, actor=OUTLET, application_id=app.id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    with platform.uow() as uow:
        applications.mark_ready_for_pickup(uow=uow, actor=OUTLET, application_id=app.id)
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    handed = client.post(f"/api/v1/applications/{app.id}/hand-over", headers=outlet).json()
    code = handed["activation_code"]
    assert code and handed["status"] == "handed_over"
    shown_again = client.get(f"/api/v1/applications/{app.id}", headers=outlet).json()
    assert "activation_code" not in shown_again and code not in json.dumps(shown_again)
    assert sign_up(client, applicant, proof="activation_code", code=code).status_code == 201


# --- the real-name provider's assertion ----------------------------------------------------


def test_real_name_sign_up_before_any_application_links_later(client, platform, admin_actor):
    applicant = {"name": "王小明", "document_number": "320402199003070013"}
    response = client.post(f"{AUTH}/holders", json={
        "proof": "real_name", "name": applicant["name"], "id_number": applicant["document_number"],
        "evidence": "id-token", "username": "wangxm", "password": "Changzhou-Card-2026!"})
    assert response.status_code == 201 and response.json() == {"username": "wangxm",
                                                               "linked_to_person": False}
    headers = token(client, "wangxm")
    assert client.get(f"{AUTH}/me", headers=headers).json()["person_id"] is None
    import random

    data = make_applicant(random.Random(1))
    data.update(name="王小明", document_number="320402199003070013", gender="M",
                birth_date=date(1990, 3, 7))
    with platform.uow() as uow:
        outcome = register_applicant(uow=uow, actor=admin_actor, as_of=date(2026, 3, 2), **data)
        uow.commit()
    assert client.get(f"{AUTH}/me", headers=headers).json()["person_id"] == outcome.person_id


def test_a_failed_real_name_check_creates_nothing_and_comes_before_any_record(client, platform, person):
    applicant, _ = person()
    request_code(client, applicant)
    assert sign_up(client, applicant, proof="sms_code", code=last_code(platform)).status_code == 201
    before = counts(platform)
    # On file and already signed up, but without a passing assertion: only the proof's refusal.
    refused = sign_up(client, applicant, proof="real_name", evidence="mismatch", username="intruder")
    assert refused.status_code == 422 and refused.json()["code"] == "real_name_failed"
    stranger = sign_up(client, applicant, proof="real_name", evidence="mismatch", username="intruder",
                       id_number=NOT_ON_FILE)
    assert stranger.json() == refused.json()
    assert counts(platform) == before
    passed = sign_up(client, applicant, proof="real_name", evidence="id-token", username="intruder")
    assert passed.status_code == 409 and passed.json()["code"] == "holder_already_registered"


def test_the_real_name_seam_is_what_is_called(client, platform, person):
    applicant, _ = person()
    platform.get(IdentityAuthenticator).available = False
    down = sign_up(client, applicant, proof="real_name", evidence="id-token")
    assert down.status_code == 422 and down.json()["code"] == "real_name_failed"


@pytest.mark.parametrize("body", [
    {"proof": "sms_code"},                        # no code
    {"proof": "real_name"},                       # no evidence
    {"proof": "name_and_number"},                 # not a proof at all
    {},                                           # no proof named
])
def test_a_sign_up_must_name_and_carry_its_proof(client, platform, person, body):
    applicant, _ = person()
    response = client.post(f"{AUTH}/holders", json={
        "name": applicant.name, "id_number": applicant.document_number, "username": "u-name",
        "password": "Changzhou-Card-2026!", **body})
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_codes_never_reach_a_log(client, platform, card_holder, caplog):
    caplog.set_level(logging.DEBUG)
    applicant, handed = card_holder()
    request_code(client, applicant)
    code = last_code(platform)
    assert sign_up(client, applicant, proof="sms_code", code=code).status_code == 201
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert code not in logged and handed.activation_code not in logged and PHONE not in logged


def test_a_real_name_assertion_proves_one_thing_only(client, platform):
    """The provider's ID token is good for minutes; once it has bound an account it binds
    nothing else (another login for a holder whose first was deleted, an e-card reset)."""
    from yikatong.auth.models import SpentIdentityEvidence

    body = {"proof": "real_name", "name": "王小明", "id_number": "320402199003070013",
            "evidence": "id-token-once", "username": "wangxm", "password": "Changzhou-Card-2026!"}
    assert client.post(f"{AUTH}/holders", json=body).status_code == 201
    replay = client.post(f"{AUTH}/holders", json={**body, "name": "李四", "id_number": "320402199103070018",
                                                  "username": "other-login"})
    assert replay.status_code == 422 and replay.json()["code"] == "binding_proof_failed"
    with platform.uow() as uow:
        spent = uow.session.execute(select(SpentIdentityEvidence)).scalar_one()
    assert spent.purpose == "sign_up" and "id-token-once" not in spent.fingerprint
