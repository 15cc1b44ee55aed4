"""Loan rules as data (config/library-changzhou.toml) and the pure decisions taken from them:
due dates, whether a reader may borrow or renew, the library system's own blocks, and the
overdue fee (0 by default: no cash fine, domain-rules §6). Example defaults, not policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from pydantic import Field, model_validator

from yikatong.core.config_files import Name, Sourced, Strict, validate_toml
from yikatong.core.errors import DomainError
from yikatong.library.protocols import PatronBlock

CONFIG = Path(__file__).parent / "config" / "library-changzhou.toml"


class LibraryConfigInvalid(DomainError):
    code = "library_config_invalid"
    http_status = 500
    zh = "图书馆借阅规则文件 {origin} 有误：{problems}"
    en = "The library loan rules file {origin} is invalid: {problems}"


class LoanRules(Sourced):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,31}$")
    name_zh: Name
    name_en: Name
    loan_limit: int = Field(ge=1, le=100)
    loan_days: int = Field(ge=1, le=365)
    renewals: int = Field(ge=0, le=20)
    renewal_days: int = Field(ge=1, le=365)
    hold_limit: int = Field(ge=0, le=100)
    hold_shelf_days: int = Field(ge=1, le=60)
    overdue_suspends: bool
    overdue_fee_fen_per_day: int = Field(ge=0, le=10000)
    fee_block_fen: int = Field(ge=0)      # fees owed above this block borrowing
    deposit_fen: int = Field(ge=0)


class LibraryFigures(Strict):
    version: Name
    status: Name
    libraries: tuple[LoanRules, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> LibraryFigures:
        codes = [library.code for library in self.libraries]
        if len(codes) != len(set(codes)):
            raise ValueError("library codes must be unique")
        return self


@cache
def figures() -> LibraryFigures:
    return validate_toml(LibraryFigures, CONFIG.read_text(encoding="utf-8"),
                         origin=CONFIG.name, invalid=LibraryConfigInvalid)


def default_library() -> str:
    return figures().libraries[0].code


def rules_for(library_code: str | None = None) -> LoanRules:
    """The loan rules of a library; a library without its own table follows the first one's."""
    libraries = figures().libraries
    return next((library for library in libraries if library.code == library_code), libraries[0])


# ---------------------------------------------------------------------------------------
# Decisions


BLOCK_WORDS: dict[PatronBlock, tuple[str, str]] = {
    PatronBlock.NOT_A_READER: ("尚未开通社保卡借阅功能，请在一卡通网站或APP开通",
                               "the card is not yet a reader card: opt in on the One Card site or app"),
    PatronBlock.CARD_NOT_USABLE: ("此卡已挂失、冻结或停用，不能借书",
                                  "this card is lost, frozen or retired and cannot borrow"),
    PatronBlock.PERSON_DECEASED: ("持卡人已身故，不能借书", "the holder is deceased; no borrowing"),
    PatronBlock.OVERDUE: ("有逾期未还的图书，归还后方可借书",
                          "items are overdue: return them to borrow again"),
    PatronBlock.FEES_OWED: ("有未缴清的费用，缴清后方可借书",
                            "fees are owed: pay them to borrow again"),
    PatronBlock.LIMIT_REACHED: ("已达可借册数上限", "the loan limit is reached"),
}


def block_words(blocks: tuple[PatronBlock, ...] | list[PatronBlock]) -> tuple[str, str]:
    """The first block's message (zh, en), the one a kiosk screen shows; "" when none."""
    if not blocks:
        return "", ""
    return BLOCK_WORDS[PatronBlock(blocks[0])]


def due_on(loaned_on: date, rules: LoanRules) -> date:
    return loaned_on + timedelta(days=rules.loan_days)


def renewed_due_on(today: date, current_due: date, rules: LoanRules) -> date:
    """A renewal runs `renewal_days` from the day it is made, never shortening the loan."""
    return max(current_due, today + timedelta(days=rules.renewal_days))


def is_overdue(due: date, today: date) -> bool:
    return today > due


def overdue_fee_fen(due: date, returned_on: date, rules: LoanRules) -> int:
    """The fee for returning late: days late × the configured rate (0 by default)."""
    days = (returned_on - due).days
    return max(0, days) * rules.overdue_fee_fen_per_day


@dataclass(frozen=True)
class Standing:
    """What the library system knows that decides borrowing: open loans, how many overdue,
    fees owed."""

    loans_out: int
    overdue: int
    fees_owed_fen: int


def library_blocks(standing: Standing, rules: LoanRules) -> tuple[PatronBlock, ...]:
    """The library system's blocks, in the order a kiosk should show them."""
    blocks = []
    if rules.overdue_suspends and standing.overdue > 0:
        blocks.append(PatronBlock.OVERDUE)
    if standing.fees_owed_fen > rules.fee_block_fen:
        blocks.append(PatronBlock.FEES_OWED)
    if standing.loans_out >= rules.loan_limit:
        blocks.append(PatronBlock.LIMIT_REACHED)
    return tuple(blocks)


def renewal_refusal(*, renewals: int, overdue: bool, holds_waiting: int, suspended: bool,
                    rules: LoanRules) -> str | None:
    """Why a loan may not be renewed (a code), or None."""
    if holds_waiting > 0:
        return "on_hold"
    if renewals >= rules.renewals:
        return "renewal_limit"
    if overdue and rules.overdue_suspends:
        return "overdue"
    if suspended:
        return "fees_owed"
    return None


REFUSAL_WORDS: dict[str, tuple[str, str]] = {
    "ok": ("成功", "done"),
    "item_not_found": ("未找到该图书（条码有误）", "no item with this barcode"),
    "item_withdrawn": ("该图书已下架，不能外借", "this item is withdrawn and cannot be lent"),
    "on_loan_to_other": ("该图书已被他人借出", "this item is on loan to another reader"),
    "on_hold_for_other": ("该图书已被他人预约", "this item is held for another reader"),
    "not_on_loan": ("该图书未被借出", "this item is not on loan"),
    "not_your_loan": ("该图书不在您的借阅记录中", "this item is not on loan to you"),
    "renewal_limit": ("已达续借次数上限", "no renewals left"),
    "on_hold": ("该图书已有他人预约，不能续借", "another reader is waiting for this item"),
    "overdue": BLOCK_WORDS[PatronBlock.OVERDUE],
    "fees_owed": BLOCK_WORDS[PatronBlock.FEES_OWED],
    "limit_reached": BLOCK_WORDS[PatronBlock.LIMIT_REACHED],
    "not_a_reader": BLOCK_WORDS[PatronBlock.NOT_A_READER],
    "no_fees": ("没有需要缴纳的费用", "no fees are owed"),
    "bad_amount": ("缴费金额有误", "the amount is not valid"),
    "hold_limit": ("已达预约上限", "the hold limit is reached"),
    "already_held": ("您已预约该图书", "you already hold this item"),
    "available": ("该图书在架，可直接借阅", "this item is on the shelf: borrow it"),
}


def refusal_words(code: str) -> tuple[str, str]:
    return REFUSAL_WORDS.get(code, (code, code))
