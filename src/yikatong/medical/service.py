"""Use cases of medical insurance outside the visit: enrolment (参保), the personal account
(个人账户) in the ledger, designated institutions and their interface secrets, the catalogue
(1901), finding the insured person by a credential (1101 / 2001), yearly totals (5206) and
chronic/special disease filings (2503 / 2504). The visit itself is in visits.py.

Transactions: every function that changes something commits its own unit of work once, with
its audit record, except enrol and end_enrolment, which other domains call inside their own
use cases: those leave the commit to the caller's unit of work; reads never commit. Ledger accounts:
* `medical:account:{person_id}` — the personal account, a liability of the fund to the person;
* `medical:fund:bank` — the fund's money at its bank (asset); personal-account credits come
  from it;
* `medical:fund:{city admdvs}:pool` — what the pooled fund of the insured city has paid out
  (expense); a settlement debits it, a cancellation credits it back;
* `medical:institution:{fixmedins_code}:payable` — what the fund owes an institution.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.masking import mask_ssn
from yikatong.core.money import MAX_AMOUNT_FEN, Fen
from yikatong.crypto.protocols import KeyStore
from yikatong.db.statement import RawStatement
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.ledger.models import Journal
from yikatong.medical import models
from yikatong.medical.catalogue import Catalogue, CatalogueItem, default_catalogue_book
from yikatong.medical.errors import (
    CredentialRefused,
    EnrolmentOverlap,
    FilingAlreadyRevoked,
    FilingNotFound,
    InstitutionExists,
    InstitutionInactive,
    InstitutionNotFound,
    InsuredNotFound,
    InvalidCredit,
    InvalidEnrolment,
    InvalidFiling,
    InvalidInstitution,
    NoInstitutionSecret,
    NoOpenEnrolment,
    NotAnInstitution,
    NotEnrolled,
    NotMedicalOffice,
    UnknownCatalogueCode,
    UnknownCertType,
)
from yikatong.medical.models import DiseaseFiling, Enrolment, Institution, InsuredPerson

if TYPE_CHECKING:
    from yikatong.medical.rules import YearTotals as RulesYearTotals

SCHEMES = {"310": ("职工基本医疗保险", "employee basic medical insurance"),
           "390": ("城乡居民基本医疗保险", "urban-rural residents' basic medical insurance")}
CERT_TYPES = {"01": ("医保电子凭证", "medical insurance e-voucher"),
              "02": ("居民身份证", "resident identity card"),
              "03": ("社会保障卡", "social security card")}
LEVELS = {"community": ("社区卫生服务机构", "community health centre"), "1": ("一级", "Level 1"),
          "2": ("二级", "Level 2"), "3": ("三级", "Level 3"), "pharmacy": ("定点零售药店", "pharmacy")}
FILING_KINDS = {"chronic": ("门诊慢性病", "outpatient chronic disease"),
                "special": ("门诊特殊病", "outpatient special disease")}
# Why a social security card may not be used, by the HR status of the card (cards.rules).
CARD_REFUSALS = {
    "temporary_loss": ("card_lost", "社会保障卡已临时挂失", "the card is temporarily reported lost"),
    "formal_loss": ("card_lost", "社会保障卡已挂失", "the card is reported lost"),
    "frozen": ("card_frozen", "社会保障卡已冻结", "the card is frozen"),
    "retired": ("card_retired", "社会保障卡已停用（已补换、迁出或注销）",
                "the card is retired (replaced, transferred out or cancelled)"),
    "cancelled": ("card_retired", "社会保障卡已作废", "the card was cancelled"),
    "not_in_use": ("card_not_in_use", "社会保障卡尚未启用", "the card is not in use yet"),
}

OFFICE_ROLES = frozenset({Role.MEDICAL_OFFICE, Role.ADMIN, Role.SYSTEM})
FUND_BANK = "medical:fund:bank"
ADMDVS = re.compile(r"^\d{6}$")
USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
INSTITUTION_CODE = re.compile(r"^[HP]\d{11}$")
SECRET_CONTEXT = "medical_institutions.secret:{code}"


def account_code(person_id: int) -> str:
    return f"medical:account:{person_id}"


def pool_code(insured_admdvs: str) -> str:
    """The pooled fund of the insured person's city (320402 → medical:fund:320400:pool)."""
    return f"medical:fund:{insured_admdvs[:4]}00:pool"


def payable_code(fixmedins_code: str) -> str:
    return f"medical:institution:{fixmedins_code}:payable"


def open_fund_accounts(uow: UnitOfWork, *, insured_admdvs: str | None = None,
                       fixmedins_code: str | None = None) -> None:
    """Open (if missing) the ledger accounts a settlement posts to: the pool of a city, an
    institution's payable. Done when a person enrols and an institution is designated, so a
    settlement does not look them up again."""
    if insured_admdvs is not None:
        ledger.open_account(uow=uow, code=pool_code(insured_admdvs), kind="expense")
    if fixmedins_code is not None:
        # an institution may owe a cancellation's amount back after it was paid: may go negative
        ledger.open_account(uow=uow, code=payable_code(fixmedins_code), kind="liability",
                            allow_negative=True)


# ---------------------------------------------------------------------------------------
# Views handed to callers (never ORM rows, never a sealed secret)


@dataclass(frozen=True)
class EnrolmentView:
    id: int
    person_id: int
    psn_no: str
    scheme: str  # insutype 310 | 390
    scheme_zh: str
    scheme_en: str
    insured_admdvs: str
    retired: bool
    assistance: bool
    employer_uscc: str | None
    employer_name: str | None
    start_date: date
    end_date: date | None

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)


@dataclass(frozen=True)
class InsuredView:
    """The insured person found by a credential (1101): who, the enrolment in force on `day`,
    the personal account balance. `certno` is the full ID number the institution needs; log
    `certno_masked` only."""

    person_id: int
    psn_no: str
    name: str
    gender: str
    birth_date: date
    certno: str
    cert_type: str
    card_no: str | None  # the card presented (cert type 03)
    day: date
    enrolment: EnrolmentView
    account_balance: Fen

    @property
    def certno_masked(self) -> str:
        return mask_ssn(self.certno)


@dataclass(frozen=True)
class AccountView:
    person_id: int
    account_code: str
    balance: Fen
    journal_request_id: str | None = None  # the credit's journal (credit_account)
    replayed: bool = False  # the credit was already recorded: nothing changed


@dataclass(frozen=True)
class InstitutionView:
    code: str
    name: str
    name_en: str
    kind: str
    level: str
    level_zh: str
    level_en: str
    admdvs: str
    active: bool
    has_secret: bool
    secret_issued_at: datetime | None


@dataclass(frozen=True)
class IssuedSecret:
    """An institution and its new interface secret: shown this once, stored only sealed."""

    institution: InstitutionView
    secret: str = field(repr=False)


@dataclass(frozen=True)
class FilingView:
    filing_no: str
    person_id: int
    kind: str
    disease_code: str
    disease_name: str
    fixmedins_code: str | None
    begin_date: date
    end_date: date | None
    filed_at: datetime
    revoked_at: datetime | None

    def in_force(self, day: date) -> bool:
        return (self.revoked_at is None and self.begin_date <= day
                and (self.end_date is None or day <= self.end_date))


@dataclass(frozen=True)
class LoadSummary:
    inserted: int
    updated: int

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)


# ---------------------------------------------------------------------------------------
# Enrolment


def enrol(*, uow: UnitOfWork, actor: Actor, person_id: int, scheme: str, insured_admdvs: str,
          start_date: date, retired: bool = False, employer_uscc: str | None = None,
          employer_name: str | None = None, assistance: bool = False) -> EnrolmentView:
    """Enrol a person from `start_date` (the medical insurance office). A period still open
    then is closed the day before (a change of scheme, employer or retirement is a new
    period); a period starting on or after `start_date` is EnrolmentOverlap. The first
    enrolment gives the person a psn_no and opens their personal account. Employees in service
    (310) name their employer; residents (390) have none. Does not commit (the caller's unit
    of work does)."""
    _require_office(actor)
    _check_enrolment(scheme, insured_admdvs, retired, employer_uscc, employer_name)
    _person(uow, person_id)
    periods = _periods(uow, person_id, lock=True)
    later = [p for p in periods if p.start_date >= start_date]
    if later:
        raise EnrolmentOverlap(start=later[0].start_date.isoformat())
    now = uow.now()
    closed = None
    for period in periods:
        if period.end_date is None or period.end_date >= start_date:
            closed = _view_enrolment(period, "")
            period.end_date = start_date - timedelta(days=1)
            period.updated_at = now
    insured = _insured(uow, person_id, create_with=insured_admdvs)
    row = Enrolment(person_id=person_id, scheme=scheme, insured_admdvs=insured_admdvs,
                    retired=retired, assistance=assistance, employer_uscc=employer_uscc,
                    employer_name=employer_name, start_date=start_date, end_date=None,
                    created_at=now, updated_at=now)
    uow.session.add(row)
    open_fund_accounts(uow, insured_admdvs=insured_admdvs)
    uow.session.flush()
    view = _view_enrolment(row, insured.psn_no)
    uow.audit(actor=actor, action="medical.enrolled", entity_type="medical_insured",
              entity_id=person_id, before=_enrolment_image(closed) if closed else None,
              after=_enrolment_image(view))
    return view


def end_enrolment(*, uow: UnitOfWork, actor: Actor, person_id: int, end_date: date) -> EnrolmentView:
    """End the person's open enrolment period on `end_date` (inclusive). Does not commit (the
    caller's unit of work does)."""
    _require_office(actor)
    open_period = next((p for p in _periods(uow, person_id, lock=True) if p.end_date is None), None)
    if open_period is None:
        raise NoOpenEnrolment()
    if end_date < open_period.start_date:
        raise InvalidEnrolment(reason_zh="终止日期早于开始日期",
                               reason_en="the end date is before the start date")
    open_period.end_date = end_date
    open_period.updated_at = uow.now()
    uow.session.flush()
    view = _view_enrolment(open_period, _insured(uow, person_id).psn_no)
    uow.audit(actor=actor, action="medical.enrolment_ended", entity_type="medical_insured",
              entity_id=person_id, after=_enrolment_image(view))
    return view


def enrolment_on(*, uow: UnitOfWork, person_id: int, day: date) -> EnrolmentView | None:
    """The person's enrolment period covering `day`, or None (not insured that day)."""
    found = uow.session.execute(
        select(Enrolment, InsuredPerson.psn_no)
        .outerjoin(InsuredPerson, InsuredPerson.person_id == Enrolment.person_id)
        .where(Enrolment.person_id == person_id, Enrolment.start_date <= day,
               (Enrolment.end_date.is_(None)) | (Enrolment.end_date >= day))
        .order_by(Enrolment.start_date.desc()).limit(1)).first()
    if found is None:
        return None
    return _view_enrolment(found[0], found[1] or "")


def enrolments(*, uow: UnitOfWork, person_id: int) -> list[EnrolmentView]:
    """Every enrolment period of the person, oldest first."""
    insured = uow.session.get(InsuredPerson, person_id)
    psn_no = insured.psn_no if insured else ""
    return [_view_enrolment(p, psn_no) for p in _periods(uow, person_id)]


def psn_no_of(*, uow: UnitOfWork, person_id: int) -> str | None:
    insured = uow.session.get(InsuredPerson, person_id)
    return insured.psn_no if insured else None


def person_by_psn_no(*, uow: UnitOfWork, psn_no: str) -> int | None:
    return uow.session.execute(
        select(InsuredPerson.person_id).where(InsuredPerson.psn_no == psn_no)).scalar_one_or_none()


# ---------------------------------------------------------------------------------------
# The personal account


def credit_account(*, uow: UnitOfWork, actor: Actor, person_id: int, amount: Fen,
                   request_id: str, memo: str = "") -> AccountView:
    """Credit the personal account (the yearly or monthly 划入) from the fund's bank money.
    Idempotent by `request_id`: the same credit again changes nothing and says so
    (`replayed`); the same id with another amount is IdempotencyKeyReused. Commits."""
    _require_office(actor)
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT_FEN:
        raise InvalidCredit()
    insured = _insured(uow, person_id)
    journal_id = f"medical:credit:{request_id}"
    code = insured.account_code
    already = uow.session.execute(select(Journal.id).where(Journal.request_id == journal_id)).first()
    ledger.open_account(uow=uow, code=FUND_BANK, kind="asset")
    ledger.post(uow=uow, request_id=journal_id, kind="medical_account_credit",
                legs=[(FUND_BANK, amount), (code, -amount)], memo=memo[:256])
    balance = ledger.balance(uow=uow, code=code)
    if already is not None:
        return AccountView(person_id, code, balance, journal_id, replayed=True)
    uow.audit(actor=actor, action="medical.account_credited", entity_type="medical_account",
              entity_id=person_id, after={"amount": amount, "balance": balance,
                                          "request_id": request_id})
    uow.commit()
    return AccountView(person_id, code, balance, journal_id)


_ACCOUNT_BALANCE = None  # account_balance's select, with bind parameters


def account_balance(*, uow: UnitOfWork, person_id: int) -> Fen:
    """The personal account balance in fen (0 for a person never enrolled): the ledger
    account's stored balance, as `ledger.balance` reads it, selected as one column (no ORM
    object made: the settle's hot path)."""
    global _ACCOUNT_BALANCE
    session = uow.session
    if session.new or session.dirty:  # changes pending: the ORM's read, which flushes them first
        return _account_balance_of_orm(uow, person_id)
    if _ACCOUNT_BALANCE is None:  # built once: building a select costs more than running it
        from yikatong.ledger.models import LedgerAccount

        accounts = LedgerAccount.__table__.c
        _ACCOUNT_BALANCE = select(accounts.balance).where(accounts.code == bindparam("code"))
    balance = session.execute(_ACCOUNT_BALANCE, {"code": account_code(person_id)}).scalar_one_or_none()
    return 0 if balance is None else balance


def _account_balance_of_orm(uow: UnitOfWork, person_id: int) -> Fen:
    from yikatong.ledger.errors import AccountNotFound

    try:
        return ledger.balance(uow=uow, code=account_code(person_id))
    except AccountNotFound:
        return 0


# ---------------------------------------------------------------------------------------
# Designated institutions


def register_institution(*, uow: UnitOfWork, actor: Actor, code: str, name: str, name_en: str,
                         level: str, admdvs: str) -> IssuedSecret:
    """Designate an institution (H… hospital, P… pharmacy) and issue its interface secret,
    returned this once and stored sealed under the key store (KeyStore.seal). Commits."""
    _require_office(actor)
    kind = _check_institution(code, name, name_en, level, admdvs)
    if uow.session.get(Institution, code) is not None:
        raise InstitutionExists(code=code)
    row = Institution(code=code, name=name.strip(), name_en=name_en.strip(), kind=kind, level=level,
                      admdvs=admdvs, active=True, created_at=uow.now())
    uow.session.add(row)
    open_fund_accounts(uow, fixmedins_code=code)
    secret = _issue_secret(uow, row)
    uow.session.flush()
    view = _view_institution(row)
    uow.audit(actor=actor, action="medical.institution_registered", entity_type="medical_institution",
              entity_id=code, after=_institution_image(view))
    uow.commit()
    return IssuedSecret(view, secret)


def issue_institution_secret(*, uow: UnitOfWork, actor: Actor, code: str) -> IssuedSecret:
    """A new interface secret for the institution (the first for a reference institution, or
    a rotation); the old one stops working at once. Shown once. Commits."""
    _require_office(actor)
    row = _institution(uow, code)
    secret = _issue_secret(uow, row)
    uow.session.flush()
    view = _view_institution(row)
    uow.audit(actor=actor, action="medical.institution_secret_issued",
              entity_type="medical_institution", entity_id=code,
              after={"secret_issued_at": view.secret_issued_at.isoformat()})
    uow.commit()
    return IssuedSecret(view, secret)


def institution_secret(*, uow: UnitOfWork, code: str) -> str:
    """The institution's interface secret, unsealed, for checking a request's signature (the
    interface door). Never log it. Raises InstitutionNotFound, NoInstitutionSecret."""
    row = _institution(uow, code)
    if row.secret_sealed is None:
        raise NoInstitutionSecret(code=code)
    return uow.get(KeyStore).unseal(row.secret_sealed, context=SECRET_CONTEXT.format(code=code)).decode()


# Unsealed secrets of this process, keyed by (key store, code, sealed value): a rotation
# writes a new sealed value, so the next message misses and unseals the new one at once; the
# caller reads the sealed value (and `active`) from the database on every message.
_UNSEALED: dict[tuple[object, str, str], str] = {}
_UNSEALED_MAX = 1024


def signing_secret(*, uow: UnitOfWork, row: Institution) -> str:
    """The secret of an institution row the interface door has just read (one select per
    message, which also reads `active` and the sealed value): unsealed, for checking the
    message's signature. Unsealing is cached per process by the sealed value, so a rotated
    secret is honoured at once. Raises InstitutionInactive, NoInstitutionSecret. Never log it."""
    code = row.code
    if not row.active:
        raise InstitutionInactive(code=code)
    if row.secret_sealed is None:
        raise NoInstitutionSecret(code=code)
    keys = uow.get(KeyStore)
    cache_key = (keys, code, row.secret_sealed)
    secret = _UNSEALED.get(cache_key)
    if secret is None:
        secret = keys.unseal(row.secret_sealed, context=SECRET_CONTEXT.format(code=code)).decode()
        if len(_UNSEALED) >= _UNSEALED_MAX:
            _UNSEALED.clear()
        _UNSEALED[cache_key] = secret
    return secret


def set_institution_active(*, uow: UnitOfWork, actor: Actor, code: str, active: bool,
                           reason: str) -> InstitutionView:
    """Suspend (or restore) an institution's insurance settlement. Commits."""
    _require_office(actor)
    row = _institution(uow, code)
    before = _institution_image(_view_institution(row))
    row.active = active
    uow.session.flush()
    view = _view_institution(row)
    uow.audit(actor=actor, action="medical.institution_" + ("restored" if active else "suspended"),
              entity_type="medical_institution", entity_id=code, before=before,
              after=_institution_image(view), reason=reason)
    uow.commit()
    return view


def get_institution(*, uow: UnitOfWork, code: str) -> InstitutionView:
    """One institution; raises InstitutionNotFound."""
    return _view_institution(_institution(uow, code))


def list_institutions(*, uow: UnitOfWork, kind: str | None = None,
                      admdvs: str | None = None) -> list[InstitutionView]:
    """The designated institutions, by code; of one kind or in one district if asked."""
    query = select(Institution).order_by(Institution.code)
    if kind is not None:
        query = query.where(Institution.kind == kind)
    if admdvs is not None:
        query = query.where(Institution.admdvs == admdvs)
    return [_view_institution(row) for row in uow.session.execute(query).scalars()]


def load_reference_data(*, uow: UnitOfWork, actor: Actor) -> LoadSummary:
    """Insert or refresh the packaged institutions (config/institutions-changzhou.toml); a
    second run changes nothing, and a load never touches a secret or a suspension.
    Commits when something changed (platform_setup.REFERENCE_LOADERS)."""
    inserted = updated = 0
    for entry in packaged_institutions():
        values = {key: entry[key] for key in ("name", "name_en", "kind", "level", "admdvs")}
        row = uow.session.get(Institution, entry["code"])
        if row is None:
            uow.session.add(Institution(code=entry["code"], **values, active=True,
                                        created_at=uow.now()))
            open_fund_accounts(uow, fixmedins_code=entry["code"])
            inserted += 1
        elif any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            updated += 1
    summary = LoadSummary(inserted, updated)
    if summary.changed:
        uow.session.flush()
        uow.audit(actor=actor, action="medical.load_reference_data", entity_type="reference_data",
                  entity_id="medical", after={"inserted": inserted, "updated": updated})
        uow.commit()
    return summary


def packaged_institutions() -> list[dict]:
    """The reference institutions as shipped (validated: code, level, kind and region)."""
    import tomllib
    from importlib import resources

    text = resources.files("yikatong.medical").joinpath(
        "config", "institutions-changzhou.toml").read_text("utf-8")
    entries = tomllib.loads(text)["institutions"]
    for entry in entries:
        kind = _check_institution(entry["code"], entry["name"], entry["name_en"], entry["level"],
                                  entry["admdvs"])
        if kind != entry["kind"]:
            raise InvalidInstitution(reason_zh=f"{entry['code']} 的类别不符",
                                     reason_en=f"{entry['code']}: kind does not match its code")
    return entries


# ---------------------------------------------------------------------------------------
# The catalogue (1901)


def catalogue_in_force(*, day: date) -> Catalogue:
    """The catalogue version in force on `day` (an example default; see the TOML)."""
    return default_catalogue_book().in_force(day)


def catalogue_item(*, code: str, day: date) -> tuple[Catalogue, CatalogueItem]:
    """The catalogue in force on `day` and its item `code`; UnknownCatalogueCode if absent."""
    catalogue = catalogue_in_force(day=day)
    item = catalogue.get(code)
    if item is None:
        raise UnknownCatalogueCode(item_code=str(code)[:50], version=catalogue.version)
    return catalogue, item


def download_catalogue(*, day: date, kind: str | None = None) -> tuple[str, list[CatalogueItem]]:
    """(version, items by code) in force on `day`, of one kind (drug, service, material) if
    asked: what an institution downloads (1901)."""
    catalogue = catalogue_in_force(day=day)
    items = sorted(catalogue.items.values(), key=lambda item: item.code)
    return catalogue.version, [i for i in items if kind is None or i.kind == kind]


# ---------------------------------------------------------------------------------------
# Finding the insured person (1101, 2001)


def identify(*, uow: UnitOfWork, cert_type: str, cert_no: str, day: date) -> InsuredView:
    """The insured person behind a credential, enrolled on `day` (1101 + 2001).

    01 e-voucher: an e-card QR code, verified by the ecard domain (genuine, within its 60 s,
    the e-card usable now: one awaiting re-authorisation is refused). 02: the ID number.
    03: the social security card number; the card's HR function must be usable — a card under
    loss, frozen, retired or not yet in use refuses *this credential* (CredentialRefused with
    the reason) while the person may use 01 or 02. The card's 10-year financial limit is never
    looked at. Raises UnknownCertType, InsuredNotFound, CredentialRefused, NotEnrolled (2001).
    """
    person_id, enrolment, card_no = check_insured(uow=uow, cert_type=cert_type, cert_no=cert_no,
                                                  day=day)
    person = _person(uow, person_id)
    return InsuredView(
        person_id=person_id, psn_no=enrolment.psn_no, name=person.name, gender=person.gender,
        birth_date=person.birth_date, certno=person.ssn, cert_type=cert_type, card_no=card_no,
        day=day, enrolment=enrolment, account_balance=account_balance(uow=uow, person_id=person_id))


def check_insured(*, uow: UnitOfWork, cert_type: str, cert_no: str,
                  day: date) -> tuple[int, EnrolmentView, str | None]:
    """`identify` without the person's details (the visit's steps need only these):
    (person id, the enrolment in force on `day`, the card number for cert type 03). The same
    refusals."""
    if cert_type == "02":  # the ID number: the person and the enrolment in one select
        person_id, enrolment = _insured_by_ssn(uow, cert_no, day)
        card_no = None
    else:
        person_id, card_no = _person_by_credential(uow, cert_type, cert_no)
        enrolment = enrolment_on(uow=uow, person_id=person_id, day=day)
    if enrolment is None:
        raise NotEnrolled(day=day.isoformat())
    return person_id, enrolment, card_no


_INSURED_BY_SSN = None  # _insured_by_ssn's select, with bind parameters
_NOTED_INSURED = "medical.service.insured"  # session.info: (transaction, params, row): note_insured


def insured_by_ssn_select() -> Any:
    """`_insured_by_ssn`'s select (bind `insured_by_ssn_params`): one row of the person whose
    ssn it is (`of_person`), the enrolment in force that day (its columns None when none is)
    and the psn_no; no row for no such person."""
    return _insured_by_ssn_built()[0]


def _insured_by_ssn_built() -> tuple[Any, RawStatement]:
    """(`insured_by_ssn_select`, the same as a RawStatement), built once (building a select
    costs more than running it)."""
    global _INSURED_BY_SSN
    if _INSURED_BY_SSN is None:
        from sqlalchemy import and_, or_

        from yikatong.people.models import Person

        # the table's columns, not the entities: a Core select (no ORM objects made) of the
        # enrolment's columns its view shows; short aliases, as the interface door's first
        # statement holds it (psycopg caches a query's conversion only up to 4096 bytes of SQL)
        person_table, enrolment_table, insured_table = (
            Person.__table__.alias("p"), Enrolment.__table__.alias("e"), InsuredPerson.__table__.alias("i"))
        people, rows, insured = person_table.c, enrolment_table.c, insured_table.c
        day_ = bindparam("day", type_=rows.start_date.type)
        in_force = and_(rows.person_id == people.id, rows.start_date <= day_,
                        or_(rows.end_date.is_(None), rows.end_date >= day_))
        query = (select(people.id.label("of_person"), *(rows[name] for name in _ENROLMENT_SHOWN),
                        insured.psn_no).select_from(person_table)
                 .outerjoin(enrolment_table, in_force)
                 .outerjoin(insured_table, insured.person_id == people.id)
                 .where(people.ssn == bindparam("ssn", type_=people.ssn.type))
                 .order_by(rows.start_date.desc()).limit(1))
        # on the connection's own cursor (db.statement: no SQLAlchemy execution path per message)
        _INSURED_BY_SSN = (query, RawStatement(query, "InsuredBySsn"))
    return _INSURED_BY_SSN


def insured_by_ssn_params(cert_no: Any, day: date) -> dict[str, Any] | None:
    """The parameters `_insured_by_ssn` binds for a cert type 02 `cert_no` on `day` (None for
    one it refuses without a select)."""
    from yikatong.people.service import normalise_ssn

    cert_no = (cert_no or "").strip() if isinstance(cert_no, str) else ""
    return {"ssn": normalise_ssn(cert_no), "day": day} if cert_no else None


def note_insured(uow: UnitOfWork, params: dict[str, Any], row: Any) -> None:
    """The interface door read `insured_by_ssn_select` with `params` in this unit of work's
    transaction (its first statement, with the credential and the institution): `row`, or
    None for no row. The message's identification by ID number (`check_insured`, cert type
    02) with exactly these parameters takes it instead of selecting again, once. The
    enrolment is not locked by any step of a visit (an office's change of it takes no lock a
    message takes), so read a moment earlier in the same transaction it is what a message
    arriving that moment earlier would read."""
    uow.session.info[_NOTED_INSURED] = (uow.session.get_transaction(), params, row)


def _insured_by_ssn(uow: UnitOfWork, cert_no: str, day: date) -> tuple[int, EnrolmentView | None]:
    """`_person_by_credential` for cert type 02 (people.service's matching: the normalised
    ssn) and `enrolment_on` for that person, in one select: (person id, the enrolment in
    force on `day` or None). InsuredNotFound as there. The row the door read ahead with these
    parameters in this transaction (`note_insured`), if it did."""
    params = insured_by_ssn_params(cert_no, day)
    if params is None:
        raise InsuredNotFound(cert_type_zh=CERT_TYPES["02"][0], cert_type_en=CERT_TYPES["02"][1])
    noted = uow.session.info.pop(_NOTED_INSURED, None)
    if noted is not None and noted[0] is uow.session.get_transaction() and noted[1] == params:
        found = noted[2]
    else:
        found = _insured_by_ssn_built()[1].first(uow.connection(), params)
    if found is None:
        raise InsuredNotFound(cert_type_zh=CERT_TYPES["02"][0], cert_type_en=CERT_TYPES["02"][1])
    return found.of_person, None if found.id is None else _view_enrolment(found, found.psn_no or "")


# the enrolment's columns `_view_enrolment` reads
_ENROLMENT_SHOWN = ("id", "person_id", "scheme", "insured_admdvs", "retired", "assistance",
                    "employer_uscc", "employer_name", "start_date", "end_date")


def today(uow: UnitOfWork) -> date:
    """The business day in Changzhou now (the clock of the unit of work)."""
    return local_date(uow.now())


def _person_by_credential(uow: UnitOfWork, cert_type: str, cert_no: str) -> tuple[int, str | None]:
    if cert_type not in CERT_TYPES:
        raise UnknownCertType(cert_type=str(cert_type)[:4])
    names = dict(cert_type_zh=CERT_TYPES[cert_type][0], cert_type_en=CERT_TYPES[cert_type][1])
    cert_no = (cert_no or "").strip()
    if not cert_no:
        raise InsuredNotFound(**names)
    if cert_type == "01":
        return _person_by_ecard_token(uow, cert_no), None
    if cert_type == "02":
        from yikatong.people.service import find_person_basics_by_ssn

        person = find_person_basics_by_ssn(uow=uow, ssn=cert_no)
        if person is None:
            raise InsuredNotFound(**names)
        return person.id, None
    from yikatong.cards.errors import CardNotFound, InvalidCardNo
    from yikatong.cards.service import read_card

    try:
        card = read_card(uow=uow, card_no=cert_no.upper())
    except (CardNotFound, InvalidCardNo):
        raise InsuredNotFound(**names) from None
    if card.hr_status != "normal":
        reason, zh, en = CARD_REFUSALS.get(card.hr_status, ("card_unusable", "社会保障卡不可用",
                                                            "the card cannot be used"))
        raise CredentialRefused(reason=reason, reason_zh=zh, reason_en=en, cert_type="03")
    return card.person_id, card.card_no


def _person_by_ecard_token(uow: UnitOfWork, token: str) -> int:
    from yikatong.ecard.models import Ecard
    from yikatong.ecard.service import verifiers, verify_token
    from yikatong.ecard.tokens import TokenRejected, read_genuine

    keys = uow.get(KeyStore)
    verdict = verify_token(uow=uow, token=token, keys=keys)
    if not verdict.valid:
        raise CredentialRefused(reason=f"ecard_{verdict.reason}", reason_zh=verdict.reason_zh,
                                reason_en=verdict.reason_en, cert_type="01")
    try:
        claims = read_genuine(token, verifiers(keys))
    except TokenRejected as error:  # a key revoked between the two reads
        raise CredentialRefused(reason="ecard_invalid", reason_zh=error.message_zh,
                                reason_en=error.message_en, cert_type="01") from None
    person_id = uow.session.execute(
        select(Ecard.person_id).where(Ecard.ecard_no == f"{claims.ecard_no:016d}",
                                      Ecard.status_index == claims.status_index)).scalar_one()
    return person_id


# ---------------------------------------------------------------------------------------
# Yearly totals (5206)


def year_totals(*, uow: UnitOfWork, person_id: int, year: int) -> RulesYearTotals:
    """The person's running totals for the calendar year (zeros when nothing was settled)."""
    row = uow.session.execute(
        select(models.YearTotals).where(models.YearTotals.person_id == person_id,
                                        models.YearTotals.year == year)).scalar_one_or_none()
    return totals_of(row)


_YEAR_TOTALS_AND_BALANCE = None  # year_totals_and_balance's select, with bind parameters


def year_totals_and_balance(*, uow: UnitOfWork, person_id: int, year: int) -> tuple[RulesYearTotals, Fen]:
    """`year_totals` and `account_balance` (not locked: a preview's read) in one select when
    the person has a totals row for the year; without one, the balance is read on its own, as
    before. The balance is the ledger account's stored balance, as `ledger.balance` reads it."""
    global _YEAR_TOTALS_AND_BALANCE
    from yikatong.ledger.models import LedgerAccount

    if _YEAR_TOTALS_AND_BALANCE is None:  # built once: building a select costs more than running it
        accounts = LedgerAccount.__table__.c
        balance = select(accounts.balance).where(accounts.code == bindparam("code")).scalar_subquery()
        # the totals' columns, not the entity: no ORM object made, fewer columns described; on
        # the connection's own cursor (db.statement)
        _YEAR_TOTALS_AND_BALANCE = RawStatement(select(*_TOTALS_COLUMNS, balance.label("balance")).where(
            _YEARS.c.person_id == bindparam("person_id"), _YEARS.c.year == bindparam("year")), "TotalsAndBalance")
    session = uow.session
    if session.new or session.dirty or session.deleted:  # written first, as the session's select would
        session.flush()
    found = _YEAR_TOTALS_AND_BALANCE.first(uow.connection(), {
        "code": account_code(person_id), "person_id": person_id, "year": year})
    if found is None:
        return totals_of(None), account_balance(uow=uow, person_id=person_id)
    return totals_of(found), found.balance if found.balance is not None else 0


def totals_of(row: Any) -> RulesYearTotals:
    """A stored row (the entity or a selected row with its totals' columns) as the rules'
    YearTotals (every field of it, by name)."""
    from yikatong.medical.rules import YEAR_TOTALS_FIELDS
    from yikatong.medical.rules import YearTotals as RulesYearTotals

    if row is None:
        return RulesYearTotals()
    return RulesYearTotals(**{name: getattr(row, name) for name in YEAR_TOTALS_FIELDS})


_YEAR_TOTALS_LOCKED = None  # lock_year_totals' select, with bind parameters


def lock_year_totals(*, uow: UnitOfWork, person_id: int, year: int) -> models.YearTotals:
    """The person's totals row for the year, locked for this transaction (made when missing,
    by an INSERT … ON CONFLICT DO NOTHING, so a concurrent maker does not abort the transaction). Settlements of one
    person queue here, so the personal account balance read after it is current too."""
    global _YEAR_TOTALS_LOCKED
    if _YEAR_TOTALS_LOCKED is None:  # built once: building a select costs more than running it
        _YEAR_TOTALS_LOCKED = (
            select(models.YearTotals)
            .where(models.YearTotals.person_id == bindparam("person_id"),
                   models.YearTotals.year == bindparam("year"))
            .with_for_update().execution_options(populate_existing=True))
    return _locked_or_made(uow, _YEAR_TOTALS_LOCKED, person_id, year, entity=True)


_YEAR_TOTALS_VALUES_LOCKED = None  # lock_year_totals_values' select, with bind parameters


def lock_year_totals_values(*, uow: UnitOfWork, person_id: int, year: int) -> Any:
    """`lock_year_totals` for the settle's hot path: the row's id, version and totals as a
    selected row (columns, not the entity: no ORM object, fewer columns described), locked for
    this transaction the same way (made when missing). For `store_totals`."""
    global _YEAR_TOTALS_VALUES_LOCKED
    if _YEAR_TOTALS_VALUES_LOCKED is None:  # built once: building a select costs more than running it
        _YEAR_TOTALS_VALUES_LOCKED = RawStatement(  # on the connection's own cursor (db.statement)
            select(_YEARS.c.id, _YEARS.c.version, *_TOTALS_COLUMNS)
            .where(_YEARS.c.person_id == bindparam("person_id"), _YEARS.c.year == bindparam("year"))
            .with_for_update(), "LockedYearTotals")
    return _locked_or_made(uow, _YEAR_TOTALS_VALUES_LOCKED, person_id, year, entity=False)


def _locked_or_made(uow: UnitOfWork, query, person_id: int, year: int, *, entity: bool) -> Any:
    """The year row `query` locks (the entity, or the selected row of a db.statement RawStatement), made
    first when missing."""
    params = {"person_id": person_id, "year": year}

    def locked() -> Any:
        if entity:
            return uow.session.execute(query, params).scalar_one_or_none()
        return query.first(uow.connection(), params)

    row = locked()
    if row is not None:
        return row
    made = _make_year_totals(uow, person_id, year, returning=not entity)
    if made is not None:  # our new row (uncommitted: no other transaction can lock it), as selected
        return made
    row = locked()
    if row is None:  # made by another (ON CONFLICT): it is there once its maker committed
        from sqlalchemy.exc import NoResultFound

        raise NoResultFound("the year totals row made by another transaction was not found")
    return row


def _make_year_totals(uow: UnitOfWork, person_id: int, year: int, *, returning: bool = False) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: one statement, no savepoint; a concurrent maker's row
    (the insert waits for its transaction) is then read and locked like ours. `returning`:
    the row made, as `lock_year_totals_values` selects it (None when another's was there)."""
    insert_row = (_INSERT_FOR[uow.session.get_bind().dialect.name](_YEARS)
                  .values(person_id=person_id, year=year, updated_at=uow.now(), version=1,
                          **{name: 0 for name in TOTALS_COLUMNS})
                  .on_conflict_do_nothing(index_elements=["person_id", "year"]))
    if not returning:
        uow.session.execute(insert_row)
        return None
    return uow.session.execute(insert_row.returning(_YEARS.c.id, _YEARS.c.version, *_TOTALS_COLUMNS)).one_or_none()


_INSERT_FOR = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


TOTALS_COLUMNS = ("outpatient_deductible", "outpatient_fund", "inpatient_admissions",
                  "inpatient_fund", "serious_base", "serious_paid", "subsidy_paid",
                  "assistance_paid", "medfee_total")
_YEARS = YEARS_TABLE = models.YearTotals.__table__
_TOTALS_COLUMNS = tuple(_YEARS.c[name] for name in TOTALS_COLUMNS)


def apply_totals(row: models.YearTotals, totals: RulesYearTotals, at: datetime) -> None:
    """Store `totals` (the rules' YearTotals) in the row."""
    import dataclasses

    for f in dataclasses.fields(totals):
        setattr(row, f.name, getattr(totals, f.name))
    row.updated_at = at


_STORE_TOTALS = RawStatement(  # on the connection's own cursor (db.statement)
    update(_YEARS).where(_YEARS.c.id == bindparam("row_id"), _YEARS.c.version == bindparam("old_version"))
    .values(updated_at=bindparam("new_updated_at"), version=bindparam("new_version"),
            **{name: bindparam(f"new_{name}") for name in TOTALS_COLUMNS}), "StoreTotals")


def store_totals(uow: UnitOfWork, row: Any, totals: RulesYearTotals, at: datetime) -> None:
    """`apply_totals` written at once by one Core UPDATE checked by the row's version (for a row
    locked in this transaction, `lock_year_totals` or `lock_year_totals_values`), not by an ORM
    flush later: the settle's hot path. An entity in the session takes the values as stored.
    ConcurrentChange when the version moved (it cannot under the lock)."""
    from sqlalchemy.orm.attributes import set_committed_value

    from yikatong.core.errors import ConcurrentChange

    values = {name: getattr(totals, name) for name in TOTALS_COLUMNS}
    moved = _STORE_TOTALS.execute(uow.connection(), {
        "row_id": row.id, "old_version": row.version, "new_updated_at": at, "new_version": row.version + 1,
        **{f"new_{name}": value for name, value in values.items()}})
    if moved != 1:
        raise ConcurrentChange()
    if isinstance(row, models.YearTotals):  # a selected row (columns) is not kept by the session
        for name, value in {**values, "updated_at": at, "version": row.version + 1}.items():
            set_committed_value(row, name, value)


# ---------------------------------------------------------------------------------------
# Chronic and special disease filings (2503, 2504)


def file_disease(*, uow: UnitOfWork, actor: Actor, person_id: int, kind: str, disease_code: str,
                 disease_name: str, begin_date: date, end_date: date | None = None) -> FilingView:
    """File a chronic or special outpatient disease for an insured person (2503), by the
    institution that diagnosed it or the medical insurance office. The person must be enrolled
    on `begin_date`. Commits."""
    fixmedins_code = _filer(uow, actor)
    if kind not in FILING_KINDS:
        raise InvalidFiling(reason_zh="类别须为 chronic（慢性病）或 special（特殊病）",
                            reason_en="kind must be chronic or special")
    code, name = (disease_code or "").strip(), (disease_name or "").strip()
    if not re.fullmatch(r"[A-Z0-9.]{1,20}", code) or not 0 < len(name) <= 100:
        raise InvalidFiling(reason_zh="病种编码或名称无效", reason_en="invalid disease code or name")
    if end_date is not None and end_date < begin_date:
        raise InvalidFiling(reason_zh="结束日期早于开始日期", reason_en="the end is before the begin")
    if enrolment_on(uow=uow, person_id=person_id, day=begin_date) is None:
        raise NotEnrolled(day=begin_date.isoformat())
    now = uow.now()
    row = DiseaseFiling(
        filing_no=f"MT{local_date(now):%Y%m%d}{secrets.randbelow(10**12):012d}", person_id=person_id,
        kind=kind, disease_code=code, disease_name=name, fixmedins_code=fixmedins_code,
        begin_date=begin_date, end_date=end_date, filed_by=actor.user_id, filed_at=now)
    uow.session.add(row)
    uow.session.flush()
    view = _view_filing(row)
    uow.audit(actor=actor, action="medical.disease_filed", entity_type="medical_insured",
              entity_id=person_id, after=_filing_image(view))
    uow.commit()
    return view


def revoke_filing(*, uow: UnitOfWork, actor: Actor, filing_no: str) -> FilingView:
    """Revoke a filing (2504): the institution that filed it, or the office. Commits."""
    fixmedins_code = _filer(uow, actor)
    row = uow.session.execute(
        select(DiseaseFiling).where(DiseaseFiling.filing_no == filing_no)).scalar_one_or_none()
    if row is None or (fixmedins_code is not None and row.fixmedins_code != fixmedins_code):
        raise FilingNotFound(filing_no=str(filing_no)[:30])
    if row.revoked_at is not None:
        raise FilingAlreadyRevoked(filing_no=filing_no)
    row.revoked_at, row.revoked_by = uow.now(), actor.user_id
    uow.session.flush()
    view = _view_filing(row)
    uow.audit(actor=actor, action="medical.disease_filing_revoked", entity_type="medical_insured",
              entity_id=row.person_id, after=_filing_image(view))
    uow.commit()
    return view


def filings(*, uow: UnitOfWork, person_id: int, day: date | None = None) -> list[FilingView]:
    """The person's disease filings (5301), only those in force on `day` if given."""
    rows = uow.session.execute(select(DiseaseFiling).where(DiseaseFiling.person_id == person_id)
                               .order_by(DiseaseFiling.id)).scalars()
    views = [_view_filing(row) for row in rows]
    return [v for v in views if day is None or v.in_force(day)]


# ---------------------------------------------------------------------------------------
# Helpers


# What the interface door reads of the institution (a selected row: `note_institution`)
INSTITUTION_COLUMNS = ("code", "name", "kind", "level", "admdvs", "active", "secret_sealed")
_NOTED_INSTITUTION = "medical.service.institution"  # session.info: (transaction, row)


def note_institution(uow: UnitOfWork, row: Any) -> None:
    """The interface door has read the acting institution in this unit of work's transaction
    (a selected row of INSTITUTION_COLUMNS, with its sealed secret and `active`):
    `institution_of` answers it for that transaction instead of selecting the row again."""
    uow.session.info[_NOTED_INSTITUTION] = (uow.session.get_transaction(), row)


def institution_of(uow: UnitOfWork, actor: Actor) -> Any:
    """The institution acting (Role.MEDICAL_INSTITUTION, branch_code = fixmedins_code): the
    Institution, or the row of it the door read in this transaction (`note_institution`; the
    same columns a message's handler reads: code, name, kind, level, admdvs, active)."""
    if actor.role != Role.MEDICAL_INSTITUTION or not actor.branch_code:
        raise NotAnInstitution()
    noted = uow.session.info.get(_NOTED_INSTITUTION)
    if noted is not None and noted[0] is uow.session.get_transaction() and noted[1].code == actor.branch_code:
        return noted[1]
    return _institution(uow, actor.branch_code)


def _require_office(actor: Actor) -> None:
    if actor.role not in OFFICE_ROLES:
        raise NotMedicalOffice()


def _filer(uow: UnitOfWork, actor: Actor) -> str | None:
    """The filing institution's code, or None for the office."""
    if actor.role == Role.MEDICAL_INSTITUTION:
        return institution_of(uow, actor).code
    _require_office(actor)
    return None


def _person(uow: UnitOfWork, person_id: int):
    from yikatong.people.service import person_basics

    return person_basics(uow=uow, person_id=person_id)


def _periods(uow: UnitOfWork, person_id: int, *, lock: bool = False) -> list[Enrolment]:
    query = select(Enrolment).where(Enrolment.person_id == person_id).order_by(Enrolment.start_date)
    if lock:
        query = query.with_for_update()
    return list(uow.session.execute(query).scalars())


def _insured(uow: UnitOfWork, person_id: int, *, create_with: str | None = None) -> InsuredPerson:
    insured = uow.session.get(InsuredPerson, person_id)
    if insured is not None:
        return insured
    if create_with is None:
        raise NotEnrolled(day="-")
    # The national person number: region of first enrolment + the platform's person id
    # (never the ID number, which the number must not reveal).
    insured = InsuredPerson(person_id=person_id, psn_no=f"{create_with[:4]}00{person_id:020d}",
                            account_code=account_code(person_id), created_at=uow.now())
    uow.session.add(insured)
    ledger.open_account(uow=uow, code=insured.account_code, kind="liability")
    return insured


def _check_enrolment(scheme: str, admdvs: str, retired: bool, employer_uscc: str | None,
                     employer_name: str | None) -> None:
    def refuse(zh: str, en: str) -> InvalidEnrolment:
        return InvalidEnrolment(reason_zh=zh, reason_en=en)

    if scheme not in SCHEMES:
        raise refuse("险种须为 310（职工）或 390（城乡居民）", "the scheme must be 310 or 390")
    if not isinstance(admdvs, str) or not ADMDVS.fullmatch(admdvs):
        raise refuse("参保地区划须为 6 位数字", "the insured region must be 6 digits")
    if scheme == "310" and not retired and not employer_uscc:
        raise refuse("在职职工须填写参保单位", "an employee in service names the employer")
    if scheme == "390" and (employer_uscc or retired):
        raise refuse("城乡居民不填写单位或退休状态",
                     "a resident has no employer and no retirement status")
    if employer_uscc is not None and not USCC.fullmatch(employer_uscc):
        raise refuse("单位统一社会信用代码格式不正确", "the employer's USCC is malformed")
    if employer_name is not None and len(employer_name) > 128:
        raise refuse("单位名称过长", "the employer name is too long")


def _check_institution(code: str, name: str, name_en: str, level: str, admdvs: str) -> str:
    def refuse(zh: str, en: str) -> InvalidInstitution:
        return InvalidInstitution(reason_zh=zh, reason_en=en)

    if not isinstance(code, str) or not INSTITUTION_CODE.fullmatch(code):
        raise refuse("机构编码须为 H 或 P 加 11 位数字", "the code must be H or P and 11 digits")
    if level not in LEVELS:
        raise refuse("机构等级须为 community、1、2、3 或 pharmacy",
                     "the level must be community, 1, 2, 3 or pharmacy")
    if not isinstance(admdvs, str) or not ADMDVS.fullmatch(admdvs) or code[1:7] != admdvs:
        raise refuse("机构区划须为 6 位数字且与编码一致",
                     "the region must be 6 digits and match the code")
    if not (name or "").strip() or len(name) > 128 or not (name_en or "").strip() or len(name_en) > 128:
        raise refuse("机构名称无效", "invalid name")
    kind = "pharmacy" if code[0] == "P" else "hospital"
    if (kind == "pharmacy") != (level == "pharmacy"):
        raise refuse("药店编码以 P 开头且等级为 pharmacy",
                     "a pharmacy's code starts with P and its level is pharmacy")
    return kind


def _institution(uow: UnitOfWork, code: str) -> Institution:
    row = uow.session.get(Institution, code) if isinstance(code, str) else None
    if row is None:
        raise InstitutionNotFound(code=str(code)[:12])
    return row


def _issue_secret(uow: UnitOfWork, row: Institution) -> str:
    secret = secrets.token_hex(32)
    row.secret_sealed = uow.get(KeyStore).seal(secret.encode(), context=SECRET_CONTEXT.format(code=row.code))
    row.secret_issued_at = uow.now()
    return secret


def _view_enrolment(row: Any, psn_no: str) -> EnrolmentView:
    """The view of an enrolment (the entity or a selected row of its `_ENROLMENT_SHOWN`)."""
    zh, en = SCHEMES[row.scheme]
    return EnrolmentView(
        id=row.id, person_id=row.person_id, psn_no=psn_no, scheme=row.scheme, scheme_zh=zh,
        scheme_en=en, insured_admdvs=row.insured_admdvs, retired=row.retired,
        assistance=row.assistance, employer_uscc=row.employer_uscc, employer_name=row.employer_name,
        start_date=row.start_date, end_date=row.end_date)


def _enrolment_image(view: EnrolmentView) -> dict:
    return {"scheme": view.scheme, "insured_admdvs": view.insured_admdvs, "retired": view.retired,
            "assistance": view.assistance, "employer_uscc": view.employer_uscc,
            "start_date": view.start_date.isoformat(),
            "end_date": view.end_date.isoformat() if view.end_date else None}


def _view_institution(row: Institution) -> InstitutionView:
    zh, en = LEVELS[row.level]
    return InstitutionView(code=row.code, name=row.name, name_en=row.name_en, kind=row.kind,
                           level=row.level, level_zh=zh, level_en=en, admdvs=row.admdvs,
                           active=row.active, has_secret=row.secret_sealed is not None,
                           secret_issued_at=row.secret_issued_at)


def _institution_image(view: InstitutionView) -> dict:
    return {"name": view.name, "kind": view.kind, "level": view.level, "admdvs": view.admdvs,
            "active": view.active}


def _view_filing(row: DiseaseFiling) -> FilingView:
    return FilingView(filing_no=row.filing_no, person_id=row.person_id, kind=row.kind,
                      disease_code=row.disease_code, disease_name=row.disease_name,
                      fixmedins_code=row.fixmedins_code, begin_date=row.begin_date,
                      end_date=row.end_date, filed_at=row.filed_at, revoked_at=row.revoked_at)


def _filing_image(view: FilingView) -> dict:
    return {"filing_no": view.filing_no, "kind": view.kind, "disease_code": view.disease_code,
            "fixmedins_code": view.fixmedins_code, "begin_date": view.begin_date.isoformat(),
            "end_date": view.end_date.isoformat() if view.end_date else None,
            "revoked": view.revoked_at is not None}


# ---------------------------------------------------------------------------------------
# Reads for the pages and the CLI (medical/web.py, medical/cli.py): an institution's day and
# the fund's day. Nothing here computes a settlement: every figure is the stored setlinfo of
# the visit's own settlement (visits.settlements is the list of settlements).

ACCOUNT_CREDIT_KIND = "medical_account_credit"  # the ledger journal kind of credit_account


@dataclass(frozen=True)
class DayTotals:
    """Sums of a day's settlements: counts by state, and the money of those still settled."""

    settled: int = 0
    cancelled: int = 0
    medfee: Fen = 0    # medfee_sumamt
    fund: Fen = 0      # fund_pay_sumamt
    account: Fen = 0   # acct_pay
    cash: Fen = 0      # psn_cash_pay

    def __add__(self, other: DayTotals) -> DayTotals:
        return DayTotals(self.settled + other.settled, self.cancelled + other.cancelled,
                         self.medfee + other.medfee, self.fund + other.fund,
                         self.account + other.account, self.cash + other.cash)

    @classmethod
    def of(cls, rows) -> DayTotals:
        """The sum of rows that each carry `totals` (FundDayRow)."""
        total = cls()
        for row in rows:
            total = total + row.totals
        return total

    @classmethod
    def of_settlements(cls, settlements) -> DayTotals:
        """The sums of settlement views (visits.SettlementView: setlinfo by field name)."""
        total = cls()
        for s in settlements:
            if s.state == "settled":
                info = s.setlinfo
                total = total + cls(1, 0, info["medfee_sumamt"], info["fund_pay_sumamt"],
                                    info["acct_pay"], info["psn_cash_pay"])
            else:
                total = total + cls(cancelled=1)
        return total


@dataclass(frozen=True)
class InstitutionDay:
    institution: InstitutionView
    day: date
    visits: list            # visits.VisitView begun that day, newest first
    settlements: list       # visits.SettlementView settled that day, newest first
    totals: DayTotals
    names: dict[int, str]   # person_id → name, masked (a list view)


@dataclass(frozen=True)
class FundDayRow:
    institution: InstitutionView
    totals: DayTotals


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants of the Changzhou day's start and of the next day's start."""
    from datetime import UTC, time

    from yikatong.core.clock import CST

    start = datetime.combine(day, time(0), tzinfo=CST).astimezone(UTC)
    return start, start + timedelta(days=1)


def institution_day(*, uow: UnitOfWork, actor: Actor, fixmedins_code: str | None = None,
                    day: date) -> InstitutionDay:
    """An institution's day: the visits begun and the settlements made that day (as
    visits.settlements lets `actor` see them: an institution its own only; the office names
    `fixmedins_code`), and their sums."""
    from yikatong.core.masking import mask_name
    from yikatong.medical import visits as visit_service
    from yikatong.people.models import Person

    code = institution_of(uow, actor).code if actor.role == Role.MEDICAL_INSTITUTION else fixmedins_code
    institution = get_institution(uow=uow, code=code or "")
    low, high = _day_bounds(day)
    rows = uow.session.execute(
        select(models.Visit).where(models.Visit.fixmedins_code == institution.code,
                                   models.Visit.begin_at >= low, models.Visit.begin_at < high)
        .order_by(models.Visit.begin_at.desc(), models.Visit.id.desc())).scalars()
    begun = [visit_service.get_visit(uow=uow, actor=actor, mdtrt_id=row.mdtrt_id) for row in rows]
    settled = list(reversed(visit_service.settlements(uow=uow, actor=actor, fixmedins_code=institution.code,
                                                      day=day)))
    people = {v.person_id for v in begun} | {s.person_id for s in settled}
    names = {}
    if people:
        names = {pid: mask_name(name) for pid, name in uow.session.execute(
            select(Person.id, Person.name).where(Person.id.in_(people)))}
    return InstitutionDay(institution, day, begun, settled, DayTotals.of_settlements(settled), names)


def fund_day(*, uow: UnitOfWork, day: date) -> list[FundDayRow]:
    """The fund's day: each institution with settlements made that day, and their sums. Only our
    own insured people: a visitor insured elsewhere is paid by their region (interregion), and
    counting it here would overstate what our fund paid."""
    from sqlalchemy import func

    from yikatong.medical.visits import VISITOR

    low, high = _day_bounds(day)
    s = models.Settlement
    rows = uow.session.execute(
        select(s.fixmedins_code, s.state, func.count(s.id), func.sum(s.medfee_sumamt),
               func.sum(s.fund_pay_sumamt), func.sum(s.acct_pay), func.sum(s.psn_cash_pay))
        .where(s.settled_at >= low, s.settled_at < high, s.person_id != VISITOR)
        .group_by(s.fixmedins_code, s.state).order_by(s.fixmedins_code)).all()
    by_code: dict[str, DayTotals] = {}
    for code, state, count, medfee, fund, account, cash in rows:
        totals = (DayTotals(count, 0, int(medfee or 0), int(fund or 0), int(account or 0), int(cash or 0))
                  if state == "settled" else DayTotals(cancelled=count))
        by_code[code] = by_code.get(code, DayTotals()) + totals
    if not by_code:
        return []
    institutions = {row.code: _view_institution(row) for row in uow.session.execute(
        select(Institution).where(Institution.code.in_(by_code))).scalars()}
    return [FundDayRow(institutions[code], totals) for code, totals in by_code.items()
            if code in institutions]
