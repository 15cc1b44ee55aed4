"""Errors of the reference-data lookups."""

from __future__ import annotations

from yikatong.core.choices import ChoiceRefused
from yikatong.core.errors import DomainError


class UnknownBank(ChoiceRefused):
    code = "unknown_bank"
    zh = "“{bank_code}”不是江苏（常州）一卡通的合作银行（合作银行：{allowed_zh}）"
    en = "'{bank_code}' is not a partner bank of the Jiangsu (Changzhou) One Card (partner banks: {allowed_en})"


class UnknownOutlet(DomainError):
    code = "unknown_outlet"
    http_status = 422
    zh = "未知的服务网点“{outlet_code}”"
    en = "Unknown outlet '{outlet_code}'"


class UnknownOutletKind(DomainError):
    code = "unknown_outlet_kind"
    http_status = 422
    zh = "未知的网点类型“{kind}”"
    en = "Unknown outlet kind '{kind}'"
