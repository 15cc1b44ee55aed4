"""The service catalogue as data (config/services-changzhou.toml), validated strictly: every
document kind a service names must be declared, every outcome one the platform carries out,
every service opened by someone. Loaded once per process (`default_catalogue`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from yikatong.core.config_files import Name, Sourced, Strict, validate_toml
from yikatong.core.errors import DomainError
from yikatong.hrservices.rules import Duration

CONFIG = Path(__file__).parent / "config"
DEFAULT_FILE = "services-changzhou.toml"

Outcome = Literal["record", "medical_enrolment", "unemployment_benefit", "work_injury_reimbursement"]
Opener = Literal["holder", "outlet"]


class CatalogueInvalid(DomainError):
    code = "hr_catalogue_invalid"
    http_status = 500
    zh = "人社服务目录文件 {origin} 有误：{problems}"
    en = "The HR service catalogue {origin} is invalid: {problems}"


class DocumentKind(Strict):
    zh: Name
    en: Name
    types: tuple[Literal["application/pdf", "image/jpeg", "image/png"], ...] = Field(min_length=1)
    max_bytes: int = Field(gt=0, le=8 * 1024 * 1024)


class Service(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{2,47}$")
    zh: Name
    en: Name
    opened_by: tuple[Opener, ...] = Field(min_length=1)
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    review_steps: tuple[Name, ...] = Field(min_length=1)
    outcome: Outcome
    outcome_zh: Name
    outcome_en: Name

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.required + tuple(k for k in self.optional if k not in self.required)

    @property
    def leads_to_money(self) -> bool:
        return self.outcome in ("unemployment_benefit", "work_injury_reimbursement")


class Unemployment(Sourced):
    """Only where the figures come from: the amount and the duration are the benefits
    programme's (benefits/config/programmes-changzhou.toml, read by `unemployment_figures`)."""


@dataclass(frozen=True)
class UnemploymentFigures:
    min_wage_monthly_fen: int
    rate_bp: int
    durations: tuple[Duration, ...]


def unemployment_figures() -> UnemploymentFigures:
    """The unemployment programme's figures, as the benefits domain loads them (one copy):
    the minimum wage, the percentage of it paid (in basis points) and the months of benefit
    by years of contributions."""
    from yikatong.benefits.service import programme_spec

    figures = programme_spec("unemployment").rules
    return UnemploymentFigures(
        min_wage_monthly_fen=int(figures["min_wage_monthly_fen"]),
        rate_bp=int(figures["percent_of_min_wage"]) * 100,
        durations=tuple(Duration(int(years) * 12, int(months))
                        for years, months in figures["duration"]))


class WorkInjury(Sourced):
    max_claim_fen: int = Field(gt=0)


class Catalogue(Strict):
    version: Name
    status: Name
    provenance: Sourced
    unemployment: Unemployment
    work_injury: WorkInjury
    documents: dict[str, DocumentKind]
    services: tuple[Service, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        problems = []
        codes = [service.code for service in self.services]
        if len(set(codes)) != len(codes):
            problems.append("a service code appears twice")
        for service in self.services:
            unknown = [k for k in service.kinds if k not in self.documents]
            if unknown:
                problems.append(f"{service.code} names undeclared documents {', '.join(unknown)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def service(self, code: str) -> Service | None:
        return next((service for service in self.services if service.code == code), None)

    def opened_by(self, opener: str) -> list[Service]:
        return [service for service in self.services if opener in service.opened_by]


def load_catalogue(text: str, *, origin: str) -> Catalogue:
    return validate_toml(Catalogue, text, origin=origin, invalid=CatalogueInvalid)


@cache
def default_catalogue() -> Catalogue:
    path = CONFIG / DEFAULT_FILE
    return load_catalogue(path.read_text(encoding="utf-8"), origin=DEFAULT_FILE)
