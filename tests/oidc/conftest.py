"""The reference real-name provider for real on loopback (uvicorn in a thread), sharing the
test's clock, and a platform configured to trust it."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from yikatong.core.settings import Settings
from yikatong.oidc import rules
from yikatong.platform import Platform
from yikatong.realname import keys as provider_keys
from yikatong.realname.app import RegisteredClient, create_provider_app

CLIENT_ID = "yikatong-test"
OTHER_CLIENT_ID = "another-relying-party"
PLATFORM_CALLBACK = "http://testserver/api/v1/oidc/callback"  # TestClient's base URL
OTHER_CALLBACK = "http://127.0.0.1:9/elsewhere/callback"


class ProviderServer:
    """The reference provider listening on a loopback port until stop()."""

    def __init__(self, key_path: Path, clock) -> None:
        self.key_path = key_path
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.app = create_provider_app(issuer=self.issuer, key_path=key_path, clock=clock, clients=[
            RegisteredClient(CLIENT_ID, (PLATFORM_CALLBACK,)),
            RegisteredClient(OTHER_CLIENT_ID, (OTHER_CALLBACK,)),
        ])
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        daemon=True, name="realname-provider")
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "the reference provider did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()

    def keys(self) -> provider_keys.ProviderKeys:
        return provider_keys.load(self.key_path)


@pytest.fixture
def provider(tmp_path, clock) -> Iterator[ProviderServer]:
    server = ProviderServer(tmp_path / "provider" / "keys.json", clock)
    yield server
    server.stop()


@pytest.fixture
def oidc_platform(database_url, clock, tmp_path, provider) -> Iterator[Platform]:
    settings = Settings(database_url=database_url, key_store_path=str(tmp_path / "keystore.json"),
                        oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID)
    plat = Platform(settings, clock=clock)
    yield plat
    plat.engine.dispose()


@dataclass
class Issued:
    id_token: str
    nonce: str


def authorize(provider: ProviderServer, *, name: str, id_number: str, client_id: str = CLIENT_ID,
              redirect_uri: str = PLATFORM_CALLBACK, nonce: str = "n-0123456789") -> Issued:
    """A sign-in at the provider over HTTP, as a browser and a relying party would: fill in
    its page, take the code from the redirect, redeem it with the PKCE verifier."""
    verifier = rules.b64url(b"v" * 40)
    form = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
            "scope": "openid", "state": "s-1", "nonce": nonce,
            "code_challenge": rules.pkce_challenge(verifier), "code_challenge_method": "S256"}
    with httpx.Client(base_url=provider.issuer) as http:
        page = http.get("/authorize", params=form)
        assert page.status_code == 200 and 'name="id_number"' in page.text
        answer = http.post("/authorize", data={**form, "name": name, "id_number": id_number,
                                               "action": "approve"})
        assert answer.status_code == 303, answer.text
        code = re.search(r"[?&]code=([^&]+)", answer.headers["location"]).group(1)
        token = http.post("/token", data={"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": redirect_uri, "client_id": client_id,
                                          "code_verifier": verifier})
        assert token.status_code == 200, token.text
    return Issued(id_token=token.json()["id_token"], nonce=nonce)
