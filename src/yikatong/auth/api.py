from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from yikatong.api.deps import RowId, current_actor, oauth2_scheme, platform_dep, require_roles
from yikatong.auth import binding, service
from yikatong.auth.rules import credential_status
from yikatong.auth.schemas import (
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyOut,
    ApiKeyRotateIn,
    ApiKeyRotateOut,
    CodeRequestedOut,
    HolderSignUpIn,
    HolderSignUpOut,
    MeOut,
    PasswordChangeIn,
    PasswordChangeOut,
    SignUpCodeIn,
    TokenOut,
    UserIn,
    UserOut,
    UserStateOut,
)
from yikatong.auth.throttle import LoginAttempt, login_attempt, throttle_of, throttled
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


@router.post("/holders/codes", response_model=CodeRequestedOut, status_code=202,
             summary="Text a sign-up code to the phone on file / 向登记手机号发送注册验证码",
             dependencies=[throttled("holder_sign_up")])
def request_sign_up_code(body: SignUpCodeIn, platform: Platform = Depends(platform_dep)):
    """The same answer whether or not the name and ID number are on file with a phone. Codes
    for one ID number are throttled too (counted whether or not it is on file), so nobody
    floods a holder's phone from many addresses."""
    throttle_of(platform).hit("sign_up_code_target", body.id_number)
    with platform.uow() as uow:
        binding.send_sign_up_code(uow=uow, name=body.name, id_number=body.id_number)
        uow.commit()
    return CodeRequestedOut(
        note_zh="如该身份证号在档且登记了手机号，验证码已发送至该手机号，10 分钟内有效",
        note_en="If this ID number is on file with a phone number, a code valid for 10 minutes "
                "was texted to it")


@router.post("/holders", response_model=HolderSignUpOut, status_code=201,
             summary="Cardholder sign-up with proof of identity / 持卡人实名注册",
             dependencies=[throttled("holder_sign_up")])
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
def add_user(body: UserIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        user = service.add_operator(uow=uow, actor=actor, **body.model_dump())
        uow.commit()
    return UserOut(username=user.username, role=user.role, bank_code=user.bank_code,
                   branch_code=user.branch_code)


@router.post("/users/{username}/api-keys", response_model=ApiKeyOut, status_code=201,
             summary="Issue an API key for a partner system / 签发合作方 API 密钥")
def issue_api_key(username: str, body: ApiKeyIn, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        user = service.find_user(uow=uow, username=username)
        key, access = service.issue_api_key(uow=uow, user=user, label=body.label, actor=actor,
                                            lifetime=_days(body.valid_days))
        uow.commit()
        return ApiKeyOut(api_key=key, key_id=access.id, expires_at=access.expires_at)


@router.get("/users/{username}/api-keys", response_model=list[ApiKeyInfo],
            summary="List a login's API keys (never the secret) / 查看账号的 API 密钥")
def list_api_keys(username: str, actor: Actor = Depends(require_roles()),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        keys = service.list_api_keys(uow=uow, user=service.find_user(uow=uow, username=username))
        now = uow.now()
        return [ApiKeyInfo(key_id=k.id, label=k.label, hint=k.hint, created_at=k.created_at,
                           expires_at=k.expires_at, revoked_at=k.revoked_at,
                           status=credential_status(revoked_at=k.revoked_at, expires_at=k.expires_at, now=now))
                for k in keys]


@router.post("/users/{username}/api-keys/{key_id}/rotate", response_model=ApiKeyRotateOut,
             status_code=201, summary="Rotate an API key (old one kept for a grace period) / 轮换 API 密钥")
def rotate_api_key(username: str, key_id: RowId, body: ApiKeyRotateIn,
                   actor: Actor = Depends(require_roles()), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        user = service.find_user(uow=uow, username=username)
        key, new, old = service.rotate_api_key(uow=uow, actor=actor, user=user, key_id=key_id,
                                               grace=timedelta(hours=body.grace_hours),
                                               lifetime=_days(body.valid_days))
        uow.commit()
        return ApiKeyRotateOut(api_key=key, key_id=new.id, expires_at=new.expires_at,
                               old_key_id=old.id, old_key_valid_until=old.revoked_at or old.expires_at)


@router.delete("/users/{username}/api-keys/{key_id}", status_code=204,
               summary="Revoke an API key at once / 吊销 API 密钥")
def revoke_api_key(username: str, key_id: RowId, actor: Actor = Depends(require_roles()),
                   platform: Platform = Depends(platform_dep)) -> None:
    with platform.uow() as uow:
        service.revoke_api_key(uow=uow, actor=actor, key_id=key_id,
                               user=service.find_user(uow=uow, username=username))
        uow.commit()


@router.post("/users/{username}/deactivate", response_model=UserStateOut,
             summary="Deactivate a login: its tokens and API keys stop at once / 停用账号")
def deactivate_user(username: str, actor: Actor = Depends(require_roles()),
                    platform: Platform = Depends(platform_dep)):
    return _set_active(platform, actor, username, active=False)


@router.post("/users/{username}/reactivate", response_model=UserStateOut,
             summary="Reactivate a login (it logs in again; old credentials stay revoked) / 重新启用账号")
def reactivate_user(username: str, actor: Actor = Depends(require_roles()),
                    platform: Platform = Depends(platform_dep)):
    return _set_active(platform, actor, username, active=True)


@router.post("/password", response_model=PasswordChangeOut,
             summary="Change your own password / 修改本人密码")
def change_password(body: PasswordChangeIn, actor: Actor = Depends(current_actor),
                    token: str | None = Depends(oauth2_scheme),
                    platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        ended = service.change_password(
            uow=uow, actor=actor, user=service.find_user(uow=uow, username=actor.user_id),
            current_password=body.current_password, new_password=body.new_password,
            keep_token=token)
        uow.commit()
    return PasswordChangeOut(other_sessions_ended=ended)


@router.post("/logout", status_code=204, summary="Log out: revoke this bearer token / 退出登录")
def logout(actor: Actor = Depends(current_actor), token: str | None = Depends(oauth2_scheme),
           platform: Platform = Depends(platform_dep)) -> None:
    from yikatong.auth.errors import LogoutNeedsBearer

    if not token:  # authenticated by an API key
        raise LogoutNeedsBearer()
    with platform.uow() as uow:
        service.logout(uow=uow, actor=actor, token=token)
        uow.commit()


def _set_active(platform: Platform, actor: Actor, username: str, *, active: bool) -> UserStateOut:
    with platform.uow() as uow:
        user = service.find_user(uow=uow, username=username)
        revoked = service.set_active(uow=uow, actor=actor, user=user, active=active)
        uow.commit()
    return UserStateOut(username=username, active=active, credentials_revoked=revoked)


def _days(days: int | None) -> timedelta | None:
    return None if days is None else timedelta(days=days)
