"""The reference provider's signing keys, in a file of their own (mode 0600).

The newest key signs; the older ones (up to MAX_KEYS in all) stay published so tokens signed
just before a rotation still verify. The file also holds the salt that makes each person's
`sub` claim an opaque value rather than a hash anyone could reverse from an ID number.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from joserfc.jwk import KeySet, RSAKey

FILE_FORMAT = "yikatong-realname-provider-keys/1"
MAX_KEYS = 3
SIGNING_ALGORITHM = "RS256"  # the one every OpenID Connect relying party must accept


@dataclass(frozen=True)
class ProviderKeys:
    subject_salt: bytes
    keys: KeySet  # private keys, oldest first

    @property
    def signing_key(self) -> RSAKey:
        return self.keys.keys[-1]

    def public_jwks(self) -> dict:
        return self.keys.as_dict(private=False)


def new_signing_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": SIGNING_ALGORITHM})
    key.ensure_kid()  # the RFC 7638 thumbprint: a new key always has a new kid
    return key


def load_or_create(path: str | Path) -> ProviderKeys:
    path = Path(path)
    if not path.exists():
        keys = ProviderKeys(subject_salt=secrets.token_bytes(32), keys=KeySet([new_signing_key()]))
        _write(path, keys)
        return keys
    return load(path)


def load(path: str | Path) -> ProviderKeys:
    document = json.loads(Path(path).read_text())
    if document.get("format") != FILE_FORMAT:
        raise ValueError(f"{path} is not a reference provider key file")
    return ProviderKeys(subject_salt=bytes.fromhex(document["subject_salt"]),
                        keys=KeySet.import_key_set({"keys": document["keys"]}))


def rotate(path: str | Path) -> str:
    """Add a new signing key (dropping the oldest beyond MAX_KEYS); returns its kid."""
    current = load_or_create(path)
    key = new_signing_key()
    kept = [*current.keys.keys, key][-MAX_KEYS:]
    _write(Path(path), ProviderKeys(subject_salt=current.subject_salt, keys=KeySet(kept)))
    return key.kid


def _write(path: Path, keys: ProviderKeys) -> None:
    """Atomically, readable by the owner only: the file holds private keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": FILE_FORMAT, "subject_salt": keys.subject_salt.hex(),
                "keys": keys.keys.as_dict(private=True)["keys"]}
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".keys-")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
