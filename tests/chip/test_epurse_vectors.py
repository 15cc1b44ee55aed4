"""The pboc-epurse.json vectors run through the emulated card (card keys fixed to the vector
keys, the card's random source forced to the vector R) and through the APDU layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chip.conftest import card_data
from yikatong.chip.apdu import CommandApdu, ResponseApdu
from yikatong.chip.apps.purse import TUNION_AID
from yikatong.chip.emulator import Card
from yikatong.chip.image import CardKey, CardKeys, build_image
from yikatong.chip.state import PurseState

VECTORS = Path(__file__).parents[1] / "vectors" / "pboc-epurse.json"  # tests/vectors
h = bytes.fromhex
OTHER = h("0F1E2D3C4B5A69788796A5B4C3D2E1F0")


def _vectors() -> dict:
    if not VECTORS.is_file():
        pytest.fail(f"test vectors not found at {VECTORS}")
    return json.loads(VECTORS.read_text(encoding="utf-8"))


def vector_card(*, dlk=OTHER, dpk=OTHER, dtk=OTHER, version=1, alg_id=0x00, random: bytes,
                **purse) -> Card:
    """A card whose e-purse keys are the vector's card keys (no diversification)."""
    other = CardKey(OTHER, 1, 0x04)
    keys = CardKeys(
        issuer_auth=other, national_read=other, social_maintenance=other,
        load=CardKey(dlk, version, alg_id), purchase=CardKey(dpk, version, alg_id),
        tac=CardKey(dtk, version, alg_id), purse_maintenance=CardKey(OTHER, version, alg_id),
        debit_ac=other,
    )
    image = build_image(card_data(purse_algorithm="3DES"), keys)
    adf = next(df for df in image.mf.walk() if df.purse is not None)
    for name, value in purse.items():
        setattr(adf.purse, name, value)
    adf.deposit = PurseState()  # the e-deposit, for the ED load vector
    card = Card(image, random=lambda n: random[:n])
    card.reset()
    assert card.transmit(h("00A4040008") + TUNION_AID)[-2:] == h("9000")
    return card


def send(card: Card, apdu_hex: str) -> str:
    return card.transmit(h(apdu_hex)).hex().upper()


# card-protocol.md §3.7, self-computed values that are not in the JSON file
DOC_DTK = h("00112233445566778899AABBCCDDEEFF")
DOC_LOAD_TAC = "6314E5F5"
DOC_SM4 = {"MAC1": "2AC07703", "MAC2": "88D48B72", "TAC": "A6FFDD20"}


def test_ed_load_published_vector():
    v = _vectors()["load"][0]
    card = vector_card(dlk=h(v["DLK"]), dtk=DOC_DTK, version=2, random=h(v["R"]))
    assert send(card, v["init_for_load_apdu"]) == v["init_for_load_response"]
    assert send(card, v["credit_for_load_apdu"]) == DOC_LOAD_TAC + "9000"
    assert send(card, "805C000104") == "000010009000"  # the e-deposit now holds 0x1000
    assert send(card, "805C000204") == "000000009000"  # the e-purse is untouched


def test_sm4_load_profile_vector():
    """The SM4 profile defaults (§3.6, unverified layout) on an EP load."""
    v = _vectors()["load"][0]
    card = vector_card(dlk=h(v["DLK"]), dtk=DOC_DTK, alg_id=0x04, random=h(v["R"]))
    init = send(card, "805000020B01" + "00001000" + "001122334455" + "10")
    assert init == "00000000" + "0000" + "0104" + v["R"] + DOC_SM4["MAC1"] + "9000"
    credit = send(card, "805200000B" + "20111221214822" + DOC_SM4["MAC2"] + "04")
    assert credit == DOC_SM4["TAC"] + "9000"


def test_ep_load_fmcos_vector_mac1():
    """The FMCOS card answers algorithm 01 (DES); with K1 = K2 our 3DES profile computes the
    same session key, so everything but the algorithm byte must match."""
    v = _vectors()["load"][1]
    card = vector_card(dlk=h(v["DLK"]), version=0, random=h(v["R"]))
    amount, terminal = v["mac1_input"][8:16], v["mac1_input"][18:30]
    response = send(card, f"805000020B01{amount}{terminal}10")
    assert response[:12] == "000000000000"  # balance, online counter
    assert response[16:24] == v["R"]
    assert response[24:32] == v["MAC1"]


def test_ep_purchase_published_vector():
    """Example C: the tutorial's card has balance 0 (it would answer 9401 to a real terminal),
    so ours holds exactly the amount; every other INIT byte, MAC1, MAC2 and TAC must match."""
    v = _vectors()["purchase"][0]
    card = vector_card(dpk=h(v["DPK"]), dtk=h(v["DTK"]), random=h(v["R"]), balance=0x1000)
    init = send(card, "805001020B01" + "00001000" + "001122334455" + "0F")
    assert init == "00001000" + v["offline_ctr"] + "000000" + "0100" + v["R"] + "9000"
    debit = send(card, "805401000F" + v["term_tsn"] + "20120229135100" + v["MAC1"] + "08")
    assert debit == v["TAC"] + v["MAC2"] + "9000"
    assert send(card, "805C000204") == "000000009000"


def test_capped_purchase_vector_and_real_trace_init():
    """Example D with the purse state of the real trace: the INIT answer is the captured one
    byte for byte; the debit (our keys, not the real card's) gives the vector's TAC and MAC2."""
    v = _vectors()["purchase"][1]
    trace = _vectors()["real_trace"]
    card = vector_card(dpk=h(v["DPK"]), dtk=h(v["DTK"]), random=h(v["R"]),
                       balance=0x162AF, offline_counter=int(v["offline_ctr"], 16), overdraft_limit=0x320)
    assert send(card, trace["init_apdu"]) == trace["init_response"]
    debit = send(card, "805401000F" + v["term_tsn"] + v["datetime"] + v["MAC1"] + "08")
    assert debit == v["TAC"] + v["MAC2"] + "9000"
    # the card kept the proof for flash-card recovery: MAC2 ‖ TAC
    assert send(card, "805A000902" + v["offline_ctr"] + "08") == v["MAC2"] + v["TAC"] + "9000"


def test_real_trace_mac1_is_refused_without_the_real_keys():
    trace = _vectors()["real_trace"]
    v = _vectors()["purchase"][1]
    card = vector_card(dpk=h(v["DPK"]), random=h(v["R"]), balance=0x162AF,
                       offline_counter=0x36, overdraft_limit=0x320)
    send(card, trace["init_apdu"])
    assert send(card, trace["debit_apdu"]) == "9302"
    assert send(card, "805C000204") == "000162AF9000"


def test_real_trace_apdus_parse():
    trace = _vectors()["real_trace"]
    init = CommandApdu.parse(h(trace["init_apdu"]))
    assert (init.cla, init.ins, init.p1, init.p2, init.le) == (0x80, 0x50, 0x03, 0x02, 0x00)
    assert init.data == h("01000000C8200041599997")
    assert init.encode() == h(trace["init_apdu"])
    response = ResponseApdu.parse(h(trace["init_response"]))
    assert response.ok and response.data[:4] == h("000162AF") and response.data[4:6] == h("0036")
    assert response.data[6:9] == h("000320") and response.data[9:11] == h("0100")
    debit = CommandApdu.parse(h(trace["debit_apdu"]))
    assert debit.data[:4] == h("00000057") and debit.data[4:11] == h("20180313164329") and debit.le == 8
    answer = ResponseApdu.parse(h(trace["debit_response"]))
    assert answer.ok and answer.data == h("C630C2C8ABCC913B")
