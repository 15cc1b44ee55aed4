"""Employers API: the employer ↔ employee links an employer agent's scope comes from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from yikatong.api.deps import Offset, RowId, current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.employers import service
from yikatong.employers.schemas import EndLinkIn, LinkOut
from yikatong.platform import Platform

router = APIRouter(prefix="/employers", tags=["employers 用人单位"])


@router.get(
    "/links",
    response_model=list[LinkOut],
    summary="Employee links: an agent's own employer's, all for the card centre / 单位员工关联",
)
def list_links(
    include_ended: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[Offset, Query()] = 0,
    actor: Actor = Depends(current_actor),
    platform: Platform = Depends(platform_dep),
):
    with platform.uow() as uow:
        return [
            LinkOut.model_validate(link)
            for link in service.list_links(
                uow=uow, actor=actor, include_ended=include_ended, limit=limit, offset=offset
            )
        ]


@router.post(
    "/links/{link_id}/end",
    response_model=LinkOut,
    summary="End an employee link (the person left) / 终止单位与员工的关联",
)
def end_link(
    link_id: RowId,
    body: EndLinkIn,
    actor: Actor = Depends(current_actor),
    platform: Platform = Depends(platform_dep),
):
    with platform.uow() as uow:
        return LinkOut.model_validate(
            service.end_link(uow=uow, actor=actor, link_id=link_id, reason=body.reason)
        )
