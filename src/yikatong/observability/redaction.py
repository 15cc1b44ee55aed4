"""What reaches a log loses its personal data and its secrets, whatever the encoding.

`core.masking` masks the fields the code knows to be personal; this masks whatever text
reaches a log (a path a client chose, an exception's message, a payload logged whole):

- mobile numbers (11 digits, `1[3-9]…`, with or without `+86`/`0086`) and identity numbers
  (18 characters, the last a digit or X; the legacy 15 digits; the foreign permanent-residence
  number, 3 letters and 12 digits), found
  - plain, or with spaces, dashes or `+` between the digits (`138 1234 5678`,
    `138-1234-5678`, `3204 0219 9003 0700 13`; separated identity numbers only with a valid
    GB 11643 check character, so grouped figures are not taken for one),
  - in any Unicode decimal digits (full-width `１３８…`, and every other script's),
  - percent-encoded (also twice, `%2531`), as JSON `\\uXXXX` escapes (also escaped again), as
    HTML character references, in URLs and inside JSON strings,
  - base64 (standard or URL-safe, padded or not) of a text holding one: a token of 15 or
    more base64 characters is decoded, and only when the decoded bytes are UTF-8 text in
    which one of the above is found is the token replaced, by `<masked:base64>` (random
    bytes, digests and words are left alone);
  an identity number becomes `320402********0013` and a mobile number `138****5678`, as
  everywhere else (core.masking), so a person can still be recognised by whoever holds the
  record;
- secrets: the value after a name such as `pin`, `password`, `secret`, `token`, `kek`, `key`
  or `*_key` (`pin=1234`, `"api_key": "…"`) and the credential of an `Authorization` or
  `Bearer` becomes `[redacted]`.

How: the text is read as a canonical view (escapes decoded, digits made ASCII) that remembers
where each of its characters came from; what is found there is replaced in the original, an
escape sequence by the masked text. A line with nothing but ASCII and no escape (an access
log line) costs two regular-expression scans. Numbers that are neither are left as they are
(a card number `B00000019`, a 19-digit bank account, a 20-digit ASN, amounts, times).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import sys
import unicodedata
from bisect import bisect_right

from yikatong.core.masking import mask_phone, mask_ssn

MASKED_BASE64 = "<masked:base64>"
REDACTED = "[redacted]"


def _canonical_table() -> dict[int, str]:
    table = {}
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if code > 127 and unicodedata.category(char) == "Nd":
            table[code] = str(unicodedata.decimal(char))
    table.update({ord("Ｘ"): "X", ord("ｘ"): "x", ord("＋"): "+", ord("－"): "-", 0x2212: "-"})
    for dash in range(0x2010, 0x2016):
        table[dash] = "-"
    return table


CANONICAL = _canonical_table()  # one character for one: positions stay where they are

SEP = r"[\s+\-]{0,2}"
_LEFT = r"(?<![0-9A-Za-z])"
_RIGHT = r"(?![0-9A-Za-z])"
PERSONAL = re.compile(
    _LEFT + r"(?:"
    rf"(?P<cc>(?:\+|00)?86{SEP})(?P<cc_phone>1{SEP}[3-9](?:{SEP}[0-9]){{9}})"
    r"|(?P<id>[0-9]{17}[0-9Xx]|[0-9]{15}|[A-Za-z]{3}[0-9]{12})"
    rf"|(?P<grouped_id>[1-9](?:{SEP}[0-9]){{16}}{SEP}[0-9Xx])"
    rf"|(?P<phone>1{SEP}[3-9](?:{SEP}[0-9]){{9}})"
    r")" + _RIGHT)
# A digit and ten more digits or separators: what every match above holds (checked first: a
# scan that starts only at digits and never backtracks is several times cheaper than PERSONAL's).
CANDIDATE = re.compile(r"[0-9][0-9\s+\-]{10}")
# A maximal run of base64 characters (finditer starts a match at the run's first character).
BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{15,}={0,2}")
_PARTS = re.compile(r"[/+_-]")
_DECODED_HINT = re.compile(r"%[0-9A-Fa-f]{2}|\\u|&#|[A-Za-z0-9+/_-]{15}")
SECRET_HINTS = ("pin", "pass", "pwd", "secret", "token", "key", "kek")
ESCAPE = re.compile(r"(?:%(?:25)*[0-9A-Fa-f]{2})+"
                    r"|\\+u[dD][89abAB][0-9A-Fa-f]{2}\\+u[dD][c-fC-F][0-9A-Fa-f]{2}"  # a surrogate pair
                    r"|\\+u[0-9A-Fa-f]{4}|\\+[nrtbf]"
                    r"|&#(?:[0-9]{1,7}|[xX][0-9A-Fa-f]{1,6});")
SECRET_NAMES = (r"pin|pin_?block|password|passwd|pwd|secret|client_secret|token|access_token"
                r"|refresh_token|api[_-]?key|kek|key|[A-Za-z]+_key")
SECRET = re.compile(
    rf"(?i)(?P<name>(?<![A-Za-z0-9_-])(?:{SECRET_NAMES}))(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"'&,;}\]]+)")
CREDENTIAL = re.compile(r"(?i)(?P<scheme>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_character(first17: str) -> str:
    """The GB 11643 check character of an identity number's first 17 digits."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def mask(text: str) -> str:
    """`text` with every identity number, mobile number and secret masked (module docstring)."""
    if not text:
        return text
    text = _redact_secrets(text)
    return _mask_personal(text, depth=0)


def _redact_secrets(text: str) -> str:
    lower = text.lower()
    if ("=" in text or ":" in text) and any(hint in lower for hint in SECRET_HINTS):
        text = SECRET.sub(lambda m: m.group("name") + m.group("sep") + REDACTED, text)
    if "bearer" in lower or "basic" in lower:
        text = CREDENTIAL.sub(lambda m: m.group("scheme") + REDACTED, text)
    return text


class _View:
    """The canonical view of a text and the way back to the original's positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.escapes = ("%" in text or "\\" in text or "&#" in text)
        if not self.escapes:
            self.canonical = text if text.isascii() else text.translate(CANONICAL)
            return
        pieces, self.starts, self.segments = [], [], []  # segments: (canonical start, end, original start, end, plain)
        at, position = 0, 0
        for found in ESCAPE.finditer(text):
            if found.start() > position:
                self._add(pieces, text[position:found.start()].translate(CANONICAL), position,
                          found.start(), plain=True, at=at)
                at += found.start() - position
            decoded = _decode(found.group()).translate(CANONICAL)
            self._add(pieces, decoded, found.start(), found.end(), plain=False, at=at)
            at += len(decoded)
            position = found.end()
        if position < len(text):
            self._add(pieces, text[position:].translate(CANONICAL), position, len(text),
                      plain=True, at=at)
        self.canonical = "".join(pieces)

    def _add(self, pieces, piece, start, end, *, plain, at) -> None:
        pieces.append(piece)
        self.starts.append(at)
        self.segments.append((at, at + len(piece), start, end, plain))

    def original(self, start: int, end: int) -> tuple[int, int, int, int]:
        """(original start, end, canonical start, end) covering canonical [start, end): an
        escape sequence is taken whole."""
        if not self.escapes:
            return start, end, start, end
        first = self.segments[bisect_right(self.starts, start) - 1]
        last = self.segments[bisect_right(self.starts, end - 1) - 1]
        if first[4]:
            o_start, c_start = first[2] + (start - first[0]), start
        else:
            o_start, c_start = first[2], first[0]
        if last[4]:
            o_end, c_end = last[2] + (end - last[0]), end
        else:
            o_end, c_end = last[3], last[1]
        return o_start, o_end, c_start, c_end


def _decode(escape: str) -> str:
    if escape.startswith("%"):
        raw = bytes(int(hexa, 16) for hexa in re.findall(r"%(?:25)*([0-9A-Fa-f]{2})", escape))
        return raw.decode("utf-8", errors="replace")
    if escape.startswith("&#"):
        return html.unescape(escape)
    units = [int(unit[:4], 16) for unit in escape.split("u")[1:]]
    if len(units) == 2:  # a surrogate pair: one character beyond the first plane
        return chr(0x10000 + ((units[0] - 0xD800) << 10) + (units[1] - 0xDC00))
    if units:
        return chr(units[0]) if not 0xD800 <= units[0] < 0xE000 else "\ufffd"
    return " "  # \n \t …: a separator


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isalnum())


def _masked(found: re.Match) -> str | None:
    """The masked text of a match, or None when it is not one after all."""
    if found.group("id"):
        return mask_ssn(found.group("id"))
    if found.group("grouped_id"):
        number = _digits(found.group("grouped_id")).upper()
        if id_check_character(number[:17]) != number[17]:
            return None
        return mask_ssn(number)
    if found.group("cc_phone"):
        return found.group("cc") + mask_phone(_digits(found.group("cc_phone")))
    return mask_phone(_digits(found.group("phone")))


def _mask_personal(text: str, *, depth: int) -> str:
    view = _View(text)
    canonical = view.canonical
    replacements: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    for found in (PERSONAL.finditer(canonical) if CANDIDATE.search(canonical) else ()):
        masked = _masked(found)
        if masked is None:
            continue
        o_start, o_end, c_start, c_end = view.original(found.start(), found.end())
        replacements.append((o_start, o_end, canonical[c_start:found.start()] + masked
                             + canonical[found.end():c_end]))
        taken.append((found.start(), found.end()))
    if depth < 2 and len(canonical) >= 15:
        for token in BASE64_TOKEN.finditer(canonical):
            if any(s < token.end() and token.start() < e for s, e in taken):
                continue
            if _holds_personal_data(token.group(), depth):
                o_start, o_end, _c_start, _c_end = view.original(token.start(), token.end())
                replacements.append((o_start, o_end, MASKED_BASE64))
    if not replacements:
        return text
    replacements.sort()
    out, position = [], 0
    for start, end, replacement in replacements:
        if start < position:  # overlapping the previous one (an escape taken whole)
            continue
        out.append(text[position:start])
        out.append(replacement)
        position = end
    out.append(text[position:])
    return "".join(out)


def _holds_personal_data(token: str, depth: int) -> bool:
    """Whether the token, or a part of it between `/`, `+`, `-` or `_` (a base64 text at the
    end of a URL path: `/people/MTM4…`), decodes to text holding personal data. Bytes that are
    not UTF-8 are read as U+FFFD, so a number beside binary bytes is still found."""
    parts = [token]
    if len(token) >= 16:
        parts += [part for part in _PARTS.split(token) if 15 <= len(part) < len(token)]
    for part in parts:
        body = part.rstrip("=").replace("-", "+").replace("_", "/")
        if len(body) % 4 == 1:
            body = body[:-1]
        try:
            decoded = base64.b64decode(body + "=" * (-len(body) % 4)).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            continue
        if not _may_hold(decoded):  # most tokens (paths, words, digests) end here
            continue
        if _mask_personal(decoded, depth=depth + 1) != decoded:
            return True
    return False


def _may_hold(text: str) -> bool:
    """Whether `text` has what any match needs: digits in a row, an escape, a base64 token."""
    return bool(CANDIDATE.search(text if text.isascii() else text.translate(CANONICAL))
                or _DECODED_HINT.search(text))
