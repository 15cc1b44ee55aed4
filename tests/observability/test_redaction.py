"""The log masker (observability.redaction): an identity number with a valid check character
and an 11-digit mobile number never survive, in any encoding tested here, wherever they stand
in a line; what is neither stays as it was. The survivors are looked for with decoders of the
standard library, not with the masker's own."""

from __future__ import annotations

import base64
import html
import json
import re
import string
import unicodedata
import urllib.parse
from datetime import date

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from yikatong.observability.redaction import MASKED_BASE64, REDACTED, id_check_character, mask

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def identity_numbers(draw) -> str:
    region = draw(st.integers(110000, 829999))
    born = draw(st.dates(date(1900, 1, 1), date(2026, 12, 31)))
    first17 = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + id_check_character(first17)


mobiles = st.builds(lambda second, rest: f"1{second}{rest:09d}",
                    st.sampled_from("3456789"), st.integers(0, 999_999_999))
numbers = st.one_of(identity_numbers(), mobiles)

SEPARATORS = [" ", "-", "\u3000", "－", "\u2014", "+", "  ", " -"]
SCRIPTS = [0xFF10, 0x0660, 0x0966, 0x1D7CE, 0x09E6]  # full-width, Arabic-Indic, Devanagari, bold, Bengali


def in_script(number: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else ("Ｘ" if zero == 0xFF10 else c) for c in number)


def every_char_percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def json_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


@st.composite
def grouped(draw, number: str) -> str:
    out, position = [], 0
    while position < len(number):
        size = draw(st.integers(1, 6))
        out.append(number[position:position + size])
        position += size
    separators = [draw(st.sampled_from(SEPARATORS)) for _ in out[1:]]
    return out[0] + "".join(s + g for s, g in zip(separators, out[1:], strict=True))


def b64(text: str, urlsafe: bool, padded: bool) -> str:
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(text.encode()).decode()
    return encoded if padded else encoded.rstrip("=")


@st.composite
def encoded(draw) -> tuple[str, str]:
    """(the number, a line holding it in one encoding)."""
    number = draw(numbers)
    kind = draw(st.sampled_from([
        "plain", "grouped", "script", "percent", "percent_script", "double_percent", "url",
        "json_script", "json_escaped", "json_in_json", "html", "base64", "base64_json",
        "base64_percent", "country_code"]))
    script = draw(st.sampled_from(SCRIPTS))
    if kind == "plain":
        form = number
    elif kind == "grouped":
        form = draw(grouped(number))
    elif kind == "script":
        form = in_script(number, script)
    elif kind == "percent":
        form = every_char_percent(number)
    elif kind == "percent_script":
        form = every_char_percent(in_script(number, script))
    elif kind == "double_percent":
        form = every_char_percent(number).replace("%", "%25")
    elif kind == "url":
        form = "https://ykt.example/api?" + urllib.parse.urlencode({"q": "手机 " + number, "x": "y"})
    elif kind == "json_script":
        form = json.dumps({"phone": in_script(number, script)})
    elif kind == "json_escaped":
        form = '{"v": "' + json_escaped(number) + '"}'
    elif kind == "json_in_json":
        form = json.dumps(json.dumps({"id": in_script(number, script)}))
    elif kind == "html":
        form = "".join(f"&#{ord(c)};" for c in number)
    elif kind == "base64":
        form = b64(number, draw(st.booleans()), draw(st.booleans()))
    elif kind == "base64_json":
        form = b64(json.dumps({"holder": {"mobile": number}}), draw(st.booleans()), draw(st.booleans()))
    elif kind == "base64_percent":
        form = urllib.parse.quote(b64("id=" + number, False, True), safe="")
    else:
        form = draw(st.sampled_from(["+86", "0086", "86"])) + draw(st.sampled_from(["", " ", "-"])) + number
        if len(number) == 18:
            form = number
    context = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=15)
    before = draw(context) + draw(st.sampled_from([" ", "/", "?q=", "\n", "，", '"', ":"]))
    after = draw(st.sampled_from([" ", "&", "\n", "。", '"', ",", "/"])) + draw(context)
    return number, before + form + after


def views(text: str, depth: int = 0) -> list[str]:
    """`text` through the standard library's decoders, separators dropped, digits made ASCII;
    and the same of every base64 token in it."""
    decoded = urllib.parse.unquote(urllib.parse.unquote(text))
    decoded = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), decoded)
    decoded = decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # pairs joined
    decoded = html.unescape(decoded)
    decoded = "".join(str(unicodedata.decimal(c)) if unicodedata.category(c) == "Nd" else c
                      for c in unicodedata.normalize("NFKC", decoded))
    found = [re.sub(r"[\s+\-\u2010-\u2015－]", "", decoded).upper()]
    if depth < 2:
        for token in re.findall(r"[A-Za-z0-9+/_-]{8,}=*", decoded):
            for part in [token, *re.split(r"[/+_-]", token)]:
                body = part.rstrip("=").replace("-", "+").replace("_", "/")
                try:
                    inner = base64.b64decode(body + "=" * (-len(body) % 4)).decode("utf-8", "replace")
                except ValueError:
                    continue
                found.extend(views(inner, depth + 1))
    return found


@SETTINGS
@given(encoded())
def test_no_identity_or_mobile_number_survives_in_any_tested_encoding(case):
    number, line = case
    assert any(number.upper() in view for view in views(line))  # the test's decoders see it
    masked = mask(line)
    assert not any(number.upper() in view for view in views(masked)), (line, masked)


@SETTINGS
@given(st.lists(st.one_of(st.text(alphabet=string.ascii_letters + " ,./()#_", max_size=12).map(str.strip),
                          st.integers(0, 9_999_999_999).map(str)), max_size=12))
def test_text_with_no_such_number_is_left_as_it_was(parts):
    # Numbers only a space apart may be one number grouped ("130 1000 0000" is a mobile
    # number): a comma keeps them apart, as it does in a sentence.
    line = ", ".join(parts)
    assert mask(line) == line


@SETTINGS
@given(st.binary(min_size=12, max_size=64), st.booleans())
def test_base64_of_other_bytes_is_left_as_it_was(raw, urlsafe):
    assume(not re.search(rb"[0-9\xef\xbc\x90-\x99][0-9 +\-\x80-\xff]{10}", raw))
    token = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    assert mask(f"payload {token} end") == f"payload {token} end"


def test_the_platform_s_other_numbers_are_left_alone():
    line = ("card B00000019 pan 6217000000000000004 asn 00000000000000000001 at 20261205071000 "
            "paid 1900 fen; event 123e4567-e89b-12d3-a456-426614174000; 2026-12-05 13:38:12,123; "
            "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 GET "
            "/api/v1/cards/expiry-reminders key_version=2")
    assert mask(line) == line


def test_masked_numbers_are_still_recognisable():
    assert mask("ssn=320402199003070013") == "ssn=320402********0013"
    assert mask("tel 138 1234 5678.") == "tel 138****5678."
    assert mask("+86-13812345678") == "+86-138****5678"
    assert mask("q=%31%33%38%31%32%33%34%35%36%37%38&y=1") == "q=138****5678&y=1"
    assert mask("b64 MTM4MTIzNDU2Nzg=") == f"b64 {MASKED_BASE64}"


def test_a_grouped_number_without_a_valid_check_character_is_no_identity_number():
    assert mask("3204 0219 9003 0700 14") == "3204 0219 9003 0700 14"  # check character is 3
    assert mask("3204 0219 9003 0700 13") == "320402********0013"


def test_keys_pins_passwords_and_credentials_are_redacted():
    line = ('pin=1234 password: hunter2 {"api_key": "k-1", "kek": "00112233445566778899aabbccddeeff"} '
            "Authorization: Bearer eyJhbGciOi.abc.def secret='s3' master_key=AABB")
    masked = mask(line)
    for secret in ("1234", "hunter2", "k-1", "00112233445566778899aabbccddeeff", "eyJhbGciOi", "s3", "AABB"):
        assert secret not in masked, secret
    assert masked.count(REDACTED) == 7
