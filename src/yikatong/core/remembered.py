"""Small bounded memories for values a hot path would otherwise make again, identical, on every
request (a card's view and its answer model while the card does not change): the key must
name everything the value is made of."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """At most `size` values by key, the oldest kept forgotten first; shared by the event loop
    and the thread pool (a lookup takes no lock, a new value does)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: dict[K, V] = {}
        self._adding = threading.Lock()

    def get(self, key: K) -> V | None:
        return self._values.get(key)

    def keep(self, key: K, value: V) -> V:
        with self._adding:
            while len(self._values) >= self._size:
                del self._values[next(iter(self._values))]
            self._values[key] = value
        return value

    def __len__(self) -> int:
        return len(self._values)


class ByIdentity(Generic[K, V]):
    """`derive(thing)` remembered by the identity of `thing` (for a thing that does not change,
    handed back as the same object by a memory in front, e.g. a remembered view): the thing is
    kept with its value, so its identity cannot pass to another object while remembered."""

    def __init__(self, size: int, derive: Callable[[K], V]) -> None:
        self._derive = derive
        self._remembered: Remembered[int, tuple[K, V]] = Remembered(size)

    def __call__(self, thing: K) -> V:
        found = self._remembered.get(id(thing))
        if found is not None and found[0] is thing:
            return found[1]
        return self._remembered.keep(id(thing), (thing, self._derive(thing)))[1]
