"""Secrets the platform keeps outside the key store (a partner's webhook HMAC key, the SM2 key
that signs its webhooks), sealed under a key derived from the key store's KEK.

A sealed secret is `sm4gcm1:` + base64url(nonce ‖ ciphertext ‖ tag): SM4-GCM with a fresh
96-bit nonce under a 16-byte key derived by HKDF-SM3 from the KEK with its own label (so it is
never the key that encrypts the key store file). The caller's `context` (e.g.
`webhook_endpoints.secret:ICBC`) is the associated data: a sealed value copied to another row
does not open there. Anyone with the database but not the KEK learns nothing of the secret.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yikatong.crypto.errors import KeyStoreLocked

PREFIX = "sm4gcm1:"
NONCE_LENGTH = 12
TAG_LENGTH = 16
_LABEL = b"yikatong sealed secrets SM4-GCM v1"
_DERIVED_LABEL = b"yikatong derived keys v1"


class SealedSecretUnreadable(KeyStoreLocked):
    code = "sealed_secret_unreadable"
    zh = "无法解开已加密保存的密钥：{reason_zh}"
    en = "A sealed secret cannot be opened: {reason_en}"


class Sealer:
    """Seals and opens secrets under a key derived from a 32-byte KEK (or any 32-byte seed)."""

    def __init__(self, kek: bytes) -> None:
        self._key = HKDF(hashes.SM3(), 16, salt=None, info=_LABEL).derive(kek)
        self._derivation_root = HKDF(hashes.SM3(), 32, salt=None, info=_DERIVED_LABEL).derive(kek)
        self._derived: dict[str, bytes] = {}  # label → derived key (a pure function of the root)

    def derived_key(self, label: str) -> bytes:
        """A 32-byte key for `label`, derived (HKDF-SM3) from the KEK through a root of its own,
        so no derived key is the sealing key or the key store file's. Derived once per label
        by this sealer (its root never changes; a new KEK is a new sealer): the medical
        interface asks for its sign_no key on every message."""
        found = self._derived.get(label)
        if found is None:
            found = self._derived[label] = HKDF(hashes.SM3(), 32, salt=None, info=label.encode()).derive(
                self._derivation_root)
        return found

    def seal(self, secret: bytes, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_LENGTH)
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(context.encode())
        sealed = nonce + encryptor.update(secret) + encryptor.finalize() + encryptor.tag
        return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def unseal(self, sealed: str, *, context: str) -> bytes:
        if not sealed.startswith(PREFIX):
            raise _unreadable("not a sealed value", "不是加密保存的值")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(PREFIX):].encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise _unreadable("not base64", "编码错误") from None
        if len(raw) < NONCE_LENGTH + TAG_LENGTH:
            raise _unreadable("too short", "长度不足")
        nonce, body, tag = raw[:NONCE_LENGTH], raw[NONCE_LENGTH:-TAG_LENGTH], raw[-TAG_LENGTH:]
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(context.encode())
        try:
            return decryptor.update(body) + decryptor.finalize()
        except InvalidTag:
            raise _unreadable("wrong key-encryption key, another row's value, or altered",
                              "密钥加密密钥不符、属于其他记录或已被篡改") from None

    def __repr__(self) -> str:
        return "<Sealer key hidden>"


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def _unreadable(reason_en: str, reason_zh: str) -> SealedSecretUnreadable:
    return SealedSecretUnreadable(reason_zh=reason_zh, reason_en=reason_en)
