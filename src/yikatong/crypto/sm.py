"""Block ciphers and hashes through `cryptography` (OpenSSL): SM4, SM3, DES and 3DES.

Everything here is a thin, typed wrapper: bytes in, bytes out, no padding (callers pad,
the PBOC MACs use their own ISO 9797-1 method 2 padding). DES and two-key 3DES are given
to OpenSSL as 24-byte TripleDES keys (K‖K‖K and K1‖K2‖K1), which is the same cipher and
avoids the deprecated 8- and 16-byte key forms.

`check_backend()` is called once at start-up (`crypto.wiring.configure`): a distro OpenSSL
built without the SM algorithms must fail loudly there, not at the first card tap.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SM4_BLOCK = 16
DES_BLOCK = 8

_ECB = modes.ECB()


def _check_blocks(data: bytes, block: int) -> None:
    if len(data) % block:
        raise ValueError(f"data length {len(data)} is not a multiple of {block}")


def sm4_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    _check_blocks(data, SM4_BLOCK)
    encryptor = Cipher(algorithms.SM4(key), _ECB).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def sm4_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    _check_blocks(data, SM4_BLOCK)
    decryptor = Cipher(algorithms.SM4(key), _ECB).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def sm4_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    _check_blocks(data, SM4_BLOCK)
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def sm4_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    _check_blocks(data, SM4_BLOCK)
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def sm4_ecb_iterate(key: bytes, block: bytes, iterations: int) -> bytes:
    """Encrypt one block `iterations` times in a row (GB/T 32907 Annex A example 2).

    CBC with a zero IV over `block` followed by zero blocks gives C_i = E(C_{i-1}): the
    whole chain runs inside OpenSSL in one call instead of a million Python calls.
    """
    if len(block) != SM4_BLOCK or iterations < 1:
        raise ValueError("one 16-byte block and at least one iteration")
    ciphertext = sm4_cbc_encrypt(key, bytes(SM4_BLOCK), block + bytes(SM4_BLOCK * (iterations - 1)))
    return ciphertext[-SM4_BLOCK:]


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _tdes_key24(key: bytes) -> bytes:
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise ValueError("a DES/3DES key is 8, 16 or 24 bytes")


def des3_ecb_encrypt(key16: bytes, data: bytes) -> bytes:
    """Two-key 3DES EDE, E(K1, D(K2, E(K1, x))), ECB (a 24-byte key is also accepted)."""
    if len(key16) not in (16, 24):
        raise ValueError("a 3DES key is 16 (two-key) or 24 bytes")
    _check_blocks(data, DES_BLOCK)
    encryptor = Cipher(TripleDES(_tdes_key24(key16)), _ECB).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def des_ecb_encrypt(key8: bytes, data: bytes) -> bytes:
    """Single DES, ECB (as TripleDES with K‖K‖K, which OpenSSL computes identically)."""
    if len(key8) != 8:
        raise ValueError("a DES key is 8 bytes")
    _check_blocks(data, DES_BLOCK)
    encryptor = Cipher(TripleDES(_tdes_key24(key8)), _ECB).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def des_cbc_encrypt(key8: bytes, iv: bytes, data: bytes) -> bytes:
    if len(key8) != 8:
        raise ValueError("a DES key is 8 bytes")
    _check_blocks(data, DES_BLOCK)
    encryptor = Cipher(TripleDES(_tdes_key24(key8)), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def check_backend() -> None:
    """Raise RuntimeError unless OpenSSL offers SM3, SM4 and TripleDES, with a hint how to fix."""
    probes = {
        "SM4": lambda: sm4_ecb_encrypt(bytes(16), bytes(16)),
        "SM3": lambda: sm3(b"abc"),
        "3DES": lambda: des3_ecb_encrypt(bytes(range(16)), bytes(8)),
    }
    missing = []
    for name, probe in probes.items():
        try:
            probe()
        except (UnsupportedAlgorithm, ValueError):
            missing.append(name)
    if missing:
        raise RuntimeError(
            f"OpenSSL behind `cryptography` lacks {', '.join(missing)}; "
            "install the PyPI wheel of cryptography (it bundles an OpenSSL with the SM "
            "algorithms) instead of a distro build with them disabled"
        )
