"""Command and response APDUs (ISO/IEC 7816-3/-4 short form).

`CommandApdu.parse` accepts the four short cases; extended lengths are not used by any of
the applications here and are answered with 6700. `command()` builds one for the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from yikatong.chip import sw
from yikatong.chip.sw import CardStatus


@dataclass(frozen=True, slots=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # None: no Le; 0: "up to 256"

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Parse a short APDU; CardStatus(6700) when the length bytes do not add up."""
        if len(raw) < 4:
            raise CardStatus(sw.WRONG_LENGTH)
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2
            return cls(cla, ins, p1, p2, le=body[0])
        lc = body[0]
        if lc == 0:  # an extended length we do not support
            raise CardStatus(sw.WRONG_LENGTH)
        if len(body) == 1 + lc:  # case 3
            return cls(cla, ins, p1, p2, data=bytes(body[1:]))
        if len(body) == 2 + lc:  # case 4
            return cls(cla, ins, p1, p2, data=bytes(body[1:-1]), le=body[-1])
        raise CardStatus(sw.WRONG_LENGTH)

    def encode(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            if len(self.data) > 255:
                raise ValueError("short APDUs carry at most 255 data bytes")
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out

    @property
    def header(self) -> bytes:
        return bytes([self.cla, self.ins, self.p1, self.p2])

    @property
    def secure_messaging(self) -> bool:
        """CLA b3 set (04 / 84): the data ends with a 4-byte MAC."""
        return bool(self.cla & 0x04)

    @property
    def max_response(self) -> int:
        """The most response data the terminal accepts (Le 00 means 256)."""
        if self.le is None:
            return 0
        return self.le or 256


def command(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """Encode one short command APDU."""
    return CommandApdu(cla, ins, p1, p2, bytes(data), le).encode()


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    data: bytes
    sw: int

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise ValueError("a response APDU ends with two status bytes")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    @property
    def ok(self) -> bool:
        return self.sw == sw.OK

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    def __str__(self) -> str:
        return f"{self.data.hex().upper()} {self.sw:04X}".strip()
