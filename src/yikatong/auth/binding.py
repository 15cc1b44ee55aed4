"""Binding an account to a person: proof a stranger who knows a name and an ID number cannot
produce.

* A one-time code texted to the phone on the person's record (`send_sign_up_code`,
  `send_code_to_holder`, checked by `prove_with_code`).
* An activation code handed over with the card (`issue_activation_code` at hand-over).
* A signed assertion of a real-name provider: the `IdentityAuthenticator` seam
  (applications.protocols), called by the use cases themselves.

Codes are kept as argon2 hashes, expire, serve one purpose and work once. A texted code dies
after SMS_CODE_MAX_ATTEMPTS wrong tries (six digits could be guessed otherwise); an activation
code does not (60 random bits cannot be, and closing it would let anyone who knows the name and
ID number send the holder back to the outlet): its guesses are bounded per client address by
the sign-up throttle instead. A refusal never says whether the ID number is on file, and
costs the same work either way (a decoy hash is checked when there is no code).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from yikatong.auth import rules
from yikatong.auth.errors import BindingProofFailed, NoPhoneOnFile
from yikatong.auth.models import BindingCode
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import as_utc
from yikatong.db.uow import UnitOfWork

# Argon2id at the OWASP minimum (19 MiB, 2 passes): a six-digit code lives ten minutes and
# allows five tries, so the hash only has to outlast an offline guess at a stolen table.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

log = logging.getLogger(__name__)

SMS, ACTIVATION = "sms", "activation"
# Who asks for a sign-up code: nobody is logged in yet.
PUBLIC = Actor(user_id="public:sign-up", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL)


@cache
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def _matches(code_hash: str, code: str) -> bool:
    try:
        return _hasher.verify(code_hash, code)
    except (VerificationError, InvalidHashError):
        return False


def same_name(registered: str, claimed: str | None) -> bool:
    return "".join(registered.split()) == "".join((claimed or "").split())


def person_named(*, uow: UnitOfWork, name: str, id_number: str):
    """The person on file with this ID number AND this name, else None (no difference is
    made between the two: a caller must not learn which one failed)."""
    from yikatong.people.service import find_person_by_ssn

    person = find_person_by_ssn(uow=uow, ssn=id_number)
    return person if person is not None and same_name(person.name, name) else None


# --- one-time codes by text message ---------------------------------------------------------


def send_sign_up_code(*, uow: UnitOfWork, name: str, id_number: str) -> None:
    """Text a sign-up code to the phone on the record of this name and ID number. Nothing
    is sent, and nothing said, when there is no such record or it has no phone: the answer
    and the work are the same."""
    person = person_named(uow=uow, name=name, id_number=id_number)
    if person is None or not person.phone:
        _hasher.hash(f"{secrets.randbelow(10**6):06d}")  # the work of issuing a code
        return
    _send_code(uow, actor=PUBLIC, person_id=person.id, phone=person.phone, purpose="sign_up")


def deliver_sign_up_code(platform, *, name: str, id_number: str) -> None:
    """`send_sign_up_code` in its own transaction, after the door has answered (a background
    task): a failure is logged, never shown to the asker."""
    try:
        with platform.uow() as uow:
            send_sign_up_code(uow=uow, name=name, id_number=id_number)
            uow.commit()
    except Exception:  # noqa: BLE001 - the asker has had the one answer there is
        log.exception("a sign-up code could not be sent")


def send_code_to_holder(*, uow: UnitOfWork, actor: Actor, purpose: str) -> str:
    """Text a code for `purpose` to the phone on the logged-in holder's own record; returns
    the masked number it went to. NoPhoneOnFile when the record has none."""
    from yikatong.core.errors import Forbidden
    from yikatong.notices.rules import mask_phone
    from yikatong.people.service import get_person

    if actor.role != Role.HOLDER or actor.person_id is None:
        raise Forbidden(zh="只有持卡人本人可以办理", en="Only the holder may do this")
    phone = get_person(uow=uow, person_id=actor.person_id).phone
    if not phone:
        raise NoPhoneOnFile()
    _send_code(uow, actor=actor, person_id=actor.person_id, phone=phone, purpose=purpose)
    return mask_phone(phone)


def _send_code(uow: UnitOfWork, *, actor: Actor, person_id: int, phone: str, purpose: str) -> None:
    from yikatong.notices.rules import mask_phone
    from yikatong.notices.service import send_sms

    assert purpose in rules.CODE_PURPOSES, purpose
    now = uow.now()
    _close_open(uow, kind=SMS, purpose=purpose, person_id=person_id, reason="superseded")
    code = f"{secrets.randbelow(10**rules.SMS_CODE_DIGITS):0{rules.SMS_CODE_DIGITS}d}"
    row = BindingCode(kind=SMS, purpose=purpose, person_id=person_id,
                      code_hash=_hasher.hash(code), created_at=now, attempts=0,
                      expires_at=now + timedelta(minutes=rules.SMS_CODE_TTL_MINUTES))
    uow.session.add(row)
    uow.session.flush()
    send_sms(uow=uow, template=f"code_{purpose}", phone=phone, person_id=person_id,
             params={"code": code, "minutes": rules.SMS_CODE_TTL_MINUTES})
    uow.audit(actor=actor, action="auth.binding_code_sent", entity_type="binding_code",
              entity_id=row.id, after={"kind": SMS, "purpose": purpose, "person_id": person_id,
                                       "phone": mask_phone(phone)})


# --- activation codes handed over with the card ---------------------------------------------


def issue_activation_code(*, uow: UnitOfWork, actor: Actor, person_id: int, card_no: str | None) -> str:
    """A new activation code for the person's account sign-up (an earlier unused one stops
    working); returned once, as XXXX-XXXX-XXXX, for the hand-over slip."""
    now = uow.now()
    _close_open(uow, kind=ACTIVATION, purpose="sign_up", person_id=person_id, reason="superseded")
    code = "".join(secrets.choice(rules.ACTIVATION_ALPHABET) for _ in range(rules.ACTIVATION_CODE_LENGTH))
    row = BindingCode(kind=ACTIVATION, purpose="sign_up", person_id=person_id, card_no=card_no,
                      code_hash=_hasher.hash(code), created_at=now, attempts=0,
                      expires_at=now + timedelta(days=rules.ACTIVATION_CODE_TTL_DAYS))
    uow.session.add(row)
    uow.session.flush()
    uow.audit(actor=actor, action="auth.activation_code_issued", entity_type="binding_code",
              entity_id=row.id, after={"kind": ACTIVATION, "person_id": person_id, "card_no": card_no})
    return rules.group_activation_code(code)


# --- a real-name assertion proves one thing -------------------------------------------------


def spend_evidence(*, uow: UnitOfWork, evidence: str, purpose: str) -> None:
    """Record that this real-name assertion has been used, in the transaction of what it
    proves; BindingProofFailed when it was used before (for anything). A concurrent second use
    fails at commit on the primary key, so it never proves twice."""
    from yikatong.auth.models import SpentIdentityEvidence

    fingerprint = hashlib.sha256(evidence.encode()).hexdigest()
    if uow.session.get(SpentIdentityEvidence, fingerprint) is not None:
        raise BindingProofFailed()
    uow.session.add(SpentIdentityEvidence(fingerprint=fingerprint, purpose=purpose, spent_at=uow.now()))
    uow.session.flush()


# --- checking a code ------------------------------------------------------------------------


def prove_with_code(*, uow: UnitOfWork, actor: Actor, kind: str, purpose: str,
                    person_id: int | None, code: str) -> None:
    """Check `code` against the person's newest open code of this kind and purpose and use it
    up. Raises BindingProofFailed when there is no person, no open code, it expired, or it is
    wrong; a wrong code is counted and committed before the refusal (nothing else of the
    request stays), and the last allowed wrong try closes a texted code."""
    typed = rules.normalise_code(code) if kind == ACTIVATION else "".join((code or "").split())
    row = _open_code(uow, kind=kind, purpose=purpose, person_id=person_id) if person_id else None
    if row is None or as_utc(row.expires_at) <= as_utc(uow.now()):
        _matches(_decoy_hash(), typed)  # the same work as checking a real code
        raise BindingProofFailed()
    if not _matches(row.code_hash, typed):
        _count_failure(uow, actor, row.id)
    row.closed_at, row.closed_reason = uow.now(), "used"
    uow.session.flush()
    uow.audit(actor=actor, action="auth.binding_code_used", entity_type="binding_code",
              entity_id=row.id, after={"kind": kind, "purpose": purpose, "person_id": person_id})


def _count_failure(uow: UnitOfWork, actor: Actor, code_id: int) -> None:
    uow.session.rollback()  # nothing of the refused request stays, only the count
    row = uow.session.get(BindingCode, code_id)
    row.attempts += 1
    if row.kind == SMS and row.attempts >= rules.SMS_CODE_MAX_ATTEMPTS:
        row.closed_at, row.closed_reason = uow.now(), "attempts"
    uow.session.flush()
    uow.audit(actor=actor, action="auth.binding_code_failed", entity_type="binding_code",
              entity_id=row.id, after={"attempts": row.attempts, "closed": row.closed_at is not None})
    uow.commit()
    raise BindingProofFailed()


def _open_code(uow: UnitOfWork, *, kind: str, purpose: str, person_id: int) -> BindingCode | None:
    return uow.session.execute(
        select(BindingCode).where(BindingCode.kind == kind, BindingCode.purpose == purpose,
                                  BindingCode.person_id == person_id,
                                  BindingCode.closed_at.is_(None))
        .order_by(BindingCode.id.desc()).limit(1)).scalar_one_or_none()


def _close_open(uow: UnitOfWork, *, kind: str, purpose: str, person_id: int, reason: str) -> None:
    for row in uow.session.execute(select(BindingCode).where(
            BindingCode.kind == kind, BindingCode.purpose == purpose,
            BindingCode.person_id == person_id, BindingCode.closed_at.is_(None))).scalars():
        row.closed_at, row.closed_reason = uow.now(), reason

