"""Pure rules of the card lifecycle (seed 二.2, 四.6–9, 四.12–13). No I/O; time is passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from stdnum import luhn

from yikatong.cards.errors import (
    CardAlreadyLost,
    FinancialLossAtBank,
    InvalidCardNo,
    LossChannelNotAllowed,
    NotLost,
    TransitCannotBeLost,
    UnblockChannelMismatch,
)
from yikatong.cards.protocols import FinancialStatus
from yikatong.core.choices import NotAChoice
from yikatong.core.errors import InvalidInput
from yikatong.core.states import StateTable, StateWords

# 四.6: an HR temporary loss lasts 7 days, then the card is unblocked automatically.
TEMPORARY_HR_LOSS_DURATION = timedelta(hours=168)
# 二.2: the financial function is valid 10 years from the issue date.
FINANCIAL_VALIDITY_YEARS = 10
# Holders this close to the end of the financial validity (or past it) are reminded to exchange.
EXPIRY_REMINDER_DAYS = 90

CARD_NO_PATTERN = re.compile(r"^[A-Z0-9]{9}$")  # domain-rules §2: 9 chars, inner format unknown


class CardState(StrEnum):
    PRODUCED = "produced"    # made by the factory, not yet handed to the holder
    IN_USE = "in_use"        # 启用: handed over
    RETIRED = "retired"      # replaced, exchanged, transferred out of the province, deceased
    CANCELLED = "cancelled"  # produced but never handed over (e.g. the lost card was found)


LIVE_STATES = frozenset({CardState.PRODUCED, CardState.IN_USE})

CARD_KINDS = ("first", "replacement", "exchange")


class Function(StrEnum):
    HR = "hr"                # 人社功能
    FINANCIAL = "financial"  # 金融功能


class BlockKind(StrEnum):
    TEMPORARY_LOSS = "temporary_loss"
    FORMAL_LOSS = "formal_loss"
    FREEZE = "freeze"


LOSS_KINDS = frozenset({BlockKind.TEMPORARY_LOSS, BlockKind.FORMAL_LOSS})


class HrStatus(StrEnum):
    NORMAL = "normal"
    TEMPORARY_LOSS = "temporary_loss"
    FORMAL_LOSS = "formal_loss"
    FROZEN = "frozen"
    NOT_IN_USE = "not_in_use"
    RETIRED = "retired"
    CANCELLED = "cancelled"


class EndReason(StrEnum):
    REPLACED = "replaced"
    EXCHANGED = "exchanged"
    TRANSFERRED_OUT = "transferred_out"
    DECEASED = "deceased"
    CANCELLED = "cancelled"


STATE_NAMES = {
    CardState.PRODUCED: ("已制卡未启用", "produced but not yet handed over"),
    CardState.IN_USE: ("已启用", "in use"),
    CardState.RETIRED: ("已停用", "retired"),
    CardState.CANCELLED: ("已作废", "cancelled"),
}
# The states in words with the next step, for refusals (see yikatong.core.states).
CARD_STATES = StateTable({
    CardState.PRODUCED: StateWords(*STATE_NAMES[CardState.PRODUCED], "持卡人领取后启用",
                                   "it comes into use when the holder collects it"),
    CardState.IN_USE: StateWords(*STATE_NAMES[CardState.IN_USE]),
    CardState.RETIRED: StateWords(*STATE_NAMES[CardState.RETIRED], "如需用卡请申请补换卡",
                                  "apply for a replacement or exchange to have a card again"),
    CardState.CANCELLED: StateWords(*STATE_NAMES[CardState.CANCELLED], "如需用卡请重新申领",
                                    "apply again to have a card"),
})
FINANCIAL_STATES = StateTable({
    FinancialStatus.INACTIVE: StateWords("未激活", "not activated", "持卡人到卡面银行网点激活",
                                         "the holder activates it at a branch of the card's bank"),
    FinancialStatus.ACTIVE: StateWords("已激活", "active"),
    FinancialStatus.TEMPORARY_LOSS: StateWords("临时挂失", "temporarily reported lost",
                                               "解挂或转为正式挂失", "unblock it or make the loss formal"),
    FinancialStatus.FORMAL_LOSS: StateWords("正式挂失", "formally reported lost",
                                            "补卡", "apply for a replacement card"),
    FinancialStatus.EXPIRED: StateWords("已到期", "expired", "换卡续期金融功能",
                                        "exchange the card to renew the financial function"),
    FinancialStatus.CLOSED: StateWords("已销户", "closed"),
})
FUNCTION_NAMES = {
    Function.HR: ("人社功能", "HR function"),
    Function.FINANCIAL: ("金融功能", "financial function"),
}
KIND_NAMES = {
    BlockKind.TEMPORARY_LOSS: ("临时挂失", "temporary loss"),
    BlockKind.FORMAL_LOSS: ("正式挂失", "formal loss"),
    BlockKind.FREEZE: ("冻结", "administrative freeze"),
}

# Channel families: the portal and the app count as one channel, "online"; any branch of the
# card's bank counts as the bank's channel (四.7: unblock through the loss's original route).
PHONE, ONLINE, BANK_BRANCH = "phone_12333", "online", "bank_branch"
CHANNEL_FAMILY_NAMES = {
    PHONE: ("12333 电话", "the 12333 phone line"),
    ONLINE: ("网上（网上办事服务大厅或江苏智慧人社 APP）",
             "online (the HR online service hall or the Jiangsu Smart HR app)"),
    BANK_BRANCH: ("该卡合作银行的任一网点", "any branch of the card's partner bank"),
}


def channel_family(channel: str) -> str:
    if channel in ("online_portal", "online_app", ONLINE):
        return ONLINE
    return channel


def family_name(family: str) -> tuple[str, str]:
    return CHANNEL_FAMILY_NAMES.get(family, (family, family))


def _names(families: Iterable[str]) -> tuple[str, str]:
    names = [family_name(f) for f in families]
    return "或".join(n[0] for n in names), " or ".join(n[1] for n in names)


# Where the HR function may be reported lost (四.6): temporary by 12333 (and online, per the
# issue), formal online or at any branch of the card's bank.
HR_LOSS_CHANNELS = {
    BlockKind.TEMPORARY_LOSS: (PHONE, ONLINE),
    BlockKind.FORMAL_LOSS: (ONLINE, BANK_BRANCH),
}


def caller_answers_match(*, name_on_file: str, phone_on_file: str | None,
                         card_nos: Iterable[str], name: str, phone_last4: str | None,
                         card_no: str | None) -> bool:
    """12333 identity questions (besides the ID number that found the record): the name, and
    the last four digits of the phone on file or one of the person's card numbers. Every
    answer given must match; at least one of the two second questions must be given."""
    if (name or "").strip() != (name_on_file or "").strip():
        return False
    answered = False
    if phone_last4:
        answered = True
        digits = "".join(ch for ch in (phone_on_file or "") if ch.isdigit())
        if len(digits) < 4 or digits[-4:] != phone_last4.strip():
            return False
    if card_no:
        answered = True
        if card_no.strip().upper() not in set(card_nos):
            return False
    return answered


def check_card_no(card_no: str) -> str:
    if not isinstance(card_no, str) or not CARD_NO_PATTERN.match(card_no):
        raise InvalidCardNo(card_no=str(card_no)[:40])
    return card_no


def parse_functions(function: str | None) -> frozenset[Function] | None:
    """'hr' | 'financial' | 'both' | None (let the channel decide). The transit wallet has no
    status and is refused with its own message (四.12)."""
    if function is None:
        return None
    value = function.strip().lower()
    if value in ("transit", "wallet", "transit_wallet"):
        raise TransitCannotBeLost()
    if value == "both":
        return frozenset({Function.HR, Function.FINANCIAL})
    try:
        return frozenset({Function(value)})
    except ValueError:
        raise NotAChoice(what_zh="卡片功能", what_en="card function", value=function,
                         allowed=("hr", "financial", "both")) from None


def parse_loss_kind(kind: str) -> BlockKind:
    if kind in (BlockKind.TEMPORARY_LOSS, BlockKind.FORMAL_LOSS):
        return BlockKind(kind)
    if kind in ("temporary", "formal"):
        return BlockKind(f"{kind}_loss")
    raise NotAChoice(what_zh="挂失类型", what_en="loss kind", value=kind, allowed=("temporary", "formal"))


@dataclass(frozen=True)
class BlockFacts:
    """What the rules need to know about a block."""

    function: str
    kind: str
    channel: str
    started_at: datetime
    ends_at: datetime | None = None
    lifted_at: datetime | None = None


def block_in_force(block: BlockFacts, now: datetime) -> bool:
    """An HR block holds until lifted, or until its end passes (derived: no job needed).

    A financial block mirrors the bank: it holds until the bank says it was lifted, even past
    the end the bank announced, because only the bank's events change the financial copy.
    """
    if block.lifted_at is not None:
        return False
    if block.function == Function.FINANCIAL:
        return True
    return block.started_at <= now and (block.ends_at is None or now < block.ends_at)


def temporary_hr_loss_ends(reported_at: datetime) -> datetime:
    return reported_at + TEMPORARY_HR_LOSS_DURATION


def derive_hr_status(state: str, blocks: Iterable[BlockFacts], now: datetime) -> HrStatus:
    """The HR status of a card at `now`: from its state, then from the HR blocks in force
    (a formal loss outranks a freeze, which outranks a temporary loss)."""
    if state == CardState.PRODUCED:
        return HrStatus.NOT_IN_USE
    if state == CardState.RETIRED:
        return HrStatus.RETIRED
    if state == CardState.CANCELLED:
        return HrStatus.CANCELLED
    kinds = {b.kind for b in blocks if b.function == Function.HR and block_in_force(b, now)}
    for kind, status in ((BlockKind.FORMAL_LOSS, HrStatus.FORMAL_LOSS),
                         (BlockKind.FREEZE, HrStatus.FROZEN),
                         (BlockKind.TEMPORARY_LOSS, HrStatus.TEMPORARY_LOSS)):
        if kind in kinds:
            return status
    return HrStatus.NORMAL


@dataclass(frozen=True)
class LossPlan:
    """What a loss report does: record an HR block, ask the bank, refer the holder to it."""

    kind: BlockKind
    hr: bool
    financial: bool
    refer_financial_to_bank: bool


def plan_loss(*, kind: BlockKind, functions: frozenset[Function] | None, family: str,
              bank_temporary_channels: Iterable[str], bank_names: tuple[str, str],
              hotline: str) -> LossPlan:
    """Which functions a loss reported through this channel family covers (四.6).

    Online formal loss covers the HR function only and always refers the financial side to
    the bank; at a branch of the card's bank a formal loss covers both functions.
    """
    if functions is None:
        both = kind == BlockKind.FORMAL_LOSS and family == BANK_BRANCH
        functions = frozenset(Function) if both else frozenset({Function.HR})
    hr = Function.HR in functions
    if hr and family not in HR_LOSS_CHANNELS[kind]:
        allowed = _names(HR_LOSS_CHANNELS[kind])
        what = KIND_NAMES[kind]
        raise LossChannelNotAllowed(what_zh=f"人社功能{what[0]}", what_en=f"An HR {what[1]}",
                                    allowed_zh=allowed[0], allowed_en=allowed[1])
    financial = refer = False
    if Function.FINANCIAL in functions:
        if kind == BlockKind.FORMAL_LOSS:
            financial = family == BANK_BRANCH
        else:
            financial = family in set(bank_temporary_channels)
        refer = not financial
        if refer and not hr:
            names = KIND_NAMES[kind]
            raise FinancialLossAtBank(kind_zh=names[0], kind_en=names[1], bank_zh=bank_names[0],
                                      bank_en=bank_names[1], hotline=hotline)
    if kind == BlockKind.FORMAL_LOSS and family == ONLINE:
        refer = True  # 四.6(2): the online channel tells the holder where the financial side goes
    return LossPlan(kind=kind, hr=hr, financial=financial, refer_financial_to_bank=refer)


def check_hr_loss_possible(kind: BlockKind, blocks_in_force: Iterable[BlockFacts]) -> None:
    """A formal loss may follow a temporary one (it supersedes it); nothing else may stack."""
    for block in blocks_in_force:
        if block.function != Function.HR or block.kind not in LOSS_KINDS:
            continue
        if block.kind == BlockKind.FORMAL_LOSS or kind == BlockKind.TEMPORARY_LOSS:
            raise CardAlreadyLost(function_zh="人社功能", function_en="HR function",
                                  kind_zh=KIND_NAMES[BlockKind(block.kind)][0],
                                  kind_en=KIND_NAMES[BlockKind(block.kind)][1])


def check_financial_loss_possible(kind: BlockKind, financial_status: str) -> None:
    lost = {FinancialStatus.FORMAL_LOSS: BlockKind.FORMAL_LOSS,
            FinancialStatus.TEMPORARY_LOSS: BlockKind.TEMPORARY_LOSS}
    current = lost.get(FinancialStatus(financial_status))
    if current == BlockKind.FORMAL_LOSS or (current and kind == BlockKind.TEMPORARY_LOSS):
        raise CardAlreadyLost(function_zh="金融功能", function_en="financial function",
                              kind_zh=KIND_NAMES[current][0], kind_en=KIND_NAMES[current][1])


def plan_unblock(*, loss_blocks_in_force: list,
                 functions: frozenset[Function] | None, family: str) -> list:
    """The loss blocks (anything with `function` and `channel`) an unblock through this channel family lifts (四.7: the same route the
    loss was reported on). With no function named, every loss reported on this route."""
    candidates = [b for b in loss_blocks_in_force if functions is None or b.function in functions]
    if not candidates:
        named = sorted(functions or Function)
        zh = "、".join(FUNCTION_NAMES[Function(f)][0] for f in named)
        en = " and ".join(FUNCTION_NAMES[Function(f)][1] for f in named)
        raise NotLost(function_zh=zh, function_en=en)
    matching = [b for b in candidates if channel_family(b.channel) == family]
    wrong = [b for b in candidates if channel_family(b.channel) != family]
    if wrong and (functions is not None or not matching):
        block = wrong[0]
        channel = family_name(channel_family(block.channel))
        function = FUNCTION_NAMES[Function(block.function)]
        raise UnblockChannelMismatch(function_zh=function[0], function_en=function[1],
                                     channel_zh=channel[0], channel_en=channel[1])
    return matching


@dataclass(frozen=True)
class FinancialCapabilities:
    card_present: bool  # counter and ATM withdrawals, POS purchases
    online: bool        # card-not-present transactions
    credit: bool        # money may be paid in (benefits, transfers)

    def as_dict(self) -> dict[str, bool]:
        return {"card_present": self.card_present, "online": self.online, "credit": self.credit}


def financial_valid_until(issue_date: date) -> date:
    """Issue date + 10 years − 1 day (sample: issued 2021-12-03, valid until 2031-12-02)."""
    return years_less_a_day(issue_date, FINANCIAL_VALIDITY_YEARS)


def years_less_a_day(issued: date, years: int) -> date:
    """The last valid day of something valid `years` years from `issued`: the day before the
    anniversary (issued on 29 February: the anniversary falls on 1 March)."""
    try:
        anniversary = issued.replace(year=issued.year + years)
    except ValueError:
        anniversary = date(issued.year + years, 3, 1)
    return anniversary - timedelta(days=1)


def financial_capabilities(card, today: date) -> FinancialCapabilities:
    """What the financial function allows today (二.2).

    `card` needs `financial_status` and `financial_valid_until`. Past its validity the card
    can no longer be used in person (counter, ATM, POS) while online payments and incoming
    credits still work; the other functions of the card are not affected by this at all.
    A lost account takes credits only; an inactive or closed one nothing, and neither does
    the account of a retired card (exchanged, holder deceased, transferred out): its bank is
    asked to close it, and money still in it is settled at the branch.
    """
    retired = getattr(card, "state", str(CardState.IN_USE)) in (str(CardState.RETIRED),
                                                               str(CardState.CANCELLED))
    if retired:  # checked first: an ended card shows "retired"/"cancelled", not a bank status
        return FinancialCapabilities(card_present=False, online=False, credit=False)
    status = FinancialStatus(card.financial_status)
    if status in (FinancialStatus.INACTIVE, FinancialStatus.CLOSED):
        return FinancialCapabilities(card_present=False, online=False, credit=False)
    if status in (FinancialStatus.TEMPORARY_LOSS, FinancialStatus.FORMAL_LOSS):
        return FinancialCapabilities(card_present=False, online=False, credit=True)
    expired = status == FinancialStatus.EXPIRED or today > card.financial_valid_until
    return FinancialCapabilities(card_present=not expired, online=True, credit=True)


ENDED_STATES = frozenset({CardState.RETIRED, CardState.CANCELLED})


@dataclass(frozen=True)
class FunctionUse:
    """Whether one function of the card can be used now, and the status that says why."""

    function: str = field(metadata={"description": "hr 人社功能 | financial 金融功能"})
    usable: bool
    status: str


def shown_financial_status(state: str, bank_financial_status: str) -> str:
    """The financial status the platform shows: a retired or cancelled card is dead on every
    door (a replaced card can never be brought back, 四.7), whatever the bank's last event said;
    the bank's own last word is kept beside it (`bank_financial_status`)."""
    return str(state) if state in ENDED_STATES else bank_financial_status


def card_functions(*, state: str, hr_status: str, financial_status: str) -> tuple[FunctionUse, ...]:
    """Each function of the card and whether it can be used: none on an ended card."""
    ended = state in ENDED_STATES
    return (
        FunctionUse(str(Function.HR), not ended and hr_status == HrStatus.NORMAL,
                    str(state) if ended else hr_status),
        FunctionUse(str(Function.FINANCIAL),
                    not ended and financial_status in (FinancialStatus.ACTIVE,
                                                       FinancialStatus.EXPIRED),
                    shown_financial_status(state, financial_status)),
    )


# The HR function's status in words with the next step (the holder's card page; what the
# 12333 agent reads out to the caller).
HR_STATES = StateTable({
    HrStatus.NORMAL: StateWords("正常", "in normal use"),
    HrStatus.TEMPORARY_LOSS: StateWords(
        "临时挂失", "temporarily reported lost",
        "7 天后自动解挂；也可通过挂失渠道解挂，或转为正式挂失",
        "it unblocks itself after 7 days; or unblock it through the channel of the loss, "
        "or make the loss formal"),
    HrStatus.FORMAL_LOSS: StateWords(
        "正式挂失", "formally reported lost",
        "申请补卡；找回原卡可在补卡领取前通过挂失渠道解挂",
        "apply for a replacement; if you find the card, unblock it through the channel of the "
        "loss before the replacement is handed over"),
    HrStatus.FROZEN: StateWords("已冻结", "frozen by the card centre",
                                "请联系卡管中心（12333）", "contact the card centre (12333)"),
    HrStatus.NOT_IN_USE: StateWords(*STATE_NAMES[CardState.PRODUCED], "持卡人领取后启用",
                                    "it comes into use when the holder collects it"),
    HrStatus.RETIRED: CARD_STATES.words(CardState.RETIRED),
    HrStatus.CANCELLED: CARD_STATES.words(CardState.CANCELLED),
})


def function_words(use: FunctionUse) -> StateWords:
    """One function's status in words: the HR table, the bank's table, or the card's state
    for an ended card (its functions show "retired"/"cancelled")."""
    if use.function == Function.HR:
        return HR_STATES.words(use.status)
    if use.status in FINANCIAL_STATES:
        return FINANCIAL_STATES.words(use.status)
    return CARD_STATES.words(use.status)


@dataclass(frozen=True)
class LossOptions:
    """What a holder may do about losses through one channel family now (四.6, 四.7): the
    loss kinds they may report, whether they may unblock, and where losses reported through
    another channel must be lifted instead."""

    report: tuple[BlockKind, ...]
    unblock: bool
    unblock_elsewhere: tuple[str, ...]  # channel families


def loss_options(*, state: str, blocks_in_force: Iterable[BlockFacts], family: str) -> LossOptions:
    """The same rules report_loss and unblock apply (HR_LOSS_CHANNELS, check_hr_loss_possible,
    plan_unblock's channel match), asked ahead so a page offers only what would be accepted."""
    if state != CardState.IN_USE:
        return LossOptions(report=(), unblock=False, unblock_elsewhere=())
    blocks = list(blocks_in_force)
    report = []
    for kind in (BlockKind.TEMPORARY_LOSS, BlockKind.FORMAL_LOSS):
        if family not in HR_LOSS_CHANNELS[kind]:
            continue
        try:
            check_hr_loss_possible(kind, blocks)
        except CardAlreadyLost:
            continue
        report.append(kind)
    losses = [b for b in blocks if b.kind in LOSS_KINDS]
    here = any(channel_family(b.channel) == family for b in losses)
    elsewhere = sorted({channel_family(b.channel) for b in losses} - {family})
    return LossOptions(report=tuple(report), unblock=here, unblock_elsewhere=tuple(elsewhere))


def days_until_financial_expiry(valid_until: date, today: date) -> int:
    """Days left of the financial validity (0 on its last day, negative once it has passed)."""
    return (valid_until - today).days


def expiry_reminder_due(valid_until: date, today: date) -> bool:
    """二.2: holders whose issue date is close to, or past, 10 years should exchange."""
    return days_until_financial_expiry(valid_until, today) <= EXPIRY_REMINDER_DAYS


def check_pan(pan: str) -> str:
    """A UnionPay debit account number: 16–19 digits with a valid Luhn check digit."""
    if not (isinstance(pan, str) and pan.isdigit() and 16 <= len(pan) <= 19 and luhn.is_valid(pan)):
        raise InvalidInput(reason_zh="银行账号应为 16–19 位数字且校验位正确",
                           reason_en="the account number must be 16–19 digits with a valid "
                                     "Luhn check digit")
    return pan


def mask_pan(pan: str) -> str:
    return f"{pan[:6]}{'*' * (len(pan) - 10)}{pan[-4:]}"


# Provinces by their GB/T 2260 code, for cross-province transfers (四 / 三.1).
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("北京市", "Beijing"), "12": ("天津市", "Tianjin"), "13": ("河北省", "Hebei"),
    "14": ("山西省", "Shanxi"), "15": ("内蒙古自治区", "Inner Mongolia"),
    "21": ("辽宁省", "Liaoning"), "22": ("吉林省", "Jilin"), "23": ("黑龙江省", "Heilongjiang"),
    "31": ("上海市", "Shanghai"), "32": ("江苏省", "Jiangsu"), "33": ("浙江省", "Zhejiang"),
    "34": ("安徽省", "Anhui"), "35": ("福建省", "Fujian"), "36": ("江西省", "Jiangxi"),
    "37": ("山东省", "Shandong"), "41": ("河南省", "Henan"), "42": ("湖北省", "Hubei"),
    "43": ("湖南省", "Hunan"), "44": ("广东省", "Guangdong"),
    "45": ("广西壮族自治区", "Guangxi"), "46": ("海南省", "Hainan"), "50": ("重庆市", "Chongqing"),
    "51": ("四川省", "Sichuan"), "52": ("贵州省", "Guizhou"), "53": ("云南省", "Yunnan"),
    "54": ("西藏自治区", "Tibet"), "61": ("陕西省", "Shaanxi"), "62": ("甘肃省", "Gansu"),
    "63": ("青海省", "Qinghai"), "64": ("宁夏回族自治区", "Ningxia"),
    "65": ("新疆维吾尔自治区", "Xinjiang"),
}
JIANGSU = "32"


def province_code(value: str) -> str:
    """A province by its 2-digit code, its Chinese name (with or without 省/市) or English name."""
    text = (value or "").strip()
    for code, (zh, en) in PROVINCES.items():
        short_zh = re.sub(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)$", "", zh)
        if text in (code, zh, short_zh) or text.lower() == en.lower():
            return code
    raise InvalidInput(reason_zh=f"未知的省份“{value}”", reason_en=f"unknown province '{value}'")
