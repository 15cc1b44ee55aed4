"""The bulk writes of record rows, on each database: what goes in through `executemany` or COPY
text is what the model reads back, text the COPY format would otherwise misread included."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.clearing.test_fileformat import bus_record, terminal_file
from yikatong.clearing import bulk, fileformat, rules
from yikatong.clearing.models import ClearedRecord, RecordStatus
from yikatong.crypto import pboc

pytestmark = pytest.mark.db

# A backslash, a tab, a quote, a comma and Chinese: COPY's text format escapes the first two.
ODD_TEXT = {"line": "K\\1\t2", "station": '"站",\\N', "region": "武进\t"}


def _stored(platform, batch_id: int) -> list[ClearedRecord]:
    with platform.uow() as uow:
        return list(uow.session.execute(select(ClearedRecord).where(ClearedRecord.batch_id == batch_id)
                                        .order_by(ClearedRecord.seq)).scalars())


@pytest.mark.parametrize("from_frame", [True, False], ids=["file's frame", "records"])
def test_rows_go_in_and_read_back_as_the_records_say(platform, from_frame):
    records = [bus_record(seq=1, **ODD_TEXT),
               bus_record(seq=2, counter=8, card_time="20260303000005"),  # 16:00:05 UTC the day before
               bus_record(seq=3, counter=9, tx_type=pboc.TX_EP_LOAD, mode="", tap="", line="", region="")]
    read = fileformat.parse(terminal_file(records))
    assert read.records == records and read.frame is not None
    status = [RecordStatus.CLEARED, RecordStatus.REJECTED, RecordStatus.CLEARED]
    with platform.uow() as uow:
        connection = uow.session.connection()
        rows = bulk.prepare_rows(connection.dialect.name, read.records, [0, 1, 2], [True, True, True], status,
                                 read.frame if from_frame else None)
        assert bulk.insert_live(connection, rows, batch_id=41) is None
        uow.commit()
    stored = _stored(platform, 41)
    assert [(r.line, r.station, r.region) for r in stored] == [(r.line, r.station, r.region) for r in records]
    first, second, load = stored
    assert first.occurred_at == datetime(2026, 3, 2, 1, 30, 5, tzinfo=UTC) and first.tx_date == date(2026, 3, 2)
    assert second.occurred_at == datetime(2026, 3, 2, 16, 0, 5, tzinfo=UTC) and second.tx_date == date(2026, 3, 3)
    assert [r.settled_by for r in stored] == [41, None, None]  # only a cleared purchase settles
    assert [r.counter_kind for r in stored] == [fileformat.OFFLINE, fileformat.OFFLINE, fileformat.ONLINE]
    assert [r.status for r in stored] == status and all(r.own_card for r in stored)
    assert (load.tx_type, load.amount, load.recovered, load.tac) == (pboc.TX_EP_LOAD, 120, False, "A1B2C3D4")


def test_a_row_the_unique_index_refuses_is_named_and_the_rest_go_in(platform):
    first = [bus_record(seq=1, counter=7)]
    later = [bus_record(seq=1, counter=6), bus_record(seq=2, counter=7), bus_record(seq=3, counter=8)]
    for batch_id, records in ((1, first), (2, later)):
        read = fileformat.parse(terminal_file(records))
        own = [rules.is_own_card(r.issuer_id) for r in records]
        with platform.uow() as uow:
            connection = uow.session.connection()
            rows = bulk.prepare_rows(connection.dialect.name, read.records, range(len(records)), own,
                                     RecordStatus.CLEARED, read.frame)
            refused = bulk.insert_live(connection, rows, batch_id=batch_id)
            uow.commit()
    assert refused == {2}  # card and counter 7 came in batch 1
    assert [(r.seq, r.counter) for r in _stored(platform, 2)] == [(1, 6), (3, 8)]
