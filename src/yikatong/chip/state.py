"""What the chip keeps in non-volatile memory: files, keys, PIN, purse and debit state.

These models are the chip image (`image.ChipImage` wraps them with the card number and the
ATR) and, at the same time, the live EEPROM of an emulated card: the emulator reads them
directly and changes them only through a `journal.Journal` at a command's commit point.
Bytes serialise as hex, so a chip image is readable JSON.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChipModel(BaseModel):
    model_config = ConfigDict(ser_json_bytes="hex", val_json_bytes="hex", validate_assignment=False)


AccessKind = Literal["always", "never", "auth", "sm", "pin"]


class Access(ChipModel):
    """An access condition, as in a card's file control parameters.

    * always / never
    * auth: after EXTERNAL AUTHENTICATE in this DF with any of `keys` (key indexes)
    * sm: secure messaging (CLA 04/84, MAC under the DF's maintenance key `keys[0]`)
    * pin: after a successful VERIFY of the DF's PIN
    """

    model_config = ConfigDict(frozen=True)
    kind: AccessKind
    keys: tuple[int, ...] = ()


ALWAYS = Access(kind="always")
NEVER = Access(kind="never")


def after_auth(*key_indexes: int) -> Access:
    return Access(kind="auth", keys=key_indexes)


def with_sm(key_index: int) -> Access:
    return Access(kind="sm", keys=(key_index,))


KeyUsage = Literal[
    "external_auth",  # issuer SM4 external authentication (reads everything)
    "national_read",  # 全国通读 key every city's PSAM holds (reads key data)
    "maintenance",  # DAMK: secure-messaging writes, APPLICATION BLOCK / UNBLOCK
    "load",  # DLK
    "purchase",  # DPK
    "tac",  # DTK
    "debit_ac",  # UDK of the debit application
]


class KeyEntry(ChipModel):
    usage: KeyUsage
    index: int
    version: int
    alg_id: int
    value: bytes = Field(repr=False)  # the card's own key: never in a repr or a log
    tries_left: int | None = None  # error counter for authentication keys


class BinaryFile(ChipModel):
    kind: Literal["binary"] = "binary"
    fid: str
    sfi: int | None = None
    read: Access = ALWAYS
    write: Access = NEVER
    data: bytes


RecordStructure = Literal["linear_fixed", "cyclic", "variable"]


class RecordFile(ChipModel):
    """Records are numbered from 1; in a cyclic file record 1 is the most recent one."""

    kind: Literal["record"] = "record"
    fid: str
    sfi: int | None = None
    read: Access = ALWAYS
    write: Access = NEVER
    structure: RecordStructure
    record_size: int  # the fixed size, or the maximum for variable records
    max_records: int
    records: list[bytes] = Field(default_factory=list)
    record_read: dict[int, Access] = Field(default_factory=dict)  # per-record read condition

    def read_access(self, number: int) -> Access:
        return self.record_read.get(number, self.read)


class Pin(ChipModel):
    digits: str = Field(repr=False)
    tries_left: int
    max_tries: int = 3


class TransactionProof(ChipModel):
    """The last e-purse transaction, for GET TRANSACTION PROVE (805A)."""

    tx_type: int
    counter: int  # the counter value the transaction used (before increment)
    mac2: bytes
    tac: bytes


class PurseState(ChipModel):
    balance: int = 0  # fen; negative while the overdraft is used
    online_counter: int = 0
    offline_counter: int = 0
    overdraft_limit: int = 0
    balance_limit: int = 100_000  # 1000 CNY, the T-Union cap
    blocked: Literal["no", "temporary", "permanent"] = "no"
    last_proof: TransactionProof | None = None


class DebitState(ChipModel):
    """The debit application's counter and the personalised data its commands answer with.

    The defaults are the layout of images personalised before the EMV data (one record,
    AIP 0000, no CDOL2), so such images keep working; `apps.debit` personalises the rest.
    """

    atc: int = 0  # incremented by GET PROCESSING OPTIONS (EMV Book 3 §6.5.8.4)
    aip: bytes = bytes.fromhex("0000")
    afl: bytes = bytes.fromhex("08010100")
    cdol1: bytes = bytes.fromhex("9F02069F03069F1A025F2A029A039C019F3704")
    cdol2: bytes = b""  # none: the card refuses a second GENERATE AC


class DedicatedFile(ChipModel):
    kind: Literal["df"] = "df"
    fid: str
    name: bytes | None = None  # DF name / AID
    files: list[Annotated[BinaryFile | RecordFile | DedicatedFile, Field(discriminator="kind")]] = Field(
        default_factory=list
    )
    keys: list[KeyEntry] = Field(default_factory=list)
    pin: Pin | None = None
    purse: PurseState | None = None  # the e-purse (EP); also carries the application's block state
    deposit: PurseState | None = None  # an e-deposit (ED), on cards personalised with one
    debit: DebitState | None = None
    fci_proprietary: bytes = b""  # content of the A5 template in the FCI

    def key(self, usage: str, index: int) -> KeyEntry | None:
        for entry in self.keys:
            if entry.usage == usage and entry.index == index:
                return entry
        return None

    def child(self, fid: str) -> BinaryFile | RecordFile | DedicatedFile | None:
        for item in self.files:
            if item.fid == fid:
                return item
        return None

    def by_sfi(self, sfi: int) -> BinaryFile | RecordFile | None:
        for item in self.files:
            if not isinstance(item, DedicatedFile) and item.sfi == sfi:
                return item
        return None

    def walk(self):
        """This DF and every DF below it, depth first."""
        yield self
        for item in self.files:
            if isinstance(item, DedicatedFile):
                yield from item.walk()


ElementaryFile = BinaryFile | RecordFile
