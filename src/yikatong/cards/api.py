"""The cards API: read cards, report losses, unblock, freeze, transfer out, wallet refunds,
the partner banks' activation and events, expiry reminders.

Who may do what: a holder acts online on their own cards only (others' read as 404); the
12333 agent by phone; a bank only on its own cards (another bank's card answers 404, to read
and to act, as a card that does not exist); outlet operators at their outlets; the card-centre admin everywhere.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query
from sqlalchemy.exc import IntegrityError

from yikatong.api.deps import (
    Offset,
    ReadAccess,
    RowId,
    current_actor,
    platform_dep,
    read_access,
    write_in_thread,
)
from yikatong.api.lean import answers_remembered
from yikatong.cards import service
from yikatong.cards.errors import CardNotFound
from yikatong.cards.protocols import BankEvent
from yikatong.cards.schemas import (
    ActivationIn,
    BankEventIn,
    BankEventOut,
    BlockOut,
    CardListItemOut,
    CardOut,
    DeceasedIn,
    ExpiryReminderOut,
    FreezeIn,
    LossIn,
    LossOut,
    Referral,
    TransferOutIn,
    UnblockIn,
    UnblockOut,
    UnfreezeIn,
    WalletRefundIn,
)
from yikatong.core.actor import Actor, Role
from yikatong.core.errors import Conflict
from yikatong.core.remembered import ByIdentity
from yikatong.db.uow import UnitOfWork
from yikatong.platform import Platform

router = APIRouter(prefix="/cards", tags=["cards 卡片"])



def card_out(view: service.CardView) -> CardOut:
    return CardOut.model_validate(view)


def block_out(block: service.BlockView) -> BlockOut:
    return BlockOut.model_validate(block)


def idempotent(uow, scope: str, key: str | None, request: dict, respond):
    """Replay the stored answer to a retried request (Idempotency-Key), else run and store it."""
    stored = uow.replay(scope, key, request)
    if stored is not None:
        return stored
    try:
        response = respond()
    except (Conflict, IntegrityError) as refusal:  # the card's state or its audit chain moved
        return uow.replay_or_raise(scope, key, request, refusal)
    payload = response.model_dump(mode="json")
    uow.remember(scope, key, request, payload)
    uow.commit()
    return payload


def _apply(platform: Platform, operation, **kwargs) -> CardOut:
    """Run one card use case in its own transaction and answer with the card."""
    with platform.uow() as uow:
        view = operation(uow=uow, **kwargs)
        uow.commit()
    return card_out(view)


@router.get("/expiry-reminders", response_model=list[ExpiryReminderOut],
            summary="Cards whose financial function ends within 90 days or has ended / 到期换卡提醒")
def expiry_reminders(within_days: int = Query(default=90, ge=0, le=3660),
                     actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    bank_code = actor.bank_code if actor.role == Role.BANK else None
    with platform.uow() as uow:
        reminders = service.expiry_reminders(uow=uow, within_days=within_days, bank_code=bank_code)
    return [ExpiryReminderOut.model_validate(reminder) for reminder in reminders]


@router.post("/bank-events", response_model=BankEventOut,
             summary="A partner bank reports what it did to an account / 银行金融状态事件")
def bank_event(body: BankEventIn, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    if actor.role == Role.BANK and actor.bank_code != body.bank_code:
        raise CardNotFound(card_no=body.card_no)  # as for a card that does not exist
    with platform.uow() as uow:
        service.get_card(uow=uow, card_no=body.card_no, actor=actor)
        applied = service.apply_bank_event(uow=uow, event=BankEvent(**body.model_dump()))
        view = service.get_card(uow=uow, card_no=body.card_no)
        uow.commit()
    return BankEventOut(applied=applied, card=card_out(view))


@router.get("", response_model=list[CardListItemOut], summary="List cards / 卡片列表")
def list_cards(person_id: RowId | None = None, state: str | None = None,
               bank_code: str | None = None, limit: int = Query(default=50, ge=1, le=500),
               offset: Offset = 0,
               actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    from yikatong.core.masking import mask_name, mask_ssn
    from yikatong.people.errors import PersonNotFound
    from yikatong.people.guardians import may_act_for
    from yikatong.people.privacy import sees_whole
    from yikatong.people.service import get_person

    if actor.role == Role.HOLDER and person_id is None:
        person_id = actor.person_id
    if actor.role == Role.BANK:
        bank_code = actor.bank_code
    items = []
    with platform.uow() as uow:
        if actor.role == Role.HOLDER and not may_act_for(uow, actor, person_id):
            return items  # their own cards, or a child's they are the guardian of (under 16)
        whole = sees_whole(uow, actor)  # the holder's name as the reader's people details show it
        for view in service.list_cards(uow=uow, person_id=person_id, state=state,
                                       bank_code=bank_code, limit=limit, offset=offset):
            try:
                person = get_person(uow=uow, person_id=view.person_id)
            except PersonNotFound:
                person = None
            items.append(CardListItemOut(
                card_no=view.card_no, person_id=view.person_id,
                name=(person.name if whole else mask_name(person.name)) if person else None,
                ssn_masked=mask_ssn(person.ssn) if person else None, bank_code=view.bank_code,
                pan_masked=view.pan_masked, state=view.state, hr_status=view.hr_status,
                financial_status=view.financial_status, issue_date=view.issue_date,
                financial_valid_until=view.financial_valid_until))
    return items


@router.get("/{card_no}", response_model=CardOut, summary="One card / 卡片详情")
@answers_remembered  # the same CardOut object for an unchanged card (_read_card_out)
async def get_card(card_no: str, access: ReadAccess = Depends(read_access)):
    # The hottest read: one connection and one transaction for the credential lookup, the
    # card and the answer (api.deps.ReadAccess), on the event loop on SQLite and in one
    # thread-pool hop on PostgreSQL, where a sync route with current_actor takes three hops
    # (FastAPI validates a sync route's answer in the pool again) and two checkouts.
    return await access.answer(partial(_read_card, card_no),
                               partial(service.card_read_trip, card_no))


def _read_card(card_no: str, uow: UnitOfWork, actor: Actor) -> CardOut:
    return _read_card_out(service.read_card(uow=uow, card_no=card_no, actor=actor))


# The answer model of each view read_card remembers (it hands back the same view object while
# the card does not change): validated once, not at every read of the card.
_read_card_out = ByIdentity(1024, card_out)


@router.get("/{card_no}/blocks", response_model=list[BlockOut],
            summary="Every loss and freeze of the card / 挂失与冻结记录")
async def blocks(card_no: str, access: ReadAccess = Depends(read_access)):
    return await access.answer(partial(_card_blocks, card_no))


def _card_blocks(card_no: str, uow: UnitOfWork, actor: Actor) -> list[BlockOut]:
    return [block_out(b) for b in service.card_blocks(uow=uow, card_no=card_no, actor=actor)]


# The lifecycle writes are async routes that hand their use case, its commit and their answer
# to the thread pool once (api.deps.write_in_thread): the access check ran on the event loop
# (api.deps.authorize), and FastAPI validates an async route's answer on the loop too (a sync
# route waited in the pool's queue again for that validation). Their events are delivered in
# process once the answer is sent.


@router.post("/{card_no}/loss", response_model=LossOut, summary="Report the card lost / 挂失")
async def report_loss(card_no: str, body: LossIn, background: BackgroundTasks,
                      idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
                      actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, _report_loss, platform, actor, card_no,
                                 body, idempotency_key)


def _report_loss(platform: Platform, actor: Actor, card_no: str, body: LossIn,
                 idempotency_key: str | None):
    with platform.uow() as uow:
        def respond():
            outcome = service.report_loss(
                uow=uow, actor=actor, card_no=card_no, kind=body.kind, function=body.function,
                reason_code=body.reason_code, expected_version=body.expected_version)
            referral = (Referral(zh=outcome.referral_zh, en=outcome.referral_en)
                        if outcome.referral_zh else None)
            return LossOut(card=card_out(outcome.card), referral=referral)

        return idempotent(uow, f"cards.loss:{actor.user_id}", idempotency_key,
                          {"card_no": card_no, **body.model_dump()}, respond)


@router.post("/{card_no}/unblock", response_model=UnblockOut,
             summary="Unblock through the channel of the loss / 解挂")
async def unblock(card_no: str, body: UnblockIn, background: BackgroundTasks,
                  idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
                  actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, _unblock, platform, actor, card_no, body,
                                 idempotency_key)


def _unblock(platform: Platform, actor: Actor, card_no: str, body: UnblockIn,
             idempotency_key: str | None):
    with platform.uow() as uow:
        def respond():
            outcome = service.unblock(uow=uow, actor=actor, card_no=card_no,
                                      function=body.function,
                                      expected_version=body.expected_version)
            return UnblockOut.model_validate(outcome)

        return idempotent(uow, f"cards.unblock:{actor.user_id}", idempotency_key,
                          {"card_no": card_no, **body.model_dump()}, respond)


@router.post("/{card_no}/freeze", response_model=CardOut,
             summary="Administrative freeze of the HR function / 冻结")
async def freeze(card_no: str, body: FreezeIn, background: BackgroundTasks, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, partial(
        _apply, platform, service.freeze, actor=actor, card_no=card_no,
        reason_code=body.reason_code, note=body.note, expected_version=body.expected_version))


@router.post("/{card_no}/unfreeze", response_model=CardOut, summary="Lift the freeze / 解冻")
async def unfreeze(card_no: str, body: UnfreezeIn, background: BackgroundTasks, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, partial(
        _apply, platform, service.unfreeze, actor=actor, card_no=card_no, note=body.note,
        expected_version=body.expected_version))


@router.post("/{card_no}/transfer-out", response_model=CardOut,
             summary="Cross-province transfer: retire the card / 跨省转移")
async def transfer_out(card_no: str, body: TransferOutIn, background: BackgroundTasks,
                       actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, partial(
        _apply, platform, service.transfer_out, actor=actor, card_no=card_no,
        destination_province=body.destination_province, rule_note=body.rule_note,
        expected_version=body.expected_version))


@router.post("/{card_no}/deceased", response_model=CardOut,
             summary="Cancel the card of a holder who died / 死亡注销")
async def deceased(card_no: str, body: DeceasedIn, background: BackgroundTasks, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, partial(
        _apply, platform, service.retire_deceased, actor=actor, card_no=card_no, note=body.note,
        expected_version=body.expected_version, died_on=body.died_on))


@router.post("/{card_no}/wallet-refund", response_model=CardOut,
             summary="Record the transit wallet refund (退值) / 交通钱包退值登记")
async def wallet_refund(card_no: str, body: WalletRefundIn, background: BackgroundTasks,
                        actor: Actor = Depends(current_actor),
                        platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, partial(
        _apply, platform, service.record_wallet_refund, actor=actor, card_no=card_no,
        refunded_fen=body.refunded_fen, note=body.note))


@router.post("/{card_no}/financial-activation", response_model=CardOut,
             summary="Activate the financial function at the bank / 激活金融功能")
async def financial_activation(card_no: str, body: ActivationIn, background: BackgroundTasks,
                               actor: Actor = Depends(current_actor),
                               platform: Platform = Depends(platform_dep)):
    return await write_in_thread(platform, background, partial(
        _apply, platform, service.activate_financial, actor=actor, card_no=card_no,
        expected_version=body.expected_version))
