"""The vpcd virtual-card protocol against a fake vpcd: a listening socket in the test that
speaks vpcd's side (length-prefixed control codes and APDUs)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from tests.readers.fakes import OK, EchoCard
from yikatong.readers.errors import VpcdUnreachable
from yikatong.readers.vpcd import Control, VirtualCardLink, serve_until_stopped

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")


class FakeVpcd:
    """vpcd's side of the link: accepts the card, then talks like the pcscd driver."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.server.settimeout(5)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(5)

    def send(self, payload: bytes, *, dribble: bool = False) -> None:
        message = struct.pack(">H", len(payload)) + payload
        if dribble:  # one byte per segment: framing must not depend on segment borders
            for byte in message:
                self.conn.sendall(bytes((byte,)))
        else:
            self.conn.sendall(message)

    def control(self, code: Control) -> None:
        self.send(bytes((code,)))

    def receive(self) -> bytes:
        (length,) = struct.unpack(">H", self._exactly(2))
        return self._exactly(length)

    def transmit(self, apdu: bytes, **kwargs) -> bytes:
        self.send(apdu, **kwargs)
        return self.receive()

    def atr(self) -> bytes:
        self.control(Control.GET_ATR)
        return self.receive()

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.conn.recv(count - len(data))
            assert chunk, "card side closed the link"
            data += chunk
        return data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


def inserted(card, vpcd: FakeVpcd, **kwargs) -> tuple[VirtualCardLink, threading.Thread]:
    link = VirtualCardLink(card, host="127.0.0.1", port=vpcd.port, **kwargs)
    link.connect()
    vpcd.accept()
    thread = threading.Thread(target=link.serve, daemon=True)
    thread.start()
    return link, thread


def test_power_on_atr_and_apdus_round_trip(vpcd):
    card = EchoCard()
    saves: list[int] = []
    link, thread = inserted(card, vpcd, after_command=lambda: saves.append(len(card.commands)))

    assert vpcd.atr() == card.ATR  # presence poll before power-on
    vpcd.control(Control.POWER_ON)
    assert vpcd.atr() == card.ATR
    assert vpcd.transmit(SELECT_SSSE) == OK
    assert vpcd.transmit(bytes.fromhex("8010000000")) == b"\x00\x02" + OK
    long_data = bytes(range(200))
    echo = bytes.fromhex("80EE0000") + bytes((len(long_data),)) + long_data
    assert vpcd.transmit(echo, dribble=True) == long_data + OK

    assert card.commands == [SELECT_SSSE, bytes.fromhex("8010000000"), echo]
    assert saves == [1, 2, 3]  # the chip image is saved after every command
    assert link.stats.commands == 3
    vpcd.conn.close()  # vpcd ejects the card
    thread.join(5)
    assert not thread.is_alive()


def test_atr_polls_do_not_reset_the_card_but_power_and_reset_do(vpcd):
    card = EchoCard()
    link, _ = inserted(card, vpcd)
    assert card.resets == 1  # insertion powers the chip

    for _ in range(5):
        assert vpcd.atr() == card.ATR
    vpcd.control(Control.POWER_ON)
    vpcd.control(Control.RESET)
    vpcd.control(0x7F)  # unknown codes are ignored, not answered
    assert vpcd.transmit(SELECT_SSSE) == OK  # the link is still in step
    assert card.resets == 3
    assert link.stats.resets == 2

    vpcd.control(Control.POWER_OFF)
    assert vpcd.atr() == card.ATR  # still present, unpowered
    assert not card.powered
    vpcd.control(Control.POWER_ON)
    vpcd.atr()  # control codes have no answer: this round trip waits for the card
    assert card.powered
    link.stop()


def test_a_card_that_goes_silent_is_pulled_out(vpcd):
    card = EchoCard()
    link, thread = inserted(card, vpcd)
    vpcd.control(Control.POWER_OFF)
    vpcd.send(SELECT_SSSE)  # the unpowered card raises instead of answering

    thread.join(5)
    assert not thread.is_alive()
    assert vpcd.conn.recv(1) == b""  # vpcd reads the closed link as a removed card
    assert link.stats.commands == 0


def test_stop_pulls_the_card_out(vpcd):
    link, thread = inserted(EchoCard(), vpcd)
    vpcd.atr()
    link.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert vpcd.conn.recv(1) == b""  # vpcd sees the card gone


def test_missing_vpcd_is_reported_at_once():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free_port = probe.getsockname()[1]
    with pytest.raises(VpcdUnreachable) as caught:
        serve_until_stopped(EchoCard(), stop=threading.Event(), port=free_port)
    assert "scripts/pcsc-up.sh" in caught.value.message_en


def test_the_card_is_reinserted_when_vpcd_restarts(vpcd):
    card = EchoCard()
    stop = threading.Event()
    connected = threading.Semaphore(0)
    result = {}

    def run() -> None:
        result["stats"] = serve_until_stopped(
            card,
            stop=stop,
            port=vpcd.port,
            on_connected=lambda link: connected.release(),
            retry_seconds=0.05,
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(2):  # first session, then pcscd "restarts" and the card comes back
        vpcd.accept()
        assert connected.acquire(timeout=5)
        assert vpcd.transmit(SELECT_SSSE) == OK
        vpcd.conn.close()
    vpcd.accept()
    assert connected.acquire(timeout=5)
    stop.set()
    thread.join(5)

    assert not thread.is_alive()
    assert result["stats"].commands == 2
    assert card.commands == [SELECT_SSSE, SELECT_SSSE]
