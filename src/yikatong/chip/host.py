"""Issuer-side services the terminal library calls: the online load host, TAC and ARQC checks.

These run where the master keys are (the key store behind an HSM in production), never on a
terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from yikatong.chip.errors import BalanceLimitExceeded, MacInvalid
from yikatong.chip.records import CardTransaction
from yikatong.chip.secure import application_cryptogram, debit_factors, protect, purse_factors
from yikatong.crypto import pboc
from yikatong.crypto.pboc import mac_equal, profile_for
from yikatong.crypto.protocols import KeyStore

BALANCE_LIMIT = 100_000


@dataclass(frozen=True)
class LoadRequest:
    """What the terminal forwards from the card's INITIALIZE FOR LOAD answer."""

    issuer_id: bytes
    asn: bytes
    key_version: int
    alg_id: int
    random: bytes
    online_counter: int
    old_balance: int
    amount: int
    terminal_id: bytes
    mac1: bytes
    date4: bytes
    time3: bytes


class LoadHost:
    """The online load service (圈存主机): verifies the card's MAC1, answers MAC2.

    Issuing MAC2 authorises the card to credit itself: whoever calls `authorise_load` must
    already have taken the customer's money (the transit package's top-up flow does).
    """

    def __init__(self, keystore: KeyStore, *, balance_limit: int = BALANCE_LIMIT) -> None:
        self._keystore = keystore
        self.balance_limit = balance_limit

    def authorise_load(self, request: LoadRequest) -> bytes:
        """MAC2 for CREDIT FOR LOAD. Raises MacInvalid (not a genuine card) or
        BalanceLimitExceeded."""
        profile = profile_for(request.alg_id)
        master = self._keystore.get("load", version=request.key_version, algorithm=profile.name)
        dlk = master.card_key(purse_factors(request.issuer_id, request.asn))
        session_key = profile.session_key(
            dlk, request.random, request.online_counter.to_bytes(2, "big"), pboc.LOAD_SESSION_TAIL
        )
        expected = profile.session_mac(
            session_key,
            pboc.load_mac1_data(request.old_balance & 0xFFFFFFFF, request.amount, pboc.TX_EP_LOAD,
                                request.terminal_id),
        )
        if not mac_equal(expected, request.mac1):
            raise MacInvalid(which="MAC1")
        if request.old_balance + request.amount > self.balance_limit:
            raise BalanceLimitExceeded(limit=self.balance_limit)
        return profile.session_mac(
            session_key,
            pboc.load_mac2_data(request.amount, pboc.TX_EP_LOAD, request.terminal_id,
                                request.date4, request.time3),
        )


def verify_tac(record: CardTransaction, keystore: KeyStore) -> bool:
    """Whether the record's TAC is the card's: DTK diversified from the TAC master of the
    record's (key version, algorithm)."""
    profile = profile_for(record.alg_id)
    master = keystore.get("tac", version=record.key_version, algorithm=profile.name)
    dtk = master.card_key(purse_factors(bytes.fromhex(record.issuer_id), bytes.fromhex(record.asn)))
    return mac_equal(profile.tac(dtk, record.tac_data()), bytes.fromhex(record.tac))


def verify_arqc(keystore: KeyStore, *, pan: str, psn: int, key_version: int, cdol1_data: bytes,
                atc: int, arqc: bytes) -> bool:
    """The bank's check of a debit ARQC (see commands/debit.py for what it covers)."""
    master = keystore.get("debit_ac", version=key_version, algorithm="SM4")
    udk = master.card_key(debit_factors(pan, psn))
    return mac_equal(application_cryptogram(udk, atc, cdol1_data + atc.to_bytes(2, "big")), arqc)


def secure_command(keystore: KeyStore, *, factors: dict[str, bytes], alg_id: int, challenge: bytes,
                   cla: int, ins: int, p1: int = 0, p2: int = 0, data: bytes = b"",
                   key_version: int | None = None) -> bytes:
    """A secure-messaging command APDU (04 D6 / 04 DC / 84 1E / 84 18) MACed with the card's
    maintenance key (DAMK: the "app_maintenance" master diversified with the card's factor
    values) for the card's GET CHALLENGE answer. `key_version` None means the active master."""
    profile = profile_for(alg_id)
    master = keystore.get("app_maintenance", version=key_version, algorithm=profile.name)
    return protect(alg_id, master.card_key(factors), challenge, cla, ins, p1, p2, data)
