"""Insert an emulated card into the operating system's PC/SC stack through vpcd.

vpcd (Debian package `vsmartcard-vpcd`) is a pcscd reader driver that listens on a TCP
port (35963 for its first reader, "Virtual PCD 00 00"). A virtual card connects to it as a
client; from then on every PC/SC application (pyscard, pcsc_scan, opensc-tool) sees a card
in that reader, and vpcd relays their commands to us.

Wire format, both directions: a 2-byte big-endian length, then that many bytes. A 1-byte
payload from vpcd is a control code (power off, power on, reset: no answer; get ATR: answer
the ATR); any longer payload is a command APDU, answered with the response APDU. vpcd asks
for the ATR every few hundred milliseconds to see whether the card is still there, so that
request must not disturb the card.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from yikatong.readers.errors import VpcdUnreachable

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963
# How long a card stays out before it is put back after the link dropped. pcscd polls a
# reader every 0.4 s; a card back sooner is never seen to leave, and measured here pcscd
# then never reports it inserted again (0.2 s: lost; 0.5 s, 1 s, 2 s: back). The same holds
# for a new card right after one that an application (opensc-tool) left powered.
REINSERT_SECONDS = 1.0
# pcscd names vpcd's readers after the driver's friendly name and the slot; Debian's
# /etc/reader.conf.d/vpcd opens two, on ports 35963 and 35964.
VPCD_READER_NAME = "Virtual PCD 00 00"


def reader_name(port: int) -> str:
    """The PC/SC name of the vpcd reader on `port` (Debian's default configuration)."""
    return f"Virtual PCD 00 {port - DEFAULT_PORT:02d}"


class Control(IntEnum):
    POWER_OFF = 0x00
    POWER_ON = 0x01
    RESET = 0x02
    GET_ATR = 0x04


class ServedCard(Protocol):
    """What vpcd needs from a card: the chip emulator's `Card` fits."""

    def reset(self) -> bytes:
        """Cold/warm reset: drop volatile state, return the ATR."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """One command APDU in, response data + SW1 SW2 out. Raising means the chip went
        silent (e.g. a power cut): the link drops, as if the card were pulled out."""
        ...

    # Optional: `power_off()`, called when vpcd cuts the power (RAM state is lost).


def read_message(sock: socket.socket) -> bytes | None:
    """One length-prefixed message, or None when the peer closed the connection."""
    header = _read_exactly(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    payload = _read_exactly(sock, length)
    if payload is None:
        raise ConnectionError("vpcd closed the connection in the middle of a message")
    return payload


def write_message(sock: socket.socket, payload: bytes) -> None:
    """Send one length-prefixed message (header and payload in one segment)."""
    if len(payload) > 0xFFFF:
        raise ValueError("a vpcd message holds at most 65535 bytes")
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def _read_exactly(sock: socket.socket, count: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < count:
        _ack_at_once(sock)
        chunk = sock.recv(count - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _ack_at_once(sock: socket.socket) -> None:
    # vpcd writes the length and the APDU in two send() calls. With Nagle on its side and
    # delayed ACKs on ours, the second half waits ~40 ms for our ACK: 48 ms per APDU
    # measured here, against 0.04-0.2 ms with quick ACKs (bench/pcsc_roundtrip.py). Linux
    # clears the flag after each ACK, so it is set again before every read.
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


class CardStoppedAnswering(Exception):
    """The served card raised instead of answering a command."""


@dataclass
class SessionStats:
    commands: int = 0
    resets: int = 0


class VirtualCardLink:
    """One connection to vpcd serving one card.

    `after_command` runs after every command APDU (e.g. saving the chip image, so a card
    pulled out between two commands keeps what it committed, as a real chip does).
    """

    def __init__(
        self,
        card: ServedCard,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        after_command: Callable[[], None] | None = None,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.after_command = after_command
        self.stats = SessionStats()
        self._atr = b""
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()
        # Set at vpcd's first message. vpcd serves one card per port: a second card connects
        # (the kernel accepts into the backlog) but is never polled while the first is in.
        self.polled = threading.Event()

    def connect(self, timeout: float = 5.0) -> None:
        """Insert the card: connect to vpcd. Raises VpcdUnreachable."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as error:
            raise VpcdUnreachable(host=self.host, port=self.port) from error
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        # The card is powered by the insertion; vpcd asks for the ATR before power-on.
        self._atr = self.card.reset()

    def serve(self) -> None:
        """Answer vpcd until it closes the connection or `stop()` is called."""
        if self._sock is None:
            self.connect()
        sock = self._sock
        assert sock is not None
        try:
            while not self._stopping.is_set():
                try:
                    message = read_message(sock)
                except OSError:
                    if self._stopping.is_set():
                        return
                    raise
                if message is None:
                    return
                self.polled.set()
                try:
                    reply = self.handle(message)
                except CardStoppedAnswering as stopped:
                    log.warning("the card stopped answering (%s); link dropped", stopped)
                    return
                if reply is not None:
                    write_message(sock, reply)
        finally:
            self._close()

    def handle(self, message: bytes) -> bytes | None:
        """The answer to one message from vpcd, or None for control codes with no answer."""
        if len(message) == 1:
            return self._control(message[0])
        if not message:  # early vpcd versions asked for the ATR with an empty message
            return self._atr
        try:
            response = self.card.transmit(message)
        except Exception as error:
            # A chip that answers nothing (power cut by a test, emulator fault) looks to the
            # terminal like a card pulled out: drop the link, vpcd reports the removal.
            raise CardStoppedAnswering(type(error).__name__) from error
        self.stats.commands += 1
        if self.after_command is not None:
            self.after_command()
        return response

    def stop(self) -> None:
        """Pull the card out: end `serve()` from another thread."""
        self._stopping.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _control(self, code: int) -> bytes | None:
        if code == Control.GET_ATR:
            return self._atr
        if code in (Control.POWER_ON, Control.RESET):
            self._atr = self.card.reset()
            self.stats.resets += 1
        elif code == Control.POWER_OFF:
            power_off = getattr(self.card, "power_off", None)  # optional in ServedCard
            if power_off is not None:
                power_off()
        else:
            log.warning("vpcd sent unknown control code %#04x; ignored", code)
        return None

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def serve_until_stopped(
    card: ServedCard,
    *,
    stop: threading.Event,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    after_command: Callable[[], None] | None = None,
    on_connected: Callable[[VirtualCardLink], None] | None = None,
    retry_seconds: float = REINSERT_SECONDS,
) -> SessionStats:
    """Keep `card` inserted in vpcd until `stop` is set, reconnecting when pcscd restarts.

    The first connection must succeed (VpcdUnreachable otherwise), so a missing vpcd is
    reported at once instead of retried forever. Returns the totals over all connections.
    """
    totals = SessionStats()
    current: list[VirtualCardLink] = []

    def pull_out_when_stopped() -> None:
        stop.wait()
        for link in current:
            link.stop()

    threading.Thread(target=pull_out_when_stopped, daemon=True).start()
    first = True
    while not stop.is_set():
        link = VirtualCardLink(card, host=host, port=port, after_command=after_command)
        try:
            link.connect()
        except VpcdUnreachable:
            if first:
                raise
            stop.wait(retry_seconds)
            continue
        first = False
        current[:] = [link]
        if stop.is_set():  # stopped while connecting: the watcher may have missed this link
            link.stop()
        if on_connected is not None:
            on_connected(link)
        try:
            link.serve()
        except OSError as error:
            log.warning("vpcd connection lost (%s); reconnecting", type(error).__name__)
        totals.commands += link.stats.commands
        totals.resets += link.stats.resets
        if not stop.is_set():
            stop.wait(retry_seconds)
    return totals
