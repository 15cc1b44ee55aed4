"""The daily review: fares re-rated and counters checked once the day's files are in.

A day's records arrive in any order (each validator uploads when it can, the house's files
come later), and a tap's fare depends on the card's earlier taps, wherever they were made. So
the second opinion on fares, and the look for missing counters, run over the whole day at
once: every tap is re-rated exactly once, and a flag means the records really disagree."""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import func, insert, select, tuple_

from yikatong.clearing import bulk, fileformat, rules
from yikatong.clearing.batches import CHUNK, Stages, chunks
from yikatong.clearing.fileformat import (
    card_datetime,
)
from yikatong.clearing.models import ClearedRecord, ClearingException, RecordStatus
from yikatong.clearing.records import flag_row
from yikatong.clearing.rules import FareCheck, Reason
from yikatong.core.actor import Actor
from yikatong.core.memory import cyclic_gc_paused
from yikatong.db.exclusive import serialised
from yikatong.db.uow import UnitOfWork
from yikatong.transit.fare_config import FareConfig


@dataclass(frozen=True)
class ReviewResult:
    day: date
    cards: int
    taps: int
    not_rated: int  # taps the fare engine has no fares for (e.g. another city's metro)
    mismatches_opened: int
    mismatches_resolved: int
    gaps_opened: int
    gaps_resolved: int
    open_mismatches: int  # of the day, after this review
    open_gaps: int  # of all days, after this review


@cyclic_gc_paused()  # forked workers inherit the pause
def review_day(*, uow: UnitOfWork, actor: Actor, day: date, fares: FareConfig, processes: int = 1,
               stages: dict[str, float] | None = None, shares: int | None = None) -> ReviewResult:
    """Re-rate every live tap of the day (China Standard Time) from the card's records before it,
    flag what the card paid differently (never altering it), and flag our cards' missing
    counters. Flags that later files explain are resolved, so the review is run when the day's
    files are in and again after late ones (it is idempotent).

    `processes` > 1 splits the day's cards between that many forked workers, each reading and
    re-rating its own share on its own connection, so they see what is committed (batch jobs
    only, never inside a server). `shares` (default: `processes`) splits the day into more
    shares than workers, each read and re-rated in turn, so memory follows a share, not the day
    (a day of ten million taps)."""
    # Two reviews of one day at once (the API beside `ykt clearing review`) both read the open
    # flags before either wrote: on PostgreSQL the second flagged the same gap again, and a later
    # review resolved only one of the two. One review of a day at a time; other days go on.
    serialised(uow.session, f"clearing.day_review:{day.isoformat()}")
    timer = Stages(stages)
    flags = _open_flags(uow, Reason.FARE_MISMATCH, day)
    with timer("review: read and re-rate"):
        cards = _review_cards(uow, day, fares, processes, set(flags), max(shares or processes, processes, 1))
    with timer("review: flags"):
        opened, resolved, still_open = _review_fares(uow, day, cards.checks, flags)
        gaps_opened, gaps_resolved, gaps_open = _review_gaps(uow, day, cards.unexplained)
    result = ReviewResult(day, cards.cards, cards.rated, cards.not_rated, opened, resolved, gaps_opened,
                          gaps_resolved, still_open, gaps_open)
    uow.audit(actor=actor, action="clearing.day_reviewed", entity_type="clearing_day", entity_id=day.isoformat(),
              after={**asdict(result), "day": day.isoformat()})
    return result


# A tap as the review reads it (plain tuples: a day can be millions), its place and card folded
# into one text each by the database: fewer objects to make per row, one cache lookup each.
# The file format allows no "|" inside a field.
_TAP_COLUMNS = ("batch_id", "seq", "asn", "counter", "card_time", "amount",
                "CASE WHEN mode <> '' THEN city || '|' || mode || '|' || tap || '|' || line || '|' || station || '|' "
                "|| region END AS place",
                "issuer_id || '|' || card_kind || '|' || rider AS card")
_BATCH, _SEQ, _ASN, _COUNTER, _TIME, _AMOUNT, _PLACE, _CARD = range(len(_TAP_COLUMNS))
_COUNTER_KIND, _OWN = len(_TAP_COLUMNS), len(_TAP_COLUMNS) + 1  # the day's read adds these


@dataclass
class _CardsReviewed:
    """What re-rating a share of the day's cards gave: the checks that matter (mismatches and
    records with an open flag) and our cards' records whose previous counter is not among the
    day's (batch id, seq, asn, counter kind, counter)."""

    cards: int = 0
    rated: int = 0
    not_rated: int = 0
    checks: list[FareCheck] = field(default_factory=list)
    unexplained: list[tuple] = field(default_factory=list)

    def add(self, other: _CardsReviewed) -> _CardsReviewed:
        return _CardsReviewed(self.cards + other.cards, self.rated + other.rated, self.not_rated + other.not_rated,
                              self.checks + other.checks, self.unexplained + other.unexplained)


_JOBS: dict[str, Any] = {}  # shared with forked workers, as crypto.batch does


def _review_cards(uow: UnitOfWork, day: date, fares: FareConfig, processes: int,
                  flagged: set[tuple[int, int]], shares: int) -> _CardsReviewed:
    """Every card of the day re-rated: in this transaction, or in `processes` shares by forked
    workers that send back only what matters (a day's million checks are not pickled). The
    workers read through the driver and never use polars, whose thread pool (started here by
    an upload) does not survive a fork."""
    connection = uow.session.connection()
    total = _CardsReviewed()
    if processes <= 1 or connection.engine.url.database in (None, "", ":memory:"):  # workers could not see it
        for share in range(shares):
            total = total.add(_review_share(bulk.Reader.of(connection), day, fares, flagged, share, shares))
        return total
    _JOBS.update(engine=connection.engine, day=day, fares=fares, flagged=flagged, shares=shares)
    try:
        # a worker per share (maxtasksperchild): a share's memory goes back when it is done
        with multiprocessing.get_context("fork").Pool(processes, maxtasksperchild=1) as pool:
            reviewed = pool.map(_review_share_in_worker, range(shares), chunksize=1)
    finally:
        _JOBS.clear()
    for share in reviewed:
        total = total.add(share)
    return total


def _review_share_in_worker(share: int) -> _CardsReviewed:
    engine = _JOBS["engine"]
    engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    with bulk.Reader.snapshot(engine) as reader:
        return _review_share(reader, _JOBS["day"], _JOBS["fares"], _JOBS["flagged"], share, _JOBS["shares"])


def _review_share(reader: bulk.Reader, day: date, fares: FareConfig, flagged: set[tuple[int, int]], share: int,
                  shares: int) -> _CardsReviewed:
    """Read one share of the day's cards (`share` of `shares`, split by ASN), their history,
    and re-rate them."""
    taps, own_rows = _day_taps(reader, day, share, shares)
    history = _history_before(reader, {asn: min(row[_COUNTER] for row in rows) for asn, rows in taps.items()})
    reviewed = _replay(taps, history, fares, flagged)
    reviewed.unexplained = _unexplained_counters(own_rows)
    return reviewed


def _day_taps(reader: bulk.Reader, day: date, share: int, shares: int) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """(the share's live taps of the day by card, in card order; our cards' live records of the
    day), in one read through the driver."""
    rows = reader.fetch(f"SELECT {', '.join(_TAP_COLUMNS)}, counter_kind, own_card FROM {bulk.TABLE} "
                        f"WHERE tx_date = ? AND status <> 'rejected'{reader.share_of_cards(share, shares)}",
                        (reader.day(day),))
    by_card: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        if row[_PLACE] is not None:
            by_card[row[_ASN]].append(row)
    for taps in by_card.values():  # a card's few taps sort faster here than a day's in the database
        taps.sort(key=_card_order)
    return by_card, [row for row in rows if row[_OWN]]


def _card_order(row) -> tuple[str, int]:
    return row[_TIME], row[_COUNTER]


def _history_before(reader: bulk.Reader, first_counters: dict[str, int]) -> dict[str, list]:
    """Each card's last 2 × HISTORY_DEPTH live taps before its first tap of the day, oldest
    first. A tap is a purchase, so the card's offline counter orders its taps: what came before
    is a range of the unique (card, counter kind, counter) index, whatever day it was made."""
    by_card = reader.taps_before(_TAP_COLUMNS, first_counters, 2 * rules.HISTORY_DEPTH)
    for rows in by_card.values():
        rows.sort(key=_card_order)
    return by_card


def _unexplained_counters(own_rows: list[tuple]) -> list[tuple]:
    """Our cards' records of the day whose previous counter is not among the day's records, as
    (batch id, seq, asn, counter kind, counter) (the share holds every record of its cards, so
    this needs no other share)."""
    present = set(zip(map(itemgetter(_ASN), own_rows), map(itemgetter(_COUNTER_KIND), own_rows),
                      map(itemgetter(_COUNTER), own_rows), strict=True))
    return [(row[_BATCH], row[_SEQ], row[_ASN], row[_COUNTER_KIND], row[_COUNTER]) for row in own_rows
            if row[_COUNTER] > 0 and (row[_ASN], row[_COUNTER_KIND], row[_COUNTER] - 1) not in present]


@lru_cache(maxsize=200_000)
def _when(card_time: str):
    return card_datetime(card_time)


@lru_cache(maxsize=100_000)
def _place(key: str) -> rules.Place | None:
    return rules.place_of_fields(*key.split("|"))


@lru_cache(maxsize=1_000)
def _card_context(key: str) -> rules.CardContext:
    return rules.card_context(*key.split("|"))


def _replay(taps: dict[str, list], history: dict[str, list], fares: FareConfig,
            flagged: set[tuple[int, int]]) -> _CardsReviewed:
    """Re-rate each card's day after its history; keep the checks that matter. A check's `ref`
    is the tap's row."""
    memo, replay = rules.fare_memo(fares), rules.replay_places
    reviewed = _CardsReviewed(cards=len(taps))
    for asn, rows in taps.items():
        earlier = [(None, where, _when(row[_TIME]), row[_AMOUNT]) for row in history.get(asn, ())
                   if (where := _place(row[_PLACE])) is not None]
        items = earlier + [(row, where, _when(row[_TIME]), row[_AMOUNT]) for row in rows
                           if (where := _place(row[_PLACE])) is not None]
        if len(items) == len(earlier):
            continue
        for check in replay(items, _card_context(rows[0][_CARD]), memo, report_from=len(earlier)):
            reviewed.rated += 1
            reviewed.not_rated += check.expected is None
            if check.mismatch or check.ref[:2] in flagged:
                reviewed.checks.append(check)
    return reviewed


def _open_flags(uow: UnitOfWork, reason: Reason, day: date | None = None) -> dict[tuple[int, int], ClearingException]:
    query = select(ClearingException).where(ClearingException.reason == reason,
                                            ClearingException.resolved_at.is_(None))
    if day is not None:
        query = query.where(ClearingException.tx_date == day)
    return {(flag.batch_id, flag.seq): flag for flag in uow.session.execute(query).scalars()}


def _review_fares(uow: UnitOfWork, day: date, checks: list[FareCheck],
                  flags: dict[tuple[int, int], ClearingException]) -> tuple[int, int, int]:
    """(opened, resolved, open after) fare flags of the day; `checks` holds at least every
    mismatch and every re-rated record with an open flag in `flags`."""
    now, new, resolved = uow.now(), [], 0
    for check in checks:
        batch_id, seq, asn, counter = check.ref[_BATCH], check.ref[_SEQ], check.ref[_ASN], check.ref[_COUNTER]
        flag = flags.pop((batch_id, seq), None)
        if check.mismatch:
            if flag is None:
                details = {"charged": check.charged, "expected": check.expected, "trail_zh": check.zh,
                           "trail_en": check.en}
                new.append(flag_row(batch_id, seq, asn, fileformat.OFFLINE, counter, day, Reason.FARE_MISMATCH,
                                     details, now))
        elif flag is not None:
            flag.resolved_at, flag.resolution = now, "re-rated with the day's records: fare confirmed / 复核票价相符"
            resolved += 1
    for flag in flags.values():  # its record is no longer a live tap of the day (e.g. refused by the house)
        flag.resolved_at, flag.resolution = now, "the record is no longer cleared / 记录已不予结算"
        resolved += 1
    if new:
        uow.session.execute(insert(ClearingException), new)
    still_open = uow.session.execute(select(func.count()).select_from(ClearingException).where(
        ClearingException.reason == Reason.FARE_MISMATCH, ClearingException.resolved_at.is_(None),
        ClearingException.tx_date == day)).scalar_one()
    return len(new), resolved, still_open


def _review_gaps(uow: UnitOfWork, day: date, unexplained: list[tuple]) -> tuple[int, int, int]:
    """(opened, resolved, open after): our cards' records of the day whose previous counter is
    neither among the day's records (`unexplained`, as _CardsReviewed keeps them) nor cleared on
    another day; and earlier gaps that records have since filled. Other issuers' counters are
    theirs to watch."""
    earlier: set[tuple] = set()
    for chunk in chunks(unexplained, CHUNK):
        earlier.update(uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter).where(
                tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                .in_([(asn, kind, counter - 1) for _batch, _seq, asn, kind, counter in chunk]),
                ClearedRecord.status != RecordStatus.REJECTED)).all())
    gaps = [row for row in unexplained if (row[2], row[3], row[4] - 1) not in earlier]
    flags = _open_flags(uow, Reason.COUNTER_GAP)
    now = uow.now()
    new = [flag_row(batch_id, seq, asn, kind, counter, day, Reason.COUNTER_GAP,
                     {"counter_kind": kind, "counter": counter}, now)
           for batch_id, seq, asn, kind, counter in gaps if (batch_id, seq) not in flags]
    resolved = 0
    open_flags = list(flags.values())
    for chunk in chunks(open_flags, CHUNK):
        present = set(uow.session.execute(
            select(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter).where(
                tuple_(ClearedRecord.asn, ClearedRecord.counter_kind, ClearedRecord.counter)
                .in_([(f.asn, f.counter_kind, f.counter - 1) for f in chunk]),
                ClearedRecord.status != RecordStatus.REJECTED)).all())
        for flag in chunk:
            if (flag.asn, flag.counter_kind, flag.counter - 1) in present:
                flag.resolved_at, flag.resolution = now, "the missing record has arrived / 缺失记录已到达"
                resolved += 1
    if new:
        uow.session.execute(insert(ClearingException), new)
    return len(new), resolved, len(open_flags) - resolved + len(new)
