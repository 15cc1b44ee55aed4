"""Errors of the audit trail's checkpoints and verification."""

from __future__ import annotations

from yikatong.core.errors import Conflict, NotFound


class CheckpointNotFound(NotFound):
    code = "audit_checkpoint_not_found"
    zh = "审计检查点 {checkpoint} 不存在"
    en = "Audit checkpoint {checkpoint} does not exist"

    def __init__(self, checkpoint: int) -> None:
        super().__init__(checkpoint=checkpoint, what=f"checkpoint {checkpoint}")


class CheckpointRace(Conflict):
    code = "audit_checkpoint_race"
    zh = "另一个审计检查点刚刚生成，本次未生成"
    en = "Another audit checkpoint was made at the same moment; this one was not"


class AuditWritersBusy(Conflict):
    code = "audit_writers_busy"
    zh = "审计记录写入繁忙，未能取得检查点快照，请稍后重试"
    en = "Audit writers kept the table busy; no checkpoint snapshot was taken, try again later"
