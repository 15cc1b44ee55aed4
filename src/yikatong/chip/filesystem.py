"""Operations on the chip's file tree: lookups, record writes, name matching.

Pure functions over the `state` models. Writes are meant to be staged in a journal
(`journal.call(append_record, file, record)`) after the `check_*` functions accepted them.
"""

from __future__ import annotations

from yikatong.chip import sw
from yikatong.chip.state import DedicatedFile, RecordFile
from yikatong.chip.sw import CardStatus


def find_by_name(mf: DedicatedFile, name: bytes) -> DedicatedFile | None:
    """The first DF whose name starts with `name` (ISO 7816-4 partial DF-name selection)."""
    for df in mf.walk():
        if df.name is not None and df.name.startswith(name):
            return df
    return None


def parent_of(mf: DedicatedFile, target: DedicatedFile) -> DedicatedFile | None:
    for df in mf.walk():
        if any(item is target for item in df.files):
            return df
    return None


def check_record(file: RecordFile, record: bytes) -> None:
    """6700 when a record does not fit the file's structure."""
    if file.structure == "variable":
        if not 1 <= len(record) <= file.record_size:
            raise CardStatus(sw.WRONG_LENGTH)
    elif len(record) != file.record_size:
        raise CardStatus(sw.WRONG_LENGTH)


def check_append(file: RecordFile, record: bytes) -> None:
    check_record(file, record)
    if file.structure != "cyclic" and len(file.records) >= file.max_records:
        raise CardStatus(sw.NOT_ENOUGH_MEMORY)


def append_record(file: RecordFile, record: bytes) -> None:
    """A cyclic file overwrites its oldest record; the new one becomes record 1."""
    if file.structure == "cyclic":
        file.records.insert(0, record)
        del file.records[file.max_records :]
    else:
        file.records.append(record)


def replace_record(file: RecordFile, number: int, record: bytes) -> None:
    file.records[number - 1] = record


def record_number(file: RecordFile, identifier: int) -> int | None:
    """The number of the record whose first byte is `identifier` (record-identifier mode)."""
    for number, record in enumerate(file.records, start=1):
        if record and record[0] == identifier:
            return number
    return None


def existing_record(file: RecordFile, number: int) -> bytes:
    if not 1 <= number <= len(file.records):
        raise CardStatus(sw.RECORD_NOT_FOUND)
    return file.records[number - 1]
