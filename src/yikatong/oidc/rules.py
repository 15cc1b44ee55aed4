"""Pure rules of real-name sign-in: the login's secret values and the person check.

No I/O and no clock: the caller passes the time in.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

# How long a started login may take at the provider before its callback is refused.
LOGIN_TTL_SECONDS = 600
# The algorithms an ID token may be signed with: asymmetric only, never "none" or an HMAC
# (whose "secret" would be the provider's public key).
ALLOWED_ALGORITHMS = ("RS256", "PS256", "ES256")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class LoginParameters:
    """What one login sends to the provider (state, nonce, PKCE challenge) and keeps back
    (the PKCE verifier), all derived from the login's secret cookie."""

    started_at: int  # epoch seconds
    state: str
    nonce: str
    code_verifier: str
    code_challenge: str


def new_login_secret(now_epoch: int) -> str:
    """The value of a new login's cookie: its start time and 256 random bits."""
    return f"{now_epoch}.{secrets.token_urlsafe(32)}"


def login_parameters(secret: str) -> LoginParameters | None:
    """The login's parameters, or None for a cookie we did not make.

    Deriving them from one browser-bound secret (OpenID Connect Core §15.5.2) keeps the
    platform stateless: the callback recomputes them from the cookie, so a code or an ID token
    delivered to another browser's login does not match. Each value is a separate hash, so
    the public ones (state, nonce, challenge) reveal nothing about the verifier.
    """
    started, _, random_part = secret.partition(".")
    if not started.isdigit() or len(started) > 12 or len(random_part) < 43 or len(secret) > 128:
        return None

    def derive(label: str) -> str:
        return b64url(hashlib.sha256(f"{label}:{secret}".encode()).digest())

    verifier = derive("pkce-verifier")
    return LoginParameters(
        started_at=int(started), state=derive("state"), nonce=derive("nonce"),
        code_verifier=verifier, code_challenge=pkce_challenge(verifier),
    )


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier))."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def login_expired(started_at: int, now_epoch: int) -> bool:
    return not 0 <= now_epoch - started_at <= LOGIN_TTL_SECONDS


def normal_name(name: str) -> str:
    return " ".join((name or "").split())


def normal_id_number(number: str) -> str:
    return re.sub(r"\s", "", number or "").upper()


def names_same_person(claims: dict[str, Any], *, name: str, id_number: str,
                      name_claim: str, id_number_claim: str) -> bool:
    """Whether the token's name and ID-number claims are the applicant's."""
    token_name, token_number = claims.get(name_claim), claims.get(id_number_claim)
    if not isinstance(token_name, str) or not isinstance(token_number, str):
        return False
    return (normal_name(token_name) == normal_name(name)
            and normal_id_number(token_number) == normal_id_number(id_number))


ENDPOINTS = ("jwks_uri", "authorization_endpoint", "token_endpoint")


def endpoint_problems(metadata: dict[str, Any], issuer: str) -> list[str]:
    """What is wrong with a discovery document's endpoints: missing, or plain http behind an
    https issuer (the keys or the code exchange would then travel unprotected)."""
    problems = []
    for name in ENDPOINTS:
        value = metadata.get(name)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            problems.append(f"{name} missing or not a URL")
        elif issuer.startswith("https://") and not value.startswith("https://"):
            problems.append(f"{name} not https")
    return problems
