"""Pure rules of applications: states and transitions, who may apply how, USCC and PAN checks.

No I/O here; the service layer loads facts (does the person hold a live card, an old provincial
card, an open application) and asks these functions.
"""

from __future__ import annotations

import re

from stdnum import luhn
from stdnum.cn import uscc as stdnum_uscc

from yikatong.applications.errors import (
    DeliveryNotAllowed,
    ExchangeOnlyAtOutlet,
    ExchangeReasonWithoutExchange,
    IllegalTransition,
    InvalidUscc,
    MissingEmployerCredential,
    OnlineFirstIssueOnly,
    ProvincialCardHolderMustVisitOutlet,
    UnknownExchangeReason,
)
from yikatong.core.choices import echo
from yikatong.core.states import StateTable, StateWords

KINDS = ("first", "replacement", "exchange")
MODES = ("self", "agent", "employer")
CHANNELS = ("outlet", "online")
DELIVERIES = ("pickup", "ems_cod")
# 四.8: information change or damage; 二.2: the financial function reaching its 10-year limit.
EXCHANGE_REASONS = ("info_change", "damage", "financial_expiry")

# Application states. An application is "open" until it ends in one of CLOSED.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("awaiting_identity_review", "approved", "rejected", "cancelled"),
    "awaiting_identity_review": ("submitted", "rejected", "cancelled"),
    "approved": ("in_production", "cancelled"),
    "in_production": ("produced", "approved", "cancelled"),  # back to approved: factory failed
    "produced": ("ready_for_pickup", "shipped", "cancelled"),
    "ready_for_pickup": ("handed_over", "cancelled"),
    "shipped": ("handed_over", "cancelled"),
    "handed_over": (),
    "cancelled": (),
    "rejected": (),
}
STATUSES = tuple(TRANSITIONS)
# What each state reads as, and the next step in words (refusals name these, not the codes).
APPLICATION_STATES = StateTable({
    "submitted": StateWords("已提交", "submitted", "等待审核", "it is reviewed next"),
    "awaiting_identity_review": StateWords(
        "待人工核验身份", "waiting for an identity check by staff",
        "工作人员核验身份后继续办理", "staff check the identity, then it goes on"),
    "approved": StateWords("已审核通过", "approved", "送制卡厂制卡", "it is sent to the card factory"),
    "in_production": StateWords("制卡中", "being made at the card factory",
                                "制卡完成后待领取或邮寄", "once made, it is collected or posted"),
    "produced": StateWords("已制卡", "made", "送达网点待领取或交 EMS 邮寄",
                           "it goes to the outlet for collection or to EMS for posting"),
    "ready_for_pickup": StateWords("待领取", "ready for collection at the outlet",
                                   "持卡人到网点领取", "the holder collects it at the outlet"),
    "shipped": StateWords("已邮寄", "posted by EMS", "持卡人签收", "the holder receives it"),
    "handed_over": StateWords("已领取", "handed over"),
    "cancelled": StateWords("已撤销", "cancelled"),
    "rejected": StateWords("未通过审核", "rejected"),
})
DELIVERY_WORDS = {"pickup": ("网点领取", "collection at an outlet"),
                  "ems_cod": ("EMS 邮寄到付", "EMS cash on delivery")}
CLOSED = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
OPEN = frozenset(STATUSES) - CLOSED
# A produced card exists from "produced" on: cancelling then also cancels the card (L).
CARD_EXISTS = frozenset({"produced", "ready_for_pickup", "shipped"})

FREE_OF_CHARGE = {"zh": "免费（申领、补卡、换卡均不收取费用）",
                  "en": "free of charge (first issue, replacement and exchange alike)"}
EMS_COD_NOTE = {"zh": "EMS 邮寄到付：仅向 EMS 支付邮费，卡片本身免费",
                "en": "EMS cash on delivery: you pay EMS the postage only; the card itself is free"}


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(**APPLICATION_STATES.fields("current", current),
                                **APPLICATION_STATES.fields("target", target))


def may_cancel(status: str) -> bool:
    """Whether an application in `status` can still be cancelled (by whoever may see it)."""
    return "cancelled" in TRANSITIONS[status]


def check_channel_rules(
    *, kind: str, channel: str, exchange_reason: str | None, had_provincial_card: bool,
    has_live_card: bool,
) -> None:
    """Who may apply through which channel (四.5, 四.8).

    Online: first issue for people who never had a Jiangsu social security card, and
    replacement after a formal loss (same flow as a new application). Exchange: outlet only.
    """
    if kind == "exchange":
        if exchange_reason not in EXCHANGE_REASONS:
            raise UnknownExchangeReason(reason=echo(exchange_reason or ""), allowed=EXCHANGE_REASONS)
        if channel != "outlet":
            raise ExchangeOnlyAtOutlet()
    elif exchange_reason is not None:
        raise ExchangeReasonWithoutExchange()
    if channel == "online" and kind == "first":
        if had_provincial_card:
            raise ProvincialCardHolderMustVisitOutlet()
        if has_live_card:
            raise OnlineFirstIssueOnly()


def check_delivery(*, channel: str, delivery: str, pickup_outlet_code: str | None,
                   mailing_address: str | None) -> None:
    """Outlet pickup for everyone; EMS cash on delivery only for online applications."""
    if delivery not in DELIVERIES:
        raise DeliveryNotAllowed(delivery=delivery, channel=channel)
    if delivery == "ems_cod" and (channel != "online" or not mailing_address):
        raise DeliveryNotAllowed(delivery=delivery, channel=channel)
    if delivery == "pickup" and not pickup_outlet_code:
        raise DeliveryNotAllowed(delivery=delivery, channel=channel)


# Number formats are matched with re.ASCII: a bare \d also matches other scripts' digits.

# --- GB 32100-2015 unified social credit code -------------------------------------------------

_USCC_CHAR = "[0-9A-HJ-NPQRTUWXY]"  # 31 characters: no I, O, S, V, Z
_USCC_FORMAT = re.compile(rf"^{_USCC_CHAR}{{2}}\d{{6}}{_USCC_CHAR}{{10}}$", re.ASCII)


def check_uscc(code: str) -> str:
    """Return the normalised code or raise InvalidUscc: 18 characters in the GB 32100 alphabet,
    a 6-digit region code and the weighted MOD 31 check character."""
    normalised = code.strip().upper()
    if not _USCC_FORMAT.match(normalised):
        raise InvalidUscc(uscc=code, why_zh="格式不符", why_en="wrong format")
    # python-stdnum insists on 8 leading digits; GB 32100 allows letters in the first two
    # positions (e.g. Y for other registration authorities), so only its check is reused.
    if stdnum_uscc.calc_check_digit(normalised) != normalised[-1]:
        raise InvalidUscc(uscc=code, why_zh="校验码错误", why_en="wrong check character")
    return normalised


def check_employer_credential(*, uscc: str | None, authorisation_letter_ref: str | None) -> str | None:
    """An employer batch needs a valid USCC or a letter of authorisation (四.2(2))."""
    if uscc:
        return check_uscc(uscc)
    if not (authorisation_letter_ref and authorisation_letter_ref.strip()):
        raise MissingEmployerCredential()
    return None


# --- card numbers minted by a factory ------------------------------------------------------------

CARD_NO = re.compile(r"^[A-Z0-9]{9}$")
CARD_ID_CODE = re.compile(r"^\d{6}D156[0-9A-F]{22}$", re.ASCII)
ASN = re.compile(r"^\d{20}$", re.ASCII)
PAN = re.compile(r"^\d{16,19}$", re.ASCII)
# EMS: UPU S10 (two letters, 9 digits, country) or the 13-digit domestic waybill number.
EMS_TRACKING = re.compile(r"^([A-Z]{2}\d{9}[A-Z]{2}|\d{13})$", re.ASCII)


def pan_is_valid(pan: str) -> bool:
    """UnionPay debit account number: 16–19 digits with a valid Luhn check digit."""
    return bool(PAN.match(pan)) and luhn.is_valid(pan)


def luhn_complete(partial: str) -> str:
    return partial + luhn.calc_check_digit(partial)


def produced_card_problems(*, card_no: str, card_id_code: str, asn: str, pan: str) -> list[str]:
    """What is wrong with the numbers a factory returned (empty: all good)."""
    checks = [
        (CARD_NO.match(card_no), "card_no"), (CARD_ID_CODE.match(card_id_code), "card_id_code"),
        (ASN.match(asn), "asn"), (pan_is_valid(pan), "pan"),
    ]
    return [name for ok, name in checks if not ok]
