"""Settings from the environment (YKT_*), with defaults that need nothing installed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_database_url() -> str:
    return f"sqlite:///{Path('var/yikatong.db').resolve()}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_database_url)
    nats_url: str | None = None
    # How many servers of a NATS cluster hold each stream the platform creates: 1 for a
    # single server, 3 on a three-node cluster (docs/partner-events.md).
    nats_replicas: int = 1
    host: str = "127.0.0.1"
    port: int = 8000
    token_ttl_minutes: int = 480
    key_store_path: str = "var/keystore.json"
    key_encryption_key: str | None = None
    key_encryption_key_file: str | None = None
    chip_store_path: str | None = None  # None: YKT_CHIP_DIR, else var/chips
    # The reference bank keeps its own database (on SQLite it must be a separate file:
    # the platform calls the bank from inside its own transaction).
    bank_database_url: str | None = None
    # The bank file drop (代发 files to the banks and their result files back, as over SFTP):
    # `<dir>/<bank_code>/to_bank/` and `/from_bank/` (docs/bank-files.md). None: var/bank-files.
    bank_files_dir: str | None = None
    # "development" (the default, so `make run` works on a fresh machine) or "production":
    # production refuses development conveniences (demo logins, synthetic identity checks,
    # a development SMS outbox, a movable clock) and insists on real keys.
    environment: str = "development"
    # Real-name sign-in over OpenID Connect (docs/realname-oidc.md). With an issuer set, holder
    # real-name checks verify the provider's signed ID tokens instead of the synthetic check.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None  # none: a public client (PKCE only)
    oidc_redirect_uri: str | None = None   # none: the platform's own /api/v1/oidc/callback
    oidc_name_claim: str = "name"
    oidc_id_number_claim: str = "https://yikatong.example/claims/id_number"
    # Login, sign-up and call throttling (auth/throttle.py): limits per rule overriding its
    # documented defaults ("login_user=5 per 15 minutes; ..."); off only outside production.
    throttle_limits: str | None = None
    throttle_enabled: bool = True
    # Where every audit checkpoint is also written (write-once storage, another host): the
    # scheduled verification checks the database still holds the newest one (docs/audit.md).
    audit_checkpoint_dir: str | None = None
    # Signs the pages' CSRF tokens (pages.sessions). Every worker must share it; production
    # refuses to start without one of its own (the development value is public).
    page_secret: str | None = None
    # Where old months of the time-partitioned tables are archived (db.archive); unset: the
    # worker archives nothing.
    archive_dir: str | None = None

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env.get("YKT_DATABASE_URL") or _default_database_url(),
            nats_url=env.get("YKT_NATS_URL") or None,
            nats_replicas=int(env.get("YKT_NATS_REPLICAS") or "1"),
            host=env.get("YKT_HOST", "127.0.0.1"),
            port=int(env.get("YKT_PORT", "8000")),
            token_ttl_minutes=int(env.get("YKT_TOKEN_TTL_MINUTES", "480")),
            key_store_path=env.get("YKT_KEY_STORE", "var/keystore.json"),
            key_encryption_key=env.get("YKT_KEK") or None,
            key_encryption_key_file=env.get("YKT_KEK_FILE") or None,
            chip_store_path=env.get("YKT_CHIP_DIR") or None,
            bank_database_url=env.get("YKT_BANK_DATABASE_URL") or None,
            bank_files_dir=env.get("YKT_BANK_FILES_DIR") or None,
            environment=env.get("YKT_ENV", "development").strip().lower() or "development",
            oidc_issuer=env.get("YKT_OIDC_ISSUER") or None,
            oidc_client_id=env.get("YKT_OIDC_CLIENT_ID") or None,
            oidc_client_secret=env.get("YKT_OIDC_CLIENT_SECRET") or None,
            oidc_redirect_uri=env.get("YKT_OIDC_REDIRECT_URI") or None,
            oidc_name_claim=env.get("YKT_OIDC_NAME_CLAIM") or cls.oidc_name_claim,
            oidc_id_number_claim=env.get("YKT_OIDC_ID_NUMBER_CLAIM") or cls.oidc_id_number_claim,
            throttle_limits=env.get("YKT_THROTTLE_LIMITS") or None,
            throttle_enabled=env.get("YKT_THROTTLE", "on").strip().lower() != "off",
            audit_checkpoint_dir=env.get("YKT_AUDIT_CHECKPOINT_DIR") or None,
            page_secret=env.get("YKT_PAGE_SECRET") or None,
            archive_dir=env.get("YKT_ARCHIVE_DIR") or None,
        )
