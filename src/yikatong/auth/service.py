"""Logins, bearer tokens and partner API keys. Passwords are hashed with argon2."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from yikatong.auth.errors import (
    BadCredentials,
    HolderAlreadyRegistered,
    RealNameFailed,
    TokenInvalid,
    UnknownRole,
    UsernameTaken,
    WeakPassword,
)
from yikatong.auth.models import AccessToken, User
from yikatong.auth.rules import MIN_PASSWORD_LENGTH
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import NotFound
from yikatong.db.uow import UnitOfWork

_hasher = PasswordHasher()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    *, uow: UnitOfWork, actor: Actor, username: str, password: str | None, role: Role,
    display_name: str | None = None, bank_code: str | None = None,
    branch_code: str | None = None, person_id: int | None = None,
) -> User:
    """Add a login (in the caller's transaction, audited)."""
    if uow.session.execute(select(User.id).where(User.username == username)).first():
        raise UsernameTaken(username=username)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(minimum=MIN_PASSWORD_LENGTH)
    user = User(
        username=username, display_name=display_name or username, role=str(role),
        password_hash=_hasher.hash(password) if password else None, bank_code=bank_code,
        branch_code=branch_code, person_id=person_id, created_at=uow.now(),
    )
    uow.session.add(user)
    uow.session.flush()
    uow.audit(actor=actor, action="user.create", entity_type="user", entity_id=user.id,
              after={"username": username, "role": str(role), "bank_code": bank_code})
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


def login(*, uow: UnitOfWork, username: str, password: str, ttl: timedelta) -> str:
    """Check the password and return a new bearer token."""
    user = uow.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active or not user.password_hash:
        raise BadCredentials()
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as error:
        raise BadCredentials() from error
    token = _issue(uow, user, kind="bearer", expires_at=uow.now() + ttl)
    uow.audit(actor=Actor(user_id=user.username, role=Role(user.role), channel=Channel.SYSTEM),
              action="auth.login", entity_type="user", entity_id=user.id)
    return token


def create_api_key(*, uow: UnitOfWork, user: User, label: str, actor: Actor | None = None) -> str:
    """A long-lived key for a partner system (bank, transit operator); only its hash is kept."""
    key = _issue(uow, user, kind="api_key", expires_at=None, label=label)
    if actor is not None:
        uow.audit(actor=actor, action="auth.api_key_created", entity_type="user",
                  entity_id=user.id, after={"label": label})
    return key


def add_operator(
    *, uow: UnitOfWork, actor: Actor, username: str, password: str | None, role: str,
    display_name: str | None = None, bank_code: str | None = None,
    branch_code: str | None = None,
) -> User:
    """The card centre adds a staff or partner login. Holders sign up themselves; a bank
    login names its bank (it sees only that bank's cards)."""
    try:
        role_value = Role(role)
    except ValueError:
        raise UnknownRole(role=role) from None
    if role_value in (Role.HOLDER, Role.SYSTEM):
        raise UnknownRole(role=role)
    if role_value is Role.BANK:
        from yikatong.directory.service import get_bank

        get_bank(uow=uow, bank_code=bank_code or "")
    return create_user(uow=uow, actor=actor, username=username, password=password,
                       role=role_value, display_name=display_name, bank_code=bank_code,
                       branch_code=branch_code)


def find_user(*, uow: UnitOfWork, username: str) -> User:
    user = uow.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(what="用户 / user")
    return user


def _issue(uow: UnitOfWork, user: User, *, kind: str, expires_at, label=None) -> str:
    token = ("ykt_" if kind == "api_key" else "") + secrets.token_urlsafe(32)
    uow.session.add(AccessToken(
        token_hash=_token_hash(token), user_id=user.id, kind=kind, label=label,
        created_at=uow.now(), expires_at=expires_at,
    ))
    return token


def resolve_token(*, uow: UnitOfWork, token: str) -> User:
    """The active user behind a bearer token or API key."""
    row = uow.session.execute(
        select(AccessToken, User)
        .join(User, User.id == AccessToken.user_id)
        .where(AccessToken.token_hash == _token_hash(token))
    ).first()
    if row is None:
        raise TokenInvalid()
    access, user = row
    now = uow.now()
    if access.revoked_at or (access.expires_at and access.expires_at <= now) or not user.active:
        raise TokenInvalid()
    return user
