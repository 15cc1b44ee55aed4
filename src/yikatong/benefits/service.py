"""The benefits use cases: programmes, enrolments (seam 3), the paying offices' payee lists,
and what the holder and the offices read. The disbursement run itself is runs.py.

Where the platform stops: the paying offices own eligibility and amounts. They send a payee
list per programme and period (ID number, name, amount); the platform maps each ID number to
the account of the person's current live card, pays, and reconciles back (runs.py). The
reference paying office (paying_office.py) computes lists from the enrolments and the
programme rules for the demo and the tests, and hands them in through `receive_payee_list`
like any office.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from sqlalchemy import func, select, update

from yikatong.benefits import rules
from yikatong.benefits.bulk import insert_rows, on_postgres
from yikatong.benefits.catalogue import ProgrammeSpec, packaged_programmes
from yikatong.benefits.errors import (
    InvalidEnrolment,
    InvalidPayeeList,
    InvalidPeriod,
    NotYourProgramme,
    PayeeListExists,
    ProgrammeNotFound,
)
from yikatong.benefits.models import (
    AccountMapEntry,
    Enrolment,
    Payee,
    PayeeList,
    Payment,
    Programme,
    RetryItem,
)
from yikatong.cards.rules import mask_pan
from yikatong.core.actor import Actor, Role
from yikatong.db.uow import UnitOfWork

ID_NUMBER = re.compile(r"^[0-9A-Z]{8,20}$")
MAX_PROBLEMS = 5


# --- views --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeView:
    code: str
    office_code: str
    name_zh: str
    name_en: str
    schedule: str
    pay_day: int
    source: str


@dataclass(frozen=True)
class EnrolmentView:
    id: int
    programme_code: str
    person_id: int
    monthly_fen: int | None
    start_period: str
    end_period: str | None
    status: str
    source: str
    source_ref: str
    ended_on: date | None


@dataclass(frozen=True)
class PayeeListView:
    id: int
    programme_code: str
    period: str
    office_code: str
    source: str
    row_count: int
    total_fen: int
    checksum: str
    received_at: datetime


@dataclass(frozen=True)
class PaymentView:
    programme: str
    programme_zh: str
    programme_en: str
    period: str
    amount_fen: int
    status: str = field(metadata={
        "description": "pending | posted | held | failed | retrying | recovered"})
    reason_code: str | None
    paid_on: date | None
    bank_code: str | None
    account_masked: str | None


# --- programmes -------------------------------------------------------------------------


def programme_spec(code: str) -> ProgrammeSpec:
    spec = packaged_programmes().programmes.get(code)
    if spec is None:
        raise ProgrammeNotFound(programme=code)
    return spec


def load_reference_data(*, uow: UnitOfWork, actor: Actor) -> int:
    """Insert or refresh the packaged programmes (platform_setup.REFERENCE_LOADERS); returns
    how many changed; commits when something did."""
    book = packaged_programmes()
    changed = 0
    for spec in book.programmes.values():
        row = uow.session.get(Programme, spec.code)
        values = {"office_code": spec.office_code, "name_zh": spec.name_zh, "name_en": spec.name_en,
                  "schedule": spec.schedule, "pay_day": spec.pay_day, "payer_code": spec.payer_code,
                  "rules": spec.rules, "source": spec.source, "config_version": book.version}
        if row is None:
            uow.session.add(Programme(code=spec.code, **values, loaded_at=uow.now()))
            changed += 1
        elif any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            row.loaded_at = uow.now()
            changed += 1
    if changed:
        uow.session.flush()
        uow.audit(actor=actor, action="benefits.load_programmes", entity_type="reference_data",
                  entity_id="benefits", after={"changed": changed, "version": book.version})
        uow.commit()
    return changed


def list_programmes(*, actor: Actor | None = None) -> list[ProgrammeView]:
    """The programmes (a paying office: its own)."""
    return [_programme_view(spec) for spec in packaged_programmes().programmes.values()
            if actor is None or may_run(actor, spec)]


def may_run(actor: Actor, spec: ProgrammeSpec) -> bool:
    if actor.role in (Role.ADMIN, Role.SYSTEM):
        return True
    return actor.role == Role.PAYING_OFFICE and actor.branch_code == spec.office_code


def check_office(actor: Actor, programme_code: str) -> ProgrammeSpec:
    """The programme, if this actor's office pays it (NotYourProgramme otherwise)."""
    spec = programme_spec(programme_code)
    if not may_run(actor, spec):
        raise NotYourProgramme(programme=programme_code)
    return spec


def check_period(period: str) -> str:
    if not rules.is_period(period):
        raise InvalidPeriod(period=str(period)[:16])
    return period


def _programme_view(spec: ProgrammeSpec) -> ProgrammeView:
    return ProgrammeView(code=spec.code, office_code=spec.office_code, name_zh=spec.name_zh,
                         name_en=spec.name_en, schedule=spec.schedule, pay_day=spec.pay_day,
                         source=spec.source)


# --- enrolments (seam 3) --------------------------------------------------------------------


def enrol(*, uow: UnitOfWork, actor: Actor, programme_code: str, person_id: int,
          monthly_fen: int | None, start_period: str, end_period: str | None, source: str,
          source_ref: str, facts: dict | None = None) -> EnrolmentView:
    """Enter a person in a programme from `start_period` to `end_period` (None: open); the
    same (programme, person, source_ref) again returns the first enrolment unchanged.
    `monthly_fen` None: the programme's rule decides the amount."""
    from yikatong.people.service import get_person

    spec = check_office(actor, programme_code)
    check_period(start_period)
    if end_period is not None and (not rules.is_period(end_period) or end_period < start_period):
        raise InvalidEnrolment(reason_zh="结束期须为不早于开始期的 YYYY-MM",
                               reason_en="the end period must be a YYYY-MM not before the start")
    if monthly_fen is not None and monthly_fen <= 0:
        raise InvalidEnrolment(reason_zh="金额须为正数（分）", reason_en="the amount must be positive fen")
    if not source or not source_ref or len(source) > 32 or len(source_ref) > 64:
        raise InvalidEnrolment(reason_zh="须注明来源及其编号", reason_en="source and source_ref are required")
    existing = uow.session.execute(select(Enrolment).where(
        Enrolment.programme_code == programme_code, Enrolment.person_id == person_id,
        Enrolment.source_ref == source_ref)).scalar_one_or_none()
    if existing is not None:
        return _enrolment_view(existing)
    get_person(uow=uow, person_id=person_id)  # PersonNotFound
    if spec.schedule == "one_off" and end_period is None:
        end_period = start_period
    now = uow.now()
    row = Enrolment(programme_code=programme_code, person_id=person_id, monthly_fen=monthly_fen,
                    start_period=start_period, end_period=end_period, facts=facts or {},
                    source=source, source_ref=source_ref, status="active", created_by=actor.user_id,
                    created_at=now, updated_at=now)
    uow.session.add(row)
    uow.session.flush()
    uow.audit(actor=actor, action="benefits.enrolled", entity_type="benefit_enrolment",
              entity_id=row.id, after={"programme": programme_code, "person_id": person_id,
                                       "monthly_fen": monthly_fen, "start": start_period,
                                       "end": end_period, "source": source, "source_ref": source_ref})
    return _enrolment_view(row)


def stop_payments(*, uow: UnitOfWork, actor: Actor, person_id: int, from_day: date,
                  reason: str) -> list[EnrolmentView]:
    """End the person's enrolments from `from_day` on (the last paid period is the one before
    that day's month when the day is the 1st, else that month): used at death."""
    last_period = rules.period_of(from_day) if from_day.day > 1 else rules.add_months(
        rules.period_of(from_day), -1)
    ended = []
    rows = uow.session.execute(select(Enrolment).where(
        Enrolment.person_id == person_id, Enrolment.status == "active")).scalars().all()
    for row in rows:
        before = {"status": row.status, "end": row.end_period}
        row.end_period = min(row.end_period or last_period, last_period)
        if row.end_period < row.start_period:
            row.end_period = row.start_period
        row.status, row.ended_on, row.end_reason = "ended", from_day, reason[:200]
        row.updated_at = uow.now()
        uow.audit(actor=actor, action="benefits.enrolment_ended", entity_type="benefit_enrolment",
                  entity_id=row.id, before=before, after={"status": "ended", "end": row.end_period},
                  reason=reason)
        ended.append(_enrolment_view(row))
    uow.session.flush()
    return ended


def enrolments_of(*, uow: UnitOfWork, person_id: int) -> list[EnrolmentView]:
    return [_enrolment_view(row) for row in uow.session.execute(
        select(Enrolment).where(Enrolment.person_id == person_id).order_by(Enrolment.id)).scalars()]


def _enrolment_view(row: Enrolment) -> EnrolmentView:
    return EnrolmentView(id=row.id, programme_code=row.programme_code, person_id=row.person_id,
                         monthly_fen=row.monthly_fen, start_period=row.start_period,
                         end_period=row.end_period, status=row.status, source=row.source,
                         source_ref=row.source_ref, ended_on=row.ended_on)


# --- payee lists (the seam from the paying offices) --------------------------------------------


class PayeeRow(NamedTuple):  # a tuple: a list holds up to a million
    id_number: str
    name: str
    amount_fen: int
    memo: str = ""


def parse_payee_csv(text: str) -> list[PayeeRow]:
    """A payee list as CSV: columns id_number,name,amount_fen[,memo] with that header line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in next(reader, [])]
    if header[:3] != ["id_number", "name", "amount_fen"]:
        raise InvalidPayeeList(problems="the first line must be id_number,name,amount_fen[,memo]")
    rows, problems = [], []
    for line_no, fields in enumerate(reader, start=2):
        if not fields:
            continue
        try:
            rows.append(PayeeRow(fields[0], fields[1], int(fields[2]),
                                 fields[3] if len(fields) > 3 else ""))
        except (IndexError, ValueError):
            problems.append(f"line {line_no}: needs id_number, name and an integer amount_fen")
    if problems:
        raise InvalidPayeeList(problems="; ".join(problems[:MAX_PROBLEMS]))
    return rows


def receive_payee_list(*, uow: UnitOfWork, actor: Actor, programme_code: str, period: str,
                       rows: list[PayeeRow], source: str = "upload") -> PayeeListView:
    """Take a paying office's list for one programme and period, checked whole (ID number
    form, a name, a positive amount, no ID number twice). The same list again is the same
    list (idempotent by its SM3); another list for a period that has one is refused."""
    from yikatong.people.service import normalise_ssn

    spec = check_office(actor, programme_code)
    check_period(period)
    clean, problems, seen, lines = [], [], set(), []
    digest = hashes.Hash(hashes.SM3())
    for index, (given_id, given_name, amount, given_memo) in enumerate(rows, start=1):
        id_number = normalise_ssn(given_id)
        name = (given_name or "").strip()
        memo = (given_memo or "").strip()[:60]
        if not ID_NUMBER.match(id_number):
            problems.append(f"row {index}: not an ID number")
        elif id_number in seen:
            problems.append(f"row {index}: the same ID number twice")
        if not name or len(name) > 60:
            problems.append(f"row {index}: a name of 1..60 characters is required")
        if not isinstance(amount, int) or amount <= 0 or amount > 10**11:
            problems.append(f"row {index}: the amount must be positive fen")
        seen.add(id_number)
        clean.append((index, id_number, name, amount, memo))
        lines.append(f"{id_number},{name},{amount},{memo}\n")
        if len(lines) == 10_000:  # hashed a block at a time (the same SM3)
            digest.update("".join(lines).encode())
            lines.clear()
    digest.update("".join(lines).encode())
    if not clean:
        problems.append("the list is empty")
    if problems:
        raise InvalidPayeeList(problems="; ".join(problems[:MAX_PROBLEMS]))
    checksum = digest.finalize().hex()
    existing = uow.session.execute(select(PayeeList).where(
        PayeeList.programme_code == programme_code, PayeeList.period == period)).scalar_one_or_none()
    if existing is not None:
        if existing.checksum != checksum:
            raise PayeeListExists(programme=programme_code, period=period)
        return _list_view(existing)
    payee_list = PayeeList(programme_code=programme_code, period=period,
                           office_code=spec.office_code, source=source[:16], row_count=len(clean),
                           total_fen=sum(r[3] for r in clean), checksum=checksum,
                           received_by=actor.user_id, received_at=uow.now())
    uow.session.add(payee_list)
    uow.session.flush()
    _insert_payees(uow.connection(), payee_list.id, clean)
    uow.audit(actor=actor, action="benefits.payee_list_received", entity_type="benefit_payee_list",
              entity_id=payee_list.id, after={"programme": programme_code, "period": period,
                                              "rows": payee_list.row_count,
                                              "total_fen": payee_list.total_fen, "sm3": checksum})
    return _list_view(payee_list)


PAYEE_COLUMNS = ["list_id", "line_no", "id_number", "name", "amount_fen", "memo"]
_COPY_SPECIALS = ("\\", "\r")  # with a tab or a newline in a field: escaped (counted below)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _insert_payees(connection, list_id: int, clean: list[tuple]) -> None:
    """The checked rows (line_no, id_number, name, amount_fen, memo) into benefit_payees. On
    PostgreSQL as COPY text a block of 10,000 rows at a time, one f-string a row (psycopg's
    write_row per row cost more: bench/disbursement.py, disb3); a block whose names or memos
    hold a tab, newline, carriage return or backslash has those fields escaped."""
    if not on_postgres(connection):
        insert_rows(connection, Payee.__table__, PAYEE_COLUMNS, ((list_id, *row) for row in clean))
        return
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY benefit_payees ({', '.join(PAYEE_COLUMNS)}) FROM STDIN") as copy:
        for start in range(0, len(clean), 10_000):
            block = clean[start:start + 10_000]
            text = "".join([f"{list_id}\t{line}\t{id_number}\t{name}\t{amount}\t{memo}\n"
                            for line, id_number, name, amount, memo in block])
            if (text.count("\t") != 5 * len(block) or text.count("\n") != len(block)
                    or any(special in text for special in _COPY_SPECIALS)):
                text = "".join([f"{list_id}\t{line}\t{id_number}\t{name.translate(_COPY_ESCAPES)}"
                                f"\t{amount}\t{memo.translate(_COPY_ESCAPES)}\n"
                                for line, id_number, name, amount, memo in block])
            copy.write(text)


def find_payee_list(*, uow: UnitOfWork, programme_code: str, period: str) -> PayeeListView | None:
    row = uow.session.execute(select(PayeeList).where(
        PayeeList.programme_code == programme_code, PayeeList.period == period)).scalar_one_or_none()
    return _list_view(row) if row else None


def _list_view(row: PayeeList) -> PayeeListView:
    return PayeeListView(id=row.id, programme_code=row.programme_code, period=row.period,
                         office_code=row.office_code, source=row.source, row_count=row.row_count,
                         total_fen=row.total_fen, checksum=row.checksum, received_at=row.received_at)


# --- what the holder reads (seam 3) ---------------------------------------------------------


def payments_of(*, uow: UnitOfWork, person_id: int, limit: int = 200) -> list[PaymentView]:
    """The person's payments, newest period first (masked account)."""
    waiting = select(RetryItem.payment_id).where(RetryItem.status == "waiting").scalar_subquery()
    query = (select(Payment.programme_code, Payment.period, Payment.amount_fen, Payment.status,
                    Payment.reason_code, Payment.paid_on, Payment.bank_code, Payment.pan,
                    Payment.id.in_(waiting).label("retrying"))
             .where(Payment.person_id == person_id)
             .order_by(Payment.period.desc(), Payment.id.desc()).limit(limit))
    book = packaged_programmes().programmes
    views = []
    for row in uow.connection().execute(query):
        spec = book.get(row.programme_code)
        status = "retrying" if row.status == "failed" and row.retrying else row.status
        views.append(PaymentView(
            programme=row.programme_code, programme_zh=spec.name_zh if spec else row.programme_code,
            programme_en=spec.name_en if spec else row.programme_code, period=row.period,
            amount_fen=row.amount_fen, status=status, reason_code=row.reason_code,
            paid_on=row.paid_on, bank_code=row.bank_code,
            account_masked=mask_pan(row.pan) if row.pan else None))
    return views


def account_map_size(*, uow: UnitOfWork) -> int:
    return uow.session.execute(select(func.count()).select_from(AccountMapEntry)).scalar_one()


def mark_recovered(*, uow: UnitOfWork, actor: Actor, programme_code: str, period: str,
                   person_id: int, reason: str) -> bool:
    """Mark a posted payment as recovered (an overpayment after death taken back by the
    pension helper's recovery); True when a payment changed."""
    result = uow.session.execute(update(Payment).where(
        Payment.programme_code == programme_code, Payment.period == period,
        Payment.person_id == person_id, Payment.status.in_(("posted", "held")))
        .values(status="recovered", reason_code=reason[:32], updated_at=uow.now()))
    if result.rowcount:
        uow.audit(actor=actor, action="benefits.payment_recovered", entity_type="benefit_payment",
                  entity_id=f"{programme_code}:{period}:{person_id}", reason=reason)
    return bool(result.rowcount)
