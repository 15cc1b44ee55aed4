"""The e-card through its doors: the holder's API, the public status lists, keys and
verification (JSON and the HTML page), terminals redeeming codes, the operators' lookup."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from tests.ecard.conftest import PASSWORD, status_lists
from tests.pages.conftest import TOKEN_FIELD

from yikatong.core.actor import Role
from yikatong.crypto.sm2 import Sm2Verifier
from yikatong.ecard import status_list, web
from yikatong.ecard.rules import mask_name

pytestmark = pytest.mark.db


@pytest.fixture
def person(holder):
    return holder(consent=(), password=False)


def test_holder_consents_sets_a_password_and_shows_codes(client, login, person):
    me = login(Role.HOLDER, person_id=person.person_id)
    ecard = client.get("/api/v1/ecard/me", headers=me).json()
    assert ecard["state"] == "active" and ecard["card_no"] == person.card_no
    assert len(ecard["channels"]) == 14 and not any(c["usable"] for c in ecard["channels"])
    granted = client.post("/api/v1/ecard/me/channels/official_app/consent", headers=me).json()
    assert [c["code"] for c in granted["channels"] if c["usable"]] == ["official_app"]
    assert client.post("/api/v1/ecard/me/channels/nowhere/consent", headers=me).status_code == 422
    weak = client.put("/api/v1/ecard/me/password", headers=me, json={"new_password": "111111"})
    assert weak.status_code == 422 and "111111" not in weak.text
    answer = client.put("/api/v1/ecard/me/password", headers=me, json={"new_password": PASSWORD})
    assert answer.json()["password_set"] and PASSWORD not in answer.text

    wrong = client.post("/api/v1/ecard/qr", headers=me,
                        json={"channel": "official_app", "password": "000111"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "ecard_wrong_password"
    issued = client.post("/api/v1/ecard/qr", headers=me,
                         json={"channel": "official_app", "password": PASSWORD}).json()
    assert issued["token"].startswith("YKT1.") and issued["refresh_at"] < issued["expires_at"]
    png = client.get("/api/v1/ecard/qr.png", params={"channel": "official_app"}, headers=me)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["cache-control"] == "no-store"
    assert Image.open(io.BytesIO(png.content)).size[0] >= 6 * 25  # at least version 2, 6 px
    svg = client.get("/api/v1/ecard/qr.svg", params={"channel": "official_app"}, headers=me)
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    no_session = client.get("/api/v1/ecard/qr.png", params={"channel": "wechat_mini"}, headers=me)
    assert no_session.status_code == 403 and no_session.json()["code"] == "ecard_refused"

    shown = client.post("/api/v1/ecard/verify", json={"token": issued["token"]}).json()
    assert shown["valid"] and shown["name_masked"] == mask_name(person.applicant.name)
    assert person.applicant.document_number not in str(shown)
    counter = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    body = {"token": issued["token"], "business": "hospital_registration", "terminal_id": "T1"}
    assert client.post("/api/v1/ecard/redeem", headers=counter, json=body).json()["used"]
    again = client.post("/api/v1/ecard/redeem", headers=counter, json=body)
    assert again.status_code == 422 and again.json()["details"]["reason"] == "replayed"
    assert client.post("/api/v1/ecard/redeem", headers=me, json=body).status_code == 403

    client.delete("/api/v1/ecard/me/channels/official_app/consent", headers=me)
    refused = client.post("/api/v1/ecard/qr", headers=me,
                          json={"channel": "official_app", "password": PASSWORD})
    assert refused.status_code == 403 and refused.json()["details"]["reason"] == "no_consent"


def test_reauthorise_through_the_api_after_a_loss(client, login, holder):
    from yikatong.cards import service as cards

    person = holder()
    me = login(Role.HOLDER, person_id=person.person_id)
    person.card_op(cards.report_loss, kind="temporary_loss")
    refused = client.post("/api/v1/ecard/qr", headers=me,
                          json={"channel": "official_app", "password": PASSWORD})
    assert refused.json()["details"]["reason"] == "needs_reauthorisation"
    lost = client.get("/api/v1/ecard/me", headers=me).json()
    assert not lost["usable"] and lost["reason"] == "card_lost" and "re-authorise" in lost["state_en"]
    assert lost["next_step_en"] == "re-authorise on the channel you use" and lost["next_step_zh"]
    person.platform.clock.advance(seconds=1)
    done = client.post("/api/v1/ecard/me/channels/official_app/reauthorise", headers=me,
                       json={"password": PASSWORD}).json()
    assert done["state"] == "restricted" and done["channels"][0]["usable"]
    # what the holder reads: usable, not "re-authorise" again
    view = client.get("/api/v1/ecard/me", headers=me).json()
    assert view["usable"] and view["reason"] == "reauthorised"
    assert "re-authorise)" not in view["state_en"] and "usable" in view["state_en"]
    assert "需重新授权" not in view["state_zh"] and "可以使用" in view["state_zh"]
    assert view["next_step_en"] == view["next_step_zh"] == ""
    assert client.get("/api/v1/ecard/qr.png", params={"channel": "official_app"},
                      headers=me).status_code == 200


def test_status_lists_are_public_signed_and_cacheable(client, person):
    keys = client.get("/api/v1/ecard/keys").json()
    assert keys and keys[0]["algorithm"] == "SM2" and "private" not in str(keys).lower()
    verifiers = {k["key_version"]: Sm2Verifier(k["public_key_hex"]) for k in keys}
    answer = client.get("/api/v1/ecard/status/revocation")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=60"
    credential = answer.json()
    assert credential["credentialSubject"]["statusPurpose"] == "revocation"
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    now = person.platform.clock.now()
    assert status_list.verify_credential(credential, verifiers, now)
    assert not status_list.bit_is_set(credential["credentialSubject"]["encodedList"],
                                      person.ecard().status_index)
    etag = answer.headers["etag"]
    cached = client.get("/api/v1/ecard/status/revocation", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and not cached.content
    assert client.get("/api/v1/ecard/status/everything").status_code == 422


def test_public_verification_page_shows_only_masked_data(client, platform, holder):
    from yikatong.crypto.sm2 import Sm2Signer, generate_keypair
    from yikatong.ecard.tokens import issue_token, read_genuine

    client.app.include_router(web.router)  # the lead mounts it at the site root
    person = holder()
    form = client.get("/ecard/verify")
    assert form.status_code == 200 and "电子社保卡二维码验证" in form.text and "<form" in form.text
    token = person.qr()
    csrf = TOKEN_FIELD.search(form.text).group(1)  # the form's own token (pages.sessions)
    page = client.post("/ecard/verify", data={"csrf_token": csrf, "token": token})
    html = page.text
    assert page.status_code == 200 and "真实有效" in html  # the reader's language: Chinese first
    assert mask_name(person.applicant.name) in html
    ssn = person.applicant.document_number
    assert ssn[:6] + "********" + ssn[-4:] in html
    assert person.applicant.name not in html and ssn not in html and ssn[6:14] not in html
    assert person.ecard().ecard_no not in html
    from yikatong.crypto.protocols import KeyStore
    from yikatong.ecard import service

    claims = read_genuine(token, service.verifiers(platform.get(KeyStore)))
    forged = issue_token(Sm2Signer(generate_keypair()[0]), claims)
    bad = client.post("/ecard/verify", data={"csrf_token": csrf, "token": forged}).text
    assert "无效" in bad and "forged" not in html and person.applicant.name[0] + "*" not in bad
    assert client.post("/ecard/verify", data={"csrf_token": csrf, "token": "<script>alert(1)</script>"}).text.count(
        "<script>alert") == 0  # escaped, never echoed raw


def test_operators_look_an_ecard_up(client, login, person):
    admin = login(Role.ADMIN)
    by_ssn = client.get("/api/v1/ecard/lookup", headers=admin,
                        params={"ssn": person.applicant.document_number})
    assert by_ssn.status_code == 200 and by_ssn.json()["ecard_no"] == person.ecard().ecard_no
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    by_card = client.get("/api/v1/ecard/lookup", headers=outlet, params={"card_no": person.card_no})
    assert by_card.json()["person_id"] == person.person_id
    holder = login(Role.HOLDER, person_id=person.person_id)
    assert client.get("/api/v1/ecard/lookup", headers=holder,
                      params={"card_no": person.card_no}).status_code == 403
    assert client.get("/api/v1/ecard/lookup", headers=admin,
                      params={"card_no": "Z99999999"}).status_code == 404
    nobody = login(Role.HOLDER, person_id=987654)
    assert client.get("/api/v1/ecard/me", headers=nobody).status_code == 404
    assert status_lists(person.platform)  # the lists exist once e-cards do


def test_an_unknown_channel_lists_the_channels(client, login, person):
    me = login(Role.HOLDER, person_id=person.person_id)
    refused = client.post("/api/v1/ecard/me/channels/wechat_pay/consent", headers=me)
    problem = refused.json()
    assert refused.status_code == 422 and problem["code"] == "ecard_unknown_channel"
    channels = [c["code"] for c in client.get("/api/v1/ecard/channels").json()]
    assert problem["details"]["allowed"] == channels and "official_app" in channels
    assert all(code in problem["title_en"] and code in problem["title"] for code in channels)
