"""Bulk TAC verification for the 3DES profile: single DES vectorised across records with numpy.

The 3DES-profile TAC is a single-DES CBC-MAC under DTK[0:8] ⊕ DTK[8:16], where the card's
DTK is 3DES-diversified from the master with the issuer ID and the ASN. As in sm4_batch,
the diversification (one key for all cards) is one OpenSSL call, and the per-card part — the
DES key schedule of every card key and the MAC of every record — runs column-wise in numpy:

* bit permutations are byte-indexed lookup tables OR-ed together; each round's subkey is
  one such permutation of the key (PC-1, the rotations and PC-2 folded together);
* the CBC chain stays in the IP domain (IP is linear, so IP(C ⊕ M) = IP(C) ⊕ IP(M)) and the
  final permutation is applied once per MAC;
* a round is the E expansion of R by two lookups in 16-bit tables, in a layout with each
  S-box's 6 input bits in a byte of its own (so the round key, kept in the same layout, is
  XORed in once), then four lookups that each merge two S-boxes with the P permutation and
  read their two input bytes as one 16-bit field;
* every lookup indexes with an intp array (numpy copies any other index dtype to intp
  before gathering) and every step writes into buffers reused for all 16 rounds.

The tables are those of FIPS 46-3; the implementation is checked against OpenSSL in tests.
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

DEFAULT_CHUNK = 32_768  # records per chunk (a chunk never splits a card)

# FIPS 46-3 tables, bit 1 = most significant bit.
IP = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
]  # fmt: skip
P = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
]  # fmt: skip
PC1 = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
]  # fmt: skip
PC2 = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
]  # fmt: skip
SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
SBOXES = [
    "E4D12FB83A6C5907 0F74E2D1A6CB9538 41E8D62BFC973A50 FC8249175B3EA06D",
    "F18E6B34972DC05A 3D47F28EC01A69B5 0E7BA4D158C6932F D8A13F42B67C05E9",
    "A09E63F51DC7B428 D709346A285ECBF1 D6498F30B12C5AE7 1AD069874FE3B52C",
    "7DE3069A1285BC4F D8B56F03472C1AE9 A690CB7DF13E5284 3F06A1D8945BC72E",
    "2C417AB6853FD0E9 EB2C47D150FA3986 421BAD78F9C5630E B8C71E2D6F09A453",
    "C1AF92680D34E75B AF427C9561DE0B38 9EF528C3704A1DB6 432C95FABE17608D",
    "4B2EF08D3C975A61 D0B7491AE35C2F86 14BDC37EAF680592 6BD814A7950FE23C",
    "D2846FB1A93E50C7 1FD8A374C56B0E92 7B419CE206ADF358 21E74A8DFC90356B",
]


def _permutation_tables(table: list[int], in_bits: int) -> np.ndarray:
    """tables[b][v]: the output bits contributed by input byte b (MSB first) having value v."""
    out_bits = len(table)
    tables = np.zeros((in_bits // 8, 256), dtype=np.uint64)
    for out_pos, in_pos in enumerate(table):  # 1-based input bit, MSB = 1
        byte, bit_in_byte = divmod(in_pos - 1, 8)
        out_mask = np.uint64(1 << (out_bits - 1 - out_pos))
        values = np.arange(256)
        tables[byte, (values >> (7 - bit_in_byte)) & 1 == 1] |= out_mask
    return tables


def _permute(x: np.ndarray, tables: np.ndarray, in_bits: int) -> np.ndarray:
    signed = np.asarray(x, dtype=np.uint64).view(np.int64)  # int64 shifts give intp lookup indices
    result = np.zeros(signed.shape, dtype=np.uint64)
    index = np.empty(signed.shape, dtype=np.intp)
    for byte in range(tables.shape[0]):
        np.right_shift(signed, in_bits - 8 * (byte + 1), out=index)
        np.bitwise_and(index, 0xFF, out=index)  # also clears the sign an arithmetic shift spreads
        result |= tables[byte].take(index, mode="clip")
    return result


def _sp_tables() -> np.ndarray:
    """SP[i][v]: P(S_i(v) in its 4-bit slot) for the 6-bit input v of S-box i."""
    p_inverse_source = P  # output bit k of P takes input bit P[k]
    sp = np.zeros((8, 64), dtype=np.uint32)
    for box, text in enumerate(SBOXES):
        rows = [[int(c, 16) for c in row] for row in text.split()]
        for v in range(64):
            s_out = rows[((v >> 4) & 2) | (v & 1)][(v >> 1) & 0xF]
            before_p = s_out << (28 - 4 * box)
            after_p = 0
            for k, source in enumerate(p_inverse_source):
                if before_p >> (32 - source) & 1:
                    after_p |= 1 << (31 - k)
            sp[box, v] = after_p
    return sp


def _round_key_permutations() -> list[list[int]]:
    """For each round, the 48 key bits (1-based positions in the 64-bit key) of its subkey:
    PC-1, the cumulative rotations of C and D, and PC-2 folded into one bit selection."""
    tables, total = [], 0
    for shift in SHIFTS:
        total += shift

        def cd_source(position: int, total: int = total) -> int:  # 1-based position in C‖D after rotation
            half, offset = divmod(position - 1, 28)
            return PC1[half * 28 + (offset + total) % 28]

        tables.append([cd_source(position) for position in PC2])
    return tables


def _spread(values: np.ndarray) -> np.ndarray:
    """48-bit values (eight 6-bit groups, group 0 most significant) with each group moved to
    the low 6 bits of a byte of its own (group 0 in the top byte): the layout in which a
    round XORs the key into E(R) once and then reads two S-box inputs as one 16-bit field."""
    values = np.asarray(values, dtype=np.uint64)
    spread = np.zeros(values.shape, dtype=np.uint64)
    for group in range(8):
        six_bits = (values >> np.uint64(42 - 6 * group)) & np.uint64(63)
        spread |= six_bits << np.uint64(8 * (7 - group))
    return spread


def _expansion(right: np.ndarray) -> np.ndarray:
    """E(R) as 48 bits: group g is bits 4g+1..4g+6 of r32 r1 … r32 r1 (1-based, MSB first)."""
    right = np.asarray(right, dtype=np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    x = ((right >> np.uint64(1)) | (right << np.uint64(31))) & mask  # bit string r32 r1 … r31
    expanded = np.zeros(right.shape, dtype=np.uint64)
    for group in range(8):
        rotated = ((x << np.uint64(4 * group)) | (x >> np.uint64(32 - 4 * group))) & mask if group else x
        expanded |= ((rotated >> np.uint64(26)) & np.uint64(63)) << np.uint64(42 - 6 * group)
    return expanded


def _pair_tables(sp: np.ndarray) -> np.ndarray:
    """S-boxes 2i and 2i+1 (with P) merged into one lookup by their two spread input bytes
    (index a << 8 | b with a, b < 64; the other entries are never read): half the lookups."""
    index = np.arange(0x3F40)
    high, low = (index >> 8) & 63, index & 63
    return np.stack([sp[2 * i][high] ^ sp[2 * i + 1][low] for i in range(4)]).astype(np.int64)


_IP = _permutation_tables(IP, 64)
_FP = _permutation_tables([IP.index(i) + 1 for i in range(1, 65)], 64)
_ROUND_KEYS = [_spread(_permutation_tables(table, 64)) for table in _round_key_permutations()]
_SP_PAIRS = _pair_tables(_sp_tables())
# E is a bit selection, so E(R) = E(high half) | E(low half): two lookups in 16-bit tables.
_E_HIGH = _spread(_expansion(np.arange(1 << 16, dtype=np.uint64) << np.uint64(16))).astype(np.int64)
_E_LOW = _spread(_expansion(np.arange(1 << 16, dtype=np.uint64))).astype(np.int64)


def key_schedule(keys: np.ndarray) -> np.ndarray:
    """Round keys of n DES keys (uint64) as (16, n) int64: per round the 48-bit subkey with
    each S-box's 6 key bits in a byte of its own (see _spread); PC-1, the rotations and PC-2
    are folded into one byte-indexed bit selection per round."""
    round_keys = np.empty((16, len(keys)), dtype=np.int64)
    for round_index, tables in enumerate(_ROUND_KEYS):
        round_keys[round_index] = _permute(keys, tables, 64).view(np.int64)
    return round_keys


def _rounds(round_keys: np.ndarray, block: np.ndarray) -> np.ndarray:
    """The 16 Feistel rounds on IP-permuted blocks (uint64), returning R16‖L16 (pre-FP).

    A round: E(R) spread by two lookups, the round key XORed in once, then the S-boxes in
    pairs, each pair's two 6-bit inputs read as one 16-bit field. Every step writes into
    buffers reused for all rounds, and the lookups index with intp arrays (numpy copies any
    other index dtype to intp first)."""
    block = np.asarray(block, dtype=np.uint64)
    left = (block >> np.uint64(32)).astype(np.int64)
    right = (block & np.uint64(0xFFFFFFFF)).astype(np.int64)
    expanded, looked_up, f = (np.empty(len(block), dtype=np.int64) for _ in range(3))
    index = np.empty(len(block), dtype=np.intp)
    for round_index in range(16):
        np.right_shift(right, 16, out=index)
        _E_HIGH.take(index, out=expanded, mode="clip")  # every index is in range by construction
        np.bitwise_and(right, 0xFFFF, out=index)
        _E_LOW.take(index, out=looked_up, mode="clip")
        np.bitwise_or(expanded, looked_up, out=expanded)
        np.bitwise_xor(expanded, round_keys[round_index], out=expanded)
        np.right_shift(expanded, 48, out=index)  # S-boxes 1 and 2: the top two bytes
        _SP_PAIRS[0].take(index, out=f, mode="clip")
        for pair in range(1, 4):
            np.right_shift(expanded, 48 - 16 * pair, out=index)
            np.bitwise_and(index, 0x3F3F, out=index)
            _SP_PAIRS[pair].take(index, out=looked_up, mode="clip")
            np.bitwise_xor(f, looked_up, out=f)
        np.bitwise_xor(left, f, out=left)
        left, right = right, left
    return (right.astype(np.uint64) << np.uint64(32)) | left.astype(np.uint64)


def des_encrypt_blocks(keys: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """DES-ECB of blocks[i] under keys[i] ((n, 8) uint8 each) → (n, 8) uint8."""
    key_words = np.ascontiguousarray(keys, dtype=np.uint8).view(">u8").reshape(-1).astype(np.uint64)
    block_words = np.ascontiguousarray(blocks, dtype=np.uint8).view(">u8").reshape(-1).astype(np.uint64)
    out = _permute(_rounds(key_schedule(key_words), _permute(block_words, _IP, 64)), _FP, 64)
    return out.astype(">u8").view(np.uint8).reshape(-1, 8)


def _macs_for_chunk(round_keys: np.ndarray, message_blocks: np.ndarray) -> np.ndarray:
    chain = np.zeros(message_blocks.shape[1], dtype=np.uint64)
    for row in message_blocks:  # already IP-permuted, so the chain never leaves the IP domain
        chain = _rounds(round_keys, chain ^ row)
    return (_permute(chain, _FP, 64) >> np.uint64(32)).astype(np.uint32)


def _ip_message_blocks(messages: np.ndarray) -> np.ndarray:
    rows = message_rows(pad_messages(messages, 8), ">u8")
    return np.stack([_permute(row, _IP, 64) for row in rows])


def tac_keys_3des(master_dtk: bytes, asns: np.ndarray, issuer_factors: Sequence[bytes] = ()) -> np.ndarray:
    """Per-card TAC keys DTK_L ⊕ DTK_R as uint64, DTKs diversified in one OpenSSL 3DES call."""
    dtks = derive_card_keys(pboc.PROFILE_3DES, master_dtk, asns, issuer_factors).reshape(-1, 2, 8)
    return np.ascontiguousarray(dtks[:, 0] ^ dtks[:, 1]).view(">u8").reshape(-1).astype(np.uint64)


def tacs_3des(
    master_dtk: bytes,
    asns: np.ndarray,
    tac_inputs: np.ndarray,
    *,
    issuer_factors: Sequence[bytes] = (),
    chunk: int = DEFAULT_CHUNK,
    processes: int = 1,
) -> np.ndarray:
    """The 3DES-profile TAC (big-endian uint32) of every record under its card's DTK."""
    return bulk_macs(
        asns,
        tac_inputs,
        card_keys=lambda distinct: tac_keys_3des(master_dtk, distinct, issuer_factors),
        schedule=key_schedule,
        mac=_macs_for_chunk,
        messages=_ip_message_blocks,
        chunk=chunk,
        processes=processes,
    )


def verify_tacs_3des(
    master_dtk: bytes,
    asns: np.ndarray,
    tac_inputs: np.ndarray,
    tacs: np.ndarray,
    *,
    issuer_factors: Sequence[bytes] = (),
    chunk: int = DEFAULT_CHUNK,
    processes: int = 1,
) -> np.ndarray:
    """Boolean array: does each record's TAC ((n, 4) uint8) verify (3DES profile)?"""
    computed = tacs_3des(master_dtk, asns, tac_inputs, issuer_factors=issuer_factors, chunk=chunk, processes=processes)
    return check_tacs(computed, tacs)
