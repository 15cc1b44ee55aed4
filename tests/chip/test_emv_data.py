"""What an EMV terminal needs from the chip: the PSE/PPSE directories, the debit application's
data objects, and GENERATE AC answering TC / ARQC / AAC (the bank's ARQC check unchanged)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.chip.conftest import WHEN, card_data
from yikatong.chip.apdu import ResponseApdu, command
from yikatong.chip.apps import debit, directory, purse
from yikatong.chip.bankcard import cdol1_data, read_application_records, read_debit, request_arqc
from yikatong.chip.commands.debit import CDOL1, CDOL2, CID_AAC, CID_ARQC, CID_TC
from yikatong.chip.emulator import Card
from yikatong.chip.host import verify_arqc
from yikatong.chip.image import personalise
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.secure import application_cryptogram, debit_factors
from yikatong.chip.state import DebitState
from yikatong.chip.tlv import dol_length, dol_values, flatten_ber_tlv, parse_ber_tlv, parse_dol
from yikatong.core.errors import InvalidInput

UN = bytes.fromhex("0A0B0C0D")
PERSON = card_data(7)


@pytest.fixture
def chip(keystore) -> Card:
    return Card(personalise(PERSON, keystore))


@pytest.fixture
def terminal(chip) -> EmulatorReader:
    reader = EmulatorReader(chip)
    reader.connect()
    return reader


def send(reader, *apdu_args, **kwargs) -> ResponseApdu:
    return ResponseApdu.parse(reader.transmit(command(*apdu_args, **kwargs)))


def select(reader, name: bytes) -> ResponseApdu:
    return send(reader, 0x00, 0xA4, 0x04, 0x00, name, le=0)


def fci_proprietary(answer: ResponseApdu) -> dict[int, bytes]:
    fci = dict(parse_ber_tlv(answer.data))[0x6F]
    return dict(parse_ber_tlv(fci))


EXPECTED_ENTRIES = [
    directory.DirectoryEntry(debit.DEBIT_AID, b"UnionPay Debit", 1),
    directory.DirectoryEntry(purse.CHANGZHOU_AID, b"MOT_T_EP", 2),
]


# --- directories ----------------------------------------------------------------------


def test_pse_names_its_directory_file_and_lists_debit_then_t_union(terminal):
    answer = select(terminal, b"1PAY.SYS.DDF01")
    assert answer.ok
    fci = fci_proprietary(answer)
    assert fci[0x84] == b"1PAY.SYS.DDF01"
    sfi = dict(parse_ber_tlv(fci[0xA5]))[0x88][0]
    records = []
    for number in range(1, 10):
        reply = send(terminal, 0x00, 0xB2, number, (sfi << 3) | 4, le=0)
        if reply.sw == 0x6A83:  # record not found: the end of the directory
            break
        assert reply.ok and reply.data[0] == 0x70
        records.append(reply.data)
    entries = [entry for record in records for entry in directory.decode_entries(record)]
    assert entries == EXPECTED_ENTRIES


def test_ppse_carries_the_directory_in_its_fci(terminal):
    answer = select(terminal, b"2PAY.SYS.DDF01")
    assert answer.ok
    proprietary = fci_proprietary(answer)[0xA5]
    assert parse_ber_tlv(proprietary)[0][0] == 0xBF0C
    assert directory.decode_entries(answer.data) == EXPECTED_ENTRIES


def test_every_listed_application_answers_select_with_its_own_name(terminal):
    for entry in directory.decode_entries(select(terminal, b"2PAY.SYS.DDF01").data):
        answer = select(terminal, entry.aid)
        assert answer.ok, entry
        assert fci_proprietary(answer)[0x84] == entry.aid
        assert flatten_ber_tlv(answer.data)[0x50] == entry.label


def test_directory_entries_come_from_the_applications_own_dfs(chip):
    dfs = {df.name: df for df in chip.mf.walk() if df.name}
    bank, transit = dfs[debit.DEBIT_AID], dfs[purse.CHANGZHOU_AID]
    assert directory.entries_for([transit, bank])[0] == directory.DirectoryEntry(
        purse.CHANGZHOU_AID, b"MOT_T_EP", 1)
    with pytest.raises(ValueError):
        directory.DirectoryEntry(debit.DEBIT_AID, b"x", 16).encode()


# --- the debit application's data objects ----------------------------------------------


def debit_tags(reader) -> dict[int, bytes]:
    tags: dict[int, bytes] = {}
    for record in read_application_records(reader):
        for tag, value in flatten_ber_tlv(record).items():
            assert tag not in tags, f"tag {tag:X} twice in the AFL's records"
            tags[tag] = value
    return tags


def test_records_carry_what_an_emv_kernel_needs(terminal):
    tags = debit_tags(terminal)
    expiry = PERSON.pan_expiry
    assert tags[0x5A].hex().upper().rstrip("F") == PERSON.pan
    assert tags[0x57].hex().upper() == f"{PERSON.pan}D{expiry:%y%m}620".ljust(len(tags[0x57]) * 2, "F")
    assert tags[0x5F24] == bytes.fromhex(f"{expiry:%y%m%d}")
    assert tags[0x5F25] == bytes.fromhex(f"{PERSON.issue_date:%y%m%d}")
    assert tags[0x5F34] == bytes([PERSON.pan_sequence])  # n2: 01
    assert tags[0x5F30] == bytes.fromhex("0620")
    assert tags[0x5F28] == tags[0x9F42] == bytes.fromhex("0156") and tags[0x9F44] == b"\x02"
    assert tags[0x5F20] == b" /"
    assert tags[0x9F07] == bytes.fromhex("AB80")  # domestic only: no international bit
    assert tags[0x9F07][0] & 0b0101_0100 == 0 and tags[0x9F07][1] & 0x40 == 0
    assert (tags[0x8C], tags[0x8D]) == (CDOL1, CDOL2)
    assert tags[0x9F08] == bytes.fromhex("0030")
    for iac in (0x9F0D, 0x9F0E, 0x9F0F):
        assert len(tags[iac]) == 5
    assert tags[0x9F0F][0] & 0x80  # "offline data authentication not performed" → online


def test_cvm_list_asks_for_online_pin_then_signature(terminal):
    cvm = debit_tags(terminal)[0x8E]
    amount_x, amount_y, rules = cvm[:4], cvm[4:8], cvm[8:]
    assert amount_x == amount_y == bytes(4)
    pairs = [(rules[i], rules[i + 1]) for i in range(0, len(rules), 2)]
    methods = [(code & 0x3F, bool(code & 0x40), condition) for code, condition in pairs]
    # (method, apply the next rule if this one fails, condition 03 = terminal supports it)
    assert methods == [(0x02, True, 0x03), (0x1E, False, 0x03)]


def test_gpo_answers_aip_and_afl_and_moves_the_atc(terminal, chip):
    assert select(terminal, debit.DEBIT_AID).ok
    fci = flatten_ber_tlv(select(terminal, debit.DEBIT_AID).data)
    assert 0x9F38 not in fci  # no PDOL: GPO data is 83 00
    gpo = send(terminal, 0x80, 0xA8, 0x00, 0x00, b"\x83\x00", le=0)
    aip_afl = dict(parse_ber_tlv(gpo.data))[0x80]
    assert aip_afl == debit.AIP + debit.AFL == bytes.fromhex("2800" "08010200")
    assert aip_afl[0] & 0x20 and not aip_afl[0] & 0x51  # CVM yes; no SDA/DDA/CDA
    state = next(df.debit for df in chip.mf.walk() if df.debit)
    send(terminal, 0x80, 0xA8, 0x00, 0x00, b"\x83\x00", le=0)
    assert state.atc == 2
    atc = send(terminal, 0x80, 0xCA, 0x9F, 0x36, le=0)
    assert dict(parse_ber_tlv(atc.data))[0x9F36] == b"\x00\x02"
    assert send(terminal, 0x80, 0xCA, 0x9F, 0x17, le=0).sw == 0x6A88


def test_holder_name_takes_the_forms_terminals_accept():
    for good in (" /", "ZHANG/SAN", "OUYANG/XIAO MING", "A/B"):
        debit.check_holder_name(good)
    for bad in ("zhang/san", "张三", "ZHANG SAN", "Z" * 20 + "/" + "S" * 6, "/", ""):
        with pytest.raises(ValueError):
            debit.check_holder_name(bad)
    with pytest.raises(InvalidInput):
        card_data(holder_name_latin="Zhang San")


def test_a_chosen_latin_name_is_written_to_5f20(keystore):
    reader = EmulatorReader(Card(personalise(card_data(8, holder_name_latin="CESHI/JIA"), keystore)))
    reader.connect()
    assert read_debit(reader).holder_name == "CESHI/JIA"


# --- GENERATE AC ------------------------------------------------------------------------


def udk(keystore) -> bytes:
    master = keystore.get("debit_ac", algorithm="SM4")
    return master.card_key(debit_factors(PERSON.pan, PERSON.pan_sequence))


def gac(reader, p1: int, data: bytes) -> ResponseApdu:
    return send(reader, 0x80, 0xAE, p1, 0x00, data, le=0)


def gac_fields(answer: ResponseApdu) -> tuple[int, int, bytes]:
    tags = flatten_ber_tlv(answer.data)
    assert tags[0x9F10][4] == tags[0x9F27][0]  # the IAD repeats the decision
    return tags[0x9F27][0], int.from_bytes(tags[0x9F36], "big"), tags[0x9F26]


def test_tc_asked_first_goes_online_then_the_issuers_approval_gets_a_tc(terminal, keystore):
    card = read_debit(terminal)
    data1 = cdol1_data(amount=8_800, when=WHEN, unpredictable_number=UN)
    cid, atc, arqc = gac_fields(gac(terminal, CID_TC, data1))
    assert cid == CID_ARQC  # the card approves nothing offline
    assert verify_arqc(keystore, pan=card.pan, psn=card.psn, key_version=1, cdol1_data=data1,
                       atc=atc, arqc=arqc)
    data2 = b"00" + data1  # 8A "00": approved by the issuer
    cid, atc2, tc = gac_fields(gac(terminal, CID_TC, data2))
    assert (cid, atc2) == (CID_TC, atc)  # the same transaction
    assert tc == application_cryptogram(udk(keystore), atc, data2 + atc.to_bytes(2, "big") + b"\x40")
    assert gac(terminal, CID_TC, data2).sw == 0x6985  # the transaction is over


def test_a_declined_or_unanswered_transaction_ends_with_an_aac(terminal):
    read_debit(terminal)
    data1 = cdol1_data(amount=100, when=WHEN, unpredictable_number=UN)
    assert gac_fields(gac(terminal, CID_ARQC, data1))[0] == CID_ARQC
    assert gac(terminal, CID_ARQC, b"05" + data1).sw == 0x6A86  # no second ARQC
    assert gac(terminal, CID_TC, data1).sw == 0x6700  # CDOL2 data are 26 bytes
    assert gac_fields(gac(terminal, CID_TC, b"05" + data1))[0] == CID_AAC  # issuer declined


def test_an_aac_cannot_pass_as_an_arqc(terminal, keystore):
    card = read_debit(terminal)
    data1 = cdol1_data(amount=100, when=WHEN, unpredictable_number=UN)
    cid, atc, aac = gac_fields(gac(terminal, CID_AAC, data1))
    assert cid == CID_AAC
    assert not verify_arqc(keystore, pan=card.pan, psn=card.psn, key_version=1,
                           cdol1_data=data1, atc=atc, arqc=aac)
    assert gac(terminal, CID_TC, b"00" + data1).sw == 0x6985  # an AAC ends the transaction


def test_cda_and_rfu_requests_are_refused(terminal):
    read_debit(terminal)
    data1 = cdol1_data(amount=100, when=WHEN, unpredictable_number=UN)
    assert gac(terminal, CID_ARQC | 0x10, data1).sw == 0x6A86
    assert gac(terminal, 0xC0, data1).sw == 0x6A86


def test_selecting_again_ends_the_transaction(terminal):
    read_debit(terminal)
    select(terminal, debit.DEBIT_AID)
    data1 = cdol1_data(amount=100, when=WHEN, unpredictable_number=UN)
    assert gac(terminal, CID_ARQC, data1).sw == 0x6985


def test_images_from_before_the_emv_data_still_read_and_sign(keystore):
    """A stored image personalised with the one-record layout and no CDOL2 keeps working."""
    image = personalise(card_data(9), keystore)
    df = next(df for df in image.mf.walk() if df.debit)
    legacy = debit.DebitCardData(card_data(9).pan, card_data(9).pan_expiry, "620", 1, " /")
    df.files[0].records = [debit.encode_record(legacy)]
    df.debit = DebitState()
    reader = EmulatorReader(Card(image))
    reader.connect()
    card = read_debit(reader)
    assert card.pan == legacy.pan
    result = request_arqc(reader, card, amount=1, when=WHEN, unpredictable_number=UN)
    assert verify_arqc(keystore, **result.verification())
    assert gac(reader, CID_TC, b"00" + result.cdol1_data).sw == 0x6985  # no CDOL2 on it


# --- DOLs --------------------------------------------------------------------------------


def test_dol_parsing():
    assert parse_dol(CDOL2)[:2] == [(0x8A, 2), (0x9F02, 6)]
    assert dol_length(CDOL1) == 24 and dol_length(CDOL2) == 26
    values = dol_values(CDOL2, b"00" + bytes(range(24)))
    assert values[0x8A] == b"00" and values[0x9F37] == bytes(range(20, 24))
    with pytest.raises(ValueError):
        parse_dol(bytes.fromhex("9F"))


def test_track2_pads_an_odd_number_of_nibbles():
    assert debit.track2_equivalent("6214830600000001", date(2036, 3, 31), "620").hex().upper() \
        == "6214830600000001D3603620"
    assert debit.track2_equivalent("621483060000001", date(2036, 3, 31), "620").hex().upper() \
        == "621483060000001D3603620F"
