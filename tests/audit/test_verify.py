"""Checkpoints make tampering with the audit trail visible: rewriting a record and re-hashing its
chain, deleting the newest record, swapping two, dropping a whole chain. `ykt audit verify`
(and the service under it) names the first bad record; what was written after a checkpoint,
or archived before the starting one, verifies fine."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from tests.audit import helpers
from tests.conftest import cli_on
from yikatong.audit import service
from yikatong.audit.jobs import take_checkpoint
from yikatong.audit.models import AuditCheckpointHead
from yikatong.crypto.protocols import KeyStore

pytestmark = pytest.mark.db


def verify(platform, from_checkpoint=None):
    with platform.uow() as uow:
        return service.verify_trail(uow=uow, keys=platform.get(KeyStore), from_checkpoint=from_checkpoint)


@pytest.fixture
def trail(platform):
    """Chains A (3 records), B (2) and C (1) under checkpoint 1 (after A's first record) and
    checkpoint 2; then A's 4th record and a new chain D, written after both."""
    ids = {"A": helpers.write(platform, "A", "new")}
    assert take_checkpoint(platform).seq == 1
    ids["A"] += helpers.write(platform, "A", "active", "lost")
    ids["B"] = helpers.write(platform, "B", "new", "active")
    ids["C"] = helpers.write(platform, "C", "new")
    assert take_checkpoint(platform).seq == 2
    ids["A"] += helpers.write(platform, "A", "found")
    ids["D"] = helpers.write(platform, "D", "new")
    return ids


def test_an_untouched_trail_and_the_records_after_the_newest_checkpoint_verify(platform, trail):
    report = verify(platform)
    assert report.ok, [p.as_dict() for p in report.problems]
    assert (report.chains, report.records, report.to_checkpoint) == (4, 8, 2)
    assert verify(platform, from_checkpoint=2).ok and verify(platform, from_checkpoint=1).ok


# attack, then (entity, seq, kind) of the first bad record the report must name
ATTACKS = {
    # A's seq 2 forged, seq 2 and 3 re-hashed: every link holds, but checkpoint 2 vouched
    # another hash for seq 3; checkpoint 1 vouched seq 1, so the rewrite lies in seq 2..3.
    "rewrite and re-hash": (lambda p: helpers.rewrite_and_rehash(p, "A", 2), ("A", 3, "rewritten")),
    "rewrite the vouched head": (lambda p: helpers.rewrite_and_rehash(p, "B", 2), ("B", 2, "rewritten")),
    "delete the newest record": (lambda p: helpers.delete_newest(p, "B"), ("B", 2, "missing_record")),
    "swap two records": (lambda p: helpers.swap_positions(p, "A", 2, 3), ("A", 2, "broken_link")),
    "swap two records' ids": (lambda p: helpers.swap_ids(p, "A", 2, 3), ("A", 3, "out_of_order")),
    "drop a whole chain": (lambda p: helpers.drop_chain(p, "C"), ("C", 1, "missing_chain")),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_verify_names_the_first_bad_record(platform, trail, attack, monkeypatch):
    tamper, (entity, seq, kind) = ATTACKS[attack]
    tamper(platform)

    report = verify(platform)
    first = report.first_problem
    assert not report.ok
    assert (first.entity_id, first.seq, first.kind) == (entity, seq, kind), first.as_dict()
    if kind == "rewritten" and entity == "A":
        assert dict(first.facts)["since_seq"] == 2
    if kind != "missing_chain":  # the checkpoint knew the head's id; the record's own id otherwise
        assert first.record_id in trail[entity]

    run = cli_on(platform, monkeypatch)
    result = run("audit", "verify")
    assert result.exit_code == 1, result.output
    assert f"card:{entity} seq {seq}" in result.output and first.message_en[:40] in result.output
    with platform.uow() as uow:
        recorded = service.last_verification(uow=uow)
    assert not recorded.ok and recorded.first_problem["kind"] == kind


def test_the_cli_says_intact_and_exits_zero_when_nothing_was_touched(platform, trail, monkeypatch):
    run = cli_on(platform, monkeypatch)
    result = run("audit", "verify")
    assert result.exit_code == 0 and "intact" in result.output, result.output
    made = run("audit", "checkpoint")
    assert made.exit_code == 0 and "checkpoint 3" in made.output
    assert run("audit", "verify", "--from", 3).exit_code == 0
    unknown = run("audit", "verify", "--from", 9)
    assert unknown.exit_code == 1 and "audit_checkpoint_not_found" in unknown.output


def test_archived_records_before_the_starting_checkpoint_need_not_be_present(platform, trail):
    with platform.uow() as uow:
        first = service.latest_checkpoint(uow=uow)
        assert first.seq == 2
    helpers.archive_up_to(platform, first.upto_record_id)

    assert verify(platform).first_problem.kind == "gap"  # from the very start: records are missing
    assert verify(platform, from_checkpoint=2).ok  # checkpoint 2 vouches for the heads it names
    with platform.uow() as uow:
        assert service.archive_point(uow=uow) == 2

    helpers.rewrite_and_rehash(platform, "A", 4)  # written after checkpoint 2: only its link is
    helpers.write(platform, "A", "after the rewrite")  # checked, and that still holds...
    assert verify(platform, from_checkpoint=2).ok
    take_checkpoint(platform)
    helpers.delete_newest(platform, "A")  # ...but what checkpoint 3 saw it vouches for
    first = verify(platform, from_checkpoint=2).first_problem
    assert (first.entity_id, first.seq, first.kind, first.checkpoint) == ("A", 5, "missing_record", 3)


def test_a_forged_checkpoint_does_not_verify_without_the_signing_key(platform, trail):
    """The insider re-hashes the chain and also fixes the checkpoint's head row, root and hash."""
    from yikatong.audit.rules import Head, changes_root, checkpoint_hash

    helpers.rewrite_and_rehash(platform, "C", 1)
    with helpers.as_database_owner(platform) as connection:
        new_hash = helpers.chain(connection, "C")[0]["hash"]
        connection.execute(text("UPDATE audit_checkpoint_heads SET hash = :h WHERE entity_id = 'C'"),
                           {"h": new_hash})
    with platform.uow() as uow:
        heads = [Head(h.entity_type, h.entity_id, h.seq, h.hash, h.record_id) for h in uow.session.execute(
            select(AuditCheckpointHead).where(AuditCheckpointHead.checkpoint_seq == 2)).scalars()]
        checkpoint = service.latest_checkpoint(uow=uow)
        fields = {name: getattr(checkpoint, name) for name in (
            "seq", "at", "upto_record_id", "record_count", "chain_count", "changed_count",
            "changes_root", "prev_hash", "key_version")}
    fields["changes_root"] = changes_root(heads)
    with helpers.as_database_owner(platform) as connection:
        connection.execute(text("UPDATE audit_checkpoints SET changes_root = :r, hash = :h WHERE seq = 2"),
                           {"r": fields["changes_root"], "h": checkpoint_hash(fields)})

    first = verify(platform).first_problem
    assert (first.kind, first.checkpoint) == ("checkpoint_signature", 2), first.as_dict()


def test_deleting_the_newest_checkpoints_after_a_verification_saw_them_is_reported(platform, trail):
    with platform.uow() as uow:
        service.record_verification(uow=uow, report=verify(platform), triggered_by="test")
        uow.commit()
    with helpers.as_database_owner(platform) as connection:
        connection.execute(text("DELETE FROM audit_checkpoint_heads WHERE checkpoint_seq = 2"))
        connection.execute(text("DELETE FROM audit_checkpoints WHERE seq = 2"))
    first = verify(platform).first_problem
    assert (first.kind, first.checkpoint) == ("checkpoint_missing", 2)


# --- checkpoints exported outside the database ----------------------------------------------


def test_an_exported_checkpoint_catches_the_newest_records_deleted_with_their_checkpoints(
        platform, trail, tmp_path, monkeypatch):
    """The database owner deletes the newest record, the checkpoint that vouched for it and
    every verification row: the database alone looks intact, the copy outside it does not."""
    run, outside = cli_on(platform, monkeypatch), tmp_path / "elsewhere"
    assert run("audit", "checkpoint", "--export", outside).exit_code == 0  # checkpoint 3
    assert sorted(p.name for p in outside.iterdir()) == ["checkpoint-00000003.json"]
    assert run("audit", "verify", "--against", outside).exit_code == 0
    helpers.delete_newest(platform, "D")
    with helpers.as_database_owner(platform) as connection:
        for table in ("audit_checkpoint_heads", "audit_verifications"):
            column = "checkpoint_seq" if table == "audit_checkpoint_heads" else "to_checkpoint"
            connection.execute(text(f"DELETE FROM {table} WHERE {column} >= 3"))
        connection.execute(text("DELETE FROM audit_checkpoints WHERE seq = 3"))
    assert verify(platform).ok  # what the database still holds agrees with itself
    caught = run("audit", "verify", "--against", outside / "checkpoint-00000003.json")
    assert caught.exit_code == 1 and "exported outside" in caught.output, caught.output


def test_a_rewritten_checkpoint_differs_from_its_export_and_a_forged_export_is_no_witness(platform, trail, tmp_path):
    with platform.uow() as uow:
        document = service.checkpoint_document(service.latest_checkpoint(uow=uow))
    forged = {**document, "record_count": document["record_count"] + 1}
    with platform.uow() as uow:
        report = service.verify_trail(uow=uow, keys=platform.get(KeyStore), witness=forged)
    assert [p.kind for p in report.problems] == ["export_signature"]
    with helpers.as_database_owner(platform) as connection:
        connection.execute(text("UPDATE audit_checkpoints SET signature = :s WHERE seq = 2"),
                           {"s": "00" * 64})
    with platform.uow() as uow:
        report = service.verify_trail(uow=uow, keys=platform.get(KeyStore), witness=document)
    assert "export_differs" in [p.kind for p in report.problems]


def test_the_checkpoint_job_exports_where_the_setting_says(platform, trail, tmp_path, monkeypatch):
    from dataclasses import replace

    outside = tmp_path / "elsewhere"
    monkeypatch.setattr(platform, "settings", replace(platform.settings, audit_checkpoint_dir=str(outside)))
    helpers.write(platform, "E", "new")
    checkpoint = take_checkpoint(platform)
    assert (outside / f"checkpoint-{checkpoint.seq:08d}.json").exists()
