"""The driver shared by the vectorised TAC verifiers (sm4_batch, des_batch).

Records are grouped by card with one sort, so each card's key schedule is computed once,
and cut into chunks of about `chunk` records (a chunk never splits a card), small enough
for the cache.

With `processes` > 1 the records are cut into contiguous shares, one per process, and each
process does its share from start to finish, writing into a shared output (numpy holds the
GIL during its table lookups, so threads would not scale). See bench/tac_throughput.py for
why the earlier split (parent prepares, pool computes) gained only 3% from a second core.
"""

from __future__ import annotations

import functools
import mmap
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from yikatong.crypto import pboc, sm


def group_by_card(asns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, card index of each record in sorted order, distinct ASN8s (m, 8)); one sort."""
    # The 8 bytes read as a native integer only to be grouped (any consistent order will do),
    # and not a stable sort: the records of a card may come in any order, they are put back.
    keys = np.ascontiguousarray(asns[:, -8:]).view(np.uint64).reshape(-1)
    order = np.argsort(keys)
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


@dataclass(frozen=True)
class _Job:
    """One bulk MAC computation; forked workers read it (copy-on-write), never receive it."""

    asns: np.ndarray
    tac_inputs: np.ndarray
    card_keys: Callable[[np.ndarray], np.ndarray]
    schedule: Callable[[np.ndarray], np.ndarray]
    mac: Callable[[np.ndarray, np.ndarray], np.ndarray]
    messages: Callable[[np.ndarray], np.ndarray]
    chunk: int


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

    With `processes` = P > 1 the records are cut into P contiguous shares and each share is
    done start to finish by one process (P - 1 forked children and this one): grouping,
    card keys, schedules and MACs, written straight into an output array the processes share.
    Nothing is pickled and nothing serial is left in the parent but the fork. A card with
    records in two shares has its key schedule computed twice (a few % more work in all).
    """
    asns, tac_inputs = np.asarray(asns, dtype=np.uint8), np.asarray(tac_inputs, dtype=np.uint8)
    if asns.ndim != 2 or tac_inputs.ndim != 2 or len(asns) != len(tac_inputs) or asns.shape[1] < 8:
        raise ValueError("asns (n, >=8) and tac_inputs (n, L) must be 2-D with one row per record")
    n = len(asns)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    job = _Job(asns, tac_inputs, card_keys, schedule, mac, messages, chunk)
    shares = _shares(n, processes)
    if len(shares) == 1:
        out = np.empty(n, dtype=np.uint32)
        _macs_of_share(job, shares[0], out)
        return out
    return _macs_in_processes(job, shares)


def _shares(n: int, processes: int) -> list[range]:
    """Contiguous record ranges, one per process, as even as the integers allow."""
    count = max(1, min(processes, n))
    edges = [n * i // count for i in range(count + 1)]
    return [range(edges[i], edges[i + 1]) for i in range(count)]


def _macs_in_processes(job: _Job, shares: list[range]) -> np.ndarray:
    """Forked children take all shares but the last, this process the last; every process
    writes its share of an anonymous shared mapping (fork keeps it shared, copy-on-write
    keeps the inputs shared and unpickled). Plain os.fork rather than multiprocessing, so it
    also works inside a daemonic pool worker (which multiprocessing forbids to have children)."""
    out = np.frombuffer(mmap.mmap(-1, 4 * shares[-1].stop), dtype=np.uint32)
    children = [_forked(functools.partial(_macs_of_share, job, share, out)) for share in shares[:-1]]
    try:
        _macs_of_share(job, shares[-1], out)
    finally:
        succeeded = [_exited_cleanly(pid) for pid in children]  # waits for every child, even on error
    if not all(succeeded):
        raise RuntimeError("a TAC verification worker process failed (its traceback is on stderr)")
    return out.copy()  # an ordinary array: the mapping goes with `out`


def _forked(work: Callable[[], None]) -> int:
    """Run work() in a forked child that exits 0 after it, or 1 with the traceback on stderr."""
    sys.stdout.flush()  # else the child would print the parent's buffered output a second time
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        work()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)  # never back into the parent's code (its cleanup, its test runner)


def _exited_cleanly(pid: int) -> bool:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _macs_of_share(job: _Job, share: range, out: np.ndarray) -> None:
    """out[share] = the MACs of those records: grouped by card, cut into chunks of about
    `chunk` records so a chunk's round keys and words stay in the cache, each chunk gathered
    from the inputs, computed and scattered back to record order."""
    asns, tac_inputs = job.asns[share.start : share.stop], job.tac_inputs[share.start : share.stop]
    out = out[share.start : share.stop]
    order, sorted_cards, distinct = group_by_card(asns)
    keys = job.card_keys(distinct)
    for first, last in chunk_bounds(sorted_cards, job.chunk):
        records = order[first:last]
        first_card, last_card = int(sorted_cards[first]), int(sorted_cards[last - 1]) + 1
        round_keys = job.schedule(keys[..., first_card:last_card])
        round_keys = np.take(round_keys, sorted_cards[first:last] - first_card, axis=-1)
        out[records] = job.mac(round_keys, job.messages(np.take(tac_inputs, records, axis=0)))


def chunk_bounds(sorted_cards: np.ndarray, records: int) -> list[tuple[int, int]]:
    """(first, last) record ranges in card order of about `records` records each, cut only
    where a card begins, so a card's records share one key schedule (a card with more
    records than that makes its chunk longer)."""
    n, step = len(sorted_cards), max(1, records)
    wanted = np.arange(step, n, step)
    starts_of_their_cards = np.searchsorted(sorted_cards, sorted_cards[wanted])
    cuts = np.unique(np.concatenate(([0], starts_of_their_cards, [n]))).tolist()
    return list(zip(cuts[:-1], cuts[1:], strict=True))
