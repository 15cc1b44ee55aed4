"""The numpy-vectorised SM4 and bulk TAC verification against the scalar OpenSSL path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from yikatong.crypto import pboc, sm, sm4_batch

from .test_vectors import SM_CRYPTO, _need

blocks16 = hnp.arrays(np.uint8, st.tuples(st.integers(1, 12), st.just(16)))


def test_official_vector_and_sbox():
    vector = _need(SM_CRYPTO)["sm4"][0]
    key = np.frombuffer(bytes.fromhex(vector["key"]), dtype=np.uint8).reshape(1, 16)
    plain = np.frombuffer(bytes.fromhex(vector["plaintext"]), dtype=np.uint8).reshape(1, 16)
    assert sm4_batch.sm4_encrypt_blocks(key, plain).tobytes().hex().upper() == vector["ciphertext"]
    assert sorted(sm4_batch.SBOX.tolist()) == list(range(256))  # a permutation


@settings(max_examples=60, deadline=None)
@given(keys=blocks16, data=st.data())
def test_ecb_per_key_matches_openssl(keys, data):
    blocks = data.draw(hnp.arrays(np.uint8, keys.shape))
    ours = sm4_batch.sm4_encrypt_blocks(keys, blocks)
    for i in range(len(keys)):
        assert ours[i].tobytes() == sm.sm4_ecb_encrypt(keys[i].tobytes(), blocks[i].tobytes())


def _scalar_tac(master: bytes, issuer: list[bytes], asn: bytes, message: bytes) -> bytes:
    dtk = pboc.diversify_key(pboc.PROFILE_SM4, master, [*issuer, asn[-8:]])
    return pboc.PROFILE_SM4.tac(dtk, message)


@settings(max_examples=40, deadline=None)
@given(
    master=st.binary(min_size=16, max_size=16),
    issuer=st.lists(st.binary(min_size=8, max_size=8), max_size=1),
    cards=hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.sampled_from([8, 10]))),
    length=st.sampled_from([4, 15, 16, 22, 24]),
    data=st.data(),
)
def test_bulk_verification_matches_scalar(master, issuer, cards, length, data):
    records = data.draw(st.integers(1, 25))
    card_of_record = data.draw(hnp.arrays(np.intp, records, elements=st.integers(0, len(cards) - 1)))
    asns = cards[card_of_record]
    messages = data.draw(hnp.arrays(np.uint8, (records, length)))
    expected = [_scalar_tac(master, issuer, asns[i].tobytes(), messages[i].tobytes()) for i in range(records)]
    tacs = np.frombuffer(b"".join(expected), dtype=np.uint8).reshape(records, 4).copy()
    altered = data.draw(hnp.arrays(np.bool_, records))
    tacs[altered, 3] ^= 0x5A
    chunk = data.draw(st.integers(1, 4))  # several chunks, cards never split
    result = sm4_batch.verify_tacs_sm4(master, asns, messages, tacs, issuer_factors=issuer, chunk=chunk)
    assert result.tolist() == (~altered).tolist()


def test_two_processes_give_the_same_answers():
    rng = np.random.default_rng(3)
    master = bytes(range(16))
    asns = rng.integers(0, 256, (300, 10), dtype=np.uint8)
    asns[150:] = asns[:150]
    messages = rng.integers(0, 256, (300, 22), dtype=np.uint8)
    one = sm4_batch.tacs_sm4(master, asns, messages, chunk=40)
    two = sm4_batch.tacs_sm4(master, asns, messages, chunk=40, processes=2)
    assert (one == two).all()
    first = _scalar_tac(master, [], asns[0].tobytes(), messages[0].tobytes())
    assert int(one[0]) == int.from_bytes(first, "big")


def test_empty_and_malformed_batches():
    assert sm4_batch.tacs_sm4(bytes(16), np.zeros((0, 8), np.uint8), np.zeros((0, 22), np.uint8)).size == 0
    with pytest.raises(ValueError):
        sm4_batch.tacs_sm4(bytes(16), np.zeros((2, 8), np.uint8), np.zeros((3, 22), np.uint8))
    with pytest.raises(ValueError):
        sm4_batch.verify_tacs_sm4(bytes(16), np.zeros((2, 8), np.uint8), np.zeros((2, 22), np.uint8), np.zeros((2, 3), np.uint8))
