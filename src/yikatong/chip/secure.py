"""Card-side cryptography composed from `yikatong.crypto` (no primitive is written here).

Where the public material is silent these are our choices, shared by the emulated card and
the terminal/issuer side so both ends agree (see docs.md):

* Secure messaging (04 D6 / 04 DC / 84 1E / 84 18): MAC = ISO 9797-1 MAC algorithm 1, padding
  method 2, with the DF's 16-byte maintenance key under the card's block cipher (3DES or SM4),
  IV = the GET CHALLENGE bytes followed by zeros; input CLA INS P1 P2 Lc ‖ data (Lc counts the
  4-byte MAC); the left 4 bytes.
* EXTERNAL AUTHENTICATE: cryptogram = E(key, challenge ‖ 00…) of one block (16 bytes with SM4,
  as the public social-security traces show).
* Key diversification: the key store says which named factors each master key uses
  (`crypto.keys.PURPOSES`: e-purse keys "issuer_id,asn", social-security keys "card_id",
  debit "pan_psn"); the functions below give those factors' values for one card.
* Debit application cryptogram: SM4 session key SK = SM4(UDK, 00×6 ‖ ATC ‖ FF×6 ‖ ~ATC) (the
  `D ‖ ~D` shape), AC = left 8 bytes of the SM4 CBC-MAC (method 2 padding) over the data.
"""

from __future__ import annotations

from collections.abc import Callable

from yikatong.crypto import pboc, sm
from yikatong.crypto.pboc import PROFILE_SM4, profile_for


def block_cipher(alg_id: int, key16: bytes) -> tuple[Callable[[bytes], bytes], int]:
    """(encrypt one block, block size) of the card's algorithm under a 16-byte key."""
    if profile_for(alg_id).block_size == sm.SM4_BLOCK:
        return (lambda block: sm.sm4_ecb_encrypt(key16, block)), sm.SM4_BLOCK
    return (lambda block: sm.des3_ecb_encrypt(key16, block)), sm.DES_BLOCK


def _mac_with_iv(encrypt: Callable[[bytes], bytes], iv: bytes, data: bytes, block_size: int) -> bytes:
    """pboc_mac with an initial vector: XOR-ing the IV into the first CBC input is the same chain."""
    first = True

    def chained(block: bytes) -> bytes:
        nonlocal first
        if first:
            first = False
            block = bytes(a ^ b for a, b in zip(block, iv, strict=True))
        return encrypt(block)

    return pboc.pboc_mac(chained, data, block_size)


def line_mac(alg_id: int, key16: bytes, challenge: bytes, message: bytes) -> bytes:
    """The 4-byte secure-messaging MAC of `message` (header ‖ Lc ‖ data)."""
    encrypt, block_size = block_cipher(alg_id, key16)
    iv = challenge[:block_size].ljust(block_size, b"\x00")
    return _mac_with_iv(encrypt, iv, message, block_size)


def protect(alg_id: int, key16: bytes, challenge: bytes, cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    """A secure-messaging command APDU (CLA with b3 set): data ‖ MAC, Lc counting the MAC."""
    cla |= 0x04
    header = bytes([cla, ins, p1, p2, len(data) + 4])
    mac = line_mac(alg_id, key16, challenge, header + data)
    return header + data + mac


def auth_cryptogram(alg_id: int, key16: bytes, challenge: bytes) -> bytes:
    """The EXTERNAL AUTHENTICATE cryptogram for a card challenge."""
    encrypt, block_size = block_cipher(alg_id, key16)
    return encrypt(challenge[:block_size].ljust(block_size, b"\x00"))


# --- diversification factor values (the key store names the factors each master uses) -------


def debit_y(pan: str, psn: int) -> bytes:
    """Y = the right-most 16 digits of PAN ‖ PSN (two digits), packed BCD, 8 bytes (§3.8)."""
    digits = (pan + f"{psn:02d}")[-16:].rjust(16, "0")
    return bytes.fromhex(digits)


def purse_factors(issuer_id8: bytes, asn10: bytes) -> dict[str, bytes]:
    """Factor values of e-purse keys: file 0015's issuer ID and application serial number."""
    return {"issuer_id": issuer_id8, "asn": asn10}


def social_factors(card_id_code16: bytes) -> dict[str, bytes]:
    """Factor values of social-security keys: the card identification code (EF05 record 1)."""
    return {"card_id": card_id_code16}


def debit_factors(pan: str, psn: int) -> dict[str, bytes]:
    """Factor value of the debit UDK: UDK = SM4(MK, Y ‖ ~Y)."""
    return {"pan_psn": debit_y(pan, psn)}


def application_cryptogram(udk16: bytes, atc: int, data: bytes) -> bytes:
    """The 8-byte ARQC over `data` (which ends with the ATC) under the ATC session key."""
    session_key = PROFILE_SM4.diversify(udk16, bytes(6) + atc.to_bytes(2, "big"))
    padded = pboc.pad_iso9797_m2(data, sm.SM4_BLOCK)
    return sm.sm4_cbc_encrypt(session_key, bytes(sm.SM4_BLOCK), padded)[-sm.SM4_BLOCK :][:8]
