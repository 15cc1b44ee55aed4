"""The bank file drop and the disbursement (代发) file formats (seam 1 of issue 14,
docs/bank-files.md).

Files travel through a drop, as banks take 代发 files over SFTP, never through NATS (a file is
megabytes; only its name and checksum travel on the gateway):

    <root>/<bank_code>/to_bank/<batch_id>.csv            the platform writes, the bank reads
    <root>/<bank_code>/from_bank/<batch_id>.result.csv   the bank writes, the platform reads

Every file is written to `<name>.<random>.tmp` and renamed, so a reader never sees half a
file. The root is `Settings.bank_files_dir` (YKT_BANK_FILES_DIR), else `var/bank-files`.

Disbursement file (UTF-8, LF, the csv module):

    #YKT-DISB-1,<batch_id>,<bank_code>,<payer_code>,<pay_date>,<row_count>,<total_fen>,<sm3>
    row_ref,pan,name,amount_fen,memo
    …

The SM3 (hex) covers every byte after the header line: the column line and the rows.

Result file:

    #YKT-DISB-RESULT-1,<batch_id>,<bank_code>,<row_count>,<posted_fen>,<held_fen>,<failed_fen>
    row_ref,status,reason_code,bank_reference
    …
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes

from yikatong.banking.rules import normalise_name
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.money import MAX_AMOUNT_FEN

DEFAULT_ROOT = "var/bank-files"
DISBURSEMENT_MAGIC = "#YKT-DISB-1"
RESULT_MAGIC = "#YKT-DISB-RESULT-1"
ROW_COLUMNS = ["row_ref", "pan", "name", "amount_fen", "memo"]
RESULT_COLUMNS = ["row_ref", "status", "reason_code", "bank_reference"]
POSTED, HELD, FAILED = "posted", "held", "failed"
# Why a row failed. The first four are the seam's; row_ref_reused: the row's reference was
# seen before with another payee or amount (a platform error: never paid under it).
FAILURE_REASONS = ("account_closed", "account_frozen", "name_mismatch", "unknown_account",
                   "row_ref_reused")
BATCH_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
PARTY_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
PAN = re.compile(r"^[0-9]{16,19}$")
SM3_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class BankFileInvalid(InvalidInput):
    code = "bank_file_invalid"
    zh = "代发文件不合格：{reason_zh}"
    en = "The disbursement file is not valid: {reason_en}"


class BankFileMissing(NotFound):
    code = "bank_file_missing"
    zh = "文件交换目录中没有该代发文件：{file_name}"
    en = "The file drop has no such disbursement file: {file_name}"


class BatchResubmittedChanged(Conflict):
    code = "bank_batch_changed"
    zh = "批次 {batch_id} 已受理，本次提交的文件内容不同"
    en = "Batch {batch_id} was received already with a different file"


def invalid(zh: str, en: str) -> BankFileInvalid:
    return BankFileInvalid(reason_zh=zh, reason_en=en)


# ---------------------------------------------------------------------------------------
# The drop


def root_of(settings) -> Path:
    configured = getattr(settings, "bank_files_dir", None) or os.environ.get("YKT_BANK_FILES_DIR")
    return Path(configured or DEFAULT_ROOT)


@dataclass(frozen=True)
class FileDrop:
    root: Path

    def to_bank(self, bank_code: str, file_name: str) -> Path:
        return self.root / _safe(bank_code) / "to_bank" / _safe(file_name)

    def from_bank(self, bank_code: str, file_name: str) -> Path:
        return self.root / _safe(bank_code) / "from_bank" / _safe(file_name)

    def read_to_bank(self, bank_code: str, file_name: str) -> bytes:
        path = self.to_bank(bank_code, file_name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BankFileMissing(file_name=file_name[:128]) from None


def _safe(name: str) -> str:
    """A single path component: no directories, no dot names (the drop is shared)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name \
            or name.startswith(".") or len(name) > 128 or "\x00" in name:
        raise invalid("文件名不合格", "not an acceptable file name")
    return name


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `<name>.<random>.tmp`, fsync, rename: a reader sees the whole file or none.

    The temporary name is the writer's own: the bank node's background processing and a
    gateway request that finds the result missing may write the same result file at once
    (with the same bytes), and a shared `<name>.tmp` let one rename the other's half-written
    file away, so the second rename failed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def csv_line(fields: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------
# Disbursement file


@dataclass(frozen=True)
class DisbursementHeader:
    batch_id: str
    bank_code: str
    payer_code: str
    pay_date: date
    row_count: int
    total_fen: int
    sm3_hex: str


class DisbursementRow(NamedTuple):  # a tuple: a batch makes 50,000 of them
    line_no: int        # 1 = the first row after the column line
    row_ref: str
    pan: str
    name: str           # normalised (rules.normalise_name)
    amount_fen: int
    memo: str
    fingerprint: str    # of pan, name and amount: a row_ref's content


def build_disbursement_file(*, batch_id: str, bank_code: str, payer_code: str, pay_date: date,
                            rows: Iterable[tuple[str, str, str, int, str]]) -> bytes:
    """The whole file for rows (row_ref, pan, name, amount_fen, memo) (tests, small batches;
    the platform streams big ones the same way)."""
    body = [csv_line(ROW_COLUMNS)]
    count = total = 0
    for ref, pan, name, amount, memo in rows:
        body.append(csv_line([ref, pan, name, str(amount), memo]))
        count += 1
        total += int(amount)
    data = b"".join(body)
    header = csv_line(disbursement_header(batch_id=batch_id, bank_code=bank_code,
                                          payer_code=payer_code, pay_date=pay_date,
                                          row_count=count, total_fen=total,
                                          checksum=sm3_hex(data)))
    return header + data


def disbursement_header(*, batch_id: str, bank_code: str, payer_code: str, pay_date: date,
                        row_count: int, total_fen: int, checksum: str) -> list[str]:
    """The header line's fields (the platform's streaming writer uses it too)."""
    return [DISBURSEMENT_MAGIC, batch_id, bank_code, payer_code, pay_date.isoformat(),
            str(row_count), str(total_fen), checksum]


def read_header(data: bytes) -> tuple[DisbursementHeader, bytes]:
    """The header, checked, and the rows part it covers (whose SM3 it states, checked)."""
    end = data.find(b"\n")
    if end < 0:
        raise invalid("缺少文件头", "no header line")
    try:
        fields = next(csv.reader([data[:end].decode("utf-8")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        raise invalid("文件头无法解析", "the header cannot be read") from None
    if len(fields) != 8 or fields[0] != DISBURSEMENT_MAGIC:
        raise invalid(f"文件头应为 {DISBURSEMENT_MAGIC} 及 7 个字段",
                      f"the header is {DISBURSEMENT_MAGIC} and 7 fields")
    _, batch_id, bank_code, payer_code, pay_date, row_count, total_fen, checksum = fields
    if not BATCH_ID.match(batch_id):
        raise invalid("批次号不合格", "the batch id is not [A-Za-z0-9-]{1,64}")
    if not PARTY_CODE.match(payer_code) or not PARTY_CODE.match(bank_code):
        raise invalid("银行代码或付款单位代码不合格", "the bank or payer code is not valid")
    try:
        day = date.fromisoformat(pay_date)
        count, total = int(row_count), int(total_fen)
    except ValueError:
        raise invalid("发放日期、笔数或总金额不合格",
                      "the pay date, row count or total is not valid") from None
    if not SM3_HEX.match(checksum):
        raise invalid("SM3 校验值应为 64 位十六进制", "the SM3 checksum is 64 hex digits")
    body = data[end + 1:]
    if sm3_hex(body) != checksum.lower():
        raise invalid("SM3 校验值与文件内容不符", "the SM3 checksum does not match the rows")
    return DisbursementHeader(batch_id, bank_code, payer_code, day, count, total,
                              checksum.lower()), body


def read_rows(header: DisbursementHeader, body: bytes) -> list[DisbursementRow]:
    """Every row, checked one by one and against the header's count and total. A malformed
    row refuses the whole file (the platform wrote it wrong); a well-formed row whose account
    the bank does not know is decided later (failed: unknown_account)."""
    try:
        lines = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
        columns = next(lines)
    except (UnicodeDecodeError, StopIteration, csv.Error):
        raise invalid("缺少列名行或编码不是 UTF-8", "no column line, or not UTF-8") from None
    if columns != ROW_COLUMNS:
        raise invalid(f"列名应为 {','.join(ROW_COLUMNS)}", f"the columns are {','.join(ROW_COLUMNS)}")
    rows: list[DisbursementRow] = []
    total = 0
    sha = hashlib.sha256
    try:
        for line_no, fields in enumerate(lines, start=1):
            if len(fields) != 5:
                raise _row(line_no, "应有 5 个字段", "has not 5 fields")
            ref, pan, name, amount_text, memo = fields
            if not 0 < len(ref) <= 64 or not ref.isprintable():
                raise _row(line_no, "流水号应为 1–64 个可打印字符", "row_ref is not 1–64 printable characters")
            if not PAN.match(pan):
                raise _row(line_no, "账号应为 16–19 位数字", "the account is not 16–19 digits")
            if not amount_text.isdigit() or not 0 < int(amount_text) <= MAX_AMOUNT_FEN:
                raise _row(line_no, "金额应为正整数（分）且不超过单笔上限",
                           "the amount is not a positive integer of fen within the limit")
            normal = normalise_name(name)
            if normal is None or len(memo) > 128:
                raise _row(line_no, "户名不能为空，附言最多 128 个字符",
                           "the name is empty or the memo longer than 128 characters")
            amount = int(amount_text)
            total += amount
            rows.append(DisbursementRow(
                line_no, ref, pan, normal, amount, memo,
                sha(f"{pan}|{normal}|{amount}".encode()).hexdigest()))
    except csv.Error:
        raise invalid("CSV 格式错误", "the CSV is malformed") from None
    if len(rows) != header.row_count or total != header.total_fen:
        raise invalid(f"文件头笔数 {header.row_count}、总金额 {header.total_fen} 分与明细"
                      f"（{len(rows)} 笔，{total} 分）不符",
                      f"the header says {header.row_count} rows, {header.total_fen} fen; the "
                      f"rows are {len(rows)}, {total} fen")
    return rows


def _row(line_no: int, zh: str, en: str) -> BankFileInvalid:
    return invalid(f"第 {line_no} 笔{zh}", f"row {line_no} {en}")


# ---------------------------------------------------------------------------------------
# Result file


@dataclass(frozen=True)
class ResultHeader:
    batch_id: str
    bank_code: str
    row_count: int
    posted_fen: int
    held_fen: int
    failed_fen: int


def result_file_name(batch_id: str) -> str:
    return f"{batch_id}.result.csv"


def result_chunks(header: ResultHeader,
                  rows: Iterable[tuple[str, str, str | None, str]]) -> Iterator[bytes]:
    """The result file's bytes, a few thousand rows at a time."""
    yield csv_line([RESULT_MAGIC, header.batch_id, header.bank_code, str(header.row_count),
                    str(header.posted_fen), str(header.held_fen), str(header.failed_fen)])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for n, (ref, status, reason, reference) in enumerate(rows, start=1):
        writer.writerow((ref, status, reason or "", reference))
        if n % 5000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def parse_result_header(fields: list[str]) -> ResultHeader:
    """The result file's header line, read back (ValueError if it is not one)."""
    if len(fields) != 7 or fields[0] != RESULT_MAGIC:
        raise ValueError(f"not a {RESULT_MAGIC} header")
    return ResultHeader(fields[1], fields[2], int(fields[3]), int(fields[4]), int(fields[5]),
                        int(fields[6]))


def parse_result_file(data: bytes) -> tuple[ResultHeader, list[list[str]]]:
    """A result file read back (tests and the platform's reconciliation)."""
    lines = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    header = parse_result_header(lines[0])
    if lines[1] != RESULT_COLUMNS:
        raise ValueError(f"not a {RESULT_MAGIC} file")
    return header, lines[2:]
