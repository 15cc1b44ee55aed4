"""A minimal UnionPay (PBOC 3.0) debit application: GET PROCESSING OPTIONS and GENERATE AC.

Only what a POS or ATM needs to read the card and obtain an online cryptogram: the records
(PAN, expiry, service code, PSN, name) are read with READ RECORD through the AFL that GPO
returns, and GENERATE AC answers an SM4 ARQC over CDOL1 data ‖ ATC. There is no offline data
authentication, no CVM list, no issuer script and no second GENERATE AC: a full EMV kernel
is out of scope (docs.md).
"""

from __future__ import annotations

from yikatong.chip import sw
from yikatong.chip.apdu import CommandApdu
from yikatong.chip.codec import u
from yikatong.chip.journal import Journal
from yikatong.chip.secure import application_cryptogram
from yikatong.chip.sw import CardStatus
from yikatong.chip.tlv import ber_tlv

# CDOL1: 9F02 amount(6) 9F03 other(6) 9F1A country(2) 5F2A currency(2) 9A date(3)
#        9C type(1) 9F37 unpredictable number(4)
CDOL1 = bytes.fromhex("9F02069F03069F1A025F2A029A039C019F3704")
CDOL1_LENGTH = 24
AIP = bytes.fromhex("0000")  # no offline data authentication, online only
AFL = bytes.fromhex("08010100")  # SFI 1, records 1..1
CID_ARQC, CID_AAC = 0x80, 0x00
DEBIT_KEY_INDEX = 0x01
CVN = 0x01


def _debit(card):
    df = card.volatile.df
    if df.debit is None:
        raise CardStatus(sw.INS_NOT_SUPPORTED)
    return df, df.debit


def get_processing_options(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 A8 00 00 02 83 00: format 1 (tag 80) AIP ‖ AFL; the PDOL is empty."""
    _debit(card)
    if cmd.p1 or cmd.p2:
        raise CardStatus(sw.WRONG_P1P2)
    if cmd.data[:1] != b"\x83":
        raise CardStatus(sw.WRONG_DATA)
    return ber_tlv(0x80, AIP + AFL)


def generate_ac(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 AE <80 ARQC | 40 TC | 00 AAC> 00 <CDOL1 data>: format 2 (tag 77) response.

    The card never approves offline: a TC request is answered with an ARQC. The ATC is
    incremented and committed with the answer.
    """
    df, debit = _debit(card)
    if cmd.p2 or cmd.p1 & 0x3F:
        raise CardStatus(sw.WRONG_P1P2)
    if len(cmd.data) != CDOL1_LENGTH:
        raise CardStatus(sw.WRONG_LENGTH)
    if debit.atc >= 0xFFFF:
        raise CardStatus(sw.CONDITIONS_NOT_SATISFIED)
    key = df.key("debit_ac", DEBIT_KEY_INDEX)
    if key is None:
        raise CardStatus(sw.REFERENCED_DATA_NOT_FOUND)
    atc = debit.atc + 1
    cid = CID_AAC if cmd.p1 & 0xC0 == 0x00 else CID_ARQC
    cryptogram = application_cryptogram(key.value, atc, cmd.data + u(atc, 2))
    journal.set(debit, "atc", atc)
    iad = bytes([0x07, key.version, CVN, key.alg_id, cid, 0x00, 0x00, 0x00])
    return ber_tlv(
        0x77,
        ber_tlv(0x9F27, bytes([cid])) + ber_tlv(0x9F36, u(atc, 2))
        + ber_tlv(0x9F26, cryptogram) + ber_tlv(0x9F10, iad),
    )


HANDLERS = {
    (0x80, 0xA8): (get_processing_options, False),
    (0x80, 0xAE): (generate_ac, False),
}
