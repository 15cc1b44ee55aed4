"""Small byte codecs the card and the terminal share: BCD, big-endian integers, dates."""

from __future__ import annotations

from datetime import date, datetime

from yikatong.core.clock import CST, as_utc


def bcd(digits: str, length: int | None = None, pad: str = "0") -> bytes:
    """Digits → packed BCD, left-padded with `pad` (or right-padded with F when pad='F')."""
    if len(digits) % 2:
        digits = digits + "F" if pad == "F" else "0" + digits
    if length is not None:
        digits = digits.rjust(length * 2, "0") if pad != "F" else digits.ljust(length * 2, "F")
        if len(digits) != length * 2:
            raise ValueError(f"{len(digits)} digits do not fit in {length} BCD bytes")
    return bytes.fromhex(digits)


def bcd_digits(data: bytes) -> str:
    """Packed BCD → digits (a trailing F filler is dropped)."""
    return data.hex().upper().rstrip("F")


def u(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def to_int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def signed32(value: int) -> bytes:
    """A balance as four bytes, two's complement when overdrawn."""
    return (value & 0xFFFFFFFF).to_bytes(4, "big")


def from_signed32(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


def bcd_date(day: date) -> bytes:
    return bytes.fromhex(day.strftime("%Y%m%d"))


def parse_bcd_date(data: bytes) -> date | None:
    """YYYYMMDD BCD → date; None for an unset field (zeros or FF)."""
    text = data.hex()
    if set(text) <= {"0"} or set(text) <= {"f"}:
        return None
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))  # strptime is 20x slower


def local_datetime(moment: datetime) -> datetime:
    """The Changzhou wall-clock time the card writes (naive, CST) of an aware instant."""
    return as_utc(moment).astimezone(CST).replace(tzinfo=None)


def bcd_date_time(moment: datetime) -> tuple[bytes, bytes]:
    """(DATE(4), TIME(3)) BCD in China Standard Time for an aware instant."""
    local = local_datetime(moment)
    return bytes.fromhex(local.strftime("%Y%m%d")), bytes.fromhex(local.strftime("%H%M%S"))


def parse_bcd_date_time(date4: bytes, time3: bytes) -> datetime | None:
    """DATE(4)‖TIME(3) BCD (China Standard Time) → aware datetime; None when unset."""
    text = (date4 + time3).hex()
    if set(text) <= {"0"}:
        return None
    numbers = [int(text[:4])] + [int(text[at : at + 2]) for at in range(4, 14, 2)]
    return datetime(*numbers, tzinfo=CST)
