"""The audit trail's state for the card centre's administrators."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from yikatong.api.deps import platform_dep, require_roles
from yikatong.audit import service
from yikatong.audit.schemas import VerificationOut
from yikatong.core.actor import Actor
from yikatong.core.errors import NotFound
from yikatong.platform import Platform

router = APIRouter(prefix="/audit", tags=["audit 审计"])


@router.get("/verifications/latest", response_model=VerificationOut,
            summary="Last audit trail verification / 最近一次审计核验结果")
def latest_verification(actor: Actor = Depends(require_roles()),  # admin only
                        platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        verification = service.last_verification(uow=uow)
    if verification is None:
        raise NotFound(what="audit verification / 审计核验结果")
    return VerificationOut.model_validate(verification, from_attributes=True)
