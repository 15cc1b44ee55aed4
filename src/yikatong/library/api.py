"""The library API under /api/v1/library: the holder opts in to the reader card and reads
their loans (and renews one); the librarian (Role.LIBRARIAN, their library) manages items,
looks a patron up by what they present, lends, takes back, renews, holds and records fees."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from yikatong.api.deps import current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.core.actor import Actor
from yikatong.library import service
from yikatong.library.schemas import (
    CheckinIn,
    CheckoutIn,
    FeeIn,
    FeeOut,
    FeePaymentIn,
    ItemIn,
    ItemOut,
    LoanRowOut,
    MyLibraryOut,
    OutcomeOut,
    PatronOut,
    ReaderOut,
    RenewIn,
)
from yikatong.platform import Platform

router = APIRouter(prefix="/library", tags=["library 图书馆"])
BarcodePath = Annotated[str, Path(min_length=1, max_length=32)]
PatronPath = Annotated[str, Path(min_length=1, max_length=64,
                                 description="card number, social security number or reader number")]


def _outcome(outcome) -> OutcomeOut:
    return OutcomeOut.model_validate(outcome)


# --- the holder ---------------------------------------------------------------------------


@router.get("/me", response_model=MyLibraryOut, responses=problems(404),
            summary="My reader card: loans, holds, fees / 我的借阅")
def my_library(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return MyLibraryOut.model_validate(service.my_library(uow=uow, actor=actor))


@router.post("/me/opt-in", response_model=ReaderOut, responses=problems(404),
             summary="Use my card as my reader card / 开通社保卡借阅功能")
def opt_in(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ReaderOut.model_validate(service.opt_in(uow=uow, actor=actor))


@router.post("/me/opt-out", response_model=ReaderOut, responses=problems(404),
             summary="Stop using my card as my reader card / 关闭社保卡借阅功能")
def opt_out(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ReaderOut.model_validate(service.opt_out(uow=uow, actor=actor))


@router.post("/me/renewals", response_model=OutcomeOut, responses=problems(404),
             summary="Renew one of my loans / 续借")
def my_renewal(body: RenewIn, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _outcome(service.holder_renew(uow=uow, actor=actor, barcode=body.barcode))


# --- the librarian ------------------------------------------------------------------------


@router.get("/items", response_model=list[ItemOut], summary="Items of my library / 馆藏")
def items(q: Annotated[str, Query(max_length=64)] = "",
          limit: Annotated[int, Query(ge=1, le=500)] = 100,
          actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [ItemOut.model_validate(i) for i in
                service.list_items(uow=uow, actor=actor, query=q, limit=limit)]


@router.post("/items", response_model=ItemOut, status_code=201,
             summary="Add an item / 新增馆藏")
def add_item(body: ItemIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ItemOut.model_validate(service.add_item(
            uow=uow, actor=actor, barcode=body.barcode, title=body.title, author=body.author,
            call_no=body.call_no, location=body.location, price_fen=body.price_fen))


@router.get("/items/{barcode}", response_model=ItemOut, summary="One item / 图书详情")
def get_item(barcode: BarcodePath, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return ItemOut.model_validate(service.get_item(uow=uow, actor=actor, barcode=barcode))


@router.get("/loans", response_model=list[LoanRowOut], summary="Open loans (overdue first) / 在借图书")
def loans(overdue: bool = False, reader_no: Annotated[str | None, Query(max_length=16)] = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 200,
          actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [LoanRowOut.model_validate(row) for row in service.list_loans(
            uow=uow, actor=actor, overdue_only=overdue, reader_no=reader_no, limit=limit)]


@router.get("/patrons/{patron}", response_model=PatronOut,
            summary="A patron by card, social security or reader number / 读者查询")
def patron(patron: PatronPath, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return PatronOut.model_validate(service.patron(uow=uow, actor=actor, identifier=patron))


@router.post("/loans", response_model=OutcomeOut, status_code=201, responses=problems(404),
             summary="Lend an item to the patron presented / 借书")
def checkout(body: CheckoutIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _outcome(service.desk_checkout(uow=uow, actor=actor, identifier=body.patron,
                                              barcode=body.barcode))


@router.post("/returns", response_model=OutcomeOut, responses=problems(404),
             summary="Take an item back / 还书")
def checkin(body: CheckinIn, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _outcome(service.desk_checkin(uow=uow, actor=actor, barcode=body.barcode,
                                             location=body.location))


@router.post("/renewals", response_model=OutcomeOut, responses=problems(404),
             summary="Renew a patron's loan / 续借")
def renew(body: CheckoutIn, actor: Actor = Depends(current_actor),
          platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _outcome(service.desk_renew(uow=uow, actor=actor, identifier=body.patron,
                                           barcode=body.barcode))


@router.post("/holds", response_model=OutcomeOut, status_code=201, responses=problems(404),
             summary="Hold an item on loan for the patron / 预约")
def hold(body: CheckoutIn, actor: Actor = Depends(current_actor),
         platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _outcome(service.desk_hold(uow=uow, actor=actor, identifier=body.patron,
                                          barcode=body.barcode))


@router.post("/fees", response_model=FeeOut, status_code=201, responses=problems(404),
             summary="Charge a fee (lost or damaged item) / 收取赔偿费用")
def charge_fee(body: FeeIn, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return FeeOut.model_validate(service.desk_charge_fee(
            uow=uow, actor=actor, identifier=body.patron, amount_fen=body.amount_fen,
            reason=body.reason, item_barcode=body.item_barcode))


@router.post("/fees/payments", response_model=OutcomeOut, responses=problems(404),
             summary="Record a fee payment (idempotent by transaction id) / 缴费")
def pay_fee(body: FeePaymentIn, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _outcome(service.desk_pay_fee(
            uow=uow, actor=actor, identifier=body.patron, amount_fen=body.amount_fen,
            transaction_id=body.transaction_id, fee_id=body.fee_id))
