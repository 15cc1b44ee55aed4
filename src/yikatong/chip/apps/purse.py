"""The T-Union transport e-purse (交通联合, JT/T 978) under AID A000000632010105.

Files (card-protocol.md §4): 0015 public application info (30 bytes), 0017 management info
(60 bytes), 0018 transaction detail (cyclic, 23-byte records), 001A complex-application
transit records (variable, ≤ 128 bytes, by record identifier), 001E transit process log
(cyclic, 48-byte records). Everything is readable without authentication, as on real
T-Union cards; 0015/0017 are written by secure messaging under DAMK, 0018 only by the card,
001A/001E only through UPDATE CAPP DATA CACHE inside a capped purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from yikatong.chip.codec import (
    bcd,
    bcd_date,
    bcd_date_time,
    parse_bcd_date,
    parse_bcd_date_time,
    to_int,
    u,
)
from yikatong.chip.state import (
    ALWAYS,
    NEVER,
    BinaryFile,
    DedicatedFile,
    PurseState,
    RecordFile,
    with_sm,
)
from yikatong.chip.tlv import ber_tlv

if TYPE_CHECKING:
    from yikatong.chip.image import CardKeys, CardPersonalisation

TUNION_AID = bytes.fromhex("A000000632010105")
# A city suffix follows the T-Union AID on real cards (Suzhou: 2150 "SUZHOU"); ours is invented.
CHANGZHOU_AID = TUNION_AID + bytes.fromhex("2150") + b"CHZHOU"
PURSE_FID = "1001"
LABEL = b"MOT_T_EP"
SFI_PUBLIC, SFI_MANAGEMENT, SFI_LOG, SFI_COMPLEX, SFI_TRANSIT = 0x15, 0x17, 0x18, 0x1A, 0x1E
KEY_INDEX = 0x01
MAINTENANCE_KEY = 0x01
APP_TYPE = 0x02
APP_VERSION = 0x01
LOG_RECORDS, TRANSIT_RECORDS, COMPLEX_RECORDS = 10, 10, 8
BALANCE_LIMIT = 100_000  # 1000 CNY (seed 三.5)

CHANGZHOU_CITY = "3040"  # GB/T 13497 city code
CHANGZHOU_ISSUER_ID = bytes.fromhex("0101" + CHANGZHOU_CITY + "FFFFFFFF")
# Overdraft limit (fen) per issuing city; the seed allows none for Changzhou.
OVERDRAFT_BY_CITY: dict[str, int] = {CHANGZHOU_CITY: 0}


def overdraft_for(issuer_id: bytes) -> int:
    return OVERDRAFT_BY_CITY.get(issuer_id[2:4].hex().upper(), 0)


@dataclass(frozen=True)
class PublicInfo:
    """File 0015 (§4.1)."""

    issuer_id: bytes
    app_type: int
    app_version: int
    asn: bytes  # 10 bytes BCD
    start: date | None
    expiry: date | None
    discretionary: bytes = b"\x00\x00"

    def encode(self) -> bytes:
        return (
            self.issuer_id + bytes([self.app_type, self.app_version]) + self.asn
            + (bcd_date(self.start) if self.start else bytes(4))
            + (bcd_date(self.expiry) if self.expiry else bytes(4)) + self.discretionary
        )

    @classmethod
    def parse(cls, data: bytes) -> PublicInfo:
        if len(data) != 30:
            raise ValueError("file 0015 is 30 bytes")
        return cls(data[:8], data[8], data[9], data[10:20], parse_bcd_date(data[20:24]),
                   parse_bcd_date(data[24:28]), data[28:30])

    @property
    def city_code(self) -> str:
        return self.issuer_id[2:4].hex().upper()

    @property
    def card_number(self) -> str:
        """The printed T-Union number: the ASN digits without the first one (19 digits)."""
        return self.asn.hex().upper()[1:]


@dataclass(frozen=True)
class LogEntry:
    """One 0018 record (§4.3): CTR(2) OVERDRAFT(3) AMOUNT(4) TYPE(1) TERMID(6) DATE(4) TIME(3)."""

    counter: int
    overdraft_limit: int
    amount: int
    tx_type: int
    terminal_id: bytes
    when: datetime | None

    @classmethod
    def parse(cls, record: bytes) -> LogEntry:
        if len(record) != 23:
            raise ValueError("a 0018 record is 23 bytes")
        return cls(to_int(record[:2]), to_int(record[2:5]), to_int(record[5:9]), record[9],
                   record[10:16], parse_bcd_date_time(record[16:20], record[20:23]))


@dataclass(frozen=True)
class TransitLogEntry:
    """One 001E record (48 bytes, §4.4; field names partly unverified).

    TYPE(1: 03 entry, 04 exit, 06 single) TERMID(8) SUBTYPE(1) STATION(7) AMOUNT(4)
    BALANCE_AFTER(4) DATETIME(7) CITY(2) INSTITUTION(8) RFU(6).
    """

    kind: int
    terminal: bytes
    subtype: int
    station: bytes
    amount: int
    balance_after: int
    when: datetime | None
    city: str
    institution: bytes

    def encode(self) -> bytes:
        date4, time3 = bcd_date_time(self.when) if self.when else (bytes(4), bytes(3))
        return (
            bytes([self.kind]) + self.terminal.rjust(8, b"\x00")[:8] + bytes([self.subtype])
            + self.station.rjust(7, b"\x00")[:7] + u(self.amount, 4) + u(self.balance_after & 0xFFFFFFFF, 4)
            + date4 + time3 + bcd(self.city, 2) + self.institution.rjust(8, b"\x00")[:8] + bytes(6)
        )

    @classmethod
    def parse(cls, record: bytes) -> TransitLogEntry:
        if len(record) != 48:
            raise ValueError("a 001E record is 48 bytes")
        return cls(record[0], record[1:9], record[9], record[10:17], to_int(record[17:21]),
                   int.from_bytes(record[21:25], "big", signed=True),
                   parse_bcd_date_time(record[25:29], record[29:32]),
                   record[32:34].hex().upper(), record[34:42])


# File 0017 byte 11: our rider category (the recalled layout ends at byte 10, the card kind).
RIDER_CODES = {"adult": 0x00, "student": 0x01, "senior_70": 0x02, "disabled": 0x03}
CARD_KIND_SOCIAL_SECURITY = 0x01


def management_info(city: str, rider: str = "adult") -> bytes:
    """File 0017 (60 bytes; recalled layout): country 0156, province 32, city, type, card kind
    (01: a third-generation social security card), then our rider category byte."""
    return (bcd("0156", 4) + bcd("3200", 2) + bcd(city, 2) + bcd("0000", 2)
            + bytes([CARD_KIND_SOCIAL_SECURITY, RIDER_CODES[rider]])).ljust(60, b"\x00")


def fci_proprietary(public: bytes) -> bytes:
    return ber_tlv(0x50, LABEL) + ber_tlv(0x9F08, bytes([APP_TYPE])) + ber_tlv(0x9F0C, public)


def build_purse_df(data: CardPersonalisation, keys: CardKeys) -> DedicatedFile:
    issuer_id = bytes.fromhex(data.issuer_id)
    public = PublicInfo(issuer_id, APP_TYPE, APP_VERSION, bytes.fromhex(data.asn),
                        data.issue_date, data.transit_expiry or data.expiry_date).encode()
    maintained = with_sm(MAINTENANCE_KEY)
    return DedicatedFile(
        fid=PURSE_FID,
        name=CHANGZHOU_AID,
        fci_proprietary=fci_proprietary(public),
        files=[
            BinaryFile(fid="0015", sfi=SFI_PUBLIC, read=ALWAYS, write=maintained, data=public),
            BinaryFile(fid="0017", sfi=SFI_MANAGEMENT, read=ALWAYS, write=maintained,
                       data=management_info(issuer_id[2:4].hex().upper(), data.rider)),
            RecordFile(fid="0018", sfi=SFI_LOG, structure="cyclic", record_size=23,
                       max_records=LOG_RECORDS, read=ALWAYS, write=NEVER),
            RecordFile(fid="001A", sfi=SFI_COMPLEX, structure="variable", record_size=128,
                       max_records=COMPLEX_RECORDS, read=ALWAYS, write=NEVER),
            RecordFile(fid="001E", sfi=SFI_TRANSIT, structure="cyclic", record_size=48,
                       max_records=TRANSIT_RECORDS, read=ALWAYS, write=NEVER),
        ],
        keys=[
            keys.load.entry("load", KEY_INDEX),
            keys.purchase.entry("purchase", KEY_INDEX),
            keys.tac.entry("tac", KEY_INDEX),
            keys.purse_maintenance.entry("maintenance", MAINTENANCE_KEY),
        ],
        purse=PurseState(
            overdraft_limit=data.overdraft_limit if data.overdraft_limit is not None else overdraft_for(issuer_id),
            balance_limit=BALANCE_LIMIT,
        ),
    )
