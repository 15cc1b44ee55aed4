"""Master keys and their metadata (pure: no I/O).

A `MasterKey` carries secret bytes; its repr, str and every error about it show only the
purpose, algorithm, version and key check value (KCV: the first 3 bytes of the encryption
of a zero block, the usual way two custodians confirm they hold the same key without
revealing it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from yikatong.core.errors import InvalidInput
from yikatong.crypto import pboc, sm


class KeyStatus(StrEnum):
    ACTIVE = "active"  # used for new cards and for verification
    RETIRED = "retired"  # no longer used for new cards; cards issued under it still verify
    REVOKED = "revoked"  # compromised or withdrawn: refused for everything


SYMMETRIC_ALGORITHMS = ("SM4", "3DES")
ALGORITHMS = (*SYMMETRIC_ALGORITHMS, "SM2")


@dataclass(frozen=True)
class Diversification:
    """Which factors derive a card key from the master, outermost first ("issuer_id,asn" = two
    levels: issuer → card). Factor values longer than 8 bytes contribute their right-most 8
    bytes (card-protocol.md §3.5: the right-most 8 bytes of the application serial number)."""

    factors: tuple[str, ...] = ()

    @property
    def levels(self) -> int:
        return len(self.factors)

    @classmethod
    def parse(cls, spec: str) -> Diversification:
        return cls(tuple(name.strip() for name in spec.split(",") if name.strip()))

    def __str__(self) -> str:
        return ",".join(self.factors) or "-"

    def factor_bytes(self, values: Mapping[str, bytes]) -> list[bytes]:
        missing = [name for name in self.factors if name not in values]
        if missing:
            raise InvalidInput(
                reason_zh=f"缺少分散因子 {', '.join(missing)}",
                reason_en=f"missing diversification factor {', '.join(missing)}",
            )
        factors = []
        for name in self.factors:
            value = values[name]
            if len(value) < 8:
                raise InvalidInput(
                    reason_zh=f"分散因子 {name} 不足 8 字节", reason_en=f"diversification factor {name} is shorter than 8 bytes"
                )
            factors.append(value[-8:])
        return factors


@dataclass(frozen=True)
class PurposeSpec:
    name: str
    algorithms: tuple[str, ...]
    diversification: Diversification
    description: str


def _purpose(name: str, algorithms: tuple[str, ...], factors: str, description: str) -> PurposeSpec:
    return PurposeSpec(name, algorithms, Diversification.parse(factors), description)


# The first algorithm of each purpose is its default. Factor choices for the Changzhou card
# are unverified (card-protocol.md §3.5); they are per-key data, changed by re-initialising.
PURPOSES: dict[str, PurposeSpec] = {
    spec.name: spec
    for spec in (
        _purpose("load", SYMMETRIC_ALGORITHMS, "issuer_id,asn", "e-purse load key DLK master / 圈存主密钥"),
        _purpose("purchase", SYMMETRIC_ALGORITHMS, "issuer_id,asn", "e-purse purchase key DPK master / 消费主密钥"),
        _purpose("tac", SYMMETRIC_ALGORITHMS, "issuer_id,asn", "TAC key DTK master / TAC 主密钥"),
        _purpose("app_maintenance", SYMMETRIC_ALGORITHMS, "issuer_id,asn", "application maintenance DAMK / 应用维护主密钥"),
        _purpose("pin_unblock", SYMMETRIC_ALGORITHMS, "issuer_id,asn", "PIN unblock/reload DPUK / PIN 解锁主密钥"),
        _purpose("external_auth", SYMMETRIC_ALGORITHMS, "card_id", "social-security app external authentication / 社保应用外部认证"),
        _purpose("national_read", SYMMETRIC_ALGORITHMS, "card_id", "nationwide reading key held by every city's PSAM / 全国通用读卡密钥"),
        _purpose("debit_ac", SYMMETRIC_ALGORITHMS, "pan_psn", "UnionPay debit application cryptogram MDK / 借记应用密文主密钥"),
        _purpose("ecard_signing", ("SM2",), "", "electronic card signing key pair / 电子社保卡签名密钥对"),
        _purpose("audit_signing", ("SM2",), "", "audit checkpoint signing key pair / 审计检查点签名密钥对"),
    )
}


def purpose_spec(purpose: str) -> PurposeSpec:
    try:
        return PURPOSES[purpose]
    except KeyError:
        raise InvalidInput(reason_zh=f"未知的密钥用途 {purpose}", reason_en=f"unknown key purpose {purpose}") from None


def resolve_algorithm(purpose: str, algorithm: str | None) -> str:
    spec = purpose_spec(purpose)
    if algorithm is None:
        return spec.algorithms[0]
    name = algorithm.upper()
    if name not in spec.algorithms:
        raise InvalidInput(
            reason_zh=f"用途 {purpose} 不支持算法 {algorithm}",
            reason_en=f"purpose {purpose} does not use algorithm {algorithm}",
        )
    return name


def check_value(algorithm: str, key: bytes, public_key: bytes | None = None) -> str:
    """KCV: first 3 bytes of E(K, 0-block) for symmetric keys; for SM2 the first 3 bytes of
    SM3 of the public key (a fingerprint, as the private key cannot encrypt)."""
    if algorithm == "SM4":
        return sm.sm4_ecb_encrypt(key, bytes(16))[:3].hex().upper()
    if algorithm == "3DES":
        return sm.des3_ecb_encrypt(key, bytes(8))[:3].hex().upper()
    return sm.sm3(public_key or b"")[:3].hex().upper()


@dataclass(frozen=True)
class KeyInfo:
    """Everything about a key except its secret bytes: safe to print, log and return."""

    purpose: str
    algorithm: str
    version: int
    status: KeyStatus
    created_at: datetime
    diversification: Diversification
    check_value: str
    public_key_hex: str | None = None


@dataclass(frozen=True, repr=False)
class MasterKey:
    purpose: str
    version: int
    algorithm: str
    status: KeyStatus
    created_at: datetime
    diversification: Diversification
    key: bytes = field(compare=False)
    public_key: bytes | None = None  # SM2 only; `key` is then the private key

    @functools.cached_property
    def check_value(self) -> str:
        # Once per key object: the key is frozen (a status change makes a new MasterKey), and
        # listing the store (KeyStore.list: every e-card code checked) computed it each time.
        return check_value(self.algorithm, self.key, self.public_key)

    def info(self) -> KeyInfo:
        return KeyInfo(
            purpose=self.purpose,
            algorithm=self.algorithm,
            version=self.version,
            status=self.status,
            created_at=self.created_at,
            diversification=self.diversification,
            check_value=self.check_value,
            public_key_hex=self.public_key.hex().upper() if self.public_key else None,
        )

    @property
    def profile(self) -> pboc.AlgorithmProfile:
        """The PBOC algorithm profile of a symmetric key (UnknownAlgorithm for SM2)."""
        return pboc.profile_named(self.algorithm)

    @property
    def alg_id(self) -> int:
        return self.profile.alg_id

    def card_key(self, factors: Mapping[str, bytes]) -> bytes:
        """The 16-byte card key diversified from this master with the named factor values,
        e.g. card_key({"issuer_id": issuer8, "asn": asn10})."""
        return pboc.diversify_key(self.profile, self.key, self.diversification.factor_bytes(factors))

    def __repr__(self) -> str:
        return (
            f"MasterKey(purpose={self.purpose!r}, algorithm={self.algorithm!r}, version={self.version}, "
            f"status={self.status.value!r}, kcv={self.check_value}, key=<hidden>)"
        )

    __str__ = __repr__
