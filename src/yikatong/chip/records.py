"""Transaction records a terminal hands to clearing: everything needed to verify the TAC.

`tac_data()` rebuilds the exact bytes the card MACed (card-protocol.md §3.3), so clearing
(`host.verify_tac`) needs only the record and the TAC master key of (key_version, alg_id).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from yikatong.chip.codec import bcd_date_time
from yikatong.crypto import pboc


@dataclass(frozen=True)
class CardTransaction:
    asn: str  # 20 BCD digits (file 0015 bytes 10–19)
    issuer_id: str  # 16 hex digits (file 0015 bytes 0–7)
    terminal_id: str  # 12 hex digits
    tx_type: int
    amount: int  # fen
    balance_after: int  # fen
    counter: int  # the card counter the transaction used (online for loads, offline for purchases)
    when: datetime  # aware; the card saw it as China Standard Time
    tac: str  # 8 hex digits
    key_version: int
    alg_id: int
    recovered: bool = False  # obtained with GET TRANSACTION PROVE after a torn transaction

    def tac_data(self) -> bytes:
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["when"] = self.when.isoformat()
        data["kind"] = type(self).__name__
        return data

    @property
    def date_time(self) -> tuple[bytes, bytes]:
        return bcd_date_time(self.when)


@dataclass(frozen=True)
class LoadRecord(CardTransaction):
    """A top-up (圈存): TAC over NEW_BAL ‖ ONLINE_CTR ‖ AMOUNT ‖ TYPE ‖ TERMID ‖ DATE ‖ TIME."""

    def tac_data(self) -> bytes:
        date4, time3 = self.date_time
        return pboc.load_tac_data(
            self.balance_after & 0xFFFFFFFF, self.counter, self.amount, self.tx_type,
            bytes.fromhex(self.terminal_id), date4, time3,
        )


@dataclass(frozen=True)
class PurchaseRecord(CardTransaction):
    """A purchase (06) or capped transit purchase (09): TAC over AMOUNT ‖ TYPE ‖ TERMID ‖
    TERM_TSN ‖ DATE ‖ TIME."""

    terminal_serial: int = 0

    def tac_data(self) -> bytes:
        date4, time3 = self.date_time
        return pboc.purchase_tac_data(
            self.amount, self.tx_type, bytes.fromhex(self.terminal_id),
            self.terminal_serial.to_bytes(4, "big"), date4, time3,
        )
