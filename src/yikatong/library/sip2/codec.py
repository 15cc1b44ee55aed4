"""The SIP2 wire format: frames, fixed and variable fields, sequence numbers and checksums.

A message is one line: a two-digit command code, fixed-width fields, then variable fields
`XXvalue|`, optionally the error-detection trailer `AY<seq>AZ<4 hex>`, then CR (3M Standard
Interchange Protocol v2.00; domain-rules §6). The checksum is the two's complement of the low
16 bits of the byte sum from the first byte through `AZ`: adding the checksum to that sum gives
zero.

Why our own codec and not pysip2 0.1.0 (the PyPI package that carries a server side): it refuses
a checkout or renewal whose "nb due date" is blank (its date type needs digits), which is what
the spec says an online kiosk sends and what the Sip2 client sends, and it closes the
connection on that; it recognises a checksum only as exactly four hex digits, while the Sip2
client writes it unpadded; its server takes time from the machine, not the platform's clock.
pysip2 stays in the test extras as an independent decoder of what this server sends.

Nothing here does I/O or knows the library: `decode` turns bytes into a `Frame`, `encode` turns
a code, fixed fields and variable fields into bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from yikatong.core.clock import CST

CR = b"\r"
FIELD_END = "|"

# The fixed fields of each request the server reads, in wire order (name, width).
REQUEST_LAYOUTS: dict[str, tuple[tuple[str, int], ...]] = {
    "93": (("uid_algorithm", 1), ("pwd_algorithm", 1)),
    "99": (("status_code", 1), ("max_print_width", 3), ("protocol_version", 4)),
    "97": (),
    "23": (("language", 3), ("transaction_date", 18)),
    "63": (("language", 3), ("transaction_date", 18), ("summary", 10)),
    "11": (("sc_renewal_policy", 1), ("no_block", 1), ("transaction_date", 18),
           ("nb_due_date", 18)),
    "09": (("no_block", 1), ("transaction_date", 18), ("return_date", 18)),
    "29": (("third_party_allowed", 1), ("no_block", 1), ("transaction_date", 18),
           ("nb_due_date", 18)),
    "37": (("transaction_date", 18), ("fee_type", 2), ("payment_type", 2),
           ("currency_type", 3)),
    "35": (("transaction_date", 18),),
    "17": (("transaction_date", 18),),
    "65": (("transaction_date", 18),),
}

# AZ is always the last field, so a trailer is recognised at the end of the line. The spec
# writes four hex digits; the Sip2 client drops leading zeros, so one to four are read.
_TRAILER = re.compile(rb"(?:AY([0-9])(?=AZ))?AZ([0-9A-Fa-f]{1,4})$")


# Where an 18-character date should be, the next variable field begins (AO, AA, …) instead.
_OMITTED_DATE = re.compile(r"^(?![0-9]{8})[A-Z]{2}")


class FrameError(Exception):
    """A line that is not a SIP2 message the server can read (the kiosk is asked to resend)."""


class ChecksumMismatch(FrameError):
    """The AZ checksum does not match the bytes received."""


class UnknownCommand(FrameError):
    """A command code the server does not speak (the spec says: ignore it)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown command {code!r}")
        self.code = code


@dataclass(frozen=True)
class Frame:
    """One decoded request."""

    code: str
    fixed: dict[str, str]
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sequence: int | None = None     # AY, when the kiosk uses error detection
    checksum: str | None = None     # AZ as received

    def get(self, field_id: str, default: str = "") -> str:
        """The first value of a variable field (`default` when absent)."""
        values = self.fields.get(field_id)
        return values[0] if values else default

    def has(self, field_id: str) -> bool:
        return field_id in self.fields

    @property
    def error_detection(self) -> bool:
        return self.checksum is not None


def checksum(prefix: bytes) -> str:
    """The four hex digits for a message whose bytes up to and including `AZ` are `prefix`."""
    return f"{(-sum(prefix)) & 0xFFFF:04X}"


def checksum_ok(prefix: bytes, digits: bytes) -> bool:
    return (sum(prefix) + int(digits, 16)) & 0xFFFF == 0


def decode(line: bytes, *, encoding: str = "utf-8") -> Frame:
    """A request line (with or without its CR) as a `Frame`; `ChecksumMismatch` when the
    trailer's checksum is wrong, `UnknownCommand` for a code not in REQUEST_LAYOUTS,
    `FrameError` for a line too short for its fixed fields or not in `encoding`."""
    body = line[:-1] if line.endswith(CR) else line
    body = body.lstrip(b"\n")  # a kiosk that ends lines with CR LF
    sequence = digits = None
    trailer = _TRAILER.search(body)
    if trailer is not None:
        az_end = trailer.end() - len(trailer.group(2))
        if not checksum_ok(body[:az_end], trailer.group(2)):
            raise ChecksumMismatch("checksum mismatch")
        sequence = int(trailer.group(1)) if trailer.group(1) is not None else None
        digits = trailer.group(2).decode("ascii").upper()
        body = body[:trailer.start()]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        raise FrameError(f"not {encoding}") from error
    code = text[:2]
    layout = REQUEST_LAYOUTS.get(code)
    if layout is None:
        raise UnknownCommand(code)
    fixed: dict[str, str] = {}
    cursor = 2
    for name, width in layout:
        value = text[cursor:cursor + width]
        if width == 18 and _OMITTED_DATE.match(value):
            # A date left out altogether (the Sip2 client's 65 sends none): read as blank.
            fixed[name] = " " * 18
            continue
        if len(value) != width:
            raise FrameError(f"command {code}: fixed field {name} truncated")
        fixed[name] = value
        cursor += width
    fields: dict[str, list[str]] = {}
    for piece in text[cursor:].split(FIELD_END):
        if len(piece) >= 2:
            fields.setdefault(piece[:2], []).append(piece[2:])
    return Frame(code=code, fixed=fixed, fields={k: tuple(v) for k, v in fields.items()},
                 sequence=sequence, checksum=digits)


def clean(value: str, *, encoding: str = "utf-8", limit: int = 255) -> str:
    """A value safe inside a variable field: no field separator, CR or LF, at most `limit`
    encoded bytes (cut on a character boundary)."""
    value = value.replace(FIELD_END, "/").replace("\r", " ").replace("\n", " ")
    while len(value.encode(encoding, errors="replace")) > limit:
        value = value[:-1]
    return value


def encode(code: str, fixed: list[str], fields: list[tuple[str, str | None]], *,
           sequence: int | None = None, error_detection: bool = False,
           encoding: str = "utf-8") -> bytes:
    """A response line: the code, the fixed fields as given (their widths are the caller's),
    each variable field with a value (None skips it), then `AY<seq>AZ<checksum>` when the
    request used error detection (only `AZ` for 96, which carries no sequence), then CR."""
    text = code + "".join(fixed) + "".join(
        f"{field_id}{clean(value, encoding=encoding)}{FIELD_END}"
        for field_id, value in fields if value is not None)
    body = text.encode(encoding, errors="replace")
    if not error_detection:
        return body + CR
    if sequence is not None:
        body += b"AY" + str(sequence).encode("ascii")
    body += b"AZ"
    return body + checksum(body).encode("ascii") + CR


def parse_date(text: str) -> datetime | None:
    """A SIP2 date `YYYYMMDDZZZZHHMMSS` as an aware instant: blank zone = local time (Beijing
    time, the kiosks are in Changzhou), `Z` in the last zone position = UTC; None when blank or
    not a date."""
    if len(text) != 18 or not text.strip():
        return None
    zone = text[8:12]
    try:
        naive = datetime.strptime(text[:8] + text[12:], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    if zone.strip() == "":
        return naive.replace(tzinfo=CST).astimezone(UTC)
    if zone.strip() == "Z":
        return naive.replace(tzinfo=UTC)
    return None


def format_date(instant: datetime) -> str:
    """An instant as a SIP2 date in local (Beijing) time, zone blank."""
    local = instant.astimezone(CST)
    return local.strftime("%Y%m%d") + "    " + local.strftime("%H%M%S")
