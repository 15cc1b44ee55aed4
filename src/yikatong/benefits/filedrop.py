"""The bank file drop (seam 1 in BENEFITS.md): where disbursement files go to a bank and
result files come back, as banks take 代发 files over SFTP.

Layout: `<root>/<bank_code>/to_bank/<batch_id>.csv` and
`<root>/<bank_code>/from_bank/<batch_id>.result.csv`; the paying offices' reconciliation
files go to `<root>/offices/<office_code>/`. Every file is written to `name.<random>.tmp` and
renamed, so a reader never sees half a file. The root is `Settings.bank_files_dir` when a
deployment sets it, else YKT_BANK_FILES_DIR, else var/bank-files.

Disbursement file (UTF-8, LF, the csv module): a header line
`#YKT-DISB-1,<batch_id>,<bank>,<payer>,<pay date>,<rows>,<total fen>,<SM3 hex>`, then the
column names `row_ref,pan,name,amount_fen,memo` and the rows. The SM3 covers every byte after
the header line (the column names line and the rows).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import hashes

# The drop's layout, the atomic write and the file formats are the bank seam's, in one place
# (banking.bankfiles); this module adds the platform's streaming writer and reader.
from yikatong.banking.bankfiles import (
    DEFAULT_ROOT,
    RESULT_COLUMNS,
    ROW_COLUMNS,
    FileDrop,
    ResultHeader,
    csv_line,
    disbursement_header,
    parse_result_header,
    root_of,
    write_atomically,
)

__all__ = ["DEFAULT_ROOT", "csv_line", "from_bank", "office_file", "read_result_file", "root_of",
           "to_bank", "write_atomically", "write_csv", "write_disbursement_blocks",
           "write_disbursement_file"]


def to_bank(root: Path, bank_code: str, batch_id: str) -> Path:
    return FileDrop(root).to_bank(bank_code, f"{batch_id}.csv")


def from_bank(root: Path, bank_code: str, file_name: str) -> Path:
    """A result file the bank named (its base name, in the bank's from_bank folder)."""
    return FileDrop(root).from_bank(bank_code, Path(file_name).name)


def office_file(root: Path, office_code: str, name: str) -> Path:
    return root / "offices" / office_code / name


def write_disbursement_file(path: Path, *, batch_id: str, bank_code: str, payer_code: str,
                            pay_day: date, rows: Iterable[list[str]]) -> tuple[int, int, str]:
    """Stream `rows` (rules.file_row lists) into the batch file: the rows go to a side file
    while counted, summed and hashed, then the header and that body are joined under the
    final name. Returns (row count, total fen, SM3 hex)."""
    tally = [0, 0]  # rows, fen

    def blocks() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")  # the bytes csv_line makes, per row
        writer.writerow(ROW_COLUMNS)
        for row in rows:
            writer.writerow(row)
            tally[0] += 1
            tally[1] += int(row[3])
            if tally[0] % 5000 == 0:  # hashed and written a block at a time
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    sm3_hex = write_disbursement_blocks(path, batch_id=batch_id, bank_code=bank_code,
                                        payer_code=payer_code, pay_day=pay_day, blocks=blocks(),
                                        totals=lambda: (tally[0], tally[1]))
    return tally[0], tally[1], sm3_hex


def write_disbursement_blocks(path: Path, *, batch_id: str, bank_code: str, payer_code: str,
                              pay_day: date, blocks: Iterable[bytes],
                              totals: Callable[[], tuple[int, int]]) -> str:
    """The batch file from its body's bytes (`blocks`: the column line, then the rows as the
    csv module writes them), hashed and written to a side file as they come; `totals()` gives
    (row count, total fen) for the header once the blocks are consumed. Returns the SM3 hex."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = path.with_name(path.name + ".body.tmp")
    digest = hashes.Hash(hashes.SM3())
    with open(body, "wb") as out:
        for block in blocks:
            digest.update(block)
            out.write(block)
    sm3_hex = digest.finalize().hex()
    count, total = totals()
    header = csv_line(disbursement_header(
        batch_id=batch_id, bank_code=bank_code, payer_code=payer_code, pay_date=pay_day,
        row_count=count, total_fen=total, checksum=sm3_hex))

    def chunks() -> Iterator[bytes]:
        yield header
        with open(body, "rb") as source:
            while block := source.read(1 << 20):
                yield block

    write_atomically(path, chunks())
    body.unlink()
    return sm3_hex


def read_result_file(path: Path) -> tuple[ResultHeader, Iterator[list[str]]]:
    """The result file's header and an iterator over its rows (row_ref, status, reason_code,
    bank_reference), read as they come."""
    handle = open(path, encoding="utf-8", newline="")  # noqa: SIM115 - closed by the iterator
    reader = csv.reader(handle)
    header = parse_result_header(next(reader))
    columns = next(reader)
    if columns != RESULT_COLUMNS:
        handle.close()
        raise ValueError(f"unexpected result columns {columns}")

    def rows() -> Iterator[list[str]]:
        with handle:
            yield from reader

    return header, rows()


def write_csv(path: Path, header: list[str], columns: list[str], rows: Iterable[list]) -> None:
    """A plain report file (the reconciliation to the paying office), atomically."""

    def chunks() -> Iterator[bytes]:
        yield csv_line(header)
        yield csv_line(columns)
        for row in rows:
            yield csv_line([str(value) if value is not None else "" for value in row])

    write_atomically(path, chunks())
