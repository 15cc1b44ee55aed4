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
