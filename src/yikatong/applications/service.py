"""Application use cases: intake (outlet, online, employer batch), decisions, delivery, hand-over.

Each public function that takes a `uow` and changes something commits it once, with its audit
record and outbox event — except the contract functions other domains call inside their own
transaction (`cancel_pending_replacement`), which say so. Production lives in `production.py`.

Free of charge, always (四.1): nothing here records or computes a fee.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from yikatong.applications import rules
from yikatong.applications.errors import (
    AgentDocumentsMissing,
    ApplicationNotFound,
    EmployerBatchNotFound,
    GoToOutlet,
    IdentityReviewOpen,
    LiveCardExists,
    NotPickupApplication,
    NotTheReviewedPerson,
    NotYourIdentity,
    OpenApplicationExists,
    PickupOutletNotAllowed,
)
from yikatong.applications.models import Application, EmployerBatch
from yikatong.applications.protocols import (
    IdentityAuthenticator,
    IdentityServiceUnavailable,
    PopulationRegistry,
)
from yikatong.audit.rules import photo_digest
from yikatong.core.actor import Actor, Role
from yikatong.core.choices import NotAChoice
from yikatong.core.clock import local_date
from yikatong.core.errors import ConcurrentChange, DomainError, Forbidden, InvalidInput
from yikatong.db.uow import UnitOfWork, is_audit_collision

OPERATOR_ROLES = frozenset({Role.SS_OUTLET, Role.ADMIN, Role.SYSTEM})


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicantData:
    """The applicant's identity document and base data as presented at intake."""

    name: str
    document_type: str
    document_number: str
    gender: str
    birth_date: date
    nationality: str = "CHN"
    phone: str | None = None
    address: str | None = None
    document_valid_until: date | None = None
    photo_jpeg: bytes | None = field(default=None, repr=False)
    holds_id_card: bool = False

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("photo_jpeg")
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in data.items()}


@dataclass(frozen=True)
class AgentData:
    """代办人: an agent applies for someone else; both parties' documents are recorded."""

    name: str
    document_type: str
    document_number: str
    phone: str | None = None


@dataclass(frozen=True)
class CardChoice:
    """What the application asks for: kind, bank and how the card reaches the holder."""

    kind: str
    bank_code: str
    delivery: str = "pickup"
    pickup_outlet_code: str | None = None
    mailing_address: str | None = None
    exchange_reason: str | None = None
    # A card too damaged to read is not held back for its transit refund (四.13): the
    # transit side refunds it later from its records.
    card_unreadable: bool = False


@dataclass(frozen=True)
class ApplicationView:
    id: int
    kind: str
    exchange_reason: str | None
    mode: str
    channel: str
    status: str
    person_id: int | None
    identity_review_id: int | None
    applicant_name: str
    document_type: str
    document_number: str
    agent: dict | None
    employer_batch_id: int | None
    bank_code: str
    delivery: str
    pickup_outlet_code: str | None
    mailing_address: str | None
    ems_tracking_no: str | None
    predecessor_card_no: str | None
    production_batch_id: int | None
    card_no: str | None
    pan: str | None
    issue_date: date | None
    decision_reason: str | None
    submitted_by: str
    submitted_by_user_id: int | None
    submitted_at: datetime
    warnings: tuple[str, ...] = ()
    # Only in the hand-over's answer: the code the holder signs up with (shown once).
    activation_code: str | None = field(default=None, metadata={"description": (
        "for the holder's online sign-up; shown this once only / 持卡人网上注册用的激活码，仅显示这一次")})

    # Applying is free of charge (四.1); mailing by EMS costs the postage only.
    @property
    def fee_zh(self) -> str:
        return rules.FREE_OF_CHARGE["zh"]

    @property
    def fee_en(self) -> str:
        return rules.FREE_OF_CHARGE["en"]

    @property
    def delivery_note_zh(self) -> str | None:
        return rules.EMS_COD_NOTE["zh"] if self.delivery == "ems_cod" else None

    @property
    def delivery_note_en(self) -> str | None:
        return rules.EMS_COD_NOTE["en"] if self.delivery == "ems_cod" else None


def view(app: Application, warnings: list[str] | tuple[str, ...] = ()) -> ApplicationView:
    return ApplicationView(
        id=app.id, kind=app.kind, exchange_reason=app.exchange_reason, mode=app.mode,
        channel=app.channel, status=app.status, person_id=app.person_id,
        identity_review_id=app.identity_review_id, applicant_name=app.applicant["name"],
        document_type=app.applicant["document_type"],
        document_number=app.applicant["document_number"], agent=app.agent,
        employer_batch_id=app.employer_batch_id, bank_code=app.bank_code,
        delivery=app.delivery, pickup_outlet_code=app.pickup_outlet_code,
        mailing_address=app.mailing_address, ems_tracking_no=app.ems_tracking_no,
        predecessor_card_no=app.predecessor_card_no,
        production_batch_id=app.production_batch_id, card_no=app.card_no, pan=app.pan,
        issue_date=app.issue_date, decision_reason=app.decision_reason,
        submitted_by=app.submitted_by, submitted_by_user_id=app.submitted_by_user_id,
        submitted_at=app.submitted_at,
        warnings=tuple(warnings),
    )


def _state(app: Application) -> dict[str, Any]:
    """The audited picture of an application (no photo, no full document number)."""
    from yikatong.people.rules import mask_ssn

    return {"status": app.status, "kind": app.kind, "person_id": app.person_id,
            "bank_code": app.bank_code, "delivery": app.delivery, "card_no": app.card_no,
            "document_number": mask_ssn(app.applicant["document_number"]),
            "ems_tracking_no": app.ems_tracking_no}


# --- reading -----------------------------------------------------------------------------------


def _load(uow: UnitOfWork, application_id: int) -> Application:
    app = uow.session.get(Application, application_id)
    if app is None:
        raise ApplicationNotFound(application_id=application_id)
    return app


def may_see(uow: UnitOfWork, actor: Actor, app: Application | ApplicationView) -> bool:
    """Operators see every application; holders only their own; employer agents their
    employer's batch applications for people still employed there (the employer scope)."""
    if actor.role in OPERATOR_ROLES:
        return True
    if actor.role == Role.HOLDER:
        from yikatong.people.guardians import may_act_for  # their own, or a child's under 16

        return actor.owns(app.submitted_by_user_id) or may_act_for(uow, actor, app.person_id)
    if actor.role == Role.EMPLOYER_AGENT:
        return _employer_may_see(uow, actor, app)
    return False


def _employer_may_see(uow: UnitOfWork, actor: Actor, app: Application | ApplicationView) -> bool:
    from yikatong.employers.service import may_see_person

    batch = uow.session.get(EmployerBatch, app.employer_batch_id) if app.employer_batch_id else None
    if batch is None or batch.uscc is None or batch.uscc != actor.employer_uscc:
        return False
    if app.person_id is None:  # awaiting the identity review: the link comes after it
        return True
    return may_see_person(uow=uow, actor=actor, person_id=app.person_id)


def get_application(*, uow: UnitOfWork, actor: Actor, application_id: int) -> ApplicationView:
    """One application; someone who may not see it gets ApplicationNotFound (no existence leak)."""
    app = _load(uow, application_id)
    if not may_see(uow, actor, app):
        raise ApplicationNotFound(application_id=application_id)
    return view(app)


def list_applications(
    *, uow: UnitOfWork, status: str | None = None, limit: int = 100, offset: int = 0,
) -> list[ApplicationView]:
    query = select(Application).order_by(Application.id).limit(limit).offset(offset)
    if status is not None:
        if status not in rules.STATUSES:
            raise NotAChoice(what_zh="申请状态", what_en="application status", value=status,
                             allowed=rules.STATUSES)
        query = query.where(Application.status == status)
    return [view(app) for app in uow.session.execute(query).scalars()]


def holder_applications(*, uow: UnitOfWork, actor: Actor, limit: int = 50) -> list[ApplicationView]:
    """The applications a holder may see (may_see): those for their person and those their
    login submitted (an online application before the login is tied to a person), newest first."""
    mine = []
    if actor.person_id is not None:
        mine.append(Application.person_id == actor.person_id)
    if actor.account_id is not None:
        mine.append(Application.submitted_by_user_id == actor.account_id)
    if actor.role != Role.HOLDER or not mine:
        return []
    rows = uow.session.execute(
        select(Application).where(or_(*mine)).order_by(Application.id.desc()).limit(limit))
    return [view(app) for app in rows.scalars()]


# What waits at an outlet's counter: at the outlet that took it, a decision or an identity
# check; at the outlet that hands it over, a card to receive and then to hand over.
COUNTER_DECISIONS = ("submitted", "awaiting_identity_review")
COUNTER_PICKUPS = ("produced", "ready_for_pickup")


def outlet_queue(*, uow: UnitOfWork, actor: Actor, limit: int = 200) -> list[ApplicationView]:
    """The applications waiting for the actor's outlet (its branch_code), oldest first: those
    taken at its counter that wait for a decision or an identity check, and those to be
    collected there. Each outlet sees its own work; an actor without an outlet, or one who may
    not see applications (`may_see`), sees none."""
    outlet = actor.branch_code
    if not outlet or actor.role not in OPERATOR_ROLES:
        return []
    query = select(Application).where(or_(
        and_(Application.submitted_at_outlet == outlet,
             Application.status.in_(COUNTER_DECISIONS)),
        and_(Application.pickup_outlet_code == outlet, Application.delivery == "pickup",
             Application.status.in_(COUNTER_PICKUPS)),
    )).order_by(Application.id).limit(limit)
    return [view(app) for app in uow.session.execute(query).scalars()]


def open_applications_for(*, uow: UnitOfWork, person_id: int) -> list[ApplicationView]:
    """The person's applications that have not ended (at most one, by construction)."""
    rows = uow.session.execute(
        select(Application).where(Application.person_id == person_id,
                                  Application.status.in_(rules.OPEN))
    ).scalars()
    return [view(app) for app in rows]


def person_ids_with_open_applications(*, uow: UnitOfWork, after_person_id: int = 0,
                                      limit: int = 500) -> list[int]:
    """People (by id, after `after_person_id`) with an application that has not ended."""
    return list(uow.session.execute(
        select(Application.person_id).distinct()
        .where(Application.person_id > after_person_id, Application.status.in_(rules.OPEN))
        .order_by(Application.person_id).limit(limit)
    ).scalars())


def application_for_card(*, uow: UnitOfWork, card_no: str) -> ApplicationView | None:
    app = uow.session.execute(
        select(Application).where(Application.card_no == card_no)).scalar_one_or_none()
    return view(app) if app is not None else None


# --- intake ------------------------------------------------------------------------------------


def submit_at_outlet(
    *, uow: UnitOfWork, actor: Actor, applicant: ApplicantData, choice: CardChoice,
    agent: AgentData | None = None, idempotency_key: str | None = None,
) -> ApplicationView:
    """An application made at a social-security card service outlet, in person or by an agent."""
    request = {"applicant": applicant.snapshot(), "choice": asdict(choice),
               "agent": asdict(agent) if agent else None}
    replayed = uow.replay("applications.submit", idempotency_key, request)
    if replayed is not None:
        return get_application(uow=uow, actor=actor, application_id=replayed["id"])
    mode = "agent" if agent is not None else "self"
    try:
        app, warnings = _intake(uow, actor, applicant, choice, channel="outlet", mode=mode,
                                agent=agent, outlet=actor.branch_code)
    except (OpenApplicationExists, IntegrityError) as error:
        return _first_try_or_raise(uow, actor, "applications.submit", idempotency_key, request, error)
    uow.remember("applications.submit", idempotency_key, request, {"id": app.id})
    uow.commit()
    return view(app, warnings)


def submit_online(
    *, uow: UnitOfWork, actor: Actor, name: str, id_number: str, evidence: str,
    choice: CardChoice, phone: str | None, authenticator: IdentityAuthenticator,
    registry: PopulationRegistry, idempotency_key: str | None = None,
    photo_jpeg: bytes | None = None,
) -> ApplicationView:
    """An online application (portal or app) after real-name authentication (四.5).

    The base data come from the population registry, and the photo too unless the applicant
    uploads one (`photo_jpeg`, checked against every photo rule at once: PhotoRejected lists
    all failures); if authentication or the lookup cannot supply them the applicant is told to
    go to an outlet (GoToOutlet).
    """
    request = {"name": name, "id_number": id_number, "choice": asdict(choice), "phone": phone,
               "photo_sm3": photo_digest(photo_jpeg) if photo_jpeg is not None else None}
    replayed = uow.replay("applications.submit_online", idempotency_key, request)
    if replayed is not None:
        return get_application(uow=uow, actor=actor, application_id=replayed["id"])
    _check_own_identity(uow, actor, id_number)
    if photo_jpeg is not None:  # refused before the identity services are asked
        check_uploaded_photo(photo_jpeg)
    applicant = fetch_online_applicant(name=name, id_number=id_number, evidence=evidence,
                                       phone=phone, authenticator=authenticator,
                                       registry=registry, photo_jpeg=photo_jpeg)
    try:
        app, warnings = _intake(uow, actor, applicant, choice, channel="online", mode="self")
    except (OpenApplicationExists, IntegrityError) as error:
        return _first_try_or_raise(uow, actor, "applications.submit_online", idempotency_key, request, error)
    uow.remember("applications.submit_online", idempotency_key, request, {"id": app.id})
    uow.commit()
    return view(app, warnings)


def _check_own_identity(uow: UnitOfWork, actor: Actor, id_number: str) -> None:
    """Online, a holder applies for themself only: the ID number must be the one their login
    was real-name authenticated with (or their person record's), never someone else's.
    (Every login made by /auth/holders carries that identity; one made otherwise has none
    and relies on the real-name check of the application alone.)"""
    from yikatong.auth.service import holder_identity
    from yikatong.people.service import get_person, normalise_ssn

    if actor.role != Role.HOLDER:
        return
    own = holder_identity(uow=uow, username=actor.user_id)
    if own is None and actor.person_id is not None:
        own = get_person(uow=uow, person_id=actor.person_id).ssn
    if own is not None and normalise_ssn(own) != normalise_ssn(id_number):
        raise NotYourIdentity()


def fetch_online_applicant(
    *, name: str, id_number: str, evidence: str, phone: str | None,
    authenticator: IdentityAuthenticator, registry: PopulationRegistry,
    photo_jpeg: bytes | None = None,
) -> ApplicantData:
    """Real-name authentication, then base data and photo (the uploaded `photo_jpeg` before
    the registry's); GoToOutlet if either fails."""
    try:
        result = authenticator.authenticate(name=name, id_number=id_number, evidence=evidence)
        if not result.verified:
            raise GoToOutlet(why_zh="实名认证未通过", why_en="real-name authentication failed")
        record = registry.lookup(id_number=id_number, name=name)
    except IdentityServiceUnavailable:
        raise GoToOutlet(why_zh="认证或人口信息服务不可用",
                         why_en="the authentication or population service is unavailable") from None
    if record is None:
        raise GoToOutlet(why_zh="未查到基础信息", why_en="no base data on file")
    photo_jpeg = photo_jpeg if photo_jpeg is not None else record.photo_jpeg
    if photo_jpeg is None:
        raise GoToOutlet(why_zh="未查到照片", why_en="no photo on file")
    document_type = "resident_id_card" if record.nationality == "CHN" else "hmt_residence_permit"
    return ApplicantData(
        name=record.name, document_type=document_type, document_number=record.id_number,
        gender=record.gender, birth_date=record.birth_date, nationality=record.nationality,
        phone=phone, address=record.address,
        document_valid_until=record.document_valid_until or date(9999, 12, 31),
        photo_jpeg=photo_jpeg,
    )


def check_uploaded_photo(photo_jpeg: bytes) -> None:
    """An uploaded photo against every rule of 四.4 at once (people.photo): PhotoRejected
    listing each failing rule. The page's live check shows the same report before sending."""
    from yikatong.people.photo import check_photo
    from yikatong.people.service import photo_rejected

    report = check_photo(photo_jpeg)
    if not report.accepted:
        raise photo_rejected(report)


def _intake(
    uow: UnitOfWork, actor: Actor, applicant: ApplicantData, choice: CardChoice, *,
    channel: str, mode: str, agent: AgentData | None = None, outlet: str | None = None,
    employer_batch_id: int | None = None,
) -> tuple[Application, list[str]]:
    """Check the request, register or match the person, check eligibility, add the row."""
    from yikatong.people.service import register_applicant

    _check_choice(uow, choice, channel)
    if mode == "agent":
        _check_agent(agent)
    outcome = register_applicant(
        uow=uow, actor=actor, name=applicant.name, document_type=applicant.document_type,
        document_number=applicant.document_number, gender=applicant.gender,
        birth_date=applicant.birth_date, nationality=applicant.nationality,
        phone=applicant.phone, address=applicant.address,
        document_valid_until=applicant.document_valid_until, photo_jpeg=applicant.photo_jpeg,
        as_of=local_date(uow.now()), holds_id_card=applicant.holds_id_card,
    )
    predecessor = None
    if outcome.person_id is not None:
        predecessor = _check_eligibility(uow, outcome.person_id, choice, channel)
    app = _add_application(
        uow, actor, kind=choice.kind, exchange_reason=choice.exchange_reason, mode=mode,
        channel=channel,
        status="submitted" if outcome.person_id is not None else "awaiting_identity_review",
        person_id=outcome.person_id, identity_review_id=outcome.review_id,
        applicant=applicant.snapshot(), agent=asdict(agent) if agent else None,
        employer_batch_id=employer_batch_id, bank_code=choice.bank_code,
        submitted_at_outlet=outlet, delivery=choice.delivery,
        pickup_outlet_code=choice.pickup_outlet_code, mailing_address=choice.mailing_address,
        predecessor_card_no=predecessor,
    )
    return app, list(outcome.warnings)


def _first_try_or_raise(uow: UnitOfWork, actor: Actor, scope: str, idempotency_key: str | None,
                        request: dict, error: OpenApplicationExists | IntegrityError) -> ApplicationView:
    """The open application in the way may be this request's own: a first try with the same
    key, committed after this retry checked the key. The same race can show earlier, as the
    person's audit chain taken at the same moment (ConcurrentChange when it is not the key's
    first try). Raises the error otherwise."""
    if isinstance(error, IntegrityError):
        if not is_audit_collision(error):
            raise error
        error = ConcurrentChange()
    replayed = uow.replay_or_raise(scope, idempotency_key, request, error)
    return get_application(uow=uow, actor=actor, application_id=replayed["id"])


def _add_application(uow: UnitOfWork, actor: Actor, *, reason: str | None = None,
                     **fields: Any) -> Application:
    """Add a new application row with its audit record and event (no commit)."""
    now = uow.now()
    app = Application(open_person_id=fields["person_id"], submitted_by=actor.user_id,
                      submitted_by_user_id=actor.account_id,
                      submitted_at=now, updated_at=now, **fields)
    uow.session.add(app)
    _flush_guarded(uow, app.person_id)
    uow.audit(actor=actor, action="application.submit", entity_type="application",
              entity_id=app.id, reason=reason,
              after=_state(app) | {"mode": app.mode, "channel": app.channel, "fee": "free"})
    uow.emit("application.submitted", aggregate_type="application", aggregate_id=app.id,
             payload={"application_id": app.id, "person_id": app.person_id, "kind": app.kind,
                      "status": app.status, "bank_code": app.bank_code})
    return app


def _flush_guarded(uow: UnitOfWork, person_id: int | None) -> None:
    """Flush; a second open application for the person (another outlet won the race) is
    refused by the unique constraint on open_person_id."""
    try:
        uow.session.flush()
    except IntegrityError as error:
        if "open_person_id" not in str(error.orig):
            raise
        uow.session.rollback()
        winner = open_applications_for(uow=uow, person_id=person_id) if person_id else []
        raise OpenApplicationExists(application_id=winner[0].id if winner else "?") from None


def _check_choice(uow: UnitOfWork, choice: CardChoice, channel: str) -> None:
    from yikatong.directory.service import get_bank, get_outlet

    if choice.kind not in rules.KINDS:
        raise NotAChoice(what_zh="申请类型", what_en="application kind", value=choice.kind,
                         allowed=rules.KINDS)
    if choice.card_unreadable and choice.exchange_reason != "damage":
        raise InvalidInput(reason_zh="仅因卡损坏换卡时可标注卡片无法读取",
                           reason_en="only a damage exchange can mark the card unreadable")
    get_bank(uow=uow, bank_code=choice.bank_code)
    rules.check_delivery(channel=channel, delivery=choice.delivery,
                         pickup_outlet_code=choice.pickup_outlet_code,
                         mailing_address=choice.mailing_address)
    if choice.kind == "exchange" or channel == "outlet":
        rules.check_channel_rules(kind=choice.kind, channel=channel,
                                  exchange_reason=choice.exchange_reason,
                                  had_provincial_card=False, has_live_card=False)
    if choice.delivery == "pickup":
        outlet = get_outlet(uow=uow, outlet_code=choice.pickup_outlet_code)
        if not (outlet.kind == "ss_outlet" or (
                outlet.kind == "bank_branch" and outlet.bank_code == choice.bank_code)):
            raise PickupOutletNotAllowed(outlet_code=outlet.code)


def _check_agent(agent: AgentData | None) -> None:
    """Both parties' documents are recorded (四.2(1)); the agent's ID number is checked."""
    from yikatong.people.errors import DocumentNumberKindMismatch
    from yikatong.people.rules import DOCUMENT_NAMES, classify_id_number, parse_document_type

    if agent is None or not agent.name.strip() or not agent.document_number.strip():
        raise AgentDocumentsMissing()
    document_type = parse_document_type(agent.document_type)
    kind = classify_id_number(agent.document_number).kind  # refuses what is no document number
    expected = _ID_NUMBER_KINDS.get(document_type.value)
    if expected is not None and kind not in expected:
        zh, en = DOCUMENT_NAMES[document_type]
        raise DocumentNumberKindMismatch(expected_zh=zh, expected_en=en)


# Documents whose number is an ID number, and the kinds of number each may carry.
_ID_NUMBER_KINDS = {
    "resident_id_card": {"citizen"}, "temporary_id_card": {"citizen"},
    "household_register": {"citizen"},
    "hmt_residence_permit": {"hk_permit", "mo_permit", "tw_permit"},
    "foreign_pr_card": {"foreign_pr_2023", "foreign_pr_2017"},
}


def _held_a_jiangsu_card(uow: UnitOfWork, person, live: bool) -> bool:
    """Whether the person ever held a Jiangsu card (四.5: online first issue is for people who
    never did): the flag, or any record of a card the platform issued or ended or an old card
    declared at an outlet. A live card is its own refusal (OnlineFirstIssueOnly), so its
    issue record is not counted twice."""
    from yikatong.people.service import jiangsu_card_records

    return person.had_provincial_card or (not live and bool(
        jiangsu_card_records(uow=uow, person_id=person.id)))


def _check_eligibility(uow: UnitOfWork, person_id: int, choice: CardChoice,
                       channel: str) -> str | None:
    """One person, one live card and one open application; kind-specific checks with the
    card registry. Returns the card being replaced or exchanged."""
    from yikatong.cards import service as cards
    from yikatong.people.service import get_person

    existing = open_applications_for(uow=uow, person_id=person_id)
    if existing:
        raise OpenApplicationExists(application_id=existing[0].id)
    person = get_person(uow=uow, person_id=person_id)
    live = cards.has_live_card(uow=uow, person_id=person_id)
    rules.check_channel_rules(kind=choice.kind, channel=channel,
                              exchange_reason=choice.exchange_reason,
                              had_provincial_card=_held_a_jiangsu_card(uow, person, live),
                              has_live_card=live)
    if choice.kind == "first":
        if live:
            raise LiveCardExists()
        return None
    if choice.kind == "replacement":
        return cards.check_replacement_allowed(uow=uow, person_id=person_id)
    return cards.check_exchange_allowed(uow=uow, person_id=person_id,
                                        card_damaged=choice.card_unreadable)


# --- employer batch ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmployeeRow:
    applicant: ApplicantData
    choice: CardChoice


@dataclass(frozen=True)
class RowOutcome:
    row: int
    name: str
    accepted: bool
    application_id: int | None = None
    status: str | None = None
    code: str | None = None
    reason_zh: str | None = None
    reason_en: str | None = None


@dataclass(frozen=True)
class EmployerBatchView:
    id: int
    employer_name: str
    uscc: str | None
    authorisation_letter_ref: str | None
    accepted: int
    rejected: int
    rows: tuple[RowOutcome, ...]


def submit_employer_batch(
    *, uows: Callable[[], UnitOfWork], actor: Actor, employer_name: str, agent: AgentData,
    employees: list[EmployeeRow], uscc: str | None = None,
    authorisation_letter_ref: str | None = None,
) -> EmployerBatchView:
    """单位办理: an employer's agent applies for many employees at once (四.2(2)).

    The employer credential and the agent are checked first (nothing is recorded if they
    fail). Then each employee gets a transaction of its own, so one bad row does not sink
    the batch; the batch keeps every row's outcome and a summary.
    """
    normalised_uscc = _batch_employer(actor, rules.check_employer_credential(
        uscc=uscc, authorisation_letter_ref=authorisation_letter_ref))
    _check_agent(agent)
    if not employees:
        raise InvalidInput(reason_zh="批量申请没有员工", reason_en="the batch has no employees")
    with uows() as uow:
        batch = EmployerBatch(
            employer_name=employer_name, uscc=normalised_uscc,
            authorisation_letter_ref=authorisation_letter_ref, agent=asdict(agent),
            submitted_by=actor.user_id, submitted_by_user_id=actor.account_id, submitted_at=uow.now(), accepted=0, rejected=0,
            rows=[],
        )
        uow.session.add(batch)
        uow.session.flush()
        uow.audit(actor=actor, action="employer_batch.open", entity_type="employer_batch",
                  entity_id=batch.id, after={"employer_name": employer_name,
                                             "uscc": normalised_uscc, "rows": len(employees)})
        uow.commit()
        batch_id = batch.id
    outcomes = [_employee_row(uows, actor, agent, batch_id, normalised_uscc, number, row)
                for number, row in enumerate(employees, start=1)]
    with uows() as uow:
        batch = uow.session.get(EmployerBatch, batch_id)
        batch.rows = [asdict(o) for o in outcomes]
        batch.accepted = sum(o.accepted for o in outcomes)
        batch.rejected = len(outcomes) - batch.accepted
        uow.audit(actor=actor, action="employer_batch.close", entity_type="employer_batch",
                  entity_id=batch_id, after={"accepted": batch.accepted,
                                             "rejected": batch.rejected})
        uow.commit()
        return _batch_view(batch)


def _batch_employer(actor: Actor, batch_uscc: str | None) -> str | None:
    """The employer a batch's employees are linked to. An employer agent applies for their
    own employer only (the code on their login), named or not in the batch."""
    from yikatong.employers.errors import BatchForAnotherEmployer, EmployerUsccRequired

    if actor.role != Role.EMPLOYER_AGENT:
        return batch_uscc
    if not actor.employer_uscc:
        raise EmployerUsccRequired()
    if batch_uscc is not None and batch_uscc != actor.employer_uscc:
        raise BatchForAnotherEmployer(employer_uscc=actor.employer_uscc)
    return actor.employer_uscc


def _employee_row(uows, actor, agent, batch_id, employer_uscc, number,
                  row: EmployeeRow) -> RowOutcome:
    from yikatong.employers.service import link_employee

    try:
        with uows() as uow:
            app, _warnings = _intake(uow, actor, row.applicant, row.choice, channel="outlet",
                                     mode="employer", agent=agent, outlet=actor.branch_code,
                                     employer_batch_id=batch_id)
            if employer_uscc is not None and app.person_id is not None:
                link_employee(uow=uow, actor=actor, employer_uscc=employer_uscc,
                              person_id=app.person_id, employer_batch_id=batch_id)
            uow.commit()
    except DomainError as error:
        return RowOutcome(row=number, name=row.applicant.name, accepted=False, code=error.code,
                          reason_zh=error.message_zh, reason_en=error.message_en)
    return RowOutcome(row=number, name=row.applicant.name, accepted=True,
                      application_id=app.id, status=app.status)


def _batch_view(batch: EmployerBatch) -> EmployerBatchView:
    return EmployerBatchView(
        id=batch.id, employer_name=batch.employer_name, uscc=batch.uscc,
        authorisation_letter_ref=batch.authorisation_letter_ref, accepted=batch.accepted,
        rejected=batch.rejected, rows=tuple(RowOutcome(**r) for r in batch.rows),
    )


def get_employer_batch(*, uow: UnitOfWork, actor: Actor, batch_id: int) -> EmployerBatchView:
    batch = uow.session.get(EmployerBatch, batch_id)
    if batch is None or not (actor.role in OPERATOR_ROLES or actor.owns(batch.submitted_by_user_id)):
        raise EmployerBatchNotFound(batch_id=batch_id)
    return _batch_view(batch)


# --- decisions and delivery --------------------------------------------------------------------


def _move(uow: UnitOfWork, actor: Actor, app: Application, target: str, *, action: str,
          reason: str | None = None, **changes: Any) -> Application:
    """Apply one legal transition with its audit record and event (no commit)."""
    rules.check_transition(app.status, target)
    before = _state(app)
    app.status = target
    for name, value in changes.items():
        setattr(app, name, value)
    if target in rules.CLOSED:
        app.open_person_id = None
    if reason is not None:
        app.decision_reason = reason
    app.updated_at = uow.now()
    _flush_guarded(uow, app.open_person_id)
    uow.audit(actor=actor, action=action, entity_type="application", entity_id=app.id,
              before=before, after=_state(app), reason=reason)
    uow.emit(f"application.{target}", aggregate_type="application", aggregate_id=app.id,
             payload={"application_id": app.id, "person_id": app.person_id, "status": target,
                      "card_no": app.card_no})
    return app


def approve(*, uow: UnitOfWork, actor: Actor, application_id: int) -> ApplicationView:
    """An operator approves the application for production."""
    app = _move(uow, actor, _load(uow, application_id), "approved", action="application.approve")
    uow.commit()
    return view(app)


def reject(*, uow: UnitOfWork, actor: Actor, application_id: int, reason: str) -> ApplicationView:
    if not reason.strip():
        raise InvalidInput(reason_zh="请填写拒绝原因", reason_en="a reason is required")
    app = _move(uow, actor, _load(uow, application_id), "rejected", action="application.reject",
                reason=reason)
    uow.commit()
    return view(app)


def cancel(*, uow: UnitOfWork, actor: Actor, application_id: int, reason: str) -> ApplicationView:
    """Cancel an open application; a produced card not yet handed over is cancelled too."""
    app = _load(uow, application_id)
    if not may_see(uow, actor, app):
        raise ApplicationNotFound(application_id=application_id)
    _cancel(uow, actor, app, reason)
    uow.commit()
    return view(app)


def _cancel(uow: UnitOfWork, actor: Actor, app: Application, reason: str) -> None:
    if app.status in rules.CARD_EXISTS and app.card_no:
        from yikatong.cards.service import cancel_unissued_card

        cancel_unissued_card(uow=uow, actor=actor, card_no=app.card_no, reason=reason)
    _move(uow, actor, app, "cancelled", action="application.cancel", reason=reason)


def cancel_pending_replacement(*, uow: UnitOfWork, actor: Actor, person_id: int,
                               reason: str) -> bool:
    """Cancel the person's replacement application that has not been handed over (the lost
    card was found and unblocked). Runs in the CALLER's transaction: does not commit.
    Returns whether there was one."""
    app = uow.session.execute(
        select(Application).where(Application.person_id == person_id,
                                  Application.kind == "replacement",
                                  Application.status.in_(rules.OPEN))
    ).scalar_one_or_none()
    if app is None:
        return False
    _cancel(uow, actor, app, reason)
    return True


def resolve_identity_review(*, uow: UnitOfWork, actor: Actor, application_id: int,
                            person_id: int | None = None) -> ApplicationView:
    """After the manual identity review settled who the applicant is (people's
    `resolve_review`), the application goes on as submitted, with the usual one-card /
    one-application checks, for the person the review settled (the candidate, or the new
    person it created); a `person_id` naming anybody else is refused, so the application
    cannot be attached to an arbitrary person."""
    from yikatong.people.service import get_review

    app = _load(uow, application_id)
    rules.check_transition(app.status, "submitted")
    resolved = get_review(uow=uow, review_id=app.identity_review_id).resolved_person_id
    if resolved is None:  # only the review (people.resolve_review) settles who it is
        raise IdentityReviewOpen(review_id=app.identity_review_id)
    if person_id is not None and person_id != resolved:
        raise NotTheReviewedPerson(review_id=app.identity_review_id,
                                   allowed_person_ids=[resolved])
    person_id = resolved
    choice = CardChoice(kind=app.kind, bank_code=app.bank_code, delivery=app.delivery,
                        pickup_outlet_code=app.pickup_outlet_code,
                        mailing_address=app.mailing_address,
                        exchange_reason=app.exchange_reason)
    predecessor = _check_eligibility(uow, person_id, choice, app.channel)
    _move(uow, actor, app, "submitted", action="application.identity_resolved",
          person_id=person_id, open_person_id=person_id, predecessor_card_no=predecessor)
    _link_batch_employee(uow, actor, app)
    uow.commit()
    return view(app)


def _link_batch_employee(uow: UnitOfWork, actor: Actor, app: Application) -> None:
    """A batch row held for the identity review gets its employer link once the person is
    settled (a row matched at once got it when it was submitted)."""
    from yikatong.employers.service import link_employee

    batch = uow.session.get(EmployerBatch, app.employer_batch_id) if app.employer_batch_id else None
    if batch is not None and batch.uscc is not None and app.person_id is not None:
        link_employee(uow=uow, actor=actor, employer_uscc=batch.uscc, person_id=app.person_id,
                      employer_batch_id=batch.id)


def mark_ready_for_pickup(*, uow: UnitOfWork, actor: Actor, application_id: int) -> ApplicationView:
    app = _load(uow, application_id)
    if app.delivery != "pickup":
        raise NotPickupApplication(expected="pickup", expected_zh=rules.DELIVERY_WORDS["pickup"][0],
                                   expected_en=rules.DELIVERY_WORDS["pickup"][1])
    _move(uow, actor, app, "ready_for_pickup", action="application.ready_for_pickup")
    uow.commit()
    return view(app)


def ship(*, uow: UnitOfWork, actor: Actor, application_id: int, tracking_no: str) -> ApplicationView:
    """Mail the card by EMS cash on delivery; the holder pays EMS the postage only."""
    app = _load(uow, application_id)
    if app.delivery != "ems_cod":
        raise NotPickupApplication(expected="ems_cod", expected_zh=rules.DELIVERY_WORDS["ems_cod"][0],
                                   expected_en=rules.DELIVERY_WORDS["ems_cod"][1])
    tracking_no = tracking_no.strip().upper()
    if not rules.EMS_TRACKING.match(tracking_no):
        raise InvalidInput(reason_zh="EMS 运单号格式不正确", reason_en="malformed EMS tracking number")
    _move(uow, actor, app, "shipped", action="application.ship", ems_tracking_no=tracking_no)
    uow.commit()
    return view(app)


def hand_over(*, uow: UnitOfWork, actor: Actor, application_id: int) -> ApplicationView:
    """启用: the card reaches the holder (at the counter, or EMS reports delivery, or the
    holder confirms receipt). The card registry retires a predecessor in the same transaction.
    Handed over by staff, the card comes with a new activation code for the holder's online
    sign-up (auth.binding), in the answer only (`activation_code`)."""
    from yikatong.auth.binding import issue_activation_code
    from yikatong.cards.service import hand_over as hand_over_card

    app = _load(uow, application_id)
    if actor.role == Role.HOLDER:
        if not may_see(uow, actor, app):
            raise ApplicationNotFound(application_id=application_id)  # no existence leak
        if app.status != "shipped":
            raise Forbidden()
    rules.check_transition(app.status, "handed_over")
    hand_over_card(uow=uow, actor=actor, card_no=app.card_no)
    _move(uow, actor, app, "handed_over", action="application.hand_over")
    code = None
    if actor.role != Role.HOLDER and app.person_id is not None:  # a holder confirming
        # receipt online is signed up already
        code = issue_activation_code(uow=uow, actor=actor, person_id=app.person_id,
                                     card_no=app.card_no)
    uow.commit()
    return replace(view(app), activation_code=code)


# --- reacting to other domains -----------------------------------------------------------------


def open_exchange_for_changed_data(*, uow: UnitOfWork, actor: Actor, person_id: int,
                                   fields: list[str]) -> ApplicationView | None:
    """A correction changed data printed on the card: open an exchange (info_change) for a
    person with a live card, at the outlet where the current card was applied for. Returns
    None when there is nothing to exchange or an application is already open. Runs in the
    caller's transaction (the worker job commits it with its cursor)."""
    from yikatong.cards import service as cards

    current = cards.current_card_for(uow=uow, person_id=person_id)
    if current is None or open_applications_for(uow=uow, person_id=person_id):
        return None
    predecessor = cards.check_exchange_allowed(uow=uow, person_id=person_id)
    previous = uow.session.execute(
        select(Application).where(Application.card_no == current.card_no)).scalar_one_or_none()
    pickup = previous.pickup_outlet_code if previous and previous.delivery == "pickup" else None
    pickup = pickup or _default_pickup_outlet(uow)
    app = _add_application(
        uow, actor, reason=f"printed data changed: {fields}", kind="exchange",
        exchange_reason="info_change", mode="self", channel="outlet", status="submitted",
        person_id=person_id, applicant=_applicant_from_person(uow, person_id),
        bank_code=current.bank_code, delivery="pickup", pickup_outlet_code=pickup,
        predecessor_card_no=predecessor,
    )
    return view(app)


def _applicant_from_person(uow: UnitOfWork, person_id: int) -> dict[str, Any]:
    from yikatong.people.service import current_document, get_person

    person = get_person(uow=uow, person_id=person_id)
    # A foreigner's ssn is assigned by the agency: the document is the passport, not the ssn.
    document_type, number = current_document(uow=uow, person_id=person_id) or (
        "resident_id_card", person.ssn)
    return {"name": person.name, "document_type": document_type,
            "document_number": number, "gender": person.gender,
            "birth_date": person.birth_date.isoformat(), "nationality": person.nationality,
            "phone": person.phone, "address": person.address}


def _default_pickup_outlet(uow: UnitOfWork) -> str:
    from yikatong.directory.service import list_outlets

    return list_outlets(uow=uow, kind="ss_outlet")[0].code
