"""Request dependencies: the platform, the acting user, role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import Field

from yikatong.auth.errors import ChannelNotAllowed
from yikatong.auth.rules import channel_for
from yikatong.auth.service import link_holder_person, resolve_token
from yikatong.auth.throttle import count_holder_call
from yikatong.core.actor import Actor, Role
from yikatong.core.errors import Forbidden, Unauthenticated
from yikatong.platform import Platform

# A database row id as a path, query or body value: outside 1..2^63-1 it is a 422, not a
# database overflow (SQLite) or an out-of-range error (PostgreSQL).
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Offset = Annotated[int, Field(ge=0, le=2**63 - 1)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def platform_dep(request: Request) -> Platform:
    return request.app.state.platform


def current_actor(
    platform: Platform = Depends(platform_dep),
    token: str | None = Depends(oauth2_scheme),
    api_key: str | None = Header(default=None, alias="X-API-Key"),
    # Named apart from any route's own `channel` path parameter.
    requested_channel: str | None = Header(default=None, alias="X-Ykt-Channel"),
) -> Actor:
    """The authenticated actor; the channel comes from X-Ykt-Channel within the role's own."""
    secret = token or api_key
    if not secret:
        raise Unauthenticated()
    with platform.uow() as uow:
        user = resolve_token(uow=uow, token=secret)
        if user.role == Role.HOLDER and user.person_id is None and user.verified_ssn:
            if link_holder_person(uow=uow, user=user) is not None:
                uow.commit()
    role = Role(user.role)
    if role is Role.HOLDER:  # every holder call counts against the holder login's quota
        count_holder_call(platform, user.id)
    acting_channel = channel_for(role, requested_channel)
    if acting_channel is None:
        raise ChannelNotAllowed(channel=requested_channel)
    return Actor(
        user_id=user.username, role=role, channel=acting_channel, bank_code=user.bank_code,
        branch_code=user.branch_code, person_id=user.person_id,
    )


def require_roles(*roles: Role) -> Callable[..., Actor]:
    """A dependency that lets only these roles (and the card-centre admin) through."""
    allowed = set(roles) | {Role.ADMIN}

    def check(actor: Actor = Depends(current_actor)) -> Actor:
        if actor.role not in allowed:
            raise Forbidden()
        return actor

    return check
