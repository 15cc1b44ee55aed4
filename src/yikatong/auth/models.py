from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class User(Base):
    """A login: a cardholder, an operator at an outlet or bank, or a partner system."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    bank_code: Mapped[str | None] = mapped_column(String(16))
    branch_code: Mapped[str | None] = mapped_column(String(32))
    # An employer agent's employer (unified social credit code): the agent sees and
    # registers only that employer's employees (employers.employee_links).
    employer_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    person_id: Mapped[int | None] = mapped_column(index=True)
    # A holder's ID number once real-name authentication confirmed it; links the login to
    # the person record as soon as one exists (e.g. after a first online application).
    verified_ssn: Mapped[str | None] = mapped_column(String(20), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class AccessToken(Base):
    """A bearer token or a partner API key; only its SHA-256 is stored."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "bearer" | "session" | "api_key"
    label: Mapped[str | None] = mapped_column(String(64))
    # The last four characters of an API key, so a listing can tell keys apart without the secret.
    hint: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ThrottleCounter(Base):
    """One rate-limit window of auth/throttle.py: the hits counted under a key until the window
    ends. Kept in the database so every worker process counts against the same limit; the key
    names the rule and a hash of who is counted (a user name, an address, a credential), never
    the plain value."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    hits: Mapped[int]
    window_ends_at: Mapped[datetime]


class BindingCode(Base):
    """Proof that ties an account to a person: a one-time code texted to the phone on the
    person's record (kind "sms"), or an activation code handed over with the card (kind
    "activation"). Only an argon2 hash of the code is kept; a code works once."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))      # sms | activation
    purpose: Mapped[str] = mapped_column(String(24))   # sign_up | ecard_reset | phone_change
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    card_no: Mapped[str | None] = mapped_column(String(16))  # the card an activation code came with
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(16))  # used | superseded | attempts


class SpentIdentityEvidence(Base):
    """A real-name provider's assertion (its ID token) once it has bound an account or reset
    an e-card password: one assertion proves one thing, however long before its expiry it is
    shown again. Only a hash of the token is kept."""

    __tablename__ = "spent_identity_evidence"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    purpose: Mapped[str] = mapped_column(String(24))   # sign_up | ecard_reset
    spent_at: Mapped[datetime]

