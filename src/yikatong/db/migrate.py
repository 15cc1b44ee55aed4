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
    """What the models declare that the migrated schema lacks (empty when in step). On
    PostgreSQL the time partitions (db.partitioning) are expected: their partitions, and the
    partition key appended to the unique keys it names, are not differences."""
    metadata = load_all_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    if engine.dialect.name == "postgresql":
        differences = _without_partitioning(differences)
    return differences


def _without_partitioning(differences: list) -> list:
    from yikatong.db.partitioning import BY_TABLE, UNIQUE_WITH_KEY

    def table_of(difference) -> str | None:
        item = difference[1] if isinstance(difference, tuple) and len(difference) > 1 else None
        if hasattr(item, "table") and item.table is not None:
            return item.table.name
        return getattr(item, "name", None) if difference[0] == "remove_table" else None

    def columns(item) -> list[str]:
        return [column.name for column in item.columns]

    def is_partition(name: str | None) -> bool:
        return any(name and name.startswith(f"{table}_p") and name != table for table in BY_TABLE)

    kept, pairs = [], {}
    for difference in differences:
        if not isinstance(difference, tuple):
            kept.append(difference)
            continue
        table = table_of(difference)
        if is_partition(table):
            continue
        item = difference[1]
        if (difference[0] in ("remove_constraint", "add_constraint", "remove_index", "add_index")
                and table in UNIQUE_WITH_KEY and _name(item, table) in UNIQUE_WITH_KEY[table]):
            pairs.setdefault((table, _name(item, table)), {})[difference[0].split("_")[0]] = (difference, columns(item))
            continue
        kept.append(difference)
    for (table, _), sides in pairs.items():
        removed, added = sides.get("remove"), sides.get("add")
        if removed and added and removed[1] == [*added[1], BY_TABLE[table].key]:
            continue  # the declared key, with the partition key appended: as expected
        kept.extend(side[0] for side in sides.values())
    return kept


def _name(item, table: str) -> str | None:
    """A unique constraint's name; a reflected one compared by columns has the conventional
    name of its declared twin."""
    if item.name:
        return item.name
    declared = [c.name for c in item.columns]
    from yikatong.db.partitioning import BY_TABLE

    key = BY_TABLE[table].key
    plain = declared[:-1] if declared and declared[-1] == key else declared
    return f"uq_{table}_{'_'.join(plain)}"


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between models and schema (developers)."""
    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
