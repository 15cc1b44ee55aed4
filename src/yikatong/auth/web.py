"""The holder's sign-up pages (mounted at the site root; see yikatong.pages): the account
binding of docs/account-binding.md in a browser, through the same use cases as
POST /api/v1/auth/holders/codes and POST /api/v1/auth/holders.

1. The code: name and ID number; the answer is the same whether or not they are on file with
   a phone, given before the record is even looked up (the text goes out after the answer, as
   the API does it: `binding.deliver_sign_up_code` as a background task), and the same
   throttles count it. With htmx the note appears beside the form; without scripts the
   browser is sent back to the form with the note (303).
2. The sign-up: name, ID number, the texted code, a user name and a password
   (`service.register_holder`, proof "sms_code"); a refusal is shown on the form, nothing
   changed. Signed up, the holder is signed in (a page session, as /signin gives) and sent
   to their card.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from yikatong.api.deps import platform_dep
from yikatong.auth import binding, service
from yikatong.auth.schemas import SignUpCodeIn, SmsCodeSignUpIn
from yikatong.auth.throttle import throttle_of, throttled
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.pages.rendering import render
from yikatong.pages.sessions import session_ttl, start_session
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)

SIGN_UP = "/signup"


@router.get(SIGN_UP)
def sign_up_form(request: Request, sent: int = 0):
    return _form(request, note=bool(sent))


@router.post(f"{SIGN_UP}/code", dependencies=[throttled("holder_sign_up")])
def request_code(request: Request, background: BackgroundTasks,
                 name: str = Form(default="", max_length=30),
                 id_number: str = Form(default="", max_length=18),
                 platform: Platform = Depends(platform_dep)):
    try:
        asked = SignUpCodeIn(name=name, id_number=id_number)
    except ValidationError:
        return _form(request, error=_incomplete(), name=name, id_number=id_number,
                     status_code=422)
    throttle_of(platform).hit("sign_up_code_target", asked.id_number)
    background.add_task(binding.deliver_sign_up_code, platform, name=asked.name,
                        id_number=asked.id_number)
    if request.headers.get("hx-request"):  # htmx: the note beside the form, fields kept
        return render(request, "auth/code_note.html")
    return RedirectResponse(f"{SIGN_UP}?sent=1", status_code=303)


@router.post(SIGN_UP, dependencies=[throttled("holder_sign_up")])
def sign_up(request: Request, name: str = Form(default="", max_length=30),
            id_number: str = Form(default="", max_length=18),
            code: str = Form(default="", max_length=12),
            username: str = Form(default="", max_length=64),
            password: str = Form(default="", max_length=128),
            platform: Platform = Depends(platform_dep)):
    from yikatong.applications.protocols import IdentityAuthenticator

    filled = {"name": name, "id_number": id_number, "username": username}
    try:
        body = SmsCodeSignUpIn(proof="sms_code", name=name, id_number=id_number, code=code,
                               username=username, password=password)
        with platform.uow() as uow:
            user = service.register_holder(
                uow=uow, proof=service.HolderProof(kind="sms_code", name=body.name,
                                                   id_number=body.id_number, code=body.code),
                username=body.username, password=body.password,
                authenticator=platform.get(IdentityAuthenticator))
            uow.commit()
        with platform.uow() as uow:
            secret = service.login(uow=uow, username=user.username, password=body.password,
                                   ttl=session_ttl(platform.settings), kind="session")
            uow.commit()
    except ValidationError:
        return _form(request, error=_incomplete(), status_code=422, **filled)
    except DomainError as error:
        return _form(request, error=error, status_code=error.http_status, **filled)
    response = RedirectResponse("/me", status_code=303)
    start_session(response, request, secret=secret, settings=platform.settings)
    return response


def _incomplete() -> InvalidInput:
    return InvalidInput(
        reason_zh="请填写姓名、15 或 18 位身份证号码、验证码、3 至 64 位的用户名（字母、数字或 . _ - @）和密码",
        reason_en="fill in the name, the 15- or 18-character ID number, the code, a user name "
                  "of 3 to 64 letters, digits or . _ - @, and a password")


def _form(request: Request, *, note: bool = False, error: DomainError | None = None,
          name: str = "", id_number: str = "", username: str = "", status_code: int = 200):
    return render(request, "auth/signup.html", {
        "note": note, "error": error, "name": name, "id_number": id_number,
        "username": username}, status_code=status_code)
