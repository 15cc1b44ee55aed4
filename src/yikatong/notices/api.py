"""Notices API: the record of sent text messages (card centre), and in development mode the
development SMS outbox (what was "delivered", codes included) for the demo."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query

from yikatong.api.deps import RowId, current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.notices import service
from yikatong.notices.errors import NoDevelopmentOutbox
from yikatong.notices.protocols import SmsGateway
from yikatong.notices.reference import DevelopmentSmsOutbox
from yikatong.notices.schemas import OutboxMessageOut, SmsMessageOut
from yikatong.platform import Platform

router = APIRouter(prefix="/notices", tags=["notices 通知"])


@router.get("/sms", response_model=list[SmsMessageOut],
            summary="Text messages sent (masked) / 已发送短信记录")
def sent_messages(person_id: RowId | None = None, template: str | None = Query(None, max_length=32),
                  limit: int = Query(100, ge=1, le=1000), _actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [SmsMessageOut(**asdict(m)) for m in service.list_messages(
            uow=uow, person_id=person_id, template=template, limit=limit)]


@router.get("/sms/outbox", response_model=list[OutboxMessageOut],
            summary="Development SMS outbox (development mode only) / 开发环境短信发件箱")
def development_outbox(phone: str | None = Query(None, max_length=32),
                       limit: int = Query(50, ge=1, le=500), _actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    return [OutboxMessageOut(**asdict(m)) for m in development_outbox_of(platform).delivered(
        phone=phone, limit=limit)]


def development_outbox_of(platform: Platform) -> DevelopmentSmsOutbox:
    """The development outbox, in development mode only (NoDevelopmentOutbox otherwise)."""
    gateway = platform.get(SmsGateway)
    if platform.settings.is_production or not isinstance(gateway, DevelopmentSmsOutbox):
        raise NoDevelopmentOutbox()
    return gateway
