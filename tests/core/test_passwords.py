"""The password policy: 12+ characters and a zxcvbn score of 3+, refusals that say why."""

import pytest

from yikatong.auth import rules

# (password, user inputs, accepted)
CASES = [
    ("Tianning-lantern-47", (), True),
    ("plum-rain-Tianning-4711", ("admin-1",), True),
    ("Xq7-short", (), False),                       # 9 characters
    ("password1234", (), False),                    # common
    ("qwertyuiop123", (), False),                   # keyboard run
    ("wangxiaoming1990", ("wangxiaoming", "王晓明"), False),  # the username plus a year
    ("changzhou2026", (), False),                   # the city and a year
    ("abcabcabcabcabc", (), False),                 # repeats
    ("a" * 129, (), False),                         # over the maximum
]


@pytest.mark.parametrize("password, user_inputs, accepted", CASES)
def test_password_policy(password, user_inputs, accepted):
    verdict = rules.password_verdict(password, user_inputs=user_inputs)
    assert (verdict is None) == accepted, verdict


def test_a_refusal_says_why_in_both_languages():
    short = rules.password_verdict("Xq7-short")
    assert "12" in short.reason_zh and "12 characters" in short.reason_en
    common = rules.password_verdict("password1234")
    assert "容易被猜中" in common.reason_zh and "too easy to guess" in common.reason_en
    assert "very common password" in common.reason_en  # zxcvbn's own feedback is passed on


def test_only_a_bounded_prefix_is_scored():
    """A long password is scored on its head (zxcvbn's time grows with length)."""
    strong_head = "plum-rain-Tianning-4711" + "a" * 100
    assert rules.password_verdict(strong_head) is None
    weak_head = "a" * 70 + "plum-rain-Tianning-4711"
    assert rules.password_verdict(weak_head) is not None


@pytest.mark.db
def test_a_weak_password_is_refused_through_the_api_and_nothing_is_added(client, login):
    admin = login(rules.Role.ADMIN)
    response = client.post("/api/v1/auth/users", headers=admin, json={
        "username": "zhang-teller", "password": "zhang-teller1", "role": "ss_outlet_operator"})
    body = response.json()
    assert response.status_code == 422 and body["code"] == "weak_password"
    assert "密码强度不够" in body["title"] and "too weak" in body["title_en"]
    again = client.post("/api/v1/auth/token", data={"username": "zhang-teller", "password": "zhang-teller1"})
    assert again.status_code == 401
