"""The reference bank's branch API (`/banks/{bank_code}/…`): what a teller, a POS/ATM switch or
a payer does at the bank. Only that bank's staff (role `bank` with the same bank code) or the
card-centre admin: another bank's staff get 404 under that bank code, as for an account
that does not exist.

Changes made here are the bank's own; the platform learns them from the bank's events in real
time (a formal loss at a branch covers the HR function too, 四.6(1)).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from yikatong.api.deps import current_actor, platform_dep
from yikatong.banking import payments, service
from yikatong.banking.errors import UnknownAccount
from yikatong.banking.payments import ChipProof
from yikatong.banking.runtime import ReferenceBank
from yikatong.banking.schemas import (
    AccountIn,
    AccountOut,
    ActivationIn,
    BranchLossIn,
    CardTransactionIn,
    ClosureTaskOut,
    CreditIn,
    DepositIn,
    OnlinePaymentIn,
    TransactionOut,
    TransferIn,
)
from yikatong.core.actor import Actor, Role
from yikatong.core.choices import echo
from yikatong.directory.errors import UnknownBank
from yikatong.directory.rules import packaged_banks
from yikatong.platform import Platform

router = APIRouter(prefix="/banks", tags=["banks 合作银行"])


def bank_staff(bank_code: str, actor: Actor = Depends(current_actor)) -> Actor:
    if actor.role == Role.BANK and actor.bank_code != bank_code:
        raise UnknownAccount()  # another bank's accounts answer as missing ones
    partners = [bank.code for bank in packaged_banks()]
    if bank_code not in partners:
        raise UnknownBank(bank_code=echo(bank_code), allowed=partners)
    return actor


def _run(platform: Platform, operation, **kwargs) -> Any:
    """One bank use case in one bank transaction; relayed to the platform after commit."""
    bank = platform.get(ReferenceBank)
    with bank.uow() as uow:
        result = operation(uow=uow, **kwargs)
        bank.commit(uow)
    return result


def _read(platform: Platform, operation, **kwargs) -> Any:
    with platform.get(ReferenceBank).uow() as uow:
        return operation(uow=uow, **kwargs)


def _account(view: service.AccountView) -> AccountOut:
    return AccountOut.model_validate(view)


def _transaction(view: payments.TransactionView, response: Response) -> TransactionOut:
    if view.status == payments.HELD:
        response.status_code = 202  # accepted, waiting for the activation
    return TransactionOut.model_validate(view)


@router.post("/{bank_code}/accounts", response_model=AccountOut,
             summary="Register a produced card's account number / 登记制卡账户")
def register_account(bank_code: str, body: AccountIn, actor: Actor = Depends(bank_staff),
                     platform: Platform = Depends(platform_dep)):
    _run(platform, service.open_account, bank_code=bank_code, card_no=body.card_no, pan=body.pan,
         issue_date=body.issue_date, actor=actor)
    return _account(_read(platform, service.account_view, bank_code=bank_code, pan=body.pan))


@router.get("/{bank_code}/accounts/{pan}", response_model=AccountOut,
            summary="An account / 账户信息")
def get_account(bank_code: str, pan: str, actor: Actor = Depends(bank_staff),
                platform: Platform = Depends(platform_dep)):
    return _account(_read(platform, service.account_view, bank_code=bank_code, pan=pan))


@router.post("/{bank_code}/accounts/{pan}/activation", response_model=AccountOut,
             summary="Activate the financial function at a branch / 网点激活金融功能")
def activate(bank_code: str, pan: str, body: ActivationIn, actor: Actor = Depends(bank_staff),
             platform: Platform = Depends(platform_dep)):
    return _account(_run(platform, service.activate_at_branch, actor=actor, bank_code=bank_code,
                         pan=pan, id_document_checked=body.id_document_checked,
                         card_checked=body.card_checked))


@router.post("/{bank_code}/accounts/{pan}/losses", response_model=AccountOut,
             summary="Report the card lost at a branch / 网点挂失")
def report_loss(bank_code: str, pan: str, body: BranchLossIn, actor: Actor = Depends(bank_staff),
                platform: Platform = Depends(platform_dep)):
    return _account(_run(platform, service.report_loss_at_branch, actor=actor,
                         bank_code=bank_code, pan=pan, kind=body.kind))


@router.post("/{bank_code}/accounts/{pan}/unblock", response_model=AccountOut,
             summary="Unblock at a branch / 网点解挂")
def unblock(bank_code: str, pan: str, actor: Actor = Depends(bank_staff),
            platform: Platform = Depends(platform_dep)):
    return _account(_run(platform, service.unblock_at_branch, actor=actor, bank_code=bank_code,
                         pan=pan))


@router.post("/{bank_code}/accounts/{pan}/deposits", response_model=TransactionOut,
             summary="Cash deposit at the counter / 柜面存款")
def deposit(bank_code: str, pan: str, body: DepositIn, response: Response,
            actor: Actor = Depends(bank_staff), platform: Platform = Depends(platform_dep)):
    return _transaction(_run(platform, payments.deposit, actor=actor, bank_code=bank_code, pan=pan,
                             amount_fen=body.amount_fen, request_id=body.request_id,
                             currency=body.currency), response)


@router.post("/{bank_code}/accounts/{pan}/card-transactions", response_model=TransactionOut,
             summary="POS purchase or counter/ATM withdrawal with the chip / 有卡交易")
def card_transaction(bank_code: str, pan: str, body: CardTransactionIn, response: Response,
                     actor: Actor = Depends(bank_staff), platform: Platform = Depends(platform_dep)):
    chip = ChipProof(pan=body.chip.pan, psn=body.chip.psn, key_version=body.chip.key_version,
                     cdol1_data=bytes.fromhex(body.chip.cdol1_data), atc=body.chip.atc,
                     arqc=bytes.fromhex(body.chip.arqc))
    bank = platform.get(ReferenceBank)
    return _transaction(_run(platform, payments.card_present, actor=actor, keystore=bank.keystore,
                             bank_code=bank_code, pan=pan, kind=body.kind,
                             amount_fen=body.amount_fen, request_id=body.request_id, chip=chip,
                             merchant=body.merchant, channel=body.channel), response)


@router.post("/{bank_code}/accounts/{pan}/online-payments", response_model=TransactionOut,
             summary="Card-not-present payment / 线上无卡支付")
def online_payment(bank_code: str, pan: str, body: OnlinePaymentIn, response: Response,
                   actor: Actor = Depends(bank_staff), platform: Platform = Depends(platform_dep)):
    return _transaction(_run(platform, payments.online_payment, actor=actor, bank_code=bank_code,
                             pan=pan, amount_fen=body.amount_fen, request_id=body.request_id,
                             merchant=body.merchant, currency=body.currency,
                             country=body.country), response)


@router.post("/{bank_code}/accounts/{pan}/transfers", response_model=TransactionOut,
             summary="Transfer to another domestic account / 转账")
def transfer(bank_code: str, pan: str, body: TransferIn, response: Response,
             actor: Actor = Depends(bank_staff), platform: Platform = Depends(platform_dep)):
    return _transaction(_run(platform, payments.transfer, actor=actor, bank_code=bank_code, pan=pan,
                             to_account=body.to_account, amount_fen=body.amount_fen,
                             request_id=body.request_id, currency=body.currency,
                             country=body.country), response)


@router.post("/{bank_code}/accounts/{pan}/credits", response_model=TransactionOut,
             summary="Money paid in (benefits, subsidies) / 入账")
def credit(bank_code: str, pan: str, body: CreditIn, response: Response,
           actor: Actor = Depends(bank_staff), platform: Platform = Depends(platform_dep)):
    return _transaction(_run(platform, payments.credit, actor=actor, bank_code=bank_code, pan=pan,
                             amount_fen=body.amount_fen, request_id=body.request_id,
                             payer=body.payer, currency=body.currency, country=body.country),
                        response)


@router.get("/{bank_code}/accounts/{pan}/transactions", response_model=list[TransactionOut],
            summary="The account's transactions / 交易明细")
def transactions(bank_code: str, pan: str, actor: Actor = Depends(bank_staff),
                 platform: Platform = Depends(platform_dep)):
    return [TransactionOut.model_validate(t)
            for t in _read(platform, payments.transactions, bank_code=bank_code, pan=pan)]


@router.get("/{bank_code}/held-payments", response_model=list[TransactionOut],
            summary="Payments held until activation / 待激活暂挂款项")
def held_payments(bank_code: str, pan: str | None = None, actor: Actor = Depends(bank_staff),
                  platform: Platform = Depends(platform_dep)):
    return [TransactionOut.model_validate(t)
            for t in _read(platform, payments.held_payments, bank_code=bank_code, pan=pan)]


@router.get("/{bank_code}/closure-tasks", response_model=list[ClosureTaskOut],
            summary="Accounts to close after an exchange / 换卡后待销户任务")
def closure_tasks(bank_code: str, status: str | None = Query(default="open"),
                  actor: Actor = Depends(bank_staff), platform: Platform = Depends(platform_dep)):
    return [ClosureTaskOut.model_validate(t)
            for t in _read(platform, service.closure_tasks, bank_code=bank_code, status=status)]


@router.post("/{bank_code}/closure-tasks/{task_id}/complete", response_model=ClosureTaskOut,
             summary="Close the account at the branch / 网点销户")
def complete_closure(bank_code: str, task_id: str, actor: Actor = Depends(bank_staff),
                     platform: Platform = Depends(platform_dep)):
    return ClosureTaskOut.model_validate(
        _run(platform, service.complete_closure, actor=actor, bank_code=bank_code, task_id=task_id))
