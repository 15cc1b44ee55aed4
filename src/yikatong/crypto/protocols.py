"""The key store seam: where the issuer's master keys live.

Master keys never go to the platform database, a log, an error message or an API
response. Implementations: `keystore.FileKeyStore` (a file encrypted under a key-encryption
key), `keystore.InMemoryKeyStore` (tests, demo); a deployment with an HSM implements this
protocol against the HSM instead (see docs/key-ceremony.md).

Errors a caller must handle (beside the protocol, in `crypto.errors`):
* `KeyNotFound` — no key for (purpose, algorithm, version).
* `KeyStoreLocked` — the store cannot be opened: no or wrong key-encryption key, a KEK file
  readable by others, a tampered or unreadable store file.
* `KeyUnusable` — the key exists but is revoked.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from yikatong.crypto.errors import KeyNotFound, KeyStoreLocked, KeyUnusable
from yikatong.crypto.keys import KeyInfo, MasterKey

__all__ = ["KeyStore", "KeyNotFound", "KeyStoreLocked", "KeyUnusable", "KeyInfo", "MasterKey"]


@runtime_checkable
class KeyStore(Protocol):
    def get(self, purpose: str, version: int | None = None, algorithm: str | None = None) -> MasterKey:
        """The master key of `purpose` ("load", "purchase", "tac", …, see keys.PURPOSES).

        `version=None` means the active version. `algorithm=None` means the purpose's
        default ("SM4" for symmetric purposes, "SM2" for "ecard_signing"); clearing passes
        both, taken from the transaction record (key version + algorithm-ID byte), so a card
        personalised under a retired version still verifies.
        Raises KeyNotFound, KeyUnusable (revoked), KeyStoreLocked.
        """
        ...

    def active_version(self, purpose: str, algorithm: str | None = None) -> int:
        """The version new cards are personalised with. Raises KeyNotFound, KeyStoreLocked."""
        ...

    def list(self) -> list[KeyInfo]:
        """Every key's metadata (never key bytes), sorted by purpose, algorithm, version."""
        ...

    def rotate(self, purpose: str, algorithm: str | None = None) -> KeyInfo:
        """Generate the next version of (purpose, algorithm) and make it active.

        The previous active version becomes "retired": no longer used for new cards but still
        returned by `get(purpose, version, algorithm)`, so cards issued under it keep working.
        PBOC key versions are one byte, so at most 255 versions. A purpose the store has no
        key of yet (added to keys.PURPOSES after the store was made) gets its version 1.
        Raises InvalidInput (unknown purpose/algorithm), KeyStoreLocked.
        """
        ...

    def set_status(self, purpose: str, algorithm: str, version: int, status: str) -> KeyInfo:
        """Retire or revoke one version ("active" only through `rotate`). A revoked key is
        refused by `get`: transactions under it no longer verify. Raises KeyNotFound."""
        ...

    def sm2_public_key(self, purpose: str = "ecard_signing") -> bytes:
        """The active SM2 public key (65 bytes, 04‖x‖y) of `purpose`. Raises KeyNotFound."""
        ...

    def seal(self, secret: bytes, *, context: str) -> str:
        """`secret` encrypted under the store's key-encryption key (crypto.sealing), as text
        for a database column; `context` (table, column and row, e.g.
        "webhook_endpoints.secret:ICBC") is bound to it."""
        ...

    def unseal(self, sealed: str, *, context: str) -> bytes:
        """The secret `seal` sealed with the same `context`. Raises SealedSecretUnreadable
        (a KeyStoreLocked) for another KEK, another context or an altered value."""
        ...

    def derived_key(self, label: str) -> bytes:
        """A 32-byte key derived from the store's key-encryption key for `label` (e.g. the
        throttle's counter names): the same in every process of a deployment, unknown to
        anyone with the database but not the KEK."""
        ...
