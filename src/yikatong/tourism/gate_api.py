"""The gates' and venue terminals' door, under /api/v1/tourism/gates/{venue_code} (venue
operators for their own venues, the card centre for any; mounted by tourism/api.py's router).
An online gate asks `POST /api/v1/tourism/venues/{venue_code}/admit` (tourism/api.py).

* GET  allow-list   the signed allow-list of the venue for a day (ETag; 304 when unchanged);
* POST entries      an offline gate uploads the entries it let through (idempotent by entry id;
                    an entry that broke a rule is recorded and flagged: tourism.service);
* POST purchases    a venue terminal uploads its T-Union purchase records as a clearing
                    terminal file (the existing clearing; the file's operator must be the
                    venue operator's clearing code);
* POST wallet-sales the ticket office records a ticket paid from the wallet: the purchase
                    record (its TAC verified here for our cards) names the card, hence the
                    person, and its reference is the sale's (one purchase pays one ticket).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from yikatong.api.deps import current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.core.actor import Actor, Role
from yikatong.core.errors import DomainError, Forbidden
from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.crypto.protocols import KeyStore
from yikatong.platform import Platform
from yikatong.tourism import allow_list
from yikatong.tourism.protocols import GateEntry, Ground, Presented

router = APIRouter(prefix="/gates", tags=["tourism gates 景区闸机"])  # under the tourism router
VenueCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
MAX_ENTRIES = 5_000
MAX_FILE = 8 * 1024 * 1024  # a venue terminal's day is far below this


class PurchaseNotGenuine(DomainError):
    code = "purchase_not_genuine"
    http_status = 422
    zh = "交易记录的 TAC 校验失败，不能据此售票"
    en = "The purchase record's TAC does not verify: no ticket can be sold on it"


class PurchaseNotAtVenue(DomainError):
    code = "purchase_not_at_venue"
    http_status = 422
    zh = "交易不是本市卡在景区终端的消费，或金额与票价不符"
    en = "The purchase is not one of our cards' purchases at a venue terminal, or its amount differs from the price"


# --- shapes --------------------------------------------------------------------------------


class EntryIn(BaseModel):
    entry_id: str = Field(min_length=1, max_length=64)
    gate_id: str = Field(min_length=1, max_length=32)
    person_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    card_no: str | None = Field(default=None, max_length=9)
    ecard_no: str | None = Field(default=None, pattern=r"^\d{16}$")  # a free entry by e-card, person unknown
    presented: Presented
    ground: Ground
    reference: str = Field(min_length=1, max_length=64)
    at: datetime
    offline: bool = True


class EntriesIn(BaseModel):
    entries: list[EntryIn] = Field(max_length=MAX_ENTRIES)


class EntriesOut(BaseModel):
    recorded: list[str]
    duplicates: list[str]
    exceptions: dict[str, str]


class PurchaseIn(BaseModel):
    """The chip's purchase record as the terminal got it (chip.records.PurchaseRecord)."""

    asn: str = Field(pattern=r"^\d{20}$")
    issuer_id: str = Field(pattern=r"^[0-9A-F]{16}$")
    terminal_id: str = Field(pattern=r"^[0-9A-F]{12}$")
    terminal_serial: int = Field(ge=0, le=0xFFFFFFFF)
    tx_type: int = Field(ge=0, le=255)
    amount: int = Field(ge=1, le=MAX_AMOUNT_FEN)
    balance_after: int = Field(ge=-MAX_AMOUNT_FEN, le=MAX_AMOUNT_FEN)
    counter: int = Field(ge=0, le=0xFFFF)
    when: datetime
    tac: str = Field(pattern=r"^[0-9A-F]{8}$")
    key_version: int = Field(ge=0, le=255)
    alg_id: int = Field(ge=0, le=255)


class WalletSaleIn(BaseModel):
    product_code: str = Field(min_length=1, max_length=32)
    day: date | None = None
    slot: str | None = Field(default=None, max_length=32)
    purchase: PurchaseIn


class WalletSaleOut(BaseModel):
    ticket_no: str
    person_id: int
    product_code: str
    paid_fen: int
    purchase_reference: str | None
    status: str


class PurchasesOut(BaseModel):
    file_id: str
    records: int
    cleared: int
    rejected: int
    settled_amount: int
    replayed: bool


# --- helpers -------------------------------------------------------------------------------


def _venue_of(uow, actor: Actor, venue_code: str):
    """The venue, when the actor may act for it (its operator's staff, or the card centre);
    VenueNotFound otherwise (as the tourism service answers)."""
    from yikatong.tourism import errors, service

    venue = service.get_venue(uow=uow, venue_code=venue_code)
    if actor.role is Role.VENUE_OPERATOR and actor.branch_code != venue.operator_code:
        raise errors.VenueNotFound(venue_code=venue_code)
    return venue


# --- routes --------------------------------------------------------------------------------


@router.get("/{venue_code}/allow-list", responses=problems(404),
            summary="The venue's signed allow-list for a day / 闸机白名单（签名）")
def get_allow_list(venue_code: VenueCode, request: Request, day: date | None = None,
                   actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    from yikatong.core.clock import local_date
    from yikatong.tourism import service

    with platform.uow(read_only=True) as uow:
        _venue_of(uow, actor, venue_code)
        chosen = day or local_date(uow.now())
        entitlements = service.entitlements(uow, venue_code, chosen)
        document = allow_list.signed_list(uow, platform.get(KeyStore), venue_code=venue_code, day=chosen,
                                          entitlements=entitlements)
    etag = f'"{allow_list.etag(document)}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return JSONResponse(document, headers=headers)


@router.post("/{venue_code}/entries", response_model=EntriesOut, responses=problems(404, 422),
             summary="Upload the entries an offline gate let through / 上传闸机入园记录")
def upload_entries(venue_code: VenueCode, body: EntriesIn, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    from yikatong.tourism import service

    entries = [GateEntry(entry_id=e.entry_id, venue_code=venue_code, gate_id=e.gate_id, person_id=e.person_id,
                         card_no=e.card_no, presented=e.presented, ground=e.ground, reference=e.reference,
                         at=e.at, offline=e.offline, ecard_no=e.ecard_no) for e in body.entries]
    with platform.uow() as uow:
        _venue_of(uow, actor, venue_code)
        outcome = service.record_entries(uow, actor, entries)
    return EntriesOut(recorded=list(outcome.recorded), duplicates=list(outcome.duplicates),
                      exceptions=dict(outcome.exceptions))


@router.post("/{venue_code}/purchases", response_model=PurchasesOut, status_code=201,
             responses=problems(403, 404, 409, 413, 422),
             summary="Upload a venue terminal's T-Union purchases for clearing / 上传景区终端消费记录",
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def upload_purchases(venue_code: VenueCode, request: Request, response: Response,
                           actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    content = bytearray()
    async for chunk in request.stream():
        content += chunk
        if len(content) > MAX_FILE:
            from yikatong.clearing.errors import BatchTooLarge

            raise BatchTooLarge(limit_mib=MAX_FILE // (1024 * 1024))
    result = await run_in_threadpool(_clear_purchases, platform, actor, venue_code, bytes(content))
    if result.replayed:
        response.status_code = 200
    return PurchasesOut(file_id=result.file_id, records=result.records, cleared=result.cleared,
                        rejected=result.rejected, settled_amount=result.settled_amount, replayed=result.replayed)


def _clear_purchases(platform: Platform, actor: Actor, venue_code: str, content: bytes):
    """The venue's file to the existing clearing, once it is known to be the venue operator's
    terminal file (clearing checks only transit operators' files against their code)."""
    from yikatong.clearing import fileformat, receive
    from yikatong.clearing.fileformat import FileKind
    from yikatong.tourism.terminal import clearing_operator

    with platform.uow(read_only=True) as uow:
        venue = _venue_of(uow, actor, venue_code)
    header = fileformat.parse(content).header  # BatchMalformed etc. (422) before anything
    if header.kind is not FileKind.TERMINAL or header.operator != clearing_operator(venue.operator_code):
        raise Forbidden(zh="只能上传本景区运营方终端的消费文件",
                        en="Only the venue operator's own terminal files may be uploaded here")
    return receive.upload_batch(platform=platform, actor=actor, content=content)


@router.post("/{venue_code}/wallet-sales", response_model=WalletSaleOut, status_code=201,
             responses=problems(403, 404, 409, 422),
             summary="Record a ticket paid from the transit wallet / 交通钱包购票登记")
def wallet_sale(venue_code: VenueCode, body: WalletSaleIn, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    from yikatong.cards import service as cards
    from yikatong.chip.host import verify_tac
    from yikatong.chip.records import PurchaseRecord
    from yikatong.clearing.rules import is_own_card
    from yikatong.crypto import pboc
    from yikatong.tourism import service
    from yikatong.tourism.terminal import reference_of

    p = body.purchase
    record = PurchaseRecord(asn=p.asn, issuer_id=p.issuer_id, terminal_id=p.terminal_id, tx_type=p.tx_type,
                            amount=p.amount, balance_after=p.balance_after, counter=p.counter, when=p.when,
                            tac=p.tac, key_version=p.key_version, alg_id=p.alg_id,
                            terminal_serial=p.terminal_serial)
    if not is_own_card(p.issuer_id) or p.tx_type != pboc.TX_EP_PURCHASE:
        raise PurchaseNotAtVenue()  # our cards name the person; a transit fare (09) buys no ticket
    try:
        genuine = verify_tac(record, platform.get(KeyStore))
    except (DomainError, ValueError):
        genuine = False
    if not genuine:
        raise PurchaseNotGenuine()
    reference = reference_of(record)
    with platform.uow() as uow:
        _venue_of(uow, actor, venue_code)
        card = cards.find_card_by_asn(uow=uow, asn=p.asn)
        if card is None:
            raise PurchaseNotAtVenue()
        product = next((x for x in service.products(uow=uow, venue_code=venue_code) if x.code == body.product_code),
                       None)
        if product is None:
            from yikatong.tourism import errors

            raise errors.ProductNotFound(product_code=body.product_code)
        if product.price_fen != p.amount:  # checked before the sale, which commits
            raise PurchaseNotAtVenue()
        ticket = service.sell(uow=uow, actor=actor, product_code=body.product_code, person_id=card.person_id,
                              idempotency_key=reference, day=body.day, slot=body.slot, payment="wallet",
                              purchase_reference=reference)
    return WalletSaleOut(ticket_no=ticket.ticket_no, person_id=ticket.person_id, product_code=ticket.product_code,
                         paid_fen=ticket.paid_fen, purchase_reference=ticket.purchase_reference,
                         status=ticket.status)
