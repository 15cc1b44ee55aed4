"""Checkpoints taken while records are being written, the scheduled check and its alert, the
admin's read of the last result, and personal data kept out of before/after images."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import select

from tests.audit import helpers
from tests.conftest import ONLY_ON_POSTGRES, wait_for_a_lock_wait
from yikatong.audit import service
from yikatong.audit.jobs import JOBS, checkpoint_and_verify_recent, take_checkpoint
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Role
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.events.models import OutboxEvent
from yikatong.worker.runner import all_jobs

pytestmark = pytest.mark.db


def verify(platform, from_checkpoint=None):
    with platform.uow() as uow:
        return service.verify_trail(uow=uow, keys=platform.get(KeyStore), from_checkpoint=from_checkpoint)


@ONLY_ON_POSTGRES
def test_a_record_committed_after_the_checkpoint_began_is_not_taken_for_tampering(platform):
    """A writer holds an uncommitted record (a lower id) while a later one commits: the
    checkpoint waits for it instead of setting its bound past a record it cannot see."""
    helpers.write(platform, "A", "new")
    holder = platform.uow().__enter__()
    held = holder.audit(actor=helpers.ACTOR, action="card.change", entity_type="card",
                        entity_id="B", after={"state": "new"})
    holder.session.flush()
    later = helpers.write(platform, "C", "new")[0]
    assert held.id < later
    made = {}
    checkpointing = threading.Thread(target=lambda: made.update(checkpoint=take_checkpoint(platform)))
    checkpointing.start()
    wait_for_a_lock_wait(platform)
    holder.commit()
    holder.session.close()
    checkpointing.join(timeout=30)

    checkpoint = made["checkpoint"]
    assert checkpoint.upto_record_id >= later and checkpoint.chain_count == 3
    helpers.write(platform, "B", "active")
    take_checkpoint(platform)
    report = verify(platform)
    assert report.ok, [p.as_dict() for p in report.problems]


def test_the_scheduled_job_checkpoints_verifies_and_raises_the_alert(platform, caplog, login, client):
    assert {job.name for job in JOBS} <= {job.name for job in all_jobs()}
    helpers.write(platform, "A", "new", "active")
    assert checkpoint_and_verify_recent(platform) == 2
    with platform.uow() as uow:
        first = service.last_verification(uow=uow)
    assert first.ok and first.to_checkpoint == 1 and first.triggered_by == "job:audit.verify_recent"

    helpers.write(platform, "A", "lost")
    helpers.write(platform, "B", "new")
    checkpoint_and_verify_recent(platform)  # checkpoint 2 vouches for A's seq 3
    helpers.delete_newest(platform, "A")
    with caplog.at_level(logging.ERROR, logger="yikatong.audit.jobs"):
        checkpoint_and_verify_recent(platform)
    assert "AUDIT TRAIL TAMPERED" in caplog.text and "card:A seq 3" in caplog.text
    with platform.uow() as uow:
        alert = uow.session.execute(select(OutboxEvent).where(
            OutboxEvent.type == service.FAILED_EVENT)).scalar_one()
        failed = service.last_verification(uow=uow)
    assert not failed.ok and (failed.from_checkpoint, failed.to_checkpoint) == (1, 2)
    assert alert.payload["first_problem"]["kind"] == "missing_record"
    assert alert.payload["first_problem"]["entity_id"] == "A"

    response = client.get("/api/v1/audit/verifications/latest", headers=login(Role.ADMIN))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["ok"], body["first_problem"]["seq"]) == (failed.id, False, 3)
    for role in (Role.SS_OUTLET, Role.PHONE_AGENT, Role.BANK, Role.HOLDER):
        assert client.get("/api/v1/audit/verifications/latest", headers=login(role)).status_code == 403
    assert client.get("/api/v1/audit/verifications/latest").status_code == 401


def test_personal_data_is_masked_in_every_image_and_the_hash_covers_what_is_stored(platform):
    person = {"name": "周晓冬", "ssn": "320402199001010013", "phone": "13812345678",
              "address": "江苏省常州市天宁区延陵西路 88 号", "birth_date": "1990-01-01",
              "photo_base64": "/9j/4AAQSkZJRg==", "gender": "female"}
    with platform.uow() as uow:
        uow.audit(actor=helpers.ACTOR, action="person.correct", entity_type="person", entity_id=1,
                  before=person, after={"person_id": 1, "before": person, "changes": [person]},
                  reason="ID 320402199001010013 misread")
        uow.commit()
    with platform.uow() as uow:
        record = uow.session.execute(select(AuditRecord)).scalar_one()
    stored = str([record.before, record.after, record.reason])
    for secret in ("晓冬", "199001010013", "12345678", "延陵西路", "01-01", "4AAQ"):
        assert secret not in stored, secret
    assert record.before["ssn"] == "320402********0013" and record.before["name"] == "周*冬"
    assert record.after["changes"][0]["phone"] == "138****5678" and record.before["gender"] == "female"
    assert record.reason == "ID 320402********0013 misread"
    assert verify(platform).ok


@pytest.mark.no_db
def test_a_key_store_made_before_audit_signing_existed_gets_it_by_rotation():
    store = InMemoryKeyStore(seed=b"old store")
    store._keys = [key for key in store._keys if key.purpose != "audit_signing"]  # as made before
    info = store.rotate("audit_signing")
    assert (info.version, info.algorithm, info.status) == (1, "SM2", "active")
    assert store.rotate("audit_signing").version == 2


def test_the_daily_job_reads_everything_present_and_catches_an_old_rewrite(platform):
    from yikatong.audit.jobs import verify_everything_present

    helpers.write(platform, "A", "new", "active")
    checkpoint_and_verify_recent(platform)
    helpers.write(platform, "A", "lost")
    checkpoint_and_verify_recent(platform)
    checkpoint_and_verify_recent(platform)  # the recent check now starts at checkpoint 1
    helpers.rewrite_and_rehash(platform, "A", 1)
    with platform.uow() as uow:
        assert service.recent_start(uow=uow) == 1
    verify_everything_present(platform)
    with platform.uow() as uow:
        failed = service.last_verification(uow=uow)
    assert (failed.ok, failed.from_checkpoint, failed.triggered_by) == (False, None, "job:audit.verify_all")
    assert failed.first_problem["kind"] == "rewritten" and failed.first_problem["seq"] == 2
