"""Use cases of the HR services: open a case (the holder with the card or e-card, or an outlet
that reads the card), attach documents, submit, withdraw; the HR officer's queue, claim, request
for more documents, approval and refusal; and the HR system's read of a person's card account
number (seed 三.4).

Transactions: every function that changes something commits its own unit of work once, with
its audit record (entity `hr_case`, or `hr_card_account` for the read). A decision that enrols
the person elsewhere (medical insurance, a benefits programme) runs that enrolment inside the
same unit of work (those use cases do not commit): the case's decision and the enrolment commit
together or not at all.

The credential: at every holder or outlet step the card is checked again (a card formally
reported lost or retired after the case was opened stops it from going further): the holder's
current card (or the e-card token they show, which names the same person), the card the
outlet's reader read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from yikatong.audit.rules import photo_digest
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_date
from yikatong.core.masking import mask_ssn
from yikatong.db.uow import UnitOfWork
from yikatong.hrservices import errors, rules
from yikatong.hrservices.catalogue import (
    Catalogue,
    Service,
    default_catalogue,
    unemployment_figures,
)
from yikatong.hrservices.models import HrCase, HrCaseDocument, HrCaseDocumentContent
from yikatong.hrservices.rules import CaseState, Step
from yikatong.notices.rules import TEMPLATES, Template

OUTLET_ROLES = frozenset({Role.SS_OUTLET, Role.CITIZEN_OUTLET})
OFFICER_ROLES = frozenset({Role.HR_OFFICER})
READER_ROLES = frozenset({Role.HR_OFFICER, Role.ADMIN})
MAX_PARTICULARS = 12
MAX_PARTICULAR_LENGTH = 200
MAX_REASON = 500
QUEUE_LIMIT = 200
SOURCE = "hrservices"

# The holder's notices through the SMS seam (registered as benefits.certification does).
TEMPLATES.setdefault("hr_documents_requested", Template(
    "您的人社办件 {case_id}（{service_zh}）需补正材料：{note}。请登录“人社服务”上传后重新提交。",
    "Your HR case {case_id} ({service_en}) needs more documents: {note}. Sign in to HR services, "
    "upload them and submit again."))
TEMPLATES.setdefault("hr_case_decided", Template(
    "您的人社办件 {case_id}（{service_zh}）已办结：{result_zh}。详情请登录“人社服务”查看。",
    "Your HR case {case_id} ({service_en}) is decided: {result_en}. See HR services for details."))

STEP_WORDS: dict[Step, tuple[str, str, str]] = {  # zh, en (refusal), en (history)
    Step.ATTACH: ("补充材料", "given documents", "document attached"),
    Step.SUBMIT: ("提交", "submitted", "submitted"),
    Step.WITHDRAW: ("撤回", "withdrawn", "withdrawn"),
    Step.CLAIM: ("受理", "claimed", "claimed for review"),
    Step.ASK: ("要求补正材料", "sent back for documents", "more documents asked for"),
    Step.APPROVE: ("准予", "approved", "approved"),
    Step.REFUSE: ("不予办理", "refused", "refused"),
}


# ---------------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class DocumentView:
    id: int
    kind: str
    kind_zh: str
    kind_en: str
    file_name: str
    content_type: str
    size: int
    sm3: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class CaseView:
    id: int
    service_code: str
    service_zh: str
    service_en: str
    outcome_kind: str
    person_id: int
    state: str
    state_zh: str
    state_en: str
    channel: str
    outlet_code: str | None
    credential: str
    card_no: str | None
    particulars: dict
    opened_by: str
    officer: str | None
    requested: dict | None
    decision_reason: str | None
    outcome: dict | None
    history: list
    documents: tuple[DocumentView, ...]
    missing: tuple[str, ...]
    opened_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    version: int

    @property
    def decided(self) -> bool:
        return self.state in rules.DECIDED


@dataclass(frozen=True)
class Presented:
    """Who a credential names: the person, the card checked, and which credential it was."""

    person_id: int
    card_no: str
    credential: str  # card | ecard


@dataclass(frozen=True)
class CardAccountView:
    """The card account the HR system reads (三.4): the whole account number, for that route only."""

    person_id: int
    card_no: str
    bank_code: str
    pan: str
    financial_status: str
    card_state: str


@dataclass(frozen=True)
class Decision:
    """What the officer decides beside "approve": the figures the outcome needs."""

    note: str = ""
    # medical_enrolment
    scheme: str | None = None
    insured_admdvs: str | None = None
    start_date: date | None = None
    employer_uscc: str | None = None
    employer_name: str | None = None
    # unemployment_benefit
    contribution_months: int | None = None
    # work_injury_reimbursement
    amount_fen: int | None = None
    extra: dict = field(default_factory=dict)


def catalogue() -> Catalogue:
    return default_catalogue()


def service_of(code: str) -> Service:
    found = catalogue().service(code)
    if found is None:
        raise errors.UnknownService(service_code=str(code)[:48])
    return found


# ---------------------------------------------------------------------------------------------
# The credential


def present_holder(*, uow: UnitOfWork, actor: Actor, ecard_token: str | None = None,
                   person_id: int | None = None) -> Presented:
    """The holder's credential: the login must be bound to a person (the card or e-card bound
    it); a guardian may act for a child under 16 linked at an outlet (`person_id`,
    people.guardians.may_act_for). With `ecard_token` the e-card must be genuine, current and
    name the person acted for. That person's current card must be usable (rules.card_refusal)
    either way: CardRefused."""
    from yikatong.people.guardians import may_act_for

    if actor.role != Role.HOLDER:
        raise errors.NotAnOutlet()
    if actor.person_id is None:
        raise errors.NotBoundToPerson()
    person_id = person_id or actor.person_id
    if not may_act_for(uow, actor, person_id):
        raise errors.CredentialOfAnotherPerson()
    credential = "card"
    if ecard_token:
        if _person_by_ecard_token(uow, ecard_token.strip()) != person_id:
            raise errors.CredentialOfAnotherPerson()
        credential = "ecard"
    card = _usable_card(uow, person_id)
    return Presented(person_id, card.card_no, credential)


def present_card(*, uow: UnitOfWork, card_no: str) -> Presented:
    """The card an outlet's reader read: it must exist and be usable (CardRefused)."""
    from yikatong.cards.service import current_card_for, read_card

    card = read_card(uow=uow, card_no=(card_no or "").strip().upper())
    _refuse_card(card.hr_status if card.is_live else "retired")
    current = current_card_for(uow=uow, person_id=card.person_id)
    if current is None or current.card_no != card.card_no:  # an old card still in the drawer
        _refuse_card("retired")
    return Presented(card.person_id, card.card_no, "card")


def _usable_card(uow: UnitOfWork, person_id: int):
    from yikatong.cards.service import current_card_for, list_cards

    card = current_card_for(uow=uow, person_id=person_id)
    if card is None:
        latest = list_cards(uow=uow, person_id=person_id, limit=1)
        _refuse_card(latest[0].hr_status if latest else None)
    _refuse_card(card.hr_status)
    return card


def _refuse_card(hr_status: str | None) -> None:
    refusal = rules.card_refusal(hr_status)
    if refusal is not None:
        reason, zh, en = refusal
        raise errors.CardRefused(reason=reason, reason_zh=zh, reason_en=en)


def _person_by_ecard_token(uow: UnitOfWork, token: str) -> int:
    """The person an e-card token names, once it is verified genuine and current."""
    from yikatong.crypto.protocols import KeyStore
    from yikatong.ecard.models import Ecard
    from yikatong.ecard.service import verifiers, verify_token
    from yikatong.ecard.tokens import TokenRejected, read_genuine

    keys = uow.get(KeyStore)
    verdict = verify_token(uow=uow, token=token, keys=keys)
    if not verdict.valid:
        raise errors.EcardRefused(reason_zh=verdict.reason_zh, reason_en=verdict.reason_en)
    try:
        claims = read_genuine(token, verifiers(keys))
    except TokenRejected as error:
        raise errors.EcardRefused(reason_zh=error.message_zh, reason_en=error.message_en) from None
    return uow.session.execute(
        select(Ecard.person_id).where(Ecard.ecard_no == f"{claims.ecard_no:016d}",
                                      Ecard.status_index == claims.status_index)).scalar_one()


def _present(uow: UnitOfWork, actor: Actor, *, card_no: str | None, ecard_token: str | None,
             person_id: int | None = None) -> tuple[Presented, str]:
    """The credential of a holder or outlet step and the channel it came through."""
    if actor.role == Role.HOLDER:
        return present_holder(uow=uow, actor=actor, ecard_token=ecard_token,
                              person_id=person_id), "online"
    if actor.role in OUTLET_ROLES:
        if not card_no:
            raise errors.CardRefused(reason="no_card", reason_zh="请读取社会保障卡",
                                     reason_en="read the card first")
        return present_card(uow=uow, card_no=card_no), "outlet"
    raise errors.NotAnOutlet()


# ---------------------------------------------------------------------------------------------
# The holder's and the outlet's steps


def open_case(*, uow: UnitOfWork, actor: Actor, service_code: str, particulars: dict | None = None,
              card_no: str | None = None, ecard_token: str | None = None,
              idempotency_key: str | None = None, person_id: int | None = None) -> CaseView:
    """Open a case of a catalogue service for the person the credential names: the holder online
    (their card or e-card; a guardian for a linked child under 16 with `person_id`) or an
    outlet (the card read). Idempotent by `idempotency_key`. Commits."""
    request = {"service_code": service_code, "particulars": particulars or {}, "card_no": card_no,
               "by": actor.user_id, "for": person_id}
    scope = f"hr.open:{actor.account_id or actor.user_id}"
    stored = uow.replay(scope, idempotency_key, request)
    if stored is not None:
        return get_case(uow=uow, actor=actor, case_id=stored["case_id"])
    service = service_of(service_code)
    presented, channel = _present(uow, actor, card_no=card_no, ecard_token=ecard_token,
                                  person_id=person_id)
    opener = "holder" if channel == "online" else "outlet"
    if opener not in service.opened_by:
        raise errors.NotOpenedThisWay(
            service_zh=service.zh, service_en=service.en,
            channel_zh="由持卡人在网上" if opener == "holder" else "在服务网点",
            channel_en="by the holder online" if opener == "holder" else "at an outlet")
    now = uow.now()
    case = HrCase(service_code=service.code, person_id=presented.person_id, state=CaseState.OPEN,
                  channel=channel, outlet_code=actor.branch_code if opener == "outlet" else None,
                  credential=presented.credential, card_no=presented.card_no,
                  particulars=_checked_particulars(particulars),
                  opened_by=actor.user_id, opened_by_user_id=actor.account_id, officer=None,
                  officer_user_id=None, requested=None, decision_reason=None, outcome=None,
                  history=[_history(now, actor, "open", CaseState.OPEN, presented.credential)],
                  opened_at=now, submitted_at=None, decided_at=None, updated_at=now)
    uow.session.add(case)
    uow.session.flush()
    uow.audit(actor=actor, action="hr.case_opened", entity_type="hr_case", entity_id=case.id,
              after={**_image(case, presented), **_acting_for(actor, case.person_id)})
    uow.remember(scope, idempotency_key, request, {"case_id": case.id})
    uow.commit()
    return _view(uow, case)


def attach_document(*, uow: UnitOfWork, actor: Actor, case_id: int, kind: str, file_name: str,
                    content_type: str, content: bytes, card_no: str | None = None,
                    ecard_token: str | None = None) -> DocumentView:
    """Attach a document of a kind the service takes (its type and size checked, its content
    kept apart, its SM3 in the audit record). Commits."""
    case, presented = _holder_step(uow, actor, case_id, Step.ATTACH, card_no, ecard_token)
    service = service_of(case.service_code)
    book = catalogue().documents
    if kind not in service.kinds:
        raise errors.DocumentRefused(
            reason_zh=f"本事项不收此类材料（{kind[:32]}）",
            reason_en=f"this service does not take documents of kind {kind[:32]}")
    spec = book[kind]
    problem = rules.document_problem(content=content, content_type=content_type,
                                     file_name=(file_name or "").strip(),
                                     allowed_types=spec.types, max_bytes=spec.max_bytes)
    if problem is not None:
        raise errors.DocumentRefused(reason_zh=problem.zh, reason_en=problem.en,
                                     problem=problem.code)
    now = uow.now()
    document = HrCaseDocument(case_id=case.id, kind=kind, file_name=file_name.strip(),
                              content_type=content_type, size=len(content),
                              sm3=photo_digest(content), uploaded_by=actor.user_id, uploaded_at=now)
    uow.session.add(document)
    uow.session.flush()
    uow.session.add(HrCaseDocumentContent(document_id=document.id, content=content))
    _touch(case, now, actor, Step.ATTACH, case.state, presented.credential, kind=kind)
    uow.audit(actor=actor, action="hr.document_attached", entity_type="hr_case", entity_id=case.id,
              after={"document_id": document.id, "kind": kind, "size": len(content),
                     "content_type": content_type, "sm3": document.sm3,
                     "credential": presented.credential})
    uow.commit()
    return _document_view(document)


def submit_case(*, uow: UnitOfWork, actor: Actor, case_id: int, card_no: str | None = None,
                ecard_token: str | None = None) -> CaseView:
    """Hand the case to the HR officers once every required document is attached. Commits."""
    case, presented = _holder_step(uow, actor, case_id, Step.SUBMIT, card_no, ecard_token)
    missing = rules.missing_documents(service_of(case.service_code).required,
                                      _attached_kinds(uow, case.id))
    if case.state == CaseState.MORE_DOCUMENTS and case.requested:  # 补正: new ones since asked
        fresh = _attached_kinds(uow, case.id, after=case.requested.get("after_document", 0))
        missing += [k for k in case.requested["kinds"] if k not in fresh and k not in missing]
    if missing:
        book = catalogue().documents
        raise errors.DocumentsMissing(missing_zh="、".join(book[k].zh for k in missing),
                                      missing_en=", ".join(book[k].en for k in missing),
                                      missing=missing)
    before = case.state
    now = uow.now()
    case.state = CaseState.SUBMITTED
    case.submitted_at = now
    _touch(case, now, actor, Step.SUBMIT, case.state, presented.credential)
    uow.audit(actor=actor, action="hr.case_submitted", entity_type="hr_case", entity_id=case.id,
              before={"state": before}, after={"state": case.state, "credential": presented.credential})
    uow.commit()
    return _view(uow, case)


def withdraw_case(*, uow: UnitOfWork, actor: Actor, case_id: int, reason: str = "",
                  card_no: str | None = None, ecard_token: str | None = None) -> CaseView:
    """The holder (or the outlet for them) withdraws a case not under review. Commits."""
    case, presented = _holder_step(uow, actor, case_id, Step.WITHDRAW, card_no, ecard_token)
    return _decide(uow, actor, case, Step.WITHDRAW, reason=_reason(reason, required=False),
                   credential=presented.credential)


def _holder_step(uow: UnitOfWork, actor: Actor, case_id: int, step: Step, card_no: str | None,
                 ecard_token: str | None) -> tuple[HrCase, Presented]:
    """A holder's or outlet's step on a case: the case (seen by the actor, the step allowed
    now) and the credential presented again for the case's person."""
    if actor.role not in OUTLET_ROLES and actor.role != Role.HOLDER:
        raise errors.NotAnOutlet()
    case = _case_for_step(uow, actor, case_id, step)
    presented, _ = _present(uow, actor, card_no=card_no, ecard_token=ecard_token,
                            person_id=case.person_id)
    if presented.person_id != case.person_id:
        raise errors.CredentialOfAnotherPerson()
    return case, presented


def _notify(uow: UnitOfWork, case: HrCase, template: str, **params) -> None:
    """A text to the phone on the person's record, in this transaction (sent after commit)."""
    from yikatong.notices.service import notify_person

    service = service_of(case.service_code)
    notify_person(uow=uow, person_id=case.person_id, template=template,
                  params={"case_id": case.id, "service_zh": service.zh, "service_en": service.en, **params},
                  subject=f"hr-case:{case.id}:{len(case.history)}")


def _acting_for(actor: Actor, person_id: int) -> dict:
    from yikatong.people.guardians import subject_of

    return subject_of(actor, person_id)


# ---------------------------------------------------------------------------------------------
# The HR officer's steps


def claim_case(*, uow: UnitOfWork, actor: Actor, case_id: int) -> CaseView:
    """An HR officer takes a submitted case for review (no one else may decide it). Commits."""
    _require_officer(actor)
    case = _case_for_step(uow, actor, case_id, Step.CLAIM)
    now = uow.now()
    case.state = CaseState.IN_REVIEW
    case.officer = actor.user_id
    case.officer_user_id = actor.account_id
    _touch(case, now, actor, Step.CLAIM, case.state, None)
    uow.audit(actor=actor, action="hr.case_claimed", entity_type="hr_case", entity_id=case.id,
              before={"state": CaseState.SUBMITTED}, after={"state": case.state, "officer": actor.user_id})
    uow.commit()
    return _view(uow, case)


def ask_for_documents(*, uow: UnitOfWork, actor: Actor, case_id: int, kinds: list[str],
                      note: str) -> CaseView:
    """Send the case back to the holder for documents of the named kinds (补正): the holder
    attaches them and submits again. Commits."""
    _require_officer(actor)
    case = _case_for_step(uow, actor, case_id, Step.ASK)
    service = service_of(case.service_code)
    kinds = list(dict.fromkeys(k.strip() for k in kinds if k and k.strip()))
    unknown = [k for k in kinds if k not in service.kinds]
    if not kinds or unknown:
        raise errors.InvalidDecision(reason_zh="请从本事项的材料中选择要补正的材料",
                                     reason_en="choose the documents to add from this service's kinds")
    note = _reason(note, required=True)
    now = uow.now()
    case.state = CaseState.MORE_DOCUMENTS
    last = uow.session.execute(select(func.max(HrCaseDocument.id))
                               .where(HrCaseDocument.case_id == case.id)).scalar() or 0
    case.requested = {"kinds": kinds, "note": note, "at": now.isoformat(), "by": actor.user_id,
                      "after_document": last}
    _touch(case, now, actor, Step.ASK, case.state, None, kinds=kinds)
    uow.audit(actor=actor, action="hr.documents_requested", entity_type="hr_case", entity_id=case.id,
              before={"state": CaseState.IN_REVIEW}, after={"state": case.state, "kinds": kinds},
              reason=note)
    _notify(uow, case, "hr_documents_requested", note=note[:60])
    uow.commit()
    return _view(uow, case)


def approve_case(*, uow: UnitOfWork, actor: Actor, case_id: int,
                 decision: Decision | None = None) -> CaseView:
    """Approve a case under review and carry out what the service's outcome says, in the same
    transaction: medical insurance enrolment, enrolment in the unemployment or work-injury
    programme (the benefits domain), or a record. Commits."""
    _require_officer(actor)
    decision = decision or Decision()
    case = _case_for_step(uow, actor, case_id, Step.APPROVE)
    service = service_of(case.service_code)
    day = local_date(uow.now())
    if service.outcome == "medical_enrolment":
        outcome = _enrol_in_medical(uow, actor, case, decision, day)
    elif service.outcome == "unemployment_benefit":
        outcome = _unemployment(uow, actor, case, decision, day)
    elif service.outcome == "work_injury_reimbursement":
        outcome = _work_injury(uow, actor, case, decision, day)
    else:
        outcome = {"kind": "record"}
    case.outcome = outcome
    return _decide(uow, actor, case, Step.APPROVE, reason=_reason(decision.note, required=False))


def refuse_case(*, uow: UnitOfWork, actor: Actor, case_id: int, reason: str) -> CaseView:
    """Refuse a case under review, with the reason the holder reads. Commits."""
    _require_officer(actor)
    case = _case_for_step(uow, actor, case_id, Step.REFUSE)
    return _decide(uow, actor, case, Step.REFUSE, reason=_reason(reason, required=True))


def _decide(uow: UnitOfWork, actor: Actor, case: HrCase, step: Step, *, reason: str | None,
            credential: str | None = None) -> CaseView:
    before = case.state
    now = uow.now()
    case.state = rules.next_state(case.state, step)
    case.decision_reason = reason
    case.decided_at = now
    _touch(case, now, actor, step, case.state, credential)
    action = {Step.APPROVE: "hr.case_approved", Step.REFUSE: "hr.case_refused",
              Step.WITHDRAW: "hr.case_withdrawn"}[step]
    uow.audit(actor=actor, action=action, entity_type="hr_case", entity_id=case.id,
              before={"state": before}, after={"state": case.state, "outcome": case.outcome},
              reason=reason)
    if step in (Step.APPROVE, Step.REFUSE):
        result_zh, result_en = rules.STATE_WORDS[case.state]
        _notify(uow, case, "hr_case_decided", result_zh=result_zh.removeprefix("已办结："),
                result_en=result_en.removeprefix("decided: "))
    uow.commit()
    return _view(uow, case)


# --- what a decision leads to ------------------------------------------------------------------


def _enrol_in_medical(uow, actor: Actor, case: HrCase, decision: Decision, day: date) -> dict:
    """Social insurance enrolment where it concerns medical insurance: medical.service.enrol,
    acted by the platform for the HR officer (the medical domain takes its office's actors)."""
    from yikatong.medical import service as medical

    particulars = case.particulars or {}
    scheme = decision.scheme or particulars.get("scheme") or "390"
    employer = decision.employer_uscc or particulars.get("employer_uscc") or None
    view = medical.enrol(
        uow=uow, actor=_platform_actor(actor), person_id=case.person_id, scheme=scheme,
        insured_admdvs=decision.insured_admdvs or particulars.get("insured_admdvs") or "320402",
        start_date=decision.start_date or day,
        employer_uscc=employer.upper() if employer and scheme == "310" else None,
        employer_name=(decision.employer_name or particulars.get("employer_name") or None)
        if scheme == "310" else None)
    return {"kind": "medical_enrolment", "scheme": view.scheme, "psn_no": view.psn_no,
            "insured_admdvs": view.insured_admdvs, "start_date": view.start_date.isoformat(),
            "enrolment_id": view.id}


def _unemployment(uow, actor: Actor, case: HrCase, decision: Decision, day: date) -> dict:
    months = decision.contribution_months
    if months is None or not 0 <= months <= 600:
        raise errors.InvalidDecision(reason_zh="请填写缴费月数（0–600）",
                                     reason_en="give the months of contributions (0–600)")
    figures = unemployment_figures()
    plan = rules.unemployment_plan(decided_on=day, contribution_months=months,
                                   durations=figures.durations,
                                   min_wage_monthly_fen=figures.min_wage_monthly_fen,
                                   rate_bp=figures.rate_bp)
    if plan is None:
        raise errors.NotEntitled(reason_zh="失业保险缴费不满一年", reason_en="less than a year of "
                                 "unemployment insurance contributions")
    return _benefit(uow, actor, case, plan, contribution_months=months)


def _work_injury(uow, actor: Actor, case: HrCase, decision: Decision, day: date) -> dict:
    amount = decision.amount_fen
    cap = catalogue().work_injury.max_claim_fen
    if amount is None or not 0 < amount <= cap:
        raise errors.InvalidDecision(reason_zh=f"核定金额须在 0.01–{cap / 100:.2f} 元之间",
                                     reason_en=f"the approved amount must be 0.01–{cap / 100:.2f} CNY")
    return _benefit(uow, actor, case, rules.work_injury_plan(decided_on=day, amount_fen=amount))


def _benefit(uow, actor: Actor, case: HrCase, plan: rules.BenefitPlan, **extra) -> dict:
    view = enrol_in_programme(uow=uow, actor=actor, person_id=case.person_id, plan=plan,
                              source_ref=f"hr-case:{case.id}")
    return {"kind": "benefit", "programme": plan.programme_code, "monthly_fen": plan.monthly_fen,
            "start_period": plan.start_period, "end_period": plan.end_period,
            "enrolment_id": getattr(view, "id", None), **extra}


def enrol_in_programme(*, uow, actor: Actor, person_id: int, plan: rules.BenefitPlan,
                       source_ref: str) -> Any:
    """The one place the HR services call the benefits domain (seam 3:
    `yikatong.benefits.service.enrol`, idempotent by programme, person and source_ref). The
    benefits domain takes its paying offices' and the platform's actors: the platform enrols
    for the HR officer, whose name stays in the enrolment's audit record."""
    from yikatong.benefits import service as benefits

    return benefits.enrol(uow=uow, actor=_platform_actor(actor), programme_code=plan.programme_code,
                          person_id=person_id, monthly_fen=plan.monthly_fen,
                          start_period=plan.start_period, end_period=plan.end_period,
                          source=SOURCE, source_ref=source_ref,
                          facts={"hr_case": source_ref, "officer": actor.user_id})


def _platform_actor(officer: Actor) -> Actor:
    """The platform acting for an HR officer in another domain that takes its own office's
    actors (medical): the officer's name stays in that domain's audit record."""
    return Actor(user_id=f"hr:{officer.user_id}", role=Role.SYSTEM, channel=Channel.AGENCY)


# ---------------------------------------------------------------------------------------------
# Reads


def get_case(*, uow: UnitOfWork, actor: Actor, case_id: int) -> CaseView:
    """One case as `actor` may see it: the holder their own, an outlet those opened there, the
    HR officers and the centre all (others: CaseNotFound)."""
    return _view(uow, _case(uow, actor, case_id))


def cases_of(*, uow: UnitOfWork, actor: Actor, person_id: int | None = None,
             limit: int = 100) -> list[CaseView]:
    """The holder's own cases (`person_id` defaults to theirs), newest first; officers may name
    anyone."""
    if actor.role == Role.HOLDER:
        if actor.person_id is None:
            return []
        person_id = actor.person_id
    elif actor.role not in READER_ROLES:
        raise errors.NotHrOfficer()
    query = select(HrCase).order_by(HrCase.id.desc()).limit(min(limit, 500))
    if person_id is not None:
        query = query.where(HrCase.person_id == person_id)
    return _views(uow, list(uow.session.execute(query).scalars()))


def queue(*, uow: UnitOfWork, actor: Actor, state: str | None = None,
          limit: int = QUEUE_LIMIT) -> list[CaseView]:
    """The HR officers' queue: submitted cases oldest first, then those under review, then those
    waiting for documents; or the cases in one `state`."""
    if actor.role not in READER_ROLES:
        raise errors.NotHrOfficer()
    states = [state] if state else [CaseState.SUBMITTED, CaseState.IN_REVIEW, CaseState.MORE_DOCUMENTS]
    if state and state not in set(CaseState):
        raise errors.InvalidDecision(reason_zh="没有这个状态", reason_en="no such state")
    rows = list(uow.session.execute(
        select(HrCase).where(HrCase.state.in_(states))
        .order_by(HrCase.submitted_at.is_(None), HrCase.submitted_at, HrCase.id)
        .limit(min(limit, 500))).scalars())
    order = {s: i for i, s in enumerate(states)}
    rows.sort(key=lambda c: order.get(c.state, 9))
    return _views(uow, rows)


def counts_by_state(*, uow: UnitOfWork) -> dict[str, int]:
    return dict(uow.session.execute(select(HrCase.state, func.count()).group_by(HrCase.state)).all())


def document_content(*, uow: UnitOfWork, actor: Actor, case_id: int,
                     document_id: int) -> tuple[DocumentView, bytes]:
    """A document's bytes for those who may see the case."""
    case = _case(uow, actor, case_id)
    document = uow.session.get(HrCaseDocument, document_id)
    if document is None or document.case_id != case.id:
        raise errors.DocumentNotFound(document_id=document_id)
    content = uow.session.get(HrCaseDocumentContent, document_id)
    return _document_view(document), content.content


# ---------------------------------------------------------------------------------------------
# The HR system reads the card account (三.4)


def read_card_account(*, uow: UnitOfWork, actor: Actor, purpose: str, person_id: int | None = None,
                      id_number: str | None = None) -> CardAccountView:
    """The account (bank, whole account number) of the person's current live card, for the HR
    system (Role.HR_OFFICER) only, with the purpose it is read for; every read is audited
    (entity hr_card_account, the number masked in the record). Commits the audit record."""
    from yikatong.cards.service import current_card_for
    from yikatong.people.service import find_person_basics_by_ssn, person_basics

    if actor.role not in OFFICER_ROLES:
        raise errors.NotHrOfficer()
    purpose = (purpose or "").strip()
    if not 2 <= len(purpose) <= 200:
        raise errors.InvalidAccountRead(reason_zh="用途须为 2–200 个字符",
                                        reason_en="the purpose must be 2–200 characters")
    if (person_id is None) == (not id_number):
        raise errors.InvalidAccountRead(reason_zh="须给出人员编号或身份证号之一",
                                        reason_en="give either the person id or the ID number")
    if id_number:
        basics = find_person_basics_by_ssn(uow=uow, ssn=id_number.strip())
        if basics is None:
            raise errors.NoCardAccount()
        person_id = basics.id
    else:
        person_basics(uow=uow, person_id=person_id)
    card = current_card_for(uow=uow, person_id=person_id)
    if card is None:
        raise errors.NoCardAccount()
    from yikatong.cards.rules import mask_pan

    uow.audit(actor=actor, action="hr.card_account_read", entity_type="hr_card_account",
              entity_id=person_id, after={"card_no": card.card_no, "bank_code": card.bank_code,
                                          "account": mask_pan(card.pan),
                                          "by_id_number": bool(id_number)},
              reason=purpose)
    uow.commit()
    return CardAccountView(person_id=person_id, card_no=card.card_no, bank_code=card.bank_code,
                           pan=card.pan, financial_status=card.financial_status,
                           card_state=card.state)


# ---------------------------------------------------------------------------------------------
# Helpers


def _require_officer(actor: Actor) -> None:
    if actor.role not in OFFICER_ROLES:
        raise errors.NotHrOfficer()


def _case(uow: UnitOfWork, actor: Actor, case_id: int, *, lock: bool = False) -> HrCase:
    query = select(HrCase).where(HrCase.id == case_id)
    if lock:
        query = query.with_for_update()
    case = uow.session.execute(query).scalar_one_or_none()
    if case is None or not _may_see(uow, actor, case):
        raise errors.CaseNotFound(case_id=case_id)
    return case


def _may_see(uow: UnitOfWork, actor: Actor, case: HrCase) -> bool:
    if actor.role in READER_ROLES:
        return True
    if actor.role == Role.HOLDER:  # their own, or a linked child's under 16
        from yikatong.people.guardians import may_act_for

        return may_act_for(uow, actor, case.person_id)
    if actor.role in OUTLET_ROLES:
        return case.channel == "outlet" and case.outlet_code == actor.branch_code
    return False


def _case_for_step(uow: UnitOfWork, actor: Actor, case_id: int, step: Step) -> HrCase:
    """The case, locked, when `step` may be taken now by `actor` (StepNotAllowed, NotTheReviewer
    otherwise)."""
    case = _case(uow, actor, case_id, lock=True)
    if rules.next_state(case.state, step) is None:
        state_zh, state_en = rules.STATE_WORDS[case.state]
        step_zh, step_en, _ = STEP_WORDS[step]
        raise errors.StepNotAllowed(state_zh=state_zh, state_en=state_en, step_zh=step_zh,
                                    step_en=step_en, state=case.state)
    if step in (Step.ASK, Step.APPROVE, Step.REFUSE) and case.officer != actor.user_id:
        raise errors.NotTheReviewer(officer=case.officer or "-")
    return case


def _checked_particulars(particulars: dict | None) -> dict:
    particulars = particulars or {}
    if len(particulars) > MAX_PARTICULARS or any(
            not isinstance(k, str) or not isinstance(v, str | int) or len(str(k)) > 48
            or len(str(v)) > MAX_PARTICULAR_LENGTH for k, v in particulars.items()):
        raise errors.InvalidDecision(
            reason_zh=f"填写事项至多 {MAX_PARTICULARS} 项，每项至多 {MAX_PARTICULAR_LENGTH} 字",
            reason_en=f"at most {MAX_PARTICULARS} particulars of {MAX_PARTICULAR_LENGTH} characters")
    return {str(k): str(v).strip() for k, v in particulars.items() if str(v).strip()}


def _reason(text: str | None, *, required: bool) -> str | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise errors.InvalidDecision(reason_zh="请写明理由", reason_en="give the reason")
        return None
    if len(text) > MAX_REASON:
        raise errors.InvalidDecision(reason_zh=f"理由至多 {MAX_REASON} 字",
                                     reason_en=f"the reason is at most {MAX_REASON} characters")
    return text


def _history(at: datetime, actor: Actor, step: str, state: str, credential: str | None,
             **more) -> dict:
    return {"step": step, "state": str(state), "at": at.isoformat(), "by": actor.user_id,
            "role": str(actor.role), **({"credential": credential} if credential else {}), **more}


def _touch(case: HrCase, now: datetime, actor: Actor, step: Step, state: str,
           credential: str | None, **more) -> None:
    case.history = [*case.history, _history(now, actor, str(step), state, credential, **more)]
    case.updated_at = now


def _attached_kinds(uow: UnitOfWork, case_id: int, after: int = 0) -> set[str]:
    """The kinds attached to the case (those of documents after document id `after`)."""
    query = select(HrCaseDocument.kind).where(HrCaseDocument.case_id == case_id,
                                              HrCaseDocument.id > after)
    return set(uow.session.execute(query).scalars())


def _image(case: HrCase, presented: Presented) -> dict:
    return {"service": case.service_code, "person_id": case.person_id, "state": case.state,
            "channel": case.channel, "outlet": case.outlet_code, "credential": presented.credential,
            "card_no": presented.card_no, "particulars": case.particulars}


def _document_view(row: HrCaseDocument) -> DocumentView:
    spec = catalogue().documents.get(row.kind)
    return DocumentView(id=row.id, kind=row.kind, kind_zh=spec.zh if spec else row.kind,
                        kind_en=spec.en if spec else row.kind, file_name=row.file_name,
                        content_type=row.content_type, size=row.size, sm3=row.sm3,
                        uploaded_by=row.uploaded_by, uploaded_at=row.uploaded_at)


def _views(uow: UnitOfWork, cases: list[HrCase]) -> list[CaseView]:
    if not cases:
        return []
    documents: dict[int, list[HrCaseDocument]] = {}
    for row in uow.session.execute(select(HrCaseDocument).where(
            HrCaseDocument.case_id.in_([c.id for c in cases])).order_by(HrCaseDocument.id)).scalars():
        documents.setdefault(row.case_id, []).append(row)
    return [_view(uow, case, documents.get(case.id, [])) for case in cases]


def _view(uow: UnitOfWork, case: HrCase, documents: list[HrCaseDocument] | None = None) -> CaseView:
    if documents is None:
        documents = list(uow.session.execute(select(HrCaseDocument).where(
            HrCaseDocument.case_id == case.id).order_by(HrCaseDocument.id)).scalars())
    service = catalogue().service(case.service_code)
    state_zh, state_en = rules.STATE_WORDS[case.state]
    missing = tuple(rules.missing_documents(service.required if service else (),
                                            {d.kind for d in documents}))
    return CaseView(
        id=case.id, service_code=case.service_code, service_zh=service.zh if service else case.service_code,
        service_en=service.en if service else case.service_code,
        outcome_kind=service.outcome if service else "record", person_id=case.person_id,
        state=case.state, state_zh=state_zh, state_en=state_en, channel=case.channel,
        outlet_code=case.outlet_code, credential=case.credential, card_no=case.card_no,
        particulars=dict(case.particulars or {}), opened_by=case.opened_by, officer=case.officer,
        requested=case.requested, decision_reason=case.decision_reason, outcome=case.outcome,
        history=list(case.history or []), documents=tuple(_document_view(d) for d in documents),
        missing=missing, opened_at=case.opened_at, submitted_at=case.submitted_at,
        decided_at=case.decided_at, version=case.version)


def masked_person(uow: UnitOfWork, person_id: int) -> dict:
    """The person named on an officer's case page: name and the ID number masked."""
    from yikatong.people.service import person_basics

    basics = person_basics(uow=uow, person_id=person_id)
    return {"name": basics.name, "ssn": mask_ssn(basics.ssn)}
