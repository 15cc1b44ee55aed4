"""Real PC/SC card readers through pyscard (the optional extra `ykt[pcsc]`).

`PcscReader` implements the chip package's `CardReader` seam (`connect() -> ATR`,
`transmit(apdu) -> data + SW1SW2`, `disconnect()`), so the terminal functions run unchanged
against a physical card, or against an emulated card inserted into pcscd through vpcd.

T=0 cards answer a command that has response data with `61xx` ("xx bytes waiting, fetch
them with GET RESPONSE") or, when Le was wrong, with `6Cxx` ("send it again with Le=xx").
Under T=0 the reader resolves both, so callers always see the whole response. Under T=1 the
card returns the data at once and the exchange is passed through untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from yikatong.readers.errors import (
    INSTALL_HINT_EN,
    INSTALL_HINT_ZH,
    CardCommunicationError,
    NoCardInReader,
    PcscUnavailable,
    ReaderNotFound,
)

# Bounds the 61xx/6Cxx exchange: a faulty card that keeps answering 61xx must not hang us.
# 64 GET RESPONSEs of 256 bytes is far beyond any response of our applications.
MAX_T0_ROUNDS = 64

T0 = "T=0"
T1 = "T=1"


def transmit_t0(send: Callable[[bytes], bytes], apdu: bytes) -> bytes:
    """Send `apdu` through `send` and resolve T=0 `61xx` / `6Cxx` answers.

    On `61xx` collect the data so far and send GET RESPONSE `00 C0 00 00 xx`; on `6Cxx`
    re-send the last command with Le = xx. Returns all response data followed by the final
    SW1 SW2. Raises ValueError on a response shorter than a status word or a card that
    keeps chaining past MAX_T0_ROUNDS.
    """
    command = apdu
    collected = b""
    for _ in range(MAX_T0_ROUNDS):
        response = send(command)
        if len(response) < 2:
            raise ValueError("response shorter than a status word")
        sw1, sw2 = response[-2], response[-1]
        if sw1 == 0x6C:
            command = with_le(command, sw2)
        elif sw1 == 0x61:
            collected += response[:-2]
            command = bytes((0x00, 0xC0, 0x00, 0x00, sw2))
        else:
            return collected + response
    raise ValueError(f"card kept chaining after {MAX_T0_ROUNDS} exchanges")


def with_le(apdu: bytes, le: int) -> bytes:
    """The short command APDU `apdu` with its Le set to `le` (0 means 256).

    Handles the four ISO 7816-4 short cases; raises ValueError for anything else
    (extended-length APDUs do not exist under T=0).
    """
    if len(apdu) < 4:
        raise ValueError("command APDU shorter than its header")
    header, body = apdu[:4], apdu[4:]
    if len(body) <= 1:  # case 1 (no body) or case 2 (Le only)
        return header + bytes((le,))
    lc = body[0]
    if lc and len(body) == 1 + lc:  # case 3: Lc + data
        return apdu + bytes((le,))
    if lc and len(body) == 2 + lc:  # case 4: Lc + data + Le
        return apdu[:-1] + bytes((le,))
    raise ValueError("not a short command APDU")


@dataclass(frozen=True)
class _Pyscard:
    system: Any
    no_card: type[Exception]
    errors: tuple[type[Exception], ...]  # everything pyscard raises for PC/SC failures
    t0_protocol: int


@cache
def _pyscard() -> _Pyscard:
    """The pyscard parts we use, or PcscUnavailable when the extra is not installed."""
    try:
        from smartcard import Exceptions, System
        from smartcard.CardConnection import CardConnection
        from smartcard.pcsc.PCSCExceptions import BaseSCardException
    except ImportError as error:
        raise PcscUnavailable(
            reason_zh="未安装 pyscard（pip install 'yikatong[pcsc]'）；" + INSTALL_HINT_ZH,
            reason_en="pyscard is not installed (pip install 'yikatong[pcsc]'); " + INSTALL_HINT_EN,
        ) from error
    return _Pyscard(
        system=System,
        no_card=Exceptions.NoCardException,
        errors=(Exceptions.SmartcardException, BaseSCardException),
        t0_protocol=CardConnection.T0_protocol,
    )


def list_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows, in its order.

    Raises PcscUnavailable when pyscard is missing or pcscd does not answer.
    """
    return [str(reader) for reader in _readers()]


def find_reader(name: str | None = None) -> Any:
    """The pyscard reader called `name` (exact, else the first whose name contains it);
    with no name, the first reader holding a card. Raises ReaderNotFound / NoCardInReader."""
    readers = _readers()
    available = ", ".join(str(r) for r in readers) or "-"
    if name is None:
        for reader in readers:
            if card_atr(reader) is not None:
                return reader
        raise NoCardInReader(reader=available)
    exact = [r for r in readers if str(r) == name]
    partial = [r for r in readers if name.lower() in str(r).lower()]
    if exact or partial:
        return (exact or partial)[0]
    raise ReaderNotFound(name=name, available=available)


def _readers() -> list[Any]:
    pyscard = _pyscard()
    try:
        return list(pyscard.system.readers())
    except pyscard.errors as error:
        raise PcscUnavailable(
            reason_zh="pcscd 未运行；" + INSTALL_HINT_ZH,
            reason_en=f"pcscd is not answering ({type(error).__name__}); " + INSTALL_HINT_EN,
        ) from error


@dataclass(frozen=True)
class ReaderInfo:
    name: str
    atr: bytes | None  # None: no card (or one that does not answer a reset)


def describe_readers() -> list[ReaderInfo]:
    """Every PC/SC reader with the ATR of the card in it. Raises PcscUnavailable."""
    return [ReaderInfo(str(reader), card_atr(reader)) for reader in _readers()]


def card_atr(reader: Any) -> bytes | None:
    """The ATR of the card in `reader` (a pyscard reader), or None when there is none."""
    connection = reader.createConnection()
    try:
        connection.connect()
    except _pyscard().errors:
        return None
    try:
        return bytes(connection.getATR()) or None
    finally:
        connection.disconnect()


class PcscReader:
    """A CardReader over one PC/SC reader.

    `name` picks the reader as `find_reader` does. `connection` injects any object with
    pyscard's CardConnection methods (connect, getATR, getProtocol, transmit, disconnect),
    which is how the T=0 handling is tested without hardware.
    """

    def __init__(self, name: str | None = None, *, connection: Any = None) -> None:
        self._requested = name
        self._connection = connection
        self.name = name or "-"
        self.protocol: str | None = None

    def connect(self) -> bytes:
        """Power the card up (a connected card is powered down first: a cold reset); return
        its ATR. Raises NoCardInReader, ReaderNotFound, PcscUnavailable or
        CardCommunicationError."""
        self.disconnect()
        if self._connection is None:
            reader = find_reader(self._requested)
            self.name = str(reader)
            self._connection = reader.createConnection()
        try:
            self._connection.connect()
            atr = bytes(self._connection.getATR())
            self.protocol = T0 if self._connection.getProtocol() == _t0_code() else T1
        except Exception as error:
            raise self._translate(error) from error
        return atr

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the response data followed by SW1 SW2 (under T=0
        after resolving 61xx / 6Cxx)."""
        if self.protocol is None:
            raise CardCommunicationError(
                reader=self.name, reason_zh="尚未连接卡片", reason_en="not connected"
            )
        try:
            if self.protocol == T0:
                return transmit_t0(self._send, apdu)
            return self._send(apdu)
        except ValueError as error:
            raise CardCommunicationError(
                reader=self.name, reason_zh="卡片应答不符合 ISO 7816", reason_en=str(error)
            ) from error
        except Exception as error:
            raise self._translate(error) from error

    def disconnect(self) -> None:
        """Release the card; pyscard powers it down, which ends the card session as pulling
        it out would (selected application, authentication state)."""
        if self._connection is not None and self.protocol is not None:
            try:
                self._connection.disconnect()
            except Exception as error:  # a card pulled out before disconnect is not an error
                if not _is_pyscard_error(error):
                    raise
        self.protocol = None

    def wait_for_card(self, timeout: float = 10.0) -> bytes:
        """Connect as soon as a card is in the reader; return its ATR. Raises NoCardInReader
        after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.connect()
            except NoCardInReader:
                if time.monotonic() >= deadline:
                    raise
                if self._requested is not None:
                    self._connection = None  # ask pcscd afresh: the card may be in now
                time.sleep(0.1)

    def __enter__(self) -> PcscReader:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def _send(self, apdu: bytes) -> bytes:
        data, sw1, sw2 = self._connection.transmit(list(apdu))
        return bytes(data) + bytes((sw1, sw2))

    def _translate(self, error: Exception) -> Exception:
        if isinstance(error, PcscUnavailable | ReaderNotFound | NoCardInReader):
            return error
        if not _is_pyscard_error(error):
            return error
        if isinstance(error, _pyscard().no_card):
            return NoCardInReader(reader=self.name)
        # pyscard's message names the PC/SC error (e.g. "Card was removed"), never the APDU.
        return CardCommunicationError(
            reader=self.name, reason_zh="读卡器报告错误", reason_en=str(error)
        )


def _t0_code() -> int:
    try:
        return _pyscard().t0_protocol
    except PcscUnavailable:
        return 1  # PC/SC's SCARD_PROTOCOL_T0, for injected connections without pyscard


def _is_pyscard_error(error: Exception) -> bool:
    try:
        return isinstance(error, _pyscard().errors)
    except PcscUnavailable:
        return False
