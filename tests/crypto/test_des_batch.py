"""The numpy-vectorised DES and 3DES-profile bulk TAC verification against OpenSSL / the scalar path."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from yikatong.crypto import des_batch, pboc, sm

from .test_vectors import EPURSE, _need

blocks8 = hnp.arrays(np.uint8, st.tuples(st.integers(1, 12), st.just(8)))


def test_tables_are_permutations_and_random_blocks_match_openssl():
    for box in des_batch.SBOXES:
        for row in box.split():
            assert sorted(int(c, 16) for c in row) == list(range(16))
    rng = np.random.default_rng(5)  # 2,000 blocks × 16 rounds hit every S-box entry
    keys = rng.integers(0, 256, (2000, 8), dtype=np.uint8)
    blocks = rng.integers(0, 256, (2000, 8), dtype=np.uint8)
    ours = des_batch.des_encrypt_blocks(keys, blocks)
    for i in range(len(keys)):
        assert ours[i].tobytes() == sm.des_ecb_encrypt(keys[i].tobytes(), blocks[i].tobytes())


@settings(max_examples=50, deadline=None)
@given(keys=blocks8, data=st.data())
def test_des_per_key_matches_openssl(keys, data):
    blocks = data.draw(hnp.arrays(np.uint8, keys.shape))
    ours = des_batch.des_encrypt_blocks(keys, blocks)
    for i in range(len(keys)):
        assert ours[i].tobytes() == sm.des_ecb_encrypt(keys[i].tobytes(), blocks[i].tobytes())


def test_shared_purchase_vector_tac():
    vector = next(v for v in _need(EPURSE)["purchase"] if "tac_input" in v)
    message = np.frombuffer(bytes.fromhex(vector["tac_input"]), dtype=np.uint8).reshape(1, -1)
    key8 = np.frombuffer(bytes.fromhex(vector["tac_key"]), dtype=np.uint8).view(">u8").astype(np.uint64)
    tac = des_batch._macs_for_chunk(des_batch.key_schedule(key8), des_batch._ip_message_blocks(message))
    assert int(tac[0]) == int(vector["TAC"], 16)


@settings(max_examples=40, deadline=None)
@given(
    master=st.binary(min_size=16, max_size=16),
    issuer=st.lists(st.binary(min_size=8, max_size=8), max_size=1),
    cards=hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.sampled_from([8, 10]))),
    length=st.sampled_from([4, 8, 22, 24]),
    data=st.data(),
)
def test_bulk_verification_matches_scalar(master, issuer, cards, length, data):
    records = data.draw(st.integers(1, 20))
    asns = cards[data.draw(hnp.arrays(np.intp, records, elements=st.integers(0, len(cards) - 1)))]
    messages = data.draw(hnp.arrays(np.uint8, (records, length)))
    expected = b"".join(
        pboc.PROFILE_3DES.tac(
            pboc.diversify_key(pboc.PROFILE_3DES, master, [*issuer, asns[i, -8:].tobytes()]), messages[i].tobytes()
        )
        for i in range(records)
    )
    tacs = np.frombuffer(expected, dtype=np.uint8).reshape(records, 4).copy()
    altered = data.draw(hnp.arrays(np.bool_, records))
    tacs[altered, 0] ^= 0x01
    chunk = data.draw(st.integers(1, 4))
    result = des_batch.verify_tacs_3des(master, asns, messages, tacs, issuer_factors=issuer, chunk=chunk)
    assert result.tolist() == (~altered).tolist()
