"""Signed webhooks for partners that speak HTTP instead of NATS.

Sending side: when the dispatcher publishes an outbox event for a partner that has an
endpoint, it enqueues a `WebhookDelivery` in the same transaction (`enqueue_deliveries`).
`deliver_due_webhooks` (a worker job) POSTs the event's wire JSON, oldest first, with
three headers:

    X-Ykt-Event-Id:  the event id (the receiver's idempotency key)
    X-Ykt-Timestamp: Unix seconds when this attempt was signed
    X-Ykt-Signature: <scheme>=<hex>, over  event_id "." timestamp "." body

Schemes: `hmac-sm3` and `hmac-sha256` with a key shared per partner, and `sm2` (GB/T 32918
signature with the default user ID, raw r‖s) by a platform key per partner whose public key
the partner holds. A failed attempt is retried after 1 s, 2 s, 4 s … capped at 10 minutes,
plus up to 20 % jitter, by the platform Clock. Per partner and card (aggregate) only the
oldest undelivered event is ever sent, so a failing event holds back later events of the
same card and nothing else. A partner that refuses connections is not tried again within
the same run. Delivery is at least once (a worker that dies mid-request retries after its
lease): receivers apply each X-Ykt-Event-Id once (events.inbox).

Receiving side: `verify_webhook(headers, body, key, scheme=...)` checks the signature and
the timestamp window and returns the Event.
"""

from __future__ import annotations

import hmac
import logging
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from yikatong.core.clock import SystemClock, as_utc
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.crypto import sm2
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import UnitOfWork
from yikatong.events.codec import as_event, decode_event, encode_event
from yikatong.events.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from yikatong.events.protocols import Event

log = logging.getLogger(__name__)

HEADER_EVENT_ID = "X-Ykt-Event-Id"
HEADER_TIMESTAMP = "X-Ykt-Timestamp"
HEADER_SIGNATURE = "X-Ykt-Signature"

BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_CAP = timedelta(minutes=10)
BACKOFF_JITTER = 0.2
CLAIM_LEASE = timedelta(seconds=60)
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookScheme(StrEnum):
    HMAC_SM3 = "hmac-sm3"
    HMAC_SHA256 = "hmac-sha256"
    SM2 = "sm2"


class InvalidWebhookSignature(DomainError):
    code = "webhook_signature_invalid"
    http_status = 401
    zh = "回调签名无效：{reason_zh}"
    en = "Invalid webhook signature: {reason_en}"


# -- signing (pure) --------------------------------------------------------------------------


def signed_message(event_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{event_id}.{timestamp}.".encode() + body


def _hmac(scheme: WebhookScheme, key: bytes, message: bytes) -> bytes:
    algorithm = hashes.SM3() if scheme is WebhookScheme.HMAC_SM3 else hashes.SHA256()
    mac = crypto_hmac.HMAC(key, algorithm)
    mac.update(message)
    return mac.finalize()


def sign_webhook(
    *, scheme: WebhookScheme | str, key: bytes, event_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three signature headers for one attempt. `key`: HMAC secret or SM2 private key."""
    scheme = WebhookScheme(scheme)
    message = signed_message(event_id, timestamp, body)
    if scheme is WebhookScheme.SM2:
        signature = sm2.Sm2Signer(key).sign(message)
    else:
        signature = _hmac(scheme, key, message)
    return {
        HEADER_EVENT_ID: event_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: f"{scheme.value}={signature.hex()}",
    }


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    key: bytes | str,
    *,
    scheme: WebhookScheme | str,
    now: datetime | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> Event:
    """The Event in a webhook request, after checking its signature; else InvalidWebhookSignature.

    `key` is the shared HMAC secret, or for `sm2` the platform's public key for this
    partner. `scheme` is the one agreed with the platform, never taken from the request (a
    request must not choose HMAC keyed with a public key). `now` defaults to the system
    clock (a receiver outside the platform has no other); the timestamp must be within
    `tolerance_seconds` of it.
    """
    scheme = WebhookScheme(scheme)
    lowered = {name.lower(): value for name, value in headers.items()}
    event_id = lowered.get(HEADER_EVENT_ID.lower())
    timestamp_text = lowered.get(HEADER_TIMESTAMP.lower())
    signature_text = lowered.get(HEADER_SIGNATURE.lower())
    if not (event_id and timestamp_text and signature_text):
        raise _invalid("缺少签名头", "signature headers missing")
    named_scheme, _, signature_hex = signature_text.partition("=")
    if named_scheme != scheme.value:
        raise _invalid("签名算法不符", "unexpected signature scheme")
    try:
        timestamp = int(timestamp_text)
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise _invalid("签名头格式错误", "malformed signature headers") from None
    current = int(as_utc(now or SystemClock().now()).timestamp())
    if abs(current - timestamp) > tolerance_seconds:
        raise _invalid("时间戳超出允许范围", "timestamp outside the allowed window")
    message = signed_message(event_id, timestamp, body)
    if scheme is WebhookScheme.SM2:
        genuine = sm2.Sm2Verifier(key).verify(message, signature)
    else:
        secret = key.encode() if isinstance(key, str) else key
        genuine = hmac.compare_digest(_hmac(scheme, secret, message), signature)
    if not genuine:
        raise _invalid("签名不匹配", "signature does not match")
    try:
        event = decode_event(body)
    except (ValueError, KeyError, TypeError):
        raise _invalid("正文不是事件", "body is not an event") from None
    if event.event_id != event_id:
        raise _invalid("事件编号不符", "event id does not match the header")
    return event


def _invalid(reason_zh: str, reason_en: str) -> InvalidWebhookSignature:
    return InvalidWebhookSignature(reason_zh=reason_zh, reason_en=reason_en)


def backoff_delay(attempts: int, jitter: float) -> timedelta:
    """The wait after the `attempts`-th failure: 1 s · 2^(attempts-1), plus `jitter`·20 %
    (jitter in [0, 1)), never more than 10 minutes."""
    nominal = BACKOFF_BASE * 2 ** min(attempts - 1, 30)
    return min(BACKOFF_CAP, nominal * (1 + BACKOFF_JITTER * jitter))


# -- endpoints and the queue -----------------------------------------------------------------


def register_endpoint(
    *, uow: UnitOfWork, partner: str, url: str, scheme: WebhookScheme | str, secret: bytes
) -> WebhookEndpoint:
    """Create or replace a partner's endpoint (the caller audits and commits). Events
    published from now on are delivered to it. The secret is stored sealed under the key
    store's KEK (KeyStore.seal), never as it is."""
    try:
        scheme = WebhookScheme(scheme)
    except ValueError:
        raise InvalidInput(reason_zh="不支持的签名算法", reason_en="unsupported signature scheme") from None
    if not url.startswith(("https://", "http://")):
        raise InvalidInput(reason_zh="回调地址须为 HTTP(S)", reason_en="the URL must be HTTP(S)")
    if scheme is WebhookScheme.SM2:
        sm2.public_key_of(secret)  # raises InvalidSm2Key (without key bytes) when unusable
    elif not 16 <= len(secret) <= 100:
        raise InvalidInput(reason_zh="HMAC 密钥须为 16 至 100 字节", reason_en="HMAC key must be 16 to 100 bytes")
    endpoint = uow.session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.partner == partner)
    ).scalar_one_or_none()
    if endpoint is None:
        endpoint = WebhookEndpoint(partner=partner, created_at=uow.now())
        uow.session.add(endpoint)
    sealed = uow.get(KeyStore).seal(secret, context=secret_context(partner))
    endpoint.url, endpoint.scheme, endpoint.secret_sealed, endpoint.enabled = url, scheme.value, sealed, True
    return endpoint


def secret_context(partner: str) -> str:
    """What a partner's sealed secret is bound to (crypto.sealing): its own row only."""
    return f"webhook_endpoints.secret:{partner}"


def enqueue_deliveries(uow: UnitOfWork, rows: Sequence[OutboxEvent | Event],
                       with_endpoint: Collection[str] | None = None) -> int:
    """Queue a delivery for each published row whose partner has an endpoint (enabled or
    not: a disabled endpoint gets its backlog when re-enabled). Called by the dispatcher in
    the transaction that marks the rows published; `with_endpoint`, when given, names the
    partners with an endpoint as that transaction found them (the dispatcher asks in the
    marking statement itself), so they are not looked up again."""
    partners = {row.partner for row in rows if row.partner}
    if not partners:
        return 0
    if with_endpoint is None:
        with_endpoint = set(uow.session.execute(
            select(WebhookEndpoint.partner).where(WebhookEndpoint.partner.in_(partners))
        ).scalars())
    now = uow.now()
    queued = [
        WebhookDelivery(
            partner=row.partner, event_seq=row.seq, event_id=row.event_id,
            aggregate_id=row.aggregate_id, attempts=0, next_attempt_at=now, created_at=now,
        )
        for row in rows if row.partner in with_endpoint
    ]
    uow.session.add_all(queued)
    return len(queued)


# -- delivery --------------------------------------------------------------------------------


_RELEASED = "released untried"  # an outcome: the partner went unreachable earlier in the run


@dataclass(frozen=True)
class _Attempt:
    delivery_id: int
    partner: str
    url: str
    scheme: WebhookScheme
    key: bytes = field(repr=False)  # HMAC secret or SM2 private key
    event_id: str
    body: bytes


def deliver_due_webhooks(
    platform,
    *,
    client: httpx.Client | None = None,
    rng: random.Random | None = None,
    limit: int = 200,
) -> int:
    """Send due webhooks (at most `limit` attempts); returns how many were delivered."""
    rng = rng or random.Random()
    own_client = client is None
    client = client or httpx.Client(timeout=10.0)
    delivered = tried = 0
    unreachable: set[str] = set()
    try:
        while tried < limit:
            attempts = _claim_heads(platform, limit - tried, unreachable)
            if not attempts:
                break
            outcomes: list[tuple[_Attempt, str | None]] = []
            for attempt in attempts:
                if attempt.partner in unreachable:
                    outcomes.append((attempt, _RELEASED))
                    continue
                tried += 1
                error, reachable = _post(client, attempt, platform.clock.now())
                if not reachable:
                    unreachable.add(attempt.partner)
                outcomes.append((attempt, error))
                delivered += error is None
            _record(platform, outcomes, rng)
    finally:
        if own_client:
            client.close()
    return delivered


def _claim_heads(platform, limit: int, unreachable: set[str]) -> list[_Attempt]:
    """Lease the due, oldest-undelivered delivery of each (partner, card) and build requests."""
    delivery, earlier = WebhookDelivery, aliased(WebhookDelivery)
    earlier_pending = exists().where(
        earlier.partner == delivery.partner, earlier.aggregate_id == delivery.aggregate_id,
        earlier.delivered_at.is_(None), earlier.event_seq < delivery.event_seq,
    )
    keys = platform.get(KeyStore)
    with platform.uow() as uow:
        now = uow.now()
        endpoints = {
            e.partner: e for e in uow.session.execute(
                select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
            ).scalars()
        }
        usable = set(endpoints) - unreachable
        if not usable:
            return []
        heads = uow.session.execute(
            select(delivery, OutboxEvent)
            .join(OutboxEvent, OutboxEvent.seq == delivery.event_seq)
            .where(delivery.delivered_at.is_(None), delivery.next_attempt_at <= now,
                   delivery.partner.in_(usable), ~earlier_pending)
            .order_by(delivery.event_seq).limit(limit)
            .with_for_update(skip_locked=True, of=delivery)
        ).all()
        attempts = []
        for head, row in heads:
            endpoint = endpoints[head.partner]
            head.next_attempt_at = now + CLAIM_LEASE
            attempts.append(_Attempt(
                delivery_id=head.id, partner=head.partner, url=endpoint.url,
                scheme=WebhookScheme(endpoint.scheme),
                key=keys.unseal(endpoint.secret_sealed, context=secret_context(endpoint.partner)),
                event_id=head.event_id, body=encode_event(as_event(row)),
            ))
        uow.commit()
    return attempts


def _post(client: httpx.Client, attempt: _Attempt, now: datetime) -> tuple[str | None, bool]:
    """(None when the partner accepted the event (2xx), else a short error for the record;
    whether the partner could be reached at all)."""
    headers = sign_webhook(
        scheme=attempt.scheme, key=attempt.key, event_id=attempt.event_id,
        timestamp=int(as_utc(now).timestamp()), body=attempt.body,
    )
    headers["Content-Type"] = "application/json"
    try:
        response = client.post(attempt.url, content=attempt.body, headers=headers)
    except httpx.TransportError as error:
        log.warning("webhook to %s unreachable: %s", attempt.partner, type(error).__name__)
        return f"unreachable: {type(error).__name__}: {error}"[:300], False
    if response.is_success:
        return None, True
    log.warning("webhook to %s refused event %s: HTTP %d", attempt.partner, attempt.event_id,
                response.status_code)
    return f"HTTP {response.status_code}", True


def _record(platform, outcomes: list[tuple[_Attempt, str | None]], rng: random.Random) -> None:
    with platform.uow() as uow:
        now = uow.now()
        for attempt, error in outcomes:
            row = uow.session.get(WebhookDelivery, attempt.delivery_id)
            if error is _RELEASED:  # not tried: due again at once, no attempt counted
                row.next_attempt_at = now
            elif error is None:
                row.attempts += 1
                row.delivered_at = now
                row.last_error = None
            else:
                row.attempts += 1
                row.last_error = error
                row.next_attempt_at = now + backoff_delay(row.attempts, rng.random())
        uow.commit()


def pending_count(uow: UnitOfWork, partner: str | None = None) -> int:
    """Undelivered webhooks (for a partner), for monitoring."""
    query = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.delivered_at.is_(None))
    if partner:
        query = query.where(WebhookDelivery.partner == partner)
    return uow.session.execute(query).scalar_one()


__all__ = [
    "HEADER_EVENT_ID", "HEADER_SIGNATURE", "HEADER_TIMESTAMP", "InvalidWebhookSignature",
    "WebhookScheme", "backoff_delay", "deliver_due_webhooks", "enqueue_deliveries",
    "pending_count", "register_endpoint", "sign_webhook", "signed_message", "verify_webhook",
]
