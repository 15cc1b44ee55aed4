"""SELECT, READ BINARY, READ RECORD, UPDATE BINARY and UPDATE RECORD (ISO/IEC 7816-4)."""

from __future__ import annotations

from yikatong.chip import filesystem, sw
from yikatong.chip.apdu import CommandApdu
from yikatong.chip.commands.base import Reply, check_read, check_write
from yikatong.chip.journal import Journal
from yikatong.chip.state import BinaryFile, DedicatedFile, RecordFile
from yikatong.chip.sw import CardStatus
from yikatong.chip.tlv import ber_tlv

MF_ID = "3F00"


def select(card, cmd: CommandApdu, journal: Journal) -> Reply:
    """00 A4: by DF name (P1 04, partial names allowed) or by file identifier (P1 00/01/02).

    A DF answers its FCI (6F: 84 name, A5 proprietary); an EF answers nothing. Selecting a
    blocked e-purse still works but answers 6283, as real cards do.
    """
    volatile = card.volatile
    if cmd.p2 & 0xF3 not in (0x00,):  # first occurrence; FCI or no response both accepted
        raise CardStatus(sw.WRONG_P1P2)
    if cmd.p1 == 0x04:
        if not cmd.data:
            raise CardStatus(sw.WRONG_LENGTH)
        target = filesystem.find_by_name(card.mf, cmd.data)
    elif cmd.p1 in (0x00, 0x01, 0x02):
        target = _by_id(card, cmd)
    else:
        raise CardStatus(sw.WRONG_P1P2)
    if target is None:
        raise CardStatus(sw.FILE_NOT_FOUND)
    if not isinstance(target, DedicatedFile):
        volatile.ef = target
        return Reply(b"")
    volatile.enter(target)
    fci = b"" if cmd.p2 & 0x0C == 0x0C else _fci(target)
    if target.purse is not None and target.purse.blocked != "no":
        return Reply(fci, sw.SELECTED_FILE_INVALIDATED)
    return Reply(fci)


def _by_id(card, cmd: CommandApdu):
    """P1 00: the MF, the current DF, a child of it or of its parent; P1 01: a child DF;
    P1 02: a child EF. No data selects the MF."""
    if not cmd.data:
        return card.mf if cmd.p1 == 0x00 else None
    if len(cmd.data) != 2:
        raise CardStatus(sw.WRONG_LENGTH)
    fid = cmd.data.hex().upper()
    df = card.volatile.df
    if cmd.p1 == 0x00:
        if fid in (MF_ID, df.fid):
            return card.mf if fid == MF_ID else df
        parent = filesystem.parent_of(card.mf, df)
        return df.child(fid) or (parent.child(fid) if parent else None)
    found = df.child(fid)
    return found if isinstance(found, DedicatedFile) == (cmd.p1 == 0x01) else None


def _fci(df: DedicatedFile) -> bytes:
    body = ber_tlv(0x84, df.name) if df.name else b""
    body += ber_tlv(0xA5, df.fci_proprietary)
    return ber_tlv(0x6F, body)


def _target_ef(card, sfi: int | None):
    """The EF named by SFI (it becomes the current EF) or the current EF."""
    volatile = card.volatile
    if sfi:
        ef = volatile.df.by_sfi(sfi)
        if ef is None:
            raise CardStatus(sw.FILE_NOT_FOUND)
        volatile.ef = ef
        return ef
    if volatile.ef is None:
        raise CardStatus(sw.NO_CURRENT_EF)
    return volatile.ef


def _binary_target(card, cmd: CommandApdu) -> tuple[BinaryFile, int]:
    if cmd.p1 & 0x80:
        if cmd.p1 & 0x60:
            raise CardStatus(sw.WRONG_P1P2)
        ef, offset = _target_ef(card, cmd.p1 & 0x1F), cmd.p2
    else:
        ef, offset = _target_ef(card, None), (cmd.p1 << 8) | cmd.p2
    if not isinstance(ef, BinaryFile):
        raise CardStatus(sw.INCOMPATIBLE_FILE)
    if offset > len(ef.data):
        raise CardStatus(sw.OFFSET_OUT_OF_FILE)
    return ef, offset


def read_binary(card, cmd: CommandApdu, journal: Journal) -> Reply:
    """00 B0: Le bytes from the offset; 6282 when the file ends first."""
    ef, offset = _binary_target(card, cmd)
    check_read(card, ef.read)
    wanted = cmd.max_response or 256
    data = ef.data[offset : offset + wanted]
    if cmd.le and len(data) < cmd.le:
        return Reply(data, sw.END_OF_FILE)
    return Reply(data)


def update_binary(card, cmd: CommandApdu, journal: Journal) -> Reply:
    """00 D6 / 04 D6 (secure messaging): overwrite bytes from the offset."""
    ef, offset = _binary_target(card, cmd)
    data = check_write(card, ef.write, cmd)
    if offset + len(data) > len(ef.data):
        raise CardStatus(sw.WRONG_LENGTH)
    journal.set(ef, "data", ef.data[:offset] + data + ef.data[offset + len(data) :])
    return Reply(b"")


def _record_target(card, cmd: CommandApdu) -> RecordFile:
    if cmd.p2 & 0x07 != 0x04 or cmd.p1 == 0:
        raise CardStatus(sw.WRONG_P1P2)  # only "record number in P1" is offered
    ef = _target_ef(card, cmd.p2 >> 3)
    if not isinstance(ef, RecordFile):
        raise CardStatus(sw.INCOMPATIBLE_FILE)
    return ef


def read_record(card, cmd: CommandApdu, journal: Journal) -> Reply:
    """00 B2 <n> <SFI<<3|4>: record n; 6Cxx when Le is neither 00 nor the record length."""
    ef = _record_target(card, cmd)
    check_read(card, ef.read_access(cmd.p1))
    record = filesystem.existing_record(ef, cmd.p1)
    if cmd.le and cmd.le != len(record):
        raise CardStatus(sw.wrong_length_exact(len(record)))
    return Reply(record)


def update_record(card, cmd: CommandApdu, journal: Journal) -> Reply:
    """00 DC / 04 DC (secure messaging): replace record n."""
    ef = _record_target(card, cmd)
    data = check_write(card, ef.write, cmd)
    filesystem.existing_record(ef, cmd.p1)
    filesystem.check_record(ef, data)
    journal.call(filesystem.replace_record, ef, cmd.p1, data)
    return Reply(b"")


HANDLERS = {
    (0x00, 0xA4): (select, False),
    (0x00, 0xB0): (read_binary, False),
    (0x00, 0xB2): (read_record, False),
    (0x00, 0xD6): (update_binary, True),
    (0x00, 0xDC): (update_record, True),
}
