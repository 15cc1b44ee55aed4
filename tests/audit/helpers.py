"""Writing audit records, and the attacks of someone who can change the database directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from yikatong.audit.models import APPEND_ONLY_TABLES, sqlite_triggers
from yikatong.audit.rules import record_hash
from yikatong.core.actor import Actor

ACTOR = Actor.system("test")
COLUMNS = ("id", "at", "actor_id", "role", "channel", "action", "entity_type", "entity_id",
           "seq", "before", "after", "reason", "prev_hash", "hash")


def write(platform, entity_id: str, *states: str, entity_type: str = "card") -> list[int]:
    """One committed audit record per state on the chain (entity_type, entity_id); their ids."""
    ids = []
    for state in states:
        with platform.uow() as uow:
            record = uow.audit(actor=ACTOR, action="card.change", entity_type=entity_type,
                               entity_id=entity_id, after={"state": state})
            uow.commit()
        ids.append(record.id)
    return ids


@contextmanager
def as_database_owner(platform) -> Iterator[Connection]:
    """A connection that gets past the append-only triggers, as the database owner could:
    on PostgreSQL triggers off for this session, on SQLite the triggers dropped and remade."""
    with platform.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            yield connection
            return
        names = [row[0] for row in connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'"))]
        for name in names:
            connection.execute(text(f"DROP TRIGGER {name}"))
        yield connection
        for table in APPEND_ONLY_TABLES:
            for statement in sqlite_triggers(table):
                connection.execute(text(statement))


def chain(connection: Connection, entity_id: str, entity_type: str = "card") -> list[dict]:
    rows = connection.execute(text(
        f"SELECT {', '.join(COLUMNS)} FROM audit_records WHERE entity_type = :t AND entity_id = :e "
        "ORDER BY seq"), {"t": entity_type, "e": entity_id})
    return [_loaded(row._asdict()) for row in rows]


def _loaded(row: dict) -> dict:
    import json
    from datetime import UTC, datetime

    for name in ("before", "after"):
        if isinstance(row[name], str):
            row[name] = json.loads(row[name])
    if isinstance(row["at"], str):  # SQLite hands back text
        row["at"] = datetime.fromisoformat(row["at"]).replace(tzinfo=UTC)
    row["at"] = row["at"].astimezone(UTC)
    return row


def rewrite_and_rehash(platform, entity_id: str, seq: int) -> int:
    """Change record `seq` and re-hash it and every later record of its chain, as an insider
    covering their tracks would; the id of the changed record."""
    import json

    with as_database_owner(platform) as connection:
        records = [r for r in chain(connection, entity_id) if r["seq"] >= seq]
        prev = records[0]["prev_hash"]
        for record in records:
            if record["seq"] == seq:
                record["after"] = {"state": "forged"}
            record["prev_hash"] = prev
            record["hash"] = prev = record_hash(record)
            json_value = "CAST(:after AS JSON)" if connection.dialect.name == "postgresql" else ":after"
            connection.execute(text(
                f"UPDATE audit_records SET after = {json_value}, prev_hash = :prev_hash, hash = :hash "
                "WHERE id = :id"),
                {"after": json.dumps(record["after"]), "prev_hash": record["prev_hash"],
                 "hash": record["hash"], "id": record["id"]})
        return records[0]["id"]


def delete_newest(platform, entity_id: str) -> int:
    with as_database_owner(platform) as connection:
        newest = chain(connection, entity_id)[-1]
        connection.execute(text("DELETE FROM audit_records WHERE id = :id"), {"id": newest["id"]})
        return newest["id"]


def swap_positions(platform, entity_id: str, seq_a: int, seq_b: int) -> None:
    """Records seq_a and seq_b trade places in their chain."""
    with as_database_owner(platform) as connection:
        records = {r["seq"]: r["id"] for r in chain(connection, entity_id)}
        for record_id, seq in ((records[seq_a], -1), (records[seq_b], seq_a), (records[seq_a], seq_b)):
            connection.execute(text("UPDATE audit_records SET seq = :seq WHERE id = :id"),
                               {"seq": seq, "id": record_id})


def swap_ids(platform, entity_id: str, seq_a: int, seq_b: int) -> None:
    """Two records of a chain trade ids (each keeps its content and hash)."""
    with as_database_owner(platform) as connection:
        records = {r["seq"]: r["id"] for r in chain(connection, entity_id)}
        a, b = records[seq_a], records[seq_b]
        for old, new in ((a, -a), (b, a), (-a, b)):
            connection.execute(text("UPDATE audit_records SET id = :new WHERE id = :old"),
                               {"new": new, "old": old})


def drop_chain(platform, entity_id: str) -> None:
    with as_database_owner(platform) as connection:
        connection.execute(text("DELETE FROM audit_records WHERE entity_id = :e"), {"e": entity_id})


def archive_up_to(platform, upto_record_id: int) -> None:
    with as_database_owner(platform) as connection:
        connection.execute(text("DELETE FROM audit_records WHERE id <= :id"), {"id": upto_record_id})
