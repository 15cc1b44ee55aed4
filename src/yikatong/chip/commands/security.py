"""GET CHALLENGE, EXTERNAL AUTHENTICATE and VERIFY (PIN)."""

from __future__ import annotations

from yikatong.chip import sw
from yikatong.chip.apdu import CommandApdu
from yikatong.chip.commands.base import Reply
from yikatong.chip.journal import Journal
from yikatong.chip.secure import auth_cryptogram
from yikatong.chip.state import DedicatedFile, Pin
from yikatong.chip.sw import CardStatus
from yikatong.crypto.pboc import mac_equal

AUTH_USAGES = ("external_auth", "national_read")
KEY_MAX_TRIES = 15  # error counter of an authentication key, reset by a success


def get_challenge(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """00 84 00 00 Le: 4, 8 or 16 random bytes, kept for the next authentication or SM write."""
    if cmd.p1 or cmd.p2:
        raise CardStatus(sw.WRONG_P1P2)
    if cmd.le not in (4, 8, 16):
        raise CardStatus(sw.WRONG_LENGTH)
    challenge = card.random(cmd.le)
    card.volatile.challenge = challenge
    return challenge


def external_authenticate(card, cmd: CommandApdu, journal: Journal) -> Reply:
    """00 82 00 <key index> <cryptogram>: E(key, challenge ‖ 0…) proves the terminal holds the key.

    Each key has an error counter: a wrong cryptogram answers 63Cx, an exhausted key 6983.
    """
    volatile = card.volatile
    challenge, volatile.challenge = volatile.challenge, None
    key = next((k for u in AUTH_USAGES if (k := volatile.df.key(u, cmd.p2))), None)
    if key is None:
        raise CardStatus(sw.REFERENCED_DATA_NOT_FOUND)
    if key.tries_left == 0:
        raise CardStatus(sw.AUTH_BLOCKED)
    if challenge is None:
        raise CardStatus(sw.CHALLENGE_INVALID)
    expected = auth_cryptogram(key.alg_id, key.value, challenge)
    if len(cmd.data) != len(expected):
        raise CardStatus(sw.WRONG_LENGTH)
    if not mac_equal(expected, cmd.data):
        if key.tries_left is None:
            return Reply(b"", sw.AUTH_FAILED)
        journal.set(key, "tries_left", key.tries_left - 1)
        return Reply(b"", sw.wrong_pin(key.tries_left - 1))
    if key.tries_left not in (None, KEY_MAX_TRIES):
        journal.set(key, "tries_left", KEY_MAX_TRIES)
    volatile.authenticated.add(key.index)
    return Reply(b"")


def verify(card, cmd: CommandApdu, journal: Journal) -> Reply:
    """00 20 00 00 Lc <PIN BCD, F-padded>: 63Cx on a wrong PIN, 6983 once locked.

    Without data it only reports the tries left (ISO 7816-4). The counter change is written
    at the command's commit point, so a power cut never spends or saves a try silently.
    """
    if cmd.p1 != 0x00 or cmd.p2 != 0x00:
        raise CardStatus(sw.WRONG_P1P2)
    pin = _pin_of(card)
    if pin.tries_left == 0:
        raise CardStatus(sw.AUTH_BLOCKED)
    if not cmd.data:
        return Reply(b"", sw.OK if card.volatile.pin_verified else sw.wrong_pin(pin.tries_left))
    if not 2 <= len(cmd.data) <= 8:
        raise CardStatus(sw.WRONG_LENGTH)
    if not mac_equal(cmd.data.hex().upper().rstrip("F").encode(), pin.digits.encode()):
        card.volatile.pin_verified = False
        remaining = pin.tries_left - 1
        journal.set(pin, "tries_left", remaining)
        return Reply(b"", sw.wrong_pin(remaining) if remaining else sw.AUTH_BLOCKED)
    if pin.tries_left != pin.max_tries:
        journal.set(pin, "tries_left", pin.max_tries)
    card.volatile.pin_verified = True
    return Reply(b"")


def _pin_of(card) -> Pin:
    """The PIN of the current DF, or of the MF for a DF without its own."""
    df: DedicatedFile = card.volatile.df
    pin = df.pin or card.mf.pin
    if pin is None:
        raise CardStatus(sw.REFERENCED_DATA_NOT_FOUND)
    return pin


HANDLERS = {
    (0x00, 0x84): (get_challenge, False),
    (0x00, 0x82): (external_authenticate, False),
    (0x00, 0x20): (verify, False),
}
