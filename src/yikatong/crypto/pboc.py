"""The PBOC e-purse / e-deposit crypto family (JR/T 0025 ED/EP, as used by T-Union JT/T 978).

Formulas and byte layouts: docs/card-protocol.md §3. Everything is driven by
the algorithm-ID byte the card returns in its 8050 response: `profile_for(alg_id)` gives an
`AlgorithmProfile` with the session key, session MAC, TAC and key diversification of that
algorithm.

* `PROFILE_3DES` (alg_id 0x00): the published PBOC scheme, checked against public worked
  examples (§3.7 A–C). Session keys are 3DES-ECB of an 8-byte input (8 bytes out); MAC1/MAC2
  are single-DES CBC-MACs under the 8-byte session key; the TAC is a DES CBC-MAC under
  DTK[0:8] XOR DTK[8:16].
* `PROFILE_SM4` (alg_id 0x04): **UNVERIFIED default layout of card-protocol.md §3.6** — no
  public specification text was found for SM4 e-purses. Session key = SM4-ECB(K, R‖CTR‖tail‖
  00×8) (16 bytes), MACs are SM4 CBC-MACs with a 16-byte block, the TAC key is the 16-byte DTK
  itself, and the 0x04 code itself is only "often quoted". Confirm against the issuer's
  personalisation spec or a real card with test keys before claiming interoperability.

The MAC is ISO 9797-1 MAC algorithm 1 with padding method 2: append 80, then 00 up to the
block size (a full extra block when the data is already aligned), zero IV, CBC, left 4 bytes.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from datetime import datetime

from yikatong.crypto import sm
from yikatong.crypto.errors import UnknownAlgorithm

# Transaction type identifiers (交易类型标识, card-protocol.md §2.8).
TX_ED_LOAD = 0x01
TX_EP_LOAD = 0x02
TX_UNLOAD = 0x03
TX_ED_PURCHASE = 0x05
TX_EP_PURCHASE = 0x06
TX_CAPPED_PURCHASE = 0x09

# The last two bytes of the load session-key input (R ‖ ONLINE_CTR ‖ 80 00).
LOAD_SESSION_TAIL = b"\x80\x00"

ALG_3DES = 0x00
ALG_SM4 = 0x04


def pad_iso9797_m2(data: bytes, block_size: int) -> bytes:
    """ISO 9797-1 padding method 2: always append 80, then 00 up to a whole block."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % block_size)


def pboc_mac(encrypt_block: Callable[[bytes], bytes], data: bytes, block_size: int) -> bytes:
    """The PBOC MAC of `data` with a one-block cipher: zero IV, CBC chaining, left 4 bytes."""
    padded = pad_iso9797_m2(data, block_size)
    chain = bytes(block_size)
    for start in range(0, len(padded), block_size):
        block = padded[start : start + block_size]
        chain = encrypt_block(bytes(a ^ b for a, b in zip(chain, block, strict=True)))
    return chain[:4]


def _cbc_mac(cbc_encrypt: Callable[[bytes, bytes, bytes], bytes], key: bytes, data: bytes, bs: int) -> bytes:
    """Same result as `pboc_mac`, but the whole CBC chain runs in one OpenSSL call."""
    padded = pad_iso9797_m2(data, bs)
    return cbc_encrypt(key, bytes(bs), padded)[-bs:][:4]


def mac_equal(expected: bytes, given: bytes) -> bool:
    """Constant-time comparison of two MACs/TACs."""
    return hmac.compare_digest(expected, given)


def _check_len(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")


class AlgorithmProfile:
    """The crypto of one algorithm-ID byte. Subclasses fill in the four operations."""

    alg_id: int
    name: str
    block_size: int

    def session_key(self, card_key16: bytes, random4: bytes, counter2: bytes, tail2: bytes) -> bytes:
        """Session key (过程密钥) from the card key, R, the counter and the tail (8000 or TSN[2:4])."""
        raise NotImplementedError

    def session_mac(self, session_key: bytes, data: bytes) -> bytes:
        """MAC1/MAC2 (4 bytes) under a session key."""
        raise NotImplementedError

    def tac(self, dtk16: bytes, data: bytes) -> bytes:
        """TAC (4 bytes) under the card's 16-byte TAC key DTK."""
        raise NotImplementedError

    def diversify(self, master16: bytes, factor8: bytes) -> bytes:
        """One level of key diversification (密钥分散): 16-byte child key."""
        raise NotImplementedError

    def _session_input(self, card_key16: bytes, random4: bytes, counter2: bytes, tail2: bytes) -> bytes:
        _check_len("card key", card_key16, 16)
        _check_len("random", random4, 4)
        _check_len("counter", counter2, 2)
        _check_len("tail", tail2, 2)
        return random4 + counter2 + tail2

    def __repr__(self) -> str:
        return f"<AlgorithmProfile {self.name} alg_id=0x{self.alg_id:02X}>"


class TripleDesProfile(AlgorithmProfile):
    alg_id = ALG_3DES
    name = "3DES"
    block_size = 8

    def session_key(self, card_key16: bytes, random4: bytes, counter2: bytes, tail2: bytes) -> bytes:
        data = self._session_input(card_key16, random4, counter2, tail2)
        return sm.des3_ecb_encrypt(card_key16, data)

    def session_mac(self, session_key: bytes, data: bytes) -> bytes:
        _check_len("3DES-profile session key", session_key, 8)
        return _cbc_mac(sm.des_cbc_encrypt, session_key, data, 8)

    def tac(self, dtk16: bytes, data: bytes) -> bytes:
        _check_len("DTK", dtk16, 16)
        key8 = bytes(a ^ b for a, b in zip(dtk16[:8], dtk16[8:], strict=True))
        return _cbc_mac(sm.des_cbc_encrypt, key8, data, 8)

    def diversify(self, master16: bytes, factor8: bytes) -> bytes:
        _check_len("master key", master16, 16)
        _check_len("diversification factor", factor8, 8)
        return sm.des3_ecb_encrypt(master16, factor8 + complement(factor8))


class Sm4Profile(AlgorithmProfile):
    """UNVERIFIED layout (card-protocol.md §3.6 defaults)."""

    alg_id = ALG_SM4
    name = "SM4"
    block_size = 16

    def session_key(self, card_key16: bytes, random4: bytes, counter2: bytes, tail2: bytes) -> bytes:
        data = self._session_input(card_key16, random4, counter2, tail2)
        return sm.sm4_ecb_encrypt(card_key16, data + bytes(8))

    def session_mac(self, session_key: bytes, data: bytes) -> bytes:
        _check_len("SM4-profile session key", session_key, 16)
        return _cbc_mac(sm.sm4_cbc_encrypt, session_key, data, 16)

    def tac(self, dtk16: bytes, data: bytes) -> bytes:
        _check_len("DTK", dtk16, 16)
        return _cbc_mac(sm.sm4_cbc_encrypt, dtk16, data, 16)

    def diversify(self, master16: bytes, factor8: bytes) -> bytes:
        _check_len("master key", master16, 16)
        _check_len("diversification factor", factor8, 8)
        return sm.sm4_ecb_encrypt(master16, factor8 + complement(factor8))


def complement(data: bytes) -> bytes:
    """D XOR FF…FF (the ~D of key diversification)."""
    return bytes(b ^ 0xFF for b in data)


PROFILE_3DES: AlgorithmProfile = TripleDesProfile()
PROFILE_SM4: AlgorithmProfile = Sm4Profile()
_PROFILES = {p.alg_id: p for p in (PROFILE_3DES, PROFILE_SM4)}


def profile_for(alg_id: int) -> AlgorithmProfile:
    """The profile for an algorithm-ID byte; UnknownAlgorithm for anything else (e.g. 01 = DES)."""
    try:
        return _PROFILES[alg_id]
    except KeyError:
        raise UnknownAlgorithm(alg_id=f"0x{alg_id:02X}" if isinstance(alg_id, int) else repr(alg_id)) from None


def profile_named(name: str) -> AlgorithmProfile:
    """The profile for "3DES" or "SM4" (the key store's algorithm names)."""
    for profile in _PROFILES.values():
        if profile.name == name.upper():
            return profile
    raise UnknownAlgorithm(alg_id=name)


def diversify_key(profile: AlgorithmProfile, master16: bytes, factors: Sequence[bytes]) -> bytes:
    """Diversify a master key through one level per factor (issuer → card: two levels)."""
    if not factors:
        raise ValueError("at least one diversification factor")
    key = master16
    for factor in factors:
        key = profile.diversify(key, factor)
    return key


def purchase_session_tail(term_tsn4: bytes) -> bytes:
    """The purchase session-key tail: the last 2 bytes of the 4-byte terminal serial."""
    _check_len("terminal transaction serial", term_tsn4, 4)
    return term_tsn4[2:4]


# --- Message layouts (card-protocol.md §3.3); integers big-endian --------------------------


def _u32(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{value} does not fit in 4 unsigned bytes")
    return value.to_bytes(4, "big")


def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} does not fit in 2 unsigned bytes")
    return value.to_bytes(2, "big")


def _u8(value: int) -> bytes:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{value} does not fit in 1 byte")
    return bytes([value])


def _fields(terminal_id6: bytes, date4: bytes | None = None, time3: bytes | None = None) -> bytes:
    _check_len("terminal ID", terminal_id6, 6)
    if date4 is None or time3 is None:
        return terminal_id6
    _check_len("date", date4, 4)
    _check_len("time", time3, 3)
    return terminal_id6 + date4 + time3


def load_mac1_data(old_balance: int, amount: int, tx_type: int, terminal_id6: bytes) -> bytes:
    return _u32(old_balance) + _u32(amount) + _u8(tx_type) + _fields(terminal_id6)


def load_mac2_data(amount: int, tx_type: int, terminal_id6: bytes, date4: bytes, time3: bytes) -> bytes:
    return _u32(amount) + _u8(tx_type) + _fields(terminal_id6, date4, time3)


def load_tac_data(
    new_balance: int,
    online_ctr: int,
    amount: int,
    tx_type: int,
    terminal_id6: bytes,
    date4: bytes,
    time3: bytes,
) -> bytes:
    """NEW_BAL ‖ ONLINE_CTR (pre-increment) ‖ AMOUNT ‖ TYPE ‖ TERMID ‖ DATE ‖ TIME (layout unverified)."""
    return (
        _u32(new_balance)
        + _u16(online_ctr)
        + _u32(amount)
        + _u8(tx_type)
        + _fields(terminal_id6, date4, time3)
    )


def purchase_mac1_data(amount: int, tx_type: int, terminal_id6: bytes, date4: bytes, time3: bytes) -> bytes:
    return _u32(amount) + _u8(tx_type) + _fields(terminal_id6, date4, time3)


def purchase_mac2_data(amount: int) -> bytes:
    return _u32(amount)


def purchase_tac_data(
    amount: int, tx_type: int, terminal_id6: bytes, term_tsn4: bytes, date4: bytes, time3: bytes
) -> bytes:
    _check_len("terminal transaction serial", term_tsn4, 4)
    _check_len("date", date4, 4)
    _check_len("time", time3, 3)
    return _u32(amount) + _u8(tx_type) + _fields(terminal_id6) + term_tsn4 + date4 + time3


def bcd_date_time(moment: datetime) -> tuple[bytes, bytes]:
    """(DATE 4 bytes BCD YYYYMMDD, TIME 3 bytes BCD hhmmss) of a local date-time."""
    return (
        bytes.fromhex(moment.strftime("%Y%m%d")),
        bytes.fromhex(moment.strftime("%H%M%S")),
    )
