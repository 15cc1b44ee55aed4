"""Lists in a before/after image: a list of plain strings takes one scan (a batch's audit
record names 50,000 row references), and an ID-like number in any of them is still masked."""

from yikatong.api.logging import may_hold_identity_numbers
from yikatong.audit.rules import without_personal_data


def test_a_list_of_plain_strings_is_kept_as_a_new_list():
    refs = ("pension:2026-12:1:1", "pension:2026-12:123456789012:1"[:25], "")
    kept = without_personal_data({"rows": refs})
    assert kept == {"rows": list(refs)} and type(kept["rows"]) is list


def test_an_identity_number_in_any_string_of_a_list_is_masked():
    refs = ["pension:2026-12:1:1", "paid 320402199003070013", "x"]
    assert without_personal_data(refs) == ["pension:2026-12:1:1", "paid 320402********0013", "x"]


def test_no_number_is_made_across_two_strings_of_a_list():
    # 6 + 12 digits joined would be an ID number; apart they are not masked
    assert without_personal_data(["a 320402", "199003070013 b"]) == ["a 320402", "199003070013 b"]


def test_mixed_lists_are_masked_item_by_item():
    image = [["pension:2026-12:7:1", "account_closed"], {"name": "张三"}, "320402199003070013"]
    assert without_personal_data(image) == [["pension:2026-12:7:1", "account_closed"],
                                            {"name": "张*"}, "320402********0013"]


def test_twelve_digits_in_a_row_are_what_every_identity_number_holds():
    assert not may_hold_identity_numbers("card X00000019 paid 1900 fen 12345678901")
    assert may_hold_identity_numbers("abc123456789012")
    assert may_hold_identity_numbers("32040419851120002X")
