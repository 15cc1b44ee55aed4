"""TAC verification: every TAC of our cards (issuer city 3040) is verified in bulk with the
vectorised verifiers, under the TAC master of the record's (key version, algorithm); other
issuers' cards wait for the national clearing house's verdict, because their keys are the house's,
never ours."""

from __future__ import annotations

import numpy as np

from yikatong.chip.secure import purse_factors
from yikatong.clearing import rules
from yikatong.clearing.records import FileClearing
from yikatong.clearing.rules import Reason
from yikatong.crypto import pboc
from yikatong.crypto.des_batch import verify_tacs_3des
from yikatong.crypto.errors import KeyNotFound, KeyUnusable, UnknownAlgorithm
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm4_batch import verify_tacs_sm4


def verify_tacs(state: FileClearing, keystore: KeyStore, processes: int) -> None:
    live = np.asarray(state.live(), dtype=np.int64)
    ours = live[np.asarray(state.own, dtype=bool)[live]] if len(live) else live
    has_tac = (state.frame["tac"] != "").to_numpy()[ours]
    for index in ours[~has_tac].tolist():  # the load a platform confirmed from the card's counter (no TAC seen)
        state.flag(index, Reason.LOAD_WITHOUT_TAC)
    for group in rules.tac_groups(state.frame, ours[has_tac].tolist()):
        try:
            valid = _verify_group(group, keystore, processes)
        except (KeyNotFound, KeyUnusable, UnknownAlgorithm) as error:
            for index in group.indexes:
                state.reject(index, Reason.UNVERIFIABLE, why_zh=error.message_zh, why_en=error.message_en)
            continue
        for index, ok in zip(group.indexes, valid, strict=True):
            if not ok:
                state.reject(index, Reason.FORGED)


def _verify_group(group: rules.TacGroup, keystore: KeyStore, processes: int) -> np.ndarray:
    """One bulk verification: the master of (version, algorithm), issuer levels of its
    diversification applied once, the card level (ASN) per record inside the verifier."""
    profile = pboc.profile_for(group.alg_id)
    master = keystore.get("tac", version=group.key_version, algorithm=profile.name)
    factors = master.diversification.factors
    if not factors or factors[-1] != "asn" or any(name != "issuer_id" for name in factors[:-1]):
        return _verify_each(group, master, profile)
    issuer_factors = [bytes.fromhex(group.issuer_id)] * (len(factors) - 1)
    verify = verify_tacs_sm4 if profile.block_size == 16 else verify_tacs_3des
    processes = processes if len(group.indexes) >= 100_000 else 1  # forking costs more than it saves
    return verify(master.key, group.asns, group.tac_inputs, group.tacs, issuer_factors=issuer_factors,
                  processes=processes)


def _verify_each(group: rules.TacGroup, master, profile) -> np.ndarray:
    """One record at a time, for a key whose diversification the bulk verifiers do not take
    (the card level must be the ASN, after issuer-ID levels)."""
    issuer = bytes.fromhex(group.issuer_id)
    return np.array([
        pboc.mac_equal(profile.tac(master.card_key(purse_factors(issuer, asn.tobytes())), data.tobytes()), tac.tobytes())
        for asn, data, tac in zip(group.asns, group.tac_inputs, group.tacs, strict=True)], dtype=bool)
