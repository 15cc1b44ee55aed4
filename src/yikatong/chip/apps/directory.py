"""The payment-system directories a bank terminal selects first: PSE and PPSE.

EMV Book 1 §12.2 (and PBOC 3.0 / JR/T 0025.5, which follows it): a contact terminal selects
the PSE `1PAY.SYS.DDF01`, whose FCI names the SFI of its directory file (tag 88); each record
of that file is `70 { 61 { 4F AID, 50 label, 87 priority } … }`. A contactless reader (EMV
Book B, Entry Point) selects the PPSE `2PAY.SYS.DDF01`, whose FCI carries the directory
itself: `6F { 84 name, A5 { BF0C { 61 { 4F, 50, 87 } … } } }`, no records to read.

Both list the debit application (priority 1) and the T-Union purse (priority 2), the way the
social security card presents itself to bank terminals. The entries are read from the
applications' own DFs (AID = DF name, label = FCI tag 50), so a directory cannot name an
application the card does not carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from yikatong.chip.state import ALWAYS, NEVER, DedicatedFile, RecordFile
from yikatong.chip.tlv import ber_tlv, flatten_ber_tlv, parse_ber_tlv

PSE_NAME = b"1PAY.SYS.DDF01"
PPSE_NAME = b"2PAY.SYS.DDF01"
PSE_FID, PPSE_FID = "DF01", "DF02"  # our numbers: terminals select these by name only
DIRECTORY_SFI = 0x01
# ISO 639-1 codes in order of preference (5F2D): Chinese, then English.
LANGUAGE_PREFERENCE = b"zhen"


@dataclass(frozen=True)
class DirectoryEntry:
    aid: bytes
    label: bytes
    priority: int  # 1 = highest; bit 8 (selection needs confirmation) is never set here

    def encode(self) -> bytes:
        """An Application Template (61) of a directory."""
        if not 1 <= self.priority <= 15:
            raise ValueError("application priority is 1..15")
        return ber_tlv(
            0x61,
            ber_tlv(0x4F, self.aid) + ber_tlv(0x50, self.label) + ber_tlv(0x87, bytes([self.priority])),
        )


def entries_for(applications: Sequence[DedicatedFile]) -> list[DirectoryEntry]:
    """Directory entries of these application DFs, in priority order (first = 1)."""
    return [
        DirectoryEntry(aid=df.name, label=flatten_ber_tlv(df.fci_proprietary)[0x50], priority=n)
        for n, df in enumerate(applications, start=1)
    ]


def build_pse(entries: Sequence[DirectoryEntry]) -> DedicatedFile:
    """The contact directory: FCI with the directory file's SFI; one entry per record."""
    return DedicatedFile(
        fid=PSE_FID,
        name=PSE_NAME,
        fci_proprietary=ber_tlv(0x88, bytes([DIRECTORY_SFI])) + ber_tlv(0x5F2D, LANGUAGE_PREFERENCE),
        files=[
            RecordFile(fid="EF01", sfi=DIRECTORY_SFI, structure="variable", record_size=128,
                       max_records=len(entries), read=ALWAYS, write=NEVER,
                       records=[ber_tlv(0x70, entry.encode()) for entry in entries]),
        ],
    )


def build_ppse(entries: Sequence[DirectoryEntry]) -> DedicatedFile:
    """The contactless directory: the entries sit in the FCI (BF0C), nothing to read."""
    return DedicatedFile(
        fid=PPSE_FID,
        name=PPSE_NAME,
        fci_proprietary=ber_tlv(0xBF0C, b"".join(entry.encode() for entry in entries)),
    )


def decode_entries(data: bytes) -> list[DirectoryEntry]:
    """Every Application Template (61) in a directory record or a PPSE FCI (any depth)."""
    found: list[DirectoryEntry] = []
    for tag, value in parse_ber_tlv(data):
        if tag == 0x61:
            fields = flatten_ber_tlv(value)
            found.append(DirectoryEntry(aid=fields[0x4F], label=fields.get(0x50, b""),
                                        priority=fields.get(0x87, b"\x00")[0] & 0x0F))
        elif tag in (0x6F, 0x70, 0xA5, 0xBF0C):
            found.extend(decode_entries(value))
    return found
