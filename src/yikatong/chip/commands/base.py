"""What every command handler shares: the reply type and the access checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yikatong.chip import sw
from yikatong.chip.apdu import CommandApdu
from yikatong.chip.journal import Journal
from yikatong.chip.secure import line_mac
from yikatong.chip.state import Access
from yikatong.chip.sw import CardStatus
from yikatong.crypto.pboc import mac_equal

if TYPE_CHECKING:
    from yikatong.chip.emulator import Card


@dataclass(frozen=True, slots=True)
class Reply:
    data: bytes
    sw: int = sw.OK


Handler = Callable[["Card", CommandApdu, Journal], "bytes | Reply"]


def check_read(card: Card, access: Access) -> None:
    """6982 unless the current security status satisfies a read condition."""
    volatile = card.volatile
    if access.kind == "always":
        return
    if access.kind == "auth" and volatile.authenticated.intersection(access.keys):
        return
    if access.kind == "pin" and volatile.pin_verified:
        return
    raise CardStatus(sw.SECURITY_NOT_SATISFIED)


def check_write(card: Card, access: Access, cmd: CommandApdu) -> bytes:
    """The plain data of a write once its condition holds (a secure-messaging MAC is checked
    and stripped); 6982 when the condition is not met."""
    if access.kind == "sm" or cmd.secure_messaging:
        if access.kind not in ("sm", "always"):
            raise CardStatus(sw.SECURITY_NOT_SATISFIED)
        if not cmd.secure_messaging:
            raise CardStatus(sw.SECURITY_NOT_SATISFIED)
        return unwrap_sm(card, cmd, access.keys[0] if access.keys else 0)
    check_read(card, access)  # always / auth / pin; "never" fails here
    return cmd.data


def unwrap_sm(card: Card, cmd: CommandApdu, key_index: int) -> bytes:
    """Verify the MAC of a secure-messaging command under the DF's maintenance key.

    The challenge is used once, whatever the outcome; 6984 without one, 6988 on a bad MAC.
    """
    volatile = card.volatile
    challenge, volatile.challenge = volatile.challenge, None
    if len(cmd.data) < 4:
        raise CardStatus(sw.WRONG_LENGTH)
    if challenge is None:
        raise CardStatus(sw.CHALLENGE_INVALID)
    key = volatile.df.key("maintenance", key_index)
    if key is None:
        raise CardStatus(sw.REFERENCED_DATA_NOT_FOUND)
    plain, mac = cmd.data[:-4], cmd.data[-4:]
    expected = line_mac(key.alg_id, key.value, challenge, cmd.header + bytes([len(cmd.data)]) + plain)
    if not mac_equal(expected, mac):
        raise CardStatus(sw.SM_MAC_INCORRECT)
    return plain
