"""The real-time link between the platform and the banks, both directions.

Bank → platform: every message of a bank's outbox is applied on the platform by
`apply_bank_message` — its event through `cards.service.apply_bank_event` (the only way the
financial copy changes, once per event id), and for a formal loss or unblock done at a branch
of the bank, the HR function as well (四.6(1): a branch covers both functions; the bank and
the card centre sync in real time). In-process the relay (`BankRelay`) carries the
messages; with NATS the bank's process publishes them and `BankStreamConsumers` apply them.

Platform → bank: the platform's outbox events for a bank reach `service.handle_platform_event`
on the bank side, through the in-process bus (`InProcessLink`) or the bank's own durable
JetStream consumer (`banking.node`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from yikatong.banking import service, transport
from yikatong.banking.models import BankOutboxMessage
from yikatong.banking.retries import with_retries
from yikatong.banking.runtime import ReferenceBank
from yikatong.cards import service as cards
from yikatong.cards.protocols import BankEventType
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import as_utc
from yikatong.core.errors import ConcurrentChange, DomainError
from yikatong.events.protocols import Event
from yikatong.observability.metrics import observe_bank_message

log = logging.getLogger(__name__)


def apply_bank_message(platform, message: Event) -> bool:
    """Apply one bank message on the platform in one transaction; False when it was applied
    before, or cannot apply at all (unknown card: logged, never retried forever).
    Raises on what a retry may fix (a concurrent change, the database away)."""
    try:
        decoded = transport.decode(message)
    except (KeyError, ValueError):
        log.error("dropping a message that is not a bank event: %s", message.event_id)
        return False
    return with_retries(lambda: _apply(platform, decoded))


def _apply(platform, decoded: transport.BankMessage) -> bool:
    with platform.uow() as uow:
        try:
            applied = cards.apply_bank_event(uow=uow, event=decoded.event)
        except ConcurrentChange:
            raise
        except DomainError as error:  # unknown card, another bank's or account: never fits
            log.error("bank event %s does not fit the platform's cards: %s",
                      decoded.event.event_id, error)
            return False
        if applied and decoded.hr_function:
            _apply_hr_side(uow, decoded)
        uow.commit()
    if applied:  # the bank-to-platform lag (observability.metrics)
        observe_bank_message(decoded.event.bank_code, decoded.event.occurred_at, uow.now())
    return applied


def _apply_hr_side(uow, message: transport.BankMessage) -> None:
    """The HR half of a loss or unblock the holder did at a branch of the bank."""
    event = message.event
    actor = Actor(user_id=f"bank:{event.bank_code}:{message.branch_code or 'branch'}",
                  role=Role.BANK, channel=Channel.BANK_BRANCH, bank_code=event.bank_code,
                  branch_code=message.branch_code)
    try:
        with uow.session.begin_nested():
            if event.type == BankEventType.FORMAL_LOSS:
                cards.report_loss(uow=uow, actor=actor, card_no=event.card_no, kind="formal",
                                  function="hr", reason_code="lost")
            elif event.type == BankEventType.UNBLOCKED:
                cards.unblock(uow=uow, actor=actor, card_no=event.card_no, function="hr")
    except ConcurrentChange:
        raise
    except DomainError as error:  # already lost, lost through another route, not in use …
        log.warning("HR side of bank event %s left unchanged: %s", event.event_id, error)


# How long an event the bank returned in a request's answer waits before the relay sends it:
# the platform applies it in the transaction that asked, and should commit that first.
ANSWER_GRACE_SECONDS = 1.0


class BankRelay:
    """In-process: carries the bank's outbox to the platform, in order per card."""

    def __init__(self, platform, bank: ReferenceBank,
                 grace_seconds: float = ANSWER_GRACE_SECONDS) -> None:
        self.platform = platform
        self.bank = bank
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()  # one relay at a time in this process

    def run(self, limit: int = 200) -> int:
        """Deliver what is waiting; returns how many messages went over."""
        with self._lock:
            # Read, then let go of the bank's database before touching the platform's: the
            # platform calls the bank from inside its transactions, never the other way.
            messages = unpublished_messages(self.bank, limit, self.grace_seconds)
            for message in messages:
                apply_bank_message(self.platform, message)
                mark_published(self.bank, [message.event_id])
            return len(messages)


def sendable(rows: Iterable[BankOutboxMessage], *, now: datetime,
             grace_seconds: float) -> list[BankOutboxMessage]:
    """The rows to send now, in outbox order. A card whose event was just returned in a
    request's answer waits (that event and the card's later ones) until the grace has passed,
    so the stream's copy does not race the asking transaction; other cards go on."""
    waiting: set[str] = set()
    ready = []
    for row in rows:
        answered = row.answered_at is not None and \
            now - as_utc(row.answered_at) < timedelta(seconds=grace_seconds)
        if row.card_no in waiting or answered:
            waiting.add(row.card_no)
            continue
        ready.append(row)
    return ready


def unpublished_messages(bank: ReferenceBank, limit: int,
                         grace_seconds: float = ANSWER_GRACE_SECONDS) -> list[Event]:
    return waiting_messages(bank, limit, grace_seconds)[0]


def waiting_messages(bank: ReferenceBank, limit: int,
                     grace_seconds: float = ANSWER_GRACE_SECONDS) -> tuple[list[Event], bool]:
    """The messages to send now, in order, and whether others wait out their grace."""
    query = (select(BankOutboxMessage).where(BankOutboxMessage.published_at.is_(None))
             .order_by(BankOutboxMessage.seq).limit(limit))
    if bank.bank_codes is not None:
        query = query.where(BankOutboxMessage.bank_code.in_(sorted(bank.bank_codes)))
    with bank.uow() as uow:
        rows = list(uow.session.execute(query).scalars())
        ready = sendable(rows, now=datetime.now(UTC), grace_seconds=grace_seconds)
        return [transport.message_of(row) for row in ready], len(ready) < len(rows)


def mark_published(bank: ReferenceBank, event_ids: list[str]) -> None:
    if not event_ids:
        return
    with bank.uow() as uow:
        uow.session.execute(update(BankOutboxMessage)
                            .where(BankOutboxMessage.event_id.in_(event_ids))
                            .values(published_at=uow.now()))
        uow.commit()


def bank_handler(bank: ReferenceBank):
    """A bus handler applying the platform's events to the bank, once each."""

    def apply(bank_code: str, event: Event) -> None:
        with bank.uow() as uow:
            if service.handle_platform_event(uow=uow, bank_code=bank_code, event=event):
                # Plain commit: this may run inside the platform's dispatcher transaction, so
                # the relay back to the platform waits for the worker.
                uow.commit()

    def handle(event: Event) -> None:
        if _for_the_bank(bank, event):
            with_retries(lambda: apply(event.partner, event))

    return handle


# How many of the platform's events the bank's consumer takes and applies in one transaction.
# One transaction per event drained a backlog at about 240 events/s (bench/bank_loss_sync.py).
BANK_BATCH = 200


def bank_batch_handler(bank: ReferenceBank):
    """A batch handler (events.nats) applying a fetched run of the platform's events to the
    bank in one transaction, each once. If it raises, nothing of the batch was committed and
    the consumer applies the events one by one with `bank_handler`, so one bad event costs
    the others nothing and none is applied twice."""

    def apply(events: list[tuple[str, Event]]) -> None:
        with bank.uow() as uow:
            service.handle_platform_events(uow=uow, events=events)
            uow.commit()

    def handle(events: list[Event]) -> None:
        mine = [(event.partner, event) for event in events if _for_the_bank(bank, event)]
        if mine:
            apply(mine)

    return handle


def bank_run_handler(bank: ReferenceBank):
    """`bank_batch_handler` for the in-process bus's runs (events.bus.InProcessBus.
    publish_run): a dispatch's events applied in one transaction at the bank, retried as
    `bank_handler` retries one; when it still fails, the bus applies them one by one with
    `bank_handler`. One loss or unblock emits two events for the bank (the action and
    `card.hr_status_changed`): one transaction, one claim and one load of the account, where
    two transactions each made their own."""
    batch = bank_batch_handler(bank)
    return lambda events: with_retries(lambda: batch(events))


def _for_the_bank(bank: ReferenceBank, event: Event) -> bool:
    return bool(event.partner) and event.type.startswith("card.") and bank.serves(event.partner)


class InProcessLink:
    """After a platform commit: subscribes the in-process bank to the in-process bus (on the
    first commit; the bus is registered after this package's wiring runs), and lets the relay
    send the bank events this commit applied."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self.subscribed = False

    def on_commit(self) -> None:
        if not reference_bank_in_use(self.platform):
            return
        from yikatong.cards.protocols import BankGateway
        from yikatong.events.protocols import EventBus

        if not self.subscribed:
            bank, bus = self.platform.get(ReferenceBank), self.platform.get(EventBus)
            if hasattr(bus, "subscribe_runs"):  # a dispatch's run in one transaction at the bank
                bus.subscribe_runs(bank_handler(bank), bank_run_handler(bank))
            else:
                bus.subscribe("*", bank_handler(bank))
            self.subscribed = True
        gateway = self.platform.get(BankGateway)
        if hasattr(gateway, "release_answered"):
            gateway.release_answered()


def reference_bank_in_use(platform) -> bool:
    """Whether the platform's BankGateway is this package's (the cards package registers a
    simpler default that knows nothing of these links)."""
    from yikatong.banking.gateway import ReferenceBankGateway
    from yikatong.banking.nats_gateway import NatsBankGateway
    from yikatong.cards.protocols import BankGateway

    return isinstance(platform.get(BankGateway), ReferenceBankGateway | NatsBankGateway)


# How long a consumer of the link (the platform's of each bank stream, the bank node's of the
# platform's events) may hold a fetched event unacked before the server hands it out again.
# A process killed while holding one stops its whole stream for this long (the events behind
# it wait: max_ack_pending), so it is kept short (it was the bus's 30 s default); a handler
# that outlives it costs at most a second delivery, which the inbox drops
# (tests/banking/test_broker_faults.py kills both sides' processes mid-stream).
ACK_WAIT_SECONDS = 5.0


class BankStreamConsumers:
    """NATS: the platform's durable consumers of the banks' messages, one per bank stream."""

    DURABLE = "platform"

    def __init__(self, platform, bus, bank_codes: Iterable[str], *, poll_seconds: float = 0.5) -> None:
        self.platform = platform
        self.bus = bus
        self.bank_codes = tuple(bank_codes)
        self.poll_seconds = poll_seconds
        self.subscriptions: dict[str, object] = {}

    def ensure_running(self) -> int:
        """Start the consumers not running yet; returns how many were started."""
        started = 0
        for code in self.bank_codes:
            if code in self.subscriptions:
                continue
            self.subscriptions[code] = self.bus.subscribe_partner(
                code, self.DURABLE, lambda message: apply_bank_message(self.platform, message),
                filter_subject=transport.bank_messages_filter(self.bus.namespace, code),
                poll_seconds=self.poll_seconds, ack_wait_seconds=ACK_WAIT_SECONDS)
            started += 1
        return started

    def stop(self) -> None:
        for subscription in self.subscriptions.values():
            subscription.stop()
        self.subscriptions.clear()
