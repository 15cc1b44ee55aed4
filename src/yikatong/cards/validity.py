"""How long each application of a card is valid.

The debit application's 10 years end the financial function only (seed 二.2,
`rules.financial_valid_until`); the social-security (EF05) and T-Union (file 0015) validity come
from config/card_validity.toml, so validators and hospitals keep taking a card whose bank
function has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import Field

from yikatong.cards.rules import financial_valid_until, years_less_a_day
from yikatong.core.config_files import Sourced, Strict, validate_toml
from yikatong.core.errors import DomainError

DEFAULT_FILE = "card_validity.toml"


class CardValidityInvalid(DomainError):
    code = "card_validity_config_invalid"
    http_status = 500
    zh = "卡片有效期配置 {origin} 有误：{problems}"
    en = "The card validity configuration {origin} is invalid: {problems}"


class Years(Sourced):
    years: Annotated[int, Field(strict=True, ge=1, le=99)]


class CardValidityConfig(Strict):
    version: str
    status: str
    social_security: Years
    transit: Years


@dataclass(frozen=True)
class ApplicationValidity:
    """The last valid day of each application of a card issued on one day."""

    debit: date
    social_security: date
    transit: date


def validity_for(issue_date: date, config: CardValidityConfig | None = None) -> ApplicationValidity:
    config = config or default_config()
    return ApplicationValidity(
        debit=financial_valid_until(issue_date),
        social_security=years_less_a_day(issue_date, config.social_security.years),
        transit=years_less_a_day(issue_date, config.transit.years),
    )


@cache
def default_config() -> CardValidityConfig:
    text = resources.files("yikatong.cards").joinpath("config", DEFAULT_FILE).read_text(
        encoding="utf-8")
    return validate_toml(CardValidityConfig, text, origin=DEFAULT_FILE, invalid=CardValidityInvalid)
