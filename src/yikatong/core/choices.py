"""Refusing a value outside a fixed list (document types, bank codes, channels, reason codes…):
the refusal names the valid choices in its message and lists them in `details.allowed`, so a
person sees what to type and a program what to offer.

The API's 422 for a request whose enum or literal field has another value carries the same
`details.allowed` (yikatong.api.app)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from yikatong.core.errors import DomainError, InvalidInput

MAX_ECHO = 40  # a refused value is echoed back, cut short: it is whatever the caller sent


class ChoiceRefused(DomainError):
    """Base of the refusals of a choice: message templates may use {allowed_zh} and
    {allowed_en} (the choices joined for each language); `details.allowed` is the list."""

    http_status = 422

    def __init__(self, *, allowed: Iterable[Any], **details: Any) -> None:
        choices = [str(choice) for choice in allowed]
        super().__init__(
            allowed_zh="、".join(choices), allowed_en=", ".join(choices), allowed=choices, **details
        )
        del self.details["allowed_zh"], self.details["allowed_en"]


class NotAChoice(ChoiceRefused, InvalidInput):
    """A value that is not one of the choices, where the domain has no error of its own; the
    code stays `invalid_input`, as for any other bad input."""

    code = "invalid_input"
    zh = "输入有误：{what_zh}“{value}”无效，可选：{allowed_zh}"
    en = "Invalid input: {what_en} '{value}' is not one of: {allowed_en}"

    def __init__(
        self, *, what_zh: str, what_en: str, value: Any, allowed: Iterable[Any], **details: Any
    ) -> None:
        super().__init__(
            what_zh=what_zh, what_en=what_en, value=echo(value), allowed=allowed, **details
        )


def echo(value: Any) -> str:
    """A refused value, safe to put back in a message."""
    return str(value)[:MAX_ECHO]


def expected_choices(expected: str) -> list[str]:
    """The choices in pydantic's `expected` text of an enum or literal error
    ("'pickup' or 'ems_cod'")."""
    return re.findall(r"'([^']*)'", expected)
