from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from yikatong.api.deps import current_actor, platform_dep, require_roles
from yikatong.auth import binding, service
from yikatong.auth.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    CodeRequestedOut,
    HolderSignUpIn,
    HolderSignUpOut,
    MeOut,
    SignUpCodeIn,
    TokenOut,
    UserIn,
    UserOut,
)
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


@router.post("/holders/codes", response_model=CodeRequestedOut, status_code=202,
             summary="Text a sign-up code to the phone on file / 向登记手机号发送注册验证码")
def request_sign_up_code(body: SignUpCodeIn, platform: Platform = Depends(platform_dep)):
    """The same answer whether or not the name and ID number are on file with a phone."""
    with platform.uow() as uow:
        binding.send_sign_up_code(uow=uow, name=body.name, id_number=body.id_number)
        uow.commit()
    return CodeRequestedOut(
        note_zh="如该身份证号在档且登记了手机号，验证码已发送至该手机号，10 分钟内有效",
        note_en="If this ID number is on file with a phone number, a code valid for 10 minutes "
                "was texted to it")


@router.post("/holders", response_model=HolderSignUpOut, status_code=201,
             summary="Cardholder sign-up with proof of identity / 持卡人实名注册")
def sign_up_holder(body: HolderSignUpIn, platform: Platform = Depends(platform_dep)):
    from yikatong.applications.protocols import IdentityAuthenticator

    proof = service.HolderProof(kind=body.proof, name=body.name, id_number=body.id_number,
                                code=getattr(body, "code", None),
                                evidence=getattr(body, "evidence", None))
    with platform.uow() as uow:
        user = service.register_holder(
            uow=uow, proof=proof, username=body.username, password=body.password,
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
