"""A refusal of a choice names the valid choices and lists them in details.allowed."""

from __future__ import annotations

from yikatong.core.choices import MAX_ECHO, NotAChoice, expected_choices
from yikatong.directory.errors import UnknownBank


def test_not_a_choice_names_and_lists_the_choices():
    error = NotAChoice(
        what_zh="挂失类型", what_en="loss kind", value="forever", allowed=("temporary", "formal")
    )
    problem = error.to_problem()
    assert problem["status"] == 422 and problem["code"] == "invalid_input"
    assert problem["details"]["allowed"] == ["temporary", "formal"]
    assert "allowed_zh" not in problem["details"] and "allowed_en" not in problem["details"]
    assert error.message_en == "Invalid input: loss kind 'forever' is not one of: temporary, formal"
    assert error.message_zh == "输入有误：挂失类型“forever”无效，可选：temporary、formal"


def test_a_long_refused_value_is_cut_short_in_the_echo():
    error = NotAChoice(what_zh="渠道", what_en="channel", value="x" * 500, allowed=["a"])
    assert len(error.details["value"]) == MAX_ECHO


def test_a_domain_refusal_keeps_its_code_and_lists_the_choices():
    error = UnknownBank(bank_code="HSBC", allowed=["ICBC", "ABC"])
    assert error.code == "unknown_bank" and error.http_status == 422
    assert error.details == {"bank_code": "HSBC", "allowed": ["ICBC", "ABC"]}
    assert "ICBC, ABC" in error.message_en and "ICBC、ABC" in error.message_zh


def test_pydantic_expected_text_gives_the_choices():
    assert expected_choices("'pickup' or 'ems_cod'") == ["pickup", "ems_cod"]
    assert expected_choices("'a', 'b' or 'c'") == ["a", "b", "c"]
