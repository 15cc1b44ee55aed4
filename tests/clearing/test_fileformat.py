"""The clearing file format: what is written is read back, and every kind of damage is refused
with the line it is on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.chip.records import LoadRecord, PurchaseRecord
from yikatong.clearing import fileformat, rules
from yikatong.clearing.errors import BatchCountMismatch, BatchDigestMismatch, BatchMalformed
from yikatong.clearing.fileformat import BatchRecord, FileKind, Verdict, VerdictLine
from yikatong.crypto import pboc
from yikatong.crypto.sm import sm3

WHEN = datetime(2026, 3, 2, 1, 30, 5, tzinfo=UTC)  # 09:30:05 in Changzhou
PURCHASE = PurchaseRecord(asn="03104000000000000001", issuer_id="01013040FFFFFFFF", terminal_id="304001000001",
                          tx_type=pboc.TX_CAPPED_PURCHASE, amount=120, balance_after=4880, counter=7, when=WHEN,
                          tac="A1B2C3D4", key_version=1, alg_id=pboc.ALG_SM4, terminal_serial=42)
LOAD = LoadRecord(asn="03104000000000000001", issuer_id="01013040FFFFFFFF", terminal_id="304010000001",
                  tx_type=pboc.TX_EP_LOAD, amount=5000, balance_after=5000, counter=0, when=WHEN,
                  tac="0badcafe".upper(), key_version=1, alg_id=pboc.ALG_3DES)


def bus_record(**changes) -> BatchRecord:
    record = fileformat.record_of(PURCHASE, city="3040", operator="CZBUS", mode="bus", tap="board", line="1",
                                  card_kind="social_security", rider="adult")
    return record._replace(**{"seq": 1, **changes})


def terminal_file(records, **kwargs) -> str:
    return fileformat.render_records(FileKind.TERMINAL, "304001000001-20260302", "304001000001", records,
                                     created=WHEN, operator="CZBUS", terminal_id="304001000001", **kwargs)


def test_a_terminal_file_reads_back_as_written():
    load = fileformat.record_of(LOAD, city="3040", operator="CZBUS")._replace(terminal_id="304001000001")
    content = terminal_file([bus_record(), load])
    read = fileformat.parse(content)
    assert read.header.kind is FileKind.TERMINAL and read.header.count == 2
    assert read.records == [bus_record(), load._replace(seq=2)]
    assert (read.total_debits, read.total_credits) == (120, 5000)
    assert read.digest == sm3(content.rsplit("T|", 1)[0].encode()).hex().upper()
    assert read.records[0].card_time == "20260302093005" and read.records[0].when == WHEN
    assert read.records[1].counter_kind == fileformat.ONLINE and read.records[0].counter_kind == fileformat.OFFLINE


def test_a_verdict_file_reads_back_with_its_totals():
    verdicts = [VerdictLine(0, 1, PURCHASE.asn, "offline", 7, 120, Verdict.ACCEPTED),
                VerdictLine(0, 2, PURCHASE.asn, "offline", 8, 200, Verdict.FORGED)]
    content = fileformat.render_verdicts(FileKind.NATIONAL_RESULT, "NCH-RES-1", "TUNION-NCH", "3040-NOUT-1",
                                         verdicts, created=WHEN)
    read = fileformat.parse(content)
    assert read.header.reference == "3040-NOUT-1"
    assert [v.verdict for v in read.verdicts] == [Verdict.ACCEPTED, Verdict.FORGED]
    assert (read.trailer.total_1, read.trailer.total_2) == (120, 200)


def test_the_tac_bytes_are_the_cards():
    """The hex the bulk verifiers get is byte for byte what the card MACed (chip records)."""
    record = bus_record()
    assert bytes.fromhex(rules.purchase_tac_hex(record)) == PURCHASE.tac_data()
    load = fileformat.record_of(LOAD, city="3040", operator="X")
    assert bytes.fromhex(rules.load_tac_hex(load)) == LOAD.tac_data()


def _replace_line(content: str, number: int, new: str) -> str:
    lines = content.split("\n")
    lines[number - 1] = new
    return "\n".join(lines)


def _reseal(content: str) -> str:
    """Recompute the trailer (counts, totals, digest) of an edited file, as a sender would."""
    body = content.rsplit("T|", 1)[0]
    lines = body.strip("\n").split("\n")[1:]
    count = len(lines)
    amounts = [(f[6] in ("01", "02"), int(f[7]) if f[7].isdigit() else 0) for f in (x.split("|") for x in lines)]
    debits = sum(amount for load, amount in amounts if not load)
    credits = sum(amount for load, amount in amounts if load)
    return body + f"T|{count}|{debits}|{credits}|{sm3(body.encode()).hex().upper()}\n"


@pytest.mark.parametrize(("field_no", "value", "says"), [
    (2, "0310400000000000001", "application serial number"),
    (3, "01013040ffffffff", "issuer ID"),
    (6, "9", "transaction type"),
    (7, "1.20", "amount"),
    (10, "20260230093005", "invalid date-time"),
    (11, "A1B2C3", "TAC"),
    (16, "tram", "mode"),
    (20, "x" * 17, "fare region"),
    (23, "2", "recovered flag"),
])
def test_a_bad_field_is_refused_with_its_line_and_name(field_no, value, says):
    fields = terminal_file([bus_record(), bus_record(counter=8)]).split("\n")[2].split("|")
    fields[field_no] = value
    content = _reseal(_replace_line(terminal_file([bus_record(), bus_record(counter=8)]), 3, "|".join(fields)))
    with pytest.raises(BatchMalformed) as refused:
        fileformat.parse(content)
    assert refused.value.details["line"] == 3 and says in refused.value.message_en
    assert refused.value.http_status == 422 and "第 3 行" in refused.value.message_zh


@pytest.mark.parametrize(("record", "says"), [
    (bus_record(seq=5), "sequence number"),
    (bus_record(tx_type=0x03), "not cleared"),
    (bus_record(tac=""), "must carry its TAC"),
    (bus_record(mode="metro", tap="board"), "bus tap"),
    (bus_record(mode="metro", tap="entry", line="", station=""), "station"),
    (bus_record(terminal_id="304001000099"), "differs from the header"),
    (bus_record(operator="CZMETRO"), "differs from the header"),
    (bus_record(counter=70000), "does not fit"),
])
def test_records_that_cannot_be_cleared_are_refused(record, says):
    line = fileformat._record_line(record.seq, record)
    content = _reseal(_replace_line(terminal_file([bus_record()]), 2, line))
    with pytest.raises(BatchMalformed) as refused:
        fileformat.parse(content)
    assert says in refused.value.message_en


@pytest.mark.parametrize(("bad", "says"), [
    ({"tac": ""}, "must carry its TAC"),
    ({"counter": 70000}, "does not fit"),
    ({"card_time": "20260230093005"}, "invalid date-time"),
    ({"mode": "metro", "tap": "entry", "station": ""}, "station"),
    ({"seq": 7}, "sequence number"),
])
def test_one_bad_record_among_many_is_named_by_its_line(bad, says):
    """A large file is read in bulk; a file that fails a bulk check is read again line by line
    to name the first bad line."""
    records = [bus_record(seq=seq, counter=seq) for seq in range(1, 301)]
    bad_record = records[199]._replace(**bad)
    content = _reseal(_replace_line(terminal_file(records), 201, fileformat._record_line(bad_record.seq, bad_record)))
    with pytest.raises(BatchMalformed) as refused:
        fileformat.parse(content)
    assert refused.value.details["line"] == 201 and says in refused.value.message_en


@pytest.mark.parametrize(("damage", "says"), [
    (lambda line: line + "|0", "fields expected"),
    (lambda line: line.rsplit("|", 1)[0], "fields expected"),
    (lambda line: line + "\r", "recovered flag"),
    (lambda line: line.replace("|CZBUS|", '|"CZBUS"|'), "operator code"),
    (lambda line: "r" + line[1:], "must start with R|"),
])
def test_a_damaged_line_among_many_is_named_by_its_line(damage, says):
    """What the bulk reader cannot take as a record line is named as the line-by-line reader
    names it."""
    content = terminal_file([bus_record(seq=seq, counter=seq) for seq in range(1, 301)])
    content = _reseal(_replace_line(content, 201, damage(content.split("\n")[200])))
    with pytest.raises(BatchMalformed) as refused:
        fileformat.parse(content)
    assert refused.value.details["line"] == 201 and says in refused.value.message_en


def test_a_wrong_digest_is_refused():
    content = terminal_file([bus_record()])
    tampered = content.replace("|120|4880|", "|100|4880|").replace("T|1|120|", "T|1|100|")
    with pytest.raises(BatchDigestMismatch):
        fileformat.parse(tampered)


@pytest.mark.parametrize("edit", [
    lambda c: c.replace("|20260302093005|1\n", "|20260302093005|2\n", 1),  # header count
    lambda c: c.replace("\nT|1|", "\nT|2|"),  # trailer count
    lambda c: c.replace("\nT|1|120|", "\nT|1|121|"),  # trailer total
])
def test_wrong_counts_or_totals_are_refused(edit):
    content = terminal_file([bus_record()])
    edited = edit(content)
    assert edited != content
    with pytest.raises(BatchCountMismatch):
        fileformat.parse(edited)


@pytest.mark.parametrize("damage", [
    lambda c: c[:-1],  # no final line feed: truncated
    lambda c: c.split("\n", 1)[1],  # no header
    lambda c: c.rsplit("T|", 1)[0],  # no trailer
    lambda c: c.replace("H|YKTCLR|1|TERMINAL", "H|YKTCLR|1|SOMETHING"),
    lambda c: c.replace("\n", "\r\n"),
])
def test_damaged_files_are_refused(damage):
    with pytest.raises((BatchMalformed, BatchCountMismatch, BatchDigestMismatch)):
        fileformat.parse(damage(terminal_file([bus_record()])))


# Free text: any character but the separator and line ends (backslashes, tabs, quotes, Chinese).
_text = st.text(alphabet=st.characters(exclude_characters="|\r\n", exclude_categories=("Cs",)), max_size=16)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "asn": st.from_regex(r"\d{20}", fullmatch=True),
    "amount": st.integers(0, 0xFFFFFFFF),
    "balance_after": st.integers(-(2**31), 2**31 - 1),
    "counter": st.integers(0, 0xFFFF),
    "terminal_serial": st.integers(0, 0xFFFFFFFF),
    "line": _text,
    "station": _text,
    "region": _text,
    "recovered": st.booleans(),
}), min_size=1, max_size=5))
def test_any_records_round_trip(changes):
    """Read in bulk (a frame of typed columns) and into the same records as line by line."""
    records = [bus_record(**change) for change in changes]
    content = terminal_file(records)
    read = fileformat.parse(content)
    assert read.records == [replace_seq(record, seq) for seq, record in enumerate(records, start=1)]
    assert read.frame is not None and read.frame.rows() == [tuple(record) for record in read.records]
    assert fileformat._parse_records_line_by_line(content.split("\n")[1:-2], read.header) == read.records


def replace_seq(record: BatchRecord, seq: int) -> BatchRecord:
    return record._replace(seq=seq)


def test_chip_records_keep_their_fields():
    record = fileformat.record_of(replace(PURCHASE, recovered=True), city="3040", operator="CZBUS", mode="bus",
                                  tap="board", line="B1")
    assert (record.terminal_serial, record.recovered, record.line, record.tac) == (42, True, "B1", "A1B2C3D4")
    assert fileformat.record_of(LOAD, city="3040", operator="X").terminal_serial == 0


def test_records_read_in_bulk_are_made_from_the_frame_one_at_a_time_then_all_at_once():
    records = [bus_record(counter=n, terminal_serial=n + 1) for n in range(300)]
    read = fileformat.parse(terminal_file(records))
    expected = [replace_seq(record, seq) for seq, record in enumerate(records, start=1)]
    assert isinstance(read.records, fileformat.FrameRecords) and len(read.records) == 300
    assert [read.records[i] for i in range(0, 300, 2)] == expected[::2]
    assert read.records._made is None  # 150 rows asked for: made one at a time
    assert [read.records[i] for i in range(1, 300, 2)] == expected[1::2]
    assert read.records._made is not None  # past 256: all made once
    assert (read.records[-1], read.records[10:12], list(read.records)) == (expected[-1], expected[10:12], expected)
