"""The platform as an OpenID Connect relying party of a real-name provider.

`OidcProvider` reads the provider's discovery document and published keys (JWKS) with httpx
and caches them: they are fetched again once older than `keys_max_age_seconds`, or when a
token names a key id the cache does not hold (the provider rotated its key), at most once per
`refresh_cooldown_seconds` so a stream of made-up key ids cannot make us hammer the provider.
It also redeems authorization codes at the token endpoint.

`OidcIdentityAuthenticator` is the production `IdentityAuthenticator`: its evidence is the
provider's ID token, checked with joserfc (signature by a published key, issuer, audience,
expiry, not-before, age, nonce) and then compared with the person the applicant claims to be.
Every check uses the platform's clock.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from yikatong.applications.protocols import IdentityServiceUnavailable, RealNameResult
from yikatong.core.clock import Clock
from yikatong.oidc import rules
from yikatong.oidc.errors import OidcMisconfigured, RealNameLoginRefused

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_TOKEN_LENGTH = 16_384  # an ID token is a few hundred bytes; refuse megabytes unparsed

# Why a token is refused: (zh, en), shown to the applicant after "real-name check failed".
REFUSALS: dict[str, tuple[str, str]] = {
    "malformed": ("凭据不是有效的 ID 令牌", "the evidence is not a well-formed ID token"),
    "algorithm": ("凭据的签名算法不被接受", "the token's signing algorithm is not accepted"),
    "unknown_key": ("凭据由实名认证服务未公布的密钥签名",
                    "the token is signed with a key the provider does not publish"),
    "signature": ("凭据签名无效", "the token's signature is invalid"),
    "issuer": ("凭据不是由本平台信任的实名认证服务签发",
               "the token was not issued by the trusted real-name provider"),
    "audience": ("凭据不是签发给本平台的", "the token was issued for another client"),
    "expired": ("凭据已过期", "the token has expired"),
    "not_yet_valid": ("凭据尚未生效", "the token is not valid yet"),
    "too_old": ("凭据签发过久，请重新认证", "the token was issued too long ago; authenticate again"),
    "nonce": ("凭据不属于本次认证（nonce 不符）", "the token does not answer this sign-in (nonce)"),
    "missing_claim": ("凭据缺少必要的声明", "the token lacks a required claim"),
    "person": ("凭据中的姓名或身份证号码与申请人不符",
               "the name or ID number in the token differs from the applicant's"),
}


class TokenRefused(Exception):
    """An ID token that does not prove what it should; `why` is a key of REFUSALS."""

    def __init__(self, why: str) -> None:
        self.why = why
        self.reason_zh, self.reason_en = REFUSALS[why]
        super().__init__(f"ID token refused: {self.reason_en}")

    @property
    def reason(self) -> str:
        """RealNameResult.reason: both languages in one string, as the seam carries one (the
        caller puts "real-name check failed" before it)."""
        return f"{self.reason_zh} / {self.reason_en}"


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None = None
    redirect_uri: str | None = None
    name_claim: str = "name"
    id_number_claim: str = "https://yikatong.example/claims/id_number"
    leeway_seconds: int = 60             # clock skew allowed on exp / nbf / iat
    max_token_age_seconds: int = 900     # a token is evidence for this long after its iat
    keys_max_age_seconds: int = 3600     # published keys are re-read at least this often
    refresh_cooldown_seconds: int = 30   # at most one early re-read per this long
    timeout_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings) -> OidcConfig:
        """The configuration for Settings with an issuer; names the missing or unsafe setting."""
        issuer = settings.oidc_issuer
        if not settings.oidc_client_id:
            raise OidcMisconfigured(setting="YKT_OIDC_CLIENT_ID", problem_zh="未设置",
                                    problem_en="is not set")
        if not issuer.startswith(("https://", "http://")):
            raise OidcMisconfigured(setting="YKT_OIDC_ISSUER", problem_zh="须为 http(s):// 地址",
                                    problem_en="must be an http(s):// URL")
        if settings.is_production and not issuer.startswith("https://"):
            raise OidcMisconfigured(setting="YKT_OIDC_ISSUER",
                                    problem_zh="在生产模式下须为 https:// 地址",
                                    problem_en="must be an https:// URL in production")
        return cls(issuer=issuer, client_id=settings.oidc_client_id,
                   client_secret=settings.oidc_client_secret,
                   redirect_uri=settings.oidc_redirect_uri,
                   name_claim=settings.oidc_name_claim,
                   id_number_claim=settings.oidc_id_number_claim)


class OidcProvider:
    """The real-name provider as the platform sees it: metadata, keys and token endpoint."""

    def __init__(self, config: OidcConfig, clock: Clock, http: httpx.Client | None = None) -> None:
        self.config = config
        self._clock = clock
        self._http = http or httpx.Client(timeout=config.timeout_seconds)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched_at = 0
        self._last_attempt: int | None = None
        self.fetches = 0  # how many times the keys were read (for operators and tests)

    # --- metadata and keys -----------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            self._ensure_fresh()
            assert self._metadata is not None
            return self._metadata

    def signing_key(self, kid: str | None):
        """The published signing key with this id, or None if the provider publishes none
        (after one early re-read, unless one was made within the cooldown). Raises
        IdentityServiceUnavailable when the provider cannot be read."""
        with self._lock:
            self._ensure_fresh()
            key = self._find(kid)
            if key is None and self._may_refresh_early():
                self._refresh()
                key = self._find(kid)
            return key

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    def _ensure_fresh(self) -> None:
        if self._keys is None or self._now() - self._fetched_at >= self.config.keys_max_age_seconds:
            self._refresh()

    def _may_refresh_early(self) -> bool:
        return (self._last_attempt is None
                or self._now() - self._last_attempt >= self.config.refresh_cooldown_seconds)

    def _find(self, kid: str | None):
        assert self._keys is not None
        signing = [key for key in self._keys if key.get("use") in (None, "sig")]
        if kid is None:  # a provider with one key may leave kid out (OIDC Core §10.1)
            return signing[0] if len(signing) == 1 else None
        return next((key for key in signing if key.kid == kid), None)

    def _refresh(self) -> None:
        self._last_attempt = self._now()
        discovery_url = self.config.issuer.rstrip("/") + DISCOVERY_PATH
        metadata = self._get_json(discovery_url)
        if metadata.get("issuer") != self.config.issuer:  # OIDC Discovery §4.3
            log.error("the provider at %s names issuer %r, not the configured one",
                      discovery_url, metadata.get("issuer"))
            raise IdentityServiceUnavailable()
        problems = rules.endpoint_problems(metadata, self.config.issuer)
        if problems:
            log.error("the provider's discovery document is unusable: %s", ", ".join(problems))
            raise IdentityServiceUnavailable()
        try:
            keys = KeySet.import_key_set(self._get_json(metadata["jwks_uri"]))
        except (JoseError, KeyError, TypeError, ValueError) as error:
            log.error("the provider's JWKS cannot be read: %s", error)
            raise IdentityServiceUnavailable() from None
        self._metadata, self._keys, self._fetched_at = metadata, keys, self._now()
        self.fetches += 1

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            log.warning("real-name provider unreachable at %s: %s", url, error)
            raise IdentityServiceUnavailable() from None
        if response.status_code != 200:
            log.warning("real-name provider answered %s at %s", response.status_code, url)
            raise IdentityServiceUnavailable()
        try:
            document = response.json()
        except ValueError:
            raise IdentityServiceUnavailable() from None
        if not isinstance(document, dict):
            raise IdentityServiceUnavailable()
        return document

    # --- the authorization-code flow -----------------------------------------------------------

    def authorization_url(self, *, redirect_uri: str, login: rules.LoginParameters) -> str:
        params = {
            "response_type": "code", "client_id": self.config.client_id,
            "redirect_uri": redirect_uri, "scope": "openid", "state": login.state,
            "nonce": login.nonce, "code_challenge": login.code_challenge,
            "code_challenge_method": "S256",
        }
        return str(httpx.URL(self.metadata()["authorization_endpoint"]).copy_merge_params(params))

    def redeem_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The ID token for an authorization code. Raises RealNameLoginRefused when the
        provider refuses the code, IdentityServiceUnavailable when it cannot answer."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": code_verifier, "client_id": self.config.client_id}
        auth = None
        if self.config.client_secret:  # client_secret_basic, form-encoded (RFC 6749 §2.3.1)
            auth = httpx.BasicAuth(quote(self.config.client_id, safe=""),
                                   quote(self.config.client_secret, safe=""))
        try:
            response = self._http.post(self.metadata()["token_endpoint"], data=form, auth=auth)
        except httpx.HTTPError as error:
            log.warning("real-name provider's token endpoint unreachable: %s", error)
            raise IdentityServiceUnavailable() from None
        body = _json_or_none(response)
        if response.status_code in (400, 401) and body is not None:
            error_code = str(body.get("error", "invalid_request"))[:64]
            raise RealNameLoginRefused(reason_zh=f"实名认证服务拒绝了授权码（{error_code}）",
                                       reason_en=f"the provider refused the code ({error_code})")
        if response.status_code != 200 or body is None or not isinstance(body.get("id_token"), str):
            log.warning("real-name provider's token endpoint answered %s", response.status_code)
            raise IdentityServiceUnavailable()
        return body["id_token"]


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class OidcIdentityAuthenticator:
    """IdentityAuthenticator whose evidence is the real-name provider's ID token."""

    def __init__(self, config: OidcConfig, *, clock: Clock, http: httpx.Client | None = None) -> None:
        self.config = config
        self.clock = clock
        self.provider = OidcProvider(config, clock, http)

    def authenticate(self, *, name: str, id_number: str, evidence: str) -> RealNameResult:
        try:
            claims = self.verify_id_token(evidence)
            if not rules.names_same_person(claims, name=name, id_number=id_number,
                                           name_claim=self.config.name_claim,
                                           id_number_claim=self.config.id_number_claim):
                raise TokenRefused("person")
        except TokenRefused as refusal:
            return RealNameResult(verified=False, reason=refusal.reason)
        return RealNameResult(verified=True)

    def verify_id_token(self, token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """The claims of an ID token that the configured provider signed for this platform
        and that is valid now; with `nonce`, one that answers that very sign-in.

        Raises TokenRefused (with the reason), or IdentityServiceUnavailable when the
        provider's keys cannot be read.
        """
        header = _header(token)
        algorithm = header.get("alg")
        if algorithm not in rules.ALLOWED_ALGORITHMS:
            raise TokenRefused("algorithm")
        kid = header.get("kid")
        key = self.provider.signing_key(kid if isinstance(kid, str) else None)
        if key is None:
            raise TokenRefused("unknown_key")
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm]).claims
        except BadSignatureError:
            raise TokenRefused("signature") from None
        except (JoseError, ValueError):  # e.g. an EC key named for an RSA algorithm
            raise TokenRefused("signature") from None
        self._check_claims(claims, nonce)
        return claims

    def _check_claims(self, claims: dict[str, Any], nonce: str | None) -> None:
        now = int(self.clock.now().timestamp())
        leeway = self.config.leeway_seconds
        registry = jwt.JWTClaimsRegistry(
            now=now, leeway=leeway,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise TokenRefused("expired") from None
        except MissingClaimError:
            raise TokenRefused("missing_claim") from None
        except InvalidClaimError as error:
            raise TokenRefused(_CLAIM_REFUSALS.get(error.claim, "malformed")) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:  # OIDC Core 3.1.3.7
            raise TokenRefused("audience")
        if now - claims["iat"] > self.config.max_token_age_seconds + leeway:
            raise TokenRefused("too_old")
        if nonce is not None and not (isinstance(claims["nonce"], str)
                                      and hmac.compare_digest(claims["nonce"], nonce)):
            raise TokenRefused("nonce")


_CLAIM_REFUSALS = {"iss": "issuer", "aud": "audience", "nbf": "not_yet_valid",
                   "iat": "not_yet_valid", "exp": "expired"}


def _header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenRefused("malformed")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError, json.JSONDecodeError):
        raise TokenRefused("malformed") from None
    if not isinstance(header, dict):
        raise TokenRefused("malformed")
    return header
