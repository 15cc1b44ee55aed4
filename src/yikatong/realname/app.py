"""The reference real-name provider as an ASGI app (development and tests only).

OpenID Connect, authorization-code flow with PKCE (S256) only:
- GET  /.well-known/openid-configuration   discovery document
- GET  /jwks                                the published signing keys
- GET  /authorize                           a page where a development user enters a person
- POST /authorize                           checks the entry, redirects back with a code
- POST /token                               redeems a code (once, with its PKCE verifier) for
                                            a signed ID token
Codes live in memory for CODE_TTL_SECONDS. Keys are re-read from their file when it changes,
so `ykt realname rotate-key` takes effect in a running provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment
from joserfc import jwt

from yikatong.core.clock import Clock, SystemClock, local_date
from yikatong.core.errors import DomainError
from yikatong.people.rules import check_name, classify_id_number
from yikatong.realname import keys as key_file

CODE_TTL_SECONDS = 60
ID_TOKEN_TTL_SECONDS = 300
ID_NUMBER_CLAIM = "https://yikatong.example/claims/id_number"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    redirect_uris: tuple[str, ...]
    secret: str | None = None  # none: a public client, PKCE only


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    name: str
    id_number: str
    issued_at: int


@dataclass
class _ProviderState:
    issuer: str
    key_path: Path
    clients: dict[str, RegisteredClient]
    clock: Clock
    grants: dict[str, _Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _keys: key_file.ProviderKeys | None = None
    _keys_version: int | None = None

    def keys(self) -> key_file.ProviderKeys:
        with self.lock:
            version = self.key_path.stat().st_mtime_ns
            if self._keys is None or version != self._keys_version:
                self._keys, self._keys_version = key_file.load(self.key_path), version
            return self._keys

    def now(self) -> int:
        return int(self.clock.now().timestamp())


_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>实名认证（开发用）· Real-name check (development)</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto">
<p style="background:#fff3cd;padding:.5rem"><strong>开发/参考用实名认证服务，不做真实核验。</strong><br>
Reference real-name provider for development: it checks nothing but the number's form.</p>
<h1>实名认证 <small>Real-name check</small></h1>
{% if error %}<p role="alert" style="color:#b00">{{ error }}</p>{% endif %}
<form method="post" action="authorize">
{% for key, value in hidden.items() %}<input type="hidden" name="{{ key }}" value="{{ value }}">
{% endfor %}
<p><label>姓名 Name<br><input name="name" value="{{ name }}" maxlength="60" required></label></p>
<p><label>身份证号码 ID number<br><input name="id_number" value="{{ id_number }}" maxlength="20" required></label></p>
<p><button name="action" value="approve">认证 · Authenticate</button>
<button name="action" value="deny" formnovalidate>取消 · Cancel</button></p>
</form></body></html>""")

_AUTHORIZE_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                     "code_challenge", "code_challenge_method")


def create_provider_app(*, issuer: str, key_path: str | Path, clients: list[RegisteredClient],
                        clock: Clock | None = None) -> FastAPI:
    """The provider at `issuer` (its public base URL), signing with the keys at `key_path`
    (created if missing), for these registered clients."""
    key_file.load_or_create(key_path)
    state = _ProviderState(issuer=issuer, key_path=Path(key_path),
                           clients={c.client_id: c for c in clients}, clock=clock or SystemClock())
    app = FastAPI(title="Reference real-name provider (development only)", docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.provider = state

    @app.get("/.well-known/openid-configuration")
    def discovery():
        base = issuer.rstrip("/")
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": [key_file.SIGNING_ALGORITHM],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic",
                                                      "client_secret_post"],
            "scopes_supported": ["openid"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
                                 "name", ID_NUMBER_CLAIM],
        }

    @app.get("/jwks")
    def jwks():
        return state.keys().public_jwks()

    @app.get("/healthz")
    def health():
        return {"status": "ok"}

    @app.get("/authorize", response_class=HTMLResponse)
    def authorize_page(request: Request):
        params = {name: request.query_params.get(name, "") for name in _AUTHORIZE_FIELDS}
        return _authorize(state, params, action=None, name="", id_number="")

    @app.post("/authorize", response_class=HTMLResponse)
    def authorize_submit(
        response_type: str = Form(""), client_id: str = Form(""), redirect_uri: str = Form(""),
        scope: str = Form(""), state_: str = Form("", alias="state"), nonce: str = Form(""),
        code_challenge: str = Form(""), code_challenge_method: str = Form(""),
        name: str = Form("", max_length=60), id_number: str = Form("", max_length=20),
        action: str = Form("approve"),
    ):
        params = {"response_type": response_type, "client_id": client_id,
                  "redirect_uri": redirect_uri, "scope": scope, "state": state_, "nonce": nonce,
                  "code_challenge": code_challenge, "code_challenge_method": code_challenge_method}
        return _authorize(state, params, action=action, name=name, id_number=id_number)

    @app.post("/token")
    async def token(request: Request):
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return _token(state, fields, request.headers.get("authorization"))

    return app


# --- authorization endpoint ------------------------------------------------------------------


def _authorize(state: _ProviderState, params: dict[str, str], *, action: str | None, name: str,
               id_number: str):
    client = state.clients.get(params["client_id"])
    if client is None or params["redirect_uri"] not in client.redirect_uris:
        # Never redirect to an unregistered address (RFC 6749 §4.1.2.1): say so on the page.
        return HTMLResponse("<p>未登记的客户端或回调地址 / unknown client or redirect URI</p>",
                            status_code=400)
    problem = _request_problem(params)
    if problem:
        return _back(params, error="invalid_request", description=problem)
    if action is None:
        return _page(params, name="", id_number="", error=None)
    if action != "approve":
        return _back(params, error="access_denied")
    try:
        person_name = check_name(name)
        number = classify_id_number(id_number, today=local_date(state.clock.now())).number
    except DomainError as error:
        return _page(params, name=name, id_number=id_number, status=400,
                     error=f"{error.message_zh} / {error.message_en}")
    code = secrets.token_urlsafe(32)
    with state.lock:
        _forget_stale_grants(state)
        state.grants[code] = _Grant(
            client_id=client.client_id, redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"], nonce=params["nonce"], name=person_name,
            id_number=number, issued_at=state.now())
    return _back(params, code=code)


def _request_problem(params: dict[str, str]) -> str | None:
    if params["response_type"] != "code":
        return "response_type must be code"
    if "openid" not in params["scope"].split():
        return "scope must include openid"
    if params["code_challenge_method"] != "S256" or not 43 <= len(params["code_challenge"]) <= 128:
        return "PKCE with S256 is required"
    if not params["nonce"] or len(params["nonce"]) > 256 or len(params["state"]) > 256:
        return "a nonce (and a state of at most 256 characters) is required"
    return None


def _page(params: dict[str, str], *, name: str, id_number: str, error: str | None,
          status: int = 200) -> HTMLResponse:
    hidden = {key: params[key] for key in _AUTHORIZE_FIELDS}
    return HTMLResponse(_PAGE.render(hidden=hidden, name=name, id_number=id_number, error=error),
                        status_code=status, headers={**NO_STORE, "X-Frame-Options": "DENY"})


def _back(params: dict[str, str], **answer: str) -> RedirectResponse:
    """Back to the client's redirect URI with a code or an error, and its state."""
    if params["state"]:
        answer["state"] = params["state"]
    url = httpx.URL(params["redirect_uri"]).copy_merge_params(answer)
    return RedirectResponse(str(url), status_code=303, headers=NO_STORE)


def _forget_stale_grants(state: _ProviderState) -> None:
    now = state.now()
    for code in [c for c, g in state.grants.items() if now - g.issued_at > CODE_TTL_SECONDS]:
        del state.grants[code]


# --- token endpoint --------------------------------------------------------------------------


def _token(state: _ProviderState, form: dict[str, str], authorization: str | None):
    client_id, secret = _client_credentials(form, authorization)
    client = state.clients.get(client_id or "")
    if client is None or (client.secret is not None and not (
            secret is not None and hmac.compare_digest(secret, client.secret))):
        return _token_error("invalid_client", status=401)
    if form.get("grant_type") != "authorization_code":
        return _token_error("unsupported_grant_type")
    with state.lock:
        grant = state.grants.pop(form.get("code", ""), None)  # a code is good for one try
    if (grant is None or state.now() - grant.issued_at > CODE_TTL_SECONDS
            or grant.client_id != client.client_id
            or grant.redirect_uri != form.get("redirect_uri")
            or not hmac.compare_digest(_s256(form.get("code_verifier", "")), grant.code_challenge)):
        return _token_error("invalid_grant")
    return JSONResponse({
        "access_token": secrets.token_urlsafe(32), "token_type": "Bearer",
        "expires_in": ID_TOKEN_TTL_SECONDS, "id_token": _id_token(state, grant),
    }, headers=NO_STORE)


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str | None, str | None]:
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
        except ValueError:
            return None, None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return form.get("client_id"), form.get("client_secret")


def _token_error(error: str, *, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status, headers=NO_STORE)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _id_token(state: _ProviderState, grant: _Grant) -> str:
    keys = state.keys()
    now = state.now()
    subject = hmac.new(keys.subject_salt, f"{grant.client_id}|{grant.id_number}".encode(),
                       hashlib.sha256).hexdigest()  # pairwise: per client, not reversible
    claims = {
        "iss": state.issuer, "sub": subject, "aud": grant.client_id, "iat": now,
        "exp": now + ID_TOKEN_TTL_SECONDS, "auth_time": grant.issued_at, "nonce": grant.nonce,
        "name": grant.name, ID_NUMBER_CLAIM: grant.id_number,
    }
    signing = keys.signing_key
    header = {"alg": key_file.SIGNING_ALGORITHM, "kid": signing.kid}
    return jwt.encode(header, claims, signing, algorithms=[key_file.SIGNING_ALGORITHM])
