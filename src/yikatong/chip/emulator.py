"""The emulated card: ATR, APDU dispatch, commit points and power cuts.

`Card(image)` is a chip: `reset()` powers it and returns the ATR, `transmit(apdu)` runs one
command and returns data ‖ SW1 SW2. Non-volatile state lives in `card.image` (the chip image
models, see `state.py`); RAM (current file, security status, challenge, purse session) lives
in `card.volatile` and vanishes on reset or power loss.

Atomicity: every command stages its EEPROM writes in a `Journal`; the card applies them in
one step at the command's commit point, after the handler has decided everything. A test
can cut the power there with `arm_tear(TearPoint.BEFORE_COMMIT | AFTER_COMMIT, …)`: before
the commit nothing changed; after it everything changed but the response never leaves the
card. Either way `transmit` raises `PowerCut` and the card stays unpowered until `reset()`.

Counters: our cards lock a 2-byte e-purse counter at FFFF (9402). The public material says
cards "wrap or lock" (card-protocol.md §8), so `Card(image, wrapping_counters=True)` models a
card whose OS transacts at FFFF and wraps to 0000 — for testing that terminals refuse it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from yikatong.chip import sw
from yikatong.chip.apdu import CommandApdu
from yikatong.chip.commands import HANDLERS, SESSION_KEEPERS, Reply
from yikatong.chip.journal import Journal
from yikatong.chip.state import DedicatedFile, ElementaryFile
from yikatong.chip.sw import CardStatus

if TYPE_CHECKING:
    from yikatong.chip.image import ChipImage


class TearPoint(StrEnum):
    BEFORE_COMMIT = "before_commit"
    AFTER_COMMIT = "after_commit"


class PowerCut(Exception):
    """The card lost power during a command: no response was sent."""


class NoPower(Exception):
    """A command was sent to a card that is not powered (removed, or never reset)."""


@dataclass
class Volatile:
    """The chip's RAM: lost on reset and on power loss."""

    df: DedicatedFile
    ef: ElementaryFile | None = None
    authenticated: set[int] = field(default_factory=set)  # key indexes, in `df`
    pin_verified: bool = False
    challenge: bytes | None = None
    purse_session: Any = None  # commands.purse.PurseSession while a transaction is open
    debit_session: Any = None  # commands.debit.DebitSession from GPO to the last GENERATE AC

    def enter(self, df: DedicatedFile) -> None:
        """Select a DF: the security status of the previous one is dropped, and a debit
        transaction ends (selecting the application again starts a new one)."""
        if df is not self.df:
            self.authenticated.clear()
            self.pin_verified = False
        self.df = df
        self.ef = None
        self.debit_session = None


@dataclass
class _Tear:
    point: TearPoint
    countdown: int
    ins: int | None


class Card:
    def __init__(self, image: ChipImage, *, random: Callable[[int], bytes] = os.urandom,
                 wrapping_counters: bool = False) -> None:
        self.image = image
        self.random = random
        self.wrapping_counters = wrapping_counters
        self.volatile: Volatile | None = None
        self.commands_seen = 0
        self._tear: _Tear | None = None

    @property
    def mf(self) -> DedicatedFile:
        return self.image.mf

    @property
    def card_no(self) -> str:
        return self.image.card_no

    @property
    def powered(self) -> bool:
        return self.volatile is not None

    def reset(self) -> bytes:
        """Power up (or warm-reset) the chip: RAM cleared, MF selected; returns the ATR."""
        self.volatile = Volatile(df=self.mf)
        return self.image.atr

    def power_off(self) -> None:
        self.volatile = None

    def arm_tear(self, point: TearPoint, *, at_command: int = 1, ins: int | None = None) -> None:
        """Cut the power at `point` of the `at_command`-th next command (with INS `ins`, if given)."""
        if at_command < 1:
            raise ValueError("at_command counts from 1")
        self._tear = _Tear(TearPoint(point), at_command, ins)

    def disarm_tear(self) -> None:
        self._tear = None

    def transmit(self, apdu: bytes) -> bytes:
        volatile = self.volatile
        if volatile is None:
            raise NoPower("the card is not powered")
        self.commands_seen += 1
        tear = self._tear_due(apdu)
        journal = Journal()
        try:
            reply = self._execute(volatile, CommandApdu.parse(bytes(apdu)), journal)
        except CardStatus as status:
            journal.discard()
            reply = Reply(b"", status.sw)
        if tear is TearPoint.BEFORE_COMMIT:
            self._cut_power()
        journal.apply()
        if tear is TearPoint.AFTER_COMMIT:
            self._cut_power()
        return reply.data + reply.sw.to_bytes(2, "big")

    def _execute(self, volatile: Volatile, cmd: CommandApdu, journal: Journal) -> Reply:
        if cmd.cla & ~0x04 not in (0x00, 0x80):
            raise CardStatus(sw.CLA_NOT_SUPPORTED)
        key = (cmd.cla & 0x80, cmd.ins)
        if volatile.purse_session is not None and key not in SESSION_KEEPERS:
            volatile.purse_session = None  # any other command ends an open e-purse transaction
        entry = HANDLERS.get(key)
        if entry is None:
            raise CardStatus(sw.INS_NOT_SUPPORTED)
        handler, accepts_sm = entry
        if cmd.secure_messaging and not accepts_sm:
            raise CardStatus(sw.SM_NOT_SUPPORTED)
        reply = handler(self, cmd, journal)
        return reply if isinstance(reply, Reply) else Reply(reply, sw.OK)

    def _tear_due(self, apdu: bytes) -> TearPoint | None:
        tear = self._tear
        if tear is None or (tear.ins is not None and (len(apdu) < 2 or apdu[1] != tear.ins)):
            return None
        tear.countdown -= 1
        if tear.countdown:
            return None
        self._tear = None
        return tear.point

    def _cut_power(self) -> None:
        self.volatile = None
        raise PowerCut("power lost during the command")
