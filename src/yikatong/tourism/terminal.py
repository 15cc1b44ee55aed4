"""A venue's ticket terminal taking payment from the transit wallet: a T-Union purchase.

The terminal holds a PSAM (terminal ID, purchase key), stands at one venue of one operator,
and debits the card's purse with a plain purchase (80 50 01 / 80 54, transaction type 06),
as a validator debits a fare (`transit.validator`), but with an amount the ticket office
names rather than a fare engine. A card pulled away during the debit is settled at its next
presentation here (GET TRANSACTION PROVE): never lost, never charged twice.

The purchase records go to the existing clearing as a terminal file (`clearing_file`): the
operator field is the venue operator's clearing code (its code without separators, as the
clearing format takes operator codes of letters and digits), mode and tap empty (not a
transit tap). Clearing verifies each TAC and posts our cards' purchases from the wallet float
to the operator's payable (`clearing:payable:<city>:<operator>`), the same path a bus
company's validators take; the settlement report then shows the venue operator beside the
transit operators. The sale itself is recorded by the venue (`tourism.service`) with the
purchase's reference (`reference_of`: ASN and offline counter, what makes the record unique
in clearing).

Nothing here touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from yikatong.chip import terminal
from yikatong.chip.errors import (
    CardRefused,
    CounterExhausted,
    InsufficientBalance,
    PurseBlocked,
    TransactionInterrupted,
)
from yikatong.chip.protocols import CardReader, CardRemoved
from yikatong.chip.psam import Psam
from yikatong.chip.records import PurchaseRecord
from yikatong.chip.terminal import PendingPurchase
from yikatong.clearing import fileformat
from yikatong.clearing.fileformat import BatchRecord, FileKind
from yikatong.core.clock import local_date
from yikatong.core.money import Fen, format_fen

HOME_CITY = "3040"  # Changzhou (GB/T 13497), where the venues stand


def clearing_operator(operator_code: str) -> str:
    """The operator code as the clearing format takes it (letters and digits, ≤ 16)."""
    code = re.sub(r"[^A-Za-z0-9]", "", operator_code)[:16]
    if not code:
        raise ValueError("an operator code needs letters or digits")
    return code


def reference_of(record: PurchaseRecord) -> str:
    """The purchase's reference the sale is recorded with: card (ASN) and offline counter,
    the key clearing keeps each card transaction under."""
    return f"TU-{record.asn}-{record.counter:05d}"


@dataclass(frozen=True)
class Payment:
    """A wallet payment's answer: the record (TAC and all) when the card paid."""

    paid: bool
    amount: Fen
    record: PurchaseRecord | None = None
    reference: str | None = None
    reason: str | None = None  # insufficient_balance | wallet_blocked | expired | card_removed | …
    zh: str = ""
    en: str = ""
    recovered: bool = False

    @classmethod
    def refused(cls, amount: Fen, reason: str, zh: str, en: str) -> Payment:
        return cls(False, amount, reason=reason, zh=zh, en=en)


class VenueTerminal:
    def __init__(self, psam: Psam, *, venue_code: str, operator_code: str, city: str = HOME_CITY) -> None:
        self.psam = psam
        self.venue_code = venue_code
        self.operator = clearing_operator(operator_code)
        self.city = city
        self._records: list[PurchaseRecord] = []
        self._torn: dict[bytes, PendingPurchase] = {}

    @property
    def terminal_id(self) -> str:
        return self.psam.terminal_id.hex().upper()

    def pending_records(self) -> list[PurchaseRecord]:
        return list(self._records)

    def drain(self) -> list[PurchaseRecord]:
        drained, self._records = self._records, []
        return drained

    def charge(self, reader: CardReader, amount: Fen, when: datetime) -> Payment:
        """Debit `amount` fen from the card's purse at `when`, or refuse with a reason."""
        if amount <= 0:
            raise ValueError("a venue purchase is a positive amount")
        when = when.replace(microsecond=0)
        try:
            public = terminal.select_purse(reader)
            if public.expiry is not None and local_date(when) > public.expiry:
                return Payment.refused(amount, "expired", "交通应用已过期", "the transit application has expired")
            torn = self._torn.pop(public.asn, None)
            if torn is not None:
                found = terminal.recover_purchase(reader, self.psam, torn)
                if found is not None:
                    self._records.append(found)
                    if found.amount == amount:  # the same payment retried: it is done
                        return Payment(True, amount, found, reference_of(found), recovered=True)
            try:
                record = terminal.purchase(reader, self.psam, amount, when)
            except TransactionInterrupted as interrupted:
                self._torn[interrupted.pending.asn] = interrupted.pending
                raise
        except TransactionInterrupted:
            return Payment.refused(amount, "card_removed", "请重新刷卡", "present the card again")
        except CardRemoved:
            return Payment.refused(amount, "card_removed", "请重新刷卡", "present the card again")
        except InsufficientBalance as short:
            balance = short.details["balance"]
            return Payment.refused(amount, "insufficient_balance",
                                   f"余额不足（余额 {format_fen(balance)} 元，需 {format_fen(amount)} 元）",
                                   f"insufficient balance ({format_fen(balance)} CNY, {format_fen(amount)} CNY due)")
        except PurseBlocked:
            return Payment.refused(amount, "wallet_blocked", "交通钱包已关闭", "the transit wallet is closed")
        except CounterExhausted:
            return Payment.refused(amount, "counter_exhausted", "此卡交易次数已达上限", "the card's counter is used up")
        except CardRefused as refused:
            return Payment.refused(amount, "card_refused", f"卡片无法使用（{refused.message_zh}）",
                                   f"the card cannot be used ({refused.message_en})")
        self._records.append(record)
        return Payment(True, amount, record, reference_of(record))

    def clearing_file(self, file_id: str, *, created: datetime, records: list[PurchaseRecord] | None = None) -> str:
        """The terminal file of these records (default: the queued ones), for
        `POST /tourism/gates/{venue}/purchases` (or the clearing upload)."""
        chosen = self._records if records is None else records
        lines: list[BatchRecord] = [fileformat.record_of(r, city=self.city, operator=self.operator)
                                    for r in chosen]
        return fileformat.render_records(FileKind.TERMINAL, file_id, self.operator, lines, created=created,
                                         operator=self.operator, terminal_id=self.terminal_id)
