"""Pure rules of the electronic social security card (电子社保卡, seed 四.14–15, domain-rules §8).

No I/O; time is passed in. The e-card has no status of its own: `derive_status` computes it
from the physical card's facts at the moment of asking (状态相同), and `channel_refusal` says
whether one channel may use it now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from yikatong.core.masking import mask_name  # noqa: F401  (where callers have looked for it)
from yikatong.core.states import StateTable, StateWords
from yikatong.ecard.errors import WeakEcardPassword

# --- channels (四.15: the "同步申领" channels open in Changzhou) ------------------------------


@dataclass(frozen=True)
class EcardChannel:
    code: str
    name_zh: str
    name_en: str
    bank_code: str | None = None


NATIONAL_CHANNELS: tuple[EcardChannel, ...] = (
    EcardChannel("official_app", "电子社保卡官方APP", "the official e-SSC app"),
    EcardChannel("wechat_mini", "微信小程序", "the WeChat mini-program"),
    EcardChannel("alipay_mini", "支付宝小程序", "the Alipay mini-program"),
    EcardChannel("gov_service_platform", "国家政务服务平台", "the National Government Service Platform"),
    EcardChannel("state_council_wechat", "国务院客户端微信小程序",
                 "the State Council client WeChat mini-program"),
    EcardChannel("zhangshang_12333", "掌上12333", "the Zhangshang 12333 app"),
    EcardChannel("unionpay_app", "云闪付", "the UnionPay QuickPass app"),
    EcardChannel("jiangsu_smart_hr", "江苏智慧人社APP", "the Jiangsu Smart HR app"),
)


def bank_channel_code(bank_code: str) -> str:
    return f"bank_{bank_code.lower()}"


def channel_catalogue(banks: Iterable) -> tuple[EcardChannel, ...]:
    """The national channels, then the app of every partner bank that issues e-cards
    (directory: `ecard_channel`; the seed names ICBC, ABC, CCB, BOCOM, BOC and PSBC)."""
    bank_channels = tuple(
        EcardChannel(bank_channel_code(bank.code), f"{bank.short_name_zh}APP",
                     f"the {bank.name_en} app", bank_code=bank.code)
        for bank in banks if bank.ecard_channel)
    return NATIONAL_CHANNELS + bank_channels


# --- status -------------------------------------------------------------------------------


class EcardState(StrEnum):
    ACTIVE = "active"          # usable on every channel the holder consented on
    RESTRICTED = "restricted"  # the card is lost: usable only where re-authorised since the loss
    SUSPENDED = "suspended"    # the card centre froze the card: usable nowhere
    REVOKED = "revoked"        # the person's card is cancelled (death, transfer out): for good


STATE_NAMES = {
    EcardState.ACTIVE: ("正常", "active"),
    EcardState.RESTRICTED: ("受限（实体卡挂失，需重新授权）", "restricted (card lost; re-authorise)"),
    EcardState.SUSPENDED: ("暂停使用（实体卡冻结）", "suspended (card frozen)"),
    EcardState.REVOKED: ("已注销", "revoked"),
}

# The states in words with the next step (see yikatong.core.states).
ECARD_STATES = StateTable({
    EcardState.ACTIVE: StateWords(*STATE_NAMES[EcardState.ACTIVE]),
    EcardState.RESTRICTED: StateWords(*STATE_NAMES[EcardState.RESTRICTED], "在要使用的渠道重新授权",
                                      "re-authorise on the channel you use"),
    EcardState.SUSPENDED: StateWords(*STATE_NAMES[EcardState.SUSPENDED], "实体卡解冻后恢复使用",
                                     "usable again once the card is unfrozen"),
    EcardState.REVOKED: StateWords(*STATE_NAMES[EcardState.REVOKED], "如需使用请重新申领社会保障卡",
                                   "apply for a social security card again to use it"),
})

# The physical card status shown beside the e-card (the card's HR status, or "applied" while
# only the application exists: 同步申领 makes the e-card usable before the card is made).
CARD_STATUS_NAMES = {
    "applied": ("已申领，制卡中", "applied for, in production"),
    "normal": ("正常", "normal"),
    "not_in_use": ("已制卡，待领取", "produced, waiting to be handed over"),
    "temporary_loss": ("临时挂失", "temporarily reported lost"),
    "formal_loss": ("正式挂失", "formally reported lost"),
    "frozen": ("冻结", "frozen"),
    "retired": ("已停用", "retired"),
    "cancelled": ("已作废", "cancelled"),
    "none": ("无有效实体卡", "no valid card"),
}

# Why a card retiring revokes the e-card for good; a replacement or exchange re-binds instead.
REVOKING_END_REASONS = frozenset({"deceased", "transferred_out"})
LOSS_KINDS = frozenset({"temporary_loss", "formal_loss"})


@dataclass(frozen=True)
class CardFacts:
    """What the e-card needs to know about the person's physical card right now."""

    card_no: str
    state: str                       # cards.rules.CardState
    hr_status: str                   # cards.rules.HrStatus, derived at the moment of asking
    end_reason: str | None
    hr_blocks: tuple[tuple[str, datetime], ...]  # (kind, started_at) of HR blocks in force


@dataclass(frozen=True)
class EcardStatus:
    state: EcardState
    card_no: str | None
    card_status: str                 # key of CARD_STATUS_NAMES
    loss_started_at: datetime | None  # the loss re-authorisation must come after
    reason: str                      # machine code of why (see REASONS)

    @property
    def names(self) -> tuple[str, str]:
        return STATE_NAMES[self.state]

    @property
    def next_step(self) -> tuple[str, str]:
        words = ECARD_STATES.words(self.state)
        return words.next_zh, words.next_en

    @property
    def card_status_names(self) -> tuple[str, str]:
        return CARD_STATUS_NAMES.get(self.card_status, (self.card_status, self.card_status))


REASONS = {
    "ok": ("可以使用", "usable"),
    "card_lost": ("实体卡已挂失，需在渠道重新授权后使用",
                  "the physical card is reported lost; re-authorise on a channel to use it"),
    "card_frozen": ("实体卡已被冻结", "the physical card is frozen"),
    "deceased": ("持卡人已身故，社会保障卡已注销", "the holder died; the card is cancelled"),
    "transferred_out": ("已转出本省，社会保障卡已注销",
                        "transferred out of the province; the card is cancelled"),
    "no_card": ("没有有效的实体社会保障卡或申领", "no valid physical card or application"),
    "revoked": ("电子社保卡已注销", "the e-card is revoked"),
}


def derive_status(*, revoked_reason: str | None, card: CardFacts | None,
                  application_open: bool) -> EcardStatus:
    """The e-card's status now, from the physical card (same status at every moment).

    `card` is the person's live card (in use, else produced), else their newest card, else
    None. An expired financial function does not matter (domain-rules §8).
    """
    if revoked_reason is not None:
        return EcardStatus(EcardState.REVOKED, card.card_no if card else None,
                           card.hr_status if card else "none", None, revoked_reason)
    if card is None or card.state not in ("produced", "in_use"):
        if application_open:  # e.g. back in Jiangsu after a transfer out: a new application
            return EcardStatus(EcardState.ACTIVE, None, "applied", None, "ok")
        reason = card.end_reason if card and card.end_reason in REVOKING_END_REASONS else "no_card"
        return EcardStatus(EcardState.REVOKED, card.card_no if card else None,
                           card.hr_status if card else "none", None, reason)
    kinds = {kind for kind, _ in card.hr_blocks}
    if "freeze" in kinds:
        return EcardStatus(EcardState.SUSPENDED, card.card_no, card.hr_status, None, "card_frozen")
    losses = [started for kind, started in card.hr_blocks if kind in LOSS_KINDS]
    if losses:
        return EcardStatus(EcardState.RESTRICTED, card.card_no, card.hr_status, max(losses),
                           "card_lost")
    return EcardStatus(EcardState.ACTIVE, card.card_no, card.hr_status, None, "ok")


@dataclass(frozen=True)
class ConsentFacts:
    granted_at: datetime
    withdrawn_at: datetime | None
    reauthorised_at: datetime | None

    @property
    def in_force(self) -> bool:
        return self.withdrawn_at is None

    @property
    def authorised_at(self) -> datetime:
        """The holder's latest say-so on this channel: a grant or a re-authorisation."""
        return max(self.granted_at, self.reauthorised_at or self.granted_at)


CHANNEL_REFUSALS = {
    "no_consent": ("尚未在该渠道授权同意使用电子社保卡",
                   "the holder has not consented on this channel"),
    "needs_reauthorisation": ("实体卡挂失后须在该渠道重新授权",
                              "after the card was reported lost the holder must re-authorise "
                              "on this channel"),
}


def channel_refusal(status: EcardStatus, consent: ConsentFacts | None) -> str | None:
    """Why the e-card may not be used on a channel now (a code), or None when it may."""
    if status.state in (EcardState.REVOKED, EcardState.SUSPENDED):
        return status.reason
    if consent is None or not consent.in_force:
        return "no_consent"
    if status.state == EcardState.RESTRICTED and not _after_loss(consent, status):
        return "needs_reauthorisation"
    return None


def _after_loss(consent: ConsentFacts, status: EcardStatus) -> bool:
    return status.loss_started_at is not None and consent.authorised_at > status.loss_started_at


def usable_somewhere(status: EcardStatus, consents: Iterable[ConsentFacts]) -> bool:
    """Whether any channel may use the e-card now: what a QR verification asks."""
    return any(channel_refusal(status, consent) is None for consent in consents)


def refusal_names(code: str) -> tuple[str, str]:
    return CHANNEL_REFUSALS.get(code) or REASONS.get(code) or (code, code)


# The physical card is lost but the holder re-authorised the e-card on a channel since: the
# e-card is usable there, and the holder must read that, not "re-authorise" again.
REAUTHORISED = "reauthorised"
REAUTHORISED_WORDS = ("可以使用（实体卡已挂失，已在渠道重新授权）",
                      "usable (card lost; re-authorised on a channel)")
REASONS[REAUTHORISED] = ("实体卡已挂失，已重新授权的渠道可以使用",
                         "the physical card is reported lost; usable on the re-authorised channels")


def readable_status(status: EcardStatus, consents: Iterable[ConsentFacts]
                    ) -> tuple[str, tuple[str, str]]:
    """The reason code and the state words a person reads: a lost card re-authorised on some
    channel reads usable (the state code stays `restricted` for the machines)."""
    consents = list(consents)
    if status.state == EcardState.RESTRICTED and usable_somewhere(status, consents):
        return REAUTHORISED, REAUTHORISED_WORDS
    return status.reason, status.names


# --- the offline status lists -------------------------------------------------------------


class ListedState(StrEnum):
    """What the signed status lists say about an e-card (the offline terminals' view)."""

    CLEAR = "clear"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


def listed_state(status: EcardStatus, consents: Iterable[ConsentFacts]) -> ListedState:
    """Revoked, suspended (frozen, or lost with no re-authorisation since), else clear. Consent
    is not listed: a code is only ever issued on a consented channel."""
    if status.state == EcardState.REVOKED:
        return ListedState.REVOKED
    if status.state == EcardState.SUSPENDED:
        return ListedState.SUSPENDED
    if status.state == EcardState.RESTRICTED and not any(
            c.in_force and _after_loss(c, status) for c in consents):
        return ListedState.SUSPENDED
    return ListedState.CLEAR


def list_size(highest_index: int, minimum: int) -> int:
    """Bits of a status list: the W3C minimum, grown in whole multiples of it."""
    blocks = max(1, -(-(highest_index + 1) // minimum))
    return blocks * minimum


# How often terminals are told to fetch the lists, how often they are re-signed at the
# latest, and how long a terminal may trust a copy (it fails closed after that).
STATUS_LIST_MAX_AGE = timedelta(seconds=60)
STATUS_LIST_REFRESH = timedelta(minutes=5)
STATUS_LIST_VALIDITY = timedelta(minutes=15)


# --- the e-card's own password (not the card PIN) -----------------------------------------

PASSWORD_LENGTH = 6
MAX_PASSWORD_FAILURES = 5
PASSWORD_LOCK = timedelta(hours=24)
# After the password is entered on a channel, codes may be refreshed there without it.
PASSWORD_SESSION = timedelta(minutes=5)
_SIX_DIGITS = re.compile(r"^[0-9]{6}$")


def check_new_password(password: str, *, ssn: str | None = None,
                       birth_date: date | None = None) -> None:
    """Refuse a password that is not 6 digits or is easy to guess (WeakEcardPassword)."""
    if not isinstance(password, str) or not _SIX_DIGITS.match(password):
        raise _weak("须为6位数字", "must be 6 digits")
    digits = [int(c) for c in password]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    if steps == {0}:
        raise _weak("不能是相同的数字", "must not repeat one digit")
    if steps in ({1}, {-1}):
        raise _weak("不能是连续的数字", "must not be a run of consecutive digits")
    if password[:2] * 3 == password or password[:3] * 2 == password:
        raise _weak("不能是重复的数字组合", "must not repeat a short pattern")
    if ssn and password == ssn[-6:]:
        raise _weak("不能是身份证号码后六位", "must not be the last six characters of the ID number")
    if birth_date and password in (birth_date.strftime("%y%m%d"), birth_date.strftime("%m%d%y"),
                                   birth_date.strftime("%d%m%y")):
        raise _weak("不能是出生日期", "must not be the date of birth")


def _weak(reason_zh: str, reason_en: str) -> WeakEcardPassword:
    return WeakEcardPassword(reason_zh=reason_zh, reason_en=reason_en)


def password_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


# --- masking for the public verification ------------------------------------------------


def mask_ecard_no(ecard_no: str) -> str:
    return ecard_no[:4] + "*" * max(len(ecard_no) - 8, 0) + ecard_no[-4:]
