"""The public verification page (no login): paste or scan a shown e-card code and learn
whether it is genuine and current, with masked data only (张*三, 320402********0013).

`router` is meant to be mounted at the site root (`/ecard/verify`), beside the API; the
JSON twin is `POST /api/v1/ecard/verify`. Checking does not use the code up.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from yikatong.api.deps import platform_dep
from yikatong.auth.throttle import throttled
from yikatong.core.clock import CST
from yikatong.crypto.protocols import KeyStore
from yikatong.ecard import service
from yikatong.platform import Platform

router = APIRouter(prefix="/ecard", tags=["ecard 电子社保卡"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request):
    return templates.TemplateResponse(request, "verify.html", {"result": None, "token": ""})


@router.post("/verify", response_class=HTMLResponse, dependencies=[throttled("ecard_check")])
def verify_submitted(request: Request, token: str = Form(default="", max_length=400),
                     platform: Platform = Depends(platform_dep)):
    token = token.strip()
    with platform.uow() as uow:
        result = service.verify_token(uow=uow, token=token, keys=platform.get(KeyStore))
    expires = result.expires_at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S") \
        if result.expires_at else None
    return templates.TemplateResponse(
        request, "verify.html", {"result": result, "token": token, "expires_local": expires},
        headers={"Cache-Control": "no-store"})
