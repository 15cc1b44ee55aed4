"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from sqlalchemy import inspect
from tests.core import schema_snapshots

from yikatong.db.engine import make_engine
from yikatong.db.migrate import pending_differences, upgrade
from yikatong.db.registry import load_all_models

pytestmark = pytest.mark.db


def test_upgrade_to_head_matches_the_models(empty_database):
    engine = make_engine(empty_database)
    upgrade(engine)
    assert pending_differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in load_all_models().sorted_tables} <= tables
    upgrade(engine)  # a second upgrade is a no-op
    engine.dispose()


FROZEN_ROWS = Path(__file__).parent / "data" / "rows-at-0001.json.gz"


def test_a_first_release_database_upgrades_to_head_with_nothing_lost(empty_database, tmp_path):
    """Revision 0001 is the first release's schema, frozen: a database at it holding rows in
    every state the journeys reach (applications, cards lost, replaced, exchanged, retired;
    wallets, top-ups, clearing, refunds; bank accounts held, closed; e-cards, corrections…)
    upgrades to head with every row and every value it had still there, and the platform reads
    it. A later revision that drops or mangles data fails here."""
    from yikatong.cards.service import get_card
    from yikatong.core.settings import Settings
    from yikatong.platform import Platform

    rows = schema_snapshots.read(FROZEN_ROWS)
    engine = make_engine(empty_database)
    upgrade(engine, "0001")
    schema_snapshots.restore(engine, rows)
    upgrade(engine)
    assert pending_differences(engine) == []

    upgraded = schema_snapshots.snapshot(engine)
    for table, before_rows in rows.items():
        after_rows = upgraded.get(table, [])
        assert len(after_rows) == len(before_rows), f"{table}: rows lost or added"
        for before, after in zip(before_rows, after_rows, strict=True):
            for column, value in before.items():
                assert column in after, f"{table}.{column} is gone"
                assert _plain(after[column]) == _plain(value), f"{table}.{column} changed"
    engine.dispose()

    platform = Platform(Settings(database_url=empty_database,
                                 key_store_path=str(tmp_path / "keystore.json")))
    with platform.uow() as uow:
        cards = [get_card(uow=uow, card_no=row["card_no"]) for row in rows["cards"]]
    assert {card.state for card in cards} >= {"in_use", "retired", "cancelled"}
    platform.engine.dispose()


def _plain(value):
    return schema_snapshots.comparable(schema_snapshots._untag(value))


# Released revisions, by the SHA-256 of their file: a deployed database was built by exactly
# this text, so it is never edited again (a schema change is a new revision).
RELEASED_REVISIONS = {
    "0001_initial_schema.py": "ae00462379f70356456cfa8d031101a4b0b9f5c9f106e2bd25eb69e0ee610fa7",
}


@pytest.mark.no_db
@pytest.mark.parametrize("name", sorted(RELEASED_REVISIONS))
def test_a_released_revision_is_never_edited(name):
    import hashlib

    from yikatong.db.migrate import MIGRATIONS

    text = (MIGRATIONS / "versions" / name).read_bytes()
    assert hashlib.sha256(text).hexdigest() == RELEASED_REVISIONS[name], (
        f"{name} was released and is frozen: add a new revision (scripts/new-migration.sh)")
