"""Run by the outside EMV client's own interpreter (.venv-emvtool, package `emv`), not by pytest.

Drives, with the `emv` library's API only, what its `emvtool` command has no command for:
application selection through the PSE, GET PROCESSING OPTIONS, READ RECORD of the AFL, then
GENERATE AC with the CDOL1/CDOL2 data serialised by the library from the card's own DOLs.
Prints one JSON object (hex strings) for the test to check against the bank's keys.

Usage: python emv_client_flow.py READER_INDEX AMOUNT_FEN UNPREDICTABLE_HEX YYMMDD
"""

import json
import sys

import smartcard.System
from emv.card import Card
from emv.protocol.command import GenerateApplicationCryptogramCommand as GenerateAC
from emv.protocol.data import Tag
from emv.protocol.response import ErrorResponse

DEBIT_AID = [0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01]


def bcd(number, length):
    digits = str(number).rjust(length * 2, "0")
    return [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]


def hexs(data):
    return bytes(data).hex().upper()


def start(card):
    """Select the debit application found in the PSE, GPO, read the AFL's records."""
    apps = card.list_applications()
    debit = next(app for app in apps if list(app[Tag.ADF_NAME]) == DEBIT_AID)
    card.select_application(debit[Tag.ADF_NAME])
    options = card.get_processing_options()
    return apps, options, card.get_application_data(options["AFL"])


def generate_ac(card, kind, dol, values):
    data = dol.serialise(values)
    try:
        answer = card.tp.exchange(GenerateAC(kind, data)).data[Tag.RMTF2]
    except ErrorResponse as refusal:
        return {"data": hexs(data), "sw": f"{refusal.sw1:02X}{refusal.sw2:02X}"}
    return {
        "data": hexs(data), "sw": "9000",
        "cid": hexs(answer[Tag((0x9F, 0x27))]), "atc": hexs(answer[Tag((0x9F, 0x36))]),
        "cryptogram": hexs(answer[Tag((0x9F, 0x26))]), "iad": hexs(answer[Tag((0x9F, 0x10))]),
    }


def main():
    reader, amount, unpredictable, day = sys.argv[1:5]
    card = Card(smartcard.System.readers()[int(reader)].createConnection())
    values = {
        Tag((0x9F, 0x02)): bcd(amount, 6), Tag((0x9F, 0x03)): bcd(0, 6),
        Tag((0x9F, 0x1A)): bcd(156, 2), Tag((0x5F, 0x2A)): bcd(156, 2),
        Tag(0x9A): bcd(day, 3), Tag(0x9C): [0x00],
        Tag((0x9F, 0x37)): list(bytes.fromhex(unpredictable)),
    }
    out = {"transactions": []}
    # 1: the terminal asks for a TC; the issuer approves online (8A "00").
    # 2: the terminal asks for an AAC at once.   3: the issuer declines (8A "05").
    for first, answer_code in ((GenerateAC.TC, "00"), (GenerateAC.AAC, None), (GenerateAC.ARQC, "05")):
        apps, options, records = start(card)
        run = {
            "apps": [[hexs(app[Tag.ADF_NAME]), bytes(app[Tag.APP_LABEL]).decode()] for app in apps],
            "aip": hexs(options["AIP"]), "afl": hexs(options["AFL"]),
            "pan": hexs(records[Tag.PAN]), "psn": hexs(records[Tag.PAN_SN]),
            "first": generate_ac(card, first, records[Tag.CDOL1], values),
        }
        if answer_code is not None:
            second = {**values, Tag(0x8A): list(answer_code.encode())}
            run["second"] = generate_ac(card, GenerateAC.TC, records[Tag.CDOL2], second)
        out["transactions"].append(run)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
