"""Use cases of the reference bank: accounts, activation (四.9), losses (四.6–7), account
closure after an exchange (四.8), what the platform asks through the gateway, and what the
platform tells the bank through its events. Money is in `banking.payments`.

Every function runs in the BANK's unit of work (`ReferenceBank.uow()`, its own database) and
does not commit. Every change the platform must know is written to the bank's outbox
(`BankOutboxMessage`) in the same transaction; the relay delivers it (in-process, or over
NATS from `ykt bank serve`) and the platform applies it with `cards.service.apply_bank_event`,
once per event id.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import String, and_, any_, bindparam, cast, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from yikatong.banking import payments, rules
from yikatong.banking.errors import (
    AccountClosed,
    AccountNumberMismatch,
    AlreadyActivated,
    AlreadyLost,
    BalanceRemains,
    ClosureTaskNotFound,
    HolderNotPresent,
    NotFrozen,
    NotLost,
    UnknownAccount,
)
from yikatong.banking.models import (
    BankAccount,
    BankClosureTask,
    BankLoss,
    BankOutboxMessage,
    BankProcessedMessage,
)
from yikatong.banking.policy import ReplacedCardAction, replaced_card_action
from yikatong.banking.rules import LOST, AccountStatus
from yikatong.cards.bank_gateway import BANK_RULE_CHANNEL
from yikatong.cards.bank_rules import bank_loss_rule
from yikatong.cards.protocols import BankEvent, BankEventType, FinancialStatus
from yikatong.cards.rules import ONLINE, channel_family, check_pan, financial_valid_until
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import as_utc, local_date
from yikatong.core.errors import ConcurrentChange, DomainError, InvalidInput
from yikatong.core.money import Fen, format_fen
from yikatong.db.base import UTCDateTime
from yikatong.db.uow import UnitOfWork
from yikatong.events.protocols import Event

log = logging.getLogger(__name__)

BANK_BRANCH_CHANNEL = str(Channel.BANK_BRANCH)


@dataclass(frozen=True)
class LossView:
    kind: str
    source: str
    channel: str
    branch_code: str | None
    reported_at: datetime
    ends_at: datetime | None


@dataclass(frozen=True)
class AccountView:
    bank_code: str
    pan: str | None
    card_no: str
    holder_ref: str | None
    status: str
    financial_status: str
    balance_fen: Fen
    issue_date: date | None
    valid_until: date | None
    activated_at: datetime | None
    hr_status: str | None
    card_present_allowed: bool
    online_allowed: bool
    credit_allowed: bool
    held_payments: int
    losses_in_force: tuple[LossView, ...]


@dataclass(frozen=True)
class ClosureTaskView:
    task_id: str
    bank_code: str
    card_no: str
    pan: str | None
    successor_card_no: str | None
    reason: str
    status: str
    requested_at: datetime
    completed_at: datetime | None
    balance_fen: Fen


def platform_actor(bank_code: str, branch_code: str | None = None) -> Actor:
    """Who acts at the bank when the platform asks through the gateway."""
    return Actor(user_id="platform", role=Role.SYSTEM, channel=Channel.PARTNER_API,
                 bank_code=bank_code, branch_code=branch_code)


# ---------------------------------------------------------------------------------------
# Accounts


def open_account(*, uow: UnitOfWork, bank_code: str, card_no: str, pan: str | None = None,
                 holder_ref: str | None = None, issue_date: date | None = None,
                 actor: Actor | None = None, holder_name: str | None = None) -> BankAccount:
    """Open (not yet activated) the account of a produced card; opening it again fills in
    what was missing (the account number, the issue date, the holder's name) and changes
    nothing else. The name comes from the production list (the platform's card.produced
    event), kept normalised (rules.normalise_name) for the disbursement files' name check."""
    if pan is not None:
        check_pan(pan)
    account = _by_card(uow, bank_code, card_no)
    if account is None:
        account = BankAccount(bank_code=bank_code, card_no=card_no, status=str(AccountStatus.NOT_ACTIVATED),
                              opened_at=uow.now(), last_atc=0)
        uow.session.add(account)
        action = "bank.account_opened"
    else:
        action = "bank.account_details_completed"
    before = _snapshot(account)
    if pan is not None and account.pan != pan:
        _bind_pan(uow, account, pan)
    if issue_date is not None and account.issue_date is None:
        account.issue_date = issue_date
        account.valid_until = financial_valid_until(issue_date)
    if holder_ref is not None and account.holder_ref is None:
        account.holder_ref = holder_ref
    if holder_name is not None and account.holder_name is None:
        account.holder_name = rules.normalise_name(holder_name)
    if action == "bank.account_opened" or before != _snapshot(account):
        uow.session.flush()
        if account.pan is not None:
            payments.open_ledger_account(uow, account)
        _audit(uow, actor or Actor.system(f"bank:{bank_code}"), account, action, before)
    return account


def account_view(*, uow: UnitOfWork, bank_code: str, pan: str) -> AccountView:
    return _view(uow, payments.account_by_pan(uow, bank_code, pan))


def account_view_by_card(*, uow: UnitOfWork, bank_code: str, card_no: str) -> AccountView:
    account = _by_card(uow, bank_code, card_no)
    if account is None:
        raise UnknownAccount()
    return _view(uow, account)


# ---------------------------------------------------------------------------------------
# Activation at a branch (四.9)


def activate_at_branch(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str,
                       id_document_checked: bool, card_checked: bool) -> AccountView:
    """The holder in person with a valid ID document and the card: the account becomes
    active and what was held for it goes through."""
    if not (id_document_checked and card_checked):
        raise HolderNotPresent()
    account = payments.account_by_pan(uow, bank_code, pan)
    _activate(uow, actor=actor, account=account)
    return _view(uow, account)


def _activate(uow: UnitOfWork, *, actor: Actor, account: BankAccount) -> BankEvent:
    rules.check_not_replaced(account.retired_reason, account.successor_card_no)
    if account.status == AccountStatus.CLOSED:
        raise AccountClosed()
    if account.activated_at is not None:
        raise AlreadyActivated()
    if account.status in LOST:  # the copy at the platform would read "active" otherwise
        zh, en = rules.LOSS_NAMES[AccountStatus(account.status)]
        raise AlreadyLost(kind_zh=zh, kind_en=en)
    before = _snapshot(account)
    now = uow.now()
    account.activated_at = now
    account.activated_branch = actor.branch_code
    account.status = str(AccountStatus.ACTIVE)
    event = _tell_platform(uow, account, BankEventType.ACTIVATED, now,
                           channel=BANK_BRANCH_CHANNEL, branch_code=actor.branch_code)
    released = payments.release_held(uow, account, now)
    _audit(uow, actor, account, "bank.activated", before,
           extra={"released": [t.request_id for t in released if t.status == payments.POSTED],
                  "failed": [t.request_id for t in released if t.status == payments.FAILED]})
    return event


# ---------------------------------------------------------------------------------------
# Freezing (冻结: a court's or a supervisor's order, at the bank; no money in or out)


def freeze_account(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str,
                   reason: str) -> AccountView:
    """Freeze the account: payments from it and money into it fail (a disbursement row
    fails with `account_frozen`) until `unfreeze_account`. Freezing a frozen account again
    changes nothing."""
    if not isinstance(reason, str) or not 0 < len(reason.strip()) <= 64:
        raise InvalidInput(reason_zh="冻结原因应为 1–64 个字符",
                           reason_en="the reason for the freeze must be 1–64 characters")
    account = payments.account_by_pan(uow, bank_code, pan)
    if account.status == AccountStatus.CLOSED:
        raise AccountClosed()
    if account.frozen_at is None:
        before = _snapshot(account)
        account.frozen_at = uow.now()
        account.frozen_reason = reason.strip()
        _audit(uow, actor, account, "bank.account_frozen", before,
               extra={"frozen": True, "reason": account.frozen_reason})
    return _view(uow, account)


def unfreeze_account(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str) -> AccountView:
    account = payments.account_by_pan(uow, bank_code, pan)
    if account.frozen_at is None:
        raise NotFrozen()
    before = _snapshot(account)
    account.frozen_at = None
    account.frozen_reason = None
    _audit(uow, actor, account, "bank.account_unfrozen", before, extra={"frozen": False})
    return _view(uow, account)


# ---------------------------------------------------------------------------------------
# Losses (四.6–7)


def report_loss_at_branch(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str,
                          kind: str) -> AccountView:
    """The holder reports the card lost at a branch of the bank. A formal loss here covers
    both functions (四.6(1)): the platform puts the HR formal loss on when the bank's event
    arrives. A temporary loss is the bank's own (financial only), lasting per its rule."""
    kind = _loss_kind(kind)
    account = payments.account_by_pan(uow, bank_code, pan)
    _report_loss(uow, actor=actor, account=account, kind=kind, source="branch",
                 channel=BANK_BRANCH_CHANNEL, hr_function=kind == AccountStatus.FORMAL_LOSS)
    return _view(uow, account)


def unblock_at_branch(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str) -> AccountView:
    """解挂 at a branch: lifts the bank's loss; a formal loss reported at a branch of the bank
    was both functions, so the platform lifts the HR side too (same route, 四.7)."""
    account = payments.account_by_pan(uow, bank_code, pan)
    rules.check_not_replaced(account.retired_reason, account.successor_card_no)
    in_force = _losses_in_force(uow, account)
    both = any(loss.kind == AccountStatus.FORMAL_LOSS and loss.channel == BANK_BRANCH_CHANNEL
               for loss in in_force)
    _lift_loss(uow, actor=actor, account=account, channel=BANK_BRANCH_CHANNEL, reason="unblocked",
               hr_function=both)
    return _view(uow, account)


def expire_temporary_losses(*, uow: UnitOfWork, bank_codes: frozenset[str] | None = None) -> int:
    """The bank's own rule: a temporary loss whose time is up lifts by itself."""
    query = (select(BankLoss, BankAccount).join(BankAccount)
             .where(BankLoss.lifted_at.is_(None), BankLoss.ends_at <= uow.now()))
    if bank_codes is not None:
        query = query.where(BankAccount.bank_code.in_(sorted(bank_codes)))
    due = list(uow.session.execute(query))
    system = Actor.system("bank.loss_rule")
    for loss, account in due:
        before = _snapshot(account)
        ended = as_utc(loss.ends_at)
        _lift_rows(uow, account, [loss], at=ended, channel=BANK_RULE_CHANNEL,
                   reason="expired_by_bank_rule")
        _tell_platform(uow, account, BankEventType.UNBLOCKED, ended, channel=BANK_RULE_CHANNEL,
                       note="temporary loss ended by the bank's rule")
        _audit(uow, system, account, "bank.loss_expired", before)
    return len(due)


def _report_loss(uow: UnitOfWork, *, actor: Actor, account: BankAccount, kind: AccountStatus,
                 source: str, channel: str, hr_function: bool = False,
                 note: str | None = None) -> BankEvent:
    rules.check_loss_possible(account.status, kind)
    before = _snapshot(account)
    now = uow.now()
    _lift_rows(uow, account, _losses_in_force(uow, account), at=now, channel=channel,
               reason="superseded_by_formal_loss")
    ends = rules.loss_ends_at(bank_loss_rule(account.bank_code), kind, now)
    uow.session.add(BankLoss(account_id=account.id, kind=str(kind), source=source,
                             channel=channel, branch_code=actor.branch_code,
                             reported_by=actor.user_id, reported_at=now, ends_at=ends))
    account.status = str(kind)
    event = _tell_platform(uow, account, BankEventType(str(kind)), now, channel=channel,
                           ends_at=ends, hr_function=hr_function, branch_code=actor.branch_code,
                           note=note)
    _audit(uow, actor, account, "bank.loss_reported", before,
           extra={"kind": str(kind), "source": source, "channel": channel})
    return event


def _lift_loss(uow: UnitOfWork, *, actor: Actor, account: BankAccount, channel: str,
               reason: str, hr_function: bool = False,
               sources: tuple[str, ...] | None = None) -> BankEvent:
    in_force = [loss for loss in _losses_in_force(uow, account)
                if sources is None or loss.source in sources]
    if not in_force:
        raise NotLost()
    before = _snapshot(account)
    now = uow.now()
    _lift_rows(uow, account, in_force, at=now, channel=channel, reason=reason)
    event = _tell_platform(uow, account, BankEventType.UNBLOCKED, now, channel=channel,
                           hr_function=hr_function, branch_code=actor.branch_code)
    _audit(uow, actor, account, "bank.loss_lifted", before, extra={"channel": channel})
    return event


def _lift_rows(uow: UnitOfWork, account: BankAccount, losses: list[BankLoss], *, at: datetime,
               channel: str, reason: str) -> None:
    for loss in losses:
        loss.lifted_at = at
        loss.lifted_channel = channel
        loss.lift_reason = reason
    uow.session.flush()
    if account.status in LOST and not _losses_in_force(uow, account):
        account.status = str(rules.status_after_lift(account.activated_at is not None))


def _losses_in_force(uow: UnitOfWork, account: BankAccount) -> list[BankLoss]:
    return list(uow.session.execute(select(BankLoss).where(
        BankLoss.account_id == account.id, BankLoss.lifted_at.is_(None))
        .order_by(BankLoss.id)).scalars())


def _loss_kind(kind: str) -> AccountStatus:
    aliases = {"temporary": AccountStatus.TEMPORARY_LOSS, "formal": AccountStatus.FORMAL_LOSS}
    value = aliases.get(kind) or (AccountStatus(kind) if kind in rules.LOSS_NAMES else None)
    if value is None:
        raise InvalidInput(reason_zh="挂失类型应为 temporary_loss 或 formal_loss",
                           reason_en="the loss kind is temporary_loss or formal_loss")
    return value


# ---------------------------------------------------------------------------------------
# Closing the account of a retired card (四.8)


def request_closure(*, uow: UnitOfWork, bank_code: str, card_no: str, pan: str | None,
                    reason: str, successor_card_no: str | None = None,
                    task_id: str | None = None) -> str:
    """Open (once per account) the task to close the account at a branch; its id.

    The platform asks twice: through the gateway, then by its `closure_requested` event, which
    may arrive after the branch completed the task; both find the task the first one opened."""
    account = _account_for_card(uow, bank_code, card_no, pan)
    known = uow.session.execute(select(BankClosureTask).where(
        BankClosureTask.task_id == task_id)).scalar_one_or_none() if task_id else None
    known = known or uow.session.execute(select(BankClosureTask).where(
        BankClosureTask.account_id == account.id, BankClosureTask.status == "open")).scalar_one_or_none()
    if known is not None:
        if known.status == "open":
            known.successor_card_no = known.successor_card_no or successor_card_no
        return known.task_id
    task = BankClosureTask(
        task_id=task_id or f"{bank_code}-CLOSE-{uuid.uuid4().hex[:12]}", bank_code=bank_code,
        account_id=account.id, card_no=card_no, successor_card_no=successor_card_no,
        reason=reason, status="open", requested_at=uow.now())
    uow.session.add(task)
    uow.session.flush()
    _audit(uow, platform_actor(bank_code), account, "bank.closure_requested", None,
           extra={"task_id": task.task_id, "reason": reason})
    return task.task_id


def closure_tasks(*, uow: UnitOfWork, bank_code: str, status: str | None = "open") -> list[ClosureTaskView]:
    """The bank's closure tasks, oldest first (`status` None: all)."""
    if status not in (None, "open", "completed"):
        raise InvalidInput(reason_zh="任务状态应为 open 或 completed",
                           reason_en="the task status is open or completed")
    query = (select(BankClosureTask, BankAccount).join(BankAccount)
             .where(BankClosureTask.bank_code == bank_code).order_by(BankClosureTask.id))
    if status is not None:
        query = query.where(BankClosureTask.status == status)
    return [_task_view(uow, task, account) for task, account in uow.session.execute(query)]


def complete_closure(*, uow: UnitOfWork, actor: Actor, bank_code: str, task_id: str) -> ClosureTaskView:
    """The branch closed the account (the holder took the balance out first); the platform
    learns it from the `account_closed` event. Completing it again changes nothing."""
    row = uow.session.execute(select(BankClosureTask, BankAccount).join(BankAccount).where(
        BankClosureTask.task_id == task_id, BankClosureTask.bank_code == bank_code)).first()
    if row is None:
        raise ClosureTaskNotFound()
    task, account = row
    if task.status == "completed":
        return _task_view(uow, task, account)
    left = payments.balance(uow, account)
    if left > 0:
        raise BalanceRemains(amount=format_fen(left))
    before = _snapshot(account)
    now = uow.now()
    account.status = str(AccountStatus.CLOSED)
    account.closed_at = now
    payments.fail_held(uow, account, AccountClosed(), now)
    task.status = "completed"
    task.completed_at = now
    task.completed_by = actor.user_id
    task.completed_branch = actor.branch_code
    _tell_platform(uow, account, BankEventType.ACCOUNT_CLOSED, now, channel=BANK_BRANCH_CHANNEL,
                   task_id=task.task_id, branch_code=actor.branch_code,
                   note=f"account closed ({task.reason})")
    _audit(uow, actor, account, "bank.account_closed", before, extra={"task_id": task_id})
    return _task_view(uow, task, account)


# ---------------------------------------------------------------------------------------
# What the platform asks (behind BankGateway). Repeating a request is harmless: the bank
# answers with the event it already produced.


def gateway_activate(*, uow: UnitOfWork, bank_code: str, card_no: str, pan: str,
                     branch_code: str | None) -> list[BankEvent]:
    account = _account_for_card(uow, bank_code, card_no, pan)
    if account.activated_at is not None:
        return _last_events(uow, account, BankEventType.ACTIVATED)
    return [_activate(uow, actor=platform_actor(bank_code, branch_code), account=account)]


def gateway_report_loss(*, uow: UnitOfWork, bank_code: str, card_no: str, pan: str, kind: str,
                        channel: str) -> list[BankEvent]:
    account = _account_for_card(uow, bank_code, card_no, pan)
    kind = _loss_kind(kind)
    if account.status == kind:
        return _last_events(uow, account, BankEventType(str(kind)))
    return [_report_loss(uow, actor=platform_actor(bank_code), account=account, kind=kind,
                         source="platform", channel=channel)]


def gateway_lift_loss(*, uow: UnitOfWork, bank_code: str, card_no: str, pan: str,
                      channel: str) -> list[BankEvent]:
    account = _account_for_card(uow, bank_code, card_no, pan)
    if account.status not in LOST:  # the platform's copy is behind: tell it where we are
        return [_tell_platform(uow, account, BankEventType.UNBLOCKED, uow.now(), channel=channel,
                               note="the account was not lost at the bank")]
    return [_lift_loss(uow, actor=platform_actor(bank_code), account=account, channel=channel,
                       reason="unblocked")]


def gateway_financial_status(*, uow: UnitOfWork, bank_code: str, pan: str) -> FinancialStatus:
    try:
        account = payments.account_by_pan(uow, bank_code, pan)
    except UnknownAccount:
        return FinancialStatus.INACTIVE
    return rules.financial_status(account.status, account.valid_until, local_date(uow.now()))


STATEMENT_MAX_PAYMENTS = 50


def gateway_account_statement(*, uow: UnitOfWork, bank_code: str, pan: str,
                              limit: int = 10) -> dict:
    """The optional account read of the gateway (cards.protocols.BankGateway.account_statement),
    which this bank offers: the balance, the `limit` latest payments (newest first) and every
    payment held for activation (oldest first), as JSON for any transport."""
    if not 1 <= limit <= STATEMENT_MAX_PAYMENTS:
        raise InvalidInput(reason_zh=f"查询笔数须在 1～{STATEMENT_MAX_PAYMENTS} 之间",
                           reason_en=f"ask for 1 to {STATEMENT_MAX_PAYMENTS} payments")
    view = account_view(uow=uow, bank_code=bank_code, pan=pan)
    every = payments.transactions(uow=uow, bank_code=bank_code, pan=pan)
    return {"balance_fen": view.balance_fen, "as_of": uow.now().isoformat(),
            "payments": [_payment_json(tx) for tx in reversed(every[-limit:])],
            "held": [_payment_json(tx) for tx in every if tx.status == payments.HELD]}


def _payment_json(tx: payments.TransactionView) -> dict:
    return {"kind": tx.kind, "amount_fen": tx.amount_fen, "status": tx.status,
            "incoming": rules.TransactionKind(tx.kind) in rules.INCOMING,
            "channel": tx.channel, "counterparty": tx.counterparty,
            "at": tx.created_at.isoformat()}


def mark_answered(*, uow: UnitOfWork, event_ids: list[str], answered: bool = True) -> None:
    """These events go back to the platform in a request's answer (wall-clock time noted),
    or (`answered=False`) the platform has committed them: the relay need not wait."""
    if event_ids:
        uow.session.execute(update(BankOutboxMessage)
                            .where(BankOutboxMessage.event_id.in_(event_ids))
                            .values(answered_at=datetime.now(UTC) if answered else None))


def event_of(row: BankOutboxMessage) -> BankEvent:
    """The platform's view of one of the bank's outbox messages."""
    payload = row.payload
    ends_at = payload.get("ends_at")
    return BankEvent(event_id=row.event_id, bank_code=row.bank_code, card_no=row.card_no,
                     pan=payload["pan"], type=BankEventType(row.type),
                     occurred_at=as_utc(row.occurred_at), channel=payload.get("channel"),
                     ends_at=as_utc(datetime.fromisoformat(ends_at)) if ends_at else None,
                     task_id=payload.get("task_id"), note=payload.get("note"))


# ---------------------------------------------------------------------------------------
# What the platform tells (its outbox events for this bank), applied once each


def handle_platform_event(*, uow: UnitOfWork, bank_code: str, event: Event) -> bool:
    """Apply one platform event for `bank_code` unless it was already; True when applied now.

    The processed-message row goes in before the effect (`_claim`), so a racing duplicate
    waits for it and then skips instead of applying twice. Events the bank has no use for,
    about cards it does not know, or older than the last of their kind it handled for the
    card (`ORDERED_STATES`), are recorded as ignored: they must never block the stream.
    """
    if not _claim(uow, [(bank_code, event)]):
        return False
    try:
        with uow.session.begin_nested():
            note = _apply_platform_event(uow, bank_code, event)
    except ConcurrentChange:
        raise
    except DomainError as error:  # e.g. an account number that clashes: record, go on
        note = f"refused: {error.code}"
    _record_notes(uow, [(bank_code, event, note)])
    return True


def handle_platform_events(*, uow: UnitOfWork, events: list[tuple[str, Event]]) -> int:
    """Apply a batch of (bank_code, platform event) in order, each unless it was already;
    returns how many were applied now. Does not commit: the caller commits the effects and
    their processed-message rows together (one transaction for the batch), so the batch is
    applied exactly once or, if anything raises, not at all.

    Built for a backlog: one INSERT records the batch's events as processed and tells which
    were not before (`_claim`), the batch's accounts are loaded in one query, and there is no
    savepoint per event; the HR statuses go in one executemany and the notes of the events
    that changed nothing in another. A refusal (DomainError) is not recorded here but raised,
    failing the batch: the caller applies the events one at a time with
    `handle_platform_event`, which records it."""
    fresh = _claim_and_preload(uow, events)
    notes = []
    for bank_code, event in fresh:
        notes.append((bank_code, event, _apply_platform_event(uow, bank_code, event)))
    _write_hr_statuses(uow)
    _record_notes(uow, notes)
    return len(fresh)


_HR_FIELDS = ("hr_status", "hr_status_at", "platform_hr_seq")
_HR_UPDATE = (update(BankAccount.__table__)
              .where(BankAccount.__table__.c.id == bindparam("account_id"),
                     BankAccount.__table__.c.version == bindparam("seen_version"))
              .values(hr_status=bindparam("new_hr_status"), hr_status_at=bindparam("new_hr_status_at"),
                      platform_hr_seq=bindparam("new_platform_hr_seq"),
                      version=BankAccount.__table__.c.version + 1))


# `_HR_UPDATE` for the whole batch in one statement (PostgreSQL): versioned the same way, each
# row updated only at the version the batch loaded; the accounts of a batch are distinct.
_HR_UPDATE_ARRAYS = text(
    "UPDATE bank_accounts SET hr_status = batch.hr_status, hr_status_at = batch.hr_status_at,"
    " platform_hr_seq = batch.platform_hr_seq, version = bank_accounts.version + 1"
    " FROM unnest(CAST(:ids AS INTEGER[]), CAST(:seen_versions AS INTEGER[]),"
    " CAST(:hr_statuses AS VARCHAR[]), CAST(:hr_status_ats AS TIMESTAMP WITH TIME ZONE[]),"
    " CAST(:platform_hr_seqs AS INTEGER[]))"
    " AS batch (id, seen_version, hr_status, hr_status_at, platform_hr_seq)"
    " WHERE bank_accounts.id = batch.id AND bank_accounts.version = batch.seen_version")


def _write_hr_statuses(uow: UnitOfWork) -> None:
    """The accounts of a batch whose only change is the HR status (most of a backlog) in one
    executemany, versioned as the ORM's flush would be (a row changed meanwhile raises
    ConcurrentChange and the batch rolls back), instead of one UPDATE each at the flush.
    They leave the session then: the flush would otherwise look at every attribute of each
    (a fifth of a batch's time) to find nothing left to write."""
    changed = [account for account in uow.session.dirty
               if isinstance(account, BankAccount) and _only_hr_changed(account)]
    if len(changed) < 2 or not uow.session.get_bind().dialect.supports_sane_multi_rowcount:
        return
    if _on_postgresql(uow):  # one statement over arrays, as the claim
        result = uow.session.connection().execute(_HR_UPDATE_ARRAYS, {
            "ids": [a.id for a in changed], "seen_versions": [a.version for a in changed],
            "hr_statuses": [a.hr_status for a in changed], "hr_status_ats": [a.hr_status_at for a in changed],
            "platform_hr_seqs": [a.platform_hr_seq for a in changed]})
    else:
        result = uow.session.connection().execute(_HR_UPDATE, [
            {"account_id": a.id, "seen_version": a.version, "new_hr_status": a.hr_status,
             "new_hr_status_at": a.hr_status_at, "new_platform_hr_seq": a.platform_hr_seq}
            for a in changed])
    if result.rowcount != len(changed):
        raise ConcurrentChange()
    preloaded = uow.session.info.get(_PRELOADED, {})
    for account in changed:  # written: nothing for the flush to do with them
        uow.session.expunge(account)
        preloaded.pop((account.bank_code, account.card_no), None)


def _only_hr_changed(account: BankAccount) -> bool:
    state = inspect(account)
    return bool(state.committed_state) and set(state.committed_state) <= set(_HR_FIELDS) \
        and state.persistent


_PROCESSED = BankProcessedMessage.__table__
_INSERT_FOR = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _claim(uow: UnitOfWork, events: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
    """Record as processed now (outcome applied) the events not processed before, with one
    INSERT … ON CONFLICT DO NOTHING RETURNING; the events it recorded, in order (a repeat
    within the batch once). A delivery racing this one on PostgreSQL makes the INSERT wait
    for its transaction: committed, its events are skipped here; rolled back, recorded here."""
    first = _first_of_each(events)
    if not first:
        return []
    if _on_postgresql(uow):
        claimed = {(bank_code, message_id) for bank_code, message_id in uow.session.execute(
            _CLAIM_ARRAYS, _claim_arrays(uow, list(first.values())))}
    else:
        statement = (_INSERT_FOR[uow.session.get_bind().dialect.name](_PROCESSED)
                     .on_conflict_do_nothing(index_elements=["bank_code", "message_id"])
                     .returning(_PROCESSED.c.bank_code, _PROCESSED.c.message_id))
        claimed = {(bank_code, message_id) for bank_code, message_id in uow.session.execute(
            statement, [_processed_row(uow, bank_code, event) for bank_code, event in first.values()])}
    return [pair for key, pair in first.items() if key in claimed]


def _claim_and_preload(uow: UnitOfWork, events: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
    """`_claim`, then `_preload_accounts` of the events claimed (one statement on PostgreSQL)."""
    if _on_postgresql(uow):
        return _claim_loading_accounts(uow, events)
    fresh = _claim(uow, events)
    _preload_accounts(uow, [(bank_code, event.aggregate_id) for bank_code, event in fresh])
    return fresh


def _first_of_each(events: list[tuple[str, Event]]) -> dict[tuple[str, str], tuple[str, Event]]:
    """The batch's events by (bank_code, event_id), a repeat within the batch once, in order."""
    first: dict[tuple[str, str], tuple[str, Event]] = {}
    for bank_code, event in events:
        first.setdefault((bank_code, event.event_id), (bank_code, event))
    return first


def _claim_loading_accounts(uow: UnitOfWork, events: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
    """`_claim` and `_preload_accounts` of the events it claims in one statement (PostgreSQL):
    the claiming INSERT as a WITH query whose rows are joined to their cards' accounts, one
    round trip per batch less. The accounts are read in the statement's snapshot, taken
    before a racing delivery's commit the INSERT may wait for; an account that delivery
    changed is then at an older version here, and the batch's versioned writes raise
    ConcurrentChange (the batch is applied again one event at a time)."""
    first = _first_of_each(events)
    if not first:
        return []
    claimed, preloaded = set(), {}
    for bank_code, message_id, account in uow.session.execute(
            _CLAIM_LOADING, _claim_arrays(uow, list(first.values()))):
        claimed.add((bank_code, message_id))
        if account is not None:
            preloaded[(account.bank_code, account.card_no)] = account
    uow.session.info[_PRELOADED] = preloaded
    return [pair for key, pair in first.items() if key in claimed]


def _on_postgresql(uow: UnitOfWork) -> bool:
    return uow.session.get_bind().dialect.name == "postgresql"


# The claim on PostgreSQL: the batch's columns as five arrays, one statement whose text does
# not depend on the batch's size. As a multi-row VALUES list (8 parameters a row) psycopg
# rewrote a statement of 1,600 parameters for every batch (its query cache keeps short ones
# only): a fifth of the batch's time. WITH ORDINALITY keeps the batch's order in the ids.
_CLAIM_SQL = (
    "INSERT INTO bank_processed_messages (bank_code, message_id, type, card_no, platform_seq,"
    " outcome, note, processed_at)"
    " SELECT bank_code, message_id, type, card_no, platform_seq, 'applied', NULL, :processed_at"
    " FROM unnest(CAST(:bank_codes AS VARCHAR[]), CAST(:message_ids AS VARCHAR[]),"
    " CAST(:types AS VARCHAR[]), CAST(:card_nos AS VARCHAR[]), CAST(:platform_seqs AS INTEGER[]))"
    " WITH ORDINALITY AS batch (bank_code, message_id, type, card_no, platform_seq, position)"
    " ORDER BY position"
    " ON CONFLICT (bank_code, message_id) DO NOTHING RETURNING bank_code, message_id")
_CLAIM_ARRAYS = text(_CLAIM_SQL).bindparams(bindparam("processed_at", type_=UTCDateTime))

# `_claim_loading_accounts`: the claim as a WITH query, each event it claimed with its card's
# account (None when the bank has no account for the card yet).
_CLAIMED = (text(_CLAIM_SQL + ", card_no").bindparams(bindparam("processed_at", type_=UTCDateTime))
            .columns(bank_code=String, message_id=String, card_no=String).cte("claimed"))
_CLAIM_LOADING = (select(_CLAIMED.c.bank_code, _CLAIMED.c.message_id, BankAccount).select_from(_CLAIMED)
                  .outerjoin(BankAccount, and_(BankAccount.bank_code == _CLAIMED.c.bank_code,
                                               BankAccount.card_no == _CLAIMED.c.card_no)))


def _claim_arrays(uow: UnitOfWork, pairs: list[tuple[str, Event]]) -> dict:
    """`_processed_row` of each pair, by column."""
    rows = [_processed_row(uow, bank_code, event) for bank_code, event in pairs]
    return {"bank_codes": [row["bank_code"] for row in rows], "message_ids": [row["message_id"] for row in rows],
            "types": [row["type"] for row in rows], "card_nos": [row["card_no"] for row in rows],
            "platform_seqs": [row["platform_seq"] for row in rows], "processed_at": uow.now()}


def _processed_row(uow: UnitOfWork, bank_code: str, event: Event) -> dict:
    return {"bank_code": bank_code, "message_id": event.event_id, "type": event.type[:64],
            "card_no": event.aggregate_id[:64], "platform_seq": event.seq, "outcome": "applied",
            "note": None, "processed_at": uow.now()}


_NOTE = (update(_PROCESSED).where(_PROCESSED.c.bank_code == bindparam("b_code"),
                                  _PROCESSED.c.message_id == bindparam("b_message_id"))
         .values(outcome="ignored", note=bindparam("b_note")))


def _record_notes(uow: UnitOfWork, handled: list[tuple[str, Event, str | None]]) -> None:
    """The events that changed nothing: outcome ignored, and why (one executemany)."""
    notes = [{"b_code": bank_code, "b_message_id": event.event_id, "b_note": note[:200]}
             for bank_code, event, note in handled if note is not None]
    if notes:
        uow.session.connection().execute(_NOTE, notes)


def processed_messages(*, uow: UnitOfWork, bank_code: str) -> list[BankProcessedMessage]:
    """The platform events the bank handled, in the order it handled them."""
    return list(uow.session.execute(select(BankProcessedMessage).where(
        BankProcessedMessage.bank_code == bank_code).order_by(BankProcessedMessage.id)).scalars())


def _apply_platform_event(uow: UnitOfWork, bank_code: str, event: Event) -> str | None:
    """The effect of one platform event; a note when there was nothing to do."""
    payload = event.payload
    card_no = event.aggregate_id
    if event.type == "card.produced":
        issue = payload.get("issue_date")
        open_account(uow=uow, bank_code=bank_code, card_no=card_no, pan=payload.get("pan"),
                     holder_ref=str(payload["person_id"]) if "person_id" in payload else None,
                     holder_name=payload.get("holder_name"),
                     issue_date=date.fromisoformat(issue) if issue else None)
        return None
    account = _by_card(uow, bank_code, card_no)
    if account is None:
        return "unknown card"
    stale = _keep_card_order(account, event)
    if stale is not None:
        return stale
    if event.type == "card.hr_status_changed":
        account.hr_status = str(payload.get("after"))[:16]
        account.hr_status_at = event.occurred_at
        return None
    if event.type in ("card.formal_loss_reported", "card.temporary_loss_reported"):
        return _platform_loss(uow, account, event)
    if event.type == "card.unblocked":
        return _platform_unblock(uow, account, event)
    if event.type == "card.retired":
        return _platform_retired(uow, account, event)
    if event.type == "card.bank_account_closure_requested":
        request_closure(uow=uow, bank_code=bank_code, card_no=card_no, pan=account.pan,
                        reason="exchanged", successor_card_no=payload.get("successor_card_no"),
                        task_id=payload.get("bank_task_id"))
        return None
    return "not for the bank"


# The events whose effect depends on which of them came last, with the account column that
# holds the platform seq of the last one handled for the card. A pipelined publish can store
# a card's later event before the retry of an earlier one (events.nats); applying the earlier
# one after it would leave the bank with a stale state, so it is recorded and not applied.
# HR status and loss are kept apart: one use case writes a loss event and its HR status
# change together, and either may arrive first. The other events are order-free:
# `card.produced` only fills in what is missing, `card.retired` and the closure request
# happen once per card.
ORDERED_STATES = {"card.hr_status_changed": "platform_hr_seq",
                  "card.formal_loss_reported": "platform_loss_seq",
                  "card.temporary_loss_reported": "platform_loss_seq",
                  "card.unblocked": "platform_loss_seq"}


def _keep_card_order(account: BankAccount, event: Event) -> str | None:
    """A note when `event` is older than the last event of its kind handled for the card
    (then nothing changes); otherwise it becomes the last one, whatever its effect turns out
    to be ("already applied" and "HR function only" count: they are that card's newest word)."""
    column = ORDERED_STATES.get(event.type)
    if column is None or event.seq is None:
        return None
    last = getattr(account, column)
    if last is not None and event.seq < last:
        return f"out of order: seq {last} was handled first"
    setattr(account, column, event.seq)
    return None


def _platform_retired(uow: UnitOfWork, account: BankAccount, event: Event) -> str | None:
    """The platform retired the card. Recorded on the account; for a replacement the bank
    also does what its declared policy says with the old account (replaced_card_policy.toml)
    and, from now on, refuses every door that would bring the old card back."""
    if account.retired_at is not None:
        return "already applied"
    before = _snapshot(account)
    account.retired_at = event.occurred_at
    account.retired_reason = str(event.payload.get("reason") or "retired")[:32]
    account.successor_card_no = event.payload.get("successor_card_no")
    extra = {"retired_reason": account.retired_reason,
             "successor_card_no": account.successor_card_no, "policy_action": None}
    if account.retired_reason == rules.REPLACED:
        action = replaced_card_action(account.bank_code)
        extra["policy_action"] = str(action)
        if action == ReplacedCardAction.CLOSURE_TASK:
            extra["task_id"] = request_closure(
                uow=uow, bank_code=account.bank_code, card_no=account.card_no, pan=account.pan,
                reason=rules.REPLACED, successor_card_no=account.successor_card_no)
    # MOVE_TO_SUCCESSOR: the account continues under the successor card (recorded above);
    # no branch task, and the old card itself stays refused on every door.
    _audit(uow, platform_actor(account.bank_code), account, "bank.card_retired", before,
           extra=extra)
    return None


def _platform_loss(uow: UnitOfWork, account: BankAccount, event: Event) -> str | None:
    functions = event.payload.get("functions") or []
    channel = str(event.payload.get("channel") or "platform")
    kind = AccountStatus.FORMAL_LOSS if event.type == "card.formal_loss_reported" \
        else AccountStatus.TEMPORARY_LOSS
    if "financial" in functions:  # asked through the gateway; normally applied already
        if account.status == kind or account.status == AccountStatus.CLOSED:
            return "already applied"
        if account.status == AccountStatus.FORMAL_LOSS:
            return "a formal loss is in force"
        _report_loss(uow, actor=platform_actor(account.bank_code), account=account, kind=kind,
                     source="platform", channel=channel)
        return None
    if kind != AccountStatus.FORMAL_LOSS or channel_family(channel) != ONLINE:
        return "HR function only"
    # 四.6(2): online the holder reports the HR function; the financial side follows the bank.
    if rules.online_formal_loss_action(account.bank_code) != "temporary_loss":
        return "HR formal loss noted (bank policy: note)"
    if account.status != AccountStatus.ACTIVE:
        return f"HR formal loss noted (account {account.status})"
    _report_loss(uow, actor=platform_actor(account.bank_code), account=account,
                 kind=AccountStatus.TEMPORARY_LOSS, source="platform_sync", channel=channel,
                 note="protective temporary loss after the holder's online formal loss")
    return None


def _platform_unblock(uow: UnitOfWork, account: BankAccount, event: Event) -> str | None:
    functions = event.payload.get("functions") or []
    channel = str(event.payload.get("channel") or "platform")
    actor = platform_actor(account.bank_code)
    rules.check_not_replaced(account.retired_reason, account.successor_card_no)
    if "financial" in functions:
        if account.status not in LOST:
            return "already applied"
        _lift_loss(uow, actor=actor, account=account, channel=channel, reason="unblocked")
        return None
    protective = [loss for loss in _losses_in_force(uow, account) if loss.source == "platform_sync"]
    if not protective or channel_family(channel) != channel_family(protective[0].channel):
        return "HR function only"
    _lift_loss(uow, actor=actor, account=account, channel=channel, reason="unblocked",
               sources=("platform_sync",))
    return None


# ---------------------------------------------------------------------------------------
# Helpers


_PRELOADED = "bank_accounts_by_card"  # in Session.info: the accounts a batch loaded at once


def _by_card(uow: UnitOfWork, bank_code: str, card_no: str) -> BankAccount | None:
    preloaded = uow.session.info.get(_PRELOADED, {})
    if (bank_code, card_no) in preloaded:  # the same object the identity map holds
        return preloaded[(bank_code, card_no)]
    return uow.session.execute(select(BankAccount).where(
        BankAccount.bank_code == bank_code, BankAccount.card_no == card_no)).scalar_one_or_none()


def _preload_accounts(uow: UnitOfWork, cards: list[tuple[str, str]]) -> None:
    """Load the accounts of these (bank_code, card_no) in one query, for `_by_card`."""
    if not cards:
        return
    card_nos = sorted({card for _, card in cards})
    # On PostgreSQL the card numbers as one array: a statement that is the same text for every
    # batch (psycopg keeps it converted), not one parameter per card.
    by_card = BankAccount.card_no == any_(cast(card_nos, ARRAY(String))) if _on_postgresql(uow) \
        else BankAccount.card_no.in_(card_nos)
    accounts = uow.session.execute(select(BankAccount).where(
        BankAccount.bank_code.in_({code for code, _ in cards}), by_card)).scalars()
    uow.session.info[_PRELOADED] = {(a.bank_code, a.card_no): a for a in accounts}


def _account_for_card(uow: UnitOfWork, bank_code: str, card_no: str, pan: str | None) -> BankAccount:
    """The account of the card the platform names; opened now if the bank has not heard of
    the card yet (the platform's production event may still be on its way)."""
    account = _by_card(uow, bank_code, card_no)
    if account is None or (pan is not None and account.pan != pan):
        account = open_account(uow=uow, bank_code=bank_code, card_no=card_no, pan=pan)
    return account


def _bind_pan(uow: UnitOfWork, account: BankAccount, pan: str) -> None:
    if account.pan is not None:
        raise AccountNumberMismatch()
    elsewhere = uow.session.execute(select(BankAccount.id).where(BankAccount.pan == pan)).first()
    if elsewhere is not None:
        raise AccountNumberMismatch()
    account.pan = pan


def tell_platform_payment_held(uow: UnitOfWork, account: BankAccount, *, amount_fen: int,
                               at: datetime) -> BankEvent:
    """A payment held until activation: the platform texts the holder (the amount in `note`)."""
    return _tell_platform(uow, account, BankEventType.PAYMENT_HELD, at, note=str(amount_fen))


def _tell_platform(uow: UnitOfWork, account: BankAccount, kind: BankEventType, at: datetime, *,
                   channel: str | None = None, ends_at: datetime | None = None,
                   task_id: str | None = None, note: str | None = None,
                   hr_function: bool = False, branch_code: str | None = None) -> BankEvent:
    """Write the bank's event to its outbox (same transaction as the change)."""
    row = BankOutboxMessage(
        event_id=f"{account.bank_code}-{uuid.uuid4().hex}", bank_code=account.bank_code,
        card_no=account.card_no, type=str(kind), occurred_at=at,
        payload={"pan": account.pan, "channel": channel,
                 "ends_at": as_utc(ends_at).isoformat() if ends_at else None,
                 "task_id": task_id, "note": note, "hr_function": hr_function,
                 "branch_code": branch_code})
    uow.session.add(row)
    return event_of(row)


def _last_events(uow: UnitOfWork, account: BankAccount, kind: BankEventType) -> list[BankEvent]:
    row = uow.session.execute(select(BankOutboxMessage).where(
        BankOutboxMessage.bank_code == account.bank_code,
        BankOutboxMessage.card_no == account.card_no, BankOutboxMessage.type == str(kind))
        .order_by(BankOutboxMessage.seq.desc()).limit(1)).scalar_one_or_none()
    return [event_of(row)] if row is not None else []


def _snapshot(account: BankAccount) -> dict:
    return {"status": account.status, "pan_known": account.pan is not None,
            "activated": account.activated_at is not None,
            "valid_until": account.valid_until.isoformat() if account.valid_until else None}


def _audit(uow: UnitOfWork, actor: Actor, account: BankAccount, action: str, before: dict | None,
           extra: dict | None = None) -> None:
    uow.session.flush()
    uow.audit(actor=actor, action=action, entity_type="bank_account",
              entity_id=f"{account.bank_code}:{account.card_no}", before=before,
              after={**_snapshot(account), **(extra or {})})


def _view(uow: UnitOfWork, account: BankAccount) -> AccountView:
    today = local_date(uow.now())
    status = AccountStatus(account.status)
    capability = {}
    for kind in (rules.TransactionKind.POS_PURCHASE, rules.TransactionKind.ONLINE_PAYMENT,
                 rules.TransactionKind.CREDIT):
        try:
            capability[kind] = rules.decide(status=status, valid_until=account.valid_until,
                                            kind=kind, today=today) == rules.Outcome.POST
        except DomainError:  # refused now
            capability[kind] = False
    return AccountView(
        bank_code=account.bank_code, pan=account.pan, card_no=account.card_no,
        holder_ref=account.holder_ref, status=account.status,
        financial_status=str(rules.financial_status(status, account.valid_until, today)),
        balance_fen=payments.balance(uow, account), issue_date=account.issue_date,
        valid_until=account.valid_until, activated_at=account.activated_at,
        hr_status=account.hr_status,
        card_present_allowed=capability[rules.TransactionKind.POS_PURCHASE],
        online_allowed=capability[rules.TransactionKind.ONLINE_PAYMENT],
        credit_allowed=capability[rules.TransactionKind.CREDIT],
        held_payments=payments.held_count(uow, account),
        losses_in_force=tuple(LossView(kind=loss.kind, source=loss.source, channel=loss.channel,
                                       branch_code=loss.branch_code, reported_at=loss.reported_at,
                                       ends_at=loss.ends_at)
                              for loss in _losses_in_force(uow, account)))


def _task_view(uow: UnitOfWork, task: BankClosureTask, account: BankAccount) -> ClosureTaskView:
    return ClosureTaskView(
        task_id=task.task_id, bank_code=task.bank_code, card_no=task.card_no, pan=account.pan,
        successor_card_no=task.successor_card_no, reason=task.reason, status=task.status,
        requested_at=task.requested_at, completed_at=task.completed_at,
        balance_fen=payments.balance(uow, account))

