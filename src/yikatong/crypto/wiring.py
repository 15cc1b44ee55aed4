"""Register the crypto package's seams on the platform.

Which key store the platform gets (decided here, documented in docs/key-ceremony.md):

* `YKT_KEY_STORE=memory` → `InMemoryKeyStore` with the fixed development seed (demo only).
* a KEK configured (`YKT_KEK` hex, or `YKT_KEK_FILE`) → `FileKeyStore` at
  `Settings.key_store_path`, which must already exist (`ykt keys init`): a production
  start never invents keys.
* no KEK → development mode, so `make run` works on a fresh checkout: a random KEK file
  `kek` (0600) is created beside the key store, the store is initialised if missing, and a
  warning says this is for development only.
* in production (`YKT_ENV=production`) neither `memory` nor a missing KEK is accepted: the
  key store refuses to open (KeyStoreLocked) and no KEK file is ever created.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from yikatong.core.clock import Clock
from yikatong.core.settings import Settings
from yikatong.crypto.errors import KeyStoreLocked
from yikatong.crypto.keystore import (
    DEV_SEED,
    FileKeyStore,
    InMemoryKeyStore,
    create_kek_file,
    parse_kek,
    read_kek_file,
)
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm import check_backend

log = logging.getLogger(__name__)


def configure(platform) -> None:
    # Fail at start-up, not at the first card tap, when OpenSSL lacks SM3/SM4.
    check_backend()
    platform.provide(KeyStore, factory=lambda plat: key_store_from_settings(plat.settings, plat.clock))


def configured_kek(settings: Settings) -> bytes | None:
    """The KEK from Settings.key_encryption_key (YKT_KEK) or YKT_KEK_FILE, else None."""
    if settings.key_encryption_key:
        return parse_kek(settings.key_encryption_key, source="YKT_KEK")
    kek_file = getattr(settings, "key_encryption_key_file", None) or os.environ.get("YKT_KEK_FILE")
    return read_kek_file(kek_file) if kek_file else None


def dev_kek_path(settings: Settings) -> Path:
    return Path(settings.key_store_path).parent / "kek"


def key_store_from_settings(settings: Settings, clock: Clock | None = None) -> KeyStore:
    if settings.is_production:
        return _production_key_store(settings, clock)
    if settings.key_store_path == "memory":
        log.warning("in-memory key store with the fixed development seed: development only")
        return InMemoryKeyStore(seed=DEV_SEED, clock=clock)
    kek = configured_kek(settings)
    if kek is not None:
        return FileKeyStore(settings.key_store_path, kek, clock=clock)
    kek_path = dev_kek_path(settings)
    if kek_path.exists():
        kek = read_kek_file(kek_path)
    else:
        kek = create_kek_file(kek_path)
        log.warning("no KEK configured: created development KEK file %s (0600)", kek_path)
    if not Path(settings.key_store_path).exists():
        log.warning("initialising a development key store at %s", settings.key_store_path)
        return FileKeyStore.init(settings.key_store_path, kek, clock=clock)
    return FileKeyStore(settings.key_store_path, kek, clock=clock)


def _production_key_store(settings: Settings, clock: Clock | None) -> KeyStore:
    """The configured store under the configured KEK, or KeyStoreLocked: never a fallback."""
    if settings.key_store_path == "memory":
        raise KeyStoreLocked(reason_zh="生产环境不能使用内存密钥库（YKT_KEY_STORE=memory）",
                             reason_en="production cannot use the in-memory key store (YKT_KEY_STORE=memory)")
    kek = configured_kek(settings)
    if kek is None:
        raise KeyStoreLocked(reason_zh="生产环境须配置 YKT_KEK 或 YKT_KEK_FILE",
                             reason_en="production needs YKT_KEK or YKT_KEK_FILE")
    return FileKeyStore(settings.key_store_path, kek, clock=clock)
