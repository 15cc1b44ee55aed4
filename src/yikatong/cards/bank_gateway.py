"""`SimpleBankGateway`: the default BankGateway until the banks issue builds the reference bank
and its real-time transport (then that one is registered in its own wiring instead).

It is a small but real bank: it keeps each account's status, applies each bank's temporary-loss
rule (bank_loss_rules.toml, example defaults), answers every request at once with the events it
decided (the platform applies them in the same transaction), and queues the events it produces
later by itself (a temporary loss lifted by the bank's rule, an account closed at the branch)
for `poll_events`. Its state lives in memory: one instance per platform process.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

from yikatong.cards.bank_rules import bank_loss_rule
from yikatong.cards.protocols import (
    BankAck,
    BankEvent,
    BankEventType,
    BankReadNotOffered,
    BankRefused,
    FinancialStatus,
)

BANK_RULE_CHANNEL = "bank_rule"  # the channel of an event the bank's own rule produced


class SimpleBankGateway:
    def __init__(self) -> None:
        self.requests: list[dict] = []  # every request received, in order (for inspection)
        self._status: dict[str, FinancialStatus] = {}  # by account number
        self._scheduled: list[BankEvent] = []
        self._lock = threading.Lock()

    def activate(self, *, bank_code: str, card_no: str, pan: str, activated_at: datetime,
                 branch_code: str | None) -> BankAck:
        with self._lock:
            self._note("activate", bank_code=bank_code, card_no=card_no, branch=branch_code)
            if self._status.get(pan) == FinancialStatus.CLOSED:
                raise BankRefused(reason_zh="该账户已销户", reason_en="the account is closed")
            self._status[pan] = FinancialStatus.ACTIVE
            return self._ack(self._event(BankEventType.ACTIVATED, bank_code, card_no, pan,
                                         activated_at, channel="bank_branch"))

    def report_financial_loss(self, *, bank_code: str, card_no: str, pan: str, kind: str,
                              channel: str, reported_at: datetime) -> BankAck:
        with self._lock:
            self._note("report_financial_loss", bank_code=bank_code, card_no=card_no, kind=kind,
                       channel=channel)
            self._unschedule(pan, BankEventType.UNBLOCKED)
            if kind == BankEventType.FORMAL_LOSS:
                self._status[pan] = FinancialStatus.FORMAL_LOSS
                return self._ack(self._event(BankEventType.FORMAL_LOSS, bank_code, card_no, pan,
                                             reported_at, channel=channel))
            rule = bank_loss_rule(bank_code)
            ends_at = reported_at + rule.temporary_loss_duration if rule.auto_lift else None
            self._status[pan] = FinancialStatus.TEMPORARY_LOSS
            if ends_at is not None:
                self._scheduled.append(self._event(
                    BankEventType.UNBLOCKED, bank_code, card_no, pan, ends_at,
                    channel=BANK_RULE_CHANNEL, note="temporary loss ended by the bank's rule"))
            return self._ack(self._event(BankEventType.TEMPORARY_LOSS, bank_code, card_no, pan,
                                         reported_at, channel=channel, ends_at=ends_at))

    def lift_financial_loss(self, *, bank_code: str, card_no: str, pan: str, channel: str,
                            lifted_at: datetime) -> BankAck:
        with self._lock:
            self._note("lift_financial_loss", bank_code=bank_code, card_no=card_no,
                       channel=channel)
            self._unschedule(pan, BankEventType.UNBLOCKED)
            self._status[pan] = FinancialStatus.ACTIVE
            return self._ack(self._event(BankEventType.UNBLOCKED, bank_code, card_no, pan,
                                         lifted_at, channel=channel))

    def request_account_closure(self, *, bank_code: str, card_no: str, pan: str, reason: str,
                                requested_at: datetime, successor_card_no: str | None = None) -> str:
        with self._lock:
            task_id = f"{bank_code}-CLOSE-{uuid.uuid4().hex[:12]}"
            self._note("request_account_closure", bank_code=bank_code, card_no=card_no,
                       reason=reason, successor_card_no=successor_card_no, task_id=task_id)
            # This bank closes the account as soon as it is asked and reports it on next poll.
            self._scheduled.append(self._event(
                BankEventType.ACCOUNT_CLOSED, bank_code, card_no, pan, requested_at,
                channel="bank_branch", task_id=task_id, note=f"account closed ({reason})"))
            return task_id

    def financial_status(self, *, bank_code: str, pan: str) -> FinancialStatus:
        with self._lock:
            return self._status.get(pan, FinancialStatus.INACTIVE)

    def poll_events(self, *, now: datetime) -> list[BankEvent]:
        with self._lock:
            due = sorted((e for e in self._scheduled if e.occurred_at <= now),
                         key=lambda e: e.occurred_at)
            self._scheduled = [e for e in self._scheduled if e.occurred_at > now]
            for event in due:
                if event.type == BankEventType.UNBLOCKED:
                    self._status[event.pan] = FinancialStatus.ACTIVE
                elif event.type == BankEventType.ACCOUNT_CLOSED:
                    self._status[event.pan] = FinancialStatus.CLOSED
            return due

    def account_statement(self, *, bank_code: str, pan: str, limit: int):
        """This bank keeps no money: it does not offer the optional account read."""
        raise BankReadNotOffered()

    # This bank keeps no money: payments from the account, refunds and disbursement files
    # (issue 14) are the reference bank's (banking); here they are refused.
    def pay_from_account(self, **request):
        raise _keeps_no_money()

    def refund_to_account(self, **request):
        raise _keeps_no_money()

    def credit_to_account(self, **request):
        raise _keeps_no_money()

    def submit_disbursement(self, **request):
        raise _keeps_no_money()

    def disbursement_result(self, **request):
        raise _keeps_no_money()

    def _note(self, operation: str, **fields) -> None:
        self.requests.append({"operation": operation, **fields})

    def _unschedule(self, pan: str, kind: BankEventType) -> None:
        self._scheduled = [e for e in self._scheduled if not (e.pan == pan and e.type == kind)]

    @staticmethod
    def _event(kind: BankEventType, bank_code: str, card_no: str, pan: str, at: datetime,
               **fields) -> BankEvent:
        return BankEvent(event_id=f"{bank_code}-{uuid.uuid4().hex}", bank_code=bank_code,
                         card_no=card_no, pan=pan, type=kind, occurred_at=at, **fields)

    @staticmethod
    def _ack(*events: BankEvent) -> BankAck:
        return BankAck(bank_reference=events[0].event_id, events=events)


def _keeps_no_money() -> BankRefused:
    return BankRefused(reason_zh="简易银行不办理资金业务", reason_en="the simple bank keeps no money")
