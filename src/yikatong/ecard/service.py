"""Use cases of the electronic social security card (电子社保卡).

The e-card's status is never stored: every read derives it from the physical card through
`cards.service` (状态相同). What is stored is the e-card itself (number, status-list index),
the holder's consent per channel, the e-card password, the QR codes already used and the
signed status lists for offline terminals.

Transactions: the holder's and the terminals' use cases (consent, re-authorisation,
passwords, QR codes, redemption) commit their own unit of work, once, with one audit record
per change; a wrong password is committed too (the retry counter) before the error is
raised. `sync_person` works inside the caller's unit of work (the event handler and the jobs
commit it together with their inbox row or cursor). Nothing here emits outbox events:
`sync_person` runs inside the in-process dispatcher, which must not be re-entered.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, insert, null, select, union_all
from sqlalchemy.exc import IntegrityError

from yikatong.audit.models import AuditCheckpointHead, AuditRecord, AuditRecordKey
from yikatong.audit.rules import record_hash
from yikatong.core.actor import Actor, Role
from yikatong.core.choices import echo
from yikatong.core.clock import as_utc
from yikatong.core.errors import ConcurrentChange, Forbidden, InvalidInput
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm2 import Sm2Signer, Sm2Verifier
from yikatong.db.exclusive import serialised
from yikatong.db.raw import OneTrip, RawSelect, Stacked
from yikatong.db.statement import RawStatement
from yikatong.db.uow import _AUDIT_COLUMNS, UnitOfWork, audit_fields, is_audit_collision
from yikatong.ecard import rules, status_list
from yikatong.ecard.errors import (
    ConsentNotGiven,
    EcardNotFound,
    EcardPasswordAlreadySet,
    EcardPasswordLocked,
    EcardPasswordNotSet,
    EcardPasswordRequired,
    EcardRefused,
    IdentityCheckFailed,
    NotLost,
    UnknownEcardChannel,
    WrongEcardPassword,
)
from yikatong.ecard.models import Ecard, EcardConsent, EcardStatusList, EcardTokenUse
from yikatong.ecard.rules import (
    CardFacts,
    ConsentFacts,
    EcardChannel,
    EcardState,
    EcardStatus,
    ListedState,
)
from yikatong.ecard.tokens import (
    VALIDITY,
    TokenClaims,
    TokenRejected,
    check_window,
    issue_token,
    read_genuine,
    rejected,
)
from yikatong.people.models import Person

KEY_PURPOSE = "ecard_signing"
ISSUER = "did:web:yikatong.example"
LIST_URL = "https://yikatong.example/api/v1/ecard/status/{purpose}"
REFRESH_AFTER = timedelta(seconds=50)  # the holder's app shows a new code before expiry
SYNC_ACTOR = Actor.system("ecard.sync")

_hasher = PasswordHasher()


# ---------------------------------------------------------------------------------------
# Views handed to callers (never ORM rows, never the password hash)


@dataclass(frozen=True)
class ChannelView:
    code: str
    name_zh: str
    name_en: str
    consented: bool
    granted_at: datetime | None
    withdrawn_at: datetime | None
    reauthorised_at: datetime | None
    usable: bool
    refusal: str | None
    refusal_zh: str | None
    refusal_en: str | None


@dataclass(frozen=True)
class EcardView:
    ecard_no: str
    person_id: int
    status_index: int
    card_no: str | None
    state: str
    state_zh: str
    state_en: str
    card_status: str
    card_status_zh: str
    card_status_en: str
    reason: str
    reason_zh: str
    reason_en: str
    loss_started_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    password_set: bool
    password_locked_until: datetime | None
    channels: tuple[ChannelView, ...]
    usable: bool  # on at least one channel now
    next_step_zh: str  # what the holder can do next, in words ("" when nothing is needed)
    next_step_en: str

    @property
    def usable_channels(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.channels if c.usable)


@dataclass(frozen=True)
class IssuedQr:
    token: str
    ecard_no: str
    channel: str
    issued_at: datetime
    expires_at: datetime
    refresh_at: datetime


@dataclass(frozen=True)
class Verification:
    """What a verifier may learn about a shown code: masked data only."""

    genuine: bool
    valid: bool
    reason: str
    reason_zh: str
    reason_en: str
    ecard_no_masked: str | None = None
    name_masked: str | None = None
    ssn_masked: str | None = None
    state: str | None = None
    card_status: str | None = None
    card_status_zh: str | None = None
    card_status_en: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    used: bool = False


# ---------------------------------------------------------------------------------------
# Reading


def channels(*, uow: UnitOfWork) -> tuple[EcardChannel, ...]:
    """The channels an e-card is issued to (四.15), bank apps from the directory."""
    from yikatong.directory.service import list_banks

    return rules.channel_catalogue(list_banks(uow=uow))


def get_ecard(*, uow: UnitOfWork, person_id: int) -> EcardView:
    """The person's e-card (the live one, else the newest revoked one), its status derived
    now from the physical card. Raises EcardNotFound."""
    return _view(uow, _ecard_of(uow, person_id))


def find_ecard(*, uow: UnitOfWork, ssn: str | None = None, card_no: str | None = None,
               ecard_no: str | None = None) -> EcardView:
    """Look an e-card up by the holder's ssn, a card number (current or earlier) or its own
    number. Raises EcardNotFound."""
    from yikatong.cards.errors import CardNotFound, InvalidCardNo
    from yikatong.cards.service import get_card
    from yikatong.people.rules import mask_ssn
    from yikatong.people.service import find_person_by_ssn

    if ecard_no:
        ecard = uow.session.execute(select(Ecard).where(Ecard.ecard_no == ecard_no)).scalar()
        if ecard is None:
            raise EcardNotFound(what=f"e-card {rules.mask_ecard_no(ecard_no)}")
        return _view(uow, ecard)
    if ssn:
        person = find_person_by_ssn(uow=uow, ssn=ssn)
        if person is None:
            raise EcardNotFound(what=mask_ssn(ssn))
        return get_ecard(uow=uow, person_id=person.id)
    if card_no:
        try:
            return get_ecard(uow=uow, person_id=get_card(uow=uow, card_no=card_no).person_id)
        except (CardNotFound, InvalidCardNo):
            raise EcardNotFound(what=f"card {card_no}") from None
    raise InvalidInput(reason_zh="请给出社会保障号码、卡号或电子社保卡号",
                       reason_en="give an ssn, a card number or an e-card number")


# ---------------------------------------------------------------------------------------
# Following the physical card (event handler, catch-up and reconciliation jobs)


def sync_person(*, uow: UnitOfWork, person_id: int, keys: KeyStore | None,
                application_id: int | None = None, publish: bool = True) -> bool:
    """Bring the person's e-card in line with their physical card, in the caller's unit of
    work: create it when a card is applied for or exists (同步申领), re-bind it to the card in
    use (replacement, exchange), revoke it when the card is cancelled for good (death,
    transfer out), and republish the status lists when what terminals must know changed
    (unless `publish` is False: a batch caller then publishes once at the end).
    Returns whether anything changed (nothing for a person with neither a card nor an open
    application and no e-card)."""
    ecard = _live_ecard(uow, person_id)
    status = _derive(uow, person_id=person_id, ecard=ecard)
    created = ecard is None
    if created:
        if status.state == EcardState.REVOKED:
            return False  # nothing to issue: no card and no open application
        ecard = _create(uow, person_id=person_id, application_id=application_id)
    before = _mirror(ecard)
    if status.card_no is not None:
        ecard.card_no = status.card_no
    if status.state == EcardState.REVOKED and ecard.revoked_at is None:
        ecard.revoked_at = uow.now()
        ecard.revoke_reason = status.reason
        ecard.live_person_id = None
    ecard.listed_state = str(rules.listed_state(status, _consent_facts(ecard)))
    after = _mirror(ecard)
    if not created and after == before:
        return False
    _flush(uow)
    _audit_now(uow, actor=SYNC_ACTOR, action=_sync_action(created, before, after),
               entity_type="ecard", entity_id=ecard.ecard_no,
               before=None if created else before, after=after)
    if publish and (after["listed_state"] != before["listed_state"]
                    or created and ecard.listed_state != ListedState.CLEAR):
        publish_status_lists(uow=uow, keys=keys)
    return True


def _audit_now(uow: UnitOfWork, **record) -> None:
    """`uow.audit(**record)` inserted at once by a plain statement (`insert_now`: on PostgreSQL
    the record and its key in one round trip, no ORM flush); a collision on the chain's key
    is the ConcurrentChange `UnitOfWork.commit` would have raised at the flush."""
    try:
        uow.audit(**record, insert_now=True)
    except IntegrityError as error:
        uow.session.rollback()
        if is_audit_collision(error):
            raise ConcurrentChange() from error
        raise


def _sync_action(created: bool, before: dict, after: dict) -> str:
    if created:
        return "ecard.created"
    if after["revoke_reason"] and not before["revoke_reason"]:
        return "ecard.revoked"
    if after["card_no"] != before["card_no"]:
        return "ecard.rebound"
    return "ecard.status_listed"


def live_person_ids(*, uow: UnitOfWork, after_person_id: int = 0, limit: int = 500) -> list[int]:
    """The next `limit` people (by id, after `after_person_id`) with a live e-card, a live
    card or an open application: the pages of the reconciliation."""
    from yikatong.applications.service import person_ids_with_open_applications
    from yikatong.cards.service import person_ids_with_live_cards

    pages = (
        uow.session.execute(
            select(Ecard.live_person_id).where(Ecard.live_person_id > after_person_id)
            .distinct().order_by(Ecard.live_person_id).limit(limit)).scalars(),
        person_ids_with_live_cards(uow=uow, after_person_id=after_person_id, limit=limit),
        person_ids_with_open_applications(uow=uow, after_person_id=after_person_id, limit=limit),
    )
    return sorted(set().union(*pages))[:limit]


# ---------------------------------------------------------------------------------------
# The holder: consent, re-authorisation, password, QR codes


def grant_consent(*, uow: UnitOfWork, actor: Actor, channel: str, keys: KeyStore) -> EcardView:
    """The holder agrees to use the e-card on `channel` (四.15). Agreeing again after a loss
    of the card counts as re-authorising on that channel. Already granted: nothing changes."""
    ecard, channel_info = _holder_ecard(uow, actor), _channel(uow, channel)
    status = _derive(uow, person_id=ecard.person_id, ecard=ecard)
    if status.state == EcardState.REVOKED:
        raise _refused(status.reason)
    consent = _consent(ecard, channel_info.code)
    if consent is not None and consent.withdrawn_at is None:
        return _view(uow, ecard)
    now = uow.now()
    if consent is None:
        consent = EcardConsent(channel=channel_info.code, granted_at=now)
        ecard.consents.append(consent)
    else:
        consent.granted_at, consent.withdrawn_at = now, None
        consent.reauthorised_at = consent.password_session_until = None
    return _commit_change(uow, actor, ecard, status, keys, "ecard.consent_granted",
                          {"channel": channel_info.code})


def withdraw_consent(*, uow: UnitOfWork, actor: Actor, channel: str, keys: KeyStore) -> EcardView:
    """The holder withdraws consent on one channel; the others are untouched."""
    ecard, channel_info = _holder_ecard(uow, actor), _channel(uow, channel)
    consent = _consent_in_force(ecard, channel_info)
    consent.withdrawn_at = uow.now()
    consent.password_session_until = None
    status = _derive(uow, person_id=ecard.person_id, ecard=ecard)
    return _commit_change(uow, actor, ecard, status, keys, "ecard.consent_withdrawn",
                          {"channel": channel_info.code})


def reauthorise(*, uow: UnitOfWork, actor: Actor, channel: str, password: str,
                keys: KeyStore) -> EcardView:
    """After the physical card was reported lost, the holder (whose phone was not lost)
    confirms with the e-card password that the e-card may still be used on `channel`."""
    ecard, channel_info = _holder_ecard(uow, actor), _channel(uow, channel)
    status = _derive(uow, person_id=ecard.person_id, ecard=ecard)
    if status.state in (EcardState.REVOKED, EcardState.SUSPENDED):
        raise _refused(status.reason)
    if status.state != EcardState.RESTRICTED:
        raise NotLost()
    consent = _consent_in_force(ecard, channel_info)
    _check_password(uow, actor, ecard, password)
    now = uow.now()
    consent.reauthorised_at = now
    consent.password_session_until = now + rules.PASSWORD_SESSION
    return _commit_change(uow, actor, ecard, status, keys, "ecard.reauthorised",
                          {"channel": channel_info.code,
                           "loss_started_at": status.loss_started_at.isoformat()})


def set_password(*, uow: UnitOfWork, actor: Actor, new_password: str,
                 old_password: str | None = None) -> EcardView:
    """Set the e-card's own 6-digit password (not the card PIN), or change it with the old
    one. Weak passwords are refused (WeakEcardPassword)."""
    ecard = _holder_ecard(uow, actor)
    if ecard.password_hash is not None:
        if old_password is None:
            raise EcardPasswordAlreadySet()
        _check_password(uow, actor, ecard, old_password)
    elif old_password is not None:
        raise EcardPasswordNotSet()
    action = "ecard.password_changed" if ecard.password_hash else "ecard.password_set"
    _store_password(uow, ecard, new_password)
    return _commit_password(uow, actor, ecard, action)


def send_reset_code(*, uow: UnitOfWork, actor: Actor) -> str:
    """Text a password-reset code to the phone on the holder's record; returns the masked
    number (auth.binding; NoPhoneOnFile when there is none)."""
    from yikatong.auth.binding import send_code_to_holder

    _holder_ecard(uow, actor)
    return send_code_to_holder(uow=uow, actor=actor, purpose="ecard_reset")


def reset_password(*, uow: UnitOfWork, actor: Actor, proof: str, new_password: str,
                   code: str | None = None, name: str | None = None,
                   id_number: str | None = None, evidence: str | None = None,
                   authenticator=None) -> EcardView:
    """Forgotten or locked password: set a new one and lift the lock after the same proof
    that binds an account to a person (auth.binding): the code texted to the phone on file
    (`proof="sms_code"`), or the real-name provider's assertion (`proof="real_name"`,
    `applications.protocols.IdentityAuthenticator`)."""
    from yikatong.auth.binding import SMS, prove_with_code, spend_evidence
    from yikatong.auth.errors import BindingProofFailed
    from yikatong.people.service import get_person, normalise_ssn

    ecard = _holder_ecard(uow, actor)
    person = get_person(uow=uow, person_id=ecard.person_id)
    # A weak new password is refused before the proof, which it would otherwise use up.
    rules.check_new_password(new_password, ssn=person.ssn, birth_date=person.birth_date)
    if proof == "sms_code":
        prove_with_code(uow=uow, actor=actor, kind=SMS, purpose="ecard_reset",
                        person_id=ecard.person_id, code=code or "")
    elif proof == "real_name":
        if (name or "").strip() != person.name or normalise_ssn(id_number or "") != person.ssn:
            raise IdentityCheckFailed()
        if not authenticator.authenticate(name=person.name, id_number=person.ssn,
                                          evidence=evidence or "").verified:
            raise IdentityCheckFailed()
        try:
            spend_evidence(uow=uow, evidence=evidence or "", purpose="ecard_reset")
        except BindingProofFailed:
            raise IdentityCheckFailed() from None
    else:
        raise ValueError(f"unknown proof {proof!r}")
    _store_password(uow, ecard, new_password)
    return _commit_password(uow, actor, ecard, "ecard.password_reset")


def issue_qr(*, uow: UnitOfWork, actor: Actor, channel: str, keys: KeyStore,
             password: str | None = None, person_id: int | None = None) -> IssuedQr:
    """A QR code valid 60 s for the e-card on a consented channel where it may be used now.

    A holder gives the e-card password, or is within the short session that entering it on
    this channel opened. The card-centre admin (demo CLI) names the person instead and needs
    no password; consent and status still apply.
    """
    if actor.role == Role.HOLDER:
        ecard = _holder_ecard(uow, actor)
    elif actor.role in (Role.ADMIN, Role.SYSTEM) and person_id is not None:
        ecard = _live_or_refuse(uow, person_id)
    else:
        raise Forbidden(zh="只有持卡人本人可以出示电子社保卡二维码",
                        en="Only the holder may show an e-card QR code")
    channel_info = _channel(uow, channel)
    status = _derive(uow, person_id=ecard.person_id, ecard=ecard)
    consent = _consent(ecard, channel_info.code)
    refusal = rules.channel_refusal(status, _facts(consent) if consent else None)
    if refusal is not None:
        raise _refused(refusal)
    now = uow.now()
    if actor.role == Role.HOLDER:
        if password is not None:
            _check_password(uow, actor, ecard, password)
            consent.password_session_until = now + rules.PASSWORD_SESSION
        elif ecard.password_hash is None:
            raise EcardPasswordNotSet()
        elif not (consent.password_session_until and now < consent.password_session_until):
            raise EcardPasswordRequired()
    key = keys.get(KEY_PURPOSE)
    issued_at = now.replace(microsecond=0)
    claims = TokenClaims(key_version=key.version, status_index=ecard.status_index,
                         ecard_no=int(ecard.ecard_no), issued_at=issued_at, valid_for=VALIDITY,
                         nonce=secrets.token_bytes(8), age=_age(uow, ecard.person_id, issued_at))
    token = issue_token(Sm2Signer(key.key), claims)
    _flush(uow)
    uow.audit(actor=actor, action="ecard.qr_issued", entity_type="ecard", entity_id=ecard.ecard_no,
              after={"channel": channel_info.code, "expires_at": claims.expires_at.isoformat(),
                     "key_version": key.version})
    uow.commit()
    return IssuedQr(token=token, ecard_no=ecard.ecard_no, channel=channel_info.code,
                    issued_at=issued_at, expires_at=claims.expires_at,
                    refresh_at=issued_at + REFRESH_AFTER)


# ---------------------------------------------------------------------------------------
# Verifying a shown code


def verify_token(*, uow: UnitOfWork, token: str, keys: KeyStore) -> Verification:
    """Whether a shown code is genuine and current (public check, read only): signature,
    60 s window, not used yet, and the e-card usable now. Only masked data comes back."""
    try:
        claims = read_genuine(token, verifiers(keys))
    except TokenRejected as error:
        return _verdict(False, error)
    ecard = _ecard_for_claims(uow, claims)
    if ecard is None:
        return _verdict(False, rejected("未找到对应的电子社保卡", "no such e-card", "unknown"))
    used = _used(uow, claims.nonce)
    try:
        status = _check_current(uow, ecard, claims, used=used)
    except TokenRejected as error:
        return _describe(uow, ecard, claims, None, error, used=used)
    return _describe(uow, ecard, claims, status, None, used=used)


def read_verification(*, uow: UnitOfWork, token: str, keys: KeyStore) -> Verification:
    """`verify_token` for the public check door: the same checks in the same order and the
    same answer, from plain selects of the columns it needs (db.raw) instead of ORM objects
    (the e-card with its consents, the person with its relations, the current card): no
    identity map and no relationship loaders for rows a check never changes."""
    claims = claims_or_verdict(token=token, keys=keys)
    if isinstance(claims, Verification):
        return claims
    return verification_of(uow=uow, claims=claims)


def claims_or_verdict(*, token: str, keys: KeyStore) -> TokenClaims | Verification:
    """A shown code's claims if its format and signature hold (`read_genuine`), else the
    check's answer: not genuine, and why."""
    try:
        return read_genuine(token, verifiers(keys))
    except TokenRejected as error:
        return _verdict(False, error)


def verification_of(*, uow: UnitOfWork, claims: TokenClaims) -> Verification:
    """`read_verification` of a code whose signature has been checked (`read_genuine`): the
    e-card's checks and the masked answer, from the selects `check_trip` fetches in one."""
    connection = uow.connection()
    ecard = _ECARD_BY_NO.first(connection, {"ecard_no": f"{claims.ecard_no:016d}"})
    if ecard is None or ecard.status_index != claims.status_index:
        return _verdict(False, rejected("未找到对应的电子社保卡", "no such e-card", "unknown"))
    used = _NONCE_USED.first(connection, {"nonce": claims.nonce.hex()}) is not None
    consents = [_facts(row) for row in _CONSENTS_OF.rows(connection, {"ecard_id": ecard.id})]
    status, error = None, None
    try:
        check_window(claims, uow.now())
        if used:
            raise _replayed()
        status = _derive_read(uow, ecard)
        _check_usable(status, consents)
    except TokenRejected as rejection:
        error = rejection
    person = _person_named(connection, ecard.person_id)
    return _answer(ecard.ecard_no, person.name, person.ssn or "",
                   status or _derive_read(uow, ecard), claims, error, used=used)


def _derive_read(uow: UnitOfWork, ecard) -> EcardStatus:
    """`_derive` from plain selects (cards.service.read_card / read_card_of_person): the same
    card chosen (in use, else produced, newest first; else the newest) and the same status."""
    from yikatong.cards import service as cards

    if ecard.revoked_at is not None:
        card = cards.read_card(uow=uow, card_no=ecard.card_no) if ecard.card_no else None
        return rules.derive_status(revoked_reason=ecard.revoke_reason or "revoked",
                                   card=_card_facts(card) if card else None,
                                   application_open=False)
    card = cards.read_card_of_person(uow=uow, person_id=ecard.person_id)
    application_open = ((card is None or not card.is_live)
                        and _has_open_application(uow, ecard.person_id))
    return rules.derive_status(revoked_reason=None, card=_card_facts(card) if card else None,
                               application_open=application_open)


# On the DBAPI cursor (db.raw): only the columns a check reads.
_ECARD_TABLE, _CONSENT_TABLE = Ecard.__table__, EcardConsent.__table__
_ECARD_COLUMNS = (_ECARD_TABLE.c.id, _ECARD_TABLE.c.ecard_no, _ECARD_TABLE.c.person_id,
                  _ECARD_TABLE.c.status_index, _ECARD_TABLE.c.card_no, _ECARD_TABLE.c.revoked_at,
                  _ECARD_TABLE.c.revoke_reason)
_CONSENT_COLUMNS = (_CONSENT_TABLE.c.granted_at, _CONSENT_TABLE.c.withdrawn_at,
                    _CONSENT_TABLE.c.reauthorised_at)
_ECARD_BY_NO = RawSelect(
    select(*_ECARD_COLUMNS).where(_ECARD_TABLE.c.ecard_no == bindparam("ecard_no")),
    "EcardCheckRow")
_CONSENTS_OF = RawSelect(
    select(*_CONSENT_COLUMNS)
    .where(_CONSENT_TABLE.c.ecard_id == bindparam("ecard_id"))
    .order_by(_CONSENT_TABLE.c.id), "ConsentCheckRow")  # as the relationship orders them
_NONCE_USED = RawSelect(
    select(EcardTokenUse.__table__.c.id)
    .where(EcardTokenUse.__table__.c.nonce == bindparam("nonce")), "NonceUsedRow")
_PERSON_NAME = RawSelect(
    select(Person.__table__.c.name, Person.__table__.c.ssn)
    .where(Person.__table__.c.id == bindparam("person_id")), "PersonNameRow")


def check_trip(claims: TokenClaims) -> OneTrip:
    """Every select `verification_of` and `check_redeemable` make for a genuine code, in one
    statement (db.raw.Stacked): the e-card by its number, the nonce's use, and through the
    e-card's own row in the statement, its consents, its person's name and ssn, the person's
    cards and their blocks. Cut into what each select would have fetched (db.raw.answered),
    so the same checks run in the same order on the same rows; a select it does not answer
    (an open application, for an e-card without a live card) goes to the database."""
    ecard_no, nonce = f"{claims.ecard_no:016d}", claims.nonce.hex()
    return OneTrip(_CHECK_TRIP.select, {"ecard_no": ecard_no, "nonce": nonce},
                   functools.partial(_cut_check, ecard_no, nonce))


def _cut_check(ecard_no: str, nonce: str, dialect, rows: list) -> dict:
    return _cut_parts(ecard_no, nonce, dialect, _CHECK_TRIP.split(dialect, rows))


def _cut_parts(ecard_no: str, nonce: str, dialect, parts: list) -> dict:
    from yikatong.cards.service import _BLOCKS_OF_CARD, _CARD_BY_NO, _CARD_ROWS_OF_PERSON

    ecards, uses, consents, people, cards, blocks = parts
    found = {_ECARD_BY_NO.key({"ecard_no": ecard_no}): ecards,
             _NONCE_USED.key({"nonce": nonce}): uses}
    if not ecards:
        return found
    ecard = ecards[0]
    found[_CONSENTS_OF.key({"ecard_id": ecard.id})] = consents
    found[_PERSON_NAME.key({"person_id": ecard.person_id})] = people
    found[_CARD_ROWS_OF_PERSON.key({"person_id": ecard.person_id})] = cards
    for card in cards:  # the chosen card's blocks, or a revoked e-card's card by its number
        found[_BLOCKS_OF_CARD.key({"card_id": card.id})] = [
            block for block in blocks if block.card_id == card.id]
        found[_CARD_BY_NO.key({"card_no": card.card_no})] = [
            _CARD_BY_NO.row(dialect, tuple(card))]
    return found


def _check_trip() -> Stacked:
    return Stacked("EcardCheckTripRow", _check_parts())


def _check_parts() -> list:
    from yikatong.cards.models import Card, CardBlock
    from yikatong.cards.service import _BLOCKS_OF_CARD, _CARD_ROWS_OF_PERSON

    cards, blocks = Card.__table__, CardBlock.__table__
    by_number = _ECARD_TABLE.c.ecard_no == bindparam("ecard_no")
    ecard_id = select(_ECARD_TABLE.c.id).where(by_number).scalar_subquery()
    person_id = select(_ECARD_TABLE.c.person_id).where(by_number).scalar_subquery()
    person = Person.__table__
    return [
        (select(*_ECARD_COLUMNS).where(by_number), None, _ECARD_BY_NO),
        (select(EcardTokenUse.__table__.c.id)
         .where(EcardTokenUse.__table__.c.nonce == bindparam("nonce")), None, _NONCE_USED),
        (select(*_CONSENT_COLUMNS).where(_CONSENT_TABLE.c.ecard_id == ecard_id),
         _CONSENT_TABLE.c.id, _CONSENTS_OF),  # as the relationship orders them
        (select(person.c.name, person.c.ssn).where(person.c.id == person_id), None,
         _PERSON_NAME),
        (select(cards).where(cards.c.person_id == person_id), -cards.c.id,  # newest first
         _CARD_ROWS_OF_PERSON),
        (select(blocks).where(blocks.c.card_id.in_(
            select(cards.c.id).where(cards.c.person_id == person_id))), blocks.c.id,
         _BLOCKS_OF_CARD),
    ]


_CHECK_TRIP = _check_trip()


def person_of_current_token(*, uow: UnitOfWork, token: str, keys: KeyStore) -> int | None:
    """The person behind a genuine, current and usable code, or None (read only: the code is
    not spent, so a library kiosk may send it again within its 60 s for the session's next
    message). The same checks as `verify_token`, without building the masked answer."""
    try:
        claims = read_genuine(token, verifiers(keys))
    except (TokenRejected, ValueError):
        return None
    ecard = _ecard_for_claims(uow, claims)
    if ecard is None:
        return None
    try:
        _check_current(uow, ecard, claims, used=_used(uow, claims.nonce))
    except TokenRejected:
        return None
    return ecard.person_id


def redeem_token(*, uow: UnitOfWork, actor: Actor, token: str, business: str,
                 terminal_id: str | None, keys: KeyStore) -> Verification:
    """A terminal or counter accepts a code for one business transaction (online). Raises
    TokenRejected (forged, expired, replayed, revoked, suspended); a second use of the same
    code is refused as a replay, even when two terminals race (unique nonce).

    The checks of `read_verification` (plain selects of the columns read, in the same order
    as `verify_token`'s), then the use and its audit record as plain INSERTs in this
    transaction: no ORM object is loaded or flushed for a row nobody changes."""
    claims = genuine_for_redeem(token=token, business=business, keys=keys)
    redeemable = check_redeemable(uow=uow, claims=claims)
    return record_redeem(uow=uow, actor=actor, redeemable=redeemable, business=business,
                         terminal_id=terminal_id)


@dataclass(frozen=True)
class Redeemable:
    """A code that passed every check of a redeem (`check_redeemable`), with what its
    record and answer need."""

    claims: TokenClaims
    ecard_no: str
    name: str
    ssn: str
    status: EcardStatus


def genuine_for_redeem(*, token: str, business: str, keys: KeyStore) -> TokenClaims:
    """A redeem's first checks: the business named, the code's format and signature."""
    if not (business or "").strip() or len(business) > 64:
        raise InvalidInput(reason_zh="请说明业务类型（最多64字符）",
                           reason_en="name the business transaction (at most 64 characters)")
    return read_genuine(token, verifiers(keys))


def check_redeemable(*, uow: UnitOfWork, claims: TokenClaims) -> Redeemable:
    """A genuine code's checks before its use is recorded (e-card and index, nonce, window,
    replay, status, consent: TokenRejected), from the selects `check_trip` fetches in one.
    Read at READ COMMITTED these may run before the recording transaction begins (on the
    event loop): each select sees what one inside it would, and the unique nonce still
    refuses a use recorded in between."""
    connection = uow.connection()
    ecard = _ECARD_BY_NO.first(connection, {"ecard_no": f"{claims.ecard_no:016d}"})
    if ecard is None or ecard.status_index != claims.status_index:
        raise rejected("未找到对应的电子社保卡", "no such e-card", "unknown")
    used = _NONCE_USED.first(connection, {"nonce": claims.nonce.hex()}) is not None
    check_window(claims, uow.now())
    if used:
        raise _replayed()
    status = _derive_read(uow, ecard)
    _check_usable(status, [_facts(row) for row in
                           _CONSENTS_OF.rows(connection, {"ecard_id": ecard.id})])
    person = _person_named(connection, ecard.person_id)
    return Redeemable(claims=claims, ecard_no=ecard.ecard_no, name=person.name,
                      ssn=person.ssn or "", status=status)


def record_redeem(*, uow: UnitOfWork, actor: Actor, redeemable: Redeemable, business: str,
                  terminal_id: str | None) -> Verification:
    """Record a checked code's use and its audit record in one transaction (committed) and
    answer as the check would, marked used; a use recorded first by another terminal is
    refused as a replay (the nonce is unique)."""
    claims, ecard_no = redeemable.claims, redeemable.ecard_no
    connection = uow.connection()
    try:
        _TOKEN_USE_INSERT.execute(connection, {
            "nonce": claims.nonce.hex(), "ecard_no": ecard_no, "business": business.strip(),
            "terminal_id": terminal_id, "used_by": actor.user_id,
            "token_expires_at": claims.expires_at, "used_at": uow.now()})
    except IntegrityError:  # another terminal redeemed it first (the nonce is unique)
        uow.session.rollback()
        raise _replayed() from None
    _audit_now(uow, actor=actor, action="ecard.qr_redeemed", entity_type="ecard",
               entity_id=ecard_no, after={"business": business.strip(), "terminal_id": terminal_id})
    result = _answer(ecard_no, redeemable.name, redeemable.ssn, redeemable.status, claims, None,
                     used=True)
    uow.commit()
    return result


# On the connection's own cursor (db.statement): no SQLAlchemy execution path for the one row.
_TOKEN_USE_COLUMNS = ("nonce", "ecard_no", "business", "terminal_id", "used_by",
                      "token_expires_at", "used_at")
_TOKEN_USE_INSERT = RawStatement(insert(EcardTokenUse.__table__).inline(), "EcardTokenUseInsert",
                                 columns=_TOKEN_USE_COLUMNS)


# --- the redeem in two statements on the event loop (PostgreSQL; api._redeem_on_loop) ----------

# The e-card's audit chain head, as UnitOfWork._chain_head reads it (the newest record, else
# the newest head an archive checkpoint holds), stacked after the check's selects.
_AUDITS, _ARCHIVED = AuditRecord.__table__, AuditCheckpointHead.__table__
_REDEEM_HEAD = RawSelect(
    select(_AUDITS.c.seq, _AUDITS.c.hash)
    .where(_AUDITS.c.entity_type == bindparam("audit_entity_type"),
           _AUDITS.c.entity_id == bindparam("ecard_no"))
    .order_by(_AUDITS.c.seq.desc()).limit(bindparam("one")), "RedeemAuditHeadRow")
_REDEEM_ARCHIVED_HEAD = RawSelect(
    select(_ARCHIVED.c.seq, _ARCHIVED.c.hash)
    .where(_ARCHIVED.c.entity_type == bindparam("audit_entity_type"),
           _ARCHIVED.c.entity_id == bindparam("ecard_no"))
    .order_by(_ARCHIVED.c.checkpoint_seq.desc()).limit(bindparam("one")),
    "RedeemArchivedHeadRow")
_REDEEM_TRIP = Stacked("EcardRedeemTripRow", [
    *_check_parts(),
    (_REDEEM_HEAD._statement, None, _REDEEM_HEAD),
    (_REDEEM_ARCHIVED_HEAD._statement, None, _REDEEM_ARCHIVED_HEAD),
])
_REDEEM_AUDIT_ENTITY = "ecard"


@dataclass(frozen=True)
class RedeemTrip:
    """What a redeem's one read statement fetched: the check's selects' rows (`found`, for
    db.raw.answered) and the e-card's audit chain head ((seq, hash), or None)."""

    found: dict
    head: object


def redeem_trip(claims: TokenClaims) -> OneTrip:
    """`check_trip`'s selects and the e-card's audit chain head in one statement: all a
    redeem reads, before the one statement that writes it (`redeem_write`)."""
    ecard_no, nonce = f"{claims.ecard_no:016d}", claims.nonce.hex()
    return OneTrip(_REDEEM_TRIP.select, {"ecard_no": ecard_no, "nonce": nonce,
                                         "audit_entity_type": _REDEEM_AUDIT_ENTITY, "one": 1},
                   functools.partial(_cut_redeem, ecard_no, nonce))


def _cut_redeem(ecard_no: str, nonce: str, dialect, rows: list) -> RedeemTrip:
    *checked, heads, archived = _REDEEM_TRIP.split(dialect, rows)
    return RedeemTrip(_cut_parts(ecard_no, nonce, dialect, checked),
                      heads[0] if heads else archived[0] if archived else None)


def redeem_write(*, actor: Actor, redeemable: Redeemable, business: str,
                 terminal_id: str | None, head, now: datetime) -> tuple[RawStatement, dict]:
    """`record_redeem`'s writes as one statement (PostgreSQL, in autocommit on the event
    loop's connection: its own transaction): the use, then (reading the use's row, so the
    unique nonce refuses a second use before anything else is tried) the audit record's key
    and the record itself, chained to `head` as `UnitOfWork.audit` chains it. A chain that
    moved since `head` was read collides on the key, as two writers of one chain do in a
    transaction (ConcurrentChange, `redeem_refusal`); nothing is written then."""
    claims, ecard_no = redeemable.claims, redeemable.ecard_no
    fields = audit_fields(at=now, actor=actor, action="ecard.qr_redeemed",
                          entity_type=_REDEEM_AUDIT_ENTITY, entity_id=ecard_no, before=None,
                          after={"business": business.strip(), "terminal_id": terminal_id},
                          reason=None, last=head)
    return _REDEEM_WRITE, {
        "nonce": claims.nonce.hex(), "ecard_no": ecard_no, "business": business.strip(),
        "terminal_id": terminal_id, "used_by": actor.user_id,
        "token_expires_at": claims.expires_at, "used_at": now,
        **{f"audit_{name}": value for name, value in fields.items()},
        "audit_hash": record_hash(fields)}


def redeem_refusal(error: IntegrityError) -> Exception:
    """What `record_redeem` raises for a refused write: the chain's key taken
    (ConcurrentChange), else the nonce's (another terminal redeemed the code first)."""
    return ConcurrentChange() if is_audit_collision(error) else _replayed()


def redeemed(redeemable: Redeemable) -> Verification:
    """The answer of a recorded redeem: the check's, marked used (as `record_redeem`)."""
    return _answer(redeemable.ecard_no, redeemable.name, redeemable.ssn, redeemable.status,
                   redeemable.claims, None, used=True)


def _redeem_write() -> RawStatement:
    uses, keys = EcardTokenUse.__table__, AuditRecordKey.__table__

    def bound(table, name: str, prefix: str = ""):
        return bindparam(prefix + name, type_=table.c[name].type)

    use = insert(uses).values({name: bound(uses, name) for name in _TOKEN_USE_COLUMNS}
                              ).returning(uses.c.id).cte("token_use")
    key = insert(keys).from_select(
        ["entity_type", "entity_id", "seq"],
        select(bound(_AUDITS, "entity_type", "audit_"), bound(_AUDITS, "entity_id", "audit_"),
               bound(_AUDITS, "seq", "audit_")).select_from(use)).cte("audit_key")
    record = insert(_AUDITS).from_select(
        list(_AUDIT_COLUMNS),
        select(*(bound(_AUDITS, name, "audit_") for name in _AUDIT_COLUMNS)).select_from(use))
    return RawStatement(record.add_cte(use).add_cte(key).returning(_AUDITS.c.seq),
                        "EcardRedeemWrite")


_REDEEM_WRITE = _redeem_write()


def _person_named(connection, person_id: int):
    """The person's name and ssn (plain select); PersonNotFound as get_person would."""
    person = _PERSON_NAME.first(connection, {"person_id": person_id})
    if person is None:
        from yikatong.people.errors import PersonNotFound

        raise PersonNotFound(person_id=person_id)
    return person


def verifiers(keys: KeyStore) -> dict[int, Sm2Verifier]:
    """The e-card signing keys a code may be signed with (every version not revoked): the
    store is asked each time (a revoked version drops out at once), the verifier of a public
    key is built once (`_verifier`)."""
    return {info.version: _verifier(info.public_key_hex) for info in public_keys(keys)}


@functools.lru_cache(maxsize=64)
def _verifier(public_key_hex: str) -> Sm2Verifier:
    """A verifier depends on nothing but its public key: kept per key, not per request."""
    return Sm2Verifier(public_key_hex)


def public_keys(keys: KeyStore) -> list:
    """KeyInfo of every usable e-card signing key version, for terminals."""
    return [info for info in keys.list()
            if info.purpose == KEY_PURPOSE and info.algorithm == "SM2"
            and str(info.status) != "revoked" and info.public_key_hex]


# ---------------------------------------------------------------------------------------
# The signed status lists for offline terminals


@dataclass(frozen=True)
class PublishedList:
    purpose: str
    credential: dict
    etag: str
    built_at: datetime
    valid_until: datetime


# What the lists are signed from, in one statement: the index of every e-card listed
# suspended or revoked with its state, and a last row (state NULL) with the highest index of
# all (the lists' size).
_LISTED_PURPOSES = (("suspension", ListedState.SUSPENDED), ("revocation", ListedState.REVOKED))
_LISTED_AND_HIGHEST = union_all(
    select(Ecard.status_index, Ecard.listed_state)
    .where(Ecard.listed_state.in_([str(listed) for _, listed in _LISTED_PURPOSES])),
    select(func.max(Ecard.status_index), null()))


# Every writer of the lists holds this name until its transaction ends (`publish_status_lists`).
STATUS_LISTS_LOCK = "ecard.status_lists"


def publish_status_lists(*, uow: UnitOfWork, keys: KeyStore) -> None:
    """Sign both lists (suspension, revocation) from what each e-card is listed as, in the
    caller's unit of work (two selects: the lists' rows, the listed indices and the highest).
    One writer at a time: a job that read the listed e-cards before a suspension committed
    overwrote the suspension's own lists without it (PostgreSQL). A change that suspends an
    e-card takes the name here, after its own writes: its reads below are new statements, so
    under READ COMMITTED they see what the writer before it committed, and its own changes."""
    serialised(uow.session, STATUS_LISTS_LOCK)
    now = uow.now()
    key = keys.get(KEY_PURPOSE)
    signer = Sm2Signer(key.key)
    rows = {row.purpose: row for row in uow.session.execute(select(EcardStatusList)).scalars()}
    listed: dict[str, list[int]] = {str(state): [] for _, state in _LISTED_PURPOSES}
    highest = 0
    for index, state in uow.session.execute(_LISTED_AND_HIGHEST):
        if state is None:
            highest = index or 0
        else:
            listed[state].append(index)
    size = rules.list_size(highest, status_list.MIN_BITS)
    for purpose, state in _LISTED_PURPOSES:
        indices = listed[str(state)]
        credential = status_list.sign_credential(status_list.build_credential(
            list_url=LIST_URL.format(purpose=purpose), issuer=ISSUER, purpose=purpose,
            set_indices=indices, issued_at=now, valid_for=rules.STATUS_LIST_VALIDITY,
            key_version=key.version, size=size), signer, created=now)
        row = rows.get(purpose)
        if row is None:
            row = EcardStatusList(purpose=purpose)
            uow.session.add(row)
        row.credential, row.set_count, row.built_at = credential, len(indices), now
        row.valid_until = now + rules.STATUS_LIST_VALIDITY
        row.etag = hashlib.sha256(json.dumps(credential, sort_keys=True).encode()).hexdigest()[:32]


def lists_due(*, uow: UnitOfWork) -> bool:
    """Whether a list is missing or older than the re-signing interval."""
    rows = {row.purpose: row for row in uow.session.execute(select(EcardStatusList)).scalars()}
    now = uow.now()
    return any(purpose not in rows or as_utc(rows[purpose].built_at) + rules.STATUS_LIST_REFRESH
               <= now for purpose in status_list.PURPOSES)


def get_status_list(*, uow: UnitOfWork, purpose: str, keys: KeyStore) -> PublishedList:
    """The current signed list of `purpose`, re-signed first when it is due (commits then)."""
    if purpose not in status_list.PURPOSES:
        raise InvalidInput(reason_zh=f"状态名单用途须为 {'、'.join(status_list.PURPOSES)}",
                           reason_en=f"status purpose must be one of {status_list.PURPOSES}")
    if lists_due(uow=uow):
        publish_status_lists(uow=uow, keys=keys)
        try:
            uow.commit()
        except IntegrityError:  # another request published the first lists just now
            uow.session.rollback()
    row = uow.session.get(EcardStatusList, purpose)
    return PublishedList(purpose=purpose, credential=row.credential, etag=row.etag,
                         built_at=as_utc(row.built_at), valid_until=as_utc(row.valid_until))


# ---------------------------------------------------------------------------------------
# Helpers


def _age(uow: UnitOfWork, person_id: int, at: datetime) -> int | None:
    """The holder's age in whole years on the day (CST) of `at`, carried in the QR code so
    an offline venue gate can decide a free category by age; None when unknown."""
    from yikatong.core.clock import local_date
    from yikatong.core.errors import NotFound
    from yikatong.people.rules import age_on
    from yikatong.people.service import person_basics

    try:
        born = person_basics(uow=uow, person_id=person_id).birth_date
    except NotFound:
        return None
    return age_on(born, local_date(at)) if born is not None else None


def _ecard_of(uow: UnitOfWork, person_id: int) -> Ecard:
    ecard = _live_ecard(uow, person_id) or uow.session.execute(
        select(Ecard).where(Ecard.person_id == person_id).order_by(Ecard.id.desc()).limit(1)
    ).scalar()
    if ecard is None:
        raise EcardNotFound(what=f"person {person_id}")
    return ecard


def _live_ecard(uow: UnitOfWork, person_id: int) -> Ecard | None:
    return uow.session.execute(select(Ecard).where(Ecard.live_person_id == person_id)).scalar()


def _live_or_refuse(uow: UnitOfWork, person_id: int) -> Ecard:
    ecard = _ecard_of(uow, person_id)
    if ecard.revoked_at is not None:
        raise _refused(ecard.revoke_reason or "revoked")
    return ecard


def _holder_ecard(uow: UnitOfWork, actor: Actor) -> Ecard:
    if actor.role != Role.HOLDER or actor.person_id is None:
        raise Forbidden(zh="只有持卡人本人可以办理", en="Only the holder may do this")
    if _live_ecard(uow, actor.person_id) is None:
        # The holder acts before the card event reached us (a busy dispatcher): issue the
        # e-card now, in this same transaction; the event then finds it and changes nothing.
        sync_person(uow=uow, person_id=actor.person_id, keys=None, publish=False)
    return _live_or_refuse(uow, actor.person_id)


def _create(uow: UnitOfWork, *, person_id: int, application_id: int | None) -> Ecard:
    highest = uow.session.execute(select(func.max(Ecard.status_index))).scalar()
    ecard = Ecard(ecard_no=_new_ecard_no(uow), person_id=person_id, live_person_id=person_id,
                  status_index=0 if highest is None else highest + 1,
                  application_id=application_id, listed_state=str(ListedState.CLEAR),
                  created_at=uow.now(), password_failures=0)
    uow.session.add(ecard)
    return ecard


def _new_ecard_no(uow: UnitOfWork) -> str:
    """16 random digits (fits the token's 8-byte field); drawn again on the rare collision."""
    while True:
        number = str(10**15 + secrets.randbelow(9 * 10**15))
        if uow.session.execute(select(Ecard.id).where(Ecard.ecard_no == number)).first() is None:
            return number


def _card_facts(view) -> CardFacts:
    return CardFacts(card_no=view.card_no, state=view.state, hr_status=view.hr_status,
                     end_reason=view.end_reason,
                     hr_blocks=tuple((b.kind, as_utc(b.started_at))
                                     for b in view.blocks_in_force if b.function == "hr"))


def _derive(uow: UnitOfWork, *, person_id: int, ecard: Ecard | None) -> EcardStatus:
    """The e-card's status now, from the physical card (cards.service, read now)."""
    from yikatong.cards import service as cards

    if ecard is not None and ecard.revoked_at is not None:
        card = cards.get_card(uow=uow, card_no=ecard.card_no) if ecard.card_no else None
        return rules.derive_status(revoked_reason=ecard.revoke_reason or "revoked",
                                   card=_card_facts(card) if card else None,
                                   application_open=False)
    card = cards.current_card_for(uow=uow, person_id=person_id)
    if card is None:
        newest = cards.list_cards(uow=uow, person_id=person_id, limit=1)
        card = newest[0] if newest else None
    # An open application matters only while there is no live card (同步申领: usable at once).
    application_open = (card is None or not card.is_live) and _has_open_application(uow, person_id)
    return rules.derive_status(revoked_reason=None, card=_card_facts(card) if card else None,
                               application_open=application_open)


def _has_open_application(uow: UnitOfWork, person_id: int) -> bool:
    from yikatong.applications.service import open_applications_for

    return bool(open_applications_for(uow=uow, person_id=person_id))


def _channel(uow: UnitOfWork, code: str) -> EcardChannel:
    for channel in channels(uow=uow):
        if channel.code == code:
            return channel
    raise UnknownEcardChannel(channel=echo(code), allowed=[channel.code for channel in channels(uow=uow)])


def _consent(ecard: Ecard, channel: str) -> EcardConsent | None:
    return next((c for c in ecard.consents if c.channel == channel), None)


def _consent_in_force(ecard: Ecard, channel: EcardChannel) -> EcardConsent:
    consent = _consent(ecard, channel.code)
    if consent is None or consent.withdrawn_at is not None:
        raise ConsentNotGiven(channel_zh=channel.name_zh, channel_en=channel.name_en)
    return consent


def _facts(consent: EcardConsent) -> ConsentFacts:
    return ConsentFacts(granted_at=as_utc(consent.granted_at),
                        withdrawn_at=consent.withdrawn_at and as_utc(consent.withdrawn_at),
                        reauthorised_at=consent.reauthorised_at and as_utc(consent.reauthorised_at))


def _consent_facts(ecard: Ecard) -> list[ConsentFacts]:
    return [_facts(c) for c in ecard.consents]


def _refused(reason: str) -> EcardRefused:
    zh, en = rules.refusal_names(reason)
    return EcardRefused(reason_zh=zh, reason_en=en, reason=reason)


def _mirror(ecard: Ecard) -> dict:
    return {"card_no": ecard.card_no, "listed_state": ecard.listed_state,
            "revoke_reason": ecard.revoke_reason}


def _commit_change(uow: UnitOfWork, actor: Actor, ecard: Ecard, status: EcardStatus,
                   keys: KeyStore, action: str, details: dict) -> EcardView:
    """Record a holder's change: listed state (and the lists if it moved), audit, commit."""
    before = ecard.listed_state
    ecard.listed_state = str(rules.listed_state(status, _consent_facts(ecard)))
    _flush(uow)
    uow.audit(actor=actor, action=action, entity_type="ecard", entity_id=ecard.ecard_no,
              before={"listed_state": before}, after={**details, "listed_state": ecard.listed_state})
    if ecard.listed_state != before:
        publish_status_lists(uow=uow, keys=keys)
    uow.commit()
    return _view(uow, ecard)


def _check_password(uow: UnitOfWork, actor: Actor, ecard: Ecard, password: str) -> None:
    """Verify the e-card password; a wrong one is counted (and committed) before raising,
    and the fifth in a row locks it for 24 hours."""
    now = uow.now()
    if ecard.password_hash is None:
        raise EcardPasswordNotSet()
    locked_until = ecard.password_locked_until and as_utc(ecard.password_locked_until)
    if rules.password_locked(locked_until, now):
        raise EcardPasswordLocked(until=locked_until.isoformat(timespec="minutes"))
    try:
        _hasher.verify(ecard.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        _count_failure(uow, actor, ecard, now)
    if ecard.password_failures:
        ecard.password_failures = 0


def _count_failure(uow: UnitOfWork, actor: Actor, ecard: Ecard, now: datetime) -> None:
    uow.session.rollback()  # nothing of the refused request stays, only the counter
    ecard.password_failures += 1
    locked = ecard.password_failures >= rules.MAX_PASSWORD_FAILURES
    if locked:
        ecard.password_locked_until = now + rules.PASSWORD_LOCK
        ecard.password_failures = 0
    _flush(uow)
    uow.audit(actor=actor, action="ecard.password_locked" if locked else "ecard.password_failed",
              entity_type="ecard", entity_id=ecard.ecard_no,
              after={"failures": ecard.password_failures, "locked": locked})
    uow.commit()
    if locked:
        raise EcardPasswordLocked(until=ecard.password_locked_until.isoformat(timespec="minutes"))
    raise WrongEcardPassword(remaining=rules.MAX_PASSWORD_FAILURES - ecard.password_failures)


def _store_password(uow: UnitOfWork, ecard: Ecard, password: str) -> None:
    from yikatong.people.service import get_person

    person = get_person(uow=uow, person_id=ecard.person_id)
    rules.check_new_password(password, ssn=person.ssn, birth_date=person.birth_date)
    ecard.password_hash = _hasher.hash(password)
    ecard.password_set_at = uow.now()
    ecard.password_failures = 0
    ecard.password_locked_until = None


def _commit_password(uow: UnitOfWork, actor: Actor, ecard: Ecard, action: str) -> EcardView:
    _flush(uow)
    uow.audit(actor=actor, action=action, entity_type="ecard", entity_id=ecard.ecard_no,
              after={"password_set_at": ecard.password_set_at.isoformat()})
    uow.commit()
    return _view(uow, ecard)


def _ecard_for_claims(uow: UnitOfWork, claims: TokenClaims) -> Ecard | None:
    ecard = uow.session.execute(
        select(Ecard).where(Ecard.ecard_no == f"{claims.ecard_no:016d}")).scalar()
    return ecard if ecard is not None and ecard.status_index == claims.status_index else None


def _used(uow: UnitOfWork, nonce: bytes) -> bool:
    return uow.session.execute(
        select(EcardTokenUse.id).where(EcardTokenUse.nonce == nonce.hex())).first() is not None


def _replayed() -> TokenRejected:
    return rejected("二维码已使用过，请刷新", "the code was already used; refresh it", "replayed")


def _check_current(uow: UnitOfWork, ecard: Ecard, claims: TokenClaims, *,
                   used: bool) -> EcardStatus:
    """Raise TokenRejected unless the code is within its 60 s, unused, and the e-card may be
    used now (on some consented channel, after re-authorisation if the card is lost)."""
    check_window(claims, uow.now())
    if used:
        raise _replayed()
    status = _derive(uow, person_id=ecard.person_id, ecard=ecard)
    _check_usable(status, _consent_facts(ecard))
    return status


def _check_usable(status: EcardStatus, consents: list[ConsentFacts]) -> None:
    """Raise TokenRejected unless the e-card may be used now on some consented channel."""
    listed = rules.listed_state(status, consents)
    if listed == ListedState.REVOKED:
        raise rejected("电子社保卡已注销", "the e-card is revoked", "revoked")
    if listed == ListedState.SUSPENDED:
        zh, en = rules.refusal_names(status.reason)
        raise rejected(f"电子社保卡暂停使用（{zh}）", f"the e-card is suspended ({en})",
                       "suspended")
    if not rules.usable_somewhere(status, consents):
        raise rejected("持卡人已撤回全部渠道的授权", "the holder withdrew consent on every channel",
                       "no_consent")


def _verdict(genuine: bool, error: TokenRejected) -> Verification:
    return Verification(genuine=genuine, valid=False, reason=error.details.get("reason", "invalid"),
                        reason_zh=error.message_zh, reason_en=error.message_en)


def _describe(uow: UnitOfWork, ecard: Ecard, claims: TokenClaims, status: EcardStatus | None,
              error: TokenRejected | None, *, used: bool) -> Verification:
    """A genuine code: masked holder data and the card status, with the verdict."""
    from yikatong.people.service import get_person

    person = get_person(uow=uow, person_id=ecard.person_id)
    status = status or _derive(uow, person_id=ecard.person_id, ecard=ecard)
    return _answer(ecard.ecard_no, person.name, person.ssn, status, claims, error, used=used)


def _answer(ecard_no: str, name: str, ssn: str, status: EcardStatus, claims: TokenClaims,
            error: TokenRejected | None, *, used: bool) -> Verification:
    from yikatong.people.rules import mask_ssn

    zh, en = status.card_status_names
    verdict = (dict(reason=error.details.get("reason", "invalid"), reason_zh=error.message_zh,
                    reason_en=error.message_en) if error else
               dict(reason="ok", reason_zh="真实有效", reason_en="genuine and current"))
    return Verification(
        genuine=True, valid=error is None, **verdict,
        ecard_no_masked=rules.mask_ecard_no(ecard_no), name_masked=rules.mask_name(name),
        ssn_masked=mask_ssn(ssn), state=str(status.state), card_status=status.card_status,
        card_status_zh=zh, card_status_en=en, issued_at=claims.issued_at,
        expires_at=claims.expires_at, used=used)


def _flush(uow: UnitOfWork) -> None:
    from sqlalchemy.orm.exc import StaleDataError

    from yikatong.core.errors import ConcurrentChange

    try:
        uow.session.flush()
    except StaleDataError as error:
        raise ConcurrentChange() from error


def _view(uow: UnitOfWork, ecard: Ecard) -> EcardView:
    status = _derive(uow, person_id=ecard.person_id, ecard=ecard)
    consents = {c.channel: c for c in ecard.consents}
    views = []
    for channel in channels(uow=uow):
        consent = consents.get(channel.code)
        refusal = rules.channel_refusal(status, _facts(consent) if consent else None)
        zh, en = rules.refusal_names(refusal) if refusal else (None, None)
        views.append(ChannelView(
            code=channel.code, name_zh=channel.name_zh, name_en=channel.name_en,
            consented=consent is not None and consent.withdrawn_at is None,
            granted_at=consent.granted_at if consent else None,
            withdrawn_at=consent.withdrawn_at if consent else None,
            reauthorised_at=consent.reauthorised_at if consent else None,
            usable=refusal is None, refusal=refusal, refusal_zh=zh, refusal_en=en))
    reason, (state_zh, state_en) = rules.readable_status(
        status, _consent_facts(ecard))
    card_zh, card_en = status.card_status_names
    reason_zh, reason_en = rules.refusal_names(reason)
    next_zh, next_en = ("", "") if reason == rules.REAUTHORISED else status.next_step
    return EcardView(
        ecard_no=ecard.ecard_no, person_id=ecard.person_id, status_index=ecard.status_index,
        card_no=status.card_no or ecard.card_no, state=str(status.state), state_zh=state_zh,
        state_en=state_en, card_status=status.card_status, card_status_zh=card_zh,
        card_status_en=card_en, reason=reason, reason_zh=reason_zh, reason_en=reason_en,
        loss_started_at=status.loss_started_at, created_at=ecard.created_at,
        revoked_at=ecard.revoked_at, password_set=ecard.password_hash is not None,
        password_locked_until=ecard.password_locked_until, channels=tuple(views),
        usable=any(view.usable for view in views), next_step_zh=next_zh, next_step_en=next_en)
