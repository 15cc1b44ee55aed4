"""Status words (SW1 SW2) the card answers, and the exception that carries one.

Inside the emulator a command handler raises `CardStatus(SW_...)`; the card turns it into the
two trailing bytes of the response and discards everything the command had staged.
"""

from __future__ import annotations

OK = 0x9000
END_OF_FILE = 0x6282  # fewer bytes than Le before the end of the file
SELECTED_FILE_INVALIDATED = 0x6283  # SELECT of a blocked application
AUTH_FAILED = 0x6300
WRONG_LENGTH = 0x6700
INCOMPATIBLE_FILE = 0x6981  # e.g. READ RECORD on a transparent file
SM_NOT_SUPPORTED = 0x6882
SECURITY_NOT_SATISFIED = 0x6982
AUTH_BLOCKED = 0x6983  # PIN or key error counter exhausted
CHALLENGE_INVALID = 0x6984  # EXTERNAL AUTHENTICATE or SM MAC without a fresh GET CHALLENGE
CONDITIONS_NOT_SATISFIED = 0x6985
NO_CURRENT_EF = 0x6986
SM_MAC_INCORRECT = 0x6988
WRONG_DATA = 0x6A80
FUNCTION_NOT_SUPPORTED = 0x6A81  # the application is blocked
FILE_NOT_FOUND = 0x6A82
RECORD_NOT_FOUND = 0x6A83
NOT_ENOUGH_MEMORY = 0x6A84
WRONG_P1P2 = 0x6A86
REFERENCED_DATA_NOT_FOUND = 0x6A88
OFFSET_OUT_OF_FILE = 0x6B00
INS_NOT_SUPPORTED = 0x6D00
CLA_NOT_SUPPORTED = 0x6E00
MAC_INVALID = 0x9302  # MAC1 / MAC2 of the e-purse
APP_PERMANENTLY_BLOCKED = 0x9303
INSUFFICIENT_BALANCE = 0x9401
COUNTER_EXHAUSTED = 0x9402  # an e-purse transaction counter reached FFFF
KEY_INDEX_NOT_SUPPORTED = 0x9403
MAC_NOT_AVAILABLE = 0x9406  # GET TRANSACTION PROVE: no proof for that counter/type


def wrong_pin(remaining: int) -> int:
    """63Cx: verification failed, x tries left."""
    return 0x63C0 | (remaining & 0x0F)


def wrong_length_exact(length: int) -> int:
    """6Cxx: Le was wrong, xx is the exact length available."""
    return 0x6C00 | (length & 0xFF)


class CardStatus(Exception):
    """A command ends with this status word; nothing it staged is written."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw
