"""Tables of the transit wallet's back office: top-up orders, what the platform last saw of each
card's wallet, wallet refunds (退值), the versioned deny list, card-contact sessions, and the
reference acquirer's own payments.

Nothing here holds a key, a MAC2 or a full payer account. The wallet balance itself lives on
the chip; `TransitWallet` is only the platform's last reading of it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class TopUpOrder(Base):
    """One top-up (圈存): created → paid → pending_write → done, or refunding → refunded, or
    failed (see rules.OrderState). The write fields describe the last load attempt: the card's
    online counter and balance at its INITIALIZE FOR LOAD, the card's random (it identifies the
    attempt; it is not secret) and the date-time MACed into MAC2. `version` makes two writers
    of one order (a card contact and the refund job) exclude each other."""

    __tablename__ = "transit_top_up_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    asn: Mapped[str] = mapped_column(String(20), index=True)
    issuer_id: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16))  # citizen_outlet | self_service | nfc
    outlet_code: Mapped[str | None] = mapped_column(String(32))
    payer_kind: Mapped[str] = mapped_column(String(16))
    payer_reference: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    balance_read: Mapped[int] = mapped_column(BigInteger)  # the reading the cap was checked on
    acquirer: Mapped[str | None] = mapped_column(String(32))
    payment_reference: Mapped[str | None] = mapped_column(String(64))
    expected_counter: Mapped[int | None]  # online counter of the last INITIALIZE FOR LOAD
    write_old_balance: Mapped[int | None] = mapped_column(BigInteger)
    write_random: Mapped[str | None] = mapped_column(String(8))
    write_terminal_id: Mapped[str | None] = mapped_column(String(12))
    write_at: Mapped[datetime | None]  # the date-time of the last MAC2
    write_attempts: Mapped[int] = mapped_column(default=0)
    load_key_version: Mapped[int | None]
    load_alg_id: Mapped[int | None]
    tac: Mapped[str | None] = mapped_column(String(8))
    tac_verified: Mapped[bool | None]
    recovered: Mapped[bool] = mapped_column(default=False)  # confirmed at a later contact
    needs_review: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(64))  # login name, for display
    created_by_user_id: Mapped[int | None]  # the owner (users.id; None for system actors)
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class TransitWallet(Base):
    """What the platform last saw of one card's wallet (by ASN), and whether it is closed.

    Updated at every contact on any channel; `last_balance` is the shadow of last resort for a
    card that can no longer be read."""

    __tablename__ = "transit_wallets"

    id: Mapped[int] = mapped_column(primary_key=True)
    asn: Mapped[str] = mapped_column(String(20), unique=True)
    issuer_id: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # open | closed
    last_balance: Mapped[int | None] = mapped_column(BigInteger)
    last_online_counter: Mapped[int | None]
    last_offline_counter: Mapped[int | None]
    last_seen_at: Mapped[datetime | None]
    last_seen_channel: Mapped[str | None] = mapped_column(String(16))
    # The expiry the card's file 0015 gave at the last contact: validators refuse the card after
    # it, so no top-up is taken for it then (the debit's end is not this date: seed 二.2).
    expires_on: Mapped[date | None]
    # The last rewrite of the rider category in the card's file 0017 (riders.py): from, to, the
    # card's challenge that identifies the attempt, and its state (sent | done | refused |
    # reset), with how often the card refused that target and its last status word. Kept after
    # it is done, so a relayed contact replaying that exchange is recognised.
    rider_rewrite: Mapped[dict | None]
    # Set when the card refused the rewrite often enough that contacts stop trying (riders.py):
    # what staff list, until a grant, a revocation or a staff reset clears it.
    rider_refused_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class GrantState:
    ACTIVE = "active"  # not revoked (past valid_until it shows as expired, until replaced)
    REVOKED = "revoked"
    EXPIRED = "expired"  # closed to make room for the next school year's grant


class RiderGrant(Base):
    """A rider category set against a proof (grants.py): a citizen-card outlet saw the person's
    student status certificate or disability certificate. Valid from `valid_from` to
    `valid_until` (inclusive; none: until revoked) while active; revoked with a reason.

    `active_key` is "person_id:category" while the grant is active and NULL once revoked or
    expired, so the database itself keeps one active grant per person and category. The proof
    reference is personal data: only grants.py reads it, and every view of it is masked."""

    __tablename__ = "transit_rider_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(index=True)
    category: Mapped[str] = mapped_column(String(16))
    proof_kind: Mapped[str] = mapped_column(String(32))
    proof_reference: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    state: Mapped[str] = mapped_column(String(16))  # active | revoked | expired
    active_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    granted_by: Mapped[str] = mapped_column(String(64))
    outlet_code: Mapped[str | None] = mapped_column(String(32))
    granted_at: Mapped[datetime]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class WalletRefund(Base):
    """A refund of a wallet before a card exchange (退值, 四.13): read from the card at a
    directly-run outlet (kind card_read: closing → refunded), or for a card that cannot be read
    (kind unreadable: waiting → refunded from the shadow balance after the wait)."""

    __tablename__ = "transit_wallet_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    asn: Mapped[str] = mapped_column(String(20), unique=True)
    card_no: Mapped[str] = mapped_column(String(9), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # card_read | unreadable
    state: Mapped[str] = mapped_column(String(16), index=True)  # closing | waiting | refunded
    amount: Mapped[int | None] = mapped_column(BigInteger)
    balance_source: Mapped[str | None] = mapped_column(String(16))  # card | shadow | last_known
    offline_counter: Mapped[int | None]
    outlet_code: Mapped[str | None] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class DenyListHead(Base):
    """The deny list's current version: one row, locked by every change so versions are given
    out (and committed) in order and a validator asking `since=v` never misses a change."""

    __tablename__ = "transit_deny_list_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class DenyListChange(Base):
    __tablename__ = "transit_deny_list_changes"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    asn: Mapped[str] = mapped_column(String(20), index=True)
    action: Mapped[str] = mapped_column(String(8))  # add | remove
    reason: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]


class DenyListEntry(Base):
    """A card whose wallet validators must refuse (refunded, unreadable-refunded, TAC failed)."""

    __tablename__ = "transit_deny_list"

    asn: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(BigInteger)
    listed_at: Mapped[datetime]


class CardContactSession(Base):
    """A server-driven APDU exchange with a card held to a phone or a terminal (contact.py).

    `exchanges` is the transcript so far: [command hex, response hex or null when the card
    left]; `awaiting` is the command the device was asked to send and has not answered yet."""

    __tablename__ = "transit_contact_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # read | top_up | refund
    subject: Mapped[str | None] = mapped_column(String(32))  # order_no or card_no
    actor_user: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[int | None]  # the owner (users.id; None for system actors)
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_channel: Mapped[str] = mapped_column(String(32))
    actor_branch: Mapped[str | None] = mapped_column(String(32))
    actor_person: Mapped[int | None]
    started_at: Mapped[datetime]  # also the card date-time of any transaction in the session
    exchanges: Mapped[list] = mapped_column(default=list)
    awaiting: Mapped[str | None] = mapped_column(String(600))
    state: Mapped[str] = mapped_column(String(16))  # awaiting_card | done | failed
    result: Mapped[dict | None]
    problem: Mapped[dict | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class ReferencePayment(Base):
    """The in-repo reference acquirer's own book of payments (a real acquirer keeps its own)."""

    __tablename__ = "transit_reference_payments"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(String(40))
    payer_kind: Mapped[str] = mapped_column(String(16))
    payer_reference: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
