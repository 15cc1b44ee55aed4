from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from yikatong.api.deps import current_actor, platform_dep, require_roles
from yikatong.auth import service
from yikatong.auth.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    HolderSignUpIn,
    HolderSignUpOut,
    MeOut,
    TokenOut,
    UserIn,
    UserOut,
)
from yikatong.auth.throttle import LoginAttempt, login_attempt, throttled
from yikatong.core.actor import Actor
from yikatong.platform import Platform

router = APIRouter(prefix="/auth", tags=["auth 登录"])


@router.post("/token", response_model=TokenOut, summary="Log in / 登录")
def token(form: OAuth2PasswordRequestForm = Depends(), platform: Platform = Depends(platform_dep),
          attempt: LoginAttempt = Depends(login_attempt)):
    with platform.uow() as uow:
        ttl = timedelta(minutes=platform.settings.token_ttl_minutes)
        access = service.login(uow=uow, username=form.username, password=form.password, ttl=ttl)
        uow.commit()
    attempt.succeeded()
    return TokenOut(access_token=access)


@router.get("/me", response_model=MeOut, summary="Who am I / 当前用户")
def me(actor: Actor = Depends(current_actor)):
    return MeOut(username=actor.user_id, role=actor.role, channel=actor.channel,
                 bank_code=actor.bank_code, person_id=actor.person_id)


@router.post("/holders", response_model=HolderSignUpOut, status_code=201,
             summary="Cardholder sign-up after real-name authentication / 持卡人实名注册",
             dependencies=[throttled("holder_sign_up")])
def sign_up_holder(body: HolderSignUpIn, platform: Platform = Depends(platform_dep)):
    from yikatong.applications.protocols import IdentityAuthenticator

    with platform.uow() as uow:
        user = service.register_holder(
            uow=uow, name=body.name, id_number=body.id_number, evidence=body.evidence,
            username=body.username, password=body.password,
            authenticator=platform.get(IdentityAuthenticator))
        uow.commit()
    return HolderSignUpOut(username=user.username, linked_to_person=user.person_id is not None)


@router.post("/users", response_model=UserOut, status_code=201,
             summary="Add a staff or partner login (card centre) / 新增工作人员或合作方账号")
def add_user(body: UserIn, actor: Actor = Depends(require_roles()),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        user = service.add_operator(uow=uow, actor=actor, **body.model_dump())
        uow.commit()
    return UserOut(username=user.username, role=user.role, bank_code=user.bank_code,
                   branch_code=user.branch_code)


@router.post("/users/{username}/api-keys", response_model=ApiKeyOut, status_code=201,
             summary="Issue an API key for a partner system / 签发合作方 API 密钥")
def issue_api_key(username: str, body: ApiKeyIn, actor: Actor = Depends(require_roles()),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        key = service.create_api_key(uow=uow, user=service.find_user(uow=uow, username=username),
                                     label=body.label, actor=actor)
        uow.commit()
    return ApiKeyOut(api_key=key)
