"""A stream of formal losses, unblocks and top-ups flowing both ways between the platform and
the bank over NATS, and the check that every event arrived once, in each card's order, for the
broker fault tests (tests/banking/test_broker_faults.py).

Platform → bank: holders report their cards lost online and unblock them (the platform's
outbox → the bank's stream → the bank's durable consumer; the bank answers with its
protective loss and its lifts). Bank → platform: other holders do the same at a branch of the
bank (the bank's outbox → the same stream → the platform's durable consumer, which puts the
HR side on too, and that goes back to the bank). Top-ups: every card's transit wallet is
topped up at a counter (read, paid, written to the emulated chip) each round; their events
(`transit.top_up_paid`, `transit.top_up_done`) go to the platform's own stream, which a
partner reads with a durable consumer applying each event once through the platform's inbox
(events.inbox.once_handler, as docs/partner-events.md asks of partners). A change refused
because the broker or the bank is away for a moment is pressed again, as a holder or a teller
would.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from tests.banking.helpers import act, cards_view, chip_for, holder, teller
from tests.banking.nats_world import NatsWorld, wait_until
from yikatong.banking import service
from yikatong.banking.link import ACK_WAIT_SECONDS
from yikatong.banking.models import BankOutboxMessage, BankProcessedMessage
from yikatong.cards import service as cards
from yikatong.cards.models import BankEventRecord
from yikatong.cards.protocols import BankUnavailable
from yikatong.chip import terminal
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import ConcurrentChange
from yikatong.events.inbox import once_handler
from yikatong.events.models import InboxRecord, OutboxEvent
from yikatong.transit import service as transit
from yikatong.transit.protocols import Payer, PayerKind

LOSS_TYPES = ("card.formal_loss_reported", "card.unblocked")
BANK_LOSS_TYPES = ("formal_loss", "unblocked")
TOP_UP_TYPES = ("transit.top_up_paid", "transit.top_up_done")
TOP_UP_FEN = 1_000
TOP_UP_ROUNDS = 2
PARTNER = "partner-top-ups"  # the consumer reading the platform's stream
COUNTER = Actor(user_id="smk-clerk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                branch_code="SMK-DIRECT-01", account_id=9001)
CASH = Payer(PayerKind.CASH, "till SMK-DIRECT-01")


def pressed_until_done(step: Callable[[], object], timeout: float = 30.0) -> object:
    """`step` again until it goes through: the gateway unanswered (broker or bank away), or a
    concurrent change (the bank's consumer on the same account at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return step()
        except (BankUnavailable, ConcurrentChange, StaleDataError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class LossTraffic:
    """Alternating formal loss / unblock on each card, round after round: `online` cards
    from the platform, `branch` cards at the bank's branch."""

    world: NatsWorld
    online: list  # (person_id, CardView) of cards changed on the platform
    branch: list  # CardViews of cards changed at the bank
    made: int = 0
    by_side: dict = field(default_factory=lambda: {"platform": 0, "bank": 0})
    top_ups: int = 0
    chips: dict = field(default_factory=dict)  # card_no -> the emulated card in its reader

    def __post_init__(self) -> None:
        keystore = self.world.keystore()
        for card in self.all_cards():
            self.chips[card.card_no] = chip_for(card, keystore)
        ns = self.world.namespace
        self.partner = self.world.bus.subscribe_partner(
            None, PARTNER, once_handler(self.world.platform, PARTNER, lambda uow, event: None),
            filter_subject=f"{ns}.platform.*.transit.>", poll_seconds=0.2,
            ack_wait_seconds=ACK_WAIT_SECONDS)

    def all_cards(self) -> list:
        return [card for _, card in self.online] + list(self.branch)

    def changes(self, rounds: int, *, pause: float = 0.0,
                at: dict[int, Callable[[], None]] | None = None) -> None:
        """`rounds` rounds (one change per card each, and in the first TOP_UP_ROUNDS a top-up
        of each card's wallet too: a chip write costs a few tenths of a second); `at[k]` runs
        after the k-th change (a kill in the middle of the stream). An even number of rounds
        leaves every card unblocked."""
        at = at or {}
        for round_ in range(rounds):
            losing = round_ % 2 == 0
            topping_up = round_ < TOP_UP_ROUNDS
            for person_id, card in self.online:
                self._online(person_id, card.card_no, losing)
                if topping_up:
                    self._top_up(card.card_no)
                self._after_change(at, pause)
            for card in self.branch:
                self._at_branch(card.pan, losing)
                if topping_up:
                    self._top_up(card.card_no)
                self._after_change(at, pause)

    def _after_change(self, at: dict, pause: float) -> None:
        self.made += 1
        if self.made in at:
            at[self.made]()
        if pause:
            time.sleep(pause)

    def _online(self, person_id: int, card_no: str, losing: bool) -> None:
        if losing:
            pressed_until_done(lambda: act(self.world.platform, cards.report_loss,
                                           actor=holder(person_id), card_no=card_no, kind="formal"))
        else:  # lifts the bank's protective loss through the gateway once it has arrived
            pressed_until_done(lambda: act(self.world.platform, cards.unblock,
                                           actor=holder(person_id), card_no=card_no))
        self.by_side["platform"] += 1

    def _at_branch(self, pan: str, losing: bool) -> None:
        def step():
            with self.world.bank.uow() as uow:
                if losing:
                    service.report_loss_at_branch(uow=uow, actor=teller(), bank_code="ICBC",
                                                  pan=pan, kind="formal_loss")
                else:
                    service.unblock_at_branch(uow=uow, actor=teller(), bank_code="ICBC", pan=pan)
                uow.commit()  # the bank's relay publishes it

        pressed_until_done(step)
        self.by_side["bank"] += 1

    def _top_up(self, card_no: str) -> None:
        reader = self.chips[card_no]
        reader.connect()
        self.top_ups += 1
        done = transit.top_up_at_terminal(
            platform=self.world.platform, reader=reader, actor=COUNTER, payer=CASH,
            idempotency_key=f"{card_no}-{self.top_ups}", amount=TOP_UP_FEN)
        assert done.state == "done", done

    def chip_balance(self, card_no: str) -> int:
        reader = self.chips[card_no]
        reader.connect()
        return terminal.read_purse(reader).balance

    # -- the check ------------------------------------------------------------------------

    def card_numbers(self) -> set[str]:
        return {card.card_no for _, card in self.online} | {card.card_no for card in self.branch}

    def wait_settled(self, timeout: float = 60.0) -> None:
        """Until both outboxes are published and both sides have applied every event."""
        numbers = self.card_numbers()
        wait_until(lambda: self._delivered(numbers), timeout=timeout,
                   what="every event of both sides applied on the other")
        for card_no in sorted(numbers):
            wait_until(lambda card_no=card_no: self._unblocked_both_sides(card_no),
                       timeout=timeout, what=f"card {card_no} unblocked on both sides")

    def _delivered(self, numbers: set[str]) -> bool:
        platform_events, processed, bank_events, applied = self._records(numbers)
        top_up_events, inbox = self._top_up_records()
        return (all(row.published_at for row in platform_events)
                and {row.event_id for row in top_up_events} <= {r.event_id for r in inbox}
                and {row.event_id for row in platform_events} <= {m.message_id for m in processed}
                and all(row.published_at for row in bank_events)
                and {row.event_id for row in bank_events} <= {r.event_id for r in applied})

    def _unblocked_both_sides(self, card_no: str) -> bool:
        with self.world.bank.uow() as uow:
            account = service.account_view_by_card(uow=uow, bank_code="ICBC", card_no=card_no)
        view = cards_view(self.world.platform, card_no)
        return (account.status, account.hr_status, view.hr_status, view.financial_status) == (
            "active", "normal", "normal", "active")

    def _records(self, numbers: set[str]):
        with self.world.platform.uow() as uow:
            platform_events = [row for row in uow.session.execute(
                select(OutboxEvent).where(OutboxEvent.partner == "ICBC")
                .order_by(OutboxEvent.seq)).scalars() if row.aggregate_id in numbers]
            applied = [row for row in uow.session.execute(
                select(BankEventRecord).order_by(BankEventRecord.id)).scalars()
                if row.card_no in numbers]
        with self.world.bank.uow() as uow:
            processed = [row for row in uow.session.execute(
                select(BankProcessedMessage).order_by(BankProcessedMessage.id)).scalars()
                if row.card_no in numbers]
            bank_events = [row for row in uow.session.execute(
                select(BankOutboxMessage).order_by(BankOutboxMessage.seq)).scalars()
                if row.card_no in numbers]
        return platform_events, processed, bank_events, applied

    def asns(self) -> dict[str, str]:
        """card_no by the ASN of its wallet (as the top-up events name it)."""
        return {card.asn[-20:].rjust(20, "0").upper(): card.card_no for card in self.all_cards()}

    def _top_up_records(self):
        asns = self.asns()
        with self.world.platform.uow() as uow:
            events = [row for row in uow.session.execute(
                select(OutboxEvent).where(OutboxEvent.type.in_(TOP_UP_TYPES))
                .order_by(OutboxEvent.seq)).scalars() if row.payload.get("asn") in asns]
            inbox = list(uow.session.execute(select(InboxRecord).where(
                InboxRecord.consumer == PARTNER).order_by(InboxRecord.id)).scalars())
        return events, inbox

    def assert_top_ups_once_and_in_order(self) -> int:
        """Every top-up's events read by the partner once, each card's in order, and what the
        partner was told each card was loaded with is what its chip holds."""
        events, inbox = self._top_up_records()
        assert len(events) == 2 * self.top_ups  # paid, then done, for each
        ids = [record.event_id for record in inbox]
        assert len(ids) == len(set(ids)), "a top-up event was applied twice"
        assert set(ids) == {row.event_id for row in events}, "a top-up event was lost"
        by_id = {row.event_id: row for row in events}
        per_card = defaultdict(list)
        for record in inbox:
            per_card[by_id[record.event_id].payload["asn"]].append(by_id[record.event_id].seq)
        for asn, seqs in per_card.items():
            assert seqs == sorted(seqs), f"wallet {asn}: the partner applied {seqs}"
        for asn, card_no in self.asns().items():
            loaded = sum(by_id[i].payload["amount"] for i in ids
                         if by_id[i].type == "transit.top_up_done" and by_id[i].payload["asn"] == asn)
            assert loaded == self.chip_balance(card_no) > 0
        return len(events)

    def assert_once_and_in_order(self) -> dict[str, int]:
        """Nothing lost, nothing applied twice, each card's events applied in their order,
        both directions; returns the counts (for the test's message)."""
        numbers = self.card_numbers()
        platform_events, processed, bank_events, applied = self._records(numbers)

        # Every change made is an event (the platform's outbox, the bank's outbox).
        online_numbers = {card.card_no for _, card in self.online}
        branch_numbers = {card.card_no for card in self.branch}
        assert len([r for r in platform_events if r.aggregate_id in online_numbers
                    and r.type in LOSS_TYPES]) == self.by_side["platform"]
        assert len([r for r in bank_events if r.card_no in branch_numbers
                    and r.type in BANK_LOSS_TYPES]) == self.by_side["bank"]

        # Platform → bank: each event handled once (no event twice, none missing) ...
        handled = [m.message_id for m in processed]
        assert len(handled) == len(set(handled)), "a platform event was handled twice"
        assert set(handled) == {row.event_id for row in platform_events}, "an event was lost"
        # ... and each card's events in the platform's order: none arrived behind a later one.
        seq_of = {row.event_id: row.seq for row in platform_events}
        per_card = defaultdict(list)
        for message in processed:
            assert not (message.note or "").startswith("out of order"), message.note
            per_card[message.card_no].append(seq_of[message.message_id])
        for card_no, seqs in per_card.items():
            assert seqs == sorted(seqs), f"card {card_no}: the bank handled {seqs}"

        # Bank → platform: each bank event applied once, in the bank's order per card.
        ids = [record.event_id for record in applied]
        assert len(ids) == len(set(ids)), "a bank event was applied twice"
        assert set(ids) == {row.event_id for row in bank_events}, "a bank event was lost"
        bank_seq = {row.event_id: row.seq for row in bank_events}
        per_card = defaultdict(list)
        for record in applied:
            per_card[record.card_no].append(bank_seq[record.event_id])
        for card_no, seqs in per_card.items():
            assert seqs == sorted(seqs), f"card {card_no}: the platform applied {seqs}"
        return {"platform events": len(platform_events), "bank events": len(bank_events),
                "top-up events": self.assert_top_ups_once_and_in_order(), "changes": self.made}
