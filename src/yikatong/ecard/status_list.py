"""Suspension/revocation state for offline terminals, shaped like a W3C Bitstring Status List.

The credential follows https://www.w3.org/TR/vc-bitstring-status-list/ (gzip-compressed
bitstring, base64url with the multibase 'u' prefix, index 0 = most significant bit of the
first byte, at least 16 KB), so wallets and verifiers that know that format can read it. The
proof is an SM2 signature over the canonical JSON of the credential without its proof:
that cryptosuite is ours, not a W3C one.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from yikatong.crypto.sm2 import Sm2Signer, Sm2Verifier

MIN_BITS = 131_072  # 16 KB, the W3C minimum that gives group privacy
PURPOSES = ("suspension", "revocation")


def encode_bits(set_indices: Iterable[int], size: int = MIN_BITS) -> str:
    bits = bytearray(-(-max(size, MIN_BITS) // 8))
    for index in set_indices:
        bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).decode().rstrip("=")


def decode_bits(encoded_list: str) -> bytes:
    """The raw bitstring of an encodedList (decode once, look up many times)."""
    data = encoded_list.removeprefix("u")
    return gzip.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def bit_in(bits: bytes, index: int) -> bool:
    if index // 8 >= len(bits):
        raise IndexError("status index outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def bit_is_set(encoded_list: str, index: int) -> bool:
    return bit_in(decode_bits(encoded_list), index)


def build_credential(
    *, list_url: str, issuer: str, purpose: str, set_indices: Iterable[int],
    issued_at: datetime, valid_for: timedelta, key_version: int, size: int = MIN_BITS,
) -> dict:
    if purpose not in PURPOSES:
        raise ValueError(f"status purpose must be one of {PURPOSES}")
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": issued_at.isoformat(),
        "validUntil": (issued_at + valid_for).isoformat(),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encode_bits(set_indices, size),
        },
        "keyVersion": key_version,
    }


def _canonical(credential: dict) -> bytes:
    unsigned = {k: v for k, v in credential.items() if k != "proof"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_credential(credential: dict, signer: Sm2Signer, *, created: datetime) -> dict:
    signature = signer.sign(_canonical(credential))
    return {**credential, "proof": {
        "type": "Sm2Signature2026",
        "created": created.isoformat(),
        "proofPurpose": "assertionMethod",
        "verificationMethod": f"{credential['issuer']}#sm2-{credential['keyVersion']}",
        "proofValue": "u" + base64.urlsafe_b64encode(signature).decode().rstrip("="),
    }}


def verify_credential(credential: dict, verifiers: dict[int, Sm2Verifier], now: datetime) -> bool:
    """True when the proof verifies and the list is still within its validity (a malformed
    credential is simply not valid)."""
    return proof_verifies(credential, verifiers) and within_validity(credential, now)


def proof_verifies(credential: dict, verifiers: dict[int, Sm2Verifier]) -> bool:
    """The SM2 proof alone (a terminal checks it once per list, the validity at every use)."""
    try:
        proof = credential.get("proof") or {}
        value = str(proof.get("proofValue", "")).removeprefix("u")
        verifier = verifiers.get(credential.get("keyVersion", -1))
        if verifier is None or not value:
            return False
        signature = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return verifier.verify(_canonical(credential), signature)
    except (AttributeError, KeyError, TypeError, ValueError):
        return False


def within_validity(credential: dict, now: datetime) -> bool:
    try:
        return datetime.fromisoformat(credential["validFrom"]) <= now <= datetime.fromisoformat(
            credential["validUntil"])
    except (KeyError, TypeError, ValueError):
        return False
