"""Top-ups from the transit top-up service, cleared like a file of loads."""

from __future__ import annotations

from sqlalchemy import func, select, tuple_

from yikatong.clearing import fileformat, rules
from yikatong.clearing.batches import CHUNK, BatchResult, chunks
from yikatong.clearing.fileformat import (
    FileKind,
)
from yikatong.clearing.models import ClearedRecord, ClearingBatch, RecordStatus
from yikatong.clearing.receive import receive_file
from yikatong.core.actor import Actor
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import UnitOfWork


def import_top_ups(*, uow: UnitOfWork, actor: Actor, keystore: KeyStore) -> BatchResult | None:
    """Clear the completed top-ups the transit service recorded and clearing has not seen
    (their ledger postings are the top-up service's; here they count for the shadow balance and
    the card-side reconciliation). None when there is nothing new."""
    from yikatong.transit import service as transit

    loads = [load for load in transit.load_records(uow=uow) if load.terminal_id and load.when is not None]
    known = set()
    for chunk in chunks(loads, CHUNK):
        known.update(uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter).where(
                tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                .in_([(load.asn, fileformat.ONLINE, load.counter) for load in chunk]),
                ClearedRecord.status != RecordStatus.REJECTED)).all())
    fresh = [fileformat.record_of(load, city=rules.HOME_CITY, operator="TOPUP") for load in loads
             if (load.asn, load.counter) not in known]
    if not fresh:
        return None
    sent_before = uow.session.execute(select(func.count()).select_from(ClearingBatch).where(
        ClearingBatch.kind == FileKind.TOP_UPS)).scalar_one()
    content = fileformat.render_records(FileKind.TOP_UPS, f"{rules.HOME_CITY}-TOPUP-{sent_before + 1:06d}",
                                        "transit", fresh, created=uow.now())
    return receive_file(uow=uow, actor=actor, content=content, keystore=keystore,
                        kinds=frozenset({FileKind.TOP_UPS}))
