"""Signed webhooks to a real local HTTP receiver: back-off by the clock, order per card,
partner outages, signatures (HMAC-SM3, HMAC-SHA256, SM2) and their verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from gmssl import sm3 as gmssl_sm3
from sqlalchemy import text

from tests.events.helpers import emit
from yikatong.core.errors import InvalidInput
from yikatong.crypto import sm2
from yikatong.events.codec import encode_event
from yikatong.events.dispatcher import as_event
from yikatong.events.inbox import consume_once
from yikatong.events.models import OutboxEvent, WebhookDelivery
from yikatong.events.webhooks import (
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    InvalidWebhookSignature,
    WebhookScheme,
    backoff_delay,
    deliver_due_webhooks,
    pending_count,
    register_endpoint,
    sign_webhook,
    verify_webhook,
)

SECRET = bytes(range(32))
CARDS = ["6217000501", "6217000502", "6217000503"]


class Receiver:
    """A partner's HTTP endpoint on 127.0.0.1: verifies every request, applies each event
    id once, and answers 503 while `failing` says so (a callable of the event id)."""

    def __init__(self, clock, scheme=WebhookScheme.HMAC_SM3, key=SECRET, port=0) -> None:
        self.clock, self.scheme, self.key = clock, scheme, key
        self.failing = lambda event_id: False
        self.requests = 0
        self.applied: list[tuple[str, int]] = []
        self.applied_ids: set[str] = set()
        self.rejected_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                status = receiver.handle(dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ykt/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, headers, body) -> int:
        try:
            event = verify_webhook(headers, body, self.key, scheme=self.scheme, now=self.clock.now())
        except InvalidWebhookSignature:
            self.rejected_signatures += 1
            return 401
        if self.failing(event.event_id):
            return 503
        if event.event_id not in self.applied_ids:
            self.applied_ids.add(event.event_id)
            self.applied.append((event.aggregate_id, event.payload["n"]))
        return 204

    def per_card(self) -> dict[str, list[int]]:
        cards: dict[str, list[int]] = {}
        for card, number in self.applied:
            cards.setdefault(card, []).append(number)
        return cards

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(clock):
    partner = Receiver(clock)
    yield partner
    partner.stop()


def register(platform, url, scheme=WebhookScheme.HMAC_SM3, secret=SECRET, partner="ICBC") -> None:
    with platform.uow() as uow:
        register_endpoint(uow=uow, partner=partner, url=url, scheme=scheme, secret=secret)
        uow.commit()


def deliveries(platform) -> list[WebhookDelivery]:
    with platform.uow() as uow:
        return list(uow.session.query(WebhookDelivery).order_by(WebhookDelivery.event_seq))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- signatures (pure) -----------------------------------------------------------------------


def hmac_sm3_reference(key: bytes, message: bytes) -> bytes:
    """RFC 2104 over gmssl's pure-Python SM3 (64-byte blocks): an independent oracle."""
    def sm3(data: bytes) -> bytes:
        return bytes.fromhex(gmssl_sm3.sm3_hash(list(data)))

    key = key.ljust(64, b"\0")
    inner = sm3(bytes(b ^ 0x36 for b in key) + message)
    return sm3(bytes(b ^ 0x5C for b in key) + inner)


BODY = json.dumps({"event_id": "e-1", "seq": 1, "type": "card.lost", "aggregate_type": "card",
                   "aggregate_id": "6217000599", "partner": "ICBC",
                   "occurred_at": "2026-03-02T01:30:00+00:00", "payload": {"n": 0}}).encode()


@pytest.mark.parametrize("scheme", [WebhookScheme.HMAC_SM3, WebhookScheme.HMAC_SHA256])
def test_hmac_signatures_match_independent_implementations(scheme, clock):
    timestamp = int(clock.now().timestamp())
    headers = sign_webhook(scheme=scheme, key=SECRET, event_id="e-1", timestamp=timestamp, body=BODY)
    message = f"e-1.{timestamp}.".encode() + BODY
    expected = (hmac_sm3_reference(SECRET, message) if scheme is WebhookScheme.HMAC_SM3
                else hmac.new(SECRET, message, hashlib.sha256).digest())
    assert headers[HEADER_SIGNATURE] == f"{scheme.value}={expected.hex()}"
    assert verify_webhook(headers, BODY, SECRET, scheme=scheme, now=clock.now()).event_id == "e-1"


def test_sm2_signature_verifies_with_the_public_key_only(clock):
    private, public = sm2.generate_keypair()
    headers = sign_webhook(scheme="sm2", key=private, event_id="e-1",
                           timestamp=int(clock.now().timestamp()), body=BODY)
    assert verify_webhook(headers, BODY, public, scheme="sm2", now=clock.now()).aggregate_id == "6217000599"
    _, other_public = sm2.generate_keypair()
    with pytest.raises(InvalidWebhookSignature):
        verify_webhook(headers, BODY, other_public, scheme="sm2", now=clock.now())


@pytest.mark.parametrize("tamper", ["body", "event_id", "timestamp", "scheme", "stale", "missing"])
def test_tampered_requests_fail_verification(tamper, clock):
    timestamp = int(clock.now().timestamp())
    headers = sign_webhook(scheme="hmac-sm3", key=SECRET, event_id="e-1", timestamp=timestamp, body=BODY)
    body, now = BODY, clock.now()
    if tamper == "body":
        body = BODY.replace(b'"n": 0', b'"n": 1')
    elif tamper == "event_id":
        headers["X-Ykt-Event-Id"] = "e-2"
    elif tamper == "timestamp":
        headers[HEADER_TIMESTAMP] = str(timestamp + 1)
    elif tamper == "scheme":  # a request may not pick HMAC-SHA256 over the agreed scheme
        headers = sign_webhook(scheme="hmac-sha256", key=SECRET, event_id="e-1",
                               timestamp=timestamp, body=BODY)
    elif tamper == "stale":
        now = clock.now() + timedelta(minutes=6)
    else:
        del headers[HEADER_SIGNATURE]
    with pytest.raises(InvalidWebhookSignature) as refused:
        verify_webhook(headers, body, SECRET, scheme="hmac-sm3", now=now)
    assert SECRET.hex() not in str(refused.value)


def test_verification_ignores_header_case(clock):
    headers = sign_webhook(scheme="hmac-sha256", key=SECRET, event_id="e-1",
                           timestamp=int(clock.now().timestamp()), body=BODY)
    lowered = {name.lower(): value for name, value in headers.items()}
    assert verify_webhook(lowered, BODY, SECRET, scheme="hmac-sha256", now=clock.now())


@pytest.mark.parametrize(("attempts", "nominal"), [(1, 1), (2, 2), (3, 4), (6, 32), (10, 512), (11, 600), (40, 600)])
def test_backoff_doubles_with_bounded_jitter_and_a_cap(attempts, nominal):
    low, high = backoff_delay(attempts, 0.0), backoff_delay(attempts, 0.999)
    assert low == timedelta(seconds=nominal)
    assert timedelta(seconds=nominal) <= high <= min(timedelta(minutes=10), timedelta(seconds=nominal * 1.2))


# -- delivery against a local receiver -------------------------------------------------------


@pytest.mark.db
def test_only_partners_with_an_endpoint_get_deliveries(platform, receiver):
    register(platform, receiver.url)
    emit(platform, [("card.lost", CARDS[0], "ICBC"), ("card.lost", CARDS[0], "BOC"),
                    ("card.lost", CARDS[0], None)])
    assert [(d.partner, d.aggregate_id) for d in deliveries(platform)] == [("ICBC", CARDS[0])]


@pytest.mark.db
def test_receiver_failing_then_recovering_gets_all_in_order_on_the_clock(platform, receiver, clock):
    register(platform, receiver.url)
    changes = [("card.status_changed", CARDS[i % 3], "ICBC") for i in range(12)]
    emit(platform, changes)
    receiver.failing = lambda event_id: True

    rng = random.Random(7)
    assert deliver_due_webhooks(platform, rng=rng) == 0
    assert receiver.requests == 3  # the head of each card, nothing behind them
    heads = [d for d in deliveries(platform) if d.attempts]
    assert len(heads) == 3 and all(d.last_error == "HTTP 503" for d in heads)

    for attempt in (1, 2, 3):  # each wait follows 1 s, 2 s, 4 s (+ ≤ 20 %) on the platform clock
        heads = [d for d in deliveries(platform) if d.attempts]
        nominal = timedelta(seconds=2 ** (attempt - 1))
        for head in heads:
            assert head.attempts == attempt
            assert nominal <= head.next_attempt_at - clock.now() <= nominal * 1.2
        clock.advance(nominal * 0.99)
        before = receiver.requests
        deliver_due_webhooks(platform, rng=rng)
        assert receiver.requests == before, "nothing is retried before its time"
        clock.advance(nominal * 0.25)
        if attempt == 3:  # the partner is back: the three heads go, then everything behind them
            receiver.failing = lambda event_id: False
        deliver_due_webhooks(platform, rng=rng)
        assert receiver.requests == before + (3 if attempt < 3 else 12)

    assert pending_count_of(platform) == 0
    expected = {card: [n for n, (_, c, _) in enumerate(changes) if c == card] for card in CARDS}
    assert receiver.per_card() == expected
    assert receiver.rejected_signatures == 0


def pending_count_of(platform) -> int:
    with platform.uow() as uow:
        return pending_count(uow, "ICBC")


@pytest.mark.db
def test_a_failing_event_blocks_its_card_only(platform, receiver, clock):
    register(platform, receiver.url)
    changes = [("card.status_changed", CARDS[i % 2], "ICBC") for i in range(8)]
    ids = emit(platform, changes)
    poisoned = ids[2]  # the second event of CARDS[0]
    receiver.failing = lambda event_id: event_id == poisoned

    deliver_due_webhooks(platform, rng=random.Random(1))
    assert receiver.per_card() == {CARDS[0]: [0], CARDS[1]: [1, 3, 5, 7]}

    receiver.failing = lambda event_id: False
    clock.advance(seconds=2)
    assert deliver_due_webhooks(platform, rng=random.Random(1)) == 3
    assert receiver.per_card() == {CARDS[0]: [0, 2, 4, 6], CARDS[1]: [1, 3, 5, 7]}


@pytest.mark.db
def test_an_unreachable_partner_is_tried_once_per_run_and_catches_up_later(platform, clock):
    port = free_port()
    register(platform, f"http://127.0.0.1:{port}/ykt/events")
    changes = [("card.status_changed", CARDS[i % 3], "ICBC") for i in range(9)]
    emit(platform, changes)

    for _ in range(3):  # the bank is down: one connection attempt per run, not one per card
        assert deliver_due_webhooks(platform, rng=random.Random(3)) == 0
        clock.advance(minutes=15)
    tried = [d for d in deliveries(platform) if d.attempts]
    assert sum(d.attempts for d in tried) == 3
    assert all(d.last_error.startswith("unreachable") for d in tried)

    bank = Receiver(clock, port=port)  # back after 45 minutes
    try:
        clock.advance(minutes=15)
        assert deliver_due_webhooks(platform, rng=random.Random(3)) == 9
        expected = {card: [n for n, (_, c, _) in enumerate(changes) if c == card] for card in CARDS}
        assert bank.per_card() == expected
    finally:
        bank.stop()


@pytest.mark.db
def test_sm2_webhooks_reach_a_partner_holding_the_public_key(platform, clock):
    private, public = sm2.generate_keypair()
    bank = Receiver(clock, scheme=WebhookScheme.SM2, key=public)
    try:
        register(platform, bank.url, scheme=WebhookScheme.SM2, secret=private)
        emit(platform, [("card.lost", CARDS[0], "ICBC"), ("card.unblocked", CARDS[0], "ICBC")])
        assert deliver_due_webhooks(platform) == 2
        assert bank.applied == [(CARDS[0], 0), (CARDS[0], 1)] and bank.rejected_signatures == 0
    finally:
        bank.stop()


@pytest.mark.db
def test_receiver_side_inbox_applies_a_redelivered_webhook_once(platform, clock):
    """A receiver that uses the platform's own inbox (as the reference bank does)."""
    emit(platform, [("card.lost", CARDS[0], "ICBC")])
    with platform.uow() as uow:
        event = as_event(uow.session.query(OutboxEvent).one())
    body = encode_event(event)
    headers = sign_webhook(scheme="hmac-sm3", key=SECRET, event_id=event.event_id,
                           timestamp=int(clock.now().timestamp()), body=body)
    applied = []
    for _ in range(2):
        received = verify_webhook(headers, body, SECRET, scheme="hmac-sm3", now=clock.now())
        with platform.uow() as uow:
            consume_once(uow, "bank:ICBC:webhook", received, lambda _uow, e: applied.append(e.event_id))
            uow.commit()
    assert applied == [event.event_id]


def test_register_endpoint_refuses_bad_input(platform):
    with platform.uow() as uow:
        for url, scheme, secret in [("ftp://bank", "hmac-sm3", SECRET), ("http://bank", "rsa", SECRET),
                                    ("http://bank", "hmac-sm3", b"short"), ("http://bank", "sm2", b"\0" * 32)]:
            with pytest.raises(InvalidInput) as refused:
                register_endpoint(uow=uow, partner="ICBC", url=url, scheme=scheme, secret=secret)
            assert secret.hex() not in str(refused.value)


@pytest.mark.db
def test_the_webhook_secret_is_in_no_repr(platform, receiver):
    from yikatong.events.models import WebhookEndpoint
    from yikatong.events.webhooks import _claim_heads

    register(platform, receiver.url)
    emit(platform, [("card.lost", CARDS[0], "ICBC")])
    (attempt,) = _claim_heads(platform, 10, set())
    with platform.uow() as uow:
        (endpoint,) = uow.session.query(WebhookEndpoint)
        shown = repr(attempt) + repr(endpoint)
    assert attempt.key == SECRET and SECRET.hex() not in shown and repr(SECRET) not in shown



@pytest.mark.db
@pytest.mark.parametrize(("scheme", "secret"), [(WebhookScheme.HMAC_SM3, SECRET),
                                                (WebhookScheme.SM2, sm2.generate_keypair()[0])])
def test_the_stored_secret_is_sealed_under_the_kek(platform, clock, scheme, secret):
    """The database row holds no form of the secret (hex, base64), yet delivery still signs
    with it: the receiver verifies with the secret (or the SM2 public key)."""
    key = sm2.public_key_of(secret) if scheme is WebhookScheme.SM2 else secret
    receiver = Receiver(clock, scheme=scheme, key=key)
    try:
        register(platform, receiver.url, scheme=scheme, secret=secret)
        with platform.engine.connect() as connection:
            [row] = connection.execute(text("SELECT * FROM webhook_endpoints")).mappings().all()
        stored = " ".join(str(value) for value in row.values())
        for form in (secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
                     base64.urlsafe_b64encode(secret).decode().rstrip("=")):
            assert form not in stored
        assert "secret_hex" not in row and row["secret_sealed"].startswith("sm4gcm1:")
        emit(platform, [("card.lost", CARDS[0], "ICBC")])
        assert deliver_due_webhooks(platform) == 1
        assert receiver.applied and receiver.rejected_signatures == 0
    finally:
        receiver.stop()
