"""Test doubles: a tiny card and a pyscard-like connection that replays a T=0 card."""

from __future__ import annotations

OK = b"\x90\x00"


class EchoCard:
    """Answers SELECT with 9000, INS 0x10 with its command counter, anything else by
    echoing the command data; counts resets; goes silent (raises) when unpowered."""

    ATR = bytes.fromhex("3B02FA11")

    def __init__(self) -> None:
        self.resets = 0
        self.powered = False
        self.commands: list[bytes] = []

    def reset(self) -> bytes:
        self.resets += 1
        self.powered = True
        return self.ATR

    def power_off(self) -> None:
        self.powered = False

    def transmit(self, apdu: bytes) -> bytes:
        if not self.powered:
            raise RuntimeError("no power")
        self.commands.append(apdu)
        if apdu[1] == 0xA4:
            return OK
        if apdu[1] == 0x10:
            return len(self.commands).to_bytes(2, "big") + OK
        return apdu[5 : 5 + apdu[4]] + OK if len(apdu) > 5 else OK


class T0Connection:
    """Quacks like pyscard's CardConnection for a T=0 card that holds `payload` for the
    next case-2/4 command: it answers 6Cxx to a wrong Le (case 2), 61xx to case 4, and
    hands the payload out in GET RESPONSE chunks of at most `chunk` bytes."""

    T0 = 1

    def __init__(self, payload: bytes, *, chunk: int = 256, protocol: int = T0) -> None:
        self.payload = payload
        self.chunk = chunk
        self.protocol = protocol
        self.sent: list[bytes] = []
        self._pending = b""
        self.connected = False
        self.connects = 0

    def connect(self) -> None:
        assert not self.connected, "connect without disconnect leaks a PC/SC handle"
        self.connected = True
        self.connects += 1

    def getATR(self) -> list[int]:  # noqa: N802 - pyscard's name
        return list(EchoCard.ATR)

    def getProtocol(self) -> int:  # noqa: N802 - pyscard's name
        return self.protocol

    def disconnect(self) -> None:
        self.connected = False

    def transmit(self, command: list[int]) -> tuple[list[int], int, int]:
        apdu = bytes(command)
        self.sent.append(apdu)
        if apdu[1] == 0xC0:
            return self._get_response(apdu[4] or 256)
        total = len(self.payload)
        if len(apdu) == 5:  # case 2: Le must match exactly, as a T=0 card insists
            le = apdu[4] or 256
            if le != total:
                return [], 0x6C, total & 0xFF
            return list(self.payload), 0x90, 0x00
        self._pending = self.payload  # case 3/4: data waits for GET RESPONSE
        return self._more()

    def _get_response(self, le: int) -> tuple[list[int], int, int]:
        if not self._pending:
            return [], 0x6F, 0x00
        available = min(self.chunk, len(self._pending))
        if le > available:
            return [], 0x6C, available & 0xFF
        data, self._pending = self._pending[:le], self._pending[le:]
        return (list(data), *self._more()[1:])

    def _more(self) -> tuple[list[int], int, int]:
        if self._pending:
            return [], 0x61, min(self.chunk, len(self._pending)) & 0xFF
        return [], 0x90, 0x00
