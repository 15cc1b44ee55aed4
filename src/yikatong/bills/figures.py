"""The payments figures as data (config/payments-changzhou.toml): strict models with their
source, loaded once. Example defaults, not official figures (docs/domain-rules.md §4)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from yikatong.bills.errors import BillsConfigInvalid
from yikatong.core.config_files import Name, Sourced, Strict, validate_toml

CONFIG = Path(__file__).parent / "config" / "payments-changzhou.toml"


class Flexible(Sourced):
    payee_code: Name
    average_monthly_wage_fen: int = Field(gt=0)
    base_min_bp: int = Field(gt=0, le=10000)
    base_max_bp: int = Field(ge=10000, le=100000)
    rate_bp: int = Field(gt=0, le=10000)
    months_allowed: tuple[int, ...] = Field(min_length=1)


class ResidentMedical(Sourced):
    payee_code: Name
    yearly_fen: int = Field(gt=0)
    insured_admdvs: str = Field(pattern=r"^\d{6}$")


class ResidentPension(Sourced):
    payee_code: Name
    grades_fen: tuple[int, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rising(self) -> ResidentPension:
        if list(self.grades_fen) != sorted(set(self.grades_fen)) or self.grades_fen[0] <= 0:
            raise ValueError("grades_fen must rise strictly from a positive figure")
        return self


class Exam(Sourced):
    payee_code: Name
    fee_per_subject_fen: int = Field(gt=0)


class Biller(Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,31}$")
    name_zh: Name
    name_en: Name
    kind: Literal["water", "electricity", "gas"]


class Figures(Strict):
    version: Name
    status: Name
    flexible: Flexible
    resident_medical: ResidentMedical
    resident_pension: ResidentPension
    exam: Exam
    billers: tuple[Biller, ...]

    def biller(self, code: str) -> Biller | None:
        return next((b for b in self.billers if b.code == code), None)


def parse_figures(text: str, *, origin: str = "<text>") -> Figures:
    return validate_toml(Figures, text, origin=origin, invalid=BillsConfigInvalid)


@cache
def figures() -> Figures:
    """The packaged figures (validated once per process)."""
    return parse_figures(CONFIG.read_text(encoding="utf-8"), origin=CONFIG.name)
