import logging

from yikatong.api.logging import MaskIdentityNumbers, mask_identity_numbers


def test_request_lines_lose_identity_numbers():
    line = 'GET /api/v1/people?ssn=320402199003070013&x=32040419851120002X HTTP/1.1'
    masked = mask_identity_numbers(line)
    assert "320402199003070013" not in masked and "32040419851120002X" not in masked
    assert "320402********0013" in masked and "320404********002X" in masked


def test_card_numbers_and_amounts_are_left_alone():
    text = "card X00000019 paid 1900 fen; pan 6217000000000000004 stays for the bank"
    assert mask_identity_numbers("card X00000019 paid 1900 fen") == "card X00000019 paid 1900 fen"
    assert "6217000000000000004" in mask_identity_numbers(text)  # 19 digits: not an ID number


def test_filter_masks_uvicorn_style_arguments():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET",
                               "/api/v1/ecard/lookup?ssn=810000199501010015", "1.1", 200), None)
    MaskIdentityNumbers().filter(record)
    assert "810000199501010015" not in record.getMessage()


def test_a_number_right_after_a_percent_escape_is_masked_too():
    line = "GET /api/fhir/r4b/Coverage?identifier=https%3A%2F%2Fx%2Fsid%2Fid-number%7C320402199003070013"
    assert "320402199003070013" not in mask_identity_numbers(line)
    assert mask_identity_numbers("amount%2012345678901234567890") == "amount%2012345678901234567890"
