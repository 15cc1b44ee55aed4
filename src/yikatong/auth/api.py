from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from yikatong.api.deps import current_actor, platform_dep
from yikatong.auth import service
from yikatong.auth.schemas import MeOut, TokenOut
from yikatong.core.actor import Actor
from yikatong.platform import Platform

router = APIRouter(prefix="/auth", tags=["auth 登录"])


@router.post("/token", response_model=TokenOut, summary="Log in / 登录")
def token(form: OAuth2PasswordRequestForm = Depends(), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        ttl = timedelta(minutes=platform.settings.token_ttl_minutes)
        access = service.login(uow=uow, username=form.username, password=form.password, ttl=ttl)
        uow.commit()
    return TokenOut(access_token=access)


@router.get("/me", response_model=MeOut, summary="Who am I / 当前用户")
def me(actor: Actor = Depends(current_actor)):
    return MeOut(username=actor.user_id, role=actor.role, channel=actor.channel,
                 bank_code=actor.bank_code, person_id=actor.person_id)
