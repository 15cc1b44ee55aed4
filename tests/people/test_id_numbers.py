"""Identity numbers: every vector of domain-rules.md §1, malformed numbers, Hypothesis."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.people import errors
from yikatong.people.rules import (
    age_on,
    check_agreement,
    classify_id_number,
    mask_ssn,
    upgrade_legacy_15,
)
from yikatong.people.samples import make_citizen_ssn, make_foreign_pr_2023

TODAY = date(2026, 3, 2)
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def oracle_check_char(body17: str) -> str:
    """GB 11643 as the standard writes it (weighted sum, lookup table): an independent oracle."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True)) % 11]


# (number, kind, birth date, gender, region code, warnings) — from domain-rules.md §1.
VALID = [
    ("320402199003070013", "citizen", date(1990, 3, 7), "M", "320402", []),
    ("32040419851120002X", "citizen", date(1985, 11, 20), "F", "320404", []),
    ("320411200106150034", "citizen", date(2001, 6, 15), "M", "320411", []),
    # python-stdnum rejects these two: the county code is younger than the holder.
    ("320412197801010043", "citizen", date(1978, 1, 1), "F", "320412", []),
    ("32041320160229005X", "citizen", date(2016, 2, 29), "M", "320413", []),  # leap day
    ("320481195505050060", "citizen", date(1955, 5, 5), "F", "320481", []),
    ("11010519491231002X", "citizen", date(1949, 12, 31), "F", "110105", []),  # GB 11643 App. A
    ("810000199501010015", "hk_permit", date(1995, 1, 1), "M", "810000", []),  # stdnum rejects
    ("810000200001011236", "hk_permit", date(2000, 1, 1), "M", "810000", []),
    ("830000198808080025", "tw_permit", date(1988, 8, 8), "F", "830000", []),  # stdnum rejects
    ("932156199001010015", "foreign_pr_2023", date(1990, 1, 1), "M", None, []),
    ("USA123456789012", "foreign_pr_2017", None, None, None, ["foreign_pr_2017_unverified"]),
    ("320402900307001", "citizen", date(1990, 3, 7), "M", "320402", ["legacy_15_digit"]),
    ("E12345678", "other", None, None, None, []),  # a passport number
]


@pytest.mark.parametrize(("number", "kind", "birth", "gender", "region", "warnings"), VALID)
def test_valid_numbers_are_classified(number, kind, birth, gender, region, warnings):
    info = classify_id_number(number, today=TODAY)
    assert (info.kind, info.birth_date, info.gender, info.region_code, info.warnings) == (
        kind, birth, gender, region, warnings)


def test_historical_changzhou_codes_are_accepted_and_named():
    for region, name in [("320405", "戚墅堰区"), ("320421", "武进县"), ("320482", "金坛市")]:
        body = f"{region}19800101002"
        info = classify_id_number(body + oracle_check_char(body), today=TODAY)
        assert info.warnings == [] and name in info.region_name


@pytest.mark.parametrize(("region", "name"), [
    ("110105", "北京市朝阳区"), ("441900", "广东省东莞市"), ("650102", "新疆维吾尔自治区乌鲁木齐市天山区"),
    ("320411", "江苏省常州市新北区（原郊区）"),  # renamed in 2002: one code, both names
    ("500101", "重庆市万州区（原万县区）"),
])
def test_valid_numbers_from_anywhere_in_china_are_named_without_a_warning(region, name):
    """The national division codes (python-stdnum's cn/loc), not a Jiangsu-only table: a
    valid number from outside Jiangsu warned "unknown region"."""
    body = f"{region}19800101002"
    info = classify_id_number(body + oracle_check_char(body), today=TODAY)
    assert (info.warnings, info.region_name) == ([], name)


def test_unknown_county_is_a_warning_not_a_rejection():
    body = "32049919800101001"  # Changzhou has no county 99
    info = classify_id_number(body + oracle_check_char(body), today=TODAY)
    assert info.kind == "citizen" and info.warnings == ["unknown_region_code"]
    assert info.region_name == "江苏省常州市"


def test_macao_permit_prefix():
    body = "82000019990909002"
    info = classify_id_number(body + oracle_check_char(body))
    assert (info.kind, info.gender) == ("mo_permit", "F")


def test_lower_case_x_and_spaces_are_normalised():
    assert classify_id_number(" 32040419851120002x ").number == "32040419851120002X"


def test_legacy_15_digit_upgrade_matches_the_18_digit_vector():
    assert upgrade_legacy_15("320402900307001") == "320402199003070013"


def _with_check(body17: str) -> str:
    return body17 + oracle_check_char(body17)


INVALID = [
    ("320402199003070014", "check character"),                 # wrong check digit
    ("32040419851120002 1", "check character"),
    (_with_check("32040219990229001"), "does not exist"),       # 1999 is not a leap year
    (_with_check("32040220230230001"), "does not exist"),       # 30 February
    (_with_check("32040220300101001"), "future"),               # born after TODAY
    (_with_check("32040218800101001"), "implausible"),
    (_with_check("00040219900307001"), "province"),
    (_with_check("81000119950101001"), "810000"),               # permits use 0000 only
    ("32040219900307001", "length"),                            # 17 digits
    ("3204021990030700131", "length"),                          # 19 digits
    ("3204021990030700@3", "characters"),
    ("", "empty"),
    ("000000000000000", "province"),                            # legacy 15, no province 00
    # Python's \d also matches other scripts' digits; an ID number is ASCII digits only, or
    # the same number could be recorded twice under two spellings.
    ("ABC" + "１" * 12, "characters"),                          # fullwidth 2017 PR number
    ("9" + "\u0663" * 16 + "X", "characters"),                  # Arabic-Indic 2023 PR number
    ("\u0663\u0662" + "0402199003070013", "characters"),
]


@pytest.mark.parametrize(("number", "reason"), INVALID)
def test_malformed_numbers_are_refused_with_a_reason(number, reason):
    with pytest.raises(errors.InvalidIdNumber) as caught:
        classify_id_number(number, today=TODAY)
    assert reason in caught.value.message_en and caught.value.message_zh
    assert caught.value.http_status == 422


def test_future_birth_is_only_checked_when_today_is_given():
    number = _with_check("32040220300101001")
    assert classify_id_number(number).birth_date == date(2030, 1, 1)


def test_birth_date_and_gender_must_agree_with_the_number():
    info = classify_id_number("320402199003070013")
    check_agreement(info, birth_date=date(1990, 3, 7), gender="M")
    with pytest.raises(errors.IdNumberMismatch, match="birth date"):
        check_agreement(info, birth_date=date(1990, 3, 8), gender="M")
    with pytest.raises(errors.IdNumberMismatch, match="gender"):
        check_agreement(info, birth_date=date(1990, 3, 7), gender="F")


def test_mask_ssn():
    assert mask_ssn("320402199003070013") == "320402********0013"
    assert mask_ssn("USA123456789012") == "USA123*****9012"
    assert mask_ssn(None) == ""


def test_age_counts_completed_years_and_leap_day_birthdays():
    leapling = date(2016, 2, 29)
    assert age_on(leapling, date(2023, 2, 28)) == 6
    assert age_on(leapling, date(2023, 3, 1)) == 7
    assert age_on(date(1990, 3, 7), date(2026, 3, 6)) == 35


regions = st.sampled_from(["320402", "320404", "320405", "320411", "320412", "320413",
                           "320421", "320481", "110105", "440305", "810000", "820000",
                           "830000"])
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
genders = st.sampled_from("MF")


@settings(max_examples=150, deadline=None)
@given(region=regions, birth=births, gender=genders, seq=st.integers(0, 499))
def test_every_generated_number_passes_and_agrees(region, birth, gender, seq):
    number = make_citizen_ssn(region, birth, gender, seq=seq * 2 + (gender == "M"))
    assert number[-1] == oracle_check_char(number[:17])
    info = classify_id_number(number, today=TODAY)
    assert (info.birth_date, info.gender, info.region_code) == (birth, gender, region)


@settings(max_examples=150, deadline=None)
@given(birth=births, gender=genders, position=st.integers(0, 17), data=st.data())
def test_any_single_character_change_is_caught_by_the_checksum(birth, gender, position, data):
    maker = data.draw(st.sampled_from([make_citizen_ssn, make_foreign_pr_2023]))
    seq = data.draw(st.integers(0, 499)) * 2 + (gender == "M")
    number = maker(birth=birth, gender=gender, seq=seq)
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1:]
    with pytest.raises(errors.InvalidIdNumber, match="check character"):
        classify_id_number(changed, today=TODAY)
