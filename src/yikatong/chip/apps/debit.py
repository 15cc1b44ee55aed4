"""The UnionPay debit application (PBOC 3.0 / EMV) under AID A000000333010101.

What an EMV kernel reads (EMV Book 3 Annex A; sources and choices in docs.md), in SFI 1:

* record 1 (magnetic-stripe image): 57 track-2 equivalent data, 5F20 cardholder name;
* record 2 (risk management): 5A PAN, 5F34 PAN sequence number, 5F24 expiry, 5F25 effective
  date, 5F30 service code, 5F28 issuer country, 9F07 application usage control, 9F0D/9F0E/9F0F
  issuer action codes, 8E CVM list, 8C CDOL1, 8D CDOL2, 9F08 application version,
  9F42/9F44 application currency and exponent.

GET PROCESSING OPTIONS answers AIP ‖ AFL (no PDOL), GENERATE AC the cryptograms
(commands/debit.py). Images personalised before these data kept everything in one record;
`decode_records` reads either layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from yikatong.chip.codec import bcd, bcd_digits
from yikatong.chip.commands.debit import CDOL1, CDOL2, DEBIT_KEY_INDEX
from yikatong.chip.state import ALWAYS, NEVER, DebitState, DedicatedFile, RecordFile
from yikatong.chip.tlv import ber_tlv, flatten_ber_tlv

if TYPE_CHECKING:
    from yikatong.chip.image import CardKeys, CardPersonalisation

DEBIT_AID = bytes.fromhex("A000000333010101")
DEBIT_FID = "1002"
LABEL = b"UnionPay Debit"
PRIORITY = 0x01
SFI_RECORDS = 0x01
# 6 = national interchange with IC, 2 = online authorisation by the issuer, 0 = PIN required:
# the card is a CNY debit card usable in China only (seed 三.3).
SERVICE_CODE = "620"
CHINA = "0156"  # ISO 3166 numeric, as n4
CNY = "0156"  # ISO 4217 numeric, as n4
CNY_EXPONENT = 2  # fen
APPLICATION_VERSION = bytes.fromhex("0030")  # PBOC 3.0
LANGUAGE_PREFERENCE = b"zhen"

# AIP: byte 1 b5 cardholder verification supported, b4 terminal risk management to be
# performed; no offline data authentication (SDA/DDA/CDA) and no issuer authentication.
AIP = bytes.fromhex("2800")
AFL = bytes([SFI_RECORDS << 3, 1, 2, 0])  # SFI 1, records 1..2, none for offline authentication
# Application usage control: domestic cash, goods and services, ATMs and other terminals,
# domestic cashback; nothing international (service code 6xx, seed 三.3).
USAGE_CONTROL = bytes.fromhex("AB80")
# CVM list: amounts X = Y = 0; enciphered PIN verified online if the terminal supports it
# (else the next rule), then signature if the terminal supports it.
CVM_LIST = bytes(8) + bytes.fromhex("4203" "1E03")
# Issuer action codes (TVR bit maps). Online for: offline data authentication not performed
# (always: the card offers none) or failed, ICC data missing, card on the exception file,
# expired or not yet effective, cardholder verification failed / PIN try limit exceeded /
# no PIN pad, online PIN entered, floor limit and velocity limits, random and merchant
# selection. The same when the terminal cannot go online (default): decline. Decline outright
# only for a service the card does not allow (an international use).
IAC_DENIAL = bytes.fromhex("0010000000")
IAC_ONLINE = bytes.fromhex("FC60ACF800")
IAC_DEFAULT = IAC_ONLINE
# 5F20: ans 2–26. " /" (no name) is what many issuers write, keeping the holder's name off a
# record any reader can read without authentication (the social-security application keeps
# it behind the national reading key); docs.md argues the choice.
NO_NAME = " /"
_NAME_FORMAT = re.compile(r"[A-Z .,'-]{0,25}/[A-Z .,'-]{0,25}|" + re.escape(NO_NAME))


@dataclass(frozen=True)
class DebitCardData:
    pan: str
    expiry: date  # last day of the expiry month is what cards mean; we keep the YYMMDD as given
    service_code: str
    psn: int
    holder_name: str


def check_holder_name(name: str) -> None:
    """ValueError unless `name` is an EMV 5F20 terminals accept: 2–26 characters,
    uppercase Latin "SURNAME/GIVEN" (ISO/IEC 7813 track-1 style) or the no-name " /"."""
    if not 2 <= len(name) <= 26 or not _NAME_FORMAT.fullmatch(name):
        raise ValueError("5F20 is 2-26 characters 'SURNAME/GIVEN' in A-Z, or ' /'")


def track2_equivalent(pan: str, expiry: date, service_code: str) -> bytes:
    """57: PAN ‖ D ‖ YYMM ‖ service code, padded with F (no discretionary data)."""
    digits = f"{pan}D{expiry:%y%m}{service_code}"
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


def encode_records(data: DebitCardData, *, effective: date) -> list[bytes]:
    """The two records of SFI 1 (template 70)."""
    check_holder_name(data.holder_name)
    magstripe_image = (
        ber_tlv(0x57, track2_equivalent(data.pan, data.expiry, data.service_code))
        + ber_tlv(0x5F20, data.holder_name.encode("ascii"))
    )
    risk_management = (
        ber_tlv(0x5A, bcd(data.pan, (len(data.pan) + 1) // 2, pad="F"))
        + ber_tlv(0x5F34, bcd(f"{data.psn:02d}", 1))
        + ber_tlv(0x5F24, bytes.fromhex(data.expiry.strftime("%y%m%d")))
        + ber_tlv(0x5F25, bytes.fromhex(effective.strftime("%y%m%d")))
        + ber_tlv(0x5F30, bcd(data.service_code, 2))
        + ber_tlv(0x5F28, bcd(CHINA, 2))
        + ber_tlv(0x9F07, USAGE_CONTROL)
        + ber_tlv(0x9F0D, IAC_DEFAULT)
        + ber_tlv(0x9F0E, IAC_DENIAL)
        + ber_tlv(0x9F0F, IAC_ONLINE)
        + ber_tlv(0x8E, CVM_LIST)
        + ber_tlv(0x8C, CDOL1)
        + ber_tlv(0x8D, CDOL2)
        + ber_tlv(0x9F08, APPLICATION_VERSION)
        + ber_tlv(0x9F42, bcd(CNY, 2))
        + ber_tlv(0x9F44, bytes([CNY_EXPONENT]))
    )
    return [ber_tlv(0x70, magstripe_image), ber_tlv(0x70, risk_management)]


def encode_record(data: DebitCardData) -> bytes:
    """The one record of images personalised before the EMV data (kept for their tests)."""
    return ber_tlv(
        0x70,
        ber_tlv(0x5A, bcd(data.pan, (len(data.pan) + 1) // 2, pad="F"))
        + ber_tlv(0x5F24, bytes.fromhex(data.expiry.strftime("%y%m%d")))
        + ber_tlv(0x5F30, bcd(data.service_code, 2))
        + ber_tlv(0x5F34, bcd(f"{data.psn:02d}", 1))
        + ber_tlv(0x5F20, data.holder_name.encode("ascii"))
        + ber_tlv(0x9F08, APPLICATION_VERSION)
        + ber_tlv(0x8C, CDOL1),
    )


def decode_records(records: Iterable[bytes]) -> DebitCardData:
    """The card data from the records a terminal read (one record or several)."""
    tags: dict[int, bytes] = {}
    for record in records:
        for tag, value in flatten_ber_tlv(record).items():
            tags.setdefault(tag, value)
    expiry = tags[0x5F24].hex()
    return DebitCardData(
        pan=bcd_digits(tags[0x5A]),
        expiry=date(2000 + int(expiry[:2]), int(expiry[2:4]), int(expiry[4:6])),
        service_code=bcd_digits(tags[0x5F30]).lstrip("0").rjust(3, "0"),
        psn=int(tags[0x5F34].hex()),
        holder_name=tags[0x5F20].decode("ascii").strip(),
    )


def decode_record(record: bytes) -> DebitCardData:
    return decode_records([record])


def fci_proprietary() -> bytes:
    return ber_tlv(0x50, LABEL) + ber_tlv(0x87, bytes([PRIORITY])) + ber_tlv(0x5F2D, LANGUAGE_PREFERENCE)


def build_debit_df(data: CardPersonalisation, keys: CardKeys) -> DedicatedFile:
    card = DebitCardData(data.pan, data.pan_expiry, SERVICE_CODE, data.pan_sequence,
                         data.holder_name_latin)
    records = encode_records(card, effective=data.issue_date)
    return DedicatedFile(
        fid=DEBIT_FID,
        name=DEBIT_AID,
        fci_proprietary=fci_proprietary(),
        files=[
            RecordFile(fid="EF01", sfi=SFI_RECORDS, structure="variable", record_size=252,
                       max_records=len(records), read=ALWAYS, write=NEVER, records=records),
        ],
        keys=[keys.debit_ac.entry("debit_ac", DEBIT_KEY_INDEX)],
        debit=DebitState(aip=AIP, afl=AFL, cdol1=CDOL1, cdol2=CDOL2),
    )
