"""The national-platform envelope and the request signature, pure: parsing and checking the
request, building the answer, the HMAC header scheme and the SM3 body signature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.medical import envelope as env

NOW = datetime(2026, 12, 4, 2, 30, tzinfo=UTC)  # 10:30 in Beijing
CODE = "H32040200001"
SECRET = "s3cret-of-the-hospital"


def message(**changes) -> dict:
    body = {"infno": "2207", "msgid": f"{CODE}202612041030000001", "mdtrtarea_admvs": "320400",
            "insuplc_admdvs": "320402", "recer_sys_code": "YKT", "dev_no": "", "dev_safe_info": "",
            "cainfo": "", "signtype": "", "infver": "V1.0", "opter_type": "1", "opter": "001",
            "opter_name": "收费员甲", "inf_time": "2026-12-04 10:30:00", "fixmedins_code": CODE,
            "fixmedins_name": "常州市第一人民医院", "sign_no": "x", "input": {"data": {"a": 1}}}
    body.update(changes)
    return body


def test_a_whole_envelope_parses_with_its_times_in_beijing():
    parsed = env.parse_envelope(message())
    assert parsed.infno == "2207" and parsed.input == {"data": {"a": 1}}
    assert parsed.inf_time == NOW
    assert parsed.msg_time == NOW
    assert parsed.opter_name == "收费员甲"


@pytest.mark.parametrize("msgid, reason", [
    (f"{CODE}20261204103000001", "30 characters"),                 # 29
    ("H32040200002202612041030000001", "fixmedins_code"),          # another institution
    (f"{CODE}2026120410300A0001", "digits"),
    (f"{CODE}202613041030000001", "invalid time"),                  # month 13
    (f"{CODE}20261204103000000１", "digits"),                        # a full-width digit
])
def test_a_msgid_must_be_the_institutions_code_a_time_and_a_sequence(msgid, reason):
    with pytest.raises(env.EnvelopeInvalid) as refused:
        env.parse_envelope(message(msgid=msgid))
    assert reason in refused.value.message_en and refused.value.infcode == env.MALFORMED


@pytest.mark.parametrize("changes, field", [
    ({"infno": None}, "infno"), ({"infno": "22O7"}, "infno"),
    ({"fixmedins_code": "h3204", "msgid": "h3204"}, "fixmedins_code"),
    ({"mdtrtarea_admvs": "32040"}, "mdtrtarea_admvs"), ({"insuplc_admdvs": "abcdef"}, "insuplc_admdvs"),
    ({"signtype": "RSA"}, "signtype"), ({"opter_type": "7"}, "opter_type"),
    ({"inf_time": "04/12/2026"}, "inf_time"), ({"input": [1]}, "input"),
    ({"opter": {"x": 1}}, "opter"), ({"opter_name": "名" * 201}, "opter_name"),
])
def test_a_malformed_envelope_names_its_field(changes, field):
    with pytest.raises(env.EnvelopeInvalid) as refused:
        env.parse_envelope(message(**changes))
    assert field in refused.value.message_en


def test_a_body_that_is_no_object_is_malformed():
    with pytest.raises(env.EnvelopeInvalid):
        env.parse_envelope(["infno"])  # type: ignore[arg-type]


def test_numbers_where_the_platform_writes_text_are_taken_as_text():
    parsed = env.parse_envelope(message(opter_type=1, infno=2207, input=None))
    assert (parsed.opter_type, parsed.infno, parsed.input) == ("1", "2207", {})


def test_a_success_answer_carries_the_output_and_a_stable_reference():
    parsed = env.parse_envelope(message())
    first = env.success(parsed, {"setlinfo": {"medfee_sumamt": "1.00"}}, received=NOW,
                        answered=NOW + timedelta(milliseconds=30))
    assert first["infcode"] == 0 and first["err_msg"] == "" and first["output"]["setlinfo"]
    assert first["refmsg_time"] == "2026-12-04 10:30:00"
    assert len(first["inf_refmsgid"]) == 30 and first["inf_refmsgid"].startswith("32040020261204103000")
    again = env.success(parsed, {}, received=NOW, answered=NOW)
    assert again["inf_refmsgid"] == first["inf_refmsgid"]
    other = env.success(env.parse_envelope(message(msgid=f"{CODE}202612041030000002")), {},
                        received=NOW, answered=NOW)
    assert other["inf_refmsgid"] != first["inf_refmsgid"]


@pytest.mark.parametrize("error, infcode", [
    (env.SignatureInvalid(), env.SIGNATURE_REFUSED), (env.NotSignedIn(), env.NOT_SIGNED_IN),
    (env.UnknownInfno(infno="9999"), env.MALFORMED), (NotFound(what="x"), env.REFUSED),
    (Conflict(), env.REFUSED), (InvalidInput(reason_zh="甲", reason_en="a"), env.MALFORMED),
    (RuntimeError("boom"), env.INTERNAL),
])
def test_a_refusal_answers_a_non_zero_infcode_with_both_languages_and_its_code(error, infcode):
    answer = env.failure(env.parse_envelope(message()), error, received=NOW, answered=NOW)
    assert answer["infcode"] == infcode and answer["output"] == {}
    if isinstance(error, RuntimeError):
        assert answer["err_code"] == "internal_error" and "boom" not in answer["err_msg"]
    else:
        assert answer["err_code"] == error.code
        assert answer["err_msg"] == f"{error.message_zh} / {error.message_en}"


def headers(**changes) -> env.SignatureHeaders:
    sent = env.signed_headers(paasid=CODE, secret=SECRET, nonce="n0nce-0001", now=NOW)
    sent.update(changes)
    return env.SignatureHeaders.of(sent)


def test_the_header_signature_is_sha256_of_timestamp_secret_nonce_timestamp():
    import hashlib

    timestamp = str(int(NOW.timestamp()))
    assert env.header_signature(timestamp=timestamp, secret=SECRET, nonce="abc") == \
        hashlib.sha256(f"{timestamp}{SECRET}abc{timestamp}".encode()).hexdigest()
    env.verify_headers(headers(), secret=SECRET, now=NOW)
    upper = headers()
    env.verify_headers(env.SignatureHeaders(upper.paasid, upper.timestamp, upper.nonce,
                                            upper.signature.upper()), secret=SECRET, now=NOW)


def test_a_wrong_secret_or_an_altered_header_is_refused():
    with pytest.raises(env.SignatureInvalid):
        env.verify_headers(headers(), secret="another", now=NOW)
    with pytest.raises(env.SignatureInvalid):
        env.verify_headers(headers(**{"x-tif-nonce": "n0nce-0002"}), secret=SECRET, now=NOW)
    later = str(int(NOW.timestamp()) + 1)
    with pytest.raises(env.SignatureInvalid):
        env.verify_headers(headers(**{"x-tif-timestamp": later}), secret=SECRET, now=NOW)
    for bad in ("12.5", "-1", "1" * 13, "１２"):
        with pytest.raises(env.SignatureInvalid):
            env.verify_headers(headers(**{"x-tif-timestamp": bad}), secret=SECRET, now=NOW)
    for nonce in ("short", "has space 123", "x" * 65):
        with pytest.raises(env.SignatureInvalid):
            env.verify_headers(headers(**{"x-tif-nonce": nonce}), secret=SECRET, now=NOW)


@pytest.mark.parametrize("header", ["x-tif-paasid", "x-tif-timestamp", "x-tif-nonce",
                                    "x-tif-signature"])
def test_each_missing_header_is_named(header):
    with pytest.raises(env.SignatureMissing) as refused:
        env.verify_headers(headers(**{header: ""}), secret=SECRET, now=NOW)
    assert header in refused.value.message_en


@pytest.mark.parametrize("skew, stale", [(timedelta(minutes=5), False), (timedelta(minutes=-5), False),
                                         (timedelta(minutes=5, seconds=1), True),
                                         (timedelta(minutes=-5, seconds=-1), True)])
def test_a_timestamp_more_than_five_minutes_from_the_clock_is_stale(skew, stale):
    if stale:
        with pytest.raises(env.TimestampStale):
            env.verify_headers(headers(), secret=SECRET, now=NOW + skew)
    else:
        env.verify_headers(headers(), secret=SECRET, now=NOW + skew)


def test_the_sm3_body_signature_covers_every_field_but_cainfo():
    body = message(signtype="SM3")
    body["cainfo"] = env.body_signature(body, secret=SECRET)
    assert len(body["cainfo"]) == 64
    env.verify_body(body, secret=SECRET)
    with pytest.raises(env.SignatureInvalid):
        env.verify_body({**body, "input": {"data": {"a": 2}}}, secret=SECRET)
    with pytest.raises(env.SignatureInvalid):
        env.verify_body(body, secret="another")
    with pytest.raises(env.SignatureMissing):
        env.verify_body({**body, "cainfo": ""}, secret=SECRET)
    env.verify_body(message(cainfo="anything"), secret=SECRET)  # no SM3: nothing to verify
    # key order and spacing do not matter: the canonical form is signed
    reordered = dict(reversed(list(body.items())))
    env.verify_body(reordered, secret=SECRET)
