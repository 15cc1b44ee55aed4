"""A terminal security module (PSAM) in software.

A terminal holds no master keys: it asks its PSAM. The PSAM holds the masters it was
issued (purchase for e-purse terminals, the national reading key for every city's
terminals, the issuer's external-authentication key only at the issuer's own outlets),
derives each card's key itself from the card's data, and keeps the terminal ID and the
terminal transaction serial. Its methods mirror the PSAM commands of card-protocol.md §3.4:
`purchase_mac1` is 80 70 (MAC1 calculation), `verify_mac2` is 80 72. A hardware PSAM would
implement the same methods over APDUs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from yikatong.chip.errors import KeyNotHeld, MacInvalid, PsamSessionUnknown
from yikatong.chip.secure import auth_cryptogram, purse_factors, social_factors
from yikatong.crypto import pboc
from yikatong.crypto.pboc import mac_equal, profile_for
from yikatong.crypto.protocols import KeyStore

# Never the TAC master: TACs are checked in clearing (host.verify_tac), and a terminal that
# could compute them could forge the records clearing trusts (docs/key-ceremony.md §4).
E_PURSE_TERMINAL = ("purchase", "national_read")
ISSUER_OUTLET = ("purchase", "national_read", "external_auth")
SESSIONS_KEPT = 8  # a hardware PSAM keeps one; we keep a few for flash-card recovery


@dataclass(frozen=True)
class Mac1:
    terminal_serial: int
    mac1: bytes


class Psam:
    def __init__(
        self,
        keystore: KeyStore,
        *,
        terminal_id: bytes,
        serial: int = 0,
        purposes: Iterable[str] = E_PURSE_TERMINAL,
    ) -> None:
        if len(terminal_id) != 6:
            raise ValueError("a PSAM terminal ID is 6 bytes")
        self._keystore = keystore
        self.terminal_id = terminal_id
        self.serial = serial  # the last terminal transaction serial used
        self._purposes = frozenset(purposes)
        self._sessions: OrderedDict[int, tuple[pboc.AlgorithmProfile, bytes, int]] = OrderedDict()

    def holds(self, purpose: str) -> bool:
        return purpose in self._purposes

    def _master(self, purpose: str, version: int | None, algorithm: str):
        if purpose not in self._purposes:
            raise KeyNotHeld(purpose=purpose)
        return self._keystore.get(purpose, version=version, algorithm=algorithm)

    def purchase_mac1(
        self,
        *,
        issuer_id: bytes,
        asn: bytes,
        key_version: int,
        alg_id: int,
        random: bytes,
        offline_counter: int,
        amount: int,
        tx_type: int,
        date4: bytes,
        time3: bytes,
    ) -> Mac1:
        """80 70: the next terminal serial and MAC1 for the card's INITIALIZE FOR PURCHASE."""
        profile = profile_for(alg_id)
        master = self._master("purchase", key_version, profile.name)
        dpk = master.card_key(purse_factors(issuer_id, asn))
        self.serial = (self.serial + 1) & 0xFFFFFFFF
        tsn = self.serial.to_bytes(4, "big")
        session_key = profile.session_key(
            dpk, random, offline_counter.to_bytes(2, "big"), pboc.purchase_session_tail(tsn)
        )
        mac1 = profile.session_mac(
            session_key, pboc.purchase_mac1_data(amount, tx_type, self.terminal_id, date4, time3)
        )
        self._sessions[self.serial] = (profile, session_key, amount)
        while len(self._sessions) > SESSIONS_KEPT:
            self._sessions.popitem(last=False)
        return Mac1(self.serial, mac1)

    def verify_mac2(self, terminal_serial: int, mac2: bytes) -> None:
        """80 72: check the card's MAC2. Raises MacInvalid, or PsamSessionUnknown when the
        transaction is no longer held."""
        session = self._sessions.get(terminal_serial)
        if session is None:
            raise PsamSessionUnknown(serial=terminal_serial)
        profile, session_key, amount = session
        if not mac_equal(profile.session_mac(session_key, pboc.purchase_mac2_data(amount)), mac2):
            raise MacInvalid(which="MAC2")

    def auth_cryptogram(self, purpose: str, card_id_code: bytes, challenge: bytes, *,
                        key_version: int | None = None) -> bytes:
        """The EXTERNAL AUTHENTICATE cryptogram with the card's "national_read" or
        "external_auth" key, diversified from its card identification code."""
        master = self._master(purpose, key_version, "SM4")
        return auth_cryptogram(master.alg_id, master.card_key(social_factors(card_id_code)), challenge)
