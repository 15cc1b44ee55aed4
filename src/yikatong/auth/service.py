"""Logins, bearer tokens and partner API keys. Passwords are hashed with argon2."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Dialect

from yikatong.auth.errors import (
    ApiKeyGraceTooLong,
    ApiKeyLifetimeTooLong,
    ApiKeyNotAllowed,
    ApiKeyNotFound,
    ApiKeyRevoked,
    BadCredentials,
    CannotDeactivateSelf,
    CurrentPasswordWrong,
    HolderAlreadyRegistered,
    InvalidUsername,
    LogoutNeedsBearer,
    NoPasswordLogin,
    PasswordUnchanged,
    RealNameFailed,
    TokenInvalid,
    UnknownRole,
    UserAlreadyInState,
    UsernameTaken,
    WeakPassword,
)
from yikatong.auth.models import AccessToken, User
from yikatong.auth.rules import (
    API_KEY_DEFAULT_LIFETIME,
    API_KEY_DEFAULT_ROTATION_GRACE,
    API_KEY_MAX_LIFETIME,
    API_KEY_MAX_ROTATION_GRACE,
    API_KEY_ROLES,
    api_key_hint,
    credential_status,
    is_valid_username,
    password_verdict,
)
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import NotFound
from yikatong.db.raw import OneTrip, RawSelect, answered
from yikatong.db.uow import UnitOfWork

_hasher = PasswordHasher()


# What a password sign-in hands out: an API bearer token, or a browser's session (a cookie).
# Both end with the password (changed, reset) and the login (deactivated).
SIGN_IN_KINDS = ("bearer", "session")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    *, uow: UnitOfWork, actor: Actor, username: str, password: str | None, role: Role,
    display_name: str | None = None, bank_code: str | None = None,
    branch_code: str | None = None, person_id: int | None = None,
    employer_uscc: str | None = None,
) -> User:
    """Add a login (in the caller's transaction, audited)."""
    if not is_valid_username(username):
        raise InvalidUsername()
    if uow.session.execute(select(User.id).where(User.username == username)).first():
        raise UsernameTaken(username=username)
    if password is not None:
        check_password(password, username=username, display_name=display_name)
    user = User(
        username=username, display_name=display_name or username, role=str(role),
        password_hash=_hasher.hash(password) if password else None, bank_code=bank_code,
        branch_code=branch_code, person_id=person_id, employer_uscc=employer_uscc,
        created_at=uow.now(),
    )
    uow.session.add(user)
    uow.session.flush()
    uow.audit(actor=actor, action="user.create", entity_type="user", entity_id=user.id,
              after={"username": username, "role": str(role), "bank_code": bank_code,
                     "employer_uscc": employer_uscc})
    return user


@dataclass(frozen=True)
class HolderProof:
    """What a sign-up carries to bind the account to a person: a one-time code texted to the
    phone on file ("sms_code"), the activation code handed over with the card
    ("activation_code"), or the real-name provider's assertion ("real_name", `evidence` is
    the provider's ID token)."""

    kind: str
    name: str
    id_number: str
    code: str | None = None
    evidence: str | None = None


PROOF_KINDS = ("sms_code", "activation_code", "real_name")


def register_holder(
    *, uow: UnitOfWork, proof: HolderProof, username: str, password: str, authenticator,
) -> User:
    """A cardholder signs up online, bound to a person only by proof a stranger cannot
    produce from a name and an ID number (auth.binding).

    With a code the login is tied to the person on file. With the real-name assertion it is
    tied to the authenticated ID number, and to the person record when one exists (a holder
    who has never applied gets linked after the first application). Whatever depends on a
    person's records (already registered, a name that differs) is said only after the proof.
    """
    from yikatong.auth import binding
    from yikatong.people.rules import mask_ssn
    from yikatong.people.service import find_person_by_ssn, normalise_ssn

    actor = Actor(user_id=username, role=Role.HOLDER, channel=Channel.ONLINE_PORTAL)
    if proof.kind == "real_name":
        _real_name_check(authenticator, proof)
        binding.spend_evidence(uow=uow, evidence=proof.evidence or "", purpose="sign_up")
        person = find_person_by_ssn(uow=uow, ssn=proof.id_number)
        if person is not None and not binding.same_name(person.name, proof.name):
            raise RealNameFailed(reason_zh="姓名与登记信息不一致",
                                 reason_en="the name differs from the registered one")
        id_number = person.ssn if person else normalise_ssn(proof.id_number)
    elif proof.kind in ("sms_code", "activation_code"):
        person = binding.person_named(uow=uow, name=proof.name, id_number=proof.id_number)
        binding.prove_with_code(
            uow=uow, actor=actor, kind=binding.SMS if proof.kind == "sms_code" else binding.ACTIVATION,
            purpose="sign_up", person_id=person.id if person else None, code=proof.code or "")
        id_number = person.ssn
    else:
        raise ValueError(f"unknown proof {proof.kind!r}")
    taken = select(User.id).where(User.role == str(Role.HOLDER), User.verified_ssn == id_number)
    if person is not None:
        taken = select(User.id).where(User.role == str(Role.HOLDER)).where(
            (User.verified_ssn == id_number) | (User.person_id == person.id))
    if uow.session.execute(taken).first():
        raise HolderAlreadyRegistered()
    user = create_user(uow=uow, actor=actor, username=username, password=password,
                       role=Role.HOLDER, display_name=person.name if person else proof.name,
                       person_id=person.id if person else None)
    user.verified_ssn = id_number
    uow.audit(actor=actor, action="auth.holder_registered", entity_type="user",
              entity_id=user.id, after={"ssn": mask_ssn(id_number), "linked": bool(person),
                                        "proof": proof.kind})
    return user


def _real_name_check(authenticator, proof: HolderProof) -> None:
    """The real-name provider's assertion for this name and ID number, or RealNameFailed."""
    from yikatong.applications.protocols import IdentityServiceUnavailable

    try:
        result = authenticator.authenticate(name=proof.name, id_number=proof.id_number,
                                            evidence=proof.evidence or "")
    except IdentityServiceUnavailable:
        raise RealNameFailed(reason_zh="实名认证服务暂不可用",
                             reason_en="the authentication service is unavailable") from None
    if not result.verified:
        raise RealNameFailed(reason_zh=result.reason or "身份核验不一致",
                             reason_en=result.reason or "identity not confirmed")


def holder_identity(*, uow: UnitOfWork, username: str) -> str | None:
    """The ID number a holder login was real-name authenticated with (None if it never was)."""
    return uow.session.execute(select(User.verified_ssn).where(User.username == username)).scalar()


def link_holder_person(*, uow: UnitOfWork, user: User) -> int | None:
    """Tie a holder login to their person record once it exists; returns the person id."""
    from yikatong.people.service import find_person_by_ssn

    if user.person_id is not None or user.verified_ssn is None:
        return user.person_id
    person = find_person_by_ssn(uow=uow, ssn=user.verified_ssn)
    if person is None or not _same_name(person.name, user.display_name):
        return None  # a name that differs from the record's never opens it
    user.person_id = person.id
    uow.audit(actor=Actor(user_id=user.username, role=Role.HOLDER, channel=Channel.SYSTEM),
              action="auth.holder_linked", entity_type="user", entity_id=user.id,
              after={"person_id": person.id})
    return person.id


def _same_name(registered: str, claimed: str) -> bool:
    return "".join(registered.split()) == "".join((claimed or "").split())


def login(*, uow: UnitOfWork, username: str, password: str, ttl: timedelta,
          kind: str = "bearer") -> str:
    """Check the password and return a new bearer token (or, for a browser, a `session`
    credential: pages.sessions). An unknown, inactive or password-less login costs the same
    argon2 verify and gets the same answer as a wrong password, so neither the answer nor its
    time tells which user names exist."""
    user = uow.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    usable = user is not None and user.active and bool(user.password_hash)
    matches = _password_matches(user.password_hash if usable else None, password)
    if not (usable and matches):
        raise BadCredentials()
    token = _issue(uow, user, kind=kind, expires_at=uow.now() + ttl)
    uow.audit(actor=Actor(user_id=user.username, role=Role(user.role), channel=Channel.SYSTEM),
              action="auth.login", entity_type="user", entity_id=user.id, after={"kind": kind})
    return token


def check_password(password: str, *, username: str, display_name: str | None = None) -> None:
    """Refuse a password shorter than 12 characters or one zxcvbn scores below 3 (common or
    breached passwords, keyboard runs, dates, the login's own names): WeakPassword says why."""
    verdict = password_verdict(password, user_inputs=(username, display_name))
    if verdict is not None:
        raise WeakPassword(reason_zh=verdict.reason_zh, reason_en=verdict.reason_en)


def _password_matches(password_hash: str | None, password: str) -> bool:
    """argon2 verify; without a hash, the same work against a hash no password matches."""
    try:
        return _hasher.verify(password_hash or _unmatchable_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _unmatchable_hash() -> str:
    # Same parameters as every stored hash, so the verify takes as long; made on first use
    # (not at import: hashing costs as much as a login).
    return _hasher.hash(secrets.token_urlsafe(32))


def change_password(
    *, uow: UnitOfWork, actor: Actor, user: User, current_password: str, new_password: str,
    keep_token: str | None = None,
) -> int:
    """A login changes its own password, proving the current one. Every other session of the
    login ends (its bearer tokens and browser sessions are revoked, except `keep_token`, the one making the change);
    returns how many ended. API keys stay: they are managed apart."""
    if not user.password_hash:
        raise NoPasswordLogin()
    if not _password_matches(user.password_hash, current_password):
        raise CurrentPasswordWrong()
    if new_password == current_password:
        raise PasswordUnchanged()
    check_password(new_password, username=user.username, display_name=user.display_name)
    user.password_hash = _hasher.hash(new_password)
    ended = _revoke(uow, user, kinds=SIGN_IN_KINDS, keep_hash=_token_hash(keep_token) if keep_token else None)
    uow.audit(actor=actor, action="auth.password_changed", entity_type="user", entity_id=user.id,
              after={"sessions_ended": ended})
    return ended


def reset_password(*, uow: UnitOfWork, actor: Actor, user: User, new_password: str) -> int:
    """An operator at the server sets a new password without the old one (a forgotten admin
    password); every session of the login ends. Returns how many ended."""
    check_password(new_password, username=user.username, display_name=user.display_name)
    user.password_hash = _hasher.hash(new_password)
    ended = _revoke(uow, user, kinds=SIGN_IN_KINDS)
    uow.audit(actor=actor, action="auth.password_reset", entity_type="user", entity_id=user.id,
              after={"sessions_ended": ended})
    return ended


def set_active(*, uow: UnitOfWork, actor: Actor, user: User, active: bool) -> int:
    """Deactivate (or reactivate) a login. Deactivation revokes every bearer token and API key
    of the login at once, so reactivation never brings an old credential back: the login logs
    in again and a partner system gets new keys. Returns how many credentials were revoked."""
    if user.active == active:
        raise UserAlreadyInState(state_zh="启用" if active else "停用",
                                 state_en="active" if active else "deactivated")
    if not active and user.username == actor.user_id:
        raise CannotDeactivateSelf()
    user.active = active
    revoked = 0 if active else _revoke(uow, user, kinds=(*SIGN_IN_KINDS, "api_key"))
    uow.audit(actor=actor, action="auth.user_reactivated" if active else "auth.user_deactivated",
              entity_type="user", entity_id=user.id, before={"active": not active},
              after={"active": active, "credentials_revoked": revoked})
    return revoked


def logout(*, uow: UnitOfWork, actor: Actor, token: str) -> None:
    """Revoke the bearer token or browser session the caller used (an API key is revoked by
    the card centre)."""
    access = uow.session.execute(
        select(AccessToken).where(AccessToken.token_hash == _token_hash(token))).scalar_one_or_none()
    if access is None or access.revoked_at is not None:
        raise TokenInvalid()
    if access.kind not in SIGN_IN_KINDS:
        raise LogoutNeedsBearer()
    access.revoked_at = uow.now()
    uow.audit(actor=actor, action="auth.logout", entity_type="user", entity_id=access.user_id,
              after={"token_id": access.id})


def create_api_key(
    *, uow: UnitOfWork, user: User, label: str, actor: Actor, lifetime: timedelta | None = None,
) -> str:
    """`issue_api_key`, returning only the key."""
    return issue_api_key(uow=uow, user=user, label=label, actor=actor, lifetime=lifetime)[0]


def issue_api_key(
    *, uow: UnitOfWork, user: User, label: str, actor: Actor, lifetime: timedelta | None = None,
) -> tuple[str, AccessToken]:
    """A key for a partner system (bank, transit operator), valid for `lifetime` (90 days by
    default, 365 at most); only its hash and last four characters are kept. Returns the key,
    shown once, and its row. A holder login never holds one."""
    lifetime = API_KEY_DEFAULT_LIFETIME if lifetime is None else lifetime
    if lifetime > API_KEY_MAX_LIFETIME or lifetime <= timedelta(0):
        raise ApiKeyLifetimeTooLong(maximum_days=API_KEY_MAX_LIFETIME.days)
    _check_may_hold_api_keys(user)
    key, access = _issue_row(uow, user, kind="api_key", expires_at=uow.now() + lifetime, label=label)
    uow.audit(actor=actor, action="auth.api_key_created", entity_type="user", entity_id=user.id,
              after={"key_id": access.id, "label": label, "hint": access.hint,
                     "expires_at": access.expires_at.isoformat()})
    return key, access


def list_api_keys(*, uow: UnitOfWork, user: User) -> list[AccessToken]:
    """Every API key of a login, newest first, revoked and expired ones included."""
    return list(uow.session.execute(
        select(AccessToken).where(AccessToken.user_id == user.id, AccessToken.kind == "api_key")
        .order_by(AccessToken.id.desc())).scalars())


def revoke_api_key(*, uow: UnitOfWork, actor: Actor, user: User, key_id: int) -> AccessToken:
    """Revoke one API key of a login at once."""
    access = _live_api_key(uow, user, key_id)
    access.revoked_at = uow.now()
    uow.audit(actor=actor, action="auth.api_key_revoked", entity_type="user", entity_id=user.id,
              after={"key_id": access.id, "label": access.label, "hint": access.hint})
    return access


def rotate_api_key(
    *, uow: UnitOfWork, actor: Actor, user: User, key_id: int,
    grace: timedelta = API_KEY_DEFAULT_ROTATION_GRACE, lifetime: timedelta | None = None,
) -> tuple[str, AccessToken, AccessToken]:
    """Issue a new key with the same label and let the old one expire after `grace` (24 hours by
    default, 7 days at most; 0 revokes it now), so the partner switches over without an outage.
    Returns the new key (shown once), its row and the old key's row."""
    if grace > API_KEY_MAX_ROTATION_GRACE or grace < timedelta(0):
        raise ApiKeyGraceTooLong(maximum_hours=int(API_KEY_MAX_ROTATION_GRACE.total_seconds() // 3600))
    old = _live_api_key(uow, user, key_id)
    new_key, new = issue_api_key(uow=uow, user=user, label=old.label or "", actor=actor, lifetime=lifetime)
    now = uow.now()
    if grace == timedelta(0):
        old.revoked_at = now
    else:
        old.expires_at = min(old.expires_at or now + grace, now + grace)
    uow.audit(actor=actor, action="auth.api_key_rotated", entity_type="user", entity_id=user.id,
              after={"key_id": old.id, "hint": old.hint, "old_key_until": (old.revoked_at or old.expires_at).isoformat()})
    return new_key, new, old


def _check_may_hold_api_keys(user: User) -> None:
    if Role(user.role) not in API_KEY_ROLES:
        raise ApiKeyNotAllowed(role=user.role)


def _live_api_key(uow: UnitOfWork, user: User, key_id: int) -> AccessToken:
    access = uow.session.execute(
        select(AccessToken).where(AccessToken.id == key_id, AccessToken.user_id == user.id,
                                  AccessToken.kind == "api_key")).scalar_one_or_none()
    if access is None:
        raise ApiKeyNotFound()
    if not _usable(access, uow.now()):
        raise ApiKeyRevoked()
    return access


def _usable(access: AccessToken, now) -> bool:
    return credential_status(revoked_at=access.revoked_at, expires_at=access.expires_at, now=now) == "active"


def _revoke(uow: UnitOfWork, user: User, *, kinds: tuple[str, ...], keep_hash: str | None = None) -> int:
    """Revoke the login's usable tokens of these kinds (except one); returns how many."""
    now = uow.now()
    rows = uow.session.execute(
        select(AccessToken).where(AccessToken.user_id == user.id, AccessToken.kind.in_(kinds),
                                  AccessToken.revoked_at.is_(None))).scalars()
    revoked = 0
    for access in rows:
        if access.token_hash != keep_hash and _usable(access, now):
            access.revoked_at = now
            revoked += 1
    return revoked


def add_operator(
    *, uow: UnitOfWork, actor: Actor, username: str, password: str | None, role: str,
    display_name: str | None = None, bank_code: str | None = None,
    branch_code: str | None = None, employer_uscc: str | None = None,
) -> User:
    """The card centre adds a staff or partner login. Holders sign up themselves; a bank
    login names its bank (it sees only that bank's cards); an employer agent's login names
    its employer's unified social credit code (it sees only that employer's employees)."""
    try:
        role_value = Role(role)
    except ValueError:
        raise UnknownRole(role=role) from None
    if role_value in (Role.HOLDER, Role.SYSTEM):
        raise UnknownRole(role=role)
    if role_value is Role.BANK:
        from yikatong.directory.service import get_bank

        get_bank(uow=uow, bank_code=bank_code or "")
    employer_uscc = _checked_employer(role_value, employer_uscc)
    return create_user(uow=uow, actor=actor, username=username, password=password,
                       role=role_value, display_name=display_name, bank_code=bank_code,
                       branch_code=branch_code, employer_uscc=employer_uscc)


def _checked_employer(role: Role, employer_uscc: str | None) -> str | None:
    """An employer agent acts for exactly one employer, named by a valid code; nobody else
    carries one (a code on another login would mean nothing and mislead a reader)."""
    from yikatong.employers.errors import EmployerUsccMisplaced, EmployerUsccRequired
    from yikatong.employers.rules import check_employer_uscc

    if role is Role.EMPLOYER_AGENT:
        if not employer_uscc:
            raise EmployerUsccRequired()
        return check_employer_uscc(employer_uscc)
    if employer_uscc:
        raise EmployerUsccMisplaced(role=str(role))
    return None


def find_user(*, uow: UnitOfWork, username: str) -> User:
    user = uow.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(what="用户 / user")
    return user


def _issue(uow: UnitOfWork, user: User, *, kind: str, expires_at, label=None) -> str:
    return _issue_row(uow, user, kind=kind, expires_at=expires_at, label=label)[0]


def _issue_row(uow: UnitOfWork, user: User, *, kind: str, expires_at, label=None) -> tuple[str, AccessToken]:
    token = ("ykt_" if kind == "api_key" else "") + secrets.token_urlsafe(32)
    access = AccessToken(
        token_hash=_token_hash(token), user_id=user.id, kind=kind, label=label,
        hint=api_key_hint(token) if kind == "api_key" else None,
        created_at=uow.now(), expires_at=expires_at,
    )
    uow.session.add(access)
    uow.session.flush()
    return token, access


def resolve_token(*, uow: UnitOfWork, token: str) -> User:
    """The active user behind a bearer token or an unexpired, unrevoked API key."""
    return resolve_credential(uow=uow, secret=token)[0]


def resolve_credential(*, uow: UnitOfWork, secret: str) -> tuple[User, str]:
    """The active user behind a bearer token or an unexpired, unrevoked API key (never a
    holder's API key: one issued before holders were refused them stops working too), and
    the credential's kind ("bearer" or "api_key"), which decides the channels it may claim."""
    row = uow.session.execute(
        select(AccessToken, User)
        .join(User, User.id == AccessToken.user_id)
        .where(AccessToken.token_hash == _token_hash(secret))
    ).first()
    if row is None:
        raise TokenInvalid()
    access, user = row
    _check_credential(kind=access.kind, revoked_at=access.revoked_at, expires_at=access.expires_at,
                      role=user.role, active=user.active, now=uow.now())
    return user, access.kind


def _check_credential(*, kind: str, revoked_at, expires_at, role: str, active: bool, now) -> None:
    """TokenInvalid unless the credential is in force, its login active, and (for an API key)
    the login's role may hold one."""
    if credential_status(revoked_at=revoked_at, expires_at=expires_at, now=now) != "active" or not active:
        raise TokenInvalid()
    if kind == "api_key" and Role(role) not in API_KEY_ROLES:
        raise TokenInvalid()


@dataclass(frozen=True)
class CredentialHolder:
    """Who acts with a credential, as a request needs it: the login's fields and the
    credential's kind (what `resolve_credential` answers, without an ORM object)."""

    account_id: int
    username: str
    role: str
    bank_code: str | None
    branch_code: str | None
    person_id: int | None
    employer_uscc: str | None
    verified_ssn: str | None
    kind: str


_HOLDER_COLUMNS = (AccessToken.kind, AccessToken.revoked_at, AccessToken.expires_at, User.active,
                   User.id, User.username, User.role, User.bank_code, User.branch_code,
                   User.person_id, User.employer_uscc, User.verified_ssn)
# Built once, compiled once per dialect, run on the DBAPI cursor (db.raw): per request only the
# hash is bound.
_HOLDER_ID = 4  # User.id's place: never None in a row found
assert _HOLDER_COLUMNS[_HOLDER_ID] is User.id
_HOLDER_SELECT = (select(*_HOLDER_COLUMNS).join(User, User.id == AccessToken.user_id)
                  .where(AccessToken.token_hash == bindparam("token_hash")))
_HOLDER_QUERY = RawSelect(_HOLDER_SELECT, "CredentialRow")


def with_credential(part: Select, *, order_by: tuple[str, ...] = ()) -> Select:
    """`part` (a select whose columns have names of their own) with the credential lookup of
    `credential_holder` in front, in one statement: its first columns are the credential's
    (None when no credential has the hash), the rest `part`'s rows (None when it has none),
    ordered by `part`'s columns named in `order_by`. Bind `credential_params(secret)` and
    `part`'s own parameters; `credential_answers` cuts the credential out of a row."""
    credential = _HOLDER_SELECT.subquery("credential")
    found = part.subquery("part")
    anchor = select(literal_column("1").label("one")).subquery("anchor")
    return (select(*(column.label(f"credential_{column.key}") for column in credential.c),
                   *found.c)
            .select_from(anchor.outerjoin(credential, true()).outerjoin(found, true()))
            .order_by(*(found.c[name] for name in order_by)))


def credential_cte(name: str = "credential"):
    """`credential_holder`'s select as a CTE of a larger statement (its columns those of
    `credential_holder`'s rows, in their order: `credential_answers` cuts them out)."""
    return _HOLDER_SELECT.cte(name)


def in_force_with_role(credential, now, roles) -> ColumnElement[bool]:
    """SQL that holds of a row of `credential_cte` only where `credential_holder` accepts it
    at `now` (a bind of the statement) and its role is one of `roles`: `_check_credential`'s
    tests written again (in force: not revoked, not expired at `now`; its login active; an
    API key's role one that may hold keys). A statement may act on this (a throttle counted
    by the credential in the statement that looks it up); the caller still runs
    `credential_holder` on the row and must never find it refusing what this accepted: the
    test may be stricter than Python's, never looser (tests/core/test_throttle.py).

    The roles are written into the SQL (`role IN ('bank', …)`), not bound: a parameter each
    made the statement's 50-odd parameters more than psycopg keeps the parsed form of a query
    for (MAX_CACHED_STATEMENT_PARAMS), so every call parsed its SQL again with a regular
    expression. They are names of `Role`, checked to be plain words."""
    return and_(credential.c.revoked_at.is_(None),
                or_(credential.c.expires_at.is_(None), credential.c.expires_at > now),
                credential.c.active.is_(True),
                written_in(credential.c.role, roles),
                or_(credential.c.kind != "api_key", written_in(credential.c.role, API_KEY_ROLES)))


def written_in(column, names) -> ColumnElement[bool]:
    """`column IN ('name', …)` with the names written into the SQL (role or credential kind
    names: plain words, checked), not bound as parameters (see `in_force_with_role`)."""
    names = sorted(map(str, names))
    if not all(_PLAIN_WORD.fullmatch(name) for name in names):
        raise ValueError(f"not a plain name: {names!r}")
    return column.in_([literal_column(f"'{name}'") for name in names])


_PLAIN_WORD = re.compile(r"[a-z0-9_]+")


def credential_params(secret: str) -> dict[str, str]:
    return {"token_hash": _lookup_hash(secret)}


# The secret a credential lookup hashed last, with its hash: a card read names it three times
# (its statement's parameter, the key of the rows fetched, the checks' lookup of them).
_last_hashed: tuple[str, str] | None = None


def _lookup_hash(secret: str) -> str:
    global _last_hashed
    last = _last_hashed
    if last is None or last[0] != secret:
        last = _last_hashed = (secret, _token_hash(secret))  # (one assignment: thread-safe)
    return last[1]


def credential_width(dialect: Dialect) -> int:
    """How many of a `with_credential` row's columns are the credential's."""
    return _HOLDER_QUERY.width(dialect)


def credential_answers(dialect: Dialect, row, secret: str) -> dict:
    """What `credential_holder` would have fetched for `secret`, from the first row of a
    `with_credential` select (for db.raw.answered)."""
    values = row[:credential_width(dialect)]
    found = [_HOLDER_QUERY.row(dialect, values)] if values[_HOLDER_ID] is not None else []
    return {_HOLDER_QUERY.key(credential_params(secret)): found}


def credential_holder(*, connection: Connection, secret: str, now) -> CredentialHolder:
    """`resolve_credential` for every request: the same checks on the same one indexed row
    (access_tokens.token_hash, unique, joined to its login by primary key), read in a plain
    connection without a session. Nothing is cached between requests: a credential revoked or
    a login deactivated by any process is refused by the very next request, in every worker."""
    row = _HOLDER_QUERY.first(connection, credential_params(secret))
    if row is None:
        raise TokenInvalid()
    _check_credential(kind=row.kind, revoked_at=row.revoked_at, expires_at=row.expires_at,
                      role=row.role, active=row.active, now=now)
    return CredentialHolder(
        account_id=row.id, username=row.username, role=row.role, bank_code=row.bank_code,
        branch_code=row.branch_code, person_id=row.person_id, employer_uscc=row.employer_uscc,
        verified_ssn=row.verified_ssn, kind=row.kind)


async def credential_holder_on_loop(platform, secret: str) -> CredentialHolder | None:
    """`credential_holder` on the event loop, without a thread-pool hop: on a SQLite file its
    one select on the loop's own connection outside a unit of work (Platform.sqlite_loop_reads,
    a WAL read that waits for no lock: no pool checkout, BEGIN or ROLLBACK), on an in-memory
    one in the loop's unit of work (Platform.loop_read_uow), on
    PostgreSQL its one select sent on the loop's own connections (Platform.loop_reads: what
    a statement on its own on a thread sees). The same row, the same checks, the same
    refusal; None where neither can be had (the caller looks it up on a thread)."""
    now = platform.clock.now()
    params = credential_params(secret)
    on_sqlite = platform.sqlite_loop_reads()
    if on_sqlite is not None:  # the select on the loop's connection, outside a unit of work
        found = on_sqlite.answers(OneTrip(_HOLDER_QUERY, params,
                                          functools.partial(_holder_answers, params)))
        if found is not None:
            with answered(found):
                return credential_holder(connection=None, secret=secret, now=now)
    uow = platform.loop_read_uow()
    if uow is not None:
        with uow:
            return credential_holder(connection=uow.connection(), secret=secret, now=now)
    reads = platform.loop_reads()
    rows = await reads.rows(_HOLDER_QUERY, params) if reads is not None else None
    if rows is None:
        return None
    with answered({_HOLDER_QUERY.key(params): rows}):  # the select answered, no connection
        return credential_holder(connection=None, secret=secret, now=now)


def _holder_answers(params: dict, _dialect: Dialect, rows: list) -> dict:
    """`credential_holder`'s select answered by its own rows (a OneTrip of that one select)."""
    return {_HOLDER_QUERY.key(params): rows}


def verify_credentials(*, uow: UnitOfWork, username: str, password: str) -> User | None:
    """The active login `username` if `password` is its password, else None, without issuing
    anything (a device that logs in per connection: a library kiosk's SIP2 login). An unknown,
    inactive or password-less login costs the same argon2 verify as a wrong password."""
    user = uow.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    usable = user is not None and user.active and bool(user.password_hash)
    matches = _password_matches(user.password_hash if usable else None, password)
    return user if usable and matches else None
