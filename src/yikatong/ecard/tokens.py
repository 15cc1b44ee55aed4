"""The e-card QR token: compact, SM2-signed, valid 60 s, verifiable offline.

Layout (big-endian), then a raw 64-byte SM2 signature over it (user ID default):

    version(1)=1 | key_version(1) | status_index(4) | ecard_no(8) | issued_at(4, unix s)
    | valid_seconds(2) | nonce(8)

Version 2 adds one byte behind the nonce: the holder's age in whole years on the issue day
(China Standard Time), so an offline venue gate can decide a free category by age (seniors)
without a list of the city's holders. The age only, never the birth date (less to read off a
code someone photographed); a code lives 60 s, so the age at the gate is the age it carries
(across midnight before a birthday it is one year short for those seconds: never too old).

encoded as base32 without padding behind the prefix "YKT1." so the QR code can use its dense
alphanumeric mode. A terminal needs only the platform's public key (by key version), its clock
and the last status list; the nonce makes each code single-use per business transaction.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from yikatong.core.errors import DomainError
from yikatong.crypto.sm2 import Sm2Signer, Sm2Verifier

PREFIX = "YKT1."
TOKEN_VERSION = 1
AGE_VERSION = 2  # the body carries the holder's age (one byte) behind the nonce
VALIDITY = timedelta(seconds=60)
# A verifier whose clock runs up to this much behind the issuer's still takes a fresh code;
# skew never lengthens a code's life past its expires_at.
CLOCK_SKEW = timedelta(seconds=5)
_BODY = struct.Struct(">BBIQIH8s")
_BODY_AGE = struct.Struct(">BBIQIH8sB")
_SIGNATURE_LENGTH = 64


class TokenRejected(DomainError):
    code = "ecard_token_rejected"
    http_status = 422
    zh = "电子社保卡二维码无效：{reason_zh}"
    en = "The e-card QR code is not valid: {reason_en}"


@dataclass(frozen=True)
class TokenClaims:
    key_version: int
    status_index: int
    ecard_no: int
    issued_at: datetime
    valid_for: timedelta
    nonce: bytes
    age: int | None = None  # whole years on the issue day (version 2), None in a version 1 code

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + self.valid_for


def issue_token(signer: Sm2Signer, claims: TokenClaims) -> str:
    fields = (claims.key_version, claims.status_index, claims.ecard_no,
              int(claims.issued_at.timestamp()), int(claims.valid_for.total_seconds()), claims.nonce)
    if claims.age is None:
        body = _BODY.pack(TOKEN_VERSION, *fields)
    else:
        body = _BODY_AGE.pack(AGE_VERSION, *fields, max(0, min(int(claims.age), 254)))
    raw = body + signer.sign(body)
    return PREFIX + base64.b32encode(raw).decode().rstrip("=")


def read_token(token: str, verifiers: dict[int, Sm2Verifier], now: datetime) -> TokenClaims:
    """Check format, signature and validity window; status and reuse are the caller's checks."""
    claims = read_genuine(token, verifiers)
    check_window(claims, now)
    return claims


def read_genuine(token: str, verifiers: dict[int, Sm2Verifier]) -> TokenClaims:
    """Check format and signature only: a genuine code, current or not."""
    raw = _decode(token)
    layout = _BODY_AGE if raw[0] == AGE_VERSION else _BODY
    if raw[0] not in (TOKEN_VERSION, AGE_VERSION) or len(raw) != layout.size + _SIGNATURE_LENGTH:
        raise rejected("版本不支持", "unsupported version", "malformed")
    body, signature = raw[: layout.size], raw[layout.size :]
    version, key_version, status_index, ecard_no, issued, seconds, nonce, *rest = layout.unpack(body)
    verifier = verifiers.get(key_version)
    if verifier is None or not verifier.verify(body, signature):
        raise rejected("签名不正确（可能是伪造的）", "the signature does not verify (forged?)",
                        "forged")
    return TokenClaims(key_version, status_index, ecard_no,
                       datetime.fromtimestamp(issued, UTC), timedelta(seconds=seconds), nonce,
                       rest[0] if rest else None)


def check_window(claims: TokenClaims, now: datetime) -> None:
    """Refuse a code used before its issue time (a verifier's clock may lag the issuer's by
    CLOCK_SKEW) or from its expires_at on: a 60 s code is taken for 60 s at most."""
    if now + CLOCK_SKEW < claims.issued_at:
        raise rejected("签发时间在未来", "issued in the future", "not_yet_valid")
    if now >= claims.expires_at:
        raise rejected("已过期，请刷新二维码", "expired; refresh the code", "expired")


def _decode(token: str) -> bytes:
    if not isinstance(token, str) or not token.startswith(PREFIX):
        raise rejected("不是电子社保卡二维码", "not an e-card code", "malformed")
    text = token[len(PREFIX):].upper()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise rejected("编码错误", "malformed encoding", "malformed") from None
    if len(raw) not in (_BODY.size + _SIGNATURE_LENGTH, _BODY_AGE.size + _SIGNATURE_LENGTH):
        raise rejected("长度不正确", "wrong length", "malformed")
    # The last character carries unused bits: only the canonical spelling of a code counts,
    # so one code has one text (no look-alike variants of a signed code).
    if base64.b32encode(raw).decode().rstrip("=") != text:
        raise rejected("编码错误", "malformed encoding", "malformed")
    return raw


def rejected(reason_zh: str, reason_en: str, reason: str) -> TokenRejected:
    return TokenRejected(reason_zh=reason_zh, reason_en=reason_en, reason=reason)
