"""Background work of the audit trail, run by `ykt worker`: a checkpoint of every chain's head
followed by a check of what the last good check's newest checkpoint vouched for and
everything since (every 15 minutes), and a check of
everything present (daily). A failed check is the alert: a logged error, an
`audit_verifications` row an admin reads (GET /api/v1/audit/verifications/latest) and the
`audit.verification_failed` event."""

from __future__ import annotations

import logging
from pathlib import Path

from yikatong.audit import service
from yikatong.audit.errors import AuditWritersBusy, CheckpointNotFound, CheckpointRace
from yikatong.audit.models import AuditCheckpoint, AuditVerification
from yikatong.audit.service import VerificationReport
from yikatong.core.actor import Actor
from yikatong.crypto.protocols import KeyStore
from yikatong.worker.runner import Job

log = logging.getLogger(__name__)


def take_checkpoint(platform) -> AuditCheckpoint | None:
    """A signed checkpoint of the chains changed since the last one (None: nothing new)."""
    with platform.uow() as uow:
        bound = service.settled_record_bound(uow=uow)
        uow.session.rollback()  # lets audit writers go on at once; the bound stays true
    with platform.uow() as uow:
        checkpoint = service.make_checkpoint(uow=uow, keys=platform.get(KeyStore), upto_record_id=bound)
        uow.commit()
    if checkpoint is not None and platform.settings.audit_checkpoint_dir:
        service.export_checkpoint(checkpoint, Path(platform.settings.audit_checkpoint_dir))
    return checkpoint


def exported_witness(platform) -> dict | None:
    """The newest checkpoint exported to YKT_AUDIT_CHECKPOINT_DIR, if it is set and holds one."""
    directory = platform.settings.audit_checkpoint_dir
    if not directory or not any(Path(directory).glob("checkpoint-*.json")):
        return None
    return service.read_witness(Path(directory))


def verify_and_record(platform, *, from_checkpoint: int | None, triggered_by: str,
                      witness: dict | None = None,
                      actor: Actor | None = None) -> tuple[VerificationReport, AuditVerification]:
    """Verify (against `witness`, else the newest exported checkpoint if there is one), keep
    the outcome, and raise the alert when the trail does not verify. A person who asked for
    it (`actor`, the card centre's audit page) is named in an audit record of its own."""
    witness = witness if witness is not None else exported_witness(platform)
    with platform.uow() as uow:
        report = service.verify_trail(uow=uow, keys=platform.get(KeyStore), from_checkpoint=from_checkpoint,
                                      witness=witness)
        verification = service.record_verification(uow=uow, report=report, triggered_by=triggered_by)
        if actor is not None:
            uow.audit(actor=actor, action="audit.verify", entity_type="audit_verification",
                      entity_id=verification.id, after={
                          "ok": verification.ok, "from_checkpoint": verification.from_checkpoint,
                          "to_checkpoint": verification.to_checkpoint, "records": verification.records})
        uow.commit()
    if not report.ok:
        first = report.first_problem
        log.error("AUDIT TRAIL TAMPERED (verification %s, %d problems): first bad record %s: %s",
                  verification.id, len(report.problems), first.where(), first.message_en)
    return report, verification


def checkpoint_and_verify_recent(platform) -> int:
    try:
        checkpoint = take_checkpoint(platform)
        if checkpoint is not None:
            log.info("audit checkpoint %s: %d chains changed", checkpoint.seq, checkpoint.changed_count)
    except (CheckpointRace, AuditWritersBusy) as error:  # the next run makes it
        log.warning("no audit checkpoint this run: %s", error.message_en)
    with platform.uow() as uow:
        start = service.recent_start(uow=uow)
    try:
        report, _ = verify_and_record(platform, from_checkpoint=start, triggered_by="job:audit.verify_recent")
    except CheckpointNotFound:  # the checkpoint the last good check reached is gone
        report, _ = verify_and_record(platform, from_checkpoint=None, triggered_by="job:audit.verify_recent")
    return report.records


def verify_everything_present(platform) -> int:
    with platform.uow() as uow:
        start = service.archive_point(uow=uow)
    report, _ = verify_and_record(platform, from_checkpoint=start, triggered_by="job:audit.verify_all")
    return report.records


JOBS = [
    Job("audit.checkpoint_and_verify_recent", every_seconds=15 * 60, run=checkpoint_and_verify_recent),
    Job("audit.verify_everything_present", every_seconds=24 * 3600, run=verify_everything_present),
]
