"""A period's disbursement run (代发): payee list → payments mapped to each person's current
card account → batches, one file per batch per bank, in the bank file drop → submitted through
the BankGateway → the bank's result files → payments posted, held or failed (failures to the
retry queue, a text to the holder, a row in the office's report) → reconciliation back to the
paying office.

Resumable by construction: every step takes only the rows in the state it expects and moves
them on in one transaction, so running `run` again after a crash (or a SIGKILL at any
`killpoint`) continues where the last commit left off and ends in the same result. Payments
are unique per (programme, period, ID number) and a bank row reference is stable per payment
and attempt, so a resubmitted batch is the same batch to the bank: nobody is paid twice.

One runner at a time: `run` and `retry_failed` hold the period's run (db.exclusive) and a
second caller is refused with RunInProgress (409). Each step trusts the batch states it read
when it began, so two runners at once rewrote a settled batch's file with no rows; the lock
dies with a killed runner, so the resume above starts at once.

Set-based for a million payees: the payments are made by one INSERT … SELECT, batches are
numbered by one UPDATE with a window function, files are streamed from a server-side cursor,
results are applied with executemany (COPY into a staging table on PostgreSQL).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import (
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
    update,
)

from yikatong.benefits import filedrop, rules
from yikatong.benefits.bulk import on_postgres
from yikatong.benefits.catalogue import packaged_calendar, packaged_programmes
from yikatong.benefits.errors import BadResultFile, PayeeListMissing, RunInProgress, RunNotFound
from yikatong.benefits.jobs import catch_up
from yikatong.benefits.models import (
    AccountMapEntry,
    Batch,
    Payee,
    PayeeList,
    Payment,
    RetryItem,
    Run,
)
from yikatong.benefits.rules import Tally
from yikatong.benefits.service import check_office, check_period
from yikatong.cards.protocols import BankGateway
from yikatong.core.actor import Actor
from yikatong.core.killpoints import killpoint
from yikatong.core.masking import mask_ssn
from yikatong.core.money import format_fen
from yikatong.db.exclusive import exclusively
from yikatong.db.uow import UnitOfWork
from yikatong.people.models import Person

log = logging.getLogger(__name__)

# Where a fault test may kill a run (YKT_KILL_AT=<name>): after each step's commit, and
# between a bank call and the commit that records its answer.
KILLPOINTS = ("run.created", "run.mapped", "run.batched", "batch.written", "batch.sent",
              "batch.submitted", "batch.result_read", "batch.settled",
              "run.reconciliation_written", "run.reconciled")

STREAM = {"yield_per": 10000}  # rows read from a server-side cursor, a block at a time

REASON_WORDS = {
    "no_card": ("没有在用的社保卡", "no card in use"),
    "account_closed": ("银行账户已销户", "the bank account is closed"),
    "account_frozen": ("银行账户已冻结", "the bank account is frozen"),
    "name_mismatch": ("户名与银行登记不符", "the name differs from the bank's"),
    "unknown_account": ("银行查无此账户", "the bank does not know the account"),
    "not_certified": ("未完成待遇资格认证", "the yearly eligibility confirmation is missing"),
    "deceased": ("领取人已身故", "the payee has died"),
    "row_ref_reused": ("发放流水号重复（平台错误）", "a row reference reused (a platform error)"),
}


class Progress:
    """What a run reports as it goes (the CLI draws Rich bars): `stage(description, total)`
    returns an `advance(steps)` callable."""

    def stage(self, description: str, total: int) -> Callable[[int], None]:  # noqa: ARG002
        return lambda steps=1: None


@dataclass(frozen=True)
class RunView:
    id: int
    programme_code: str
    period: str
    office_code: str
    pay_date: date
    state: str = field(metadata={"description": "paying | reconciled / 发放中 · 已对账"})
    due_count: int
    due_fen: int
    started_at: datetime
    reconciled_at: datetime | None
    reconciliation: dict | None
    reconciliation_file: str | None


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    bank_code: str
    seq: int
    state: str = field(metadata={"description": "planned | written | submitted | settled"})
    row_count: int
    total_fen: int
    first_row_ref: str | None
    last_row_ref: str | None
    sm3_hex: str | None
    receipt_id: str | None
    posted_count: int
    posted_fen: int
    held_count: int
    held_fen: int
    failed_count: int
    failed_fen: int


@dataclass(frozen=True)
class FailureView:
    payment_id: int
    id_number_masked: str
    name: str
    amount_fen: int
    reason_code: str
    attempt: int
    bank_code: str | None
    retry_status: str | None


@dataclass(frozen=True)
class ReportRow:
    bank_code: str
    status: str
    reason_code: str
    count: int
    fen: int


# --- the run ------------------------------------------------------------------------------


def run(platform, *, actor: Actor, programme_code: str, period: str,
        progress: Progress | None = None) -> RunView:
    """Start or continue the period's run of a programme until every batch is settled and
    the run is reconciled, or until a bank has not answered yet (run again later)."""
    check_office(actor, programme_code)
    with _alone(platform, programme_code, check_period(period)):
        return _run(platform, actor, programme_code, period, progress or Progress())


def _alone(platform, programme_code: str, period: str) -> AbstractContextManager[None]:
    """The period's run held by this caller alone (RunInProgress for a second)."""
    return exclusively(platform.engine, f"benefits.run:{programme_code}:{period}",
                       busy=RunInProgress(programme=programme_code, period=period))


def _run(platform, actor: Actor, programme_code: str, period: str, progress: Progress) -> RunView:
    root = filedrop.root_of(platform.settings)
    with platform.uow() as uow:
        run_id = _start(uow, actor, programme_code, period)
        uow.commit()
    killpoint("run.created")
    catch_up(platform)  # the account map knows every card event committed so far
    with platform.uow() as uow:
        mapped = uow.session.get(Run, run_id).mapped
    if not mapped:
        _refresh_statistics(platform, "benefit_payees")
        with platform.uow() as uow:
            _map_payments(uow, actor, run_id)  # the payments' statistics made in it
            uow.commit()
        killpoint("run.mapped")
    with platform.uow() as uow:
        _plan_batches(uow, actor, run_id)
        uow.commit()
    killpoint("run.batched")
    _pay_batches(platform, actor, run_id, root, progress)
    with platform.uow() as uow:
        open_batches = _open_batches(uow, run_id)
        reconciled = uow.session.get(Run, run_id).state == "reconciled"
    if not open_batches and not reconciled:  # a reconciled run run again changes nothing
        with platform.uow() as uow:
            _reconcile(uow, actor, run_id, root)
            uow.commit()
        killpoint("run.reconciled")
    with platform.uow() as uow:
        return _run_view(uow.session.get(Run, run_id))


def retry_failed(platform, *, actor: Actor, programme_code: str, period: str) -> int:
    """Put the period's failed payments that wait in the retry queue back as pending, as a
    new attempt into the account the map names now (a new card, a lifted freeze …); those
    whose person still has no live card stay failed and waiting. Returns how many go again;
    `run` then batches and pays them."""
    check_office(actor, programme_code)
    with _alone(platform, programme_code, check_period(period)):
        return _retry_failed(platform, actor, programme_code, period)


def _retry_failed(platform, actor: Actor, programme_code: str, period: str) -> int:
    catch_up(platform)
    with platform.uow() as uow:
        the_run = _find_run(uow, programme_code, period)
        waiting = select(RetryItem.payment_id).where(RetryItem.run_id == the_run.id,
                                                     RetryItem.status == "waiting")
        account = AccountMapEntry.__table__.c
        mapped = select(account.person_id).where(account.person_id == Payment.person_id)
        movable = and_(Payment.run_id == the_run.id, Payment.status == "failed",
                       Payment.id.in_(waiting), exists(mapped))
        ids = list(uow.session.execute(select(Payment.id).where(movable)).scalars())
        payable = _payable_ids(uow, the_run, ids)
        ids = [i for i in ids if i in payable]
        if ids:
            for chunk in _chunks(ids, 1000):
                uow.session.execute(update(Payment).where(Payment.id.in_(chunk)).values(
                    status="pending", reason_code=None, attempt=Payment.attempt + 1,
                    batch_seq=None, bank_reference=None, paid_on=None, updated_at=uow.now(),
                    bank_code=select(account.bank_code).where(
                        account.person_id == Payment.person_id).scalar_subquery(),
                    pan=select(account.pan).where(account.person_id == Payment.person_id).scalar_subquery(),
                    card_no=select(account.card_no).where(
                        account.person_id == Payment.person_id).scalar_subquery()))
                uow.session.execute(update(RetryItem).where(RetryItem.payment_id.in_(chunk))
                                    .values(status="resubmitted", resolved_at=uow.now()))
            the_run.state = "paying"
            the_run.updated_at = uow.now()
            uow.audit(actor=actor, action="benefits.retry", entity_type="benefit_run",
                      entity_id=the_run.id, after={"payments": len(ids)})
        uow.commit()
    return len(ids)


def _start(uow: UnitOfWork, actor: Actor, programme_code: str, period: str) -> int:
    spec = check_office(actor, programme_code)
    existing = uow.session.execute(select(Run).where(
        Run.programme_code == programme_code, Run.period == period)).scalar_one_or_none()
    if existing is not None:
        return existing.id
    payee_list = uow.session.execute(select(PayeeList).where(
        PayeeList.programme_code == programme_code, PayeeList.period == period)).scalar_one_or_none()
    if payee_list is None:
        raise PayeeListMissing(programme=programme_code, period=period)
    now = uow.now()
    the_run = Run(programme_code=programme_code, period=period, list_id=payee_list.id,
                  office_code=spec.office_code, payer_code=spec.payer_code,
                  pay_date=rules.pay_date(period, spec.pay_day, packaged_calendar()),
                  state="paying", mapped=False, due_count=payee_list.row_count,
                  due_fen=payee_list.total_fen, started_by=actor.user_id, started_at=now,
                  updated_at=now)
    uow.session.add(the_run)
    uow.session.flush()
    uow.audit(actor=actor, action="benefits.run_started", entity_type="benefit_run",
              entity_id=the_run.id, after={"programme": programme_code, "period": period,
                                           "pay_date": the_run.pay_date.isoformat(),
                                           "due_count": the_run.due_count, "due_fen": the_run.due_fen})
    return the_run.id


def _map_payments(uow: UnitOfWork, actor: Actor, run_id: int) -> None:
    """One INSERT … SELECT: each payee's payment, into the account of the person's current
    live card, or failed `no_card`; then the pension's eligibility (certification, death)."""
    the_run = uow.session.get(Run, run_id)
    payee, person, account = Payee.__table__.c, Person.__table__.c, AccountMapEntry.__table__.c
    already = select(Payment.id).where(Payment.programme_code == the_run.programme_code,
                                       Payment.period == the_run.period,
                                       Payment.id_number == payee.id_number)
    no_account = account.person_id.is_(None)
    # Numbered into batches of `batch_rows` per bank as they are made: no second pass over
    # every row (a retry's rows are numbered by _plan_batches).
    cap = packaged_programmes().batch_rows
    rank = func.row_number().over(partition_by=account.bank_code, order_by=payee.line_no)
    source = (select(literal(run_id), literal(the_run.programme_code), literal(the_run.period),
                     payee.id_number, person.id, payee.name, payee.amount_fen,
                     case((no_account, "failed"), else_="pending"),
                     case((no_account, "no_card"), else_=None), literal(1), account.bank_code,
                     account.pan, account.card_no, case((no_account, None), else_=1 + (rank - 1) // cap),
                     literal(uow.now(), Payment.__table__.c.updated_at.type))
              .select_from(Payee.__table__.outerjoin(Person.__table__, person.ssn == payee.id_number)
                           .outerjoin(AccountMapEntry.__table__, account.person_id == person.id))
              .where(payee.list_id == the_run.list_id, ~exists(already))
              .order_by(payee.line_no))
    if on_postgres(uow.connection()):  # the numbering's two sorts in memory (1M: 240 MB on disk)
        uow.connection().exec_driver_sql("SET LOCAL work_mem = '256MB'")
    uow.session.execute(insert(Payment).from_select(
        ["run_id", "programme_code", "period", "id_number", "person_id", "name", "amount_fen",
         "status", "reason_code", "attempt", "bank_code", "pan", "card_no", "batch_seq",
         "updated_at"], source))
    _payments_statistics(uow)
    if the_run.programme_code == "pension":
        _hold_back_unpayable_pensions(uow, the_run)
    _queue_failures(uow, the_run, Payment.run_id == run_id)
    the_run.mapped = True
    the_run.updated_at = uow.now()
    counts = _tallies(uow, Payment.run_id == run_id)
    uow.audit(actor=actor, action="benefits.run_mapped", entity_type="benefit_run", entity_id=run_id,
              after={status: {"count": t.count, "fen": t.fen} for status, t in counts.items()})


def _payments_statistics(uow: UnitOfWork) -> None:
    """PostgreSQL: benefit_payments' statistics taken in the mapping's own transaction, right
    after its insert (ANALYZE samples this transaction's own new rows as live). Without them
    the unpayable-pension check below estimated one pending payment and probed the
    eligibility table once per payment (0.18 s at 100k, ~2 s at 1M: bench/disbursement.py,
    disb6), and every batch's result would be read through a plan made for an empty table
    (`_refresh_statistics`). Taken here, not after the commit, they also survive a crash
    right after the mapping. ANALYZE's lock (SHARE UPDATE EXCLUSIVE: it lets the table's
    writers through) is held until the mapping commits, a moment later."""
    if on_postgres(uow.connection()):
        uow.connection().exec_driver_sql("ANALYZE benefit_payments")


def _refresh_statistics(platform, table: str) -> None:
    """PostgreSQL: the table's statistics now, not when autovacuum comes. Without them on the
    new payments the planner took a batch's rows (run, bank, batch) from the (run, status)
    index, reading every pending payment of the run for each batch's result (quadratic in the
    run's size); without them on a payee list written just before, the mapping estimated
    1,345 payees of 1,000,000 and joined each to its person and account by index probes
    (bench/disbursement.py, disb2). In a transaction of its own: ANALYZE's lock on the table
    is held until commit."""
    with platform.uow() as uow:
        if on_postgres(uow.connection()):
            uow.connection().exec_driver_sql(f"ANALYZE {table}")
            uow.commit()


def _payable_ids(uow: UnitOfWork, the_run: Run, payment_ids: list[int]) -> set[int]:
    """Of these payments, those payable now (pension: certified and alive)."""
    if the_run.programme_code != "pension" or not payment_ids:
        return set(payment_ids)
    rows = []
    for chunk in _chunks(payment_ids, 1000):
        rows += uow.session.execute(select(Payment.id, Payment.person_id)
                                    .where(Payment.id.in_(chunk))).all()
    payable_people = _pension_seam().payable_person_ids(
        uow, [r.person_id for r in rows if r.person_id is not None], the_run.period)
    return {r.id for r in rows if r.person_id in payable_people}


def _hold_back_unpayable_pensions(uow: UnitOfWork, the_run: Run) -> None:
    """Pensions not payable this period (no yearly confirmation, or after death) fail with
    the seam's reason before any bank sees them: set-based, a reason asked per person only
    while they are few."""
    seam = _pension_seam()
    # only the unpayable rows leave the database (an anti-join: reading every pending payment
    # and every pensioner into Python took ~3 s at a million, disb3)
    unpayable = uow.connection().execute(select(Payment.id, Payment.person_id).where(
        Payment.run_id == the_run.id, Payment.status == "pending",
        ~seam.payable_condition(Payment.person_id, the_run.period))).all()  # Core rows
    by_reason: dict[str, list[int]] = defaultdict(list)
    for row in unpayable:
        reason = (seam.pension_payable(uow, row.person_id, the_run.period)
                  if len(unpayable) <= ASK_EACH_UP_TO else None) or "not_certified"
        by_reason[reason].append(row.id)
    for reason, ids in by_reason.items():
        for chunk in _chunks(ids, 1000):
            uow.session.execute(update(Payment).where(Payment.id.in_(chunk)).values(
                status="failed", reason_code=reason, batch_seq=None, updated_at=uow.now()))


ASK_EACH_UP_TO = 10000


class _EveryonePayable:
    """Stands in for the pension helper's certification seam until it is on this branch."""

    @staticmethod
    def payable_person_ids(uow, person_ids, period):  # noqa: ARG004
        return set(person_ids)

    @staticmethod
    def pension_payable(uow, person_id, period):  # noqa: ARG004
        return None

    @staticmethod
    def payable_condition(person_id, period):  # noqa: ARG004
        return true()


def _pension_seam():
    try:
        from yikatong.benefits import certification
    except ImportError:
        return _EveryonePayable
    return certification


def _plan_batches(uow: UnitOfWork, actor: Actor, run_id: int) -> None:
    """Number the pending payments without a batch (a retry's) into batches of at most
    `batch_rows` per bank (one UPDATE with a window function per bank), then record a batch
    for every batch number of pending payments that has none yet."""
    the_run = uow.session.get(Run, run_id)
    cap = packaged_programmes().batch_rows
    unbatched = and_(Payment.run_id == run_id, Payment.status == "pending",
                     Payment.batch_seq.is_(None))
    banks = [bank for bank, in uow.session.execute(
        select(Payment.bank_code).where(unbatched).distinct().order_by(Payment.bank_code))]
    for bank_code in banks:
        last = max(uow.session.execute(select(func.max(Batch.seq)).where(
                       Batch.run_id == run_id, Batch.bank_code == bank_code)).scalar_one() or 0,
                   uow.session.execute(select(func.max(Payment.batch_seq)).where(
                       Payment.run_id == run_id, Payment.bank_code == bank_code)).scalar_one() or 0)
        rank = func.row_number().over(order_by=Payment.id)
        numbered = (select(Payment.id.label("pid"), (literal(last + 1) + (rank - 1) // cap).label("seq"))
                    .where(unbatched, Payment.bank_code == bank_code).subquery())
        uow.session.execute(update(Payment).where(Payment.id == numbered.c.pid)
                            .values(batch_seq=numbered.c.seq),
                            execution_options={"synchronize_session": False})
    known = exists(select(Batch.id).where(Batch.run_id == run_id, Batch.bank_code == Payment.bank_code,
                                          Batch.seq == Payment.batch_seq))
    groups = uow.session.execute(
        select(Payment.bank_code, Payment.batch_seq, func.count(), func.sum(Payment.amount_fen))
        .where(Payment.run_id == run_id, Payment.status == "pending",
               Payment.batch_seq.is_not(None), ~known)
        .group_by(Payment.bank_code, Payment.batch_seq)
        .order_by(Payment.bank_code, Payment.batch_seq)).all()
    if not groups:
        return
    now = uow.now()
    for bank_code, seq, count, total in groups:
        uow.session.add(Batch(run_id=run_id, bank_code=bank_code, seq=seq, state="planned",
                              batch_id=rules.batch_id(the_run.programme_code, the_run.period,
                                                      bank_code, seq),
                              row_count=count, total_fen=int(total), created_at=now, updated_at=now))
    uow.session.flush()
    uow.audit(actor=actor, action="benefits.run_batched", entity_type="benefit_run", entity_id=run_id,
              after={"batches": [rules.batch_id(the_run.programme_code, the_run.period, b, q)
                                 for b, q, _, _ in groups][:200],
                     "rows": sum(c for _, _, c, _ in groups)})


def _open_batches(uow: UnitOfWork, run_id: int) -> list[Batch]:
    return list(uow.session.execute(select(Batch).where(
        Batch.run_id == run_id, Batch.state != "settled").order_by(Batch.bank_code, Batch.seq)).scalars())


# How many banks' batches are paid at once on PostgreSQL (a thread each: the file written,
# submitted, the bank's processing, the result read and settled). A batch is mostly the
# database's work in its own backend, and the platform's and the bank's Python of one batch
# can run while the database works on another's; what it is worth depends on idle cores
# (bench/disbursement.py, disb4: `--side-by-side 1` runs one batch at a time). The banks
# touch no common row (each bank's own rows, its own settlement book and journals; the run's
# payments by batch); a bank's batches stay in order in one thread. SQLite has one writer:
# one batch at a time there.
SIDE_BY_SIDE = 2


def _pay_batches(platform, actor: Actor, run_id: int, root, progress: Progress) -> None:
    """Every open batch through its file, the bank and its result, each step committed on its
    own (a batch's state says where it stands: planned → written → submitted → settled). On
    PostgreSQL `SIDE_BY_SIDE` banks at a time, a bank's batches in order; on SQLite all files
    first, then every submission, then every result."""
    with platform.uow() as uow:
        batches = [(b.id, b.bank_code, b.state) for b in _open_batches(uow, run_id)]
        side_by_side = on_postgres(uow.connection()) and SIDE_BY_SIDE > 1
    states = [state for state, _, _ in _BATCH_STEPS]
    advance = {state: progress.stage(description, sum(
        1 for *_, now in batches if now in states[:states.index(state) + 1]))
        for state, description, _ in _BATCH_STEPS}
    if not batches:
        return
    gateway = platform.get(BankGateway)  # made here, before any thread asks for it

    def take(step_state: str, step, batch_pk: int, now: str) -> None:
        if states.index(now) <= states.index(step_state):
            step(platform, actor, run_id, root, batch_pk, gateway)
            advance[step_state](1)

    by_bank: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for batch_pk, bank_code, state in batches:
        by_bank[bank_code].append((batch_pk, state))
    if not side_by_side or len(by_bank) < 2:
        for step_state, _, step in _BATCH_STEPS:
            for batch_pk, _, now in batches:
                take(step_state, step, batch_pk, now)
        return

    def pay(bank_batches: list[tuple[int, str]]) -> None:
        for batch_pk, now in bank_batches:
            for step_state, _, step in _BATCH_STEPS:
                take(step_state, step, batch_pk, now)

    largest_first = sorted(by_bank.values(), key=len, reverse=True)
    with ThreadPoolExecutor(max_workers=SIDE_BY_SIDE, thread_name_prefix="benefits-bank") as pool:
        done = [pool.submit(pay, bank_batches) for bank_batches in largest_first]
    for future in done:
        future.result()  # (the first failure raised, once every bank's thread has ended)


def _write_file(platform, actor: Actor, run_id: int, root, batch_pk: int,
                gateway: BankGateway) -> None:  # noqa: ARG001
    """A planned batch's file in the drop; the batch `written`."""
    with platform.uow() as uow:
        batch = uow.session.get(Batch, batch_pk)
        the_run = uow.session.get(Run, run_id)
        spec = packaged_programmes().programmes[the_run.programme_code]
        memo = f"{spec.name_zh} {the_run.period}"
        path = filedrop.to_bank(root, batch.bank_code, batch.batch_id)
        write = _write_file_by_copy if on_postgres(uow.connection()) else _write_file_by_rows
        count, total, sm3_hex, refs = write(uow.connection(), the_run, batch, memo, path)
        batch.row_count, batch.total_fen, batch.sm3_hex = count, total, sm3_hex
        batch.first_row_ref, batch.last_row_ref = refs
        batch.file_name, batch.state, batch.updated_at = path.name, "written", uow.now()
        # The batch is one change: its audit record names its rows.
        uow.audit(actor=actor, action="benefits.batch_written", entity_type="benefit_batch",
                  entity_id=batch.batch_id,
                  after={"rows": count, "total_fen": total, "first_row_ref": refs[0],
                         "last_row_ref": refs[1], "sm3": sm3_hex, "file": path.name})
        uow.commit()
    killpoint("batch.written")


def _in_batch(the_run: Run, batch: Batch):
    """The payments a planned batch's file pays: pending ones, which nothing changes until
    the batch's result is read (a retry's rows are unbatched, a recovery takes posted ones)."""
    return and_(Payment.run_id == the_run.id, Payment.bank_code == batch.bank_code,
                Payment.batch_seq == batch.seq, Payment.status == "pending")


def _write_file_by_rows(connection, the_run: Run, batch: Batch, memo: str,
                        path) -> tuple[int, int, str, tuple[str, str]]:
    """The batch file from the payments read a block at a time, a row each through the csv
    module; (rows, total fen, SM3, (first row_ref, last row_ref))."""
    rows = connection.execute(
        select(Payment.id, Payment.attempt, Payment.pan, Payment.name, Payment.amount_fen)
        .where(_in_batch(the_run, batch)).order_by(Payment.id), execution_options=STREAM)
    refs: list[str] = []

    def lines(programme=the_run.programme_code, period=the_run.period):
        for row in rows:
            ref = rules.row_ref(programme, period, row.id, row.attempt)
            if not refs:
                refs.append(ref)
            refs[1:] = [ref]
            yield rules.file_row(ref=ref, pan=row.pan, name=row.name, amount=row.amount_fen,
                                 memo=memo)

    count, total, sm3_hex = filedrop.write_disbursement_file(
        path, batch_id=batch.batch_id, bank_code=batch.bank_code, payer_code=the_run.payer_code,
        pay_day=the_run.pay_date, rows=lines())
    return count, total, sm3_hex, (refs[0], refs[-1])


def _write_file_by_copy(connection, the_run: Run, batch: Batch, memo: str,
                        path) -> tuple[int, int, str, tuple[str, str]]:
    """PostgreSQL: the server writes the batch's rows as one CSV text, with its count, total
    and first and last rows in the same statement (one snapshot): no SQLAlchemy row, row_ref
    or csv call per payment in Python (bench/disbursement.py, disb3; COPY … TO STDOUT still
    cost a Python call per row). The bytes are the csv module's (`_csv_field`)."""
    line = (f"{{prefix}} || id || ':' || attempt || ',' || {_csv_field('pan')} || ',' || "
            f"{_csv_field('name')} || ',' || amount_fen || ',' || {{memo}} || E'\\n'")
    query = text(
        f"SELECT string_agg({line.format(prefix=':prefix', memo=':memo')}, '' ORDER BY id), "
        f"count({line.format(prefix=':prefix', memo=':memo')}), count(*), sum(amount_fen), "
        "min(amount_fen), min(id), max(id) FROM benefit_payments WHERE run_id = :run "
        "AND bank_code = :bank AND batch_seq = :seq AND status = 'pending'")
    body, lines, count, total, smallest, first_id, last_id = connection.execute(query, {
        "prefix": f"{the_run.programme_code}:{the_run.period}:",
        "memo": filedrop.csv_line([memo]).decode("utf-8")[:-1], "run": the_run.id,
        "bank": batch.bank_code, "seq": batch.seq}).one()
    if not count or lines != count:  # (a NULL field would drop its row from the text)
        raise RuntimeError(f"batch {batch.batch_id}: {lines} lines of {count} pending payments")
    rules.check_row_amount(smallest)  # every row's amount
    attempts = dict(connection.execute(select(Payment.id, Payment.attempt).where(
        Payment.id.in_((first_id, last_id)))).all())
    refs = tuple(rules.row_ref(the_run.programme_code, the_run.period, pid, attempts[pid])
                 for pid in (first_id, last_id))  # (the others differ in digits only)
    sm3_hex = filedrop.write_disbursement_blocks(
        path, batch_id=batch.batch_id, bank_code=batch.bank_code, payer_code=the_run.payer_code,
        pay_day=the_run.pay_date,
        blocks=(filedrop.csv_line(filedrop.ROW_COLUMNS), body.encode("utf-8")),
        totals=lambda: (count, int(total)))
    return count, int(total), sm3_hex, refs


def _csv_field(column: str) -> str:
    """SQL for a text column as the csv module writes it (QUOTE_MINIMAL: quoted when it holds a
    comma, a quote or a newline, its quotes doubled), and quoted when it holds a carriage
    return too, which the csv module leaves bare and its reader (the bank's) then takes for
    the end of the row."""
    return (f"CASE WHEN {column} ~ E'[\",\\r\\n]' THEN '\"' || replace({column}, '\"', '\"\"') "
            f"|| '\"' ELSE {column} END")


def _submit_batch(platform, actor: Actor, run_id: int, root, batch_pk: int,  # noqa: ARG001
                  gateway: BankGateway) -> None:
    """A written batch to its bank; the batch `submitted` with the bank's receipt."""
    # The bank is asked outside the platform's transaction: the in-process bank processes
    # the file at once and its relay applies the resulting events on the platform, in this
    # thread, which on SQLite waited for this transaction's own write lock (the busy
    # timeout, three tries per event). A crash after the bank has the file and before the
    # receipt is recorded leaves the batch "written" either way; the bank knows the batch
    # id and answers a resubmission with the same receipt.
    with platform.uow(read_only=True) as uow:
        batch = uow.session.get(Batch, batch_pk)
        bank_code, batch_id = batch.bank_code, batch.batch_id
        file_name, sm3_hex = batch.file_name, batch.sm3_hex
    receipt = gateway.submit_disbursement(
        bank_code=bank_code, batch_id=batch_id, file_name=file_name, sm3_hex=sm3_hex)
    killpoint("batch.sent")
    with platform.uow() as uow:
        batch = uow.session.get(Batch, batch_pk)
        batch.receipt_id, batch.state, batch.updated_at = str(receipt)[:64], "submitted", uow.now()
        uow.audit(actor=actor, action="benefits.batch_submitted", entity_type="benefit_batch",
                  entity_id=batch.batch_id, after={"receipt": batch.receipt_id})
        uow.commit()
    killpoint("batch.submitted")


def _read_result(platform, actor: Actor, run_id: int, root, batch_pk: int,
                 gateway: BankGateway) -> None:
    """A submitted batch's result file read and applied; the batch `settled`, or left
    submitted when the bank has not answered yet (the next run reads it)."""
    with platform.uow() as uow:
        batch = uow.session.get(Batch, batch_pk)
        name = gateway.disbursement_result(bank_code=batch.bank_code, batch_id=batch.batch_id)
        if name is None:
            return
        _settle(uow, actor, uow.session.get(Run, run_id), batch,
                filedrop.from_bank(root, batch.bank_code, name))
        killpoint("batch.result_read")
        uow.commit()
    killpoint("batch.settled")


def _settle(uow: UnitOfWork, actor: Actor, the_run: Run, batch: Batch, path) -> None:
    """Apply one result file to its batch's payments, failures to the retry queue."""
    header, rows = filedrop.read_result_file(path)
    if header.batch_id != batch.batch_id or header.bank_code != batch.bank_code:
        raise BadResultFile(batch_id=batch.batch_id, problem="another batch's header")
    updates: list[tuple] = []  # (payment id, attempt, status, reason, bank reference, paid on)
    seen: set[str] = set()
    sums: dict[str, int] = defaultdict(int)
    ours, pay_date = (the_run.programme_code, the_run.period), the_run.pay_date
    for fields in rows:
        try:
            ref, status, reason, bank_reference = fields
            rules.check_result_row(status, reason)
            programme, period, payment_id, attempt = rules.parse_row_ref(ref)
        except ValueError as error:
            raise BadResultFile(batch_id=batch.batch_id, problem=str(error)[:120]) from error
        if (programme, period) != ours or ref in seen:
            raise BadResultFile(batch_id=batch.batch_id, problem=f"row {ref} is not this batch's")
        seen.add(ref)
        failed = status == "failed"
        updates.append((payment_id, attempt, status, (reason or None) if failed else None,
                        bank_reference[:64] or None, None if failed else pay_date))
    if len(updates) != batch.row_count or header.row_count != batch.row_count:
        raise BadResultFile(batch_id=batch.batch_id, problem="row count differs from the batch")
    changed = _apply_results(uow, the_run, batch, updates)
    if changed != batch.row_count:
        raise BadResultFile(batch_id=batch.batch_id, problem=f"{changed} of {batch.row_count} rows matched")
    in_batch = and_(Payment.run_id == the_run.id, Payment.bank_code == batch.bank_code,
                    Payment.batch_seq == batch.seq)
    tallies = _tallies(uow, in_batch)
    for status in ("posted", "held", "failed"):
        tally = tallies.get(status, Tally())
        setattr(batch, f"{status}_count", tally.count)
        setattr(batch, f"{status}_fen", tally.fen)
        sums[status] = tally.fen
    if (sums["posted"], sums["held"], sums["failed"]) != (header.posted_fen, header.held_fen,
                                                          header.failed_fen):
        raise BadResultFile(batch_id=batch.batch_id, problem="the header's sums differ from its rows")
    _queue_failures(uow, the_run, and_(in_batch, Payment.status == "failed"))
    _tell_held(uow, batch, and_(in_batch, Payment.status == "held"))
    batch.result_file, batch.state, batch.updated_at = path.name, "settled", uow.now()
    uow.audit(actor=actor, action="benefits.batch_settled", entity_type="benefit_batch",
              entity_id=batch.batch_id,
              after={"rows": batch.row_count, "posted": [batch.posted_count, batch.posted_fen],
                     "held": [batch.held_count, batch.held_fen],
                     "failed": [batch.failed_count, batch.failed_fen], "result_file": path.name})


def _apply_results(uow: UnitOfWork, the_run: Run, batch: Batch, updates: list[tuple]) -> int:
    """Update the batch's payments from the result rows; returns how many matched."""
    connection = uow.connection()
    now = uow.now()
    if on_postgres(connection):
        return _apply_results_by_copy(connection, the_run, batch, updates, now)
    statement = (update(Payment.__table__)
                 .where(Payment.__table__.c.id == bindparam("pid"),
                        Payment.__table__.c.attempt == bindparam("att"),
                        Payment.__table__.c.run_id == the_run.id,
                        Payment.__table__.c.batch_seq == batch.seq,
                        Payment.__table__.c.bank_code == batch.bank_code,
                        Payment.__table__.c.status == "pending")
                 .values(status=bindparam("st"), reason_code=bindparam("rc"),
                         bank_reference=bindparam("br"), paid_on=bindparam("po"), updated_at=now))
    keys = ("pid", "att", "st", "rc", "br", "po")
    changed = 0
    for chunk in _chunks(updates, 5000):
        changed += connection.execute(statement, [dict(zip(keys, u, strict=True))
                                                  for u in chunk]).rowcount
    return changed


def _apply_results_by_copy(connection, the_run: Run, batch: Batch, updates: list[tuple], now) -> int:
    connection.execute(text("CREATE TEMP TABLE IF NOT EXISTS benefit_result_stage (pid bigint, att int, "
                            "st varchar(12), rc varchar(32), br varchar(64), po date) ON COMMIT DELETE ROWS"))
    connection.execute(text("TRUNCATE benefit_result_stage"))
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy("COPY benefit_result_stage (pid, att, st, rc, br, po) FROM STDIN") as copy:
        for start in range(0, len(updates), 10_000):  # COPY text, a slice at a time
            copy.write("".join([_result_line(*u) for u in updates[start:start + 10_000]]))
    result = connection.execute(text(
        "UPDATE benefit_payments p SET status = s.st, reason_code = s.rc, bank_reference = s.br, "
        "paid_on = s.po, updated_at = :now FROM benefit_result_stage s "
        "WHERE p.id = s.pid AND p.attempt = s.att AND p.run_id = :run AND p.batch_seq = :seq "
        "AND p.bank_code = :bank AND p.status = 'pending'"),
        {"now": now, "run": the_run.id, "seq": batch.seq, "bank": batch.bank_code})
    return result.rowcount


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _result_line(pid: int, att: int, status: str, reason: str | None, reference: str | None,
                 paid_on: date | None) -> str:
    """One result row in COPY text format. The status and reason were checked against their
    lists; the bank's reference is the bank's text, escaped."""
    reference = _NULL if reference is None else reference.translate(_COPY_ESCAPES)
    day = _NULL if paid_on is None else paid_on.isoformat()
    return f"{pid}\t{att}\t{status}\t{reason or _NULL}\t{reference}\t{day}\n"


def _queue_failures(uow: UnitOfWork, the_run: Run, where) -> None:
    """Failed payments into the retry queue (retryable reasons; a payment at its retry limit
    is left to the paying office), each holder texted once per attempt."""
    limit = packaged_programmes().retry_limit
    failed = uow.session.execute(select(Payment.id, Payment.person_id, Payment.reason_code,
                                        Payment.attempt, Payment.amount_fen)
                                 .where(where, Payment.status == "failed")).all()
    if not failed:
        return
    known = {row.payment_id: row for row in uow.session.execute(select(RetryItem).where(
        RetryItem.payment_id.in_([f.id for f in failed]))).scalars()} if len(failed) < 30000 else None
    spec = packaged_programmes().programmes[the_run.programme_code]
    now = uow.now()
    notices: list[tuple[int, dict, str]] = []
    for payment in failed:
        retryable = payment.reason_code in rules.RETRYABLE and payment.attempt < limit
        status = "waiting" if retryable else "exhausted"
        item = known.get(payment.id) if known is not None else uow.session.execute(
            select(RetryItem).where(RetryItem.payment_id == payment.id)).scalar_one_or_none()
        if item is not None and item.status in ("waiting", "exhausted") and item.attempts == payment.attempt:
            continue  # queued at an earlier pass over the same failure
        if item is None:
            uow.session.add(RetryItem(payment_id=payment.id, run_id=the_run.id,
                                      reason_code=payment.reason_code, status=status,
                                      attempts=payment.attempt, queued_at=now))
        else:
            item.reason_code, item.status, item.attempts = payment.reason_code, status, payment.attempt
            item.queued_at, item.resolved_at = now, None
        if payment.person_id is not None and payment.reason_code != "deceased":
            notices.append(_notice(spec, the_run.period, payment))
    uow.session.flush()
    if notices:
        from yikatong.notices.service import notify_people

        notify_people(uow=uow, template="benefit_payment_failed", notices=notices)


def _tell_held(uow: UnitOfWork, batch: Batch, where) -> None:
    """Each held payment's holder texted once (the bank holds it until the financial function
    is activated, then releases it): the batch's result file is the bank's held notice, read
    with the batch and texted in the transaction that settles it, one select for the batch."""
    held = uow.session.execute(select(Payment.id, Payment.person_id, Payment.card_no,
                                      Payment.amount_fen, Payment.attempt)
                               .where(where, Payment.person_id.is_not(None))
                               .order_by(Payment.id)).all()
    if not held:
        return
    from yikatong.directory.service import get_bank
    from yikatong.notices.rules import card_tail
    from yikatong.notices.service import notify_people

    bank = get_bank(uow=uow, bank_code=batch.bank_code)
    notify_people(uow=uow, template="payment_held", notices=[
        (payment.person_id, {"card_tail": card_tail(payment.card_no),
                             "amount": format_fen(payment.amount_fen),
                             "bank_zh": bank.short_name_zh, "bank_en": bank.name_en},
         f"benefit:{payment.id}:{payment.attempt}") for payment in held])


def _notice(spec, period: str, payment) -> tuple[int, dict, str]:
    """The failed payment's text to the holder: (person_id, params, subject)."""
    zh, en = REASON_WORDS.get(payment.reason_code, (payment.reason_code, payment.reason_code))
    return (payment.person_id,
            {"programme_zh": spec.name_zh, "programme_en": spec.name_en,
             "period": period, "amount": format_fen(payment.amount_fen),
             "reason_zh": zh, "reason_en": en},
            f"benefit:{payment.id}:{payment.attempt}")


def _tallies(uow: UnitOfWork, where) -> dict[str, Tally]:
    return {status: Tally(count, int(fen or 0)) for status, count, fen in uow.session.execute(
        select(Payment.status, func.count(), func.sum(Payment.amount_fen)).where(where)
        .group_by(Payment.status)).all()}


def _reconcile(uow: UnitOfWork, actor: Actor, run_id: int, root) -> None:
    """The run's figures, checked (paid + held + failed = due), to the paying office as a
    file (every payee's outcome) and on the run."""
    the_run = uow.session.get(Run, run_id)
    result = rules.reconcile(Tally(the_run.due_count, the_run.due_fen),
                             _tallies(uow, Payment.run_id == run_id))
    name = f"{the_run.programme_code}-{the_run.period}.reconciliation.csv"
    path = filedrop.office_file(root, the_run.office_code, name)
    header = ["#YKT-DISB-RECON-1", the_run.programme_code, the_run.period, the_run.office_code,
              the_run.pay_date.isoformat()] + [f"{k}={v['count']}/{v['fen']}" for k, v in
                                               result.as_dict().items() if isinstance(v, dict)]
    columns = ["id_number", "name", "amount_fen", "status", "reason_code", "attempt", "bank_code",
               "paid_on"]
    connection = uow.connection()
    if on_postgres(connection):  # the server writes the CSV: no Python object per row
        filedrop.write_atomically(path, _copied_rows(connection, run_id, header, columns))
    else:
        rows = connection.execute(
            select(*(getattr(Payment, c) for c in columns))
            .where(Payment.run_id == run_id).order_by(Payment.id), execution_options=STREAM)
        filedrop.write_csv(path, header, columns, rows)
    killpoint("run.reconciliation_written")  # the office's file is there, the run not updated
    the_run.reconciliation = result.as_dict()
    the_run.reconciliation_file = str(path)
    the_run.state = "reconciled" if result.complete else "paying"
    the_run.reconciled_at = uow.now() if result.complete else None
    the_run.updated_at = uow.now()
    uow.audit(actor=actor, action="benefits.run_reconciled", entity_type="benefit_run",
              entity_id=run_id, after=result.as_dict())


def _copied_rows(connection, run_id: int, header: list[str], columns: list[str]):
    yield filedrop.csv_line(header) + filedrop.csv_line(columns)
    cursor = connection.connection.driver_connection.cursor()
    query = (f"COPY (SELECT {', '.join(columns)} FROM benefit_payments WHERE run_id = {int(run_id)} "
             "ORDER BY id) TO STDOUT WITH (FORMAT csv)")
    with cursor.copy(query) as copy:
        for block in copy:
            yield bytes(block)


# --- reading ---------------------------------------------------------------------------------


def _find_run(uow: UnitOfWork, programme_code: str, period: str) -> Run:
    the_run = uow.session.execute(select(Run).where(
        Run.programme_code == programme_code, Run.period == period)).scalar_one_or_none()
    if the_run is None:
        raise RunNotFound()
    return the_run


def get_run(*, uow: UnitOfWork, actor: Actor, programme_code: str, period: str) -> RunView:
    check_office(actor, programme_code)
    return _run_view(_find_run(uow, programme_code, period))


def list_runs(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[RunView]:
    from yikatong.benefits.service import may_run, programme_spec

    rows = uow.session.execute(select(Run).order_by(Run.id.desc()).limit(limit)).scalars()
    return [_run_view(r) for r in rows if may_run(actor, programme_spec(r.programme_code))]


def batches_of(*, uow: UnitOfWork, actor: Actor, programme_code: str, period: str) -> list[BatchView]:
    check_office(actor, programme_code)
    the_run = _find_run(uow, programme_code, period)
    rows = uow.session.execute(select(Batch).where(Batch.run_id == the_run.id)
                               .order_by(Batch.bank_code, Batch.seq)).scalars()
    return [BatchView(**{name: getattr(b, name) for name in BatchView.__dataclass_fields__})
            for b in rows]


def failures_of(*, uow: UnitOfWork, actor: Actor, programme_code: str, period: str,
                limit: int = 500) -> list[FailureView]:
    """The paying office's failures report (masked ID numbers)."""
    check_office(actor, programme_code)
    the_run = _find_run(uow, programme_code, period)
    query = (select(Payment.id, Payment.id_number, Payment.name, Payment.amount_fen,
                    Payment.reason_code, Payment.attempt, Payment.bank_code, RetryItem.status)
             .outerjoin(RetryItem, RetryItem.payment_id == Payment.id)
             .where(Payment.run_id == the_run.id, Payment.status == "failed")
             .order_by(Payment.id).limit(limit))
    return [FailureView(payment_id=r[0], id_number_masked=mask_ssn(r[1]), name=r[2], amount_fen=r[3],
                        reason_code=r[4] or "", attempt=r[5], bank_code=r[6], retry_status=r[7])
            for r in uow.session.execute(query).all()]


def report_of(*, uow: UnitOfWork, actor: Actor, programme_code: str, period: str) -> list[ReportRow]:
    """Paid, held and failed by bank and reason (the run report's table and chart)."""
    check_office(actor, programme_code)
    the_run = _find_run(uow, programme_code, period)
    rows = uow.session.execute(
        select(Payment.bank_code, Payment.status, Payment.reason_code, func.count(),
               func.sum(Payment.amount_fen))
        .where(Payment.run_id == the_run.id)
        .group_by(Payment.bank_code, Payment.status, Payment.reason_code)).all()
    report = [ReportRow(bank_code=bank or "-", status=status, reason_code=reason or "", count=count,
                        fen=int(fen or 0)) for bank, status, reason, count, fen in rows]
    return sorted(report, key=lambda r: (r.bank_code, r.status, r.reason_code))


def _run_view(the_run: Run) -> RunView:
    if the_run is None:
        raise RunNotFound()
    return RunView(id=the_run.id, programme_code=the_run.programme_code, period=the_run.period,
                   office_code=the_run.office_code, pay_date=the_run.pay_date, state=the_run.state,
                   due_count=the_run.due_count, due_fen=the_run.due_fen, started_at=the_run.started_at,
                   reconciled_at=the_run.reconciled_at, reconciliation=the_run.reconciliation,
                   reconciliation_file=the_run.reconciliation_file)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# A batch's steps in order: the state a batch must be in (or before) for the step, the
# progress bar's stage, the step (each commits on its own and moves the batch's state on).
_BATCH_STEPS = (("planned", "writing bank files / 生成代发文件", _write_file),
                ("written", "submitting to banks / 提交银行", _submit_batch),
                ("submitted", "reading bank results / 读取银行回盘", _read_result))
