"""Revision 0011 records every Jiangsu card a database already knows a person held: a card
handed over was issued, a retired one also ended (四.5); its downgrade drops the record."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from yikatong.db.engine import make_engine
from yikatong.db.migrate import alembic_config, upgrade

pytestmark = pytest.mark.db

CARD_COLUMNS = (
    "card_no, person_id, kind, bank_code, card_id_code, chip_serial, pan, asn, "
    "issue_date, financial_valid_until, state, produced_at, handed_over_at, ended_at, "
    "end_reason, financial_status, updated_at, version"
)


def add_card(
    connection, n: int, *, person_id: int, state: str, handed_over: bool, ended: bool
) -> None:
    connection.execute(
        text(
            f"INSERT INTO cards ({CARD_COLUMNS}) VALUES (:card_no, :person_id, 'first', 'ICBC', "
            ":code, :chip, :pan, :asn, '2026-03-02', '2036-03-01', :state, '2026-03-02 01:00:00', "
            ":handed, :ended, :reason, 'inactive', '2026-03-05 01:00:00', 1)"
        ),
        {
            "card_no": f"M{n:08d}",
            "person_id": person_id,
            "code": f"CODE{n:028d}",
            "chip": f"CHIP{n:012d}",
            "pan": f"6212260000000{n:05d}",
            "asn": f"{n:020d}",
            "state": state,
            "handed": "2026-03-03 02:00:00" if handed_over else None,
            "ended": "2026-03-04 03:00:00" if ended else None,
            "reason": "transferred_out" if ended else None,
        },
    )


def records(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT person_id, card_no, source, recorded_by FROM jiangsu_card_records "
                    "ORDER BY source, card_no"
                )
            )
        ]


def test_cards_already_issued_or_ended_are_recorded(empty_database):
    engine = make_engine(empty_database)
    upgrade(engine, "0009")
    with engine.begin() as connection:
        add_card(connection, 1, person_id=7, state="in_use", handed_over=True, ended=False)
        add_card(connection, 2, person_id=8, state="retired", handed_over=True, ended=True)
        add_card(connection, 3, person_id=9, state="produced", handed_over=False, ended=False)
    upgrade(engine, "0011")
    assert records(engine) == [
        (8, "M00000002", "ended", "migration-0011"),
        (7, "M00000001", "issued", "migration-0011"),
        (8, "M00000002", "issued", "migration-0011"),
    ]
    columns = {c["name"] for c in inspect(engine).get_columns("bank_accounts")}
    assert {"retired_at", "retired_reason", "successor_card_no"} <= columns

    config = alembic_config(empty_database)
    with engine.begin() as connection:
        config.attributes.update(connection=connection)
        command.downgrade(config, "0009")
    assert "jiangsu_card_records" not in inspect(engine).get_table_names()
    engine.dispose()
