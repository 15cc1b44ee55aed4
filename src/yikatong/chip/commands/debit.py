"""The UnionPay (PBOC 3.0 / EMV) debit application: GET PROCESSING OPTIONS, GENERATE AC, GET DATA.

A transaction follows EMV Book 3 §10: SELECT, GET PROCESSING OPTIONS (the ATC moves on and the
card answers its AIP and AFL), READ RECORD of the AFL's records, a first GENERATE AC over the
CDOL1 data and, after an ARQC, a second GENERATE AC over the CDOL2 data carrying the issuer's
answer. Selecting any DF ends the transaction.

Card decisions (card risk management, ours; docs.md): the card never approves offline, so a
first GENERATE AC asking for a TC gets an ARQC, one asking for an AAC gets an AAC; a second
GENERATE AC gets the TC it asks for only when the issuer approved (authorisation response
code "00"), otherwise an AAC. Cryptograms (SM4, secure.application_cryptogram) cover the DOL
data ‖ ATC; TC and AAC also cover the cryptogram information byte, so neither can be passed
off as an ARQC (the ARQC input is the bank's contract, host.verify_arqc). There is no offline
data authentication (no CDA), no issuer authentication and no script processing.
"""

from __future__ import annotations

from dataclasses import dataclass

from yikatong.chip import sw
from yikatong.chip.apdu import CommandApdu
from yikatong.chip.codec import u
from yikatong.chip.journal import Journal
from yikatong.chip.secure import application_cryptogram
from yikatong.chip.sw import CardStatus
from yikatong.chip.tlv import ber_tlv, dol_length, dol_values

# CDOL1: 9F02 amount(6) 9F03 other(6) 9F1A country(2) 5F2A currency(2) 9A date(3)
#        9C type(1) 9F37 unpredictable number(4). The bank verifies exactly these 24 bytes
#        (banking.rules.parse_cdol1), so the list is part of the bank's contract.
CDOL1 = bytes.fromhex("9F02069F03069F1A025F2A029A039C019F3704")
CDOL1_LENGTH = 24
# CDOL2: 8A authorisation response code(2) followed by CDOL1's items: the TC of the second
# GENERATE AC covers the issuer's answer and the same transaction data.
CDOL2 = bytes.fromhex("8A02") + CDOL1
CDOL2_LENGTH = 26
AIP = bytes.fromhex("0000")  # images personalised before the EMV data (state.DebitState)
AFL = bytes.fromhex("08010100")
CID_AAC, CID_TC, CID_ARQC = 0x00, 0x40, 0x80
CDA_REQUESTED = 0x10
AUTHORISATION_RESPONSE_CODE = 0x8A
ISSUER_APPROVED = b"00"  # authorisation response code (ISO 8583 field 39), "approved"
DEBIT_KEY_INDEX = 0x01
CVN = 0x01
# GET DATA (80 CA) answers these; the ATC lets a terminal's velocity checks run.
GET_DATA_ATC = 0x9F36


@dataclass
class DebitSession:
    """RAM from GET PROCESSING OPTIONS to the last GENERATE AC of one transaction."""

    atc: int
    stage: str = "records"  # records → online (after an ARQC) → done


def _debit(card):
    df = card.volatile.df
    if df.debit is None:
        raise CardStatus(sw.INS_NOT_SUPPORTED)
    return df, df.debit


def get_processing_options(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 A8 00 00 02 83 00 (no PDOL): format 1 (tag 80) AIP ‖ AFL; the ATC moves on."""
    _, debit = _debit(card)
    if cmd.p1 or cmd.p2:
        raise CardStatus(sw.WRONG_P1P2)
    if cmd.data[:1] != b"\x83":
        raise CardStatus(sw.WRONG_DATA)
    if debit.atc >= 0xFFFF:
        raise CardStatus(sw.CONDITIONS_NOT_SATISFIED)  # the ATC limit ends the application
    atc = debit.atc + 1
    journal.set(debit, "atc", atc)
    card.volatile.debit_session = DebitSession(atc=atc)
    return ber_tlv(0x80, debit.aip + debit.afl)


def generate_ac(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 AE <80 ARQC | 40 TC | 00 AAC> 00 <CDOL1 or CDOL2 data>: format 2 (tag 77)."""
    df, debit = _debit(card)
    session: DebitSession | None = card.volatile.debit_session
    requested = cmd.p1 & 0xC0
    if cmd.p2 or cmd.p1 & 0x3F or requested == 0xC0:
        raise CardStatus(sw.WRONG_P1P2)  # CDA is not offered; 11xxxxxx is RFU
    if session is None or session.stage == "done":
        raise CardStatus(sw.CONDITIONS_NOT_SATISFIED)  # no GPO, or the transaction is over
    key = df.key("debit_ac", DEBIT_KEY_INDEX)
    if key is None:
        raise CardStatus(sw.REFERENCED_DATA_NOT_FOUND)
    if session.stage == "records":
        cid = _first_decision(cmd, debit.cdol1, requested)
    else:
        cid = _second_decision(cmd, debit.cdol2, requested)
    covered = cmd.data + u(session.atc, 2) + (b"" if cid == CID_ARQC else bytes([cid]))
    cryptogram = application_cryptogram(key.value, session.atc, covered)
    session.stage = "online" if cid == CID_ARQC else "done"
    iad = bytes([0x07, key.version, CVN, key.alg_id, cid, 0x00, 0x00, 0x00])
    return ber_tlv(
        0x77,
        ber_tlv(0x9F27, bytes([cid])) + ber_tlv(0x9F36, u(session.atc, 2))
        + ber_tlv(0x9F26, cryptogram) + ber_tlv(0x9F10, iad),
    )


def _first_decision(cmd: CommandApdu, cdol1: bytes, requested: int) -> int:
    """AAC when asked; otherwise online (the card approves nothing offline)."""
    if len(cmd.data) != dol_length(cdol1):
        raise CardStatus(sw.WRONG_LENGTH)
    return CID_AAC if requested == CID_AAC else CID_ARQC


def _second_decision(cmd: CommandApdu, cdol2: bytes, requested: int) -> int:
    """TC when asked and the issuer approved; AAC otherwise. An ARQC cannot be asked twice."""
    if not cdol2:
        raise CardStatus(sw.CONDITIONS_NOT_SATISFIED)
    if requested == CID_ARQC:
        raise CardStatus(sw.WRONG_P1P2)
    if len(cmd.data) != dol_length(cdol2):
        raise CardStatus(sw.WRONG_LENGTH)
    approved = dol_values(cdol2, cmd.data).get(AUTHORISATION_RESPONSE_CODE) == ISSUER_APPROVED
    return CID_TC if requested == CID_TC and approved else CID_AAC


def get_data(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 CA 9F 36: the ATC; other data objects are not offered (6A88)."""
    _, debit = _debit(card)
    tag = (cmd.p1 << 8) | cmd.p2
    if tag != GET_DATA_ATC:
        raise CardStatus(sw.REFERENCED_DATA_NOT_FOUND)
    return ber_tlv(tag, u(debit.atc, 2))


HANDLERS = {
    (0x80, 0xA8): (get_processing_options, False),
    (0x80, 0xAE): (generate_ac, False),
    (0x80, 0xCA): (get_data, False),
}
