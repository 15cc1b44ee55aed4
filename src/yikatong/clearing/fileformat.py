"""The clearing file format (docs/clearing-batch-format.md): parse and write, pure.

One format for every file that crosses a boundary of the platform: a terminal's upload, the
platform's own top-ups, and the files exchanged with the national clearing house in both
directions. UTF-8, LF line endings, fields separated by `|`:

    H|YKTCLR|1|<kind>|<file id>|<sender>|<operator>|<terminal id>|<reference>|<created>|<count>
    R|<seq>|<asn>|<issuer id>|<terminal id>|<terminal serial>|<type>|<amount>|<balance after>|
      <counter>|<card time>|<tac>|<key version>|<alg id>|<city>|<operator>|<mode>|<tap>|<line>|
      <station>|<region>|<card kind>|<rider>|<recovered>              (one line, record files)
    V|<seq>|<ref seq>|<asn>|<counter kind>|<counter>|<amount>|<verdict>   (verdict files)
    T|<count>|<total 1>|<total 2>|<SM3 of every line before this one, each with its LF>

Record files carry the totals of purchases (debits) and loads (credits); verdict files the
totals of accepted and of refused amounts. Parsing checks every field, the sequence numbers,
the counts, the totals and the digest, and raises a typed error naming the first bad line:
nothing is half-read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache, partial
from typing import NamedTuple, get_type_hints

import polars as pl

from yikatong.chip.records import CardTransaction, PurchaseRecord
from yikatong.clearing.errors import BatchCountMismatch, BatchDigestMismatch, BatchMalformed
from yikatong.core.clock import CST, as_utc
from yikatong.crypto import pboc
from yikatong.crypto.sm import sm3

FORMAT = "YKTCLR"
VERSION = "1"
LOAD_TYPES = frozenset({pboc.TX_ED_LOAD, pboc.TX_EP_LOAD})
PURCHASE_TYPES = frozenset({pboc.TX_ED_PURCHASE, pboc.TX_EP_PURCHASE, pboc.TX_CAPPED_PURCHASE})
ONLINE, OFFLINE = "online", "offline"  # which card counter a transaction used


class FileKind(StrEnum):
    TERMINAL = "TERMINAL"  # a validator, gate or load terminal → the platform
    TOP_UPS = "TOP_UPS"  # the platform's own top-ups (transit top-up service) → clearing
    NATIONAL_OUT = "NATIONAL_OUT"  # platform → national house: other issuers' cards used here
    NATIONAL_IN = "NATIONAL_IN"  # national house → platform: our cards used in other cities
    NATIONAL_RESULT = "NATIONAL_RESULT"  # national house → platform: verdicts on a NATIONAL_OUT
    NATIONAL_ACK = "NATIONAL_ACK"  # platform → national house: verdicts on a NATIONAL_IN


RECORD_KINDS = frozenset({FileKind.TERMINAL, FileKind.TOP_UPS, FileKind.NATIONAL_OUT, FileKind.NATIONAL_IN})
VERDICT_KINDS = frozenset({FileKind.NATIONAL_RESULT, FileKind.NATIONAL_ACK})


class Verdict(StrEnum):
    ACCEPTED = "ACCEPTED"
    FORGED = "FORGED"  # the TAC does not verify under the issuer's key
    DUPLICATE = "DUPLICATE"  # the same card and counter was already cleared
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"  # no issuer of that ID is known to the house


class Header(NamedTuple):
    kind: FileKind
    file_id: str
    sender: str
    operator: str
    terminal_id: str
    reference: str  # the file a verdict file answers; empty otherwise
    created: str  # YYYYMMDDhhmmss, China Standard Time
    count: int


class BatchRecord(NamedTuple):
    """One card transaction with the place it happened: everything clearing needs."""

    seq: int
    asn: str  # 20 digits (file 0015)
    issuer_id: str  # 16 hex digits (file 0015)
    terminal_id: str  # 12 hex digits (the PSAM terminal number)
    terminal_serial: int  # the PSAM's transaction serial (0 for loads)
    tx_type: int
    amount: int  # fen
    balance_after: int  # fen, negative while an overdraft is used
    counter: int  # the card counter the transaction used (online for loads, offline otherwise)
    card_time: str  # YYYYMMDDhhmmss, China Standard Time, as the card keeps it
    tac: str  # 8 hex digits; empty only for a load the platform confirmed from the card's counter
    key_version: int
    alg_id: int
    city: str  # GB/T 13497 code of the city where the terminal stands
    operator: str  # the operator whose terminal it is (bus company, metro)
    mode: str = ""  # bus | metro | "" (not a transit tap)
    tap: str = ""  # board | entry | exit | ""
    line: str = ""
    station: str = ""
    region: str = ""
    card_kind: str = ""  # file 0017 as the terminal read it: social_security | city_card | ""
    rider: str = ""  # adult | student | senior_70 | disabled | ""
    recovered: bool = False  # a torn transaction the terminal settled at the card's next tap

    @property
    def is_load(self) -> bool:
        return self.tx_type in LOAD_TYPES

    @property
    def counter_kind(self) -> str:
        return ONLINE if self.tx_type in LOAD_TYPES else OFFLINE

    @property
    def issuer_city(self) -> str:
        return self.issuer_id[4:8]

    @property
    def when(self) -> datetime:
        return card_datetime(self.card_time)

    @property
    def key(self) -> tuple[str, str, int]:
        """What makes a card transaction unique: card, counter kind, counter."""
        return self.asn, self.counter_kind, self.counter


class VerdictLine(NamedTuple):
    seq: int
    ref_seq: int  # the record's sequence number in the file this verdict answers
    asn: str
    counter_kind: str
    counter: int
    amount: int
    verdict: Verdict


class Trailer(NamedTuple):
    count: int
    total_1: int
    total_2: int
    digest: str


@dataclass(frozen=True)
class ClearingFile:
    header: Header
    records: Sequence[BatchRecord]  # a list, or FrameRecords when read in bulk
    verdicts: list[VerdictLine]
    trailer: Trailer
    # The records as typed columns (BatchRecord's fields), when they were read in bulk: what
    # clearing's passes over the whole file and the PostgreSQL bulk write work on.
    frame: pl.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def digest(self) -> str:
        return self.trailer.digest

    @property
    def total_debits(self) -> int:
        return sum(r.amount for r in self.records if not r.is_load)

    @property
    def total_credits(self) -> int:
        return sum(r.amount for r in self.records if r.is_load)


# --- reading ---------------------------------------------------------------------------------

_ID = r"[A-Za-z0-9._:-]{1,64}"
_TEXT = r"[^|\r\n]{0,16}"
_HEADER = re.compile(
    rf"H\|{FORMAT}\|{VERSION}\|([A-Z_]+)\|({_ID})\|([A-Za-z0-9._-]{{1,32}})\|([A-Za-z0-9]{{0,16}})\|"
    rf"([0-9A-F]{{12}}|)\|({_ID}|)\|(\d{{14}})\|(\d{{1,9}})"
)
_RECORD = re.compile(
    r"R\|(\d{1,9})\|(\d{20})\|([0-9A-F]{16})\|([0-9A-F]{12})\|(\d{1,10})\|([0-9A-F]{2})\|(\d{1,10})\|"
    r"(-?\d{1,10})\|(\d{1,5})\|(\d{14})\|([0-9A-F]{8}|)\|(\d{1,3})\|([0-9A-F]{2})\|(\d{4})\|"
    rf"([A-Za-z0-9]{{1,16}})\|(bus|metro|)\|(board|entry|exit|)\|({_TEXT})\|({_TEXT})\|({_TEXT})\|"
    r"(social_security|city_card|)\|(adult|student|senior_70|disabled|)\|([01])"
)
_VERDICT = re.compile(
    r"V\|(\d{1,9})\|(\d{1,9})\|(\d{20})\|(online|offline)\|(\d{1,5})\|(\d{1,10})\|"
    r"(ACCEPTED|FORGED|DUPLICATE|UNKNOWN_ISSUER)"
)
_TRAILER = re.compile(r"T\|(\d{1,9})\|(\d{1,15})\|(\d{1,15})\|([0-9A-F]{64})")

# Field by field, only to say which field of a refused record line is wrong.
_RECORD_FIELDS = (
    ("seq", r"\d{1,9}", "序号", "sequence number"),
    ("asn", r"\d{20}", "应用序列号（20 位数字）", "application serial number (20 digits)"),
    ("issuer_id", r"[0-9A-F]{16}", "发卡机构标识（16 位大写十六进制）", "issuer ID (16 upper-case hex digits)"),
    ("terminal_id", r"[0-9A-F]{12}", "终端编号（12 位大写十六进制）", "terminal ID (12 upper-case hex digits)"),
    ("terminal_serial", r"\d{1,10}", "终端交易序号", "terminal serial"),
    ("tx_type", r"[0-9A-F]{2}", "交易类型（2 位十六进制）", "transaction type (2 hex digits)"),
    ("amount", r"\d{1,10}", "金额（分）", "amount (fen)"),
    ("balance_after", r"-?\d{1,10}", "交易后余额（分）", "balance after (fen)"),
    ("counter", r"\d{1,5}", "卡计数器", "card counter"),
    ("card_time", r"\d{14}", "交易时间 YYYYMMDDhhmmss", "card time YYYYMMDDhhmmss"),
    ("tac", r"[0-9A-F]{8}|", "TAC（8 位大写十六进制）", "TAC (8 upper-case hex digits)"),
    ("key_version", r"\d{1,3}", "密钥版本", "key version"),
    ("alg_id", r"[0-9A-F]{2}", "算法标识（2 位十六进制）", "algorithm ID (2 hex digits)"),
    ("city", r"\d{4}", "城市代码（4 位）", "city code (4 digits)"),
    ("operator", r"[A-Za-z0-9]{1,16}", "运营单位代码", "operator code"),
    ("mode", r"bus|metro|", "交通方式 bus/metro", "mode bus/metro"),
    ("tap", r"board|entry|exit|", "刷卡类型 board/entry/exit", "tap board/entry/exit"),
    ("line", _TEXT, "线路（至多 16 字符）", "line (at most 16 characters)"),
    ("station", _TEXT, "车站（至多 16 字符）", "station (at most 16 characters)"),
    ("region", _TEXT, "票价区域（至多 16 字符）", "fare region (at most 16 characters)"),
    ("card_kind", r"social_security|city_card|", "卡类 social_security/city_card", "card kind social_security/city_card"),
    ("rider", r"adult|student|senior_70|disabled|", "乘客类别", "rider category"),
    ("recovered", r"[01]", "补录标志 0/1", "recovered flag 0/1"),
)
_MAX_U32 = 0xFFFFFFFF


def card_datetime(card_time: str) -> datetime:
    """The aware instant of a card's YYYYMMDDhhmmss (China Standard Time)."""
    return datetime(int(card_time[:4]), int(card_time[4:6]), int(card_time[6:8]), int(card_time[8:10]),
                    int(card_time[10:12]), int(card_time[12:14]), tzinfo=CST)


def card_time_of(moment: datetime) -> str:
    """YYYYMMDDhhmmss in China Standard Time of an aware instant."""
    return as_utc(moment).astimezone(CST).strftime("%Y%m%d%H%M%S")


def _malformed(line: int, zh: str, en: str) -> BatchMalformed:
    return BatchMalformed(line=line, reason_zh=zh, reason_en=en)


def parse(content: bytes | str) -> ClearingFile:
    """Read and check a whole clearing file. Raises BatchMalformed (with the line number),
    BatchCountMismatch or BatchDigestMismatch."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    if not data.endswith(b"\n"):
        raise _malformed(0, "文件须以换行结束（可能被截断）", "the file must end with a line feed (truncated?)")
    body_end = data.rfind(b"\n", 0, len(data) - 1) + 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(0, "文件不是 UTF-8 编码", "the file is not UTF-8") from None
    lines = text.split("\n")[:-1]
    if len(lines) < 2:
        raise _malformed(len(lines), "缺少文件头或文件尾", "the header or the trailer is missing")
    header = _parse_header(lines[0])
    trailer = _parse_trailer(lines[-1], len(lines))
    body, frame = lines[1:-1], None
    if header.kind in RECORD_KINDS:
        records, frame = _parse_records(data[data.index(b"\n") + 1:body_end], body, header)
        verdicts, totals = [], _record_totals(records) if frame is None else _frame_totals(frame)
    else:
        records, verdicts = [], _parse_verdicts(body)
        totals = (sum(v.amount for v in verdicts if v.verdict is Verdict.ACCEPTED),
                  sum(v.amount for v in verdicts if v.verdict is not Verdict.ACCEPTED))
    count = len(records) + len(verdicts)
    if header.count != count or trailer.count != count:
        raise BatchCountMismatch(
            reason_zh=f"文件头 {header.count} 笔、文件尾 {trailer.count} 笔，实有 {count} 笔",
            reason_en=f"the header says {header.count}, the trailer {trailer.count}, the file holds {count}",
        )
    if (trailer.total_1, trailer.total_2) != totals:
        raise BatchCountMismatch(
            reason_zh=f"文件尾合计 {trailer.total_1}/{trailer.total_2} 分，记录合计 {totals[0]}/{totals[1]} 分",
            reason_en=f"the trailer totals {trailer.total_1}/{trailer.total_2} fen, the records {totals[0]}/{totals[1]}",
        )
    if sm3(data[:body_end]).hex().upper() != trailer.digest:
        raise BatchDigestMismatch()
    return ClearingFile(header, records, verdicts, trailer, frame)


def _parse_header(line: str) -> Header:
    match = _HEADER.fullmatch(line)
    if match is None:
        raise _malformed(1, f"文件头应为 H|{FORMAT}|{VERSION}|类型|文件号|发送方|运营单位|终端|答复文件|时间|笔数",
                         f"the header must be H|{FORMAT}|{VERSION}|kind|file id|sender|operator|terminal|reference|time|count")
    kind, file_id, sender, operator, terminal_id, reference, created, count = match.groups()
    if kind not in FileKind.__members__:
        raise _malformed(1, f"未知文件类型 {kind}", f"unknown file kind {kind}")
    _check_time(created, 1)
    kind = FileKind(kind)
    if kind is FileKind.TERMINAL and not (operator and terminal_id):
        raise _malformed(1, "终端批次须写明运营单位和终端编号", "a terminal batch must name its operator and terminal")
    if (kind in VERDICT_KINDS) != bool(reference):
        raise _malformed(1, "答复文件须且仅须写明所答复的文件号", "a verdict file, and only a verdict file, names the file it answers")
    return Header(kind, file_id, sender, operator, terminal_id, reference, created, int(count))


def _parse_trailer(line: str, number: int) -> Trailer:
    match = _TRAILER.fullmatch(line)
    if match is None:
        raise _malformed(number, "文件尾应为 T|笔数|合计1|合计2|SM3 摘要（64 位大写十六进制）",
                         "the trailer must be T|count|total 1|total 2|SM3 digest (64 upper-case hex digits)")
    count, total_1, total_2, digest = match.groups()
    return Trailer(int(count), int(total_1), int(total_2), digest)


_INTEGER_FIELDS = ("seq", "terminal_serial", "amount", "balance_after", "counter", "key_version")
_HEX_FIELDS = ("tx_type", "alg_id")
_new_record = partial(tuple.__new__, BatchRecord)
# A record's fields as a frame's columns, in BatchRecord order (what `_record_frame` reads).
RECORD_SCHEMA = {name: {int: pl.Int64, bool: pl.Boolean, str: pl.String}[kind]
                 for name, kind in get_type_hints(BatchRecord).items()}


def frame_of(records: Sequence[BatchRecord]) -> pl.DataFrame:
    """Records as the typed columns a bulk read gives (for records that were not read in bulk)."""
    columns = list(zip(*records, strict=True)) or [()] * len(BatchRecord._fields)
    return pl.DataFrame([pl.Series(name, column, dtype=dtype)
                         for (name, dtype), column in zip(RECORD_SCHEMA.items(), columns, strict=True)])


def _parse_records(body: bytes, lines: list[str], header: Header) -> tuple[Sequence[BatchRecord], pl.DataFrame | None]:
    """(the records, their typed columns) of the body's record lines. A file can hold a
    million lines: polars reads and checks them a column at a time and the rest of the checks
    run in bulk; a file that fails any check is read again line by line, which names the first
    bad line (and gives no frame)."""
    frame = _record_frame(body, len(lines)) if lines else None
    if frame is not None and _well_formed(frame, header):
        return FrameRecords(frame), frame
    return _parse_records_line_by_line(lines, header), None


class FrameRecords(Sequence[BatchRecord]):
    """A bulk-read file's records, made from its frame when asked for. Clearing works on the
    frame's columns, which costs less than making a million tuples; what it asks of single
    records (a flag's details) is made one row at a time, until that many rows were asked for
    that making them all is cheaper."""

    _ONE_AT_A_TIME = 256

    def __init__(self, frame: pl.DataFrame) -> None:
        self._frame, self._made, self._asked = frame, None, 0

    def _all(self) -> list[BatchRecord]:
        if self._made is None:
            columns = [self._frame.get_column(name).to_list() for name in BatchRecord._fields]
            self._made = list(map(_new_record, zip(*columns, strict=True)))
        return self._made

    def __len__(self) -> int:
        return self._frame.height

    def __getitem__(self, index):
        if self._made is None and isinstance(index, int) and self._asked < self._ONE_AT_A_TIME:
            self._asked += 1
            return _new_record(self._frame.row(index))
        return self._all()[index]

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None


def _record_frame(body: bytes, count: int) -> pl.DataFrame | None:
    """The record lines as typed columns, or None when a line is not one (wrong field count,
    a field that does not match its pattern, a number that does not fit)."""
    if b"\r" in body:  # polars would take CR LF for a line end: the format allows LF only
        return None
    names = ["R", *(name for name, *_ in _RECORD_FIELDS)]
    try:
        text = pl.read_csv(body, has_header=False, separator="|", quote_char=None, new_columns=names,
                           schema=dict.fromkeys(names, pl.String), empty_string_is_null=False)
        matches = text.select((pl.col("R") == "R").fill_null(False).all(),
                              *(pl.col(name).str.contains(f"^(?:{pattern})$").fill_null(False).all()
                                for name, pattern, *_ in _RECORD_FIELDS))
        if text.height != count or not all(matches.row(0)):
            return None
        return text.with_columns(
            *(pl.col(name).cast(pl.Int64) for name in _INTEGER_FIELDS),
            *(pl.col(name).str.to_integer(base=16) for name in _HEX_FIELDS),
            recovered=pl.col("recovered") == "1",
        ).select(BatchRecord._fields)
    except pl.exceptions.PolarsError:
        return None


def _well_formed(frame: pl.DataFrame, header: Header) -> bool:
    """`_check_record` and `_check_time` on every record, in bulk: sequence numbers, field
    widths and a terminal file's terminal and operator over whole columns, card times once
    each, the rest once per distinct shape of record (type, TAC present, mode, tap, station
    present)."""
    column = pl.col
    fits = frame.select((column("seq") == pl.int_range(1, frame.height + 1)).all(),
                        column("amount").max() <= _MAX_U32, column("terminal_serial").max() <= _MAX_U32,
                        column("counter").max() <= 0xFFFF, column("key_version").max() <= 0xFF)
    if not all(fits.row(0)):
        return False
    if header.kind is FileKind.TERMINAL and (frame["terminal_id"].unique().to_list() != [header.terminal_id]
                                             or frame["operator"].unique().to_list() != [header.operator]):
        return False
    shapes = frame.with_row_index().group_by(
        "tx_type", column("tac") != "", "mode", "tap", column("station") != "").agg(column("index").last())
    try:
        for card_time in frame["card_time"].unique().to_list():
            _check_time(card_time, 0)
        for index in shapes["index"].to_list():
            _check_record(_new_record(frame.row(index)), index + 2, header)
    except BatchMalformed:
        return False
    return True


def _parse_records_line_by_line(lines: list[str], header: Header) -> list[BatchRecord]:
    times: dict[str, bool] = {}  # card times already checked (taps share seconds)
    records = []
    match_record = _RECORD.fullmatch
    new = tuple.__new__  # every field is given: BatchRecord's generated __new__ would only add a call
    for number, line in enumerate(lines, start=2):
        match = match_record(line)
        if match is None:
            raise _explain_record(line, number)
        g = match.groups()
        record = new(BatchRecord, (
            int(g[0]), g[1], g[2], g[3], int(g[4]), int(g[5], 16), int(g[6]), int(g[7]), int(g[8]), g[9],
            g[10], int(g[11]), int(g[12], 16), g[13], g[14], g[15], g[16], g[17], g[18], g[19], g[20], g[21],
            g[22] == "1",
        ))
        if g[9] not in times:
            times[g[9]] = _check_time(g[9], number)
        _check_record(record, number, header)
        records.append(record)
    return records


def _check_record(record: BatchRecord, number: int, header: Header) -> None:
    seq, _asn, _issuer, terminal_id, serial, tx_type, amount, _balance, counter, _time, tac, key_version, _alg, \
        _city, operator, mode, tap, _line, station, *_ = record
    load = tx_type in LOAD_TYPES
    if seq != number - 1:
        raise _malformed(number, f"序号应为 {number - 1}", f"the sequence number must be {number - 1}")
    if not load and tx_type not in PURCHASE_TYPES:
        raise _malformed(number, f"不清算的交易类型 {tx_type:02X}", f"transaction type {tx_type:02X} is not cleared")
    if amount > _MAX_U32 or serial > _MAX_U32 or counter > 0xFFFF or key_version > 0xFF:
        raise _malformed(number, "金额、终端序号、计数器或密钥版本超出卡片字段长度",
                         "amount, terminal serial, counter or key version does not fit the card's field")
    if not tac and not load:
        raise _malformed(number, "消费记录必须带 TAC", "a purchase record must carry its TAC")
    if load and (mode or tap):
        raise _malformed(number, "充值记录不是乘车记录，交通方式须为空", "a load is not a ride: mode and tap must be empty")
    if (mode == "bus") != (tap == "board") or (mode == "metro") != (tap in ("entry", "exit")):
        raise _malformed(number, "公交须为 board，地铁须为 entry/exit", "a bus tap is 'board', a metro tap 'entry' or 'exit'")
    if mode == "metro" and not station:
        raise _malformed(number, "地铁记录须有车站", "a metro record needs its station")
    if header.kind is FileKind.TERMINAL and (terminal_id != header.terminal_id or operator != header.operator):
        raise _malformed(number, "记录的终端或运营单位与文件头不符", "the record's terminal or operator differs from the header's")


def _check_time(card_time: str, number: int) -> bool:
    """A real date and time of day (what `card_datetime` accepts), the date checked once."""
    if not (_valid_date(card_time[:8]) and card_time[8:10] < "24" and card_time[10:12] < "60"
            and card_time[12:14] < "60"):
        raise _malformed(number, f"无效的时间 {card_time}", f"invalid date-time {card_time}")
    return True


@lru_cache(maxsize=4096)
def _valid_date(yyyymmdd: str) -> bool:
    try:
        card_datetime(yyyymmdd + "000000")
    except ValueError:
        return False
    return True


def _frame_totals(frame: pl.DataFrame) -> tuple[int, int]:
    """(purchases, loads) in fen, as `_record_totals` gives them, a column at a time."""
    load = pl.col("tx_type").is_in(list(LOAD_TYPES))
    debits, credits = frame.select(debits=pl.col("amount").filter(~load).sum(),
                                   credits=pl.col("amount").filter(load).sum()).row(0)
    return debits, credits


def _record_totals(records: list[BatchRecord]) -> tuple[int, int]:
    """(purchases, loads) in fen."""
    debits = credits = 0
    for r in records:
        if r.tx_type in LOAD_TYPES:
            credits += r.amount
        else:
            debits += r.amount
    return debits, credits


def _explain_record(line: str, number: int) -> BatchMalformed:
    fields = line.split("|")
    if fields[0] != "R":
        return _malformed(number, "记录行须以 R| 开头", "a record line must start with R|")
    if len(fields) != len(_RECORD_FIELDS) + 1:
        return _malformed(number, f"应有 {len(_RECORD_FIELDS) + 1} 个字段，实有 {len(fields)} 个",
                          f"{len(_RECORD_FIELDS) + 1} fields expected, {len(fields)} found")
    for value, (_name, pattern, zh, en) in zip(fields[1:], _RECORD_FIELDS, strict=True):
        if not re.fullmatch(pattern, value):
            return _malformed(number, f"{zh}无效：{value!r}", f"invalid {en}: {value!r}")
    return _malformed(number, "记录行无效", "invalid record line")


def _parse_verdicts(lines: list[str]) -> list[VerdictLine]:
    verdicts = []
    for number, line in enumerate(lines, start=2):
        match = _VERDICT.fullmatch(line)
        if match is None:
            raise _malformed(number, "答复行应为 V|序号|原序号|应用序列号|计数器类型|计数器|金额|结论",
                             "a verdict line must be V|seq|ref seq|asn|counter kind|counter|amount|verdict")
        seq, ref_seq, asn, kind, counter, amount, verdict = match.groups()
        if int(seq) != number - 1:
            raise _malformed(number, f"序号应为 {number - 1}", f"the sequence number must be {number - 1}")
        verdicts.append(VerdictLine(int(seq), int(ref_seq), asn, kind, int(counter), int(amount), Verdict(verdict)))
    return verdicts


# --- writing ---------------------------------------------------------------------------------


def render_records(kind: FileKind, file_id: str, sender: str, records: Sequence[BatchRecord], *, created: datetime,
                   operator: str = "", terminal_id: str = "") -> str:
    """A record file; records are renumbered 1..n in the given order."""
    lines = [_record_line(seq, r) for seq, r in enumerate(records, start=1)]
    debits = sum(r.amount for r in records if not r.is_load)
    credits = sum(r.amount for r in records if r.is_load)
    return _assemble(Header(kind, file_id, sender, operator, terminal_id, "", card_time_of(created), len(lines)),
                     lines, debits, credits)


def render_verdicts(kind: FileKind, file_id: str, sender: str, reference: str, verdicts: Iterable[VerdictLine], *,
                    created: datetime) -> str:
    """A verdict file answering file `reference`; verdicts are renumbered 1..n."""
    verdicts = list(verdicts)
    lines = [f"V|{seq}|{v.ref_seq}|{v.asn}|{v.counter_kind}|{v.counter}|{v.amount}|{v.verdict}"
             for seq, v in enumerate(verdicts, start=1)]
    accepted = sum(v.amount for v in verdicts if v.verdict is Verdict.ACCEPTED)
    refused = sum(v.amount for v in verdicts if v.verdict is not Verdict.ACCEPTED)
    return _assemble(Header(kind, file_id, sender, "", "", reference, card_time_of(created), len(lines)),
                     lines, accepted, refused)


def _record_line(seq: int, r: BatchRecord) -> str:
    return (f"R|{seq}|{r.asn}|{r.issuer_id}|{r.terminal_id}|{r.terminal_serial}|{r.tx_type:02X}|{r.amount}|"
            f"{r.balance_after}|{r.counter}|{r.card_time}|{r.tac}|{r.key_version}|{r.alg_id:02X}|{r.city}|"
            f"{r.operator}|{r.mode}|{r.tap}|{r.line}|{r.station}|{r.region}|{r.card_kind}|{r.rider}|"
            f"{int(r.recovered)}")


def _assemble(header: Header, lines: list[str], total_1: int, total_2: int) -> str:
    head = (f"H|{FORMAT}|{VERSION}|{header.kind}|{header.file_id}|{header.sender}|{header.operator}|"
            f"{header.terminal_id}|{header.reference}|{header.created}|{header.count}")
    body = "".join(line + "\n" for line in [head, *lines])
    digest = sm3(body.encode("utf-8")).hex().upper()
    return body + f"T|{len(lines)}|{total_1}|{total_2}|{digest}\n"


def record_of(transaction: CardTransaction, *, city: str, operator: str, mode: str = "", tap: str = "",
              line: str | None = None, station: str | None = None, region: str | None = None,
              card_kind: str = "", rider: str = "") -> BatchRecord:
    """The file record of a chip transaction record and the place of its terminal."""
    serial = transaction.terminal_serial if isinstance(transaction, PurchaseRecord) else 0
    return BatchRecord(
        0, transaction.asn, transaction.issuer_id, transaction.terminal_id, serial, transaction.tx_type,
        transaction.amount, transaction.balance_after, transaction.counter, card_time_of(transaction.when),
        transaction.tac, transaction.key_version, transaction.alg_id, city, operator, mode, tap, line or "",
        station or "", region or "", card_kind, rider, transaction.recovered,
    )
