"""Schema migrations with Alembic, driven from code (`ykt db upgrade`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from yikatong.db.engine import normalise_url
from yikatong.db.registry import load_all_models

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head", *, key_store: Callable[[], object] | None = None) -> None:
    """Migrate to `revision`. `key_store` gives the KeyStore a data migration seals secrets with
    (revision 0007); without it they open the one the environment configures (YKT_KEK …)."""
    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["key_store"] = key_store
        command.upgrade(config, revision)


def pending_differences(engine: Engine) -> list:
    """What the models declare that the migrated schema lacks (empty when in step)."""
    metadata = load_all_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between models and schema (developers)."""
    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
