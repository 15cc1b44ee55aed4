"""Key store implementations: an encrypted file, and an in-memory one for tests and demos.

`FileKeyStore` keeps every master key in one JSON document, encrypted with **SM4-GCM**
(authenticated: a changed byte makes the file refuse to open) under a 16-byte key derived
by HKDF-SM3 from the 32-byte key-encryption key (KEK). Every write uses a fresh random
96-bit nonce and replaces the file atomically (temporary file + fsync + os.replace), under
an advisory lock so two `ykt keys rotate` cannot lose each other's version.

The KEK comes from the environment at start-up: `YKT_KEK` (64 hex characters) or
`YKT_KEK_FILE` (a file holding the hex KEK, which must not be readable by group or others).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yikatong.core.clock import Clock, SystemClock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.crypto import sm2
from yikatong.crypto.errors import KeyNotFound, KeyStoreLocked, KeyUnusable
from yikatong.crypto.keys import (
    PURPOSES,
    Diversification,
    KeyInfo,
    KeyStatus,
    MasterKey,
    purpose_spec,
    resolve_algorithm,
)
from yikatong.crypto.sealing import Sealer
from yikatong.crypto.sm import sm3

log = logging.getLogger(__name__)

KEK_LENGTH = 32
MAX_KEY_VERSION = 0xFF  # the key version is one byte in the card's 8050 response
FILE_FORMAT = "yikatong-keystore/1"
_HEADER = {"format": FILE_FORMAT, "cipher": "SM4-GCM", "kdf": "HKDF-SM3"}

KeyMaker = Callable[[str, str, int], tuple[bytes, bytes | None]]


def _locked(reason_en: str, reason_zh: str) -> KeyStoreLocked:
    return KeyStoreLocked(reason_zh=reason_zh, reason_en=reason_en)


# --- the shared logic over a list of keys ---------------------------------------------------


class _KeyRing:
    """Lookup, listing, rotation and status changes over an in-memory list of MasterKeys; the
    subclass gives it the `Sealer` for secrets kept outside the store (crypto.sealing)."""

    _sealer: Sealer

    def __init__(self, keys: list[MasterKey], clock: Clock, make_key: KeyMaker) -> None:
        self._keys = keys
        self._clock = clock
        self._make_key = make_key

    def get(self, purpose: str, version: int | None = None, algorithm: str | None = None) -> MasterKey:
        algorithm = resolve_algorithm(purpose, algorithm)
        if version is None:
            version = self.active_version(purpose, algorithm)
        for key in self._keys:
            if (key.purpose, key.algorithm, key.version) == (purpose, algorithm, version):
                if key.status is KeyStatus.REVOKED:
                    raise KeyUnusable(status=key.status.value, purpose=purpose, version=version)
                return key
        raise KeyNotFound(purpose=purpose, algorithm=algorithm, version=version)

    def active_version(self, purpose: str, algorithm: str | None = None) -> int:
        algorithm = resolve_algorithm(purpose, algorithm)
        for key in self._keys:
            if (key.purpose, key.algorithm, key.status) == (purpose, algorithm, KeyStatus.ACTIVE):
                return key.version
        raise KeyNotFound(purpose=purpose, algorithm=algorithm, version="active")

    def list(self) -> list[KeyInfo]:
        return [key.info() for key in sorted(self._keys, key=lambda k: (k.purpose, k.algorithm, k.version))]

    def rotate(self, purpose: str, algorithm: str | None = None) -> KeyInfo:
        algorithm = resolve_algorithm(purpose, algorithm)
        versions = [k for k in self._keys if (k.purpose, k.algorithm) == (purpose, algorithm)]
        if not versions:
            # A purpose added after this store was made (e.g. audit_signing): rotating it
            # in creates its version 1, so an existing store needs no re-initialisation.
            new_key = self._new_key(purpose, algorithm, 1, purpose_spec(purpose).diversification)
            self._keys.append(new_key)
            return new_key.info()
        next_version = max(k.version for k in versions) + 1
        if next_version > MAX_KEY_VERSION:
            raise Conflict(zh="密钥版本已用尽（最多 255）", en="Key versions exhausted (at most 255)")
        latest = max(versions, key=lambda k: k.version)
        self._keys = [
            _with_status(k, KeyStatus.RETIRED) if k in versions and k.status is KeyStatus.ACTIVE else k
            for k in self._keys
        ]
        new_key = self._new_key(purpose, algorithm, next_version, latest.diversification)
        self._keys.append(new_key)
        return new_key.info()

    def set_status(self, purpose: str, algorithm: str, version: int, status: str) -> KeyInfo:
        algorithm = resolve_algorithm(purpose, algorithm)
        target = KeyStatus(status)
        if target is KeyStatus.ACTIVE:
            raise InvalidInput(reason_zh="启用新版本请用轮换", reason_en="a version becomes active only by rotation")
        for index, key in enumerate(self._keys):
            if (key.purpose, key.algorithm, key.version) == (purpose, algorithm, version):
                self._keys[index] = _with_status(key, target)
                return self._keys[index].info()
        raise KeyNotFound(purpose=purpose, algorithm=algorithm, version=version)

    def sm2_public_key(self, purpose: str = "ecard_signing") -> bytes:
        key = self.get(purpose, algorithm="SM2")
        assert key.public_key is not None
        return key.public_key

    def seal(self, secret: bytes, *, context: str) -> str:
        return self._sealer.seal(secret, context=context)

    def unseal(self, sealed: str, *, context: str) -> bytes:
        return self._sealer.unseal(sealed, context=context)

    def derived_key(self, label: str) -> bytes:
        return self._sealer.derived_key(label)

    def _new_key(self, purpose: str, algorithm: str, version: int, diversification: Diversification) -> MasterKey:
        secret, public_key = self._make_key(purpose, algorithm, version)
        return MasterKey(
            purpose=purpose,
            version=version,
            algorithm=algorithm,
            status=KeyStatus.ACTIVE,
            created_at=self._clock.now(),
            diversification=diversification,
            key=secret,
            public_key=public_key,
        )

    def _populate(self, diversification: Mapping[str, str] | None = None) -> None:
        """Version 1 of every purpose × algorithm (the initial key set)."""
        overrides = diversification or {}
        for spec in PURPOSES.values():
            factors = Diversification.parse(overrides[spec.name]) if spec.name in overrides else spec.diversification
            for algorithm in spec.algorithms:
                self._keys.append(self._new_key(spec.name, algorithm, 1, factors))


def _with_status(key: MasterKey, status: KeyStatus) -> MasterKey:
    return replace(key, status=status)


def random_key(purpose: str, algorithm: str, version: int) -> tuple[bytes, bytes | None]:
    """Fresh key material from the OS random source."""
    if algorithm == "SM2":
        return sm2.generate_keypair()
    return secrets.token_bytes(16), None


def seeded_key_maker(seed: bytes) -> KeyMaker:
    """Deterministic key material from a seed (tests and demos only: anyone with the seed has the keys)."""

    def make(purpose: str, algorithm: str, version: int) -> tuple[bytes, bytes | None]:
        material = sm3(seed + f"|{purpose}|{algorithm}|{version}".encode())
        if algorithm != "SM2":
            return material[:16], None
        while True:  # a hash is almost always a valid scalar; rehash in the 2^-128 other case
            try:
                return material, sm2.public_key_of(material)
            except sm2.InvalidSm2Key:
                material = sm3(material)

    return make


# --- in memory ---------------------------------------------------------------------------

DEV_SEED = b"yikatong development seed: NOT FOR PRODUCTION"


class InMemoryKeyStore(_KeyRing):
    """All purposes, version 1, in memory. With `seed`, keys are deterministic (the same seed
    gives the same keys: handy for tests and the demo, never for production)."""

    development_only = True  # a production start refuses it (yikatong.startup)

    def __init__(
        self,
        *,
        seed: bytes | None = None,
        clock: Clock | None = None,
        diversification: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__([], clock or SystemClock(), seeded_key_maker(seed) if seed is not None else random_key)
        self._sealer = Sealer(sm3(seed + b"|sealing") if seed is not None else secrets.token_bytes(KEK_LENGTH))
        self._populate(diversification)

    def __repr__(self) -> str:
        return f"<InMemoryKeyStore {len(self._keys)} keys>"


# --- encrypted file --------------------------------------------------------------------------


class FileKeyStore(_KeyRing):
    """Master keys in an SM4-GCM encrypted JSON file (see the module docstring)."""

    def __init__(self, path: str | Path, kek: bytes, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._cipher_key = _derive_file_key(kek)
        self._sealer = Sealer(kek)
        super().__init__(self._read(), clock or SystemClock(), random_key)

    @classmethod
    def init(
        cls,
        path: str | Path,
        kek: bytes,
        *,
        clock: Clock | None = None,
        diversification: Mapping[str, str] | None = None,
    ) -> FileKeyStore:
        """Create a new store holding version 1 of every purpose (refuses to overwrite one)."""
        path = Path(path)
        if path.exists():
            raise Conflict(zh=f"密钥库已存在：{path}", en=f"A key store already exists at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        ring = _KeyRing([], clock or SystemClock(), random_key)
        ring._populate(diversification)
        _write_encrypted(path, _derive_file_key(kek), ring._keys)
        return cls(path, kek, clock=clock)

    def rotate(self, purpose: str, algorithm: str | None = None) -> KeyInfo:
        with self._updating():
            return super().rotate(purpose, algorithm)

    def set_status(self, purpose: str, algorithm: str, version: int, status: str) -> KeyInfo:
        with self._updating():
            return super().set_status(purpose, algorithm, version, status)

    @contextlib.contextmanager
    def _updating(self) -> Iterator[None]:
        """Re-read under an exclusive lock, change, write back: concurrent rotations serialise."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._keys = self._read()
                before = list(self._keys)
                try:
                    yield
                except BaseException:
                    self._keys = before
                    raise
                _write_encrypted(self.path, self._cipher_key, self._keys)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> list[MasterKey]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _locked(f"no key store at {self.path}; run `ykt keys init`", f"密钥库不存在：{self.path}，请先执行 ykt keys init") from None
        except (OSError, ValueError):
            raise _locked(f"key store {self.path} is unreadable", f"密钥库 {self.path} 无法读取") from None
        header = {name: document.get(name) for name in _HEADER}
        if header != _HEADER:
            raise _locked(f"{self.path} is not a {FILE_FORMAT} file", f"{self.path} 不是密钥库文件")
        try:
            plaintext = _decrypt(self._cipher_key, bytes.fromhex(document["nonce"]), bytes.fromhex(document["ciphertext"]))
        except (InvalidTag, ValueError, KeyError):
            raise _locked(
                "wrong key-encryption key, or the key store file was altered",
                "密钥加密密钥错误，或密钥库文件已被篡改",
            ) from None
        return [_key_from_record(record) for record in json.loads(plaintext)["keys"]]

    def __repr__(self) -> str:
        return f"<FileKeyStore {self.path}>"


def _derive_file_key(kek: bytes) -> bytes:
    if len(kek) != KEK_LENGTH:
        raise _locked("the key-encryption key must be 32 bytes", "密钥加密密钥须为 32 字节")
    return HKDF(hashes.SM3(), 16, salt=None, info=b"yikatong keystore SM4-GCM v1").derive(kek)


def _aad() -> bytes:
    return json.dumps(_HEADER, sort_keys=True).encode()


def _encrypt(key: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    nonce = secrets.token_bytes(12)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(_aad())
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return nonce, ciphertext + encryptor.tag


def _decrypt(key: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    if len(ciphertext) < 16:
        raise ValueError("ciphertext too short")
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, ciphertext[-16:])).decryptor()
    decryptor.authenticate_additional_data(_aad())
    return decryptor.update(ciphertext[:-16]) + decryptor.finalize()


def _write_encrypted(path: Path, cipher_key: bytes, keys: list[MasterKey]) -> None:
    plaintext = json.dumps({"keys": [_key_to_record(k) for k in keys]}).encode()
    nonce, ciphertext = _encrypt(cipher_key, plaintext)
    document = {**_HEADER, "nonce": nonce.hex(), "ciphertext": ciphertext.hex()}
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # mkstemp made it 0600
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _key_to_record(key: MasterKey) -> dict:
    return {
        "purpose": key.purpose,
        "algorithm": key.algorithm,
        "version": key.version,
        "status": key.status.value,
        "created_at": key.created_at.isoformat(),
        "diversification": list(key.diversification.factors),
        "key": key.key.hex(),
        "public_key": key.public_key.hex() if key.public_key else None,
    }


def _key_from_record(record: dict) -> MasterKey:
    purpose_spec(record["purpose"])
    return MasterKey(
        purpose=record["purpose"],
        version=int(record["version"]),
        algorithm=record["algorithm"],
        status=KeyStatus(record["status"]),
        created_at=datetime.fromisoformat(record["created_at"]),
        diversification=Diversification(tuple(record["diversification"])),
        key=bytes.fromhex(record["key"]),
        public_key=bytes.fromhex(record["public_key"]) if record.get("public_key") else None,
    )


# --- the key-encryption key ------------------------------------------------------------------


def parse_kek(text: str, *, source: str) -> bytes:
    try:
        kek = bytes.fromhex(text.strip())
    except ValueError:
        kek = b""
    if len(kek) != KEK_LENGTH:
        raise _locked(f"{source} must hold 64 hex characters (32 bytes)", f"{source} 须为 64 个十六进制字符（32 字节）")
    return kek


def read_kek_file(path: str | Path) -> bytes:
    """The KEK from a file only its owner can read (refused when group/others have any access)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _locked(f"KEK file {path} does not exist", f"密钥加密密钥文件 {path} 不存在") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _locked(
            f"KEK file {path} has permissions {stat.S_IMODE(mode):04o}; it must be 0600 (chmod 600 {path})",
            f"密钥加密密钥文件 {path} 权限为 {stat.S_IMODE(mode):04o}，必须为 0600",
        )
    return parse_kek(path.read_text(encoding="ascii", errors="replace"), source=f"KEK file {path}")


def create_kek_file(path: str | Path) -> bytes:
    """Write a new random KEK (hex) to `path` with mode 0600; refuses to overwrite."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kek = secrets.token_bytes(KEK_LENGTH)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(kek.hex() + "\n")
    return kek


def kek_from_env(env: Mapping[str, str] | None = None) -> bytes | None:
    """The KEK from YKT_KEK (hex) or YKT_KEK_FILE, or None when neither is set."""
    env = os.environ if env is None else env
    if env.get("YKT_KEK"):
        return parse_kek(env["YKT_KEK"], source="YKT_KEK")
    if env.get("YKT_KEK_FILE"):
        return read_kek_file(env["YKT_KEK_FILE"])
    return None
