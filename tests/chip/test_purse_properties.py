"""Hypothesis: any interleaving of loads, purchases and power cuts keeps the card and the
terminal's clearing records consistent."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.chip.conftest import TERMINAL_ID, WHEN, card_data
from yikatong.chip.emulator import Card, TearPoint
from yikatong.chip.errors import BalanceLimitExceeded, InsufficientBalance
from yikatong.chip.host import LoadHost, verify_tac
from yikatong.chip.image import personalise
from yikatong.chip.protocols import CardRemoved
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.records import LoadRecord, PurchaseRecord
from yikatong.chip.terminal import CappUpdate, PendingLoad, PendingPurchase, Terminal
from yikatong.crypto.keystore import InMemoryKeyStore

KEYSTORE = InMemoryKeyStore(seed=b"chip-properties")
OVERDRAFT = 500
LIMIT = 100_000


class PurseMachine(RuleBasedStateMachine):
    @initialize(algorithm=st.sampled_from(["SM4", "3DES"]))
    def issue_card(self, algorithm):
        self.card = Card(personalise(card_data(purse_algorithm=algorithm, overdraft_limit=OVERDRAFT), KEYSTORE))
        self.reader = EmulatorReader(self.card)
        self.reader.connect()
        self.terminal = Terminal(Psam(KEYSTORE, terminal_id=TERMINAL_ID), LoadHost(KEYSTORE))
        self.when = WHEN
        self.checked = 0

    def _tap(self, transact):
        self.when += timedelta(minutes=1)
        if not self.card.powered:
            self.reader.connect()  # the card is presented again
        try:
            transact()
        except (CardRemoved, BalanceLimitExceeded, InsufficientBalance):
            pass

    @rule(amount=st.integers(1, 60_000))
    def load(self, amount):
        self._tap(lambda: self.terminal.load(self.reader, amount, self.when))

    @rule(amount=st.integers(1, 3_000), capped=st.booleans())
    def purchase(self, amount, capped):
        capp = CappUpdate(0x1A, b"\x01" + amount.to_bytes(4, "big")) if capped else None
        self._tap(lambda: self.terminal.purchase(self.reader, amount, self.when, capp_record=capp))

    @rule(point=st.sampled_from(list(TearPoint)), at=st.integers(1, 9))
    def arm_power_cut(self, point, at):
        self.card.arm_tear(point, at_command=at)

    @rule()
    def pull_card_out(self):
        self.reader.disconnect()

    @invariant()
    def clearing_matches_the_card(self):
        if not hasattr(self, "card"):
            return
        purse = self.card.mf.child("1001").purse
        loads = [r for r in self.terminal.records if isinstance(r, LoadRecord)]
        purchases = [r for r in self.terminal.records if isinstance(r, PurchaseRecord)]
        # a torn transaction the card did commit is not in the records until the next tap
        pending = self.terminal.pending.get(bytes.fromhex(card_data().asn))
        committed = pending is not None and purse.last_proof is not None and (
            purse.last_proof.tx_type, purse.last_proof.counter) == (pending.tx_type, pending.counter)
        in_flight_load = committed and isinstance(pending, PendingLoad)
        in_flight_purchase = committed and isinstance(pending, PendingPurchase)
        assert purse.balance == (
            sum(r.amount for r in loads) - sum(r.amount for r in purchases)
            + (pending.amount if in_flight_load else 0) - (pending.amount if in_flight_purchase else 0)
        )
        assert -OVERDRAFT <= purse.balance <= LIMIT
        # counters strictly increasing, each transaction recorded once
        assert [r.counter for r in loads] == list(range(len(loads)))
        assert [r.counter for r in purchases] == list(range(len(purchases)))
        assert purse.online_counter == len(loads) + in_flight_load
        assert purse.offline_counter == len(purchases) + in_flight_purchase
        for record in self.terminal.records[self.checked:]:
            assert verify_tac(record, KEYSTORE)
            if record.recovered:
                event("a torn transaction was recovered")
        self.checked = len(self.terminal.records)


TestPurseMachine = PurseMachine.TestCase
TestPurseMachine.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
