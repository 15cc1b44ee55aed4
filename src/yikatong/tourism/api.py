"""The tourism API under /api/v1/tourism: venues and products for everyone signed in; the
holder buys day tickets and passes from the card's bank account, reads, activates and refunds
them; venue staff (Role.VENUE_OPERATOR, their operator's venues only) put products on sale,
declare free categories, record wallet sales taken at their terminal, admit online at a gate,
read entries and the day's report. (The gates' offline side, allow-list and uploads, is
tourism/gate_api.py.)"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from yikatong.api.deps import current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.platform import Platform
from yikatong.tourism import service, settlement
from yikatong.tourism.schemas import (
    ActivateIn,
    AdmitIn,
    BuyIn,
    DecisionOut,
    EntryOut,
    FreeCategoriesIn,
    GateIn,
    GateOut,
    OperatorIn,
    OperatorOut,
    ProductIn,
    ProductOut,
    ReasonIn,
    ReportOut,
    SettleIn,
    SettlementOut,
    SlotOut,
    StatementOut,
    TicketOut,
    VenueIn,
    VenueOut,
)

router = APIRouter(prefix="/tourism", tags=["tourism 文旅"])
VenueCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
ProductCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
TicketNo = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
PersonQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]


def _day(platform: Platform, day: date | None) -> date:
    return day or local_date(platform.clock.now())


# --- venues and products ------------------------------------------------------------------


@router.get("/venues", response_model=list[VenueOut], summary="Venues / 景区与场馆")
def list_venues(platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [VenueOut.model_validate(v) for v in service.venues(uow=uow)]


@router.get("/venues/{venue_code}", response_model=VenueOut, summary="One venue / 景区详情")
def get_venue(venue_code: VenueCode, platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return VenueOut.model_validate(service.get_venue(uow=uow, venue_code=venue_code))


@router.get("/products", response_model=list[ProductOut], summary="Tickets and passes on sale / 在售门票与年卡")
def list_products(venue_code: Annotated[str | None, Query(max_length=32)] = None,
                  platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [ProductOut.model_validate(p) for p in service.products(uow=uow, venue_code=venue_code)]


@router.get("/products/{product_code}/slots", response_model=list[SlotOut],
            summary="A day ticket's time slots and seats left / 分时段余票")
def slots(product_code: ProductCode, day: date | None = None, platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [SlotOut(**s) for s in service.slot_availability(
            uow=uow, product_code=product_code, day=_day(platform, day))]


@router.post("/products", response_model=ProductOut, status_code=201,
             summary="Put a day ticket or pass on sale / 发布门票或年卡")
def add_product(body: ProductIn, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ProductOut.model_validate(service.add_product(
            uow=uow, actor=actor, code=body.code, kind=body.kind, name_zh=body.name_zh, name_en=body.name_en,
            price_fen=body.price_fen, venue_codes=body.venue_codes,
            slots=[s.model_dump() for s in body.slots], activation_months=body.activation_months,
            valid_months=body.valid_months, operator_code=body.operator_code,
            split=body.split.rule() if body.split is not None else None))


@router.put("/venues/{venue_code}/free-categories", response_model=VenueOut,
            summary="Declare who enters free (by age) / 设置免票人群")
def set_free(venue_code: VenueCode, body: FreeCategoriesIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return VenueOut.model_validate(service.set_free_categories(
            uow=uow, actor=actor, venue_code=venue_code,
            free_categories=[c.model_dump(exclude_none=True) for c in body.free_categories]))


# --- the holder ---------------------------------------------------------------------------


@router.get("/me/tickets", response_model=list[TicketOut], responses=problems(404),
            summary="My tickets and passes / 我的门票与年卡")
def my_tickets(person_id: PersonQuery = None, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [TicketOut.model_validate(t) for t in service.tickets_of(
            uow=uow, actor=actor, person_id=person_id or actor.person_id or 0)]


@router.post("/me/tickets", response_model=TicketOut, status_code=201, responses=problems(503),
             summary="Buy a day ticket or pass from the card's bank account (idempotent by key) / 购票")
def buy(body: BuyIn, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return TicketOut.model_validate(service.sell(
            uow=uow, actor=actor, product_code=body.product_code, person_id=body.person_id or actor.person_id or 0,
            idempotency_key=body.idempotency_key, day=body.day, slot=body.slot, payment="bank",
            confirmed=body.confirm, voucher_ref=body.voucher_ref))


@router.get("/tickets/{ticket_no}", response_model=TicketOut, summary="One ticket or pass / 门票详情")
def get_ticket(ticket_no: TicketNo, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return TicketOut.model_validate(service.get_ticket(uow=uow, actor=actor, ticket_no=ticket_no))


@router.post("/tickets/{ticket_no}/activate", response_model=TicketOut, summary="Activate a pass / 激活年卡")
def activate(ticket_no: TicketNo, body: ActivateIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return TicketOut.model_validate(service.activate_pass(uow=uow, actor=actor, ticket_no=ticket_no, on=body.on))


@router.post("/tickets/{ticket_no}/refund", response_model=TicketOut, responses=problems(503),
             summary="Refund an unused ticket / 退票")
def refund(ticket_no: TicketNo, body: ReasonIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return TicketOut.model_validate(service.refund(uow=uow, actor=actor, ticket_no=ticket_no, reason=body.reason))


# --- venue staff --------------------------------------------------------------------------


@router.post("/venues/{venue_code}/admit", response_model=DecisionOut,
             summary="A gate asks online: may this card or e-card enter? / 闸机在线验票")
def admit(venue_code: VenueCode, body: AdmitIn, actor: Actor = Depends(current_actor),
          platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return DecisionOut.model_validate(service.admit(
            uow, actor, venue_code, body.gate_id, card_no=body.card_no, person_id=body.person_id,
            at=body.at, entry_id=body.entry_id))


@router.get("/venues/{venue_code}/entries", response_model=list[EntryOut], summary="Entries of a day / 入园记录")
def entries(venue_code: VenueCode, day: date | None = None, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [EntryOut.model_validate(e) for e in service.venue_entries(
            uow=uow, actor=actor, venue_code=venue_code, day=_day(platform, day))]


@router.get("/venues/{venue_code}/tickets", response_model=list[TicketOut],
            summary="Day tickets sold for a day / 当日门票")
def venue_tickets(venue_code: VenueCode, day: date | None = None, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [TicketOut.model_validate(t) for t in service.venue_tickets(
            uow=uow, actor=actor, venue_code=venue_code, day=_day(platform, day))]


@router.get("/venues/{venue_code}/report", response_model=ReportOut,
            summary="Sales and entries of a day (settlement) / 日结算报表")
def report(venue_code: VenueCode, day: date | None = None, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return ReportOut.model_validate(service.venue_day_report(
            uow=uow, actor=actor, venue_code=venue_code, day=_day(platform, day)))


# --- the card centre: operators, venues, gates; settlement ------------------------------------


@router.get("/operators", response_model=list[OperatorOut], summary="Venue operators / 景区运营单位")
def list_operators(platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [OperatorOut.model_validate(o) for o in service.operators(uow=uow)]


@router.post("/operators", response_model=OperatorOut, status_code=201, responses=problems(409),
             summary="Register a venue operator (idempotent by code) / 登记景区运营单位")
def add_operator(body: OperatorIn, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return OperatorOut.model_validate(service.add_operator(
            uow=uow, actor=actor, code=body.code, name_zh=body.name_zh, name_en=body.name_en))


@router.post("/venues", response_model=VenueOut, status_code=201, responses=problems(404, 409),
             summary="Register a venue under an operator (idempotent by code) / 登记景区或场馆")
def add_venue(body: VenueIn, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return VenueOut.model_validate(service.add_venue(
            uow=uow, actor=actor, code=body.code, operator_code=body.operator_code, name_zh=body.name_zh,
            name_en=body.name_en, kind=body.kind, level=body.level, district=body.district, source=body.source,
            free_categories=[c.model_dump(exclude_none=True) for c in body.free_categories]))


@router.get("/venues/{venue_code}/gates", response_model=list[GateOut], summary="A venue's gates / 景区闸机")
def list_gates(venue_code: VenueCode, actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [GateOut.model_validate(g) for g in service.gates(uow=uow, actor=actor, venue_code=venue_code)]


@router.post("/venues/{venue_code}/gates", response_model=GateOut, status_code=201, responses=problems(409),
             summary="Register a gate at a venue (idempotent by gate id) / 登记闸机")
def add_gate(venue_code: VenueCode, body: GateIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return GateOut.model_validate(service.add_gate(
            uow=uow, actor=actor, venue_code=venue_code, gate_id=body.gate_id, name_zh=body.name_zh,
            name_en=body.name_en, mode=body.mode))


@router.get("/settlements", response_model=list[SettlementOut], summary="Settlements of pass revenue / 年卡清分结算")
def list_settlements(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [SettlementOut.model_validate(s) for s in settlement.settlements(uow=uow, actor=actor)]


@router.post("/settlements", response_model=SettlementOut, status_code=201,
             responses={200: {"model": SettlementOut,
                              "description": "the period was settled already: the first settlement, nothing changed / "
                                             "该期已结算，未作变动"}},
             summary="Settle a period: split the passes' revenue per venue (the same period again changes "
                     "nothing) / 按景区清分结算")
def settle(body: SettleIn, response: Response, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        done = settlement.settle(uow=uow, actor=actor, period_from=body.period_from, period_to=body.period_to)
    if not done.created:
        response.status_code = 200
    return SettlementOut.model_validate(done)


@router.get("/venues/{venue_code}/statement", response_model=StatementOut,
            summary="A venue's entries and revenue for a period / 景区结算单")
def statement(venue_code: VenueCode, period_from: date, period_to: date, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return StatementOut.model_validate(settlement.venue_statement(
            uow=uow, actor=actor, venue_code=venue_code, period_from=period_from, period_to=period_to))


# The gates' and venue terminals' door (tourism/gate_api.py): /tourism/gates/{venue_code}/...
from yikatong.tourism import gate_api  # noqa: E402  (after this router exists)

router.include_router(gate_api.router)
