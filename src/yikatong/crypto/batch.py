"""The driver shared by the vectorised TAC verifiers (sm4_batch, des_batch).

Records are grouped by card with one sort, so each card's key schedule is computed once;
distinct cards are cut into chunks (a chunk never splits a card) small enough for the cache,
and the chunks are shared among forked worker processes when `processes` > 1 (numpy holds
the GIL during its table lookups, so threads would not scale).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence

import numpy as np

from yikatong.crypto import pboc, sm

# Work shared with forked worker processes: set just before the pool forks, read-only there.
_JOB: dict = {}


def group_by_card(asns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, card index of each record in sorted order, distinct ASN8s (m, 8)); one sort."""
    keys = np.ascontiguousarray(asns[:, -8:]).view(">u8").reshape(-1)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first_of_card = np.empty(len(keys), dtype=bool)
    first_of_card[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first_of_card[1:])
    sorted_cards = np.cumsum(first_of_card) - 1
    distinct = np.ascontiguousarray(sorted_keys[first_of_card]).view(np.uint8).reshape(-1, 8)
    return order, sorted_cards, distinct


def pad_messages(messages: np.ndarray, block_size: int) -> np.ndarray:
    """ISO 9797-1 method 2 padding of equal-length messages, (n, L) → (n, L') uint8."""
    n, length = messages.shape
    padded = np.zeros((n, (length // block_size + 1) * block_size), dtype=np.uint8)
    padded[:, :length] = messages
    padded[:, length] = 0x80
    return padded


def derive_card_keys(
    profile: pboc.AlgorithmProfile, master: bytes, asns: np.ndarray, issuer_factors: Sequence[bytes] = ()
) -> np.ndarray:
    """Card keys (n, 16) = profile.diversify(issuer key, ASN8) for every ASN in ONE OpenSSL
    ECB call (both profiles encrypt D ‖ ~D under the one issuer-level key)."""
    issuer_key = pboc.diversify_key(profile, master, issuer_factors) if issuer_factors else master
    asn8 = np.ascontiguousarray(asns[:, -8:], dtype=np.uint8)
    blocks = np.concatenate([asn8, asn8 ^ np.uint8(0xFF)], axis=1).tobytes()
    ecb = sm.sm4_ecb_encrypt if profile.block_size == 16 else sm.des3_ecb_encrypt
    return np.frombuffer(ecb(issuer_key, blocks), dtype=np.uint8).reshape(-1, 16)


def check_tacs(computed: np.ndarray, tacs: np.ndarray) -> np.ndarray:
    """Boolean array: computed big-endian uint32 TACs equal to the given (n, 4) bytes."""
    tacs = np.ascontiguousarray(np.asarray(tacs, dtype=np.uint8))
    if tacs.shape != (len(computed), 4):
        raise ValueError("tacs must be (n, 4) bytes")
    return computed == tacs.view(">u4").reshape(-1).astype(np.uint32)


def message_rows(padded: np.ndarray, word: str) -> np.ndarray:
    """(n, L) uint8 → (L / size, n) native unsigned words read big-endian ('>u4' or '>u8')."""
    big_endian = np.ascontiguousarray(padded).view(word)
    rows = np.empty((big_endian.shape[1], big_endian.shape[0]), dtype=np.dtype(word).newbyteorder("="))
    for j in range(big_endian.shape[1]):
        rows[j] = big_endian[:, j]
    return rows


def bulk_macs(
    asns: np.ndarray,
    tac_inputs: np.ndarray,
    *,
    card_keys: Callable[[np.ndarray], np.ndarray],
    schedule: Callable[[np.ndarray], np.ndarray],
    mac: Callable[[np.ndarray, np.ndarray], np.ndarray],
    messages: Callable[[np.ndarray], np.ndarray],
    chunk: int,
    processes: int,
) -> np.ndarray:
    """Left 4 bytes (big-endian uint32) of each record's MAC under its own card key.

    card_keys(distinct ASN8s (m, 8)) → key rows (…, m); schedule(key rows) → round keys
    with records on the last axis; messages(tac_inputs in card order) → word rows (…, n);
    mac(round keys, word rows) → (n,) uint32.
    """
    asns, tac_inputs = np.asarray(asns, dtype=np.uint8), np.asarray(tac_inputs, dtype=np.uint8)
    if asns.ndim != 2 or tac_inputs.ndim != 2 or len(asns) != len(tac_inputs) or asns.shape[1] < 8:
        raise ValueError("asns (n, >=8) and tac_inputs (n, L) must be 2-D with one row per record")
    n = len(asns)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    order, sorted_cards, distinct = group_by_card(asns)
    bounds = [*range(0, len(distinct), chunk), len(distinct)]
    _JOB.update(
        bounds=bounds,
        record_bounds=np.searchsorted(sorted_cards, bounds),
        sorted_cards=sorted_cards,
        card_keys=card_keys(distinct),
        messages=messages(tac_inputs[order]),
        schedule=schedule,
        mac=mac,
    )
    try:
        result_sorted = np.empty(n, dtype=np.uint32)
        for first, values in _map_parts(len(bounds) - 1, processes):
            result_sorted[first : first + len(values)] = values
    finally:
        _JOB.clear()
    result = np.empty(n, dtype=np.uint32)
    result[order] = result_sorted
    return result


def _run_parts(parts: range) -> tuple[int, np.ndarray]:
    job = _JOB
    bounds, record_bounds, sorted_cards = job["bounds"], job["record_bounds"], job["sorted_cards"]
    first, last = record_bounds[parts.start], record_bounds[parts.stop]
    out = np.empty(last - first, dtype=np.uint32)
    for part in parts:
        first_card, last_card = bounds[part], bounds[part + 1]
        lo, hi = record_bounds[part], record_bounds[part + 1]
        round_keys = job["schedule"](job["card_keys"][..., first_card:last_card])
        round_keys = np.take(round_keys, sorted_cards[lo:hi] - first_card, axis=-1)
        out[lo - first : hi - first] = job["mac"](round_keys, job["messages"][..., lo:hi])
    return first, out


def _map_parts(count: int, processes: int):
    if processes <= 1 or count < 2:
        return [_run_parts(range(count))]
    step = -(-count // processes)
    shares = [range(start, min(start + step, count)) for start in range(0, count, step)]
    with multiprocessing.get_context("fork").Pool(len(shares)) as pool:
        return pool.map(_run_parts, shares)
