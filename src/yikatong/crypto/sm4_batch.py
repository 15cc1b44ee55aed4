"""Bulk TAC verification for the SM4 profile: SM4 vectorised across records with numpy.

Clearing checks millions of TACs, each under its *own* card key (DTK diversified from the
master with the card's ASN). OpenSSL is fast per key but every new key costs a Python call
(~5 µs), so the per-record work is done here instead, column-wise over many records at once:

1. Issuer-level diversification (same for every card) is one scalar SM4.
2. Card-level diversification is one OpenSSL ECB call over all distinct ASNs (one key).
3. The SM4 key schedule of every distinct card key and the CBC-MAC of every record run as
   numpy operations over arrays of uint32 words, 32 rounds each. A round's nonlinear part
   T(x) = L(τ(x)) is two lookups in 16-bit tables (T_hi[x >> 16] ^ T_lo[x & 0xFFFF], 256 KiB
   each, which stay in L2), built at import from the S-box. Every operation of a round
   writes into buffers reused for the whole chunk (no temporaries), and the lookup indices
   are computed straight into intp arrays: numpy gathers with intp indices directly but
   copies any other index dtype to intp first, which made the old uint32 lookups 3x slower.
4. Records are grouped by card (one sort) so a key schedule is computed once per card, and
   processed in chunks of about 16k records (the chunk's words, round keys and the tables
   stay in the 2 MiB L2); `processes=2` cuts the records in two halves, each done from start
   to finish by its own process (see crypto/batch.py).

The S-box is generated from its algebraic definition (GB/T 32907: S(x) = A·I(A·x + C) + C,
with I the inverse in GF(2^8) mod x^8+x^7+x^6+x^5+x^4+x^2+1, A the circulant matrix with
first row 1110 0101 and C = D3) and checked, like the whole cipher, against OpenSSL in tests.

The SM4 profile layout itself is UNVERIFIED (see pboc.py / card-protocol.md §3.6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from yikatong.crypto import pboc
from yikatong.crypto.batch import (
    bulk_macs,
    check_tacs,
    derive_card_keys,
    message_rows,
    pad_messages,
)

FK = (0xA3B1BAC6, 0x56AA3350, 0x677D9197, 0xB27022DC)
MASK32 = 0xFFFFFFFF
DEFAULT_CHUNK = 16_384  # records per chunk: fastest between 16k and 32k (bench/tac_throughput.py)


def _gf_mul(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x1F5
        b >>= 1
    return product


def _affine(x: int) -> int:
    rows = (0xE5, 0xF2, 0x79, 0xBC, 0x5E, 0x2F, 0x97, 0xCB)
    out = 0
    for i, row in enumerate(rows):
        # Rows are written column 0 first (MSB); column j multiplies bit j of x (bit 0 = LSB).
        parity = bin(row & int(f"{x:08b}"[::-1], 2)).count("1") & 1
        out |= parity << i
    return out ^ 0xD3


def _build_sbox() -> np.ndarray:
    inverse = [0] * 256
    for x in range(1, 256):
        inverse[x] = next(y for y in range(1, 256) if _gf_mul(x, y) == 1)
    return np.array([_affine(inverse[_affine(x)]) for x in range(256)], dtype=np.uint32)


def _rotl(x: np.ndarray, n: int) -> np.ndarray:
    return ((x << np.uint32(n)) | (x >> np.uint32(32 - n))) & np.uint32(MASK32)


def _tables(sbox: np.ndarray, linear) -> tuple[np.ndarray, np.ndarray]:
    """16-bit lookup tables for T = linear(τ(x)): T(x) = hi[x >> 16] ^ lo[x & 0xFFFF]."""
    byte = np.arange(256, dtype=np.uint32)
    per_byte = [linear(sbox[byte] << np.uint32(24 - 8 * k)) for k in range(4)]  # k = byte position, MSB first
    hi = (per_byte[0][:, None] ^ per_byte[1][None, :]).reshape(-1)
    lo = (per_byte[2][:, None] ^ per_byte[3][None, :]).reshape(-1)
    return hi.astype(np.uint32), lo.astype(np.uint32)


SBOX = _build_sbox()
_ENC_HI, _ENC_LO = _tables(SBOX, lambda b: b ^ _rotl(b, 2) ^ _rotl(b, 10) ^ _rotl(b, 18) ^ _rotl(b, 24))
_KEY_HI, _KEY_LO = _tables(SBOX, lambda b: b ^ _rotl(b, 13) ^ _rotl(b, 23))
CK = np.array(
    [int.from_bytes(bytes(((4 * i + j) * 7) % 256 for j in range(4)), "big") for i in range(32)], dtype=np.uint32
)

_SIXTEEN, _LOW_HALF = np.uint32(16), np.uint32(0xFFFF)


class _Scratch:
    """Buffers reused by every round of a chunk: the lookups index with `index`, an intp array,
    because numpy gathers with intp indices directly but first copies any other index dtype to
    intp (three times slower); the words themselves stay uint32 (half the memory traffic)."""

    def __init__(self, n: int) -> None:
        self.argument = np.empty(n, dtype=np.uint32)
        self.index = np.empty(n, dtype=np.intp)
        self.looked_up = np.empty(n, dtype=np.uint32)


def _xor_t_into(into: np.ndarray, words: Sequence[np.ndarray], hi: np.ndarray, lo: np.ndarray, scratch: _Scratch) -> None:
    """into ^= T(words[0] ^ words[1] ^ words[2] ^ words[3]), in place: two 16-bit lookups."""
    argument, index, looked_up = scratch.argument, scratch.index, scratch.looked_up
    np.bitwise_xor(words[0], words[1], out=argument)
    np.bitwise_xor(argument, words[2], out=argument)
    np.bitwise_xor(argument, words[3], out=argument)
    np.right_shift(argument, _SIXTEEN, out=index)
    hi.take(index, out=looked_up, mode="clip")  # indices < 2^16 by construction: no bounds check
    np.bitwise_xor(into, looked_up, out=into)
    np.bitwise_and(argument, _LOW_HALF, out=index)
    lo.take(index, out=looked_up, mode="clip")
    np.bitwise_xor(into, looked_up, out=into)


def key_schedule(keys: np.ndarray) -> np.ndarray:
    """Round keys (32, n) uint32 of n keys given as (4, n) uint32 big-endian words."""
    n = keys.shape[1]
    round_keys = np.empty((32, n), dtype=np.uint32)
    k = [keys[i] ^ np.uint32(FK[i]) for i in range(4)]
    scratch = _Scratch(n)
    for i in range(32):
        new = round_keys[i]  # rk_i = k_i ^ T'(k_i+1 ^ k_i+2 ^ k_i+3 ^ CK_i), written in its row
        np.copyto(new, k[0])
        _xor_t_into(new, (k[1], k[2], k[3], CK[i : i + 1]), _KEY_HI, _KEY_LO, scratch)
        k = [k[1], k[2], k[3], new]
    return round_keys


def _encrypt_in_place(round_keys: np.ndarray, state: list[np.ndarray], scratch: _Scratch) -> list[np.ndarray]:
    """The 32 rounds over four word arrays, overwritten: each round's new word replaces the
    word that leaves the window, so after 32 rounds array j holds X(32+j); the output is
    (X35, X34, X33, X32), the same four arrays reversed."""
    x0, x1, x2, x3 = state
    for i in range(32):
        _xor_t_into(x0, (x1, x2, x3, round_keys[i]), _ENC_HI, _ENC_LO, scratch)
        x0, x1, x2, x3 = x1, x2, x3, x0
    return [x3, x2, x1, x0]


def encrypt_words(round_keys: np.ndarray, block: Sequence[np.ndarray]) -> list[np.ndarray]:
    """SM4-encrypt n blocks (four (n,) uint32 word arrays), each under its own round keys."""
    state = [np.array(word, dtype=np.uint32) for word in block]  # copies: the rounds overwrite them
    return _encrypt_in_place(round_keys, state, _Scratch(len(state[0])))


def sm4_encrypt_blocks(keys: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """SM4-ECB of blocks[i] under keys[i] ((n, 16) uint8 each) → (n, 16) uint8."""
    out = encrypt_words(key_schedule(_words(keys)), list(_words(blocks)))
    return _bytes(out)


def _words(data: np.ndarray) -> np.ndarray:
    """(n, 4m) uint8 → (m, n) native uint32 of the big-endian words, one row per word."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    return np.ascontiguousarray(data.view(">u4").astype(np.uint32).T)


def _bytes(words: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack(words, axis=1).astype(">u4").view(np.uint8).reshape(len(words[0]), -1)


def card_keys_sm4(master_dtk: bytes, asns: np.ndarray, issuer_factors: Sequence[bytes] = ()) -> np.ndarray:
    """Card DTKs (n, 16): master → issuer levels → SM4(K, ASN8 ‖ ~ASN8), one OpenSSL call."""
    return derive_card_keys(pboc.PROFILE_SM4, master_dtk, asns, issuer_factors)


def _macs_for_chunk(round_keys: np.ndarray, message_words: np.ndarray) -> np.ndarray:
    """Left 4 bytes (as uint32) of the CBC-MAC of padded messages, word rows (4b, n)."""
    chain = [message_words[j].copy() for j in range(4)]  # the first block: the IV is zero
    scratch = _Scratch(message_words.shape[1])
    chain = _encrypt_in_place(round_keys, chain, scratch)
    for start in range(4, message_words.shape[0], 4):
        for j in range(4):
            np.bitwise_xor(chain[j], message_words[start + j], out=chain[j])
        chain = _encrypt_in_place(round_keys, chain, scratch)
    return chain[0]


def _message_words(messages: np.ndarray) -> np.ndarray:
    """Padded messages as rows of native uint32 words, (words, n)."""
    return message_rows(pad_messages(messages, 16), ">u4")


def tacs_sm4(
    master_dtk: bytes,
    asns: np.ndarray,
    tac_inputs: np.ndarray,
    *,
    issuer_factors: Sequence[bytes] = (),
    chunk: int = DEFAULT_CHUNK,
    processes: int = 1,
) -> np.ndarray:
    """The SM4-profile TAC (as big-endian uint32) of every record, each under its card's DTK.

    asns: (n, 8 or 10) uint8 (right-most 8 bytes are the factor); tac_inputs: (n, L) uint8,
    all of one length (e.g. the 22-byte purchase TAC data of pboc.purchase_tac_data).
    `chunk`: records per chunk (a card is never split). `processes` > 1 does the work in that
    many processes, this one and `processes` - 1 forked children, each a contiguous share of
    the records (numpy holds the GIL in its table lookups, so threads do not scale); use it
    from batch jobs, not inside a threaded web server.
    """
    return bulk_macs(
        asns,
        tac_inputs,
        card_keys=lambda distinct: _words(card_keys_sm4(master_dtk, distinct, issuer_factors)),
        schedule=key_schedule,
        mac=_macs_for_chunk,
        messages=_message_words,
        chunk=chunk,
        processes=processes,
    )


def verify_tacs_sm4(
    master_dtk: bytes,
    asns: np.ndarray,
    tac_inputs: np.ndarray,
    tacs: np.ndarray,
    *,
    issuer_factors: Sequence[bytes] = (),
    chunk: int = DEFAULT_CHUNK,
    processes: int = 1,
) -> np.ndarray:
    """Boolean array: does each record's TAC ((n, 4) uint8) verify under its card's DTK?

    Same result as `pboc.PROFILE_SM4.tac(diversify_key(PROFILE_SM4, master, [*issuer_factors,
    asn[-8:]]), tac_input) == tac` per record, at numpy speed.
    """
    computed = tacs_sm4(master_dtk, asns, tac_inputs, issuer_factors=issuer_factors, chunk=chunk, processes=processes)
    return check_tacs(computed, tacs)
