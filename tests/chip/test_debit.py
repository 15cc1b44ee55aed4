"""The minimal UnionPay debit application: records a POS reads and an ARQC the bank verifies."""

from __future__ import annotations

from tests.chip.conftest import WHEN, card_data
from yikatong.chip.apdu import ResponseApdu, command
from yikatong.chip.apps.debit import DEBIT_AID
from yikatong.chip.bankcard import cdol1_data, read_debit, request_arqc
from yikatong.chip.host import verify_arqc
from yikatong.chip.secure import debit_y

UN = bytes.fromhex("1A2B3C4D")


def test_pos_reads_pan_expiry_service_code_and_psn(reader):
    card = read_debit(reader)
    expected = card_data()
    assert (card.pan, card.psn, card.expiry) == (expected.pan, expected.pan_sequence, expected.pan_expiry)
    assert card.service_code == "620"


def test_arqc_verifies_at_the_host_and_tampering_fails(reader, keystore):
    card = read_debit(reader)
    first = request_arqc(reader, card, amount=12_345, when=WHEN, unpredictable_number=UN)
    assert first.cryptogram_type == 0x80 and first.atc == 1 and len(first.arqc) == 8
    assert verify_arqc(keystore, **first.verification())
    tampered_amount = cdol1_data(amount=12_346, when=WHEN, unpredictable_number=UN)
    assert not verify_arqc(keystore, **{**first.verification(), "cdol1_data": tampered_amount})
    assert not verify_arqc(keystore, **{**first.verification(), "atc": 2})
    assert not verify_arqc(keystore, **{**first.verification(), "pan": "6214830600000002"})
    card = read_debit(reader)  # a new transaction: GET PROCESSING OPTIONS moves the ATC
    second = request_arqc(reader, card, amount=12_345, when=WHEN, unpredictable_number=UN)
    assert second.atc == 2 and second.arqc != first.arqc  # the ATC moves the session key
    assert verify_arqc(keystore, **second.verification())


def test_generate_ac_refusals(reader):
    reader.transmit(command(0x00, 0xA4, 0x04, 0x00, DEBIT_AID, le=0))
    no_gpo = ResponseApdu.parse(reader.transmit(command(0x80, 0xAE, 0x80, 0x00, bytes(24), le=0)))
    assert no_gpo.sw == 0x6985  # a transaction starts with GET PROCESSING OPTIONS
    reader.transmit(command(0x80, 0xA8, 0x00, 0x00, b"\x83\x00", le=0))
    short = ResponseApdu.parse(reader.transmit(command(0x80, 0xAE, 0x80, 0x00, bytes(10), le=0)))
    assert short.sw == 0x6700
    reader.transmit(command(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("A000000632010105"), le=0))
    elsewhere = ResponseApdu.parse(reader.transmit(command(0x80, 0xAE, 0x80, 0x00, bytes(24), le=0)))
    assert elsewhere.sw == 0x6D00


def test_udk_factor_is_the_right_16_digits_of_pan_and_psn():
    assert debit_y("6214830612345678901", 1).hex() == "3061234567890101"
    assert debit_y("62148306123", 0).hex() == "0000006214830612300"[-16:]
