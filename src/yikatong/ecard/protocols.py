"""Seams of the e-card domain.

* The signing key is the crypto package's `KeyStore` (purpose "ecard_signing", SM2); the
  platform's public keys reach terminals through `GET /api/v1/ecard/keys`.
* `NonceStore`: where an offline terminal remembers the QR codes it has already accepted, so
  each code is used for one business transaction only. Online, the platform's own
  `ecard_token_uses` table plays this part (unique nonce).

Errors beside them: `tokens.TokenRejected` (reason code in `details["reason"]`: malformed,
forged, expired, not_yet_valid, replayed, revoked, suspended, status_unknown).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class NonceStore(Protocol):
    def claim(self, nonce: bytes, expires_at: datetime, now: datetime) -> bool:
        """Record `nonce` as used and return True; return False when it was already used (a
        replay). The store may forget a nonce once `now` is past its `expires_at` plus the
        clock skew: a code that old is refused as expired before the store is asked."""
        ...
