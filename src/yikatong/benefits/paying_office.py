"""The reference paying office: what a pension agency, the housing fund or the talent office
would compute itself, from its enrolments and the programme rules as data (age, degree,
residence and duration limits), handed to the platform through the same seam as any office's
upload (`service.receive_payee_list`, source "reference"). A real office replaces this with
its own list; the platform never decides who is entitled."""

from __future__ import annotations

from datetime import date

from sqlalchemy import null, or_, select

from yikatong.benefits import rules
from yikatong.benefits.models import Enrolment
from yikatong.benefits.service import (
    PayeeListView,
    PayeeRow,
    check_office,
    check_period,
    receive_payee_list,
)
from yikatong.core.actor import Actor
from yikatong.db.uow import UnitOfWork
from yikatong.people.models import Person


def compute_payee_list(*, uow: UnitOfWork, programme_code: str, period: str) -> list[PayeeRow]:
    """The period's payees: active enrolments covering the period whose person meets the
    programme's limits on the period's first day, with the enrolment's or the rule's amount."""
    from yikatong.benefits.service import programme_spec

    spec = programme_spec(programme_code)
    check_period(period)
    year, month = rules.parse_period(period)
    first_day = date(year, month, 1)
    # the facts (JSON, decoded per row) only for a programme whose rules read them
    facts = Enrolment.facts if rules.reads_facts(programme_code, spec.rules) else null()
    query = (select(Enrolment.monthly_fen, Enrolment.start_period, facts.label("facts"),
                    Person.ssn, Person.name, Person.birth_date, Person.gender)
             .join(Person, Person.id == Enrolment.person_id)
             .where(Enrolment.programme_code == programme_code, Enrolment.start_period <= period,
                    or_(Enrolment.end_period.is_(None), Enrolment.end_period >= period))
             .order_by(Enrolment.person_id, Enrolment.id))
    payees: dict[str, PayeeRow] = {}
    memo = f"{spec.name_zh} {period}"
    limited = _limits_months(programme_code, spec.rules)
    # A programme whose rules read no facts (the pension) decides by birth date and gender
    # alone: asked once per pair (a million pensioners share ~30,000 birth dates).
    decided = {} if not rules.reads_facts(programme_code, spec.rules) else None
    # Core rows unpacked as tuples (no ORM loading per row: a third of a million-row list's
    # time; no rule call per row where its answer is known: disb3)
    uow.session.flush()
    for monthly_fen, start_period, facts, ssn, name, birth, gender in uow.connection().execute(query):
        facts = facts or {}
        if decided is None:
            reason = rules.ineligibility(programme_code, spec.rules, birth=birth, gender=gender,
                                         day=first_day, facts=facts)
        elif (reason := decided.get((birth, gender), _UNASKED)) is _UNASKED:
            reason = decided[birth, gender] = rules.ineligibility(
                programme_code, spec.rules, birth=birth, gender=gender, day=first_day, facts=facts)
        if reason:
            continue
        if limited and not _within_duration(programme_code, spec.rules, start_period, period, facts):
            continue
        amount = monthly_fen if monthly_fen is not None else rules.amount_fen(
            programme_code, spec.rules, monthly_fen=None, facts=facts)
        if amount <= 0 or not ssn:
            continue
        current = payees.get(ssn)
        # two enrolments of one person in one period (two reimbursements): one payment, summed
        if current is not None:
            amount += current.amount_fen
        payees[ssn] = PayeeRow(ssn, name, amount, memo)
    return list(payees.values())


_UNASKED = object()


def _limits_months(programme_code: str, rules_data: dict) -> bool:
    """Whether the programme pays for a limited number of months (`_within_duration` asks)."""
    return programme_code == "unemployment" or "months" in rules_data


def _within_duration(programme_code: str, rules_data: dict, start: str, period: str,
                     facts: dict) -> bool:
    """Whether the enrolment is still within the programme's months (a programme without a
    limit, the pension, is not asked how many)."""
    if programme_code == "unemployment":
        return rules.months_between(start, period) <= rules.unemployment_months(
            float(facts.get("contribution_years", 0)), rules_data["duration"])
    if "months" in rules_data:
        return rules.months_between(start, period) <= int(rules_data["months"])
    return True


def submit_reference_list(*, uow: UnitOfWork, actor: Actor, programme_code: str,
                          period: str) -> PayeeListView:
    """Compute the period's list and hand it to the platform like an office's upload."""
    check_office(actor, programme_code)
    rows = compute_payee_list(uow=uow, programme_code=programme_code, period=period)
    return receive_payee_list(uow=uow, actor=actor, programme_code=programme_code, period=period,
                              rows=rows, source="reference")
