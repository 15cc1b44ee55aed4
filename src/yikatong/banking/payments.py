"""Money on the card's account: deposit, withdrawal, card-present purchase, online payment,
transfer, incoming credit, and the queue of payments held until activation (四.9).

Each use case runs in the bank's unit of work and does not commit. Every request carries the
caller's request id: the same id with the same content returns the first answer (nothing is
posted twice), with other content raises IdempotencyKeyReused. Postings go to the shared
ledger (`yikatong.ledger`), which never lets a customer's account go below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from yikatong.banking import rules
from yikatong.banking.errors import (
    NOT_ACTIVATED_EN,
    NOT_ACTIVATED_ZH,
    AccountClosed,
    AccountFrozen,
    AccountLost,
    AccountNotActivated,
    CardReplaced,
    CryptogramInvalid,
    CryptogramMismatch,
    CryptogramReplayed,
    NotRefundable,
    UnknownAccount,
)
from yikatong.banking.models import BankAccount, BankTransaction
from yikatong.banking.rules import AccountStatus, Outcome, TransactionKind
from yikatong.cards import protocols as seam
from yikatong.cards.rules import check_pan
from yikatong.chip.host import verify_arqc
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError, IdempotencyKeyReused, InvalidInput
from yikatong.core.money import Fen
from yikatong.crypto.errors import KeyNotFound, KeyUnusable
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import InsufficientFunds
from yikatong.ledger.rules import AccountKind


@dataclass(frozen=True)
class ChipProof:
    """What a POS or ATM forwards from the chip's GENERATE AC (chip.bankcard.ArqcResult)."""

    pan: str
    psn: int
    key_version: int
    cdol1_data: bytes
    atc: int
    arqc: bytes


@dataclass(frozen=True)
class TransactionView:
    request_id: str
    pan: str
    kind: str
    amount_fen: Fen
    counterparty: str | None
    channel: str
    status: str  # posted | held | failed
    reason_code: str | None
    reason_zh: str | None
    reason_en: str | None
    created_at: datetime
    settled_at: datetime | None
    balance_fen: Fen  # the account's balance as of this answer


POSTED, HELD, FAILED = "posted", "held", "failed"
DISBURSEMENT_CHANNEL = "disbursement"  # a row of a 代发 file (banking.disbursement)
PAYER_CREDIT_CHANNEL = "payer_credit"  # a payer's credit asked through the gateway (credit_to_account)
# Credits posted from the payer's settlement book at the bank (not the inbound clearing book).
FROM_PAYER_BOOK = frozenset({DISBURSEMENT_CHANNEL, PAYER_CREDIT_CHANNEL})


# ---------------------------------------------------------------------------------------
# Use cases


def deposit(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str, amount_fen: Fen,
            request_id: str, currency: str = "CNY") -> TransactionView:
    """Cash paid in at the counter (refused before activation: the cash cannot wait)."""
    rules.check_currency(currency)
    account = account_by_pan(uow, bank_code, pan)
    return _transact(uow, actor=actor, account=account, kind=TransactionKind.DEPOSIT,
                     amount=amount_fen, request_id=request_id, channel="counter")


def card_present(*, uow: UnitOfWork, actor: Actor, keystore: KeyStore, bank_code: str, pan: str,
                 kind: str, amount_fen: Fen, request_id: str, chip: ChipProof,
                 merchant: str | None = None, channel: str = "pos") -> TransactionView:
    """A POS purchase or a counter/ATM withdrawal with the card: the bank authenticates the
    chip's ARQC (SM4, chip.host.verify_arqc) over the amount, currency and country it signed,
    refuses a replayed counter, and refuses the card in person after its validity (二.2)."""
    kind = TransactionKind(kind)
    if kind not in rules.CARD_PRESENT:
        raise InvalidInput(reason_zh="有卡交易只能是消费或取款",
                           reason_en="a card-present transaction is a purchase or a withdrawal")
    account = account_by_pan(uow, bank_code, pan)
    replay = _replay(uow, account, request_id, kind, amount_fen, merchant)
    if replay is not None:  # answered before: the chip's counter has moved on since
        return replay
    data = rules.parse_cdol1(chip.cdol1_data)
    rules.check_chip_data(data, amount=rules.check_positive_amount(amount_fen))
    if chip.pan != account.pan:
        raise CryptogramMismatch(what_zh="卡片账号与请求账号不同",
                                 what_en="the card's account number is not the request's")
    if not _cryptogram_valid(keystore, chip):
        raise CryptogramInvalid()
    if chip.atc <= account.last_atc:
        raise CryptogramReplayed()
    view = _transact(uow, actor=actor, account=account, kind=kind, amount=amount_fen,
                     request_id=request_id, channel=channel, counterparty=merchant, atc=chip.atc)
    account.last_atc = chip.atc
    return view


def online_payment(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str, amount_fen: Fen,
                   request_id: str, merchant: str, currency: str = "CNY",
                   country: str = "CN") -> TransactionView:
    """A card-not-present payment (also after the card's validity, 二.2); held before
    activation (contributions and fees paid from the card wait for it, 四.9)."""
    rules.check_currency(currency)
    rules.check_country(country)
    account = account_by_pan(uow, bank_code, pan)
    return _transact(uow, actor=actor, account=account, kind=TransactionKind.ONLINE_PAYMENT,
                     amount=amount_fen, request_id=request_id, channel="online",
                     counterparty=merchant)


def transfer(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str, to_account: str,
             amount_fen: Fen, request_id: str, currency: str = "CNY", country: str = "CN",
             channel: str = "online") -> TransactionView:
    """Transfer to another domestic account. When the payee's account is one this reference
    bank keeps, the money arrives there as a `transfer_in` (held if that account is not
    activated yet); otherwise it leaves through interbank clearing."""
    rules.check_currency(currency)
    rules.check_country(country)
    check_pan(to_account)
    account = account_by_pan(uow, bank_code, pan)
    if to_account == account.pan:
        raise InvalidInput(reason_zh="收款账户不能是本账户", reason_en="cannot transfer to the same account")
    payee = _find_by_pan(uow, to_account)
    if payee is not None and payee.status == AccountStatus.CLOSED:
        raise AccountClosed(zh="收款账户已销户", en="The payee's account is closed")
    return _transact(uow, actor=actor, account=account, kind=TransactionKind.TRANSFER_OUT,
                     amount=amount_fen, request_id=request_id, channel=channel,
                     counterparty=to_account)


def credit(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str, amount_fen: Fen,
           request_id: str, payer: str, currency: str = "CNY", country: str = "CN") -> TransactionView:
    """Money paid in: pensions, unemployment and work-injury money, subsidies, refunds
    (三.4). Accepted while the card is lost or past its validity; held before activation."""
    rules.check_currency(currency)
    rules.check_country(country)
    account = account_by_pan(uow, bank_code, pan)
    return _transact(uow, actor=actor, account=account, kind=TransactionKind.CREDIT,
                     amount=amount_fen, request_id=request_id, channel="credit",
                     counterparty=payer)


def pay_from_account(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str,
                     amount_fen: Fen, request_id: str, payee_code: str,
                     authorisation: str) -> TransactionView:
    """A direct debit (授权扣款) for `payee_code` on the holder's `authorisation`, posted into
    the payee's settlement account at the bank (rules.settlement_code). Decided at once:
    posted, or failed with the reason (not activated, not enough money, lost, frozen, closed,
    the old card of a replacement); a failure is recorded too, so the request id keeps its
    answer. Same request id, other content: IdempotencyKeyReused."""
    _check_text(payee_code, "收款方代码", "payee code")
    _check_text(authorisation, "授权编号", "authorisation")
    account = account_by_pan(uow, bank_code, pan)
    content = {"payee": payee_code, "authorisation": authorisation}
    replay = _replay_with(uow, account, request_id, TransactionKind.DIRECT_DEBIT, amount_fen,
                          content)
    if replay is not None:
        return replay
    amount = rules.check_positive_amount(amount_fen)
    tx = _new_tx(uow, account, request_id, TransactionKind.DIRECT_DEBIT, amount, content,
                 counterparty=payee_code, channel="direct_debit", authorisation=authorisation)
    try:
        with uow.session.begin_nested():
            rules.check_not_replaced(account.retired_reason, account.successor_card_no)
            _post(uow, account, tx)
        tx.status, tx.settled_at = POSTED, tx.created_at
    except DomainError as error:
        _fail(tx, error, tx.created_at)
    return _record_tx(uow, actor, account, tx)


def refund_to_account(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str,
                      amount_fen: Fen, request_id: str,
                      original_request_id: str) -> TransactionView:
    """Give back all or part of a posted direct debit of this account, from the payee's
    settlement account. Money in: accepted while the card is lost, held before activation,
    refused (failed) when the account is closed or frozen or the refunds would pass the
    original amount."""
    _check_request_id(original_request_id)
    account = account_by_pan(uow, bank_code, pan)
    content = {"original": original_request_id}
    replay = _replay_with(uow, account, request_id, TransactionKind.REFUND, amount_fen, content)
    if replay is not None:
        return replay
    amount = rules.check_positive_amount(amount_fen)
    original = uow.session.execute(select(BankTransaction).where(
        BankTransaction.bank_code == bank_code,
        BankTransaction.request_id == original_request_id)).scalar_one_or_none()
    tx = _new_tx(uow, account, request_id, TransactionKind.REFUND, amount, content,
                 counterparty=original.counterparty if original is not None else None,
                 channel="refund", original_request_id=original_request_id,
                 authorisation=original.authorisation if original is not None else None)
    try:
        _check_refundable(uow, account, original, amount)
        _money_in(uow, account, tx, amount)
    except DomainError as error:
        _fail(tx, error, tx.created_at)
    return _record_tx(uow, actor, account, tx)


def credit_to_account(*, uow: UnitOfWork, actor: Actor, bank_code: str, pan: str,
                      amount_fen: Fen, request_id: str, payer_code: str,
                      reference: str) -> TransactionView:
    """A payer's credit to the card's account, not tied to an earlier debit (a transit
    rebate a campaign's sponsor pays back, say): from the payer's settlement account at the
    bank (rules.settlement_code) into the customer's, with the payer as counterparty and the
    payer's `reference` recorded on the transaction. Money in: accepted while the card is lost
    or past its validity, held before activation (四.9), failed with its reason when the
    account is closed or frozen; a failure is recorded too, so the request id keeps its answer.
    Same request id, other content: IdempotencyKeyReused."""
    _check_text(payer_code, "付款方代码", "payer code")
    _check_text(reference, "付款方参考号", "payer's reference")
    account = account_by_pan(uow, bank_code, pan)
    content = {"payer": payer_code, "reference": reference}
    replay = _replay_with(uow, account, request_id, TransactionKind.CREDIT, amount_fen, content)
    if replay is not None:
        return replay
    amount = rules.check_positive_amount(amount_fen)
    tx = _new_tx(uow, account, request_id, TransactionKind.CREDIT, amount, content,
                 counterparty=payer_code, channel=PAYER_CREDIT_CHANNEL, authorisation=reference)
    try:
        _money_in(uow, account, tx, amount)
    except DomainError as error:
        _fail(tx, error, tx.created_at)
    return _record_tx(uow, actor, account, tx)


def _money_in(uow: UnitOfWork, account, tx: BankTransaction, amount: int) -> None:
    """Money into a customer's account (a refund, a payer's credit): refused while frozen,
    held before activation (四.9, the platform told so it can text the holder), else posted."""
    if account.frozen_at is not None:
        raise AccountFrozen(reason=account.frozen_reason or "-")
    outcome = rules.decide(status=account.status, valid_until=account.valid_until,
                           kind=TransactionKind(tx.kind), today=local_date(tx.created_at))
    if outcome == Outcome.HOLD:
        from yikatong.banking.service import tell_platform_payment_held

        tx.status, tx.reason_code = HELD, "not_activated"
        tx.reason_zh, tx.reason_en = NOT_ACTIVATED_ZH, NOT_ACTIVATED_EN
        tell_platform_payment_held(uow, account, amount_fen=amount, at=tx.created_at)
    else:
        with uow.session.begin_nested():
            _post(uow, account, tx)
        tx.status, tx.settled_at = POSTED, tx.created_at


def _check_refundable(uow: UnitOfWork, account: BankAccount, original: BankTransaction | None,
                      amount: int) -> None:
    if (original is None or original.account_id != account.id
            or original.kind != TransactionKind.DIRECT_DEBIT or original.status != POSTED):
        raise NotRefundable(reason_zh="本账户没有该笔已入账的授权扣款",
                            reason_en="this account has no such posted direct debit")
    refunded = uow.session.execute(select(func.coalesce(func.sum(BankTransaction.amount_fen), 0))
                                   .where(BankTransaction.bank_code == account.bank_code,
                                          BankTransaction.original_request_id == original.request_id,
                                          BankTransaction.kind == str(TransactionKind.REFUND),
                                          BankTransaction.status.in_((POSTED, HELD)))).scalar_one()
    if refunded + amount > original.amount_fen:
        raise NotRefundable(reason_zh=f"退款合计将超过原扣款金额（已退 {refunded} 分）",
                            reason_en=f"the refunds would pass the original amount "
                                      f"({refunded} fen refunded already)")


# The seam's refusal codes (cards.protocols.PAYMENT_*) for the bank's own error codes.
REFUSAL_CODES = {
    AccountNotActivated.code: seam.PAYMENT_NOT_ACTIVATED,
    InsufficientFunds.code: seam.PAYMENT_INSUFFICIENT_FUNDS,
    AccountLost.code: seam.PAYMENT_ACCOUNT_LOST,
    AccountFrozen.code: seam.PAYMENT_ACCOUNT_FROZEN,
    AccountClosed.code: seam.PAYMENT_ACCOUNT_CLOSED,
    UnknownAccount.code: seam.PAYMENT_UNKNOWN_ACCOUNT,
    CardReplaced.code: seam.PAYMENT_CARD_REPLACED,
    NotRefundable.code: seam.PAYMENT_NOT_REFUNDABLE,
}


def gateway_pay_from_account(*, uow: UnitOfWork, bank_code: str, pan: str, amount_fen: Fen,
                             request_id: str, payee_code: str, authorisation: str) -> dict:
    """`BankGateway.pay_from_account` at the bank: the answer as JSON for any transport."""
    return _gateway_answer(pay_from_account, uow=uow, bank_code=bank_code, pan=pan,
                           amount_fen=amount_fen, request_id=request_id, payee_code=payee_code,
                           authorisation=authorisation)


def gateway_refund_to_account(*, uow: UnitOfWork, bank_code: str, pan: str, amount_fen: Fen,
                              request_id: str, original_request_id: str) -> dict:
    """`BankGateway.refund_to_account` at the bank: the answer as JSON for any transport."""
    return _gateway_answer(refund_to_account, uow=uow, bank_code=bank_code, pan=pan,
                           amount_fen=amount_fen, request_id=request_id,
                           original_request_id=original_request_id)


def gateway_credit_to_account(*, uow: UnitOfWork, bank_code: str, pan: str, amount_fen: Fen,
                              request_id: str, payer_code: str, reference: str) -> dict:
    """`BankGateway.credit_to_account` at the bank: the answer as JSON for any transport."""
    return _gateway_answer(credit_to_account, uow=uow, bank_code=bank_code, pan=pan,
                           amount_fen=amount_fen, request_id=request_id, payer_code=payer_code,
                           reference=reference)


def _gateway_answer(operation, *, uow: UnitOfWork, bank_code: str, amount_fen: Fen,
                    request_id: str, **fields) -> dict:
    """`operation` done by the platform's actor at `bank_code`, answered as the seam's JSON: an
    unknown account is a refusal, not an error."""
    from yikatong.banking.service import platform_actor

    try:
        view = operation(uow=uow, actor=platform_actor(bank_code), bank_code=bank_code,
                         amount_fen=amount_fen, request_id=request_id, **fields)
    except UnknownAccount as error:
        return _refusal_json(request_id, amount_fen, error)
    return payment_json(uow, view)


def payment_json(uow: UnitOfWork, view: TransactionView) -> dict:
    """A TransactionView as the seam's BankPaymentResult (JSON): failed reads "refused"."""
    reference = uow.session.execute(select(BankTransaction.id).where(
        BankTransaction.request_id == view.request_id,
        BankTransaction.account_id == select(BankAccount.id).where(
            BankAccount.pan == view.pan).scalar_subquery())).scalar_one()
    status = "refused" if view.status == FAILED else view.status
    return {"request_id": view.request_id, "status": status, "amount_fen": view.amount_fen,
            "bank_reference": f"TX{reference:012d}",
            "reason_code": REFUSAL_CODES.get(view.reason_code, view.reason_code)
            if view.status == FAILED else None,
            "reason_zh": view.reason_zh if view.status == FAILED else None,
            "reason_en": view.reason_en if view.status == FAILED else None,
            "at": (view.settled_at or view.created_at).isoformat(),
            "balance_fen": view.balance_fen}


def _refusal_json(request_id: str, amount_fen: object, error: DomainError) -> dict:
    return {"request_id": request_id, "status": "refused", "amount_fen": amount_fen,
            "bank_reference": None, "reason_code": REFUSAL_CODES.get(error.code, error.code),
            "reason_zh": error.message_zh, "reason_en": error.message_en, "at": None,
            "balance_fen": None}


def held_payments(*, uow: UnitOfWork, bank_code: str, pan: str | None = None) -> list[TransactionView]:
    """Payments waiting for the account's activation, oldest first."""
    query = (select(BankTransaction, BankAccount).join(BankAccount)
             .where(BankTransaction.bank_code == bank_code, BankTransaction.status == HELD)
             .order_by(BankTransaction.id))
    if pan is not None:
        query = query.where(BankAccount.pan == account_by_pan(uow, bank_code, pan).pan)
    return [_view(uow, tx, account) for tx, account in uow.session.execute(query)]


def transactions(*, uow: UnitOfWork, bank_code: str, pan: str) -> list[TransactionView]:
    """Every transaction of the account, oldest first, whatever became of it."""
    account = account_by_pan(uow, bank_code, pan)
    query = (select(BankTransaction).where(BankTransaction.account_id == account.id)
             .order_by(BankTransaction.id))
    return [_view(uow, tx, account) for tx in uow.session.execute(query).scalars()]


def release_held(uow: UnitOfWork, account: BankAccount, at: datetime) -> list[TransactionView]:
    """On activation: money in first, then payments out, each in arrival order. A payment that
    cannot go through now (not enough money, say) fails with its reason; the rest go on."""
    held = list(uow.session.execute(
        select(BankTransaction).where(BankTransaction.account_id == account.id,
                                      BankTransaction.status == HELD)
        .order_by(BankTransaction.id)).scalars())
    held.sort(key=lambda tx: TransactionKind(tx.kind) not in rules.INCOMING)
    for tx in held:
        try:
            with uow.session.begin_nested():
                _post(uow, account, tx)
                tx.status = POSTED
                tx.settled_at = at
        except DomainError as error:
            _fail(tx, error, at)
    return [_view(uow, tx, account) for tx in held]


def held_count(uow: UnitOfWork, account: BankAccount) -> int:
    return uow.session.execute(select(func.count()).select_from(BankTransaction).where(
        BankTransaction.account_id == account.id, BankTransaction.status == HELD)).scalar_one()


def fail_held(uow: UnitOfWork, account: BankAccount, error: DomainError, at: datetime) -> int:
    """The account closed: what was waiting for it will never go through."""
    held = uow.session.execute(select(BankTransaction).where(
        BankTransaction.account_id == account.id, BankTransaction.status == HELD)).scalars().all()
    for tx in held:
        _fail(tx, error, at)
    return len(held)


def open_ledger_account(uow: UnitOfWork, account: BankAccount) -> None:
    ledger.open_account(uow=uow, code=rules.customer_code(account.bank_code, account.pan),
                        kind=AccountKind.LIABILITY)


def open_settlement_account(uow: UnitOfWork, bank_code: str, party: str) -> None:
    ledger.open_account(uow=uow, code=rules.settlement_code(bank_code, party),
                        kind=AccountKind.LIABILITY, allow_negative=True)


def balance(uow: UnitOfWork, account: BankAccount) -> Fen:
    if account.pan is None:
        return 0
    open_ledger_account(uow, account)
    return ledger.balance(uow=uow, code=rules.customer_code(account.bank_code, account.pan))


# ---------------------------------------------------------------------------------------
# Helpers


def account_by_pan(uow: UnitOfWork, bank_code: str, pan: str) -> BankAccount:
    """The bank's account with this number; another bank's account reads as unknown."""
    account = _find_by_pan(uow, pan) if isinstance(pan, str) else None
    if account is None or account.bank_code != bank_code:
        raise UnknownAccount()
    return account


def _find_by_pan(uow: UnitOfWork, pan: str) -> BankAccount | None:
    return uow.session.execute(select(BankAccount).where(BankAccount.pan == pan)).scalar_one_or_none()


def _check_request_id(request_id: object) -> str:
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 64 or not request_id.isprintable():
        raise InvalidInput(reason_zh="请求编号应为 1–64 个可打印字符",
                           reason_en="the request id must be 1–64 printable characters")
    return request_id


def _replay(uow: UnitOfWork, account: BankAccount, request_id: str, kind: TransactionKind,
            amount: object, counterparty: str | None) -> TransactionView | None:
    """The first answer to a repeated request id; IdempotencyKeyReused for other content."""
    _check_request_id(request_id)
    existing = uow.session.execute(select(BankTransaction).where(
        BankTransaction.bank_code == account.bank_code,
        BankTransaction.request_id == request_id)).scalar_one_or_none()
    if existing is None:
        return None
    if existing.fingerprint != _fingerprint(account, kind, amount, counterparty):
        raise IdempotencyKeyReused(key=request_id)
    return _view(uow, existing, account)


def _check_text(value: object, what_zh: str, what_en: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isprintable():
        raise InvalidInput(reason_zh=f"{what_zh}应为 1–64 个可打印字符",
                           reason_en=f"the {what_en} must be 1–64 printable characters")
    return value


def _replay_with(uow: UnitOfWork, account: BankAccount, request_id: str, kind: TransactionKind,
                 amount: object, content: dict) -> TransactionView | None:
    """`_replay` for requests whose content is more than a counterparty."""
    _check_request_id(request_id)
    existing = uow.session.execute(select(BankTransaction).where(
        BankTransaction.bank_code == account.bank_code,
        BankTransaction.request_id == request_id)).scalar_one_or_none()
    if existing is None:
        return None
    if existing.fingerprint != rules.fingerprint(pan=account.pan, kind=str(kind), amount=amount,
                                                 **content):
        raise IdempotencyKeyReused(key=request_id)
    return _view(uow, existing, account)


def _new_tx(uow: UnitOfWork, account: BankAccount, request_id: str, kind: TransactionKind,
            amount: int, content: dict, *, counterparty: str | None, channel: str,
            authorisation: str | None = None,
            original_request_id: str | None = None) -> BankTransaction:
    return BankTransaction(
        bank_code=account.bank_code, request_id=request_id, account_id=account.id,
        fingerprint=rules.fingerprint(pan=account.pan, kind=str(kind), amount=amount, **content),
        kind=str(kind), amount_fen=amount, counterparty=counterparty, channel=channel,
        created_at=uow.now(), authorisation=authorisation,
        original_request_id=original_request_id, status=FAILED)


def _record_tx(uow: UnitOfWork, actor: Actor, account: BankAccount,
               tx: BankTransaction) -> TransactionView:
    uow.session.add(tx)
    uow.session.flush()
    uow.audit(actor=actor, action=f"bank.{tx.kind}", entity_type="bank_account",
              entity_id=f"{account.bank_code}:{account.card_no}",
              after={"request_id": tx.request_id, "amount_fen": tx.amount_fen,
                     "status": tx.status, "reason_code": tx.reason_code,
                     "counterparty": tx.counterparty, "authorisation": tx.authorisation,
                     "original_request_id": tx.original_request_id})
    return _view(uow, tx, account)


def _fingerprint(account: BankAccount, kind: TransactionKind, amount: object,
                 counterparty: str | None) -> str:
    return rules.fingerprint(pan=account.pan, kind=str(kind), amount=amount,
                             counterparty=counterparty)


def _transact(uow: UnitOfWork, *, actor: Actor, account: BankAccount, kind: TransactionKind,
              amount: object, request_id: str, channel: str, counterparty: str | None = None,
              atc: int | None = None) -> TransactionView:
    replay = _replay(uow, account, request_id, kind, amount, counterparty)
    if replay is not None:
        return replay
    amount = rules.check_positive_amount(amount)
    if kind in rules.PAID_WITH_THE_CARD:
        rules.check_not_replaced(account.retired_reason, account.successor_card_no)
    if account.frozen_at is not None:
        raise AccountFrozen(reason=account.frozen_reason or "-")
    now = uow.now()
    outcome = rules.decide(status=account.status, valid_until=account.valid_until, kind=kind,
                           today=local_date(now))
    tx = BankTransaction(
        bank_code=account.bank_code, request_id=request_id, account_id=account.id,
        fingerprint=_fingerprint(account, kind, amount, counterparty), kind=str(kind),
        amount_fen=amount, counterparty=counterparty, channel=channel, atc=atc, created_at=now)
    if outcome == Outcome.HOLD:
        from yikatong.banking.service import tell_platform_payment_held

        tx.status = HELD
        tx.reason_code = "not_activated"
        tx.reason_zh, tx.reason_en = NOT_ACTIVATED_ZH, NOT_ACTIVATED_EN
        tell_platform_payment_held(uow, account, amount_fen=amount, at=now)  # the holder is texted
    else:
        _post(uow, account, tx)
        tx.status = POSTED
        tx.settled_at = now
    uow.session.add(tx)
    uow.session.flush()
    uow.audit(actor=actor, action=f"bank.{kind}", entity_type="bank_account",
              entity_id=f"{account.bank_code}:{account.card_no}",
              after={"request_id": request_id, "amount_fen": amount, "status": tx.status,
                     "channel": channel})
    return _view(uow, tx, account)


def _post(uow: UnitOfWork, account: BankAccount, tx: BankTransaction) -> None:
    """Post the transaction to the ledger; a transfer to an account this bank keeps also pays
    the payee (held there if the payee is not activated)."""
    kind = TransactionKind(tx.kind)
    if account.frozen_at is not None:
        raise AccountFrozen(reason=account.frozen_reason or "-")
    if rules.decide(status=account.status, valid_until=account.valid_until, kind=kind,
                    today=local_date(uow.now())) != Outcome.POST:
        raise AccountNotActivated()
    open_ledger_account(uow, account)
    if kind == TransactionKind.CREDIT and tx.channel in FROM_PAYER_BOOK:
        # a payer's credit (or a held disbursement row released): from the payer's settlement
        # book, as posted disbursement rows
        legs = [(rules.settlement_code(account.bank_code, tx.counterparty), tx.amount_fen),
                (rules.customer_code(account.bank_code, account.pan), -tx.amount_fen)]
    else:
        legs = rules.legs(kind, bank_code=account.bank_code, pan=account.pan,
                          amount=tx.amount_fen, party=tx.counterparty)
    if kind in rules.SETTLED_WITH_A_PARTY or tx.channel in FROM_PAYER_BOOK:
        open_settlement_account(uow, account.bank_code, tx.counterparty)
    else:
        book = rules.COUNTER_BOOK[kind][0]
        ledger.open_account(uow=uow, code=rules.book_code(account.bank_code, book),
                            kind=book.kind, allow_negative=book.allow_negative)
    ledger.post(uow=uow, request_id=rules.journal_request_id(account.bank_code, tx.request_id),
                kind=f"bank_{kind}", legs=legs, memo=tx.counterparty or "")
    if kind == TransactionKind.TRANSFER_OUT:
        payee = _find_by_pan(uow, tx.counterparty)
        if payee is not None:
            _transact(uow, actor=Actor.system(f"bank:{account.bank_code}"), account=payee,
                      kind=TransactionKind.TRANSFER_IN, amount=tx.amount_fen,
                      request_id=f"{tx.request_id[:60]}:in", channel="transfer",
                      counterparty=account.pan)


def _fail(tx: BankTransaction, error: DomainError, at: datetime) -> None:
    tx.status = FAILED
    tx.reason_code = error.code
    tx.reason_zh = error.message_zh
    tx.reason_en = error.message_en
    tx.settled_at = at


def _cryptogram_valid(keystore: KeyStore, chip: ChipProof) -> bool:
    try:
        return verify_arqc(keystore, pan=chip.pan, psn=chip.psn, key_version=chip.key_version,
                           cdol1_data=chip.cdol1_data, atc=chip.atc, arqc=chip.arqc)
    except (KeyNotFound, KeyUnusable, ValueError):  # an unknown key version: not a genuine card
        return False


def _view(uow: UnitOfWork, tx: BankTransaction, account: BankAccount) -> TransactionView:
    return TransactionView(
        request_id=tx.request_id, pan=account.pan, kind=tx.kind, amount_fen=tx.amount_fen,
        counterparty=tx.counterparty, channel=tx.channel, status=tx.status,
        reason_code=tx.reason_code, reason_zh=tx.reason_zh, reason_en=tx.reason_en,
        created_at=tx.created_at, settled_at=tx.settled_at, balance_fen=balance(uow, account))
