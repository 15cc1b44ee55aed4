"""`EmulatorReader`: the in-process card reader holding an emulated `Card`."""

from __future__ import annotations

from collections.abc import Callable

from yikatong.chip.emulator import Card, NoPower, PowerCut
from yikatong.chip.protocols import CardRemoved


class EmulatorReader:
    """A CardReader whose card is an emulator instance.

    `after_command(card)` runs after every answered command (e.g. `store.save`, so a card
    pulled out between two commands keeps what it committed, as a real chip does).
    `remove()` pulls the card out; `insert(card)` puts one (back) in.
    """

    name = "Yikatong emulator"

    def __init__(self, card: Card | None = None, *, after_command: Callable[[Card], None] | None = None):
        self.card = card
        self.after_command = after_command

    def insert(self, card: Card) -> None:
        self.card = card

    def remove(self) -> None:
        if self.card is not None:
            self.card.power_off()
        self.card = None

    def connect(self) -> bytes:
        if self.card is None:
            raise CardRemoved()
        return self.card.reset()

    def transmit(self, apdu: bytes) -> bytes:
        card = self.card
        if card is None:
            raise CardRemoved()
        try:
            response = card.transmit(apdu)
        except (PowerCut, NoPower):
            raise CardRemoved() from None
        if self.after_command is not None:
            self.after_command(card)
        return response

    def disconnect(self) -> None:
        if self.card is not None:
            self.card.power_off()
