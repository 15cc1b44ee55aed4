"""The offline side: a counter, hospital, gate or bus terminal that verifies e-card QR codes
holding only the platform's public keys and the last signed status lists.

    verifier = OfflineVerifier(public_keys={1: "04…"}, status_lists=[suspension, revocation])
    accepted = verifier.verify(token, now=clock.now())   # raises TokenRejected
    verifier.refresh([new_suspension, new_revocation], now=clock.now())

A status list is trusted only while its SM2 proof verifies and its validity lasts; without a
trusted list of each purpose the terminal fails closed ("status_unknown").
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from yikatong.crypto.sm2 import Sm2Verifier
from yikatong.ecard import status_list
from yikatong.ecard.protocols import NonceStore
from yikatong.ecard.tokens import TokenClaims, check_window, read_genuine, rejected


class MemoryNonceStore:
    """A terminal's used codes, forgotten once they could no longer pass the expiry check
    (expiry at or before `now`). Expired codes leave through a heap ordered by expiry, so a
    claim costs O(log n) amortised: only what has expired is touched, never every code held
    (that pass cost twice the SM2 check at a busy gate: bench/gate_entries.py)."""

    def __init__(self) -> None:
        self._expiry: dict[bytes, datetime] = {}
        self._by_expiry: list[tuple[datetime, bytes]] = []

    def claim(self, nonce: bytes, expires_at: datetime, now: datetime) -> bool:
        while self._by_expiry and self._by_expiry[0][0] <= now:
            _, old = heapq.heappop(self._by_expiry)
            if old in self._expiry and self._expiry[old] <= now:
                del self._expiry[old]
        if nonce in self._expiry:
            return False
        self._expiry[nonce] = expires_at
        heapq.heappush(self._by_expiry, (expires_at, nonce))
        return True

    def __len__(self) -> int:
        return len(self._expiry)


@dataclass(frozen=True)
class Accepted:
    ecard_no: str
    status_index: int
    expires_at: datetime
    business: str
    age: int | None = None  # the holder's age the code carries (version 2), None if not


@dataclass(frozen=True)
class _HeldList:
    """A status list whose proof verified, its bits decoded once."""

    credential: dict
    bits: bytes

    @property
    def valid_from(self) -> str:
        return self.credential["validFrom"]


class OfflineVerifier:
    def __init__(self, public_keys: Mapping[int, bytes | str],
                 status_lists: Iterable[dict] = (), seen_nonces: NonceStore | None = None) -> None:
        self._verifiers = {int(v): Sm2Verifier(key) for v, key in public_keys.items()}
        self._seen = seen_nonces if seen_nonces is not None else MemoryNonceStore()
        self._lists: dict[str, _HeldList] = {}
        for credential in status_lists:
            self._take(credential)

    def refresh(self, credentials: Iterable[dict], *, now: datetime) -> int:
        """Take the lists that verify, are still valid and are newer than the ones held;
        returns how many were taken."""
        return sum(1 for credential in credentials
                   if status_list.within_validity(credential, now) and self._take(credential))

    def _take(self, credential: dict) -> bool:
        purpose = _purpose(credential)
        if purpose is None or not status_list.proof_verifies(credential, self._verifiers):
            return False
        held = self._lists.get(purpose)
        if held is not None and credential["validFrom"] < held.valid_from:
            return False
        try:
            bits = status_list.decode_bits(credential["credentialSubject"]["encodedList"])
        except (OSError, TypeError, ValueError):  # gzip.BadGzipFile is an OSError
            return False
        self._lists[purpose] = _HeldList(credential, bits)
        return True

    def check(self, token: str, *, now: datetime) -> TokenClaims:
        """Genuine, current and not suspended or revoked; does not use the code up."""
        claims = read_genuine(token, self._verifiers)
        check_window(claims, now)
        for purpose, reason, zh, en in (
            ("revocation", "revoked", "电子社保卡已注销", "the e-card is revoked"),
            ("suspension", "suspended", "电子社保卡已暂停使用（实体卡挂失或冻结）",
             "the e-card is suspended (card lost or frozen)"),
        ):
            if self._bit(purpose, claims.status_index, now):
                raise rejected(zh, en, reason)
        return claims

    def verify(self, token: str, *, now: datetime, business: str = "offline") -> Accepted:
        """Accept a code once for one business transaction; raises TokenRejected (forged,
        expired, replayed, revoked, suspended, or no trusted status list)."""
        claims = self.check(token, now=now)
        if not self._seen.claim(claims.nonce, claims.expires_at, now):
            raise rejected("二维码已使用过，请刷新", "the code was already used; refresh it",
                           "replayed")
        return Accepted(ecard_no=f"{claims.ecard_no:016d}", status_index=claims.status_index,
                        expires_at=claims.expires_at, business=business, age=claims.age)

    def _bit(self, purpose: str, index: int, now: datetime) -> bool:
        held = self._lists.get(purpose)
        if held is None or not status_list.within_validity(held.credential, now):
            raise rejected("终端状态名单缺失或已过期，请联网更新",
                           "the terminal's status list is missing or out of date; refresh it",
                           "status_unknown")
        try:
            return status_list.bit_in(held.bits, index)
        except IndexError:
            raise rejected("状态名单不包含该卡，请联网更新",
                           "the status list does not cover this e-card; refresh it",
                           "status_unknown") from None


def _purpose(credential: dict) -> str | None:
    subject = credential.get("credentialSubject") if isinstance(credential, dict) else None
    purpose = subject.get("statusPurpose") if isinstance(subject, dict) else None
    return purpose if purpose in status_list.PURPOSES else None
