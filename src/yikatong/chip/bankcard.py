"""Terminal side of the debit application: what a POS or ATM reads, and the ARQC request.

The bank verifies the ARQC with `host.verify_arqc(keystore, **result.verification())`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yikatong.chip.apdu import command
from yikatong.chip.apps.debit import DEBIT_AID, DebitCardData, decode_records
from yikatong.chip.codec import bcd, local_datetime, to_int
from yikatong.chip.commands.debit import CID_ARQC
from yikatong.chip.protocols import CardReader
from yikatong.chip.terminal import exchange, expect, read_record
from yikatong.chip.tlv import flatten_ber_tlv, parse_ber_tlv

CNY = "0156"
CHINA = "0156"
GOODS_AND_SERVICES = 0x00


def read_debit(reader: CardReader) -> DebitCardData:
    """SELECT the debit application, GET PROCESSING OPTIONS, read the records of the AFL."""
    records = read_application_records(reader)
    if not any(0x5A in flatten_ber_tlv(record) for record in records):
        raise ValueError("the debit application holds no PAN record")
    return decode_records(records)


def read_application_records(reader: CardReader) -> list[bytes]:
    """The records the AFL names, after SELECT and GET PROCESSING OPTIONS (no PDOL)."""
    expect(exchange(reader, command(0x00, 0xA4, 0x04, 0x00, DEBIT_AID, le=0)), "SELECT debit")
    gpo = expect(exchange(reader, command(0x80, 0xA8, 0x00, 0x00, b"\x83\x00", le=0)), "GET PROCESSING OPTIONS")
    afl = dict(parse_ber_tlv(gpo))[0x80][2:]  # format 1: AIP(2) ‖ AFL
    return [
        expect(read_record(reader, afl[at] >> 3, number), "READ RECORD")
        for at in range(0, len(afl), 4)
        for number in range(afl[at + 1], afl[at + 2] + 1)
    ]


@dataclass(frozen=True)
class ArqcResult:
    pan: str
    psn: int
    key_version: int
    cdol1_data: bytes
    atc: int
    arqc: bytes
    cryptogram_type: int  # 80 ARQC, 00 AAC

    def verification(self) -> dict:
        """Keyword arguments for host.verify_arqc."""
        return {"pan": self.pan, "psn": self.psn, "key_version": self.key_version,
                "cdol1_data": self.cdol1_data, "atc": self.atc, "arqc": self.arqc}


def cdol1_data(*, amount: int, when: datetime, unpredictable_number: bytes, other_amount: int = 0,
               tx_type: int = GOODS_AND_SERVICES) -> bytes:
    """9F02 ‖ 9F03 ‖ 9F1A ‖ 5F2A ‖ 9A ‖ 9C ‖ 9F37 (amounts in fen, n12 BCD; date in CST)."""
    if len(unpredictable_number) != 4:
        raise ValueError("the unpredictable number is 4 bytes")
    return (
        bcd(str(amount), 6) + bcd(str(other_amount), 6) + bcd(CHINA, 2) + bcd(CNY, 2)
        + bytes.fromhex(local_datetime(when).strftime("%y%m%d")) + bytes([tx_type]) + unpredictable_number
    )


def request_arqc(reader: CardReader, card: DebitCardData, *, amount: int, when: datetime,
                 unpredictable_number: bytes, other_amount: int = 0) -> ArqcResult:
    """GENERATE AC asking for an ARQC (online authorisation) over the transaction data."""
    data = cdol1_data(amount=amount, when=when, unpredictable_number=unpredictable_number,
                      other_amount=other_amount)
    answer = expect(exchange(reader, command(0x80, 0xAE, CID_ARQC, 0x00, data, le=0)), "GENERATE AC")
    tags = flatten_ber_tlv(answer)
    return ArqcResult(
        pan=card.pan, psn=card.psn, key_version=tags[0x9F10][1], cdol1_data=data,
        atc=to_int(tags[0x9F36]), arqc=tags[0x9F26], cryptogram_type=tags[0x9F27][0],
    )
