"""`ChipPinCheck`: the card's PIN checked by the card itself.

The platform keeps no copy of a PIN: it lives on the chip (set at personalisation, changed
at a terminal), which counts wrong tries and locks after three. This implementation sends
VERIFY to the card's emulated chip in the platform's ChipStore and keeps the chip's new
state (its try counter). A deployment with physical cards registers a CardPinCheck that
relays the same VERIFY to the card through the holder's phone (NFC) or a counter reader.
"""

from __future__ import annotations

from yikatong.cards.protocols import CardPinUnavailable
from yikatong.chip.protocols import CardRemoved, ChipNotFound, ChipStore
from yikatong.core.errors import InvalidInput


class ChipPinCheck:
    def __init__(self, store: ChipStore) -> None:
        self.store = store

    def verify(self, *, card_no: str, pin: str) -> None:
        from yikatong.chip.reader import EmulatorReader
        from yikatong.chip.terminal import verify_pin

        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
            raise InvalidInput(reason_zh="卡片密码为 4–12 位数字", reason_en="a PIN has 4 to 12 digits")
        try:
            card = self.store.load(card_no)
        except ChipNotFound:
            raise CardPinUnavailable() from None
        reader = EmulatorReader(card)
        try:
            reader.connect()
            verify_pin(reader, pin)
        except CardRemoved:
            raise CardPinUnavailable() from None
        finally:
            reader.disconnect()
            self.store.save(card)  # the try counter, right or wrong
