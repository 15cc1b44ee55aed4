"""The development clock door: read it (any signed-in user), move it forward (the card centre).

Mounted only in development mode (`DEVELOPMENT_ONLY`, see yikatong.api.app); while the clock
is moved, every response names its time in the `X-Ykt-Clock` header (`NameMovedClock`).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.core.clock import as_utc
from yikatong.devclock import service
from yikatong.devclock.schemas import ClockMoveIn, ClockOut
from yikatong.platform import Platform

DEVELOPMENT_ONLY = True  # yikatong.api.app does not mount this router in production
CLOCK_HEADER = "X-Ykt-Clock"

router = APIRouter(prefix="/dev", tags=["development clock / 开发时钟"])


@router.get("/clock", response_model=ClockOut, summary="The platform's time / 平台时钟")
def get_clock(
    _actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)
) -> ClockOut:
    return ClockOut(**vars(service.read(platform.clock)))


@router.post(
    "/clock",
    response_model=ClockOut,
    summary="Move the development clock forward / 向前拨动开发时钟",
)
def move_clock(
    body: ClockMoveIn,
    actor: Actor = Depends(current_actor),
    platform: Platform = Depends(platform_dep),
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
):
    advance_by = timedelta(
        days=body.advance_days, hours=body.advance_hours, minutes=body.advance_minutes
    )
    request = body.model_dump(mode="json")
    with platform.uow() as uow:
        stored = uow.replay("dev.clock", idempotency_key, request)
        if stored is not None:  # a retry: the clock already moved once
            return stored

        def remember(view: service.ClockView) -> None:
            uow.remember(
                "dev.clock",
                idempotency_key,
                request,
                ClockOut(**vars(view)).model_dump(mode="json"),
            )

        moved = service.move(
            uow=uow,
            clock=platform.clock,
            actor=actor,
            set_to=body.set_to,
            advance_by=advance_by,
            remember=remember,
        )
    return ClockOut(**vars(moved))


def moved_clock_header(clock) -> tuple[bytes, bytes] | None:
    """The header naming `clock`'s time while it is moved, else None (NameMovedClock; the
    lean reads' answers made in front of it, api.lean.LeanFront)."""
    if not service.is_moved(clock):
        return None
    return CLOCK_HEADER.lower().encode(), as_utc(clock.now()).isoformat().encode()


class NameMovedClock:
    """Every response names the clock's time while it is moved, so nobody mistakes it.

    A pure ASGI middleware (not `@app.middleware("http")`, whose BaseHTTPMiddleware runs each
    request through an extra task and memory streams: a third of the cost of a /healthz)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_naming_clock(message: Message) -> None:
            if message["type"] == "http.response.start":
                # per answer: `ykt serve` may swap the clock
                named = moved_clock_header(scope["app"].state.platform.clock)
                if named is not None:
                    message = {**message, "headers": [*message.get("headers", ()), named]}
            await send(message)

        await self.app(scope, receive, send_naming_clock)
