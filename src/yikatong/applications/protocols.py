"""Seams to the outside world for applications.

- IdentityAuthenticator: the province's real-name authentication (实名认证) used before an
  online first application.
- PopulationRegistry: the base data and ID photo the system fetches after authentication.
- CardFactory: the card bureau that prints and personalises cards in batches, asynchronously.

In-repo reference implementations live in `reference.py` and are registered in `wiring.py`;
a deployment registers real ones with `platform.provide(Protocol, impl)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from yikatong.core.errors import DomainError


class IdentityServiceUnavailable(DomainError):
    """The authentication or population service cannot be reached or refused to answer."""

    code = "identity_service_unavailable"
    http_status = 503
    zh = "实名认证或人口信息服务暂不可用"
    en = "The real-name authentication or population service is unavailable"


class CardFactoryError(DomainError):
    """The factory refused or failed a request as a whole (transport, unknown batch)."""

    code = "card_factory_error"
    http_status = 502
    zh = "制卡厂返回错误：{reason}"
    en = "The card factory reported an error: {reason}"


class FactoryBatchUnknown(CardFactoryError):
    """The factory has no batch under that id (it lost it, or another instance took it): the
    platform submits the batch again under its reference (submitting is idempotent)."""

    code = "card_factory_batch_unknown"


@dataclass(frozen=True)
class RealNameResult:
    verified: bool
    reason: str | None = None  # why not, when not verified (shown to the applicant)


class IdentityAuthenticator(Protocol):
    def authenticate(self, *, name: str, id_number: str, evidence: str) -> RealNameResult:
        """Check that the person online is who they claim (face check, bank-card check, …).

        `evidence` is the opaque ticket the portal/app obtained from the authentication
        step. Returns verified=False with a reason when the check fails; raises
        IdentityServiceUnavailable when the service cannot answer.
        """
        ...


@dataclass(frozen=True)
class PopulationRecord:
    name: str
    id_number: str
    gender: str            # "M" / "F"
    birth_date: date
    nationality: str       # ISO 3166 alpha-3, "CHN" for citizens
    address: str | None
    photo_jpeg: bytes | None
    document_valid_until: date | None = None


class PopulationRegistry(Protocol):
    def lookup(self, *, id_number: str, name: str) -> PopulationRecord | None:
        """Base data and the ID photo of an authenticated person, or None if not on file.

        A record without a photo counts as "could not fetch" for the caller. Raises
        IdentityServiceUnavailable when the registry cannot answer.
        """
        ...


@dataclass(frozen=True)
class CardFace:
    """What the factory prints on side B (seed 一): top to bottom, left to right."""

    bank_code: str
    bank_name: str
    bank_hotline: str
    name: str
    ssn: str
    person_code: str
    issue_date: date
    issuing_seal: str
    hr_hotline: str
    photo_jpeg: bytes | None


@dataclass(frozen=True)
class CardOrder:
    application_id: int
    face: CardFace
    bin_prefixes: tuple[str, ...]   # the bank's (example) BINs for the account number


@dataclass(frozen=True)
class FactoryBatch:
    reference: str                  # our production batch reference, echoed back
    orders: tuple[CardOrder, ...]


@dataclass(frozen=True)
class ProducedCard:
    application_id: int
    card_no: str                    # 9 chars, ^[A-Z0-9]{9}$
    card_id_code: str               # 32 chars, ^\d{6}D156[0-9A-F]{22}$
    chip_serial: str
    asn: str                        # T-Union application serial, 20 BCD digits
    pan: str                        # UnionPay debit account number, Luhn-valid


@dataclass(frozen=True)
class FailedCard:
    application_id: int
    reason: str


@dataclass(frozen=True)
class FactoryResults:
    complete: bool                  # False: still printing, poll again later
    produced: tuple[ProducedCard, ...] = field(default_factory=tuple)
    failed: tuple[FailedCard, ...] = field(default_factory=tuple)


class CardFactory(Protocol):
    def submit_batch(self, batch: FactoryBatch) -> str:
        """Hand a batch of card orders to the factory; returns the factory's batch id.

        Submitting the same batch reference twice returns the same id (the factory dedupes),
        so a retry after a lost answer is safe. Raises CardFactoryError.
        """
        ...

    def results(self, factory_batch_id: str) -> FactoryResults:
        """The outcome so far. complete=False means poll again later; once complete every
        order appears exactly once, in `produced` or in `failed`. Raises FactoryBatchUnknown
        for an unknown batch id, CardFactoryError when the factory fails otherwise."""
        ...
