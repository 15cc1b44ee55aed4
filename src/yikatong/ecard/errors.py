"""Errors of the e-card domain (the QR token's own TokenRejected lives in tokens.py)."""

from __future__ import annotations

from yikatong.core.choices import ChoiceRefused
from yikatong.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class EcardNotFound(NotFound):
    code = "ecard_not_found"
    zh = "未找到电子社保卡（{what}）"
    en = "No e-card found ({what})"


class UnknownEcardChannel(ChoiceRefused, InvalidInput):
    code = "ecard_unknown_channel"
    zh = "未知的电子社保卡渠道“{channel}”（可选：{allowed_zh}）"
    en = "Unknown e-card channel '{channel}' (one of: {allowed_en})"


class EcardRefused(DomainError):
    """The e-card may not be used (on this channel) now; `reason` is the machine code."""

    code = "ecard_refused"
    http_status = 403
    zh = "电子社保卡当前不能使用：{reason_zh}"
    en = "The e-card cannot be used now: {reason_en}"


class NotLost(Conflict):
    code = "ecard_nothing_to_reauthorise"
    zh = "实体卡未挂失，无需重新授权"
    en = "The physical card is not reported lost; there is nothing to re-authorise"


class ConsentNotGiven(Conflict):
    code = "ecard_consent_not_given"
    zh = "尚未在“{channel_zh}”授权同意"
    en = "No consent has been given on {channel_en}"


class WeakEcardPassword(InvalidInput):
    code = "ecard_weak_password"
    zh = "电子社保卡密码{reason_zh}"
    en = "The e-card password {reason_en}"


class EcardPasswordNotSet(Conflict):
    code = "ecard_password_not_set"
    zh = "请先设置电子社保卡密码（6位数字，不同于社保卡密码）"
    en = "Set the e-card password first (6 digits, not the card PIN)"


class EcardPasswordAlreadySet(Conflict):
    code = "ecard_password_already_set"
    zh = "电子社保卡密码已设置，请使用修改或重置"
    en = "The e-card password is already set; change or reset it"


# 403, not 401: the login is fine; an app that reads 401 as "session expired" must not log
# the holder out over a mistyped e-card password.
class EcardPasswordRequired(DomainError):
    code = "ecard_password_required"
    http_status = 403
    zh = "请输入电子社保卡密码"
    en = "Enter the e-card password"


class WrongEcardPassword(DomainError):
    code = "ecard_wrong_password"
    http_status = 403
    zh = "电子社保卡密码错误，还可尝试{remaining}次"
    en = "Wrong e-card password; {remaining} tries left"


class EcardPasswordLocked(DomainError):
    code = "ecard_password_locked"
    http_status = 423
    zh = "密码错误次数过多，已锁定至{until}，可通过身份核验重置密码"
    en = "Too many wrong passwords: locked until {until}; reset it after an identity check"


class IdentityCheckFailed(Forbidden):
    code = "ecard_identity_check_failed"
    zh = "身份核验未通过"
    en = "The identity check failed"
