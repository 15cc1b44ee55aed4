"""The bulk TAC verifiers split over processes: the same verdicts as one process, record by record."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

from yikatong.crypto import batch, pboc
from yikatong.crypto.des_batch import tacs_3des, verify_tacs_3des
from yikatong.crypto.sm4_batch import tacs_sm4, verify_tacs_sm4

MASTER = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
ISSUER = [bytes.fromhex("0000304000000000")]
PROFILES = [(pboc.PROFILE_SM4, tacs_sm4, verify_tacs_sm4), (pboc.PROFILE_3DES, tacs_3des, verify_tacs_3des)]


def _records(tacs_of, seed: int, records: int = 3000, cards: int = 400):
    """Cards with records scattered over the whole batch (so most cards have records in every
    process's share), genuine TACs with about one in ten altered in one bit."""
    rng = np.random.default_rng(seed)
    asns = rng.integers(0, 256, (cards, 10), dtype=np.uint8)[rng.integers(0, cards, records)]
    tac_inputs = rng.integers(0, 256, (records, 22), dtype=np.uint8)
    tacs = tacs_of(MASTER, asns, tac_inputs, issuer_factors=ISSUER).astype(">u4").view(np.uint8).reshape(-1, 4).copy()
    altered = rng.random(records) < 0.1
    tacs[altered, rng.integers(0, 4, int(altered.sum()))] ^= np.uint8(0x10)
    return asns, tac_inputs, tacs, altered


@pytest.mark.parametrize(("profile", "tacs_of", "verify"), PROFILES, ids=["sm4", "3des"])
@pytest.mark.parametrize("processes", [2, 3])
def test_processes_give_the_one_process_verdicts(profile, tacs_of, verify, processes):
    asns, tac_inputs, tacs, altered = _records(tacs_of, seed=processes)
    one = verify(MASTER, asns, tac_inputs, tacs, issuer_factors=ISSUER, chunk=100)
    many = verify(MASTER, asns, tac_inputs, tacs, issuer_factors=ISSUER, chunk=100, processes=processes)
    assert many.tolist() == one.tolist()
    assert one.tolist() == (~altered).tolist()  # the altered ones, and only they, fail
    for i in [0, 1499, 1500, 2999, *np.flatnonzero(altered)[:3].tolist()]:  # the scalar path agrees
        dtk = pboc.diversify_key(profile, MASTER, [*ISSUER, asns[i, -8:].tobytes()])
        assert pboc.mac_equal(profile.tac(dtk, tac_inputs[i].tobytes()), tacs[i].tobytes()) == bool(one[i])


def test_more_processes_than_records_and_one_record():
    asns, tac_inputs, tacs, altered = _records(tacs_sm4, seed=9, records=3, cards=2)
    assert verify_tacs_sm4(MASTER, asns, tac_inputs, tacs, issuer_factors=ISSUER, processes=8).tolist() == (~altered).tolist()
    assert verify_tacs_sm4(MASTER, asns[:1], tac_inputs[:1], tacs[:1], issuer_factors=ISSUER, processes=2).tolist() == [
        not altered[0]
    ]


def _two_process_verdicts(records):
    asns, tac_inputs, tacs, _altered = records
    return verify_tacs_sm4(MASTER, asns, tac_inputs, tacs, issuer_factors=ISSUER, chunk=100, processes=2).tolist()


def test_processes_inside_a_daemonic_pool_worker():
    """A clearing server's pool workers are daemonic (multiprocessing forbids them children)."""
    records = _records(tacs_sm4, seed=11, records=600, cards=50)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        verdicts = pool.apply(_two_process_verdicts, (records,))
    assert verdicts == (~records[3]).tolist()


def test_a_failing_worker_process_is_an_error_not_a_verdict():
    """A share whose process dies must not come back as zeros (every TAC of it 'forged')."""
    parent = os.getpid()

    def mac_failing_in_children(round_keys, words):
        if os.getpid() != parent:
            raise RuntimeError("simulated failure in a worker")
        return np.zeros(words.shape[-1], dtype=np.uint32)

    rng = np.random.default_rng(1)
    with pytest.raises(RuntimeError, match="worker process failed"):
        batch.bulk_macs(
            rng.integers(0, 256, (200, 8), dtype=np.uint8), rng.integers(0, 256, (200, 22), dtype=np.uint8),
            card_keys=lambda distinct: np.zeros((4, len(distinct)), dtype=np.uint32),
            schedule=lambda keys: keys, mac=mac_failing_in_children, messages=lambda inputs: inputs.T,
            chunk=50, processes=2,
        )


@pytest.mark.parametrize(
    ("sorted_cards", "records", "expected"),
    [
        ([0, 0, 1, 1, 1, 2, 3, 3], 1, [(0, 2), (2, 5), (5, 6), (6, 8)]),  # one card a chunk
        ([0, 0, 1, 1, 1, 2, 3, 3], 3, [(0, 2), (2, 6), (6, 8)]),  # cut where the cards of records 3 and 6 begin
        ([0, 0, 0, 0, 0, 0, 1], 2, [(0, 6), (6, 7)]),  # a card longer than a chunk stays whole
        ([0, 1, 2], 10, [(0, 3)]),
        ([0], 4, [(0, 1)]),
    ],
)
def test_chunks_cover_every_record_and_never_split_a_card(sorted_cards, records, expected):
    assert batch.chunk_bounds(np.array(sorted_cards, dtype=np.intp), records) == expected
