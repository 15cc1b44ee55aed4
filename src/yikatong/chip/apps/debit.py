"""The minimal UnionPay debit application (PBOC 3.0 / EMV style) under AID A000000333010101.

One record (SFI 1, record 1, template 70): PAN 5A, expiry 5F24, service code 5F30, PAN
sequence number 5F34, cardholder name 5F20, application version 9F08 and CDOL1 8C. Read it
after GET PROCESSING OPTIONS, then ask GENERATE AC for an ARQC (commands/debit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from yikatong.chip.codec import bcd, bcd_digits
from yikatong.chip.commands.debit import CDOL1, DEBIT_KEY_INDEX
from yikatong.chip.state import ALWAYS, NEVER, DebitState, DedicatedFile, RecordFile
from yikatong.chip.tlv import ber_tlv, flatten_ber_tlv

if TYPE_CHECKING:
    from yikatong.chip.image import CardKeys, CardPersonalisation

DEBIT_AID = bytes.fromhex("A000000333010101")
DEBIT_FID = "1002"
LABEL = b"UnionPay Debit"
SFI_RECORDS = 0x01
# 6 = national interchange with IC, 2 = online authorisation by the issuer, 0 = PIN required:
# the card is a CNY debit card usable in China only (seed 三.3).
SERVICE_CODE = "620"


@dataclass(frozen=True)
class DebitCardData:
    pan: str
    expiry: date  # last day of the expiry month is what cards mean; we keep the YYMMDD as given
    service_code: str
    psn: int
    holder_name: str


def encode_record(data: DebitCardData) -> bytes:
    return ber_tlv(
        0x70,
        ber_tlv(0x5A, bcd(data.pan, (len(data.pan) + 1) // 2, pad="F"))
        + ber_tlv(0x5F24, bytes.fromhex(data.expiry.strftime("%y%m%d")))
        + ber_tlv(0x5F30, bcd(data.service_code, 2))
        + ber_tlv(0x5F34, bcd(f"{data.psn:02d}", 1))
        + ber_tlv(0x5F20, data.holder_name.encode("ascii"))
        + ber_tlv(0x9F08, b"\x00\x30")
        + ber_tlv(0x8C, CDOL1),
    )


def decode_record(record: bytes) -> DebitCardData:
    tags = flatten_ber_tlv(record)
    expiry = tags[0x5F24].hex()
    return DebitCardData(
        pan=bcd_digits(tags[0x5A]),
        expiry=date(2000 + int(expiry[:2]), int(expiry[2:4]), int(expiry[4:6])),
        service_code=bcd_digits(tags[0x5F30]).lstrip("0").rjust(3, "0"),
        psn=int(tags[0x5F34].hex()),
        holder_name=tags[0x5F20].decode("ascii").strip(),
    )


def build_debit_df(data: CardPersonalisation, keys: CardKeys) -> DedicatedFile:
    card = DebitCardData(data.pan, data.pan_expiry, SERVICE_CODE, data.pan_sequence,
                         data.holder_name_latin)
    return DedicatedFile(
        fid=DEBIT_FID,
        name=DEBIT_AID,
        fci_proprietary=ber_tlv(0x50, LABEL) + ber_tlv(0x87, b"\x01"),
        files=[
            RecordFile(fid="EF01", sfi=SFI_RECORDS, structure="variable", record_size=128,
                       max_records=1, read=ALWAYS, write=NEVER, records=[encode_record(card)]),
        ],
        keys=[keys.debit_ac.entry("debit_ac", DEBIT_KEY_INDEX)],
        debit=DebitState(),
    )
