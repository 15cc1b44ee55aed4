"""The holder's sign-up pages: the code asked with the same answer whether or not on file,
then the sign-up through the binding service; signed up, the holder is signed in."""

from __future__ import annotations

import pytest

from tests.binding.conftest import PASSWORD, PHONE, counts, delivered, last_code
from tests.pages.conftest import TOKEN_FIELD, page_client  # noqa: F401 - the fixture

pytestmark = pytest.mark.db

NOT_ON_FILE = "320402199001010011"


def ask_code(client, name: str, id_number: str, **headers):
    token = TOKEN_FIELD.search(client.get("/signup").text).group(1)
    return client.post("/signup/code", headers=headers, follow_redirects=False,
                       data={"csrf_token": token, "name": name, "id_number": id_number})


def sign_up(client, applicant, code: str, username: str = "wang-page", password: str = PASSWORD):
    token = TOKEN_FIELD.search(client.get("/signup").text).group(1)
    return client.post("/signup", follow_redirects=False, data={
        "csrf_token": token, "name": applicant.name, "id_number": applicant.document_number,
        "code": code, "username": username, "password": password})


def test_a_holder_signs_up_with_the_texted_code_and_is_signed_in(platform, page_client, person):  # noqa: F811
    applicant, app = person()
    client = page_client()
    asked = ask_code(client, applicant.name, applicant.document_number)
    assert asked.status_code == 303 and asked.headers["location"] == "/signup?sent=1"
    assert "验证码已发送至该手机号" in client.get(asked.headers["location"]).text
    created = sign_up(client, applicant, last_code(platform, PHONE))
    assert created.status_code == 303 and created.headers["location"] == "/me"
    assert client.get("/me", follow_redirects=False).status_code == 200  # signed in


def test_the_answer_is_the_same_whether_or_not_on_file(platform, page_client, person):  # noqa: F811
    applicant, _ = person()
    client = page_client()
    on_file = ask_code(client, applicant.name, applicant.document_number, **{"HX-Request": "true"})
    stranger = ask_code(client, "王小明", NOT_ON_FILE, **{"HX-Request": "true"})
    assert on_file.status_code == stranger.status_code == 200
    assert on_file.text == stranger.text and "<html" not in on_file.text  # the note alone
    assert len(delivered(platform)) == 1  # only the real holder's request texted anyone


def test_a_wrong_code_is_refused_on_the_form_and_creates_no_login(platform, page_client, person):  # noqa: F811
    applicant, _ = person()
    client = page_client()
    ask_code(client, applicant.name, applicant.document_number)
    code = last_code(platform, PHONE)
    wrong = "000000" if code != "000000" else "111111"
    users_before = counts(platform)[0]
    refused = sign_up(client, applicant, wrong)
    assert refused.status_code in (400, 403, 422) and 'role="alert"' in refused.text
    assert applicant.name in refused.text  # the form keeps what was typed, not the password
    assert PASSWORD not in refused.text
    assert counts(platform)[0] == users_before


def test_an_incomplete_form_is_refused_with_words(page_client):  # noqa: F811
    client = page_client()
    token = TOKEN_FIELD.search(client.get("/signup").text).group(1)
    refused = client.post("/signup/code", data={"csrf_token": token, "name": "", "id_number": "1"})
    assert refused.status_code == 422 and "身份证号码" in refused.text
