"""SM2 (GB/T 32918) signatures and encryption on the recommended curve, through gmalglib (C).

`cryptography` has no SM2, so the point arithmetic is gmalglib's. This module fixes the
encodings at the boundary so the rest of the platform never has to care:

* private key: 32 bytes; public key: 65 bytes uncompressed `04‖x‖y` (as bytes, or as hex via
  `encode_public_key`); compressed `02/03‖x` keys are accepted on input.
* signatures: produced raw `r‖s` (64 bytes) or DER (`der=True`); both are accepted on input.
* every signature covers e = SM3(ZA ‖ M) with ZA of GB/T 32918.2 for the signer's user ID
  (default `1234567812345678`, the value GM/T 0009 fixes when no ID is agreed).
* encryption output is `04‖C1 ‖ C3 ‖ C2` (the C1C3C2 order of GB/T 32918.4-2016).

Errors never contain key bytes.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from gmalglib import sm2 as _gm
from gmalglib.sm2 import SM2

from yikatong.core.errors import InvalidInput
from yikatong.crypto.errors import InvalidSm2Key, InvalidSm2Signature
from yikatong.crypto.sm import sm3

DEFAULT_USER_ID = b"1234567812345678"
PRIVATE_KEY_LENGTH = 32
PUBLIC_KEY_LENGTH = 65
RAW_SIGNATURE_LENGTH = 64

_N = int.from_bytes(_gm.SM2_PARAMS_N, "big")


def _bad_key(what_en: str, what_zh: str) -> InvalidSm2Key:
    return InvalidSm2Key(reason_zh=what_zh, reason_en=what_en)


def _private(private_key: bytes) -> bytes:
    if len(private_key) != PRIVATE_KEY_LENGTH or not SM2.is_sk_valid(private_key):
        raise _bad_key("not a valid SM2 private key", "SM2 私钥无效")
    return private_key


def _public(public_key: bytes | str) -> bytes:
    """Normalise a public key (bytes or hex; uncompressed or compressed) to 04‖x‖y."""
    if isinstance(public_key, str):
        try:
            public_key = bytes.fromhex(public_key)
        except ValueError:
            raise _bad_key("public key is not hex", "SM2 公钥不是十六进制") from None
    if len(public_key) == 64:  # x‖y without the 04 prefix, as gmssl and some HSMs give it
        public_key = b"\x04" + public_key
    if not SM2.is_pk_valid(public_key):
        raise _bad_key("not a point on the SM2 curve", "SM2 公钥不在曲线上")
    return SM2.convert_pk(public_key, _gm.SM2_PCMODE_RAW)


def _user_id(user_id: bytes | str) -> bytes:
    uid = user_id.encode("utf-8") if isinstance(user_id, str) else user_id
    if not uid or len(uid) > _gm.SM2_UID_MAX_LENGTH:
        raise _bad_key("user ID must be 1..8191 bytes", "用户标识长度须为 1..8191 字节")
    return uid


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh (private 32 bytes, public 65 bytes 04‖x‖y) key pair from the OS random source."""
    private_key, public_key = SM2().generate_keypair()
    return private_key, public_key


def public_key_of(private_key: bytes) -> bytes:
    return SM2.get_pk(_private(private_key), _gm.SM2_PCMODE_RAW)


def is_keypair(private_key: bytes, public_key: bytes | str) -> bool:
    return SM2.is_keypair(_private(private_key), _public(public_key))


def encode_public_key(public_key: bytes | str) -> str:
    """Upper-case hex of the uncompressed point 04‖x‖y (130 characters)."""
    return _public(public_key).hex().upper()


def decode_public_key(public_key: bytes | str) -> bytes:
    return _public(public_key)


def sm2_za(public_key: bytes | str, user_id: bytes | str = DEFAULT_USER_ID) -> bytes:
    """ZA = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) of GB/T 32918.2."""
    return SM2(pk=_public(public_key), uid=_user_id(user_id)).get_entity_info()


def sm2_digest(public_key: bytes | str, message: bytes, user_id: bytes | str = DEFAULT_USER_ID) -> bytes:
    """e = SM3(ZA ‖ M): the value an SM2 signature actually signs."""
    return sm3(sm2_za(public_key, user_id) + message)


def sign(
    private_key: bytes,
    message: bytes,
    user_id: bytes | str = DEFAULT_USER_ID,
    *,
    der: bool = False,
    fixed_k_for_test_vectors: int | None = None,
) -> bytes:
    """Sign SM3(ZA ‖ message); raw r‖s (64 bytes), or DER when `der`.

    `fixed_k_for_test_vectors` reproduces published vectors; a fixed k in production leaks
    the private key, so it exists only for tests.
    """
    options = {}
    if fixed_k_for_test_vectors is not None:
        options["rnd_fn"] = _fixed_k(fixed_k_for_test_vectors)
    signer = SM2(sk=_private(private_key), uid=_user_id(user_id), **options)
    raw = signer.sign(message)
    return raw_to_der(raw) if der else raw


def _fixed_k(k: int):
    if not 1 <= k < _N:
        raise ValueError("k must be in [1, n-1]")
    # gmalglib reads the random bytes as a little-endian integer.
    return lambda length: k.to_bytes(length, "little")


def verify(
    public_key: bytes | str,
    message: bytes,
    signature: bytes,
    user_id: bytes | str = DEFAULT_USER_ID,
) -> bool:
    """True when `signature` (raw r‖s or DER) is a valid SM2 signature of message by public_key."""
    return Sm2Verifier(public_key, user_id).verify(message, signature)


def normalise_signature(signature: bytes) -> bytes:
    """Raw r‖s from either encoding (64 bytes = raw; anything else must be DER)."""
    if len(signature) == RAW_SIGNATURE_LENGTH:
        return signature
    return der_to_raw(signature)


def der_to_raw(signature: bytes) -> bytes:
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        raise InvalidSm2Signature(reason_zh="签名不是 DER 编码", reason_en="signature is not DER") from None
    if not (1 <= r < _N and 1 <= s < _N):
        raise InvalidSm2Signature(reason_zh="签名值超出范围", reason_en="signature value out of range")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_to_der(signature: bytes) -> bytes:
    if len(signature) != RAW_SIGNATURE_LENGTH:
        raise InvalidSm2Signature(reason_zh="签名长度应为 64 字节", reason_en="raw signature must be 64 bytes")
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


class Sm2Signer:
    """A signer bound to one key pair and user ID: building it derives the public key
    (one point multiplication), so reuse it for many signatures."""

    def __init__(self, private_key: bytes, user_id: bytes | str = DEFAULT_USER_ID) -> None:
        self._sm2 = SM2(sk=_private(private_key), uid=_user_id(user_id))

    def sign(self, message: bytes, *, der: bool = False) -> bytes:
        raw = self._sm2.sign(message)
        return raw_to_der(raw) if der else raw

    def __repr__(self) -> str:
        return "<Sm2Signer private key hidden>"


class Sm2Verifier:
    """A verifier bound to one public key and user ID (ZA computed once)."""

    def __init__(self, public_key: bytes | str, user_id: bytes | str = DEFAULT_USER_ID) -> None:
        self.public_key = _public(public_key)
        self._sm2 = SM2(pk=self.public_key, uid=_user_id(user_id))

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            return self._sm2.verify(message, normalise_signature(signature))
        except InvalidSm2Signature:
            return False


def encrypt(public_key: bytes | str, plaintext: bytes) -> bytes:
    """SM2 public-key encryption; output 04‖C1 ‖ C3 ‖ C2."""
    return SM2(pk=_public(public_key)).encrypt(plaintext)


def decrypt(private_key: bytes, ciphertext: bytes) -> bytes:
    try:
        return SM2(sk=_private(private_key)).decrypt(ciphertext)
    except ValueError:
        raise InvalidInput(reason_zh="SM2 密文无效或已被篡改", reason_en="SM2 ciphertext invalid or tampered") from None
