"""The institution interface's door through the application: who may send, the signature,
the timestamp window, the nonce, msgid replays, sign-in and sign-out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.medical.conftest import HOSPITAL, OTHER_HOSPITAL
from tests.medical.interface_helpers import URL, connected
from yikatong.core.actor import Role
from yikatong.medical import envelope as env
from yikatong.medical import interface

pytestmark = pytest.mark.db

CODE, OTHER = HOSPITAL, OTHER_HOSPITAL


@pytest.fixture
def hospitals(reference, client, admin_actor, clock):
    return (connected(reference, client, admin_actor, clock, CODE),
            connected(reference, client, admin_actor, clock, OTHER))


def test_sign_in_gives_a_sign_no_every_later_message_needs(hospitals, clock):
    hospital, _ = hospitals
    refused = hospital.send("9999", {})
    assert refused["infcode"] == env.MALFORMED and refused["err_code"] == "medical_unknown_infno"
    sign_no = hospital.sign_in()
    assert len(sign_no) == 30 and sign_no.startswith(clock.now().astimezone(env.CST).strftime("%Y%m%d"))
    assert hospital.ok("9002", {"sign_no": sign_no}, key="signOut")["signoutoutb"]["sign_time"]
    again = hospital.send("9002", {"sign_no": sign_no}, key="signOut")
    assert again["infcode"] == 0  # signing out twice changes nothing
    interface.TRANSACTIONS.setdefault("0000", interface.Transaction(lambda call: {"ok": 1}, "测试", "test"))
    try:
        after = hospital.send("0000", {})
        assert after["infcode"] == env.NOT_SIGNED_IN and after["err_code"] == "medical_not_signed_in"
        hospital.sign_in()
        assert hospital.ok("0000", {}) == {"ok": 1}
        hospital.sign_no = hospital.sign_no[:-1] + ("0" if hospital.sign_no[-1] != "0" else "1")
        assert hospital.send("0000", {})["infcode"] == env.NOT_SIGNED_IN      # forged
        hospital.sign_in()
        clock.advance(days=1)
        assert hospital.send("0000", {})["infcode"] == env.NOT_SIGNED_IN      # yesterday's
    finally:
        del interface.TRANSACTIONS["0000"]


def test_a_bad_signature_a_stale_timestamp_and_a_replayed_nonce_are_refused(hospitals, clock):
    hospital, _ = hospitals
    body = hospital.envelope("9001", {"opter_no": "1"}, key="signIn")
    wrong = hospital.post(body, secret="guessed")
    assert (wrong["infcode"], wrong["err_code"]) == (env.SIGNATURE_REFUSED, "medical_signature_invalid")
    assert "签名验证失败" in wrong["err_msg"] and "does not verify" in wrong["err_msg"]
    stale = hospital.post(body, now=clock.now() - timedelta(minutes=6))
    assert (stale["infcode"], stale["err_code"]) == (env.SIGNATURE_REFUSED, "medical_timestamp_stale")
    missing = hospital.client.post(URL, json=body, headers=hospital.credential).json()
    assert missing["err_code"] == "medical_signature_missing"
    first = hospital.post(body, nonce="the-same-nonce-1")
    assert first["infcode"] == 0
    replayed = hospital.post(body, nonce="the-same-nonce-1")
    assert (replayed["infcode"], replayed["err_code"]) == (env.SIGNATURE_REFUSED, "medical_nonce_replayed")
    # a refused request spends its nonce too: it cannot be tried again under it
    other = hospital.envelope("9001", {"opter_no": "1"}, key="signIn")
    assert hospital.post(other, nonce="the-same-nonce-1")["err_code"] == "medical_nonce_replayed"
    assert hospital.post({**other, "infno": "22"}, nonce="spent-on-a-bad-one")["infcode"] == env.MALFORMED


def test_the_same_msgid_again_answers_the_first_answer(hospitals, clock):
    hospital, _ = hospitals
    body = hospital.envelope("9001", {"opter_no": "1"}, key="signIn")
    first = hospital.post(body)
    clock.advance(seconds=30)
    again = hospital.post(body)
    assert again == first  # the same sign_no, the same times: the stored answer
    changed = hospital.post({**body, "input": {"signIn": {"opter_no": "2"}}})
    assert changed["infcode"] == env.REFUSED and changed["err_code"] == "idempotency_key_reused"


def test_an_institution_speaks_only_as_itself(hospitals, client, login):
    hospital, other = hospitals
    as_other = hospital.envelope("9001", {}, key="signIn")
    refused = other.post(as_other)  # the second hospital's credential, the first's envelope
    assert (refused["infcode"], refused["err_code"]) == (env.SIGNATURE_REFUSED, "medical_institution_mismatch")
    assert hospital.post(as_other, paasid=OTHER)["err_code"] == "medical_institution_mismatch"
    # a bank or a holder is refused by the access table, before any envelope
    bank = login(Role.BANK, bank_code="ICBC", branch_code="ICBC-CZ-001", channel="bank_branch")
    assert client.post(URL, json=as_other, headers={**bank, **hospital.headers()}).status_code == 403
    assert client.post(URL, json=as_other, headers={k: v for k, v in hospital.headers().items() if k != "X-API-Key"}).status_code == 401


def test_a_malformed_envelope_or_body_is_answered(hospitals, client):
    hospital, _ = hospitals
    bad = hospital.post({**hospital.envelope("9001", {}, key="signIn"), "msgid": "123"})
    assert bad["infcode"] == env.MALFORMED and "msgid" in bad["err_msg"] and bad["inf_refmsgid"] == ""
    response = client.post(URL, content=b"{not json", headers=hospital.headers())
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"
    for body in (b"[]", b'"x"'):
        answer = client.post(URL, content=body, headers=hospital.headers())
        assert answer.status_code == 200 and answer.json()["infcode"] == env.MALFORMED


def test_the_sm3_signed_body_verifies_and_an_altered_one_does_not(hospitals):
    hospital, _ = hospitals
    body = hospital.envelope("9001", {"opter_no": "1"}, key="signIn", signtype="SM3")
    assert hospital.post(body)["infcode"] == 0
    altered = {**body, "msgid": hospital.msgid()}
    assert hospital.post(altered)["err_code"] == "medical_signature_invalid"


def test_spent_nonces_are_forgotten_once_their_timestamps_are_stale(hospitals, reference, clock):
    from yikatong.medical.jobs import forget_old_nonces

    hospital, _ = hospitals
    body = hospital.envelope("9001", {"opter_no": "1"}, key="signIn")
    assert hospital.post(body, nonce="kept-for-a-while")["infcode"] == 0
    clock.advance(minutes=9)
    assert forget_old_nonces(reference) == 0  # still within twice the window: kept
    assert hospital.post(body, nonce="kept-for-a-while")["err_code"] == "medical_nonce_replayed"
    clock.advance(minutes=2)
    assert forget_old_nonces(reference) >= 1
    # sent again now, the old request fails on its timestamp, not on a forgotten nonce
    stale = hospital.post(body, nonce="kept-for-a-while", now=clock.now() - timedelta(minutes=11))
    assert stale["err_code"] == "medical_timestamp_stale"


def test_a_rotated_secret_and_a_suspension_take_effect_at_the_next_message(hospitals, reference):
    """The door caches unsealed secrets per process by the sealed value it reads on every
    message: a rotation or a suspension is honoured at once, not after some cache expiry."""
    from tests.medical.conftest import OFFICE
    from yikatong.medical import service

    hospital, _ = hospitals
    hospital.sign_in()  # the old secret is now unsealed and cached
    old = hospital.secret
    with reference.uow() as uow:
        hospital.secret = service.issue_institution_secret(uow=uow, actor=OFFICE, code=CODE).secret
    stale = hospital.post(hospital.envelope("9001", {"opter_no": "1"}, key="signIn"), secret=old)
    assert (stale["infcode"], stale["err_code"]) == (env.SIGNATURE_REFUSED, "medical_signature_invalid")
    hospital.sign_in()  # the new secret verifies at once
    with reference.uow() as uow:
        service.set_institution_active(uow=uow, actor=OFFICE, code=CODE, active=False, reason="检查 / audit")
    suspended = hospital.send("9001", {"opter_no": "1"}, key="signIn")
    assert suspended["infcode"] != 0 and suspended["err_code"] == "medical_institution_inactive"
