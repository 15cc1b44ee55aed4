"""Which channels each role may act through (the first is its default)."""

from __future__ import annotations

import re

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

# Every login name, staff or holder: letters, digits and . _ @ - only. No ':' so the names of
# system actors (`cli:alice`, `bank:ICBC`) can never be taken by a sign-up.
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{3,64}$"
_USERNAME = re.compile(USERNAME_PATTERN)
# Names the platform's own actors use without a ':' (jobs, set-up, the reference bank's link).
RESERVED_USERNAMES = frozenset({
    "system", "setup", "platform", "demo", "applications", "transit-jobs", "ecard.sync",
    "bank.loss_rule", "national-exchange", "cards.expire_temporary_losses", "root",
})


def is_valid_username(username: str) -> bool:
    """A name a login may have: the shared pattern, and not one a system actor uses."""
    return bool(_USERNAME.match(username)) and username.lower() not in RESERVED_USERNAMES


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
