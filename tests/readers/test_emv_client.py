"""A reader nobody here wrote reads the card: `emvtool` of the PyPI package `emv` (MIT,
pinned in pyproject's [tool.yikatong.reader-tools], installed into .venv-emvtool by
scripts/pcsc-up.sh) against the emulated card in pcscd through vpcd.

What the tool does itself: `listapps` selects the PSE and reads its directory records;
`info` selects PSE and PPSE and every listed application and reads all their records;
`appdata` selects an application, sends GET PROCESSING OPTIONS and reads the AFL's records.
It has no command for a payment's GENERATE AC (its `cap` command selects the last listed
application, which is the T-Union purse here, and asks for an offline PIN the debit
application does not offer), so that step is driven with the same package's library API
(tests/readers/emv_client_flow.py, run by the tool's interpreter), and the cryptograms it
obtained are checked with the bank's keys here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.chip.conftest import card_data
from tests.readers.conftest import card_in_vpcd
from yikatong.chip.apps.debit import DEBIT_AID
from yikatong.chip.apps.purse import CHANGZHOU_AID
from yikatong.chip.host import verify_arqc
from yikatong.chip.secure import application_cryptogram, debit_factors
from yikatong.readers.pcsc import list_readers

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[2]
TOOL_VENV = Path(os.environ.get("YKT_EMVTOOL_VENV", ROOT / ".venv-emvtool"))
FLOW = Path(__file__).with_name("emv_client_flow.py")
ANSI = re.compile(r"\x1b\([0B]|\x1b\[[0-9;]*m")  # terminaltables' line-drawing switches


def spaced(aid: bytes) -> str:
    """How emvtool prints bytes: [A0 00 00 03 ...]."""
    return " ".join(f"{byte:02X}" for byte in aid)


@pytest.fixture(scope="module")
def emvtool(pcsc_stack) -> Path:
    tool = TOOL_VENV / "bin" / "emvtool"
    if not tool.exists():
        message = f"the outside EMV client is not installed at {tool}: run scripts/pcsc-up.sh"
        if os.environ.get("YKT_REQUIRE_PCSC") == "1":
            pytest.fail(f"YKT_REQUIRE_PCSC=1 but {message}", pytrace=False)
        pytest.skip(message)
    return tool


@pytest.fixture
def card(chip_store, stored_card):
    return chip_store.load(stored_card)


def reader_index(pcsc_stack: str) -> str:
    return str(list_readers().index(pcsc_stack))


def run_tool(emvtool: Path, pcsc_stack: str, *args: str) -> str:
    done = subprocess.run([str(emvtool), "--reader", reader_index(pcsc_stack), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return ANSI.sub("", done.stdout)


def test_emvtool_finds_both_applications_in_the_pse(pcsc_stack, emvtool, card):
    with card_in_vpcd(card):
        listed = run_tool(emvtool, pcsc_stack, "listapps")
    rows = [line for line in listed.splitlines() if "[A0" in line]
    assert len(rows) == 2
    assert "UnionPay Debit" in rows[0] and spaced(DEBIT_AID) in rows[0]
    assert "MOT_T_EP" in rows[1] and spaced(CHANGZHOU_AID) in rows[1]


def test_emvtool_info_reads_pse_ppse_and_the_debit_records(pcsc_stack, emvtool, card):
    with card_in_vpcd(card):
        info = run_tool(emvtool, pcsc_stack, "info")
    assert "not available" not in info and "Error reading" not in info
    pse, rest = info.split("2PAY.SYS.DDF01", 1)
    assert "[88]" in pse and "File: 1,1" in pse and "File: 1,2" in pse  # SFI, two entries
    ppse = rest.split("\nApplication \"", 1)[0]
    assert "[BF 0C]" in ppse and "Application Template" in ppse  # the directory in the FCI
    assert '"UnionPay Debit"' in ppse and '"MOT_T_EP"' in ppse
    pan = card_pan(card)
    for tag in ("[57]", "[5A]", "[5F 20]", "[5F 24]", "[5F 25]", "[5F 34]", "[9F 07]", "[8E]",
                "[8C]", "[8D]", "[9F 0D]", "[9F 0E]", "[9F 0F]", "[9F 08]", "[9F 42]"):
        assert tag in info, tag
    assert pan in info


def test_emvtool_appdata_gets_processing_options_and_reads_the_afl(pcsc_stack, emvtool, card):
    with card_in_vpcd(card):
        data = run_tool(emvtool, pcsc_stack, "appdata", "0")
    assert 'Selected application "UnionPay Debit"' in data
    assert re.search(r"AIP\s+x\s+\[40, 0\]", data)  # 28 00, printed in decimal
    assert re.search(r"AFL\s+x\s+\[8, 1, 2, 0\]", data)  # SFI 1, records 1-2
    assert card_pan(card) in data and "Card Risk Management Data Object List 2" in data


def test_the_emv_library_gets_tc_arqc_and_aac_the_bank_can_check(pcsc_stack, emvtool, card, keystore):
    amount, unpredictable, day = 12_345, "1A2B3C4D", "260302"
    with card_in_vpcd(card):
        done = subprocess.run(
            [str(TOOL_VENV / "bin" / "python"), str(FLOW), reader_index(pcsc_stack), str(amount),
             unpredictable, day],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    approved, refused, declined = json.loads(done.stdout)["transactions"]
    pan, psn = card_pan(card), int(approved["psn"], 16)
    assert approved["apps"][0] == [DEBIT_AID.hex().upper(), "UnionPay Debit"]
    assert (approved["aip"], approved["afl"]) == ("2800", "08010200")

    # 1. asked for a TC, the card goes online; the bank's check accepts the ARQC, and after
    #    the issuer's approval (8A "00") the second GENERATE AC gives the TC.
    first = approved["first"]
    assert first["cid"] == "80"
    cdol1 = bytes.fromhex(first["data"])
    assert cdol1[:6] == bytes.fromhex("000000012345") and cdol1[-4:].hex().upper() == unpredictable
    atc = int(first["atc"], 16)
    assert verify_arqc(keystore, pan=pan, psn=psn, key_version=int(first["iad"][2:4], 16),
                       cdol1_data=cdol1, atc=atc, arqc=bytes.fromhex(first["cryptogram"]))
    second = approved["second"]
    assert (second["cid"], int(second["atc"], 16)) == ("40", atc)
    assert bytes.fromhex(second["cryptogram"]) == card_cryptogram(
        keystore, pan, psn, bytes.fromhex(second["data"]), atc, 0x40)

    # 2. asked for an AAC at once: an AAC, which the bank's ARQC check refuses.
    aac = refused["first"]
    assert aac["cid"] == "00" and int(aac["atc"], 16) == atc + 1  # GPO moved the ATC
    assert not verify_arqc(keystore, pan=pan, psn=psn, key_version=1, cdol1_data=cdol1,
                           atc=atc + 1, arqc=bytes.fromhex(aac["cryptogram"]))

    # 3. the issuer declined (8A "05"): the TC asked for becomes an AAC.
    assert declined["first"]["cid"] == "80" and declined["second"]["cid"] == "00"


def card_pan(card) -> str:
    """The PAN personalised on the `stored_card` fixture's card (tests/readers/conftest.py)."""
    data = card_data(42)
    assert data.card_no == card.card_no
    return data.pan


def card_cryptogram(keystore, pan: str, psn: int, data: bytes, atc: int, cid: int) -> bytes:
    udk = keystore.get("debit_ac", algorithm="SM4").card_key(debit_factors(pan, psn))
    return application_cryptogram(udk, atc, data + atc.to_bytes(2, "big") + bytes([cid]))
