"""`insert_card`: serve a stored emulated card to vpcd until told to stop, persisting it.

The chip image is written back whenever a command changed it, so the card keeps what it
committed even if this process dies between two commands, as a physical chip would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from yikatong.chip.emulator import Card
from yikatong.chip.protocols import ChipStore
from yikatong.readers.vpcd import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SessionStats,
    VirtualCardLink,
    serve_until_stopped,
)


class SaveWhenChanged:
    """Saves the card after a command only if its non-volatile image changed: most commands
    (SELECT, READ, GET CHALLENGE) change nothing and need no disk write."""

    def __init__(self, store: ChipStore, card: Card) -> None:
        self.store = store
        self.card = card
        self.saves = 0
        self._last = card.image.to_json()

    def __call__(self) -> None:
        current = self.card.image.to_json()
        if current != self._last:
            self.store.save(self.card)
            self._last = current
            self.saves += 1


def insert_card(
    store: ChipStore,
    card_no: str,
    *,
    stop: threading.Event,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_connected: Callable[[VirtualCardLink], None] | None = None,
) -> SessionStats:
    """Load `card_no` from `store` and keep it in vpcd's reader until `stop` is set.

    Raises ChipNotFound, or VpcdUnreachable when vpcd does not listen on host:port.
    """
    card = store.load(card_no)
    persist = SaveWhenChanged(store, card)
    try:
        return serve_until_stopped(
            card,
            stop=stop,
            host=host,
            port=port,
            after_command=persist,
            on_connected=on_connected,
        )
    finally:
        persist()
