"""The transit wallet API (/transit): top-up orders, card contacts driven by the server, the
deny list validators fetch, wallet refunds, rider categories set against a proof.

A phone (NFC app), a self-service machine or an outlet terminal tops up in three calls:
`POST /contacts {purpose: read}` (then relay each command to the card until done: the result
carries the ASN and balance), `POST /top-ups` with an Idempotency-Key (limits and the cap are
checked on that reading before any money is taken; the money is taken), `POST /contacts
{purpose: top_up, order_no}` (relay until done). See contact.py for the relay.

Who: holders top up through the phone app (any card: the wallet is anonymous) and see their
own orders; citizen-card outlet operators at counters and self-service machines; refunds at the
counter of a directly-run outlet; unreadable cards registered at exchange counters; validators
(transit operators) fetch the deny list; citizen-card outlets grant and revoke the student and
disabled rider categories against a proof (grants.py) and see, and reset, the cards that refused
to have their rider category rewritten (riders.py).
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Header, Path, Query
from starlette.concurrency import run_in_threadpool

from yikatong.api.deps import ReadAccess, current_actor, platform_dep, read_access
from yikatong.api.lean_posts import answered_in_front
from yikatong.cards import service as cards
from yikatong.core.actor import Actor
from yikatong.core.errors import InvalidInput
from yikatong.db.uow import UnitOfWork
from yikatong.platform import Platform
from yikatong.transit import contact, deny_list, grants, refunds, riders, service
from yikatong.transit.protocols import Payer
from yikatong.transit.schemas import (
    CardAnswerIn,
    ContactIn,
    ContactOut,
    DenyListOut,
    RefusedRiderRewriteOut,
    RiderGrantIn,
    RiderGrantOut,
    RiderGrantRevokeIn,
    TopUpIn,
    TopUpOut,
    UnreadableIn,
    WalletRefundOut,
)

router = APIRouter(prefix="/transit", tags=["transit 交通钱包"])

ROW_ID = Path(ge=1, le=2**63 - 1)


def _top_up_out(view: service.TopUpView) -> TopUpOut:
    return TopUpOut.model_validate(view)


def _contact_out(step: contact.ContactStep) -> ContactOut:
    return ContactOut.model_validate(step)


def _refund_out(view: refunds.RefundView) -> WalletRefundOut:
    return WalletRefundOut.model_validate(view)


@router.post("/top-ups", response_model=TopUpOut, status_code=201,
             summary="Order a top-up and pay for it / 充值下单并付款")
def create_top_up(body: TopUpIn, idempotency_key: str = Header(alias="Idempotency-Key", min_length=8, max_length=128),
                  actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    view = service.create_top_up(platform=platform, actor=actor, idempotency_key=idempotency_key, asn=body.asn,
                                 amount=body.amount, payer=Payer(body.payer.kind, body.payer.reference))
    return _top_up_out(view)


@router.get("/top-ups/{order_no}", response_model=TopUpOut, summary="A top-up's status / 充值订单状态")
def get_top_up(order_no: str, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _top_up_out(service.get_top_up(uow=uow, order_no=order_no, actor=actor))


@router.post("/contacts", response_model=ContactOut, status_code=201,
             summary="Start a card contact; answers with the first command / 开始读写卡")
@answered_in_front  # in front of the middleware stack, same bytes (api.lean_posts)
async def start_contact(body: ContactIn, actor: Actor = Depends(current_actor),
                        platform: Platform = Depends(platform_dep)):
    subject = {"top_up": body.order_no, "refund": body.card_no}.get(body.purpose)
    if body.purpose != "read" and not subject:
        raise InvalidInput(reason_zh="缺少订单号或卡号", reason_en="order_no (top_up) or card_no (refund) is required")
    if body.purpose == "read":  # on PostgreSQL all on the event loop: no thread-pool hop
        step = await contact.start_read_on_loop(platform=platform, actor=actor)
        if step is not None:
            return _contact_out(step)
    # One thread-pool hop for the contact and its answer: a sync route would take a second
    # hop to validate the answer.
    return await run_in_threadpool(_started_contact, platform, actor, body.purpose, subject)


def _started_contact(platform: Platform, actor: Actor, purpose: str, subject: str | None) -> ContactOut:
    return _contact_out(contact.start_contact(platform=platform, actor=actor, purpose=purpose, subject=subject))


@router.post("/contacts/{contact_id}/answers", response_model=ContactOut,
             summary="The card's answer to the last command; answers with the next one / 卡片应答")
def answer_contact(contact_id: str, body: CardAnswerIn, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    return _contact_out(contact.answer_contact(platform=platform, actor=actor, contact_id=contact_id,
                                               response=body.response, card_removed=body.card_removed))


@router.get("/contacts/{contact_id}", response_model=ContactOut, summary="A card contact / 读写卡会话")
async def get_contact(contact_id: str, access: ReadAccess = Depends(read_access)):
    # Polled by the terminal while a card is on it: one connection and one transaction for
    # the access check and the read (api.deps.ReadAccess.answer).
    return await access.answer(partial(_read_contact, contact_id),
                               partial(contact.contact_read_trip, contact_id))


def _read_contact(contact_id: str, uow: UnitOfWork, actor: Actor) -> ContactOut:
    return _contact_out(contact.read_contact(uow=uow, actor=actor, contact_id=contact_id))


@router.get("/deny-list", response_model=DenyListOut,
            summary="Deny-list changes since a version, for validators / 黑名单增量")
def get_deny_list(since: int = Query(default=0, ge=0, le=2**63 - 1),
                  actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        delta = deny_list.changes_since(uow=uow, since=since)
    return DenyListOut.model_validate(delta)


@router.post("/wallet-refunds/unreadable", response_model=WalletRefundOut, status_code=201,
             summary="A card too damaged to read: deny-list now, refund after the wait / 坏卡退值登记")
def register_unreadable(body: UnreadableIn,
                        actor: Actor = Depends(current_actor),
                        platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = refunds.register_unreadable_wallet(uow=uow, actor=actor, card_no=body.card_no)
        uow.commit()
    return _refund_out(view)


@router.get("/wallet-refunds/{card_no}", response_model=WalletRefundOut, summary="A wallet refund's status / 退值状态")
def get_wallet_refund(card_no: str, actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        cards.get_card(uow=uow, card_no=card_no, actor=actor)  # a holder sees only their own cards
        return _refund_out(refunds.get_refund(uow=uow, card_no=card_no))


# --- rider categories set against a proof, and rewrites the card refused ---------------------


def _grant_out(view: grants.GrantView) -> RiderGrantOut:
    return RiderGrantOut.model_validate(view)


def _refused_out(view: riders.RefusedRewrite) -> RefusedRiderRewriteOut:
    return RefusedRiderRewriteOut.model_validate(view)


@router.post("/rider-grants", response_model=RiderGrantOut, status_code=201,
             summary="Grant a rider category against a proof (student, disabled) / 办理乘客优惠类别")
def grant_rider_category(body: RiderGrantIn,
                         idempotency_key: str = Header(alias="Idempotency-Key", min_length=8, max_length=128),
                         actor: Actor = Depends(current_actor),
                         platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = grants.grant_rider_category(uow=uow, actor=actor, idempotency_key=idempotency_key, **body.model_dump())
        uow.commit()
    return _grant_out(view)


@router.get("/rider-grants", response_model=list[RiderGrantOut],
            summary="A person's rider category grants (proofs masked) / 乘客优惠类别办理记录")
def list_rider_grants(person_id: int = Query(ge=1, le=2**63 - 1),
                      actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [_grant_out(view) for view in grants.list_rider_grants(uow=uow, person_id=person_id)]


@router.post("/rider-grants/{grant_id}/revoke", response_model=RiderGrantOut,
             summary="Revoke a rider category grant / 撤销乘客优惠类别")
def revoke_rider_grant(body: RiderGrantRevokeIn, grant_id: int = ROW_ID,
                       actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = grants.revoke_rider_grant(uow=uow, actor=actor, grant_id=grant_id, reason=body.reason)
        uow.commit()
    return _grant_out(view)


@router.get("/rider-rewrites/refused", response_model=list[RefusedRiderRewriteOut],
            summary="Cards that refused their rider category update / 拒绝更新乘客类别的卡")
def refused_rider_rewrites(limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=2**63 - 1),
                           actor: Actor = Depends(current_actor),
                           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [_refused_out(view) for view in riders.refused_rewrites(uow=uow, limit=limit, offset=offset)]


@router.post("/rider-rewrites/{asn}/reset", response_model=RefusedRiderRewriteOut,
             summary="Try a refused rider category update again at the next contact / 重新尝试更新乘客类别")
def reset_refused_rider_rewrite(asn: str = Path(pattern=r"^\d{20}$"),
                                actor: Actor = Depends(current_actor),
                                platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = riders.reset_refused_rewrite(uow=uow, actor=actor, asn=asn)
        uow.commit()
    return _refused_out(view)
