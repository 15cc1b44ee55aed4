"""The chip package's seams: the card reader a terminal talks through, and the chip store.

Implementations: `reader.EmulatorReader` (an emulated card in-process) and
`readers.pcsc.PcscReader` (a real PC/SC reader); `store.DirectoryChipStore` (one JSON chip
image per card). Errors a caller must handle are defined here, beside the protocols.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from yikatong.core.errors import DomainError, NotFound

if TYPE_CHECKING:
    from yikatong.chip.emulator import Card


class CardRemoved(DomainError):
    """The card left the reader (or stopped answering) during an exchange.

    The command in flight may or may not have taken effect on the card: a terminal that sent
    a debit must recover the transaction when the card comes back (terminal.recover_purchase).
    """

    code = "card_removed"
    http_status = 409
    zh = "卡片已离开读卡器，请重新放卡"
    en = "The card was removed from the reader; present it again"


class ChipNotFound(NotFound):
    code = "chip_not_found"
    zh = "未找到卡号 {card_no} 的芯片映像"
    en = "No chip image for card {card_no}"


@runtime_checkable
class CardReader(Protocol):
    """A reader with (at most) one card in it, spoken to in APDUs."""

    def connect(self) -> bytes:
        """Power (or reset) the card and return its ATR.

        Raises CardRemoved when there is no card in the reader.
        """
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the whole response data followed by SW1 SW2.

        Transport details (T=0 GET RESPONSE on 61xx, re-send on 6Cxx) are the reader's job:
        callers always get the final answer. Raises CardRemoved when the card goes away
        during the exchange; the command may then have been executed or not.
        """
        ...

    def disconnect(self) -> None:
        """Power the card down; a later connect() starts a new card session."""
        ...


@runtime_checkable
class ChipStore(Protocol):
    """Where emulated cards live between uses: a card used today is the same card tomorrow."""

    def load(self, card_no: str) -> Card:
        """The stored card, unpowered. Raises ChipNotFound."""
        ...

    def save(self, card: Card) -> None:
        """Store the card's current non-volatile state (replacing the previous image)."""
        ...

    def exists(self, card_no: str) -> bool:
        """Whether a chip image is stored for this card number."""
        ...
