"""The visit, through the card (issue 13): outpatient registration (2201), inpatient admission
(2401), fee details (2204 / 2301), pre-settlement (2206 / 2303), settlement (2207 / 2304),
its cancellation (2208 / 2305), discharge (2402), a pharmacy purchase in one call (2102) and
the reversal of an earlier message (2601).

Every call that changes something is one unit of work, committed here once: the change, its
audit record and the institution's message (`medical_messages`: institution, msgid, infno,
the answer). The same msgid again answers the first answer and changes nothing; a msgid
reused for another request is MsgidReused. A settlement writes, in that one transaction, the
settlement row with every setlinfo field and the policy version, the person's year totals
(+ totals_delta), the fee lines it took, and one ledger journal: the pooled fund
(`medical:fund:{city}:pool`) and the personal account pay the institution
(`medical:institution:{code}:payable`). A cancellation subtracts exactly that totals_delta and
posts the journal's mirror image. A failure anywhere before the commit leaves nothing.

The calculation is `rules.settle` with the policy in force that day (policy.py); this module
only gathers its inputs and records its answer. An institution sees only its own visits and
settlements: another's read as not found.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from yikatong.core.actor import Actor, Role
from yikatong.core.clock import CST, as_utc, local_date
from yikatong.core.errors import ConcurrentChange, DomainError
from yikatong.core.killpoints import killpoint
from yikatong.core.money import MAX_AMOUNT_FEN, Fen
from yikatong.db.idempotency import request_fingerprint
from yikatong.db.statement import RawStatement
from yikatong.db.uow import BesideAudit, UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import AccountNotFound
from yikatong.medical import crossregion, interregion, rules, service
from yikatong.medical.errors import (
    CannotReverse,
    CredentialOfAnotherPerson,
    DuplicateFeeLine,
    InstitutionInactive,
    InvalidFeeLine,
    InvalidMedType,
    InvalidMsgid,
    MessageReversed,
    MsgidReused,
    NationalPlatformNotConnected,
    NothingToSettle,
    SettlementCancelled,
    SettlementNotFound,
    SumMismatch,
    VisitNotFound,
    VisitNotOpen,
    VisitorPreSettleUnavailable,
)
from yikatong.medical.models import FeeLine, HandledMessage, Institution, Settlement, Visit
from yikatong.medical.national import NationalMedicalPlatform, VisitClaim
from yikatong.medical.policy import policy_in_force

MAX_LINES = 500
REVERSED = "reversed"  # request_hash of a tombstone: a message reversed before it landed

# infno by what a call does and the visit's medical type
SETTLE_INFNO = {"11": "2207", "41": "2207", "21": "2304"}
CANCEL_INFNO = {"11": "2208", "41": "2208", "21": "2305"}
UPLOAD_INFNO = {"11": "2204", "41": "2204", "21": "2301"}
SETTLEMENT_INFNOS = frozenset({"2207", "2304", "2102"})

# visit states
OPEN, DISCHARGED, SETTLED, CANCELLED = "open", "discharged", "settled", "cancelled"

# The person_id of a visit (and its settlements) of a person insured in another region: not one
# of our people (people ids start at 1). Such a visit is identified (1101) and settled (2207 /
# 2304) by the insured region through the national platform; `psn_no` and `insuplc_admdvs` are
# that region's, the setlinfo its answer, and no year totals or personal account of ours move.
VISITOR = 0


# ---------------------------------------------------------------------------------------
# What callers get back (and what a replay answers again)


@dataclass(frozen=True)
class VisitView:
    mdtrt_id: str
    fixmedins_code: str
    person_id: int
    psn_no: str
    insutype: str
    med_type: str
    cert_type: str
    insuplc_admdvs: str
    mdtrtarea_admvs: str
    state: str
    begin_at: datetime
    end_at: datetime | None
    dise_codg: str | None
    dept: str | None


@dataclass(frozen=True)
class FeeInput:
    """One fee detail line as the institution sends it (2204 / 2301 feedetail)."""

    feedetl_sn: str              # the institution's serial of the line, unique in the visit
    code: str                    # the catalogue code (med_list_codg)
    quantity: int                # cnt
    unit_price: Fen              # pric
    amount: Fen | None = None    # det_item_fee_sumamt; must be quantity × unit_price
    fee_at: datetime | None = None  # fee_ocur_time; the catalogue in force that day classes it


@dataclass(frozen=True)
class FeeLineView:
    feedetl_sn: str
    code: str
    name: str
    item_class: str              # A 甲 | B 乙 | C 丙
    quantity: int
    unit_price: Fen
    amount: Fen
    price_limit: Fen | None      # for the line's quantity
    pre_self_pay_bp: int
    catalogue_version: str


@dataclass(frozen=True)
class UploadView:
    mdtrt_id: str
    lines: tuple[FeeLineView, ...]


@dataclass(frozen=True)
class SettlementView:
    """A settlement (or, with `setl_id` None and state "preview", a pre-settlement): the
    national setlinfo fields by their names, the policy and catalogue versions used, and the
    person's totals for the year after it."""

    setl_id: str | None
    mdtrt_id: str
    fixmedins_code: str
    person_id: int
    psn_no: str
    insutype: str
    med_type: str
    cert_type: str
    insuplc_admdvs: str
    mdtrtarea_admvs: str
    cross_region: str
    medins_setl_id: str | None
    setlinfo: dict[str, int]
    policy_version: str
    catalogue_version: str
    state: str                   # preview | settled | cancelled
    year: int
    year_totals: dict[str, int]  # after this settlement (preview: as if it were made)
    settled_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True)
class ReversalView:
    omsgid: str
    oinfno: str
    outcome: str  # reversed | never_landed | already_reversed
    detail: str   # what was undone (settlement cancelled, visit withdrawn, lines removed…)


# ---------------------------------------------------------------------------------------
# Outpatient and inpatient visits


def register(*, uow: UnitOfWork, actor: Actor, msgid: str, cert_type: str, cert_no: str,
             med_type: str = "11", dise_codg: str | None = None, dept: str | None = None,
             insuplc_admdvs: str | None = None, national: NationalMedicalPlatform | None = None) -> VisitView:
    """Open an outpatient visit (2201; med_type 11, or 41 at a pharmacy) for the insured
    person behind the credential, enrolled today (1101 + 2001). Raises the refusals of
    `service.identify`, InvalidMedType. With `insuplc_admdvs` outside Changzhou (the
    envelope's), the person is insured there: identified by that region through `national`
    (a VISITOR visit)."""
    request = _request("register", cert_type=cert_type, cert_no=cert_no, med_type=med_type,
                       dise_codg=dise_codg, dept=dept, **_elsewhere(insuplc_admdvs))

    def work(institution: Institution) -> tuple[str, VisitView]:
        allowed = ("41",) if institution.kind == "pharmacy" else ("11",)
        if med_type not in allowed:
            raise InvalidMedType(med_type=str(med_type)[:4])
        visit = _open_visit(uow, actor, institution, msgid=msgid, cert_type=cert_type,
                            cert_no=cert_no, med_type=med_type, dise_codg=dise_codg, dept=dept,
                            insuplc_admdvs=insuplc_admdvs, national=national)
        return "2201", _visit_view(visit)

    return _handle(uow, actor, msgid, request, work, VisitView)


def admit(*, uow: UnitOfWork, actor: Actor, msgid: str, cert_type: str, cert_no: str,
          dise_codg: str | None = None, dept: str | None = None, insuplc_admdvs: str | None = None,
          national: NationalMedicalPlatform | None = None) -> VisitView:
    """Admit the insured person as an inpatient (2401; med_type 21) at a hospital (a person
    insured elsewhere as in `register`)."""
    request = _request("admit", cert_type=cert_type, cert_no=cert_no, dise_codg=dise_codg, dept=dept,
                       **_elsewhere(insuplc_admdvs))

    def work(institution: Institution) -> tuple[str, VisitView]:
        if institution.kind == "pharmacy":
            raise InvalidMedType(med_type="21")
        visit = _open_visit(uow, actor, institution, msgid=msgid, cert_type=cert_type,
                            cert_no=cert_no, med_type="21", dise_codg=dise_codg, dept=dept,
                            insuplc_admdvs=insuplc_admdvs, national=national)
        return "2401", _visit_view(visit)

    return _handle(uow, actor, msgid, request, work, VisitView)


def upload_fees(*, uow: UnitOfWork, actor: Actor, msgid: str, mdtrt_id: str,
                lines: Sequence[FeeInput]) -> UploadView:
    """Add fee detail lines to an open visit (2204 outpatient / 2301 inpatient), each classed
    by the catalogue in force on its day: class, price limit × quantity, 乙 pre-self-pay
    ratio. A code not in that catalogue is UnknownCatalogueCode; nothing of the message is
    kept when one line is refused."""
    request = _request("upload_fees", mdtrt_id=mdtrt_id, lines=[_flat(x) for x in lines])

    def work(institution: Institution) -> tuple[str, UploadView]:
        visit = _locked_visit_values(uow, institution.code, mdtrt_id)
        _require_state(visit, (OPEN, DISCHARGED), "上传费用", "given fees")
        rows = _add_lines(uow, visit, msgid, lines)
        _touch_locked(uow, visit)
        uow.audit(actor=actor, action="medical.fees_uploaded", entity_type="medical_visit",
                  entity_id=visit.mdtrt_id, after={"lines": len(rows),
                                                   "amount": sum(r.amount for r in rows),
                                                   "msgid": msgid}, insert_now=True,
                  hold=True)  # written with the message row (`_handle`): one statement
        return UPLOAD_INFNO[visit.med_type], UploadView(visit.mdtrt_id,
                                                        tuple(_line_view(r) for r in rows))

    return _handle(uow, actor, msgid, request, work, UploadView)


def pre_settle(*, uow: UnitOfWork, actor: Actor, mdtrt_id: str, cert_type: str, cert_no: str,
               use_account: bool = True, medfee_sumamt: Fen | None = None,
               msgid: str | None = None) -> SettlementView:
    """What settling now would give (2206 / 2303): the same checks and calculation as
    `settle`, nothing written (not even the message)."""
    institution = _institution(uow, actor)
    visit, lines = _visit_and_unsettled_lines(uow, institution.code, mdtrt_id)
    _require_state(visit, (OPEN, DISCHARGED), "预结算", "pre-settled")
    if visit.person_id == VISITOR:
        raise VisitorPreSettleUnavailable()
    computed = _compute(uow, institution, visit, cert_type=cert_type, cert_no=cert_no,
                        use_account=use_account, medfee_sumamt=medfee_sumamt, lock=False,
                        unsettled=lines)
    return computed.view(setl_id=None, state="preview", medins_setl_id=None, settled_at=None)


def settle(*, uow: UnitOfWork, actor: Actor, msgid: str, mdtrt_id: str, cert_type: str,
           cert_no: str, use_account: bool = True, medfee_sumamt: Fen | None = None,
           medins_setl_id: str | None = None, national: NationalMedicalPlatform | None = None) -> SettlementView:
    """Settle the visit's fee lines not yet settled (2207 outpatient and pharmacy / 2304
    inpatient), in one transaction (see the module). The credential is checked again now: a
    card reported lost since registration is refused for cert type 03, and the person may
    settle with 01 or 02 instead. `medfee_sumamt`, when given, must equal the lines' total
    (SumMismatch); `medins_setl_id` is the institution's own id (default: the msgid). A VISITOR
    visit is settled by the insured region through `national` (`interregion.settle_visiting`,
    in this transaction)."""
    request = _request("settle", mdtrt_id=mdtrt_id, cert_type=cert_type, cert_no=cert_no,
                       use_account=use_account, medfee_sumamt=medfee_sumamt,
                       medins_setl_id=medins_setl_id)

    def work(institution: Institution) -> tuple[str, SettlementView]:
        visit = _locked_visit_values(uow, institution.code, mdtrt_id)
        _require_state(visit, (OPEN, DISCHARGED), "结算", "settled")
        view = _settle_visit(uow, actor, institution, visit, msgid=msgid, cert_type=cert_type,
                             cert_no=cert_no, use_account=use_account,
                             medfee_sumamt=medfee_sumamt, medins_setl_id=medins_setl_id, national=national)
        return SETTLE_INFNO[visit.med_type], view

    return _handle(uow, actor, msgid, request, work, SettlementView)


def cancel(*, uow: UnitOfWork, actor: Actor, msgid: str, setl_id: str, mdtrt_id: str,
           national: NationalMedicalPlatform | None = None) -> SettlementView:
    """Cancel a settlement (2208 / 2305; a pharmacy's 2102 purchase too): the person's year
    totals lose exactly what it added, the ledger journal is mirrored, its fee lines are free
    to settle again and the visit reopens (a one-call purchase's visit is withdrawn)."""
    request = _request("cancel", setl_id=setl_id, mdtrt_id=mdtrt_id)

    def work(institution: Institution) -> tuple[str, SettlementView]:
        settlement = _settlement(uow, institution.code, setl_id, lock=True)
        if settlement.mdtrt_id != mdtrt_id:
            raise SettlementNotFound(setl_id=str(setl_id)[:30])
        view = _cancel_settlement(uow, actor, settlement, msgid=msgid, national=national)
        return CANCEL_INFNO[settlement.med_type], view

    return _handle(uow, actor, msgid, request, work, SettlementView)


def discharge(*, uow: UnitOfWork, actor: Actor, msgid: str, mdtrt_id: str,
              dise_codg: str | None = None) -> VisitView:
    """Discharge an inpatient (2402), before or after the settlement."""
    request = _request("discharge", mdtrt_id=mdtrt_id, dise_codg=dise_codg)

    def work(institution: Institution) -> tuple[str, VisitView]:
        visit = _visit(uow, institution.code, mdtrt_id, lock=True)
        if visit.med_type != "21":
            raise InvalidMedType(med_type=visit.med_type)
        if visit.end_at is not None or visit.state == CANCELLED:
            raise VisitNotOpen(mdtrt_id=visit.mdtrt_id, state=visit.state, action_zh="出院",
                               action_en="discharged")
        visit.end_at = uow.now()
        if dise_codg:
            visit.dise_codg = _short(dise_codg, 20)
        if visit.state == OPEN:
            visit.state = DISCHARGED
        _touch(uow, visit)
        uow.audit(actor=actor, action="medical.discharged", entity_type="medical_visit",
                  entity_id=visit.mdtrt_id, after={"state": visit.state, "msgid": msgid})
        return "2402", _visit_view(visit)

    return _handle(uow, actor, msgid, request, work, VisitView)


def purchase(*, uow: UnitOfWork, actor: Actor, msgid: str, cert_type: str, cert_no: str,
             lines: Sequence[FeeInput], use_account: bool = True,
             medfee_sumamt: Fen | None = None, medins_setl_id: str | None = None,
             insuplc_admdvs: str | None = None, national: NationalMedicalPlatform | None = None) -> SettlementView:
    """A pharmacy purchase (med_type 41) in one call (2102): the visit, its lines and the
    settlement in one transaction. A pharmacy may also go step by step (register with
    med_type 41, upload_fees, settle)."""
    request = _request("purchase", cert_type=cert_type, cert_no=cert_no,
                       lines=[_flat(x) for x in lines], use_account=use_account,
                       medfee_sumamt=medfee_sumamt, medins_setl_id=medins_setl_id,
                       **_elsewhere(insuplc_admdvs))

    def work(institution: Institution) -> tuple[str, SettlementView]:
        if institution.kind != "pharmacy":
            raise InvalidMedType(med_type="41")
        visit = _open_visit(uow, actor, institution, msgid=msgid, cert_type=cert_type,
                            cert_no=cert_no, med_type="41", dise_codg=None, dept=None,
                            insuplc_admdvs=insuplc_admdvs, national=national)
        _add_lines(uow, visit, msgid, lines)
        view = _settle_visit(uow, actor, institution, visit, msgid=msgid, cert_type=cert_type,
                             cert_no=cert_no, use_account=use_account,
                             medfee_sumamt=medfee_sumamt, medins_setl_id=medins_setl_id, national=national)
        return "2102", view

    return _handle(uow, actor, msgid, request, work, SettlementView)


def reverse(*, uow: UnitOfWork, actor: Actor, msgid: str, omsgid: str, oinfno: str,
            national: NationalMedicalPlatform | None = None) -> ReversalView:
    """Reverse (冲正, 2601) the institution's earlier message `omsgid` whose answer it did not
    get: whatever that message did is undone (a settlement cancelled, a registration withdrawn,
    uploaded lines removed, a discharge taken back); a message that never landed is marked so
    that it is refused if it arrives late. Reversing twice changes nothing more. A
    cancellation (2208 / 2305) is not reversed: settle again."""
    _check_msgid(omsgid)
    request = _request("reverse", omsgid=omsgid, oinfno=oinfno)

    def work(institution: Institution) -> tuple[str, ReversalView]:
        original = uow.session.execute(
            select(HandledMessage).where(HandledMessage.fixmedins_code == institution.code,
                                         HandledMessage.msgid == omsgid)
            .with_for_update()).scalar_one_or_none()
        if original is None:
            uow.session.add(HandledMessage(
                fixmedins_code=institution.code, msgid=omsgid, infno=str(oinfno)[:4],
                request_hash=REVERSED, response={}, reversed=True, reversed_by=msgid,
                created_at=uow.now()))
            outcome, detail = "never_landed", "nothing was done; the message is refused if it arrives"
        elif original.reversed:
            outcome, detail = "already_reversed", "reversed before by " + (original.reversed_by or "-")
        else:
            if original.infno != oinfno:
                raise CannotReverse(oinfno=str(oinfno)[:4], reason_zh=f"原交易为 {original.infno}",
                                    reason_en=f"the original message was {original.infno}")
            detail = _undo(uow, actor, institution, original, msgid, national)
            original.reversed, original.reversed_by = True, msgid
            outcome = "reversed"
        uow.audit(actor=actor, action="medical.message_reversed", entity_type="medical_message",
                  entity_id=f"{institution.code}:{omsgid}",
                  after={"oinfno": oinfno, "outcome": outcome, "detail": detail, "msgid": msgid})
        return "2601", ReversalView(omsgid=omsgid, oinfno=str(oinfno), outcome=outcome, detail=detail)

    return _handle(uow, actor, msgid, request, work, ReversalView)


# ---------------------------------------------------------------------------------------
# Reading


def get_visit(*, uow: UnitOfWork, actor: Actor, mdtrt_id: str) -> VisitView:
    """One visit: its institution, the medical insurance office, or the person themself."""
    visit = uow.session.execute(select(Visit).where(Visit.mdtrt_id == mdtrt_id)).scalar_one_or_none()
    if visit is None or not _may_see(actor, visit.fixmedins_code, visit.person_id):
        raise VisitNotFound(mdtrt_id=str(mdtrt_id)[:30])
    return _visit_view(visit)


def visit_lines(*, uow: UnitOfWork, actor: Actor, mdtrt_id: str) -> list[FeeLineView]:
    """The visit's fee lines in upload order (settled or not)."""
    visit = get_visit(uow=uow, actor=actor, mdtrt_id=mdtrt_id)
    rows = uow.session.execute(
        select(FeeLine).join(Visit, Visit.id == FeeLine.visit_id)
        .where(Visit.mdtrt_id == visit.mdtrt_id).order_by(FeeLine.id)).scalars()
    return [_line_view(row) for row in rows]


def get_settlement(*, uow: UnitOfWork, actor: Actor, setl_id: str) -> SettlementView:
    """One settlement: its institution, the office, or the person themself (the slip)."""
    row = uow.session.execute(select(Settlement).where(Settlement.setl_id == setl_id)).scalar_one_or_none()
    if row is None or not _may_see(actor, row.fixmedins_code, row.person_id):
        raise SettlementNotFound(setl_id=str(setl_id)[:30])
    totals = None if row.person_id == VISITOR else service.year_totals(uow=uow, person_id=row.person_id, year=row.year)
    return _settlement_view(row, totals)


def settlements(*, uow: UnitOfWork, actor: Actor, fixmedins_code: str | None = None,
                person_id: int | None = None, day: date | None = None) -> list[SettlementView]:
    """Settlements, oldest first: an institution's (its own only), a person's (the holder sees
    only theirs), of one Changzhou day if given (settled that day, cancelled or not)."""
    query = select(Settlement).order_by(Settlement.id)
    if actor.role == Role.MEDICAL_INSTITUTION:
        fixmedins_code = actor.branch_code
    if actor.role == Role.HOLDER:
        person_id = actor.person_id
    elif actor.role not in service.OFFICE_ROLES and actor.role != Role.MEDICAL_INSTITUTION:
        return []
    if fixmedins_code is not None:
        query = query.where(Settlement.fixmedins_code == fixmedins_code)
    if person_id is not None:
        query = query.where(Settlement.person_id == person_id)
    if day is not None:
        start = datetime.combine(day, time(0), tzinfo=CST)
        query = query.where(Settlement.settled_at >= start,
                            Settlement.settled_at < start + timedelta(days=1))
    return [_settlement_view(r, None) for r in uow.session.execute(query).scalars()]


# ---------------------------------------------------------------------------------------
# The steps


def _elsewhere(insuplc_admdvs: str | None) -> dict:
    """The request's insured region when it is another region's (part of the msgid's
    fingerprint then; a Changzhou visit's fingerprint stays as it was)."""
    return {"insuplc_admdvs": insuplc_admdvs} if _is_elsewhere(insuplc_admdvs) else {}


def _is_elsewhere(insuplc_admdvs: str | None) -> bool:
    return bool(insuplc_admdvs) and not crossregion.is_home(insuplc_admdvs)


def _national(national: NationalMedicalPlatform | None) -> NationalMedicalPlatform:
    if national is None:
        raise NationalPlatformNotConnected()
    return national


def _open_visit(uow: UnitOfWork, actor: Actor, institution: Institution, *, msgid: str,
                cert_type: str, cert_no: str, med_type: str, dise_codg: str | None,
                dept: str | None, insuplc_admdvs: str | None = None,
                national: NationalMedicalPlatform | None = None) -> Visit:
    now = uow.now()
    day = local_date(now)
    if _is_elsewhere(insuplc_admdvs):  # 1101 through the national platform to the insured region
        crossregion.check_admdvs(insuplc_admdvs)
        info = _national(national).identify(insuplc_admdvs=insuplc_admdvs, cert_type=cert_type,
                                            cert_no=cert_no, day=day)
        person_id, psn_no, insutype, insured = VISITOR, info.psn_no, str(info.insutype), info.insuplc_admdvs
    else:
        person_id, enrolment, _ = service.check_insured(uow=uow, cert_type=cert_type,
                                                        cert_no=cert_no, day=day)
        psn_no, insutype, insured = enrolment.psn_no, enrolment.scheme, enrolment.insured_admdvs
    values = dict(
        mdtrt_id=f"{institution.admdvs}{day:%Y%m%d}{secrets.randbelow(10**12):012d}",
        fixmedins_code=institution.code, person_id=person_id, psn_no=psn_no,
        insutype=insutype, insuplc_admdvs=insured,
        mdtrtarea_admvs=institution.admdvs, med_type=med_type, cert_type=cert_type,
        dise_codg=_short(dise_codg, 20), dept=_short(dept, 64), state=OPEN, begin_at=now,
        end_at=None, msgid=msgid, created_at=now, updated_at=now, version=1)
    # a plain INSERT … RETURNING id on the session's connection (not an ORM flush: the door's
    # hot path); the visit then joins the session as the stored row it is (persistent, not
    # pending: no second INSERT), for the callers that go on with it as an object
    visit = Visit(id=_VISIT_INSERT.first(uow.connection(), values).id, **values)
    make_transient_to_detached(visit)
    uow.session.add(visit)
    uow.audit(actor=actor, action="medical.visit_opened", entity_type="medical_visit",
              entity_id=visit.mdtrt_id, after={"med_type": med_type, "cert_type": cert_type,
                                               "person_id": person_id, "insuplc_admdvs": insured,
                                               "msgid": msgid},
              new_entity=True,  # flushed above: its mdtrt_id (unique, random) is new
              insert_now=True,  # a plain INSERT: the door's hot path
              hold=True)  # written with the message row (`_handle`): one statement
    return visit


# the hot path's statements on the connection's own cursor (db.statement: no SQLAlchemy execution path)
_KNOWN_SERIALS = RawStatement(select(FeeLine.__table__.c.feedetl_sn)
                              .where(FeeLine.__table__.c.visit_id == bindparam("visit_id")), "KnownSerial")
_LINE_INSERTED = ("visit_id", "feedetl_sn", "code", "name", "item_class", "quantity", "unit_price", "amount",
                  "price_limit", "pre_self_pay_bp", "catalogue_version", "fee_at", "msgid", "settlement_id",
                  "created_at")
_INSERT_LINES = RawStatement(insert(FeeLine.__table__).inline(), "LineInsert", columns=_LINE_INSERTED)


def _add_lines(uow: UnitOfWork, visit: Any, msgid: str, lines: Sequence[FeeInput]) -> list[SimpleNamespace]:
    if not lines or len(lines) > MAX_LINES:
        raise InvalidFeeLine(feedetl_sn="-", reason_zh=f"每次上传 1–{MAX_LINES} 条",
                             reason_en=f"send 1–{MAX_LINES} lines at a time")
    known = {row.feedetl_sn for row in _KNOWN_SERIALS.rows(uow.connection(), {"visit_id": visit.id})}
    now = uow.now()
    rows = []
    for line in lines:
        sn = _checked_line(line)
        if sn in known:
            raise DuplicateFeeLine(feedetl_sn=sn)
        known.add(sn)
        fee_at = as_utc(line.fee_at) if line.fee_at is not None else now
        catalogue, item = service.catalogue_item(code=line.code, day=local_date(fee_at))
        rows.append(dict(
            visit_id=visit.id, feedetl_sn=sn, code=item.code, name=item.name,
            item_class=item.item_class, quantity=line.quantity, unit_price=line.unit_price,
            amount=line.quantity * line.unit_price, price_limit=item.limit_for(line.quantity),
            pre_self_pay_bp=item.pre_self_pay_bp, catalogue_version=catalogue.version,
            fee_at=fee_at, msgid=msgid, settlement_id=None, created_at=now))
    # One plain INSERT of the rows (the ORM's flush of new objects cost more CPU than the
    # insert): nothing here needs their ids, and a settlement reads them from the table.
    _INSERT_LINES.executemany(uow.connection(), rows)
    # as inserted, for the answer: plain records (not ORM objects: nothing keeps them in a session)
    return [SimpleNamespace(**row) for row in rows]


@dataclass(frozen=True)
class _Computed:
    visit: Visit
    enrolment: service.EnrolmentView
    cert_type: str
    lines: list[Any]  # selected rows (`_unsettled_lines`)
    result: rules.Settlement
    cross_region: str
    catalogue_version: str
    year: int
    year_before: rules.YearTotals
    year_row: Any  # the locked year row's id, version and totals (None for a pre-settlement)

    def view(self, *, setl_id: str | None, state: str, medins_setl_id: str | None,
             settled_at: datetime | None) -> SettlementView:
        v = self.visit
        return SettlementView(
            setl_id=setl_id, mdtrt_id=v.mdtrt_id, fixmedins_code=v.fixmedins_code,
            person_id=v.person_id, psn_no=v.psn_no, insutype=self.enrolment.scheme,
            med_type=v.med_type, cert_type=self.cert_type,
            insuplc_admdvs=self.enrolment.insured_admdvs, mdtrtarea_admvs=v.mdtrtarea_admvs,
            cross_region=self.cross_region, medins_setl_id=medins_setl_id,
            setlinfo=_flat(self.result.setlinfo),
            policy_version=self.result.policy_version, catalogue_version=self.catalogue_version,
            state=state, year=self.year,
            year_totals=_flat(self.year_before + self.result.totals_delta),
            settled_at=settled_at, cancelled_at=None)


def _compute(uow: UnitOfWork, institution: Institution, visit: Visit, *, cert_type: str,
             cert_no: str, use_account: bool, medfee_sumamt: Fen | None, lock: bool,
             unsettled: list[FeeLine] | None = None) -> _Computed:
    """The inputs of rules.settle gathered now, and its answer. With `lock`, the person's year
    row is locked first (and then the account balance read), so two settlements of one person
    queue instead of both spending the same balance or the same cap. `unsettled`: the visit's
    unsettled lines when already read with it (`_visit_and_unsettled_lines`)."""
    day = local_date(uow.now())
    person_id, enrolment, _ = service.check_insured(uow=uow, cert_type=cert_type,
                                                    cert_no=cert_no, day=day)
    if person_id != visit.person_id:
        raise CredentialOfAnotherPerson()
    lines = _unsettled_lines(uow, visit, medfee_sumamt, unsettled)
    year_row = None
    if lock:
        year_row = service.lock_year_totals_values(uow=uow, person_id=visit.person_id, year=day.year)
        year = service.totals_of(year_row)
        # the personal account's balance, read after the year lock (current: the person's
        # settlements queue on it), with the other accounts the settlement posts to, which the
        # ledger's posting then takes from this read instead of selecting them again
        account = service.account_code(visit.person_id)
        found = ledger.read_accounts(uow=uow, codes=[
            account, service.pool_code(enrolment.insured_admdvs), service.payable_code(institution.code)])
        balance = found[account].balance if account in found else 0
    else:
        year, balance = service.year_totals_and_balance(uow=uow, person_id=visit.person_id, year=day.year)
    cross = crossregion.filing_status(uow=uow, person_id=visit.person_id, treatment_admdvs=institution.admdvs,
                                      day=day, insured_admdvs=enrolment.insured_admdvs)
    result = rules.settle(
        policy=policy_in_force(day),
        insured=rules.Insured(scheme=rules.Scheme(enrolment.scheme), retired=enrolment.retired,
                              account_balance=balance, assistance=enrolment.assistance),
        encounter=rules.Encounter(med_type=rules.MedType(visit.med_type),
                                  level=rules.Level(institution.level), cross_region=cross,
                                  use_account=use_account),
        lines=[rules.FeeLine(code=line.code, item_class=rules.ItemClass(line.item_class),
                             amount=line.amount, price_limit=line.price_limit,
                             pre_self_pay_bp=line.pre_self_pay_bp) for line in lines],
        year=year)
    return _Computed(visit=visit, enrolment=enrolment, cert_type=cert_type, lines=lines, result=result,
                     cross_region=str(cross), catalogue_version=max(line.catalogue_version for line in lines),
                     year=day.year, year_before=year, year_row=year_row)


_LINES = FeeLine.__table__
_HOLD_LINES_BY_COUNT: dict[int, RawStatement] = {}  # _hold_lines' UPDATE for n lines


def _hold_lines_of(count: int) -> RawStatement:
    """The UPDATE that holds `count` lines of a visit (`line_0` …: the ids bound one by one),
    on the connection's own cursor (db.statement): built once per count (at most MAX_LINES
    per upload; a settlement takes the visit's unsettled lines)."""
    found = _HOLD_LINES_BY_COUNT.get(count)
    if found is None:
        found = _HOLD_LINES_BY_COUNT[count] = RawStatement(
            update(_LINES).where(_LINES.c.visit_id == bindparam("of_visit"),
                                 _LINES.c.id.in_([bindparam(f"line_{n}") for n in range(count)]))
            .values(settlement_id=bindparam("held_by")), "HoldLines")
    return found


def _hold_lines(uow: UnitOfWork, visit: Visit, lines: list[Any], settlement_id: int) -> None:
    """The settled lines (selected rows, `_unsettled_lines`) take the settlement's id: one
    UPDATE for the visit's lines (not one per line), on the session's connection (no ORM
    execution path); a line the session holds as an object gets it too, as its stored value
    (the session's own evaluation of the UPDATE's criteria over its identity map cost more
    than the UPDATE)."""
    line_ids = [line.id for line in lines]
    _hold_lines_of(len(line_ids)).execute(uow.connection(), {
        "of_visit": visit.id, "held_by": settlement_id, **{f"line_{n}": line_id for n, line_id in enumerate(line_ids)}})
    held = uow.session.identity_map
    for line_id in line_ids:
        kept = held.get(identity_key(FeeLine, line_id))
        if kept is not None:
            set_committed_value(kept, "settlement_id", settlement_id)


# What a settlement reads of its lines (rules.FeeLine's inputs, the catalogue version, the id
# to hold them by): the table's columns, not the entity (no ORM objects, fewer columns described)
_LINE_COLUMNS = tuple(_LINES.c[name] for name in (
    "id", "code", "item_class", "amount", "price_limit", "pre_self_pay_bp", "catalogue_version"))
_UNSETTLED_LINES = RawStatement(select(*_LINE_COLUMNS)
                                .where(_LINES.c.visit_id == bindparam("visit_id"), _LINES.c.settlement_id.is_(None))
                                .order_by(_LINES.c.id), "UnsettledLine")


def _unsettled_lines(uow: UnitOfWork, visit: Visit, medfee_sumamt: Fen | None,
                     loaded: list[Any] | None = None) -> list[Any]:
    """The visit's lines not yet settled, as selected rows of `_LINE_COLUMNS`, in id order."""
    lines = loaded if loaded is not None else _UNSETTLED_LINES.rows(uow.connection(), {"visit_id": visit.id})
    if not lines:
        raise NothingToSettle(mdtrt_id=visit.mdtrt_id)
    total = sum(line.amount for line in lines)
    if medfee_sumamt is not None and medfee_sumamt != total:
        raise SumMismatch(given=medfee_sumamt, computed=total)
    return lines


def _settle_visitor(uow: UnitOfWork, actor: Actor, institution: Institution, visit: Visit, *,
                    msgid: str, cert_type: str, cert_no: str, use_account: bool,
                    medfee_sumamt: Fen | None, medins_setl_id: str | None,
                    national: NationalMedicalPlatform | None) -> SettlementView:
    """A VISITOR visit's settlement: the credential checked again by the insured region, the
    claim (our catalogue's classes, as uploaded) settled there through the platform, and in
    this transaction the `in` row with its posting (interregion: receivable from that region →
    the institution's payable) and the visit's settlement row with the insured region's
    setlinfo — so it is in the institution's day and its 3201/3202 reconciliation like any
    other. No year totals, personal account or pooled fund of ours move."""
    nation = _national(national)
    now = uow.now()
    day = local_date(now)
    info = nation.identify(insuplc_admdvs=visit.insuplc_admdvs, cert_type=cert_type, cert_no=cert_no, day=day)
    if info.psn_no != visit.psn_no:
        raise CredentialOfAnotherPerson()
    lines = _unsettled_lines(uow, visit, medfee_sumamt)
    claim = VisitClaim(
        msgid=msgid, mdtrtarea_admvs=institution.admdvs, fixmedins_code=institution.code,
        insuplc_admdvs=visit.insuplc_admdvs, psn_no=visit.psn_no, med_type=rules.MedType(visit.med_type),
        level=rules.Level(institution.level), day=day, use_account=use_account,
        lines=tuple(rules.FeeLine(code=line.code, item_class=rules.ItemClass(line.item_class), amount=line.amount,
                                  price_limit=line.price_limit, pre_self_pay_bp=line.pre_self_pay_bp)
                    for line in lines))
    answer = interregion.settle_visiting(uow=uow, actor=actor, national=nation, claim=claim, commit=False)
    setl_id = f"S{institution.admdvs}{day:%Y%m%d}{secrets.randbelow(10**12):012d}"
    row = Settlement(
        setl_id=setl_id, visit_id=visit.id, mdtrt_id=visit.mdtrt_id, fixmedins_code=institution.code,
        person_id=VISITOR, psn_no=visit.psn_no, insutype=visit.insutype, med_type=visit.med_type,
        insuplc_admdvs=visit.insuplc_admdvs, mdtrtarea_admvs=visit.mdtrtarea_admvs, cert_type=cert_type,
        cross_region=str(answer.cross_region), year=day.year, medins_setl_id=_short(medins_setl_id, 30) or msgid,
        **_flat(answer.setlinfo), policy_version=answer.policy_version[:32],
        catalogue_version=max(line.catalogue_version for line in lines), totals_delta={},
        journal_request_id=None, state=SETTLED, msgid=msgid, settled_at=now, cancelled_at=None,
        cancel_msgid=None)
    uow.session.add(row)
    uow.session.flush()
    _hold_lines(uow, visit, lines, row.id)
    _touch_locked(uow, visit, state=SETTLED)  # the visit: an entity (2102) or a selected row (2207)
    uow.audit(actor=actor, action="medical.settled", entity_type="medical_settlement", entity_id=setl_id, after={
        "mdtrt_id": visit.mdtrt_id, "medfee_sumamt": answer.setlinfo.medfee_sumamt,
        "fund_pay_sumamt": answer.setlinfo.fund_pay_sumamt, "acct_pay": answer.setlinfo.acct_pay,
        "psn_cash_pay": answer.setlinfo.psn_cash_pay, "policy_version": answer.policy_version,
        "insuplc_admdvs": visit.insuplc_admdvs, "insured_region_setl_id": answer.setl_id,
        "cert_type": cert_type, "msgid": msgid}, new_entity=True)  # the row flushed above: a new setl_id
    return _settlement_view(row, None)


def _settle_visit(uow: UnitOfWork, actor: Actor, institution: Institution, visit: Visit, *,
                  msgid: str, cert_type: str, cert_no: str, use_account: bool,
                  medfee_sumamt: Fen | None, medins_setl_id: str | None,
                  national: NationalMedicalPlatform | None = None) -> SettlementView:
    if visit.person_id == VISITOR:
        return _settle_visitor(uow, actor, institution, visit, msgid=msgid, cert_type=cert_type, cert_no=cert_no,
                               use_account=use_account, medfee_sumamt=medfee_sumamt,
                               medins_setl_id=medins_setl_id, national=national)
    computed = _compute(uow, institution, visit, cert_type=cert_type, cert_no=cert_no,
                        use_account=use_account, medfee_sumamt=medfee_sumamt, lock=True)
    info, now = computed.result.setlinfo, uow.now()
    setl_id = f"S{institution.admdvs}{local_date(now):%Y%m%d}{secrets.randbelow(10**12):012d}"
    pool = service.pool_code(computed.enrolment.insured_admdvs)
    legs = _settlement_legs(pool=pool, account=service.account_code(visit.person_id),
                            payable=service.payable_code(institution.code), info=info)
    journal_id = f"medical:settle:{setl_id}" if legs else None
    medins_setl_id = _short(medins_setl_id, 30) or msgid
    # a plain INSERT … RETURNING id, alone or chained with the lines and the visit
    # (`_settle_chained`); no ORM object: nothing in this transaction reads the row back, the
    # answer is made from `computed`
    settlement = dict(
        setl_id=setl_id, visit_id=visit.id, mdtrt_id=visit.mdtrt_id, fixmedins_code=institution.code,
        person_id=visit.person_id, psn_no=visit.psn_no, insutype=computed.enrolment.scheme,
        med_type=visit.med_type, insuplc_admdvs=computed.enrolment.insured_admdvs,
        mdtrtarea_admvs=visit.mdtrtarea_admvs, cert_type=cert_type,
        cross_region=computed.cross_region, year=computed.year,
        medins_setl_id=medins_setl_id, **_flat(info),
        policy_version=computed.result.policy_version,
        catalogue_version=computed.catalogue_version,
        totals_delta=_flat(computed.result.totals_delta),
        journal_request_id=journal_id, state=SETTLED, msgid=msgid, settled_at=now,
        cancelled_at=None, cancel_msgid=None, version=1)
    totals = computed.year_before + computed.result.totals_delta
    if not _settle_chained(uow, visit, computed.lines, settlement, now, computed.year_row, totals):
        service.store_totals(uow, computed.year_row, totals, now)
        settlement_id = _SETTLEMENT_INSERT.first(uow.connection(), settlement).id
        _hold_lines(uow, visit, computed.lines, settlement_id)
        _touch_locked(uow, visit, state=SETTLED)
    uow.audit(actor=actor, action="medical.settled", entity_type="medical_settlement",
              entity_id=setl_id, after={
                  "mdtrt_id": visit.mdtrt_id, "medfee_sumamt": info.medfee_sumamt,
                  "fund_pay_sumamt": info.fund_pay_sumamt, "acct_pay": info.acct_pay,
                  "psn_cash_pay": info.psn_cash_pay, "policy_version": computed.result.policy_version,
                  "cert_type": cert_type, "msgid": msgid},
              new_entity=True,  # the row inserted above: its setl_id (unique, random) is new
              insert_now=True, hold=True)  # written with the message row (`_handle`): one statement
    if legs:
        # Last: the fund's and the institution's accounts are every settlement's hot rows:
        # raised by a settlement, they are moved by the commit's last statement
        # (`late_unchecked`), so locked only for it and the COMMIT; the personal account is
        # locked and checked here. The journal's id is made of the new setl_id.
        memo = f"{SETTLE_INFNO[visit.med_type]} {visit.mdtrt_id}"
        try:
            ledger.post(uow=uow, request_id=journal_id, kind="medical_settlement", legs=legs, memo=memo,
                        new_request=True, plain=True, late_unchecked=True)
        except AccountNotFound:  # opened at enrolment and designation; data from before that
            service.open_fund_accounts(uow, insured_admdvs=computed.enrolment.insured_admdvs,
                                       fixmedins_code=institution.code)
            ledger.post(uow=uow, request_id=journal_id, kind="medical_settlement", legs=legs, memo=memo,
                        new_request=True, plain=True, late_unchecked=True)
    return computed.view(setl_id=setl_id, state=SETTLED, medins_setl_id=medins_setl_id,
                         settled_at=now)


_SETTLE_CHAINED: RawStatement | None = None


def _settle_chained_statement() -> RawStatement:
    """Three of 2207's writes as one statement on PostgreSQL (data-modifying CTEs): the
    settlement's INSERT … RETURNING id, the lines' settlement_id (`_hold_lines`, the new id taken
    from the INSERT, the lines by `id = ANY(:line_ids)`) and the visit's state checked by
    version (`_touch_locked`). One row: the new id, and how many visit rows the UPDATE moved
    (1, else the caller raises ConcurrentChange as `_touch_locked` did). The values that are
    the same in every 2207 settlement (its state, no cancellation, version 1, the visit's new
    state and version) are in the SQL, and the visit's id and the time are one parameter each
    where they repeat: psycopg caches a query's conversion only up to 50 parameters (the
    settlement alone binds 45), and parses an uncached one on every call. The person's year
    totals (`service.store_totals`: the row locked before, checked by its version) are a fourth
    CTE; to stay under 50 parameters the settlement's columns that are the locked visit's
    (`_FROM_VISIT`: its mdtrt_id, institution, person, psn_no, med_type, care area) are taken
    from the visit row by its id in the statement (the row is locked by this transaction and
    these columns are not among what the statement changes): 48 parameters. Built once."""
    global _SETTLE_CHAINED
    if _SETTLE_CHAINED is not None:
        return _SETTLE_CHAINED
    from sqlalchemy import Integer, any_, func, literal_column, null
    from sqlalchemy.dialects.postgresql import ARRAY

    if not SETTLED.isalpha():  # written into the SQL as it is
        raise ValueError(f"not a state to write into SQL: {SETTLED!r}")
    settled_state, one = literal_column(f"'{SETTLED}'"), literal_column("1")  # in the SQL, not bound
    settlements = Settlement.__table__
    fixed = {"state": settled_state, "cancelled_at": null(), "cancel_msgid": null(), "version": one,
             "visit_id": bindparam("visit_id", type_=settlements.c.visit_id.type),
             "settled_at": bindparam("now", type_=settlements.c.settled_at.type),
             **{name: select(_VISITS.c[name]).where(_VISITS.c.id == bindparam("visit_id")).scalar_subquery()
                for name in _FROM_VISIT}}
    settled = insert(settlements).values({
        column.key: fixed.get(column.key, bindparam(f"s_{column.key}", type_=column.type))
        for column in settlements.c if column.key != "id"
    }).returning(settlements.c.id).cte("settled")
    held = (update(_LINES).where(_LINES.c.visit_id == bindparam("visit_id"),
                                 _LINES.c.id == any_(bindparam("line_ids", type_=ARRAY(Integer))))
            .values(settlement_id=select(settled.c.id).scalar_subquery()).returning(_LINES.c.id).cte("held"))
    touched = (update(_VISITS).where(_VISITS.c.id == bindparam("visit_id"),
                                     _VISITS.c.version == bindparam("visit_version"))
               .values(state=settled_state, updated_at=bindparam("now"), version=_VISITS.c.version + one)
               .returning(_VISITS.c.id).cte("touched"))
    years = service.YEARS_TABLE
    year_moved = (update(years).where(years.c.id == bindparam("year_id"), years.c.version == bindparam("year_version"))
                  .values(updated_at=bindparam("now"), version=years.c.version + one,
                          **{name: bindparam(f"y_{name}") for name in service.TOTALS_COLUMNS})
                  .returning(years.c.id).cte("year_moved"))
    _SETTLE_CHAINED = RawStatement(select(
        select(settled.c.id).scalar_subquery().label("id"),
        select(func.count()).select_from(touched).scalar_subquery().label("touched"),
        select(func.count()).select_from(year_moved).scalar_subquery().label("year_moved"),
    ).add_cte(held), "SettleChained")
    return _SETTLE_CHAINED


# the settlement's columns `_settle_chained_statement` takes from the locked visit's row
_FROM_VISIT = ("mdtrt_id", "fixmedins_code", "person_id", "psn_no", "med_type", "mdtrtarea_admvs")
_SETTLE_CHAINED_FIXED = ("state", "cancelled_at", "cancel_msgid", "version", "visit_id", "settled_at", *_FROM_VISIT)


def _settle_chained(uow: UnitOfWork, visit: Any, lines: list[Any], settlement: dict, now: datetime,
                    year_row: Any, totals: rules.YearTotals) -> bool:
    """On PostgreSQL, for a visit selected as columns (2207: no entity in the session to
    update), the person's year totals (`service.store_totals` of `totals` into the locked
    `year_row`), the settlement's INSERT, the lines' settlement_id and the visit's state
    written by one statement (`_settle_chained_statement`: three round trips a settlement
    fewer), with the same values and the same version checks as the four statements it
    replaces; True when it did. Elsewhere (SQLite, a visit or year row the session keeps as an
    entity, a state other than the statement's) False: the caller makes the four statements.
    A data-modifying CTE's statements run on one snapshot and do not see each other's rows:
    these four write different tables (the visit and the year row locked before, the lines
    held by id, the settlement new)."""
    connection = uow.connection()
    if connection.dialect.name != "postgresql" or isinstance(visit, Visit) or not lines \
            or isinstance(year_row, service.models.YearTotals) \
            or settlement["state"] != SETTLED or settlement["version"] != 1 \
            or settlement["cancelled_at"] is not None or settlement["cancel_msgid"] is not None \
            or settlement["visit_id"] != visit.id or settlement["settled_at"] != now \
            or any(settlement[name] != getattr(visit, name) for name in _FROM_VISIT):
        return False
    line_ids = [line.id for line in lines]
    done = _settle_chained_statement().first(connection, {
        **{f"s_{name}": value for name, value in settlement.items() if name not in _SETTLE_CHAINED_FIXED},
        "visit_id": visit.id, "now": now, "line_ids": line_ids, "visit_version": visit.version,
        "year_id": year_row.id, "year_version": year_row.version,
        **{f"y_{name}": getattr(totals, name) for name in service.TOTALS_COLUMNS}})
    if done.touched != 1 or done.year_moved != 1:
        raise ConcurrentChange()
    held = uow.session.identity_map
    for line_id in line_ids:  # a line the session keeps takes its settlement, as `_hold_lines` does
        kept = held.get(identity_key(FeeLine, line_id))
        if kept is not None:
            set_committed_value(kept, "settlement_id", done.id)
    return True


def _cancel_settlement(uow: UnitOfWork, actor: Actor, settlement: Settlement, *, msgid: str,
                       national: NationalMedicalPlatform | None = None) -> SettlementView:
    if settlement.state != SETTLED:
        raise SettlementCancelled(setl_id=settlement.setl_id)
    now = uow.now()
    after = None
    if settlement.person_id == VISITOR:  # the insured region gives back; our office takes back from the institution
        booked = interregion.visiting_row(uow=uow, fixmedins_code=settlement.fixmedins_code, msgid=settlement.msgid)
        if booked is None:
            raise SettlementNotFound(setl_id=settlement.setl_id)
        interregion.cancel_visiting(uow=uow, actor=actor, national=_national(national), setl_id=booked.setl_id,
                                    msgid=msgid, commit=False)
    else:
        year_row = service.lock_year_totals(uow=uow, person_id=settlement.person_id, year=settlement.year)
        after = service.totals_of(year_row) - rules.YearTotals(**settlement.totals_delta)
        service.apply_totals(year_row, after, now)
    if settlement.journal_request_id is not None:
        legs = _settlement_legs(pool=service.pool_code(settlement.insuplc_admdvs),
                                account=service.account_code(settlement.person_id),
                                payable=service.payable_code(settlement.fixmedins_code),
                                info=settlement, sign=-1)
        ledger.post(uow=uow, request_id=f"{settlement.journal_request_id}:cancel",
                    kind="medical_settlement_cancel", legs=legs,
                    memo=f"{CANCEL_INFNO[settlement.med_type]} {settlement.mdtrt_id}")
    settlement.state, settlement.cancelled_at, settlement.cancel_msgid = CANCELLED, now, msgid
    for line in uow.session.execute(select(FeeLine).where(FeeLine.settlement_id == settlement.id)).scalars():
        line.settlement_id = None
    visit = uow.session.get(Visit, settlement.visit_id)
    one_call = settlement.msgid == visit.msgid  # a 2102 purchase: the visit goes with it
    visit.state = CANCELLED if one_call else (OPEN if visit.end_at is None else DISCHARGED)
    _touch(uow, visit)
    uow.session.flush()
    uow.audit(actor=actor, action="medical.settlement_cancelled", entity_type="medical_settlement",
              entity_id=settlement.setl_id, after={"state": CANCELLED, "msgid": msgid})
    return _settlement_view(settlement, after)


def _undo(uow: UnitOfWork, actor: Actor, institution: Institution, original: HandledMessage,
          msgid: str, national: NationalMedicalPlatform | None = None) -> str:
    """Undo what the handled message `original` did; what was undone, in words."""
    answer, infno = original.response, original.infno

    def refuse(zh: str, en: str) -> CannotReverse:
        return CannotReverse(oinfno=infno, reason_zh=zh, reason_en=en)

    if infno in SETTLEMENT_INFNOS:
        settlement = _settlement(uow, institution.code, answer["setl_id"], lock=True)
        if settlement.state == SETTLED:
            _cancel_settlement(uow, actor, settlement, msgid=msgid, national=national)
            return f"settlement {settlement.setl_id} cancelled"
        return f"settlement {settlement.setl_id} was already cancelled"
    if infno in ("2201", "2401"):
        visit = _visit(uow, institution.code, answer["mdtrt_id"], lock=True)
        if visit.state == SETTLED:
            raise refuse("该就诊已结算，请先撤销结算", "the visit is settled; cancel the settlement first")
        visit.state = CANCELLED
        _touch(uow, visit)
        return f"visit {visit.mdtrt_id} withdrawn"
    if infno in ("2204", "2301"):
        visit = _visit(uow, institution.code, answer["mdtrt_id"], lock=True)
        sns = [line["feedetl_sn"] for line in answer["lines"]]
        rows = list(uow.session.execute(select(FeeLine).where(
            FeeLine.visit_id == visit.id, FeeLine.feedetl_sn.in_(sns))).scalars())
        if any(row.settlement_id is not None for row in rows):
            raise refuse("明细已结算，请先撤销结算", "the lines are settled; cancel the settlement first")
        for row in rows:
            uow.session.delete(row)
        _touch(uow, visit)
        return f"{len(rows)} fee lines of {visit.mdtrt_id} removed"
    if infno == "2402":
        visit = _visit(uow, institution.code, answer["mdtrt_id"], lock=True)
        visit.end_at = None
        if visit.state == DISCHARGED:
            visit.state = OPEN
        _touch(uow, visit)
        return f"discharge of {visit.mdtrt_id} taken back"
    raise refuse("撤销类交易不能冲正，请重新结算", "a cancellation is not reversed; settle again")


# ---------------------------------------------------------------------------------------
# Messages: one transaction per message, the same msgid answers the same answer


def _handle(uow: UnitOfWork, actor: Actor, msgid: str, request: dict,
            work: Callable[[Institution], tuple[str, Any]], kind: type) -> Any:
    institution = _institution(uow, actor)
    _check_msgid(msgid)
    stored = _stored(uow, institution.code, msgid, request)
    if stored is not None:
        return _from_json(kind, stored)
    try:
        infno, result = work(institution)
        # a plain INSERT (no ORM object): nothing in this transaction reads the row back; the
        # audit record `work` held (`uow.audit(hold=True)`) written by the same statement
        uow.insert_beside_audit(_MESSAGE_INSERT, {
            "fixmedins_code": institution.code, "msgid": msgid, "infno": infno,
            "request_hash": request_fingerprint(request), "response": _to_json(result),
            "reversed": False, "reversed_by": None, "created_at": uow.now()})
        killpoint("medical.message.handled")  # answer and effects in the transaction, not committed
        uow.commit()
        killpoint("medical.message.committed")  # committed, the institution has no answer yet
    except (DomainError, IntegrityError) as error:
        # The first try of this msgid may have committed meanwhile (a retry overtaking it):
        # then its answer is the answer; else the refusal stands.
        uow.session.rollback()
        stored = _stored(uow, institution.code, msgid, request)
        if stored is None:
            if isinstance(error, IntegrityError):
                raise ConcurrentChange() from error
            raise
        return _from_json(kind, stored)
    return result


# plain INSERTs on the connection's own cursor (db.statement): the message row (nothing reads it
# back), the settlement and the visit (their new ids)
_MESSAGE_INSERT = BesideAudit(HandledMessage.__table__, "MessageInsert", columns=(
    "fixmedins_code", "msgid", "infno", "request_hash", "response", "reversed", "reversed_by", "created_at"))
_SETTLEMENT_INSERT = RawStatement(
    insert(Settlement.__table__).returning(Settlement.__table__.c.id), "SettlementInsert",
    columns=tuple(column.key for column in Settlement.__table__.c if column.key != "id"))
_VISIT_INSERT = RawStatement(insert(Visit.__table__).returning(Visit.__table__.c.id), "VisitInsert",
                             columns=tuple(column.key for column in Visit.__table__.c if column.key != "id"))

# session.info key: (transaction, code, msgid) the door found not handled in that transaction
_UNHANDLED = "medical.visits.unhandled"


def note_unhandled(uow: UnitOfWork, code: str, msgid: str) -> None:
    """The door read, in this unit of work's transaction, that `msgid` of institution `code`
    is not in medical_messages: the message's first look-up (`_stored`) then needs no select
    of its own. Used once: a look-up after a rollback (a retry that overtook its first try)
    selects again. A first try committing in between is found as today, by the unique
    (institution, msgid) of the message row this one then fails to insert."""
    uow.session.info[_UNHANDLED] = (uow.session.get_transaction(), code, msgid)


def _stored(uow: UnitOfWork, code: str, msgid: str, request: dict) -> dict | None:
    noted = uow.session.info.pop(_UNHANDLED, None)
    if noted is not None and noted[0] is uow.session.get_transaction() and noted[1:] == (code, msgid):
        return None
    row = uow.session.execute(
        select(HandledMessage).where(HandledMessage.fixmedins_code == code,
                                     HandledMessage.msgid == msgid)).scalar_one_or_none()
    if row is None:
        return None
    if row.request_hash == REVERSED:
        raise MessageReversed(msgid=msgid)
    if row.request_hash != request_fingerprint(request):
        raise MsgidReused(msgid=msgid, infno=row.infno)
    return row.response


def _request(operation: str, **fields: Any) -> dict:
    return {"operation": operation, **fields}


def _check_msgid(msgid: object) -> None:
    if not isinstance(msgid, str) or not 0 < len(msgid) <= 30 or msgid != msgid.strip():
        raise InvalidMsgid()


_PLAIN = frozenset((str, int, bool, type(None), dict))  # _to_json gives these as they are


def _to_json(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values of an answer: no dataclass check for them
        return value
    if dataclasses.is_dataclass(value):
        return {name: _to_json(getattr(value, name)) for name in _field_names(value)}
    if isinstance(value, tuple | list):
        return [_to_json(item) for item in value]
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def _from_json(kind: type, data: dict) -> Any:
    values = dict(data)
    for f in dataclasses.fields(kind):
        if "datetime" in str(f.type) and values.get(f.name) is not None:
            values[f.name] = datetime.fromisoformat(values[f.name])
    if kind is UploadView:
        values["lines"] = tuple(FeeLineView(**line) for line in values["lines"])
    return kind(**values)


# ---------------------------------------------------------------------------------------
# Helpers


def _institution(uow: UnitOfWork, actor: Actor) -> Institution:
    institution = service.institution_of(uow, actor)
    if not institution.active:
        raise InstitutionInactive(code=institution.code)
    return institution


# _visit's selects (unlocked, locked), built once: building a select costs more than running it
_VISIT = select(Visit).where(Visit.mdtrt_id == bindparam("mdtrt_id"), Visit.fixmedins_code == bindparam("code"))
_VISIT_LOCKED = _VISIT.with_for_update()


_VISITS = Visit.__table__
# What 2204 and 2207 read of the visit they lock: its columns, not the entity (no ORM object,
# fewer columns described); they write it by `_touch_locked`'s Core UPDATE
_VISIT_VALUES_LOCKED = RawStatement(
    select(*(_VISITS.c[name] for name in (
        "id", "mdtrt_id", "fixmedins_code", "person_id", "psn_no", "insutype", "insuplc_admdvs",
        "mdtrtarea_admvs", "med_type", "state", "version")))
    .where(_VISITS.c.mdtrt_id == bindparam("mdtrt_id"), _VISITS.c.fixmedins_code == bindparam("code"))
    .with_for_update(), "LockedVisit")


def _locked_visit_values(uow: UnitOfWork, code: str, mdtrt_id: str) -> Any:
    """`_visit(lock=True)` as a selected row of `_VISIT_VALUES_LOCKED` (for `_touch_locked`)."""
    visit = _VISIT_VALUES_LOCKED.first(uow.connection(), {"mdtrt_id": mdtrt_id, "code": code})
    if visit is None:  # another institution's visit reads as a missing one
        raise VisitNotFound(mdtrt_id=str(mdtrt_id)[:30])
    return visit


def _visit(uow: UnitOfWork, code: str, mdtrt_id: str, *, lock: bool = False) -> Visit:
    visit = uow.session.execute(_VISIT_LOCKED if lock else _VISIT,
                                {"mdtrt_id": mdtrt_id, "code": code}).scalar_one_or_none()
    if visit is None:  # another institution's visit reads as a missing one
        raise VisitNotFound(mdtrt_id=str(mdtrt_id)[:30])
    return visit


# 2206's visit, as columns (no entity): what the preview shows and computes from, not its id
# (`id` in these rows is the line's)
_VISIT_AND_UNSETTLED_LINES = RawStatement(
    select(*(_VISITS.c[name] for name in (
        "mdtrt_id", "fixmedins_code", "person_id", "psn_no", "insutype", "insuplc_admdvs",
        "mdtrtarea_admvs", "med_type", "state")), *_LINE_COLUMNS)
    .select_from(_VISITS)
    .outerjoin(_LINES, (_LINES.c.visit_id == _VISITS.c.id) & _LINES.c.settlement_id.is_(None))
    .where(_VISITS.c.mdtrt_id == bindparam("mdtrt_id"), _VISITS.c.fixmedins_code == bindparam("code"))
    .order_by(_LINES.c.id), "VisitAndLine")


def _visit_and_unsettled_lines(uow: UnitOfWork, code: str, mdtrt_id: str) -> tuple[Any, list[Any]]:
    """`_visit` (not locked; as a selected row of the columns a preview reads, without its id)
    and its lines not yet settled (as `_unsettled_lines` reads them), in id order, in one
    select: for a read (2206). A locked read keeps them apart: lines read in the statement
    that waited for the visit's lock would be those of before the wait."""
    rows = _VISIT_AND_UNSETTLED_LINES.rows(uow.connection(), {"mdtrt_id": mdtrt_id, "code": code})
    if not rows:  # another institution's visit reads as a missing one
        raise VisitNotFound(mdtrt_id=str(mdtrt_id)[:30])
    return rows[0], [row for row in rows if row.id is not None]


def _settlement(uow: UnitOfWork, code: str, setl_id: str, *, lock: bool = False) -> Settlement:
    query = select(Settlement).where(Settlement.setl_id == setl_id, Settlement.fixmedins_code == code)
    if lock:
        query = query.with_for_update()
    row = uow.session.execute(query).scalar_one_or_none()
    if row is None:
        raise SettlementNotFound(setl_id=str(setl_id)[:30])
    return row


def _require_state(visit: Visit, states: tuple[str, ...], action_zh: str, action_en: str) -> None:
    if visit.state not in states:
        raise VisitNotOpen(mdtrt_id=visit.mdtrt_id, state=visit.state, action_zh=action_zh,
                           action_en=action_en)


def _touch(uow: UnitOfWork, visit: Visit) -> None:
    visit.updated_at = uow.now()
    try:
        uow.session.flush()
    except StaleDataError as error:
        raise ConcurrentChange() from error


_TOUCH_VISIT = RawStatement(
    update(_VISITS).where(_VISITS.c.id == bindparam("visit_id"), _VISITS.c.version == bindparam("old_version"))
    .values(state=bindparam("new_state"), updated_at=bindparam("new_updated_at"), version=bindparam("new_version")),
    "TouchVisit")


def _touch_locked(uow: UnitOfWork, visit: Visit, *, state: str | None = None) -> None:
    """`_touch` (and the new `state`, if given) for a visit locked in this transaction with no
    other change pending: one Core UPDATE checked by the version, as the ORM's flush would
    check it, written at once; the visit in the session takes the values as stored. The hot
    path's (2204, 2207) last ORM flush of the visit. `visit`: the entity, or a selected row
    with its id, version and state (`_locked_visit_values`), which no session holds."""
    is_entity = isinstance(visit, Visit)
    if is_entity and visit in uow.session.dirty:  # another change pending: the ORM writes them all
        if state is not None:
            visit.state = state
        _touch(uow, visit)
        return
    now, state = uow.now(), state or visit.state
    moved = _TOUCH_VISIT.execute(uow.connection(), {
        "visit_id": visit.id, "old_version": visit.version, "new_state": state, "new_updated_at": now,
        "new_version": visit.version + 1})
    if moved != 1:
        raise ConcurrentChange()
    if is_entity:
        for name, value in (("state", state), ("updated_at", now), ("version", visit.version + 1)):
            set_committed_value(visit, name, value)


def _checked_line(line: FeeInput) -> str:
    sn = line.feedetl_sn if isinstance(line.feedetl_sn, str) else ""
    sn = sn.strip()

    def refuse(zh: str, en: str) -> InvalidFeeLine:
        return InvalidFeeLine(feedetl_sn=sn[:30] or "-", reason_zh=zh, reason_en=en)

    if not 0 < len(sn) <= 30:
        raise refuse("流水号须为 1–30 个字符", "the serial must be 1–30 characters")
    if not isinstance(line.code, str):
        raise refuse("缺少目录编码", "no catalogue code")
    if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or not 0 < line.quantity <= 10_000:
        raise refuse("数量须为 1–10000 的整数", "the quantity must be a whole number 1–10,000")
    price = line.unit_price
    if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= MAX_AMOUNT_FEN:
        raise refuse("单价须为非负整数（分）", "the unit price must be a non-negative integer in fen")
    if line.quantity * price > MAX_AMOUNT_FEN:
        raise refuse("金额超过上限", "the amount is above the bound")
    if line.amount is not None and line.amount != line.quantity * price:
        raise refuse(f"金额 {line.amount} 分 ≠ 数量 × 单价 {line.quantity * price} 分",
                     f"amount {line.amount} fen ≠ quantity × price {line.quantity * price} fen")
    return sn


def _settlement_legs(*, pool: str, account: str, payable: str, info: Any, sign: int = 1) -> list:
    """The fund and the personal account pay the institution; `sign` −1 is the mirror."""
    fund, acct = info.fund_pay_sumamt, info.acct_pay
    legs = [(pool, sign * fund), (account, sign * acct), (payable, -sign * (fund + acct))]
    return [leg for leg in legs if leg[1] != 0]


def _may_see(actor: Actor, fixmedins_code: str, person_id: int) -> bool:
    if actor.role == Role.MEDICAL_INSTITUTION:
        return actor.branch_code == fixmedins_code
    if actor.role == Role.HOLDER:
        return actor.person_id == person_id
    return actor.role in service.OFFICE_ROLES


def _short(text: str | None, length: int) -> str | None:
    text = (text or "").strip()
    return text[:length] or None


def _visit_view(visit: Visit) -> VisitView:
    return VisitView(
        mdtrt_id=visit.mdtrt_id, fixmedins_code=visit.fixmedins_code, person_id=visit.person_id,
        psn_no=visit.psn_no, insutype=visit.insutype, med_type=visit.med_type,
        cert_type=visit.cert_type, insuplc_admdvs=visit.insuplc_admdvs,
        mdtrtarea_admvs=visit.mdtrtarea_admvs, state=visit.state, begin_at=visit.begin_at,
        end_at=visit.end_at, dise_codg=visit.dise_codg, dept=visit.dept)


def _line_view(row: Any) -> FeeLineView:  # a FeeLine or an inserted record (`_add_lines`)
    return FeeLineView(
        feedetl_sn=row.feedetl_sn, code=row.code, name=row.name, item_class=row.item_class,
        quantity=row.quantity, unit_price=row.unit_price, amount=row.amount,
        price_limit=row.price_limit, pre_self_pay_bp=row.pre_self_pay_bp,
        catalogue_version=row.catalogue_version)


SETLINFO_FIELDS = tuple(f.name for f in dataclasses.fields(rules.Setlinfo))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _flat(value: Any) -> dict:
    """dataclasses.asdict for a dataclass of plain values (fen, strings, dates: no nested
    dataclasses, lists or dicts), the same dict without asdict's deep copy of every value
    (a visit made about 11,000 such calls)."""
    return {name: getattr(value, name) for name in _field_names(value)}


def _field_names(value: Any) -> tuple[str, ...]:
    """dataclasses.fields' names of a dataclass instance, kept per class."""
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return names


def _settlement_view(row: Settlement, totals: rules.YearTotals | None) -> SettlementView:
    return SettlementView(
        setl_id=row.setl_id, mdtrt_id=row.mdtrt_id, fixmedins_code=row.fixmedins_code,
        person_id=row.person_id, psn_no=row.psn_no, insutype=row.insutype, med_type=row.med_type,
        cert_type=row.cert_type, insuplc_admdvs=row.insuplc_admdvs,
        mdtrtarea_admvs=row.mdtrtarea_admvs, cross_region=row.cross_region,
        medins_setl_id=row.medins_setl_id,
        setlinfo={name: getattr(row, name) for name in SETLINFO_FIELDS},
        policy_version=row.policy_version, catalogue_version=row.catalogue_version,
        state=row.state, year=row.year,
        year_totals=_flat(totals) if totals is not None else {},
        settled_at=row.settled_at, cancelled_at=row.cancelled_at)

