"""APDU framing, TLV, and the ISO 7816-4 commands of the emulated card with their status words."""

from __future__ import annotations

import pytest

from tests.chip.conftest import card_data
from yikatong.chip.apdu import CommandApdu, ResponseApdu, command
from yikatong.chip.apps import social
from yikatong.chip.apps.purse import CHANGZHOU_AID, TUNION_AID
from yikatong.chip.host import secure_command
from yikatong.chip.image import card_factor_values
from yikatong.chip.secure import protect
from yikatong.chip.sw import CardStatus
from yikatong.chip.tlv import ber_tlv, flatten_ber_tlv, parse_ber_tlv, parse_simple_tlv, simple_tlv
from yikatong.crypto.pboc import profile_named

h = bytes.fromhex


def sw(card, apdu: bytes) -> int:
    return ResponseApdu.parse(card.transmit(apdu)).sw


def data(card, apdu: bytes) -> bytes:
    response = ResponseApdu.parse(card.transmit(apdu))
    assert response.ok, f"{response.sw:04X}"
    return response.data


@pytest.mark.parametrize("raw, expected", [
    ("00A40000", (None, b"")),
    ("00B2010C00", (0, b"")),
    ("00A4000002EF05", (None, h("EF05"))),
    ("0084000008", (8, b"")),
    ("805C00020400", None),  # Lc 04 announces four bytes, only one follows
])
def test_apdu_cases(raw, expected):
    if expected is None:
        with pytest.raises(CardStatus) as refused:
            CommandApdu.parse(h(raw))
        assert refused.value.sw == 0x6700
        return
    apdu = CommandApdu.parse(h(raw))
    assert (apdu.le, apdu.data) == expected
    assert apdu.encode() == h(raw)


def test_tlv_round_trips():
    assert parse_simple_tlv(simple_tlv(0x07, b"C00000001") + b"\x00") == [(0x07, b"C00000001")]
    nested = ber_tlv(0x6F, ber_tlv(0x84, TUNION_AID) + ber_tlv(0xA5, ber_tlv(0x9F08, b"\x02")))
    assert parse_ber_tlv(nested)[0][0] == 0x6F
    assert flatten_ber_tlv(nested) == {0x84: TUNION_AID, 0x9F08: b"\x02"}
    long_value = bytes(200)
    assert parse_ber_tlv(ber_tlv(0x70, long_value)) == [(0x70, long_value)]


def test_select_by_name_partial_and_by_id(card):
    card.reset()
    fci = data(card, command(0x00, 0xA4, 0x04, 0x00, social.MF_NAME, le=0))
    assert flatten_ber_tlv(fci)[0x84] == social.MF_NAME
    assert sw(card, command(0x00, 0xA4, 0x02, 0x00, h("EF05"))) == 0x9000
    assert sw(card, command(0x00, 0xA4, 0x02, 0x00, h("EF09"))) == 0x6A82
    fci = data(card, command(0x00, 0xA4, 0x04, 0x00, TUNION_AID, le=0))  # partial name
    assert flatten_ber_tlv(fci)[0x84] == CHANGZHOU_AID
    assert len(flatten_ber_tlv(fci)[0x9F0C]) == 30  # copy of file 0015
    assert sw(card, command(0x00, 0xA4, 0x04, 0x00, h("A000000632010106"))) == 0x6A82
    assert sw(card, command(0x00, 0xA4, 0x00, 0x00, h("3F00"))) == 0x9000
    assert sw(card, command(0x00, 0xA4, 0x00, 0x00, h("1001"))) == 0x9000  # the purse ADF by id
    assert sw(card, command(0x00, 0xA4, 0x00, 0x00, h("0015"))) == 0x9000
    assert data(card, command(0x00, 0xB0, 0x00, 0x00, le=8))[2:4] == h("3040")  # Changzhou


def test_read_binary_offsets_and_status_words(card):
    card.reset()
    data(card, command(0x00, 0xA4, 0x04, 0x00, TUNION_AID, le=0))
    whole = data(card, command(0x00, 0xB0, 0x95, 0x00, le=0))
    assert len(whole) == 30
    assert data(card, command(0x00, 0xB0, 0x95, 0x0A, le=10)) == whole[10:20]
    end = ResponseApdu.parse(card.transmit(command(0x00, 0xB0, 0x95, 0x1C, le=4)))
    assert (end.sw, end.data) == (0x6282, whole[28:])
    assert sw(card, command(0x00, 0xB0, 0x95, 0x40, le=1)) == 0x6B00
    assert sw(card, command(0x00, 0xB0, 0x98, 0x00, le=0)) == 0x6981  # 0018 is a record file
    assert sw(card, command(0x00, 0xB2, 0x01, 0xAC, le=0)) == 0x6981  # 0015 is transparent
    assert sw(card, command(0x00, 0xB2, 0x01, 0xC4, le=0)) == 0x6A83  # empty log
    assert sw(card, command(0x00, 0xB0, 0x9F, 0x00, le=0)) == 0x6A82  # no SFI 1F


def test_read_record_le_and_no_current_file(card):
    card.reset()
    assert sw(card, command(0x00, 0xB2, 0x01, 0x04, le=0)) == 0x6986  # MF selected, no EF
    data(card, command(0x00, 0xA4, 0x02, 0x00, h("EF05")))
    record = data(card, command(0x00, 0xB2, 0x01, 0x04, le=0))
    assert record[:2] == h("0110")
    assert sw(card, command(0x00, 0xB2, 0x01, 0x04, le=5)) == 0x6C00 | len(record)
    assert data(card, command(0x00, 0xB2, 0x01, 0x04, le=len(record))) == record


@pytest.mark.parametrize("apdu, status", [
    ("A0A4000002EF05", 0x6E00),  # GSM class
    ("00CA9F7F00", 0x6D00),  # GET DATA is not offered
    ("805C000204", 0x6D00),  # GET BALANCE outside the purse
    ("0084000005", 0x6700),  # challenge length
    ("00A4050000", 0x6A86),
    ("04B2010400", 0x6882),  # READ RECORD does not do secure messaging
])
def test_refusals(card, apdu, status):
    card.reset()
    assert sw(card, h(apdu)) == status


def test_update_binary_needs_secure_messaging_under_damk(card, keystore, algorithm):
    card.reset()
    data(card, command(0x00, 0xA4, 0x04, 0x00, TUNION_AID, le=0))
    assert sw(card, command(0x00, 0xD6, 0x97, 0x0A, b"\x77")) == 0x6982  # plain write refused

    def sm_write(challenge: bytes) -> bytes:
        return secure_command(
            keystore, factors=card_factor_values(card_data(purse_algorithm=algorithm)),
            alg_id=profile_named(algorithm).alg_id, challenge=challenge,
            cla=0x04, ins=0xD6, p1=0x97, p2=0x0A, data=b"\x77",
        )

    assert sw(card, sm_write(bytes(8))) == 0x6984  # no challenge asked for
    challenge = data(card, command(0x00, 0x84, 0x00, 0x00, le=4))
    forged = bytearray(sm_write(challenge))
    forged[-1] ^= 1
    assert sw(card, bytes(forged)) == 0x6988
    challenge = data(card, command(0x00, 0x84, 0x00, 0x00, le=4))
    good = sm_write(challenge)
    assert sw(card, good) == 0x9000
    assert data(card, command(0x00, 0xB0, 0x97, 0x0A, le=1)) == b"\x77"
    assert sw(card, good) == 0x6984  # a challenge is good for one command


def test_protect_builds_lc_with_mac():
    apdu = protect(0x04, bytes(16), bytes(4), 0x00, 0xDC, 0x01, 0x34, b"\x08\x02AB")
    parsed = CommandApdu.parse(apdu)
    assert parsed.cla == 0x04 and len(parsed.data) == 4 + 4
