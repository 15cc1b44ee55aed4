"""The chip's write journal: a command stages its EEPROM writes, the card applies them at once.

A real card writes through an anti-tearing buffer: either every write of a command lands or
none does. Here a command handler reads the live state freely but changes it only through
`Journal.set` / `Journal.call`; nothing is touched until `apply()` at the commit point, and
applying is plain assignments that cannot fail halfway. A power cut before the commit point
therefore leaves the card exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Journal:
    __slots__ = ("_writes",)

    def __init__(self) -> None:
        self._writes: list[Callable[[], None]] = []

    def set(self, target: Any, attribute: str, value: Any) -> None:
        self._writes.append(lambda: setattr(target, attribute, value))

    def call(self, write: Callable[..., None], *args: Any) -> None:
        self._writes.append(lambda: write(*args))

    def discard(self) -> None:
        self._writes.clear()

    def __len__(self) -> int:
        return len(self._writes)

    def apply(self) -> None:
        writes, self._writes = self._writes, []
        for write in writes:
            write()
