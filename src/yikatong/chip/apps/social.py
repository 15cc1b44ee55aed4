"""The social-security application (社会保障卡, 3rd generation): MF "sx1.sh.社会保障", EF05, EF06.

Records are simple TLV, numbered in data-element order (card-protocol.md §5.1).

Access conditions (our reading of §5.2 and of 三.2 全国通读; see docs.md):
* EF05 records 1–6 (card identification code, type, spec version, initialising body, dates):
  always readable. A terminal needs the card identification code before it can authenticate,
  because every card key is diversified from it; this is the "part of the info" public reader
  SDKs read without a PSAM.
* EF05 record 7 (card number), EF06 records 1–3 (social security number, name, name
  extension): after EXTERNAL AUTHENTICATE with the national reading key (key 0B, held by
  every city's PSAM) or with the issuer key (0A).
* EF06 records 4–7 (sex, ethnicity, birthplace, birth date): only after the issuer's SM4
  external authentication (key 0A).
* Writes: EF05 never after personalisation; EF06 by secure messaging (04 DC) under the MF
  maintenance key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from yikatong.chip.codec import bcd, bcd_date, bcd_digits, parse_bcd_date
from yikatong.chip.state import (
    ALWAYS,
    NEVER,
    DedicatedFile,
    Pin,
    RecordFile,
    after_auth,
    with_sm,
)
from yikatong.chip.tlv import parse_simple_tlv, simple_tlv

if TYPE_CHECKING:
    from yikatong.chip.image import CardKeys, CardPersonalisation

MF_NAME = "sx1.sh.社会保障".encode("gbk")
MF_FID = "3F00"
EF05, EF06 = "EF05", "EF06"
SFI_EF05, SFI_EF06 = 0x05, 0x06
ISSUER_AUTH_KEY = 0x0A  # P2 of 00 82 in public card-printer traces
NATIONAL_READ_KEY = 0x0B  # our choice
MAINTENANCE_KEY = 0x01
AUTH_KEY_TRIES = 15
PIN_TRIES = 3

CARD_TYPE = b"1"
SPEC_VERSION = b"3.00"
NAME_LENGTH = 30
NAME_EXTENSION_LENGTH = 20

NATIONAL = after_auth(NATIONAL_READ_KEY, ISSUER_AUTH_KEY)
ISSUER = after_auth(ISSUER_AUTH_KEY)

# (record number, tag) in EF05 and EF06
EF05_TAGS = {1: 0x01, 2: 0x02, 3: 0x03, 4: 0x04, 5: 0x05, 6: 0x06, 7: 0x07}
EF06_TAGS = {1: 0x08, 2: 0x09, 3: 0x4E, 4: 0x0A, 5: 0x0B, 6: 0x0C, 7: 0x0D}
CARD_NO_RECORD = 7
NATIONAL_RECORDS_EF06 = (1, 2, 3)
ISSUER_RECORDS_EF06 = (4, 5, 6, 7)


def split_name(name: str) -> tuple[bytes, bytes]:
    """The GBK name in 30 bytes (record 09) and the rest in the extension (record 4E),
    cut on a character boundary, both padded with zeros."""
    head = b""
    rest = name
    while rest and len(head + rest[0].encode("gbk")) <= NAME_LENGTH:
        head += rest[0].encode("gbk")
        rest = rest[1:]
    tail = rest.encode("gbk")
    if len(tail) > NAME_EXTENSION_LENGTH:
        raise ValueError("name longer than the card's name and name-extension fields")
    return head.ljust(NAME_LENGTH, b"\x00"), tail.ljust(NAME_EXTENSION_LENGTH, b"\x00")


def build_mf(data: CardPersonalisation, keys: CardKeys, applications: list[DedicatedFile]) -> DedicatedFile:
    name, name_extension = split_name(data.name)
    ef05_values = {
        1: bytes.fromhex(data.card_id_code),
        2: CARD_TYPE,
        3: SPEC_VERSION,
        4: f"{data.region_code}{'0' * 5}1".encode("ascii"),
        5: bcd_date(data.issue_date),
        6: bcd_date(data.expiry_date),
        7: data.card_no.encode("ascii"),
    }
    ef06_values = {
        1: data.ssn.encode("ascii"),
        2: name,
        3: name_extension,
        4: data.gender.encode("ascii"),
        5: bcd(data.nation, 1),
        6: bcd(data.birthplace, 3),
        7: bcd_date(data.birth_date),
    }
    ef05 = RecordFile(
        fid=EF05, sfi=SFI_EF05, structure="variable", record_size=64, max_records=7,
        read=ALWAYS, write=NEVER,
        records=[simple_tlv(EF05_TAGS[n], v) for n, v in sorted(ef05_values.items())],
        record_read={CARD_NO_RECORD: NATIONAL},
    )
    ef06 = RecordFile(
        fid=EF06, sfi=SFI_EF06, structure="variable", record_size=64, max_records=7,
        read=ISSUER, write=with_sm(MAINTENANCE_KEY),
        records=[simple_tlv(EF06_TAGS[n], v) for n, v in sorted(ef06_values.items())],
        record_read={n: NATIONAL for n in NATIONAL_RECORDS_EF06},
    )
    return DedicatedFile(
        fid=MF_FID,
        name=MF_NAME,
        files=[ef05, ef06, *applications],
        keys=[
            keys.issuer_auth.entry("external_auth", ISSUER_AUTH_KEY, tries_left=AUTH_KEY_TRIES),
            keys.national_read.entry("national_read", NATIONAL_READ_KEY, tries_left=AUTH_KEY_TRIES),
            keys.social_maintenance.entry("maintenance", MAINTENANCE_KEY),
        ],
        pin=Pin(digits=data.pin, tries_left=PIN_TRIES, max_tries=PIN_TRIES),
    )


@dataclass(frozen=True)
class SocialSecurityData:
    """What a terminal read from EF05/EF06; None where it was not allowed to read."""

    card_id_code: str
    card_type: str
    spec_version: str
    issue_date: date | None
    expiry_date: date | None
    card_no: str | None = None
    ssn: str | None = None
    name: str | None = None
    gender: str | None = None
    nation: str | None = None
    birthplace: str | None = None
    birth_date: date | None = None

    @property
    def region_code(self) -> str:
        return self.card_id_code[:6]


def record_value(record: bytes, tag: int) -> bytes:
    """The value of `tag` in one TLV record; ValueError if the record holds another tag."""
    items = parse_simple_tlv(record)
    if not items or items[0][0] != tag:
        raise ValueError(f"record does not hold tag {tag:02X}")
    return items[0][1]


def decode(ef05: dict[int, bytes], ef06: dict[int, bytes]) -> SocialSecurityData:
    """Decode the records read (by record number); missing records become None."""
    v5 = {n: record_value(r, EF05_TAGS[n]) for n, r in ef05.items()}
    v6 = {n: record_value(r, EF06_TAGS[n]) for n, r in ef06.items()}
    name = None
    if 2 in v6:
        raw = v6[2].rstrip(b"\x00 ") + v6.get(3, b"").rstrip(b"\x00 ")
        name = raw.decode("gbk")
    return SocialSecurityData(
        card_id_code=v5[1].hex().upper(),
        card_type=v5[2].decode("ascii"),
        spec_version=v5[3].decode("ascii"),
        issue_date=parse_bcd_date(v5[5]),
        expiry_date=parse_bcd_date(v5[6]),
        card_no=v5[7].decode("ascii") if 7 in v5 else None,
        ssn=v6[1].decode("ascii") if 1 in v6 else None,
        name=name,
        gender=v6[4].decode("ascii") if 4 in v6 else None,
        nation=bcd_digits(v6[5]) if 5 in v6 else None,
        birthplace=bcd_digits(v6[6]) if 6 in v6 else None,
        birth_date=parse_bcd_date(v6[7]) if 7 in v6 else None,
    )
