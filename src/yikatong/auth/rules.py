"""Which channels each role may act through (the first is its default)."""

from __future__ import annotations

from yikatong.core.actor import Channel, Role

CHANNELS_BY_ROLE: dict[Role, tuple[Channel, ...]] = {
    Role.HOLDER: (Channel.ONLINE_PORTAL, Channel.ONLINE_APP),
    Role.SS_OUTLET: (Channel.OUTLET,),
    Role.CITIZEN_OUTLET: (Channel.CITIZEN_OUTLET, Channel.SELF_SERVICE),
    Role.PHONE_AGENT: (Channel.PHONE_12333,),
    Role.EMPLOYER_AGENT: (Channel.EMPLOYER,),
    Role.BANK: (Channel.BANK_BRANCH, Channel.PARTNER_API),
    Role.TRANSIT_OPERATOR: (Channel.PARTNER_API,),
    Role.ADMIN: tuple(Channel),
    Role.SYSTEM: (Channel.SYSTEM,),
}

MIN_PASSWORD_LENGTH = 8


def channel_for(role: Role, requested: str | None) -> Channel | None:
    """The channel a request acts through, or None if the role may not use it."""
    allowed = CHANNELS_BY_ROLE[role]
    if requested is None:
        return allowed[0]
    try:
        channel = Channel(requested)
    except ValueError:
        return None
    return channel if channel in allowed else None


# --- binding an account to a person --------------------------------------------------------

# One-time codes by text message: six digits, short-lived, a few tries each.
SMS_CODE_DIGITS = 6
SMS_CODE_TTL_MINUTES = 10
SMS_CODE_MAX_ATTEMPTS = 5
# Activation codes handed over with the card: 12 characters of Crockford's base32 (60 bits,
# beyond guessing), shown once, good for 90 days.
ACTIVATION_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ACTIVATION_CODE_LENGTH = 12
ACTIVATION_CODE_TTL_DAYS = 90
# What a one-time code is for: the same code never serves another purpose.
CODE_PURPOSES = ("sign_up", "ecard_reset", "phone_change")


def group_activation_code(code: str) -> str:
    """XXXX-XXXX-XXXX, as printed on the hand-over slip."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise_code(code: str | None) -> str:
    """What the holder typed, as stored: upper case, without spaces and dashes; the letters
    O, I and L read as the digits they resemble (Crockford)."""
    cleaned = "".join((code or "").split()).replace("-", "").upper()
    return cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
