"""Use cases of the card registry and lifecycle.

Each function works inside the caller's unit of work and does not commit: the door (API, CLI,
job) or the calling domain commits once, so a use case that spans domains (an application
that registers its produced card) stays one transaction. Every change touches the card row
(optimistic version), leaves an audit record and writes its outbox events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from types import SimpleNamespace

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm.exc import StaleDataError

from yikatong.auth.service import (
    credential_answers,
    credential_params,
    credential_width,
    with_credential,
)
from yikatong.cards.bank_rules import bank_loss_rule
from yikatong.cards.errors import (
    AlreadyFrozen,
    BankEventMismatch,
    CallerNotIdentified,
    CardNotFound,
    CardNotInUse,
    DuplicateCard,
    ExchangeNotAllowed,
    FinancialAlreadyActivated,
    IdentityQuestionMissing,
    InvalidCardNo,
    LiveCardExists,
    NotFrozen,
    ReplacementInUse,
    ReplacementNotAllowed,
    TransferWithinJiangsu,
    TransitBalanceNotRefunded,
    WalletRefundNotAllowed,
)
from yikatong.cards.models import (
    BankAccountClosureTask,
    BankEventRecord,
    Card,
    CardBlock,
    WalletRefundRecord,
)
from yikatong.cards.protocols import (
    AccountStatement,
    BankEvent,
    BankEventType,
    BankGateway,
    BankReadNotOffered,
    FinancialStatus,
    PendingReplacements,
    WalletBalance,
)
from yikatong.cards.rules import (
    BANK_BRANCH,
    CARD_KINDS,
    CARD_STATES,
    EXPIRY_REMINDER_DAYS,
    FINANCIAL_STATES,
    JIANGSU,
    KIND_NAMES,
    LIVE_STATES,
    LOSS_KINDS,
    ONLINE,
    BlockKind,
    CardState,
    EndReason,
    FinancialCapabilities,
    Function,
    FunctionUse,
    HrStatus,
    block_in_force,
    caller_answers_match,
    card_functions,
    channel_family,
    check_card_no,
    check_financial_loss_possible,
    check_hr_loss_possible,
    check_pan,
    days_until_financial_expiry,
    derive_hr_status,
    financial_capabilities,
    financial_valid_until,
    mask_pan,
    parse_functions,
    parse_loss_kind,
    plan_loss,
    plan_unblock,
    province_code,
    shown_financial_status,
    temporary_hr_loss_ends,
)
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.choices import NotAChoice
from yikatong.core.clock import as_utc, local_date
from yikatong.core.errors import ConcurrentChange, Forbidden, InvalidInput
from yikatong.core.killpoints import killpoint
from yikatong.core.money import MAX_AMOUNT_FEN, Fen, format_fen
from yikatong.core.remembered import Remembered
from yikatong.db.raw import OneTrip, RawSelect
from yikatong.db.uow import UnitOfWork

# ---------------------------------------------------------------------------------------
# Views handed to callers (never ORM rows)


@dataclass(frozen=True)
class BlockView:
    id: int
    function: str
    kind: str
    reason_code: str
    set_by: str
    set_by_role: str
    channel: str
    branch_code: str | None
    started_at: datetime
    ends_at: datetime | None
    lifted_at: datetime | None
    lifted_by: str | None
    lifted_by_role: str | None
    lifted_channel: str | None
    lift_reason: str | None
    in_force: bool


@dataclass(frozen=True)
class CardView:
    """A card as its doors show it (in the order the cards API answers with it)."""

    card_no: str
    person_id: int
    kind: str
    bank_code: str
    pan: str
    card_id_code: str
    asn: str
    state: str
    hr_status: str
    hr_loss_ends_at: datetime | None  # when a temporary HR loss in force ends by itself
    # The bank's last word on the account is `bank_financial_status`; `financial_status` shows
    # "retired"/"cancelled" for an ended card whatever that word was, and `functions` shows none
    # of them usable.
    financial_status: str = field(metadata={"description": (
        "retired/cancelled for an ended card, whatever the bank last said / 卡片停用后显示停用")})
    bank_financial_status: str = field(
        metadata={"description": "the bank's last word / 银行最后通知的状态"})
    functions: tuple[FunctionUse, ...]
    financial_capabilities: FinancialCapabilities  # what the financial function allows today
    issue_date: date
    financial_valid_until: date
    predecessor_card_no: str | None
    successor_card_no: str | None
    handed_over_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    end_note: str | None
    transferred_to_province: str | None
    version: int = field(metadata={"description": (
        "send back as expected_version to guard against concurrent changes / 并发修改保护")})
    blocks_in_force: tuple[BlockView, ...]
    chip_serial: str
    application_id: int | None

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def pan_masked(self) -> str:
        return mask_pan(self.pan)


@dataclass(frozen=True)
class LossOutcome:
    card: CardView
    referral_zh: str | None  # online formal loss: where the financial side must be reported
    referral_en: str | None


@dataclass(frozen=True)
class UnblockOutcome:
    card: CardView
    lifted: tuple[BlockView, ...]
    cancelled_replacements: tuple[str, ...]


@dataclass(frozen=True)
class ExpiryReminder:
    card_no: str
    person_id: int
    bank_code: str
    financial_valid_until: date
    days_left: int

    @property
    def expired(self) -> bool:
        return self.days_left < 0


# ---------------------------------------------------------------------------------------
# Reading


def get_card(*, uow: UnitOfWork, card_no: str, actor: Actor | None = None) -> CardView:
    """One card, its HR status derived now. With an actor, a holder sees only their own cards
    and a bank only its own (others read as not found)."""
    return _view(_load(uow, card_no, actor=actor), uow.now())


BANK_STATEMENT_PAYMENTS = 10


def bank_statement(*, uow: UnitOfWork, gateway: BankGateway, actor: Actor, card_no: str,
                   limit: int = BANK_STATEMENT_PAYMENTS) -> AccountStatement:
    """The card's bank account as its bank tells it (balance, latest payments, payments held
    for activation): the gateway's optional read. A holder reads only their own cards; a bank
    that does not offer the read raises BankReadNotOffered, one that cannot be reached
    BankUnavailable. Nothing is stored: the bank's answer is shown, never kept."""
    card = get_card(uow=uow, card_no=card_no, actor=actor)
    read = getattr(gateway, "account_statement", None)
    if read is None:  # a gateway written before the read existed
        raise BankReadNotOffered()
    return read(bank_code=card.bank_code, pan=card.pan, limit=limit)


def read_card(*, uow: UnitOfWork, card_no: str, actor: Actor | None = None) -> CardView:
    """`get_card` for a request that only reads: the same view and the same refusals, from two
    plain selects instead of ORM objects (a third of the time: no identity map, no instance
    state, no relationship loader for rows nobody changes)."""
    check_card_no(card_no)
    connection = uow.connection()
    card = _CARD_BY_NO.first(connection, {"card_no": card_no})
    if card is None:
        raise CardNotFound(card_no=card_no)
    _check_may_see(uow, actor, card_no, person_id=card.person_id, bank_code=card.bank_code)
    blocks = _BLOCKS_OF_CARD.rows(connection, {"card_id": card.id})
    return _remembered_view(card, blocks, uow.now())


# The views of the cards read last, by all that `_view` reads: the card's row, its blocks'
# rows, which blocks are in force and the local date (the only ways `now` enters a view). A
# read of a card that did not change hands back the view made for the last read instead of
# making it again (with its answer model, cards.api: a sixth of a card read's CPU,
# bench/request_path.py); a write (a new version of the row, a block added or lifted), a block's
# start or end passing, or midnight make another key. The checks are not remembered: each read
# fetches the credential and the rows and checks them.
_VIEWS: Remembered[tuple, CardView] = Remembered(1024)


def _remembered_view(card, blocks: list, now: datetime) -> CardView:
    """`_view` of a card's row and its blocks' rows (read_card's selects) at `now`."""
    key = (card, tuple(blocks), tuple(block_in_force(block, now) for block in blocks),
           local_date(now))
    view = _VIEWS.get(key)
    if view is None:
        # Rows answer the same attribute names as the mapped classes: _view reads them alike.
        view = _VIEWS.keep(key, _view(SimpleNamespace(**card._asdict(), blocks=blocks), now))
    return view


# On the DBAPI cursor (db.raw): a fifth of the CPU of the same selects through Core.
_CARD_BY_NO = RawSelect(select(Card.__table__).where(Card.__table__.c.card_no == bindparam("card_no")),
                        "CardRow")
_BLOCKS_OF_CARD = RawSelect(select(CardBlock.__table__)
                            .where(CardBlock.__table__.c.card_id == bindparam("card_id"))
                            .order_by(CardBlock.__table__.c.id),  # as the relationship orders them
                            "CardBlockRow")


def card_read_trip(card_no: str, secret: str) -> OneTrip | None:
    """The credential lookup of `secret` and `read_card`'s two selects for `card_no` in one
    statement (one round trip where they were three; api.deps.ReadAccess.answer), cut into
    what each would have fetched: `read_card` then makes its checks in the same order on the
    same rows. None for a malformed card number (read_card refuses it before any select)."""
    try:
        check_card_no(card_no)
    except InvalidCardNo:
        return None
    return OneTrip(_CARD_READ, {**credential_params(secret), "card_no": card_no},
                   partial(_cut_card_read, card_no, secret))


def _cut_card_read(card_no: str, secret: str, dialect: Dialect, rows: list) -> dict:
    found = credential_answers(dialect, rows[0], secret)
    start = credential_width(dialect)
    blocks_start = start + _CARD_BY_NO.width(dialect)
    card = rows[0][start:blocks_start]
    if card[0] is None:  # cards.id: no card has the number
        found[_CARD_BY_NO.key({"card_no": card_no})] = []
        return found
    card = _CARD_BY_NO.row(dialect, card)
    found[_CARD_BY_NO.key({"card_no": card_no})] = [card]
    found[_BLOCKS_OF_CARD.key({"card_id": card.id})] = [
        _BLOCKS_OF_CARD.row(dialect, row[blocks_start:]) for row in rows
        if row[blocks_start] is not None]  # card_blocks.id: the card has blocks
    return found


# The card and its blocks, one row a block (one with the blocks' columns None if it has none),
# columns in the order of _CARD_BY_NO's and _BLOCKS_OF_CARD's, behind the credential's.
_CARD_READ = RawSelect(with_credential(
    select(*(column.label(f"card_{column.key}") for column in Card.__table__.c),
           *(column.label(f"block_{column.key}") for column in CardBlock.__table__.c))
    .select_from(Card.__table__.outerjoin(
        CardBlock.__table__, CardBlock.__table__.c.card_id == Card.__table__.c.id))
    .where(Card.__table__.c.card_no == bindparam("card_no")),
    order_by=("block_id",)), "CardReadRow")
assert list(Card.__table__.c)[0] is Card.__table__.c.id
assert list(CardBlock.__table__.c)[0] is CardBlock.__table__.c.id


def find_card_by_asn(*, uow: UnitOfWork, asn: str) -> CardView | None:
    """The registry's card whose T-Union purse has this application serial number (the most
    recent one if a number was ever reused), or None: a card the registry did not issue."""
    card = uow.session.execute(
        select(Card).where(Card.asn == asn).order_by(Card.id.desc()).limit(1)).scalar_one_or_none()
    return _view(card, uow.now()) if card is not None else None


def current_card_for(*, uow: UnitOfWork, person_id: int) -> CardView | None:
    """The person's card in use, else the one produced for them, else None."""
    cards = _live_cards(uow, person_id)
    cards.sort(key=lambda c: (c.state != CardState.IN_USE, -c.id))
    return _view(cards[0], uow.now()) if cards else None


def has_live_card(*, uow: UnitOfWork, person_id: int) -> bool:
    """Whether the person holds a card that is produced or in use (not retired/cancelled)."""
    return bool(_live_cards(uow, person_id))


def person_ids_with_live_cards(*, uow: UnitOfWork, after_person_id: int = 0,
                               limit: int = 500) -> list[int]:
    """People (by id, after `after_person_id`) holding a produced or in-use card."""
    return list(uow.session.execute(
        select(Card.person_id).distinct()
        .where(Card.person_id > after_person_id, Card.state.in_(list(LIVE_STATES)))
        .order_by(Card.person_id).limit(limit)
    ).scalars())


def list_cards(*, uow: UnitOfWork, person_id: int | None = None, bank_code: str | None = None,
               state: str | None = None, limit: int = 50, offset: int = 0) -> list[CardView]:
    """Cards, newest first, optionally of one person, bank or state."""
    query = select(Card).order_by(Card.id.desc()).limit(min(limit, 500)).offset(offset)
    if person_id is not None:
        query = query.where(Card.person_id == person_id)
    if bank_code is not None:
        query = query.where(Card.bank_code == bank_code)
    if state is not None:
        if state not in set(CardState):
            raise NotAChoice(what_zh="卡片状态", what_en="card state", value=state, allowed=list(CardState))
        query = query.where(Card.state == state)
    now = uow.now()
    return [_view(card, now) for card in uow.session.execute(query).scalars()]


def read_cards_of(*, uow: UnitOfWork, person_id: int, limit: int = 50) -> list[CardView]:
    """`list_cards(person_id=…)` for a request that only reads (the holder's home page): the
    same views, newest first, from two plain selects (the person's cards, then the blocks of
    all of them) instead of ORM objects, as `read_card` does for one card."""
    connection = uow.connection()
    cards = connection.execute(_CARDS_OF_PERSON, {"person_id": person_id,
                                                  "limit": min(limit, 500)}).all()
    if not cards:
        return []
    blocks: dict[int, list] = {card.id: [] for card in cards}
    for block in connection.execute(_BLOCKS_OF_CARDS, {"card_ids": list(blocks)}):
        blocks[block.card_id].append(block)
    now = uow.now()
    return [_view(SimpleNamespace(**card._mapping, blocks=blocks[card.id]), now)
            for card in cards]


_CARDS_OF_PERSON = (select(Card.__table__)
                    .where(Card.__table__.c.person_id == bindparam("person_id"))
                    .order_by(Card.__table__.c.id.desc()).limit(bindparam("limit")))
_BLOCKS_OF_CARDS = (select(CardBlock.__table__)
                    .where(CardBlock.__table__.c.card_id.in_(bindparam("card_ids", expanding=True)))
                    .order_by(CardBlock.__table__.c.id))  # as the relationship orders them


def read_card_of_person(*, uow: UnitOfWork, person_id: int) -> CardView | None:
    """For a request that only reads: the person's card in use, else the one produced for
    them (`current_card_for`), else their newest card whatever its state, else None; from
    plain selects of the person's cards and of the chosen card's blocks only."""
    connection = uow.connection()
    newest_first = _CARD_ROWS_OF_PERSON.rows(connection, {"person_id": person_id})
    live = sorted((c for c in newest_first if c.state in LIVE_STATES),
                  key=lambda c: c.state != CardState.IN_USE)  # stable: newest first within
    card = live[0] if live else (newest_first[0] if newest_first else None)
    if card is None:
        return None
    blocks = _BLOCKS_OF_CARD.rows(connection, {"card_id": card.id})
    return _view(SimpleNamespace(**card._asdict(), blocks=blocks), uow.now())


_CARD_ROWS_OF_PERSON = RawSelect(select(Card.__table__)
                                 .where(Card.__table__.c.person_id == bindparam("person_id"))
                                 .order_by(Card.__table__.c.id.desc()), "CardRow")


def card_blocks(*, uow: UnitOfWork, card_no: str, actor: Actor | None = None) -> list[BlockView]:
    """Every block the card ever had (losses, freezes), oldest first, lifted ones included."""
    card = _load(uow, card_no, actor=actor)
    now = uow.now()
    return [_block_view(block, now) for block in card.blocks]


@dataclass(frozen=True)
class IdentifiedCaller:
    """A 12333 caller who answered the identity questions, with their cards (newest first)."""

    person_id: int
    name: str
    ssn: str
    cards: tuple[CardView, ...]


def identify_caller(*, uow: UnitOfWork, actor: Actor, id_number: str, name: str,
                    phone_last4: str | None = None, card_no: str | None = None) -> IdentifiedCaller:
    """The 12333 agent finds the caller's record by the ID number the caller gives, then checks
    the name and the last four digits of the phone on file or a card number (rules.
    caller_answers_match). Any mismatch is the same CallerNotIdentified; a success is audited
    on the person (who looked up whom, by which answers). The caller commits."""
    from yikatong.people.service import find_person_by_ssn

    phone_last4, card_no = (phone_last4 or "").strip() or None, (card_no or "").strip() or None
    if phone_last4 is None and card_no is None:
        raise IdentityQuestionMissing()
    person = find_person_by_ssn(uow=uow, ssn=id_number)
    cards = list_cards(uow=uow, person_id=person.id) if person is not None else []
    if person is None or not caller_answers_match(
            name_on_file=person.name, phone_on_file=person.phone,
            card_nos=[card.card_no for card in cards], name=name, phone_last4=phone_last4,
            card_no=card_no):
        raise CallerNotIdentified()
    answered = [question for question, given in (("phone_last4", phone_last4),
                                                 ("card_no", card_no)) if given]
    uow.audit(actor=actor, action="person.caller_identified", entity_type="person",
              entity_id=person.id, after={"channel": str(actor.channel),
                                          "questions": ["id_number", "name", *answered]})
    return IdentifiedCaller(person_id=person.id, name=person.name, ssn=person.ssn,
                            cards=tuple(cards))


def capabilities(*, uow: UnitOfWork, card_no: str, today: date | None = None,
                 actor: Actor | None = None) -> FinancialCapabilities:
    """What the financial function allows today (see rules.financial_capabilities)."""
    card = _load(uow, card_no, actor=actor)
    return financial_capabilities(card, today or local_date(uow.now()))


def expiry_reminders(*, uow: UnitOfWork, today: date | None = None,
                     within_days: int = EXPIRY_REMINDER_DAYS,
                     bank_code: str | None = None) -> list[ExpiryReminder]:
    """Cards in use whose financial function ends within `within_days` or has ended (二.2)."""
    today = today or local_date(uow.now())
    query = (select(Card).where(Card.state == CardState.IN_USE,
                                Card.financial_valid_until <= today + timedelta(days=within_days))
             .order_by(Card.financial_valid_until, Card.card_no))
    if bank_code is not None:
        query = query.where(Card.bank_code == bank_code)
    return [ExpiryReminder(card_no=c.card_no, person_id=c.person_id, bank_code=c.bank_code,
                           financial_valid_until=c.financial_valid_until,
                           days_left=days_until_financial_expiry(c.financial_valid_until, today))
            for c in uow.session.execute(query).scalars()]


# ---------------------------------------------------------------------------------------
# Production, hand-over, cancellation (called by the applications domain)


def register_produced_card(
    *, uow: UnitOfWork, actor: Actor, application_id: int | None, person_id: int, kind: str,
    bank_code: str, card_no: str, card_id_code: str, chip_serial: str, pan: str, asn: str,
    issue_date: date, predecessor_card_no: str | None = None,
) -> CardView:
    """Enter a card the factory produced (state "produced", not yet in use). A replacement
    needs a formally lost predecessor, an exchange a predecessor in use that is not lost;
    a first card needs a person with no live card (one person, one card)."""
    check_card_no(card_no)
    check_pan(pan)
    if kind not in CARD_KINDS:
        raise NotAChoice(what_zh="制卡类型", what_en="card kind", value=kind, allowed=CARD_KINDS)
    if not card_id_code or len(card_id_code) > 32 or not chip_serial or not asn:
        raise InvalidInput(reason_zh="卡识别码、芯片序列号和应用序列号不能为空（卡识别码最多 32 位）",
                           reason_en="card identification code, chip serial and application "
                                     "serial number are required (code at most 32 chars)")
    _bank(uow, bank_code)
    _ensure_unique(uow, card_no=card_no, card_id_code=card_id_code, pan=pan)
    if kind == "first":
        if predecessor_card_no is not None:
            raise InvalidInput(reason_zh="首次申领的卡没有原卡", reason_en="a first card has no predecessor")
        live = _live_cards(uow, person_id)
        if live:
            raise LiveCardExists(card_no=live[0].card_no)
    else:
        _check_successor_allowed(uow, person_id=person_id, kind=kind,
                                 predecessor_card_no=predecessor_card_no)
    now = uow.now()
    card = Card(
        card_no=card_no, person_id=person_id, application_id=application_id, kind=kind,
        bank_code=bank_code, card_id_code=card_id_code, chip_serial=chip_serial, pan=pan,
        asn=asn, issue_date=issue_date, financial_valid_until=financial_valid_until(issue_date),
        predecessor_card_no=predecessor_card_no, state=str(CardState.PRODUCED), produced_at=now,
        financial_status=str(FinancialStatus.INACTIVE), updated_at=now, version=0,
    )
    uow.session.add(card)
    _record(uow, actor=actor, card=card, action="card.produced", before=None,
            payload={"kind": kind, "bank_code": bank_code, "pan": pan,
                     "issue_date": issue_date.isoformat(),
                     "predecessor_card_no": predecessor_card_no,
                     # the production list names the holder: the bank opens the account in
                     # that name and checks a disbursement row's payee name against it
                     "holder_name": _holder_name(uow, person_id)})
    return _view(card, now)


def hand_over(*, uow: UnitOfWork, actor: Actor, card_no: str,
              expected_version: int | None = None) -> CardView:
    """启用: the holder receives the card. A replacement retires the lost card for good (it can
    no longer be unblocked); an exchange moves the HR function to the new card, retires the old
    one and raises the task to close its bank account at its bank (四.8)."""
    card = _load(uow, card_no, expected_version=expected_version)
    if card.state != CardState.PRODUCED:
        raise _not_in_use(card)
    now = uow.now()
    before = _snapshot(card, now)
    if card.predecessor_card_no:
        predecessor = _load(uow, card.predecessor_card_no)
        _check_successor_allowed(uow, person_id=card.person_id, kind=card.kind,
                                 predecessor_card_no=predecessor.card_no, successor=card)
        reason = EndReason.REPLACED if card.kind == "replacement" else EndReason.EXCHANGED
        _retire(uow, actor=actor, card=predecessor, reason=reason, successor=card)
        if reason == EndReason.EXCHANGED:
            _request_account_closure(uow, actor=actor, card=predecessor, reason="exchanged",
                                     successor=card)
    card.state = str(CardState.IN_USE)
    card.handed_over_at = now
    _record_jiangsu_card(uow, actor=actor, card=card, source="issued")
    _record(uow, actor=actor, card=card, action="card.handed_over", before=before,
            payload={"kind": card.kind, "predecessor_card_no": card.predecessor_card_no})
    return _view(card, now)


def cancel_unissued_card(*, uow: UnitOfWork, actor: Actor, card_no: str, reason: str) -> CardView:
    """Cancel a produced card that was never handed over (already cancelled: nothing to do)."""
    card = _load(uow, card_no)
    now = uow.now()
    if card.state == CardState.CANCELLED:
        return _view(card, now)
    if card.state != CardState.PRODUCED:
        raise _not_in_use(card)
    before = _snapshot(card, now)
    card.state = str(CardState.CANCELLED)
    card.ended_at = now
    card.end_reason = str(EndReason.CANCELLED)
    card.end_note = reason
    _record(uow, actor=actor, card=card, action="card.cancelled", before=before, reason=reason,
            payload={"reason": reason})
    return _view(card, now)


def check_replacement_allowed(*, uow: UnitOfWork, person_id: int) -> str:
    """The formally lost card a replacement would replace (四.8); raises ReplacementNotAllowed
    when the person has no card in use, it is not formally lost, or a replacement is pending."""
    card = _card_in_use(uow, person_id)
    if card is None:
        raise ReplacementNotAllowed(reason_zh="该人员没有在用的社会保障卡",
                                    reason_en="the person has no card in use")
    _check_successor_allowed(uow, person_id=person_id, kind="replacement",
                             predecessor_card_no=card.card_no)
    return card.card_no


def check_exchange_allowed(*, uow: UnitOfWork, person_id: int, card_damaged: bool = False) -> str:
    """The card an exchange would replace (四.8, 四.13). Raises TransitBalanceNotRefunded while
    the transit wallet holds money not yet refunded, unless the card is too damaged to read
    (the transit issue refunds such a card later from its records)."""
    card = _card_in_use(uow, person_id)
    if card is None:
        raise ExchangeNotAllowed(reason_zh="该人员没有在用的社会保障卡",
                                 reason_en="the person has no card in use")
    _check_successor_allowed(uow, person_id=person_id, kind="exchange",
                             predecessor_card_no=card.card_no)
    if not card_damaged:
        _check_wallet_refunded(uow, card.card_no)
    return card.card_no


# ---------------------------------------------------------------------------------------
# Losses, unblock, freeze


def report_loss(*, uow: UnitOfWork, actor: Actor, card_no: str, kind: str,
                function: str | None = None, reason_code: str = "lost",
                expected_version: int | None = None) -> LossOutcome:
    """Report the card lost (四.6) through the actor's channel.

    Temporary loss of the HR function by 12333 or online lasts 168 hours. Formal loss online
    covers the HR function and refers the financial side to the bank (hotline named in the
    referral); at any branch of the card's bank it covers both functions. The financial side
    goes to the bank through the BankGateway; only the bank's answer changes its copy.
    """
    loss_kind = parse_loss_kind(kind)
    functions = parse_functions(function)
    card = _load(uow, card_no, actor=actor, acting=True, expected_version=expected_version)
    _ensure_in_use(card)
    bank = _bank(uow, card.bank_code)
    plan = plan_loss(kind=loss_kind, functions=functions, family=channel_family(actor.channel),
                     bank_temporary_channels=bank_loss_rule(card.bank_code).temporary_loss_channels,
                     bank_names=(bank.short_name_zh, bank.name_en), hotline=bank.hotline)
    now = uow.now()
    in_force = _in_force(card, now)
    if plan.hr:
        check_hr_loss_possible(loss_kind, in_force)
    if plan.financial:
        check_financial_loss_possible(loss_kind, card.financial_status)
    before = _snapshot(card, now)
    if plan.hr:
        for block in in_force:  # a formal loss supersedes a temporary one
            if block.function == Function.HR and block.kind == BlockKind.TEMPORARY_LOSS:
                _lift(block, actor=actor, at=now, reason="superseded_by_formal_loss")
        ends = temporary_hr_loss_ends(now) if loss_kind == BlockKind.TEMPORARY_LOSS else None
        _add_block(card, actor=actor, function=Function.HR, kind=loss_kind,
                   reason_code=reason_code, at=now, ends_at=ends)
    if plan.financial:
        ack = uow.get(BankGateway).report_financial_loss(
            bank_code=card.bank_code, card_no=card.card_no, pan=card.pan, kind=loss_kind,
            channel=str(actor.channel), reported_at=now)
        killpoint("cards.loss.bank_answered")  # the bank has blocked it; our transaction is open
        _apply_all(uow, ack.events)
    _record(uow, actor=actor, card=card, action=f"card.{loss_kind}_reported", before=before,
            reason=reason_code, payload={
                "functions": [f for f, on in (("hr", plan.hr), ("financial", plan.financial)) if on],
                "channel": str(actor.channel), "referred_to_bank": plan.refer_financial_to_bank,
                "ends_at": _iso(temporary_hr_loss_ends(now))
                if plan.hr and loss_kind == BlockKind.TEMPORARY_LOSS else None})
    referral = _referral(bank, loss_kind, hold_days=_protective_hold_days(card, loss_kind, actor)) \
        if plan.refer_financial_to_bank else (None, None)
    return LossOutcome(card=_view(card, now), referral_zh=referral[0], referral_en=referral[1])


def unblock(*, uow: UnitOfWork, actor: Actor, card_no: str, function: str | None = None,
            expected_version: int | None = None) -> UnblockOutcome:
    """解挂 through the channel the loss was reported on (四.7). Refused once a replacement card
    has been handed over; a replacement still in production or undelivered is cancelled."""
    functions = parse_functions(function)
    card = _load(uow, card_no, actor=actor, acting=True, expected_version=expected_version)
    if card.state == CardState.RETIRED and card.end_reason == EndReason.REPLACED:
        raise ReplacementInUse(successor=card.successor_card_no)
    _ensure_in_use(card)
    now = uow.now()
    losses = [b for b in _in_force(card, now) if b.kind in LOSS_KINDS]
    lifts = plan_unblock(loss_blocks_in_force=losses, functions=functions,
                         family=channel_family(actor.channel))
    before = _snapshot(card, now)
    found = any(b.function == Function.HR and b.kind == BlockKind.FORMAL_LOSS for b in lifts)
    cancelled = _cancel_pending_replacements(uow, actor=actor, card=card) if found else []
    for block in lifts:
        if block.function == Function.HR:
            _lift(block, actor=actor, at=now, reason="unblocked")
    if any(block.function == Function.FINANCIAL for block in lifts):
        ack = uow.get(BankGateway).lift_financial_loss(
            bank_code=card.bank_code, card_no=card.card_no, pan=card.pan,
            channel=str(actor.channel), lifted_at=now)
        _apply_all(uow, ack.events)
    _record(uow, actor=actor, card=card, action="card.unblocked", before=before, payload={
        "functions": sorted({b.function for b in lifts}), "channel": str(actor.channel),
        "cancelled_replacements": cancelled})
    return UnblockOutcome(card=_view(card, now), lifted=tuple(_block_view(b, now) for b in lifts),
                          cancelled_replacements=tuple(cancelled))


def freeze(*, uow: UnitOfWork, actor: Actor, card_no: str, reason_code: str,
           note: str | None = None, expected_version: int | None = None) -> CardView:
    """An administrative freeze of the HR function by the card centre (admin only)."""
    _require_admin(actor)
    card = _load(uow, card_no, expected_version=expected_version)
    _ensure_in_use(card)
    now = uow.now()
    if any(b.kind == BlockKind.FREEZE for b in _in_force(card, now)):
        raise AlreadyFrozen()
    before = _snapshot(card, now)
    _add_block(card, actor=actor, function=Function.HR, kind=BlockKind.FREEZE,
               reason_code=reason_code, at=now, ends_at=None)
    _record(uow, actor=actor, card=card, action="card.frozen", before=before,
            reason=note or reason_code, payload={"reason_code": reason_code})
    return _view(card, now)


def unfreeze(*, uow: UnitOfWork, actor: Actor, card_no: str, note: str | None = None,
             expected_version: int | None = None) -> CardView:
    """Lift the administrative freeze (admin only)."""
    _require_admin(actor)
    card = _load(uow, card_no, expected_version=expected_version)
    now = uow.now()
    freezes = [b for b in _in_force(card, now) if b.kind == BlockKind.FREEZE]
    if not freezes:
        raise NotFrozen()
    before = _snapshot(card, now)
    for block in freezes:
        _lift(block, actor=actor, at=now, reason="unfrozen")
    _record(uow, actor=actor, card=card, action="card.unfrozen", before=before, reason=note)
    return _view(card, now)


def persist_expired_losses(*, uow: UnitOfWork, card_no: str) -> int:
    """Write down that the card's 7-day temporary HR losses have ended (they already read as
    ended; this records the lift, its audit entry and the events). Returns how many."""
    card = _load(uow, card_no)
    now = uow.now()
    due = [b for b in card.blocks if b.function == Function.HR
           and b.kind == BlockKind.TEMPORARY_LOSS and b.lifted_at is None
           and b.ends_at is not None and as_utc(b.ends_at) <= now]
    system = Actor.system("cards.expire_temporary_losses")
    for block in due:
        # The status just before the end, so the event says temporary_loss → normal.
        before = _snapshot(card, as_utc(block.ends_at) - timedelta(microseconds=1))
        _lift(block, actor=system, at=as_utc(block.ends_at), reason="expired")
        _record(uow, actor=system, card=card, action="card.temporary_loss_expired",
                before=before, payload={"ended_at": _iso(block.ends_at)})
    return len(due)


def cards_with_expired_losses(*, uow: UnitOfWork, limit: int = 500) -> list[str]:
    """Card numbers with a 7-day temporary HR loss whose end has passed but is not recorded."""
    query = (select(Card.card_no).join(CardBlock, CardBlock.card_id == Card.id)
             .where(CardBlock.function == Function.HR,
                    CardBlock.kind == BlockKind.TEMPORARY_LOSS,
                    CardBlock.lifted_at.is_(None), CardBlock.ends_at <= uow.now())
             .distinct().limit(limit))
    return list(uow.session.execute(query).scalars())


# ---------------------------------------------------------------------------------------
# The financial function: activation and the bank's events


def activate_financial(*, uow: UnitOfWork, actor: Actor, card_no: str,
                       expected_version: int | None = None) -> CardView:
    """四.9: the holder activates the financial function at a branch of the card's bank; the
    bank's `activated` event changes the copy."""
    card = _load(uow, card_no, actor=actor, acting=True, expected_version=expected_version)
    _ensure_in_use(card)
    if actor.role not in (Role.BANK, Role.ADMIN) or channel_family(actor.channel) != BANK_BRANCH:
        raise Forbidden(zh="金融功能须由持卡人本人到卡面标识银行的网点激活",
                        en="The financial function is activated by the holder at a branch "
                           "of the bank named on the card")
    if card.financial_status != FinancialStatus.INACTIVE:
        raise FinancialAlreadyActivated(**FINANCIAL_STATES.fields("status", card.financial_status))
    now = uow.now()
    ack = uow.get(BankGateway).activate(bank_code=card.bank_code, card_no=card.card_no,
                                          pan=card.pan, activated_at=now,
                                          branch_code=actor.branch_code)
    uow.audit(actor=actor, action="card.financial_activation_requested", entity_type="card",
              entity_id=card.card_no, after={"bank_reference": ack.bank_reference})
    _apply_all(uow, ack.events)
    return _view(card, now)


def apply_bank_event(*, uow: UnitOfWork, event: BankEvent) -> bool:
    """The only way the financial copy changes. Applies an event of the card's bank once (by its
    event id); returns False for an event already applied."""
    seen = uow.session.execute(select(BankEventRecord.id).where(
        BankEventRecord.event_id == event.event_id)).first()
    if seen:
        return False
    card = _load(uow, event.card_no)
    if card.bank_code != event.bank_code or card.pan != event.pan:
        raise BankEventMismatch(reason_zh="银行代码或账号与该卡不一致",
                                reason_en="bank code or account number differ from the card's")
    kind = BankEventType(event.type)
    now = uow.now()
    before = _snapshot(card, now)
    occurred = as_utc(event.occurred_at)
    bank_actor = Actor(user_id=f"bank:{event.bank_code}", role=Role.BANK,
                       channel=Channel.PARTNER_API, bank_code=event.bank_code)
    financial_blocks = [b for b in _in_force(card, now) if b.function == Function.FINANCIAL]
    if kind == BankEventType.ACTIVATED:
        card.financial_activated_at = occurred
        card.financial_status = str(FinancialStatus.ACTIVE)
    elif kind in (BankEventType.TEMPORARY_LOSS, BankEventType.FORMAL_LOSS):
        for block in financial_blocks:  # a formal loss supersedes a temporary one
            _lift(block, actor=bank_actor, at=occurred, reason="superseded_by_formal_loss",
                  channel=event.channel)
        block = _add_block(card, actor=bank_actor, function=Function.FINANCIAL,
                           kind=BlockKind(str(kind)), reason_code="lost", at=occurred,
                           ends_at=as_utc(event.ends_at) if event.ends_at else None,
                           channel=event.channel)
        block.bank_event_id = event.event_id
        card.financial_status = str(FinancialStatus(str(kind)))
    elif kind == BankEventType.UNBLOCKED:
        reason = "expired_by_bank_rule" if event.channel == "bank_rule" else "unblocked"
        for block in financial_blocks:
            _lift(block, actor=bank_actor, at=occurred, reason=reason, channel=event.channel)
        card.financial_status = str(FinancialStatus.ACTIVE if card.financial_activated_at
                                    else FinancialStatus.INACTIVE)
    elif kind == BankEventType.ACCOUNT_CLOSED:
        card.financial_status = str(FinancialStatus.CLOSED)
        _complete_closure_task(uow, card=card, event=event, at=occurred)
    elif kind == BankEventType.EXPIRED:
        card.financial_status = str(FinancialStatus.EXPIRED)
    if kind != BankEventType.PAYMENT_HELD:  # a held payment leaves the status as it was
        card.financial_status_at = occurred
    uow.session.add(BankEventRecord(
        event_id=event.event_id, bank_code=event.bank_code, card_no=card.card_no,
        type=str(kind), occurred_at=occurred, received_at=now,
        payload={"channel": event.channel, "ends_at": _iso(event.ends_at),
                 "task_id": event.task_id, "note": event.note}))
    _record(uow, actor=bank_actor, card=card, action="card.financial_status_changed",
            before=before, reason=event.note, partner=False,
            payload={"bank_event": str(kind), "bank_event_id": event.event_id,
                     "financial_status": card.financial_status,
                     **({"held_fen": int(event.note)} if kind == BankEventType.PAYMENT_HELD else {})})
    return True


def record_wallet_refund(*, uow: UnitOfWork, actor: Actor, card_no: str, refunded_fen: Fen,
                         note: str | None = None) -> CardView:
    """A directly-run citizen-card outlet refunded (退值) the transit wallet (四.13)."""
    from yikatong.transit.errors import RefundNotAtDirectOutlet
    from yikatong.transit.refunds import check_direct_outlet  # the one check of both doors

    card = _load(uow, card_no)
    try:
        check_direct_outlet(uow, actor)
    except RefundNotAtDirectOutlet:
        raise WalletRefundNotAllowed() from None
    if (not isinstance(refunded_fen, int) or isinstance(refunded_fen, bool)
            or not 0 <= refunded_fen <= MAX_AMOUNT_FEN):
        raise InvalidInput(reason_zh=f"退值金额应为 0 至 {MAX_AMOUNT_FEN} 的整数（分）",
                           reason_en=f"the refunded amount must be an integer from 0 to {MAX_AMOUNT_FEN} fen")
    now = uow.now()
    before = _snapshot(card, now)
    uow.session.add(WalletRefundRecord(card_no=card.card_no, refunded_fen=refunded_fen,
                                       outlet_code=actor.branch_code, recorded_by=actor.user_id,
                                       recorded_at=now, note=note))
    _record(uow, actor=actor, card=card, action="card.wallet_refund_recorded", before=before,
            reason=note, partner=False,
            payload={"refunded_fen": refunded_fen, "outlet_code": actor.branch_code})
    return _view(card, now)


# ---------------------------------------------------------------------------------------
# Leaving the card: transfer out of the province, death


def transfer_out(*, uow: UnitOfWork, actor: Actor, card_no: str, destination_province: str,
                 rule_note: str, expected_version: int | None = None) -> CardView:
    """Cross-province transfer: the card is retired under the destination's rules (三.1).
    Within Jiangsu nothing changes: one person, one card in the province."""
    destination = province_code(destination_province)
    card = _load(uow, card_no, expected_version=expected_version)
    if destination == JIANGSU:
        raise TransferWithinJiangsu()
    if not (rule_note or "").strip():
        raise InvalidInput(reason_zh="请记录转入地的换卡规定", reason_en="record the destination's rule")
    _ensure_in_use(card)
    card.transferred_to_province = destination
    _retire(uow, actor=actor, card=card, reason=EndReason.TRANSFERRED_OUT, note=rule_note.strip())
    _request_account_closure(uow, actor=actor, card=card, reason="transferred_out")
    return _view(card, uow.now())


def retire_deceased(*, uow: UnitOfWork, actor: Actor, card_no: str, note: str,
                    expected_version: int | None = None, died_on: date | None = None) -> CardView:
    """Cancel the card of a holder who died. `died_on`, the date of death on the death
    certificate, travels in the `card.retired` event (benefits stop and recover from it);
    None: the day of the cancellation stands for it."""
    card = _load(uow, card_no, expected_version=expected_version)
    _ensure_in_use(card)
    if died_on is not None and died_on > local_date(uow.now()):
        raise InvalidInput(reason_zh="死亡日期不能晚于今天", reason_en="the date of death cannot be in the future")
    _retire(uow, actor=actor, card=card, reason=EndReason.DECEASED, note=note,
            extra={"died_on": died_on.isoformat()} if died_on else None)
    _request_account_closure(uow, actor=actor, card=card, reason="deceased")
    return _view(card, uow.now())


# ---------------------------------------------------------------------------------------
# Helpers


def _load(uow: UnitOfWork, card_no: str, *, actor: Actor | None = None, acting: bool = False,
          expected_version: int | None = None) -> Card:
    check_card_no(card_no)
    card = uow.session.execute(select(Card).where(Card.card_no == card_no)).scalar_one_or_none()
    if card is None:
        raise CardNotFound(card_no=card_no)
    _check_may_see(uow, actor, card_no, person_id=card.person_id, bank_code=card.bank_code)
    if expected_version is not None and card.version != expected_version:
        raise ConcurrentChange()
    return card


def _check_may_see(uow: UnitOfWork, actor: Actor | None, card_no: str, *, person_id: int,
                   bank_code: str) -> None:
    """CardNotFound unless `actor` (None: the platform itself) may see this card."""
    if actor is None:
        return
    if actor.role == Role.HOLDER and not _holder_may_act_for(uow, actor, person_id):
        # a holder does not learn others' cards exist (a guardian: their children's, under 16)
        raise CardNotFound(card_no=card_no)
    if actor.role == Role.BANK and actor.bank_code != bank_code:
        # reading or acting, another bank's card answers as a missing one (no existence leak)
        raise CardNotFound(card_no=card_no)
    if not _employer_may_see(uow, actor, person_id):
        raise CardNotFound(card_no=card_no)  # not an employee of the agent's employer


def _subject(actor: Actor, person_id: int) -> dict:
    """A guardian acting for a child: the child is named in the audit record."""
    from yikatong.people.guardians import subject_of

    return subject_of(actor, person_id)


def _holder_may_act_for(uow: UnitOfWork, actor: Actor, person_id: int) -> bool:
    from yikatong.people.guardians import may_act_for

    return may_act_for(uow, actor, person_id)


def _employer_may_see(uow: UnitOfWork, actor: Actor, person_id: int | None) -> bool:
    from yikatong.employers.service import may_see_person

    return may_see_person(uow=uow, actor=actor, person_id=person_id)


def _live_cards(uow: UnitOfWork, person_id: int) -> list[Card]:
    query = select(Card).where(Card.person_id == person_id, Card.state.in_(list(LIVE_STATES)))
    return list(uow.session.execute(query).scalars())


def _card_in_use(uow: UnitOfWork, person_id: int) -> Card | None:
    return next((c for c in _live_cards(uow, person_id) if c.state == CardState.IN_USE), None)


def _pending_successors(uow: UnitOfWork, card_no: str) -> list[Card]:
    query = select(Card).where(Card.predecessor_card_no == card_no,
                               Card.state == CardState.PRODUCED)
    return list(uow.session.execute(query).scalars())


def _check_successor_allowed(uow: UnitOfWork, *, person_id: int, kind: str,
                             predecessor_card_no: str | None,
                             successor: Card | None = None) -> None:
    """A replacement replaces a formally lost card in use; an exchange a card in use that is
    not formally lost; in both cases no other successor may be pending."""
    error = ReplacementNotAllowed if kind == "replacement" else ExchangeNotAllowed
    if predecessor_card_no is None:
        raise error(reason_zh="须指明原卡卡号", reason_en="the predecessor card number is required")
    predecessor = _load(uow, predecessor_card_no)
    if predecessor.person_id != person_id or predecessor.state != CardState.IN_USE:
        raise error(reason_zh=f"原卡 {predecessor_card_no} 不是该人员在用的卡",
                    reason_en=f"card {predecessor_card_no} is not this person's card in use")
    lost_formally = any(b.function == Function.HR and b.kind == BlockKind.FORMAL_LOSS
                        for b in _in_force(predecessor, uow.now()))
    if kind == "replacement" and not lost_formally:
        raise error(reason_zh="原卡尚未正式挂失，补卡须先办理正式挂失",
                    reason_en="the card has not been formally reported lost; that comes first")
    if kind == "exchange" and lost_formally:
        raise error(reason_zh="原卡已正式挂失，请办理补卡而不是换卡",
                    reason_en="the card is formally reported lost; apply for a replacement")
    pending = [c for c in _pending_successors(uow, predecessor_card_no) if c is not successor]
    if pending:
        raise error(reason_zh=f"已有新卡 {pending[0].card_no} 在制作或待领取",
                    reason_en=f"a new card {pending[0].card_no} is already produced or waiting")


def _check_wallet_refunded(uow: UnitOfWork, card_no: str) -> None:
    balance = uow.get(WalletBalance).unrefunded_balance(uow=uow, card_no=card_no)
    if balance is None:
        raise TransitBalanceNotRefunded(
            balance_zh="尚无退值记录，余额无法确认",
            balance_en="has no recorded refund and its balance is not known")
    if balance > 0:
        raise TransitBalanceNotRefunded(
            balance_zh=f"尚有余额 {format_fen(balance)} 元未退值",
            balance_en=f"still holds CNY {format_fen(balance)} that has not been refunded")


def _ensure_unique(uow: UnitOfWork, **values: str) -> None:
    for name, value in values.items():
        if uow.session.execute(select(Card.id).where(getattr(Card, name) == value)).first():
            raise DuplicateCard(field=name)


def _ensure_in_use(card: Card) -> None:
    if card.state != CardState.IN_USE:
        raise _not_in_use(card)


def _not_in_use(card: Card) -> CardNotInUse:
    return CardNotInUse(**CARD_STATES.fields("state", card.state))


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden(zh="只有卡管中心管理员可以冻结或解冻", en="Only the card centre admin may freeze or unfreeze")


def _bank(uow: UnitOfWork, bank_code: str):
    from yikatong.directory.service import get_bank

    return get_bank(uow=uow, bank_code=bank_code)


def _referral(bank, kind: BlockKind, *, hold_days: int | None) -> tuple[str, str]:
    zh, en = KIND_NAMES[kind]
    referral = (f"金融功能{zh}请按{bank.short_name_zh}的规定办理：请拨打{bank.short_name_zh}客服电话 "
                f"{bank.hotline}，或到{bank.short_name_zh}任一网点办理",
                f"The financial function's {en} follows the rules of {bank.name_en}: call its "
                f"hotline {bank.hotline} or go to any of its branches")
    if hold_days is None:  # the seed's rule: the financial function is untouched
        return (referral[0] + "；金融功能不受影响", referral[1] + "; the financial function is untouched")
    return (referral[0] + f"；按{bank.short_name_zh}的规定，金融账户将立即临时挂失（{hold_days} 天）以保护资金",
            referral[1] + f"; by {bank.name_en}'s rules the account is placed under a protective "
                          f"temporary loss at once ({hold_days} days)")


def _protective_hold_days(card: Card, kind: BlockKind, actor: Actor) -> int | None:
    """The days of the protective temporary loss the card's bank declares after this online
    formal loss (bank_loss_rules.toml), or None when it does nothing more. The bank applies it
    when the platform's event reaches it: the answer says so now, rather than the card's
    status changing a moment later without a word."""
    rule = bank_loss_rule(card.bank_code)
    protects = (kind == BlockKind.FORMAL_LOSS and channel_family(actor.channel) == ONLINE
                and card.financial_status == "active" and rule.protects_after_online_formal_loss)
    return rule.temporary_loss_days if protects else None


def _in_force(card: Card, now: datetime) -> list[CardBlock]:
    return [b for b in card.blocks if block_in_force(b, now)]


def _add_block(card: Card, *, actor: Actor, function: str, kind: str, reason_code: str,
               at: datetime, ends_at: datetime | None, channel: str | None = None) -> CardBlock:
    block = CardBlock(function=str(function), kind=str(kind), reason_code=reason_code,
                      set_by=actor.user_id, set_by_role=str(actor.role),
                      channel=channel or str(actor.channel), branch_code=actor.branch_code,
                      started_at=at, ends_at=ends_at)
    card.blocks.append(block)
    return block


def _lift(block: CardBlock, *, actor: Actor, at: datetime, reason: str,
          channel: str | None = None) -> None:
    block.lifted_at = at
    block.lifted_by = actor.user_id
    block.lifted_by_role = str(actor.role)
    block.lifted_channel = channel or str(actor.channel)
    block.lift_reason = reason


def _apply_all(uow: UnitOfWork, events) -> None:
    for event in events:
        apply_bank_event(uow=uow, event=event)


def _cancel_pending_replacements(uow: UnitOfWork, *, actor: Actor, card: Card) -> list[str]:
    """The lost card was found: a replacement not yet handed over is cancelled, both its
    application (applications domain) and its produced card."""
    pending = [c.card_no for c in _pending_successors(uow, card.card_no)
               if c.kind == "replacement"]
    reason = "原卡已解挂 / the lost card was unblocked"
    applications = _pending_replacements(uow)
    if applications is not None:
        applications.cancel_pending_replacement(uow=uow, actor=actor, person_id=card.person_id,
                                                reason=reason)
    for card_no in pending:
        cancel_unissued_card(uow=uow, actor=actor, card_no=card_no, reason=reason)
    return pending


def _pending_replacements(uow: UnitOfWork) -> PendingReplacements | None:
    """The applications domain's side of a replacement (registered by applications.wiring);
    None on a platform without that package."""
    try:
        return uow.get(PendingReplacements)
    except LookupError:
        return None


def _retire(uow: UnitOfWork, *, actor: Actor, card: Card, reason: EndReason,
            successor: Card | None = None, note: str | None = None,
            extra: dict | None = None) -> None:
    now = uow.now()
    before = _snapshot(card, now)
    card.state = str(CardState.RETIRED)
    card.ended_at = now
    card.end_reason = str(reason)
    card.end_note = note
    card.successor_card_no = successor.card_no if successor else None
    _record_jiangsu_card(uow, actor=actor, card=card, source="ended")
    _record(uow, actor=actor, card=card, action="card.retired", before=before, reason=note,
            payload={"reason": str(reason), "successor_card_no": card.successor_card_no,
                     "destination_province": card.transferred_to_province, "note": note,
                     **(extra or {})})


def _holder_name(uow: UnitOfWork, person_id: int) -> str | None:
    from yikatong.people.models import Person

    person = uow.session.get(Person, person_id)
    return person.name if person is not None else None


def _record_jiangsu_card(uow: UnitOfWork, *, actor: Actor, card: Card, source: str) -> None:
    """The person held a Jiangsu card: online first issue is closed to them from now (四.5)."""
    from yikatong.people.service import record_jiangsu_card

    record_jiangsu_card(uow=uow, actor=actor, person_id=card.person_id, card_no=card.card_no,
                        source=source)


def _request_account_closure(uow: UnitOfWork, *, actor: Actor, card: Card, reason: str,
                             successor: Card | None = None) -> None:
    """Ask the card's bank to close the account of a retired card (exchange, death, transfer
    out); the holder or the heirs settle any money left at a branch, then the bank closes."""
    now = uow.now()
    successor_card_no = successor.card_no if successor else None
    task_id = uow.get(BankGateway).request_account_closure(
        bank_code=card.bank_code, card_no=card.card_no, pan=card.pan, reason=reason,
        requested_at=now, successor_card_no=successor_card_no)
    task = BankAccountClosureTask(
        card_no=card.card_no, successor_card_no=successor_card_no, bank_code=card.bank_code,
        pan=card.pan, reason=reason, status="requested", bank_task_id=task_id,
        requested_by=actor.user_id, requested_at=now)
    uow.session.add(task)
    _flush(uow)
    uow.emit("card.bank_account_closure_requested", aggregate_type="card",
             aggregate_id=card.card_no, partner=card.bank_code,
             payload={"card_no": card.card_no, "successor_card_no": successor_card_no,
                      "reason": reason, "bank_code": card.bank_code, "bank_task_id": task_id,
                      "task_id": task.id})


def _complete_closure_task(uow: UnitOfWork, *, card: Card, event: BankEvent, at: datetime) -> None:
    query = select(BankAccountClosureTask).where(BankAccountClosureTask.card_no == card.card_no,
                                                 BankAccountClosureTask.status == "requested")
    for task in uow.session.execute(query).scalars():
        if event.task_id is None or task.bank_task_id == event.task_id:
            task.status = "completed"
            task.completed_at = at
            task.completed_event_id = event.event_id


def _snapshot(card: Card, now: datetime) -> dict:
    return {"state": card.state, "hr_status": str(_hr_status(card, now)),
            "financial_status": card.financial_status}


def _hr_status(card: Card, now: datetime) -> HrStatus:
    return derive_hr_status(card.state, card.blocks, now)


def _flush(uow: UnitOfWork) -> None:
    try:
        uow.session.flush()
    except StaleDataError as error:
        raise ConcurrentChange() from error


def _record(uow: UnitOfWork, *, actor: Actor, card: Card, action: str, before: dict | None,
            payload: dict | None = None, reason: str | None = None,
            partner: bool = True) -> None:
    """Touch the card (a new version: a concurrent writer now fails), audit the change and
    write its event; when the HR status changed, also `card.hr_status_changed` for partners."""
    now = uow.now()
    card.updated_at = now
    card.version += 1
    _flush(uow)
    after = _snapshot(card, now)
    uow.audit(actor=actor, action=action, entity_type="card", entity_id=card.card_no,
              before=before, after={**after, **_subject(actor, card.person_id)}, reason=reason)
    body = {"card_no": card.card_no, "person_id": card.person_id, **(payload or {}),
            "state": after["state"], "hr_status": after["hr_status"],
            "financial_status": after["financial_status"]}
    uow.emit(action, aggregate_type="card", aggregate_id=card.card_no, payload=body,
             partner=card.bank_code if partner else None)
    if before is not None and before["hr_status"] != after["hr_status"]:
        uow.emit("card.hr_status_changed", aggregate_type="card", aggregate_id=card.card_no,
                 partner=card.bank_code,
                 payload={"card_no": card.card_no, "person_id": card.person_id,
                          "before": before["hr_status"], "after": after["hr_status"],
                          "cause": action})


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def _block_view(block: CardBlock, now: datetime) -> BlockView:
    return BlockView(
        id=block.id, function=block.function, kind=block.kind, reason_code=block.reason_code,
        set_by=block.set_by, set_by_role=block.set_by_role, channel=block.channel,
        branch_code=block.branch_code, started_at=block.started_at, ends_at=block.ends_at,
        lifted_at=block.lifted_at, lifted_by=block.lifted_by, lifted_by_role=block.lifted_by_role,
        lifted_channel=block.lifted_channel, lift_reason=block.lift_reason,
        in_force=block_in_force(block, now))


def _view(card: Card, now: datetime) -> CardView:
    in_force = _in_force(card, now)
    hr_ends = [b.ends_at for b in in_force
               if b.function == Function.HR and b.kind == BlockKind.TEMPORARY_LOSS and b.ends_at]
    hr_status = str(_hr_status(card, now))
    return CardView(
        card_no=card.card_no, person_id=card.person_id, bank_code=card.bank_code, pan=card.pan,
        state=card.state, hr_status=hr_status,
        financial_status=shown_financial_status(card.state, card.financial_status),
        bank_financial_status=card.financial_status,
        functions=card_functions(state=card.state, hr_status=hr_status,
                                 financial_status=card.financial_status),
        financial_capabilities=financial_capabilities(card, local_date(now)),
        issue_date=card.issue_date,
        financial_valid_until=card.financial_valid_until,
        predecessor_card_no=card.predecessor_card_no, asn=card.asn, kind=card.kind,
        card_id_code=card.card_id_code, chip_serial=card.chip_serial,
        application_id=card.application_id, handed_over_at=card.handed_over_at,
        ended_at=card.ended_at, end_reason=card.end_reason, end_note=card.end_note,
        transferred_to_province=card.transferred_to_province,
        successor_card_no=card.successor_card_no,
        hr_loss_ends_at=max(hr_ends) if hr_ends else None, version=card.version,
        blocks_in_force=tuple(_block_view(b, now) for b in in_force))
