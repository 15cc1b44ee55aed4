"""The national clearing house: files out (`export_national`, our answer to its files) and its
verdicts in."""

from __future__ import annotations

from sqlalchemy import func, select

from yikatong.clearing import fileformat, rules
from yikatong.clearing.batches import SENDER, BatchResult, batch_row, record_of_row
from yikatong.clearing.errors import (
    BatchConflict,
    BatchCountMismatch,
    BatchNotFound,
    UnknownNationalFile,
)
from yikatong.clearing.fileformat import (
    ClearingFile,
    FileKind,
    Verdict,
    VerdictLine,
    card_datetime,
)
from yikatong.clearing.models import ClearedRecord, ClearingBatch, ClearingException, RecordStatus
from yikatong.clearing.rules import Reason
from yikatong.clearing.settlement import deny_forged, post_settlements
from yikatong.core.actor import Actor
from yikatong.db.uow import UnitOfWork


def export_national(*, uow: UnitOfWork, actor: Actor) -> str | None:
    """Put every other issuer's record waiting for the house into a NATIONAL_OUT file; returns
    its file id (write it out with `file_content`), or None when nothing waits."""
    waiting = uow.session.execute(
        select(ClearedRecord).where(ClearedRecord.status == RecordStatus.PENDING_NATIONAL,
                                    ClearedRecord.national_file.is_(None))
        .order_by(ClearedRecord.batch_id, ClearedRecord.seq)).scalars().all()
    if not waiting:
        return None
    sent_before = uow.session.execute(select(func.count()).select_from(ClearingBatch).where(
        ClearingBatch.kind == FileKind.NATIONAL_OUT)).scalar_one()
    file_id = f"{rules.HOME_CITY}-NOUT-{sent_before + 1:06d}"
    records = [record_of_row(row) for row in waiting]
    for seq, row in enumerate(waiting, start=1):
        row.national_file, row.national_seq = file_id, seq
    content = fileformat.render_records(FileKind.NATIONAL_OUT, file_id, SENDER, records, created=uow.now())
    _store_sent(uow, actor, FileKind.NATIONAL_OUT, file_id, content, reference=None)
    return file_id


def acknowledge(uow: UnitOfWork, actor: Actor, batch: ClearingBatch) -> str:
    """Our answer to a NATIONAL_IN file (which of its records we accepted), stored as sent."""
    file_id = f"{rules.HOME_CITY}-NACK-{batch.id:08d}"
    _store_sent(uow, actor, FileKind.NATIONAL_ACK, file_id, _ack_content(uow, batch, file_id, uow.now()),
                reference=batch.file_id)
    return file_id


def _ack_content(uow: UnitOfWork, batch: ClearingBatch, file_id: str, created) -> str:
    refusals = {seq: reason for seq, reason in uow.session.execute(
        select(ClearingException.seq, ClearingException.reason).where(
            ClearingException.batch_id == batch.id, ClearingException.reason.in_(list(rules.REJECTING))))}
    verdict_of = {Reason.DUPLICATE: Verdict.DUPLICATE, Reason.UNVERIFIABLE: Verdict.UNKNOWN_ISSUER}
    rows = uow.session.execute(select(ClearedRecord).where(ClearedRecord.batch_id == batch.id)
                               .order_by(ClearedRecord.seq)).scalars()
    verdicts = [VerdictLine(0, row.seq, row.asn, row.counter_kind, row.counter, row.amount,
                            verdict_of.get(refusals.get(row.seq), Verdict.FORGED)
                            if row.status == RecordStatus.REJECTED else Verdict.ACCEPTED)
                for row in rows]
    return fileformat.render_verdicts(FileKind.NATIONAL_ACK, file_id, SENDER, batch.file_id, verdicts, created=created)


def _store_sent(uow: UnitOfWork, actor: Actor, kind: FileKind, file_id: str, content: str,
                reference: str | None) -> None:
    sent = fileformat.parse(content)
    uow.session.add(ClearingBatch(
        file_id=file_id, kind=str(kind), direction="out", sender=SENDER, operator="", terminal_id="",
        reference=reference, digest=sent.digest, record_count=sent.header.count, total_1=sent.trailer.total_1,
        total_2=sent.trailer.total_2, received_at=card_datetime(sent.header.created), received_by=actor.user_id,
        result={}))
    uow.session.flush()
    uow.audit(actor=actor, action="clearing.file_sent", entity_type="clearing_batch", entity_id=file_id,
              after={"kind": str(kind), "records": sent.header.count, "digest": sent.digest})


def file_content(*, uow: UnitOfWork, file_id: str) -> str:
    """The text of a file we sent, rebuilt from the database (byte for byte: its digest is
    checked against the one recorded when it was sent)."""
    batch = batch_row(uow, file_id)
    if batch is None or batch.direction != "out":
        raise BatchNotFound()
    if batch.kind == FileKind.NATIONAL_OUT:
        rows = uow.session.execute(select(ClearedRecord).where(ClearedRecord.national_file == file_id)
                                   .order_by(ClearedRecord.national_seq)).scalars()
        content = fileformat.render_records(FileKind.NATIONAL_OUT, file_id, SENDER, [record_of_row(r) for r in rows],
                                            created=batch.received_at)
    else:
        answered = batch_row(uow, batch.reference or "")
        content = _ack_content(uow, answered, file_id, batch.received_at)
    if fileformat.parse(content).digest != batch.digest:
        raise BatchConflict(batch_id=file_id)
    return content


def apply_verdicts(uow: UnitOfWork, actor: Actor, batch: ClearingBatch, clearing_file: ClearingFile) -> BatchResult:
    """The house's verdicts on a NATIONAL_OUT file: accepted records are cleared and settled
    (receivable from the card's issuer, payable to our operator); refused ones are rejected."""
    reference = clearing_file.header.reference
    sent = batch_row(uow, reference)
    if sent is None or sent.kind != FileKind.NATIONAL_OUT:
        raise UnknownNationalFile(reference=reference)
    rows = {row.national_seq: row for row in uow.session.execute(
        select(ClearedRecord).where(ClearedRecord.national_file == reference)).scalars()}
    accepted, flags = [], []
    for number, verdict in enumerate(clearing_file.verdicts, start=2):
        row = rows.get(verdict.ref_seq)
        if row is None or (row.asn, row.counter_kind, row.counter, row.amount) != (
                verdict.asn, verdict.counter_kind, verdict.counter, verdict.amount):
            raise BatchCountMismatch(reason_zh=f"第 {number} 行答复的记录与上送文件不符",
                                     reason_en=f"line {number} answers a record the sent file does not hold")
        if row.status != RecordStatus.PENDING_NATIONAL:
            continue
        if verdict.verdict is Verdict.ACCEPTED:
            row.status, row.settled_by = RecordStatus.CLEARED, batch.id
            accepted.append(row)
        else:
            row.status = RecordStatus.REJECTED
            zh, en = rules.describe(Reason.NATIONAL_REFUSED, verdict=str(verdict.verdict))
            flags.append(ClearingException(
                batch_id=row.batch_id, seq=row.seq, asn=row.asn, counter_kind=row.counter_kind, counter=row.counter,
                tx_date=row.tx_date, reason=Reason.NATIONAL_REFUSED, zh=zh, en=en,
                details={"verdict": str(verdict.verdict), "result_file": batch.file_id}, opened_at=uow.now()))
    uow.session.add_all(flags)
    uow.session.flush()
    records = [record_of_row(row) for row in accepted]
    postings = post_settlements(uow, batch.file_id, rules.settlement_groups(fileformat.frame_of(records), range(len(records))),
                     records)
    deny_forged(uow, actor, {f.asn for f in flags if f.details["verdict"] == Verdict.FORGED})
    return BatchResult(
        file_id=batch.file_id, kind=batch.kind, records=len(clearing_file.verdicts), cleared=len(accepted),
        rejected=len(flags), exceptions={str(Reason.NATIONAL_REFUSED): len(flags)} if flags else {},
        settled_amount=sum(p.amount for p in postings), postings=postings,
    )
