"""The social-security application: what each key unlocks (全国通读), authentication and PIN
error counters, and secure-messaging updates of the holder data."""

from __future__ import annotations

import pytest

from tests.chip.conftest import TERMINAL_ID, card_data
from yikatong.chip import terminal
from yikatong.chip.apdu import ResponseApdu, command
from yikatong.chip.apps import social
from yikatong.chip.errors import KeyNotHeld, PinLocked, WrongPin
from yikatong.chip.host import secure_command
from yikatong.chip.image import card_factor_values
from yikatong.chip.psam import Psam
from yikatong.chip.tlv import simple_tlv

EF05_P2, EF06_P2 = (social.SFI_EF05 << 3) | 4, (social.SFI_EF06 << 3) | 4


def status(reader, apdu: bytes) -> int:
    return ResponseApdu.parse(reader.transmit(apdu)).sw


def readable(reader) -> dict[str, set[int]]:
    """Which records of EF05 / EF06 the current security status lets us read."""
    return {
        name: {n for n in range(1, 8) if status(reader, command(0x00, 0xB2, n, p2, le=0)) == 0x9000}
        for name, p2 in (("EF05", EF05_P2), ("EF06", EF06_P2))
    }


def authenticate(reader, psam: Psam, purpose: str, key_index: int) -> int:
    terminal.select_social_security(reader)
    card_id = ResponseApdu.parse(reader.transmit(command(0x00, 0xB2, 1, EF05_P2, le=0))).data[2:]
    challenge = ResponseApdu.parse(reader.transmit(command(0x00, 0x84, 0x00, 0x00, le=8))).data
    return status(reader, command(0x00, 0x82, 0x00, key_index, psam.auth_cryptogram(purpose, card_id, challenge)))


def test_without_authentication_only_card_identification_data(reader):
    terminal.select_social_security(reader)
    assert readable(reader) == {"EF05": {1, 2, 3, 4, 5, 6}, "EF06": set()}
    assert status(reader, command(0x00, 0xB2, 7, EF05_P2, le=0)) == 0x6982
    assert status(reader, command(0x00, 0xB2, 1, EF06_P2, le=0)) == 0x6982


def test_national_key_unlocks_card_no_ssn_and_name(reader, psam):
    assert authenticate(reader, psam, "national_read", social.NATIONAL_READ_KEY) == 0x9000
    assert readable(reader) == {"EF05": set(range(1, 8)), "EF06": {1, 2, 3}}
    reader.connect()  # a new card session forgets the authentication
    data = terminal.read_social_security(reader, psam)
    assert (data.card_no, data.ssn, data.name) == ("C00000001", "320402199001011234", "测试甲")
    assert data.gender is None and data.birth_date is None and data.birthplace is None


def test_issuer_key_unlocks_everything(reader, outlet_psam):
    assert authenticate(reader, outlet_psam, "external_auth", social.ISSUER_AUTH_KEY) == 0x9000
    assert readable(reader) == {"EF05": set(range(1, 8)), "EF06": set(range(1, 8))}
    reader.connect()
    data = terminal.read_social_security(reader, outlet_psam)
    expected = card_data()
    assert (data.gender, data.nation, data.birthplace, data.birth_date) == (
        expected.gender, expected.nation, expected.birthplace, expected.birth_date)
    assert data.region_code == "320400" and data.spec_version == "3.00"


def test_no_psam_reads_only_public_part(reader):
    data = terminal.read_social_security(reader, None)
    assert data.card_id_code == card_data().card_id_code
    assert data.card_no is None and data.ssn is None and data.name is None


def test_a_city_psam_cannot_use_the_issuer_key(reader, psam):
    with pytest.raises(KeyNotHeld):
        authenticate(reader, psam, "external_auth", social.ISSUER_AUTH_KEY)


def test_auth_is_dropped_when_another_application_is_selected(reader, psam):
    authenticate(reader, psam, "national_read", social.NATIONAL_READ_KEY)
    reader.transmit(command(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("A000000632010105"), le=0))
    terminal.select_social_security(reader)
    assert readable(reader)["EF06"] == set()


def test_wrong_cryptogram_counts_down_and_locks_the_key(reader, card, keystore):
    stranger = Psam(keystore, terminal_id=TERMINAL_ID)
    terminal.select_social_security(reader)
    for remaining in (14, 13):
        reader.transmit(command(0x00, 0x84, 0x00, 0x00, le=8))
        assert status(reader, command(0x00, 0x82, 0x00, social.NATIONAL_READ_KEY, bytes(16))) == 0x63C0 | remaining
    assert authenticate(reader, stranger, "national_read", social.NATIONAL_READ_KEY) == 0x9000
    assert card.mf.key("national_read", social.NATIONAL_READ_KEY).tries_left == 15  # reset by success
    card.mf.key("national_read", social.NATIONAL_READ_KEY).tries_left = 0
    assert authenticate(reader, stranger, "national_read", social.NATIONAL_READ_KEY) == 0x6983
    assert status(reader, command(0x00, 0x82, 0x00, social.NATIONAL_READ_KEY, bytes(16))) == 0x6983
    assert status(reader, command(0x00, 0x82, 0x00, 0x33, bytes(16))) == 0x6A88  # no such key


def test_external_authenticate_needs_a_fresh_challenge(reader, psam):
    terminal.select_social_security(reader)
    assert status(reader, command(0x00, 0x82, 0x00, social.NATIONAL_READ_KEY, bytes(16))) == 0x6984


def test_pin_retry_counter_and_lock(reader, card):
    terminal.verify_pin(reader, "123456")
    assert status(reader, command(0x00, 0x20, 0x00, 0x00)) == 0x9000  # verified in this session
    with pytest.raises(WrongPin) as wrong:
        terminal.verify_pin(reader, "000000")
    assert wrong.value.details["remaining"] == 2
    terminal.verify_pin(reader, "123456")  # success resets the counter
    assert card.mf.pin.tries_left == 3
    for remaining in (2, 1):
        with pytest.raises(WrongPin) as wrong:
            terminal.verify_pin(reader, "654321")
        assert wrong.value.details["remaining"] == remaining
    assert status(reader, command(0x00, 0x20, 0x00, 0x00)) == 0x63C1  # tries left, no data sent
    with pytest.raises(PinLocked):
        terminal.verify_pin(reader, "654321")
    reader.connect()
    with pytest.raises(PinLocked):
        terminal.verify_pin(reader, "123456")  # even the right PIN, and after a reset


def test_issuer_updates_holder_data_by_secure_messaging(reader, keystore, psam):
    terminal.select_social_security(reader)
    new_name = simple_tlv(0x09, social.split_name("测试乙")[0])
    plain = command(0x00, 0xDC, 2, EF06_P2, new_name)
    assert status(reader, plain) == 0x6982
    challenge = ResponseApdu.parse(reader.transmit(command(0x00, 0x84, 0x00, 0x00, le=8))).data
    protected = secure_command(keystore, factors=card_factor_values(card_data()), alg_id=0x04,
                               challenge=challenge, cla=0x04, ins=0xDC, p1=2, p2=EF06_P2, data=new_name)
    assert status(reader, protected) == 0x9000
    reader.connect()
    assert terminal.read_social_security(reader, psam).name == "测试乙"


def test_long_names_use_the_extension_record():
    name = "阿" * 20  # 40 GBK bytes: 30 in tag 09, 10 in tag 4E
    head, tail = social.split_name(name)
    assert len(head) == 30 and tail.rstrip(b"\x00") == ("阿" * 5).encode("gbk")
