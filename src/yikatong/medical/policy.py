"""The medical insurance policy as versioned, effective-dated data (domain-rules §3; docs/medical-policy.md).

A region changes deductibles, ratios and caps by adding a TOML file, never by editing code:
`rules.settle` only reads a `Policy`. Each table names its source, the date it was checked and
a confidence (H/M/L), as in domain-rules.md; the packaged `config/policy-changzhou.toml` is an
example default, not official policy. Money is integer fen, ratios integer basis points
(10 000 = 100 %). A file is validated whole when it is loaded: a missing or negative figure,
a ratio above 100 %, a level left out or an unknown key is a `MedicalPolicyInvalid` listing
every problem.

A settlement records `Policy.version`; `PolicyBook.policy_in_force(day)` picks the newest
version already effective on a (Changzhou) date.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from yikatong.core.config_files import Name, Sourced, Strict, validate_dict, validate_toml
from yikatong.core.errors import DomainError
from yikatong.medical.rules import CrossRegion, Level, MedType, Scheme

DEFAULT_POLICY_FILES = ("policy-changzhou.toml",)

Fen = Annotated[int, Field(strict=True, ge=0)]
"""An amount in integer fen: never negative, never a float or a string."""

Bp = Annotated[int, Field(strict=True, ge=0, le=10_000)]
"""A ratio in basis points, 0 to 10 000 (100 %)."""

HOSPITAL_LEVELS = (Level.COMMUNITY, Level.ONE, Level.TWO, Level.THREE)
ALL_LEVELS = (*HOSPITAL_LEVELS, Level.PHARMACY)


class MedicalPolicyInvalid(DomainError):
    code = "medical_policy_invalid"
    http_status = 500
    zh = "医保政策配置 {origin} 有误：{problems}"
    en = "The medical insurance policy {origin} is invalid: {problems}"


def _missing_levels(table: dict[Level, int], levels: Iterable[Level], name: str) -> list[str]:
    return [f"{name}: level {level.value!r} is missing" for level in levels if level not in table]


class Inpatient(Sourced):
    """Ordinary inpatient care (med_type 21): per-admission deductible, ratios, the basic cap.

    `repeat_admission_bp[n-1]` scales the deductible of the year's n-th admission; the last
    entry holds for every later one (300/600/800 yuan, 2nd ×0.5, 3rd+ 0: [10000, 5000, 0]).
    """

    deductible: dict[Level, Fen]
    repeat_admission_bp: list[Bp] = Field(min_length=1)
    ratio: dict[Level, Bp]
    ratio_retired: dict[Level, Bp]
    annual_cap: Fen

    @model_validator(mode="after")
    def _every_hospital_level(self) -> Inpatient:
        problems = [
            *_missing_levels(self.deductible, HOSPITAL_LEVELS, "deductible"),
            *_missing_levels(self.ratio, HOSPITAL_LEVELS, "ratio"),
            *_missing_levels(self.ratio_retired, HOSPITAL_LEVELS, "ratio_retired"),
        ]
        for table in (self.deductible, self.ratio, self.ratio_retired):
            if Level.PHARMACY in table:
                problems.append("a pharmacy has no inpatient figures")
                break
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Outpatient(Sourced):
    """Ordinary outpatient care and pharmacy purchases (med_type 11 and 41; 门诊共济).

    The deductible is yearly: met once, counted in `YearTotals.outpatient_deductible`; a level
    with a higher deductible asks only for what is still missing. The cap is the yearly limit
    of the pooled fund's outpatient payments.
    """

    deductible: dict[Level, Fen]
    deductible_retired: dict[Level, Fen]
    ratio: dict[Level, Bp]
    ratio_retired: dict[Level, Bp]
    annual_cap: Fen
    annual_cap_retired: Fen

    @model_validator(mode="after")
    def _every_level(self) -> Outpatient:
        problems = [
            *_missing_levels(self.deductible, ALL_LEVELS, "deductible"),
            *_missing_levels(self.deductible_retired, ALL_LEVELS, "deductible_retired"),
            *_missing_levels(self.ratio, ALL_LEVELS, "ratio"),
            *_missing_levels(self.ratio_retired, ALL_LEVELS, "ratio_retired"),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Band(Strict):
    """From `over` (fen of the yearly base) upward, `ratio_bp` of the base is paid."""

    over: Fen
    ratio_bp: Bp


class SeriousIllness(Sourced):
    """Residents' serious-illness insurance (城乡居民大病保险, hifmi_pay).

    The base is the year's self-paid in-policy amount (inscp_scp_amt minus the basic fund's
    payment) of the listed med types; above `threshold` the bands pay, up to `annual_cap`.
    """

    med_types: list[MedType] = Field(min_length=1)
    threshold: Fen
    bands: list[Band] = Field(min_length=1)
    annual_cap: Fen

    @model_validator(mode="after")
    def _bands_rise(self) -> SeriousIllness:
        if self.bands[0].over != self.threshold:
            raise ValueError(f"the first band must start at the threshold {self.threshold}")
        starts = [band.over for band in self.bands]
        if starts != sorted(set(starts)):
            raise ValueError(f"bands must start at rising amounts: {starts}")
        return self


class LargeAmountSubsidy(Sourced):
    """Employees' large-amount subsidy (职工大额医疗补助, hifob_pay): `ratio_bp` of the in-policy
    amount above the basic cap (what the pooled fund no longer pays), up to `annual_cap`."""

    med_types: list[MedType] = Field(min_length=1)
    ratio_bp: Bp
    annual_cap: Fen


class Assistance(Sourced):
    """Medical assistance (医疗救助, maf_pay) for recipients: `ratio_bp` of the in-policy share
    still left to the person after every insurance fund, up to `annual_cap`."""

    ratio_bp: Bp
    annual_cap: Fen


class Account(Sourced):
    """The personal account (个人账户). `covers_self_paid_items`: whether it may also pay the
    fully self-paid and over-limit amounts (the whole personal share) or only the in-policy
    self share."""

    enabled: bool
    covers_self_paid_items: bool = True


class SchemePolicy(Strict):
    inpatient: Inpatient
    outpatient: Outpatient
    account: Account
    serious_illness: SeriousIllness | None = None
    large_amount_subsidy: LargeAmountSubsidy | None = None
    assistance: Assistance


class CrossRegionRule(Sourced):
    """Points taken off the insured region's ratio by filing status (cross-region care, docs/medical-policy.md)."""

    reduction_bp: dict[CrossRegion, Bp]

    @model_validator(mode="after")
    def _every_status(self) -> CrossRegionRule:
        missing = [status.value for status in CrossRegion if status not in self.reduction_bp]
        if missing:
            raise ValueError(f"reduction_bp: missing {missing}")
        if self.reduction_bp[CrossRegion.LOCAL]:
            raise ValueError("reduction_bp.local must be 0: care at home is not reduced")
        return self


class Policy(Strict):
    """One version of the medical insurance policy, in force from `effective_from`."""

    version: Name
    effective_from: date
    status: Name
    region: Name
    description: str = ""
    employee: SchemePolicy
    resident: SchemePolicy
    cross_region: CrossRegionRule

    def scheme(self, scheme: Scheme) -> SchemePolicy:
        return self.employee if scheme is Scheme.EMPLOYEE else self.resident


class PolicyBook:
    """Every version of a region's policy; the one in force is the newest already effective."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self.policies = tuple(sorted(policies, key=lambda policy: policy.effective_from))
        if not self.policies:
            raise MedicalPolicyInvalid(origin="(versions)", problems="no policy version given")
        versions = [policy.version for policy in self.policies]
        dates = [policy.effective_from for policy in self.policies]
        problems = [f"version {v} is given twice" for v in sorted({v for v in versions if versions.count(v) > 1})]
        problems += [f"two versions take effect on {d}" for d in sorted({d for d in dates if dates.count(d) > 1})]
        if problems:
            raise MedicalPolicyInvalid(origin="(versions)", problems="; ".join(problems))

    def policy_in_force(self, on: date) -> Policy:
        """The newest version effective on `on`; MedicalPolicyInvalid if none is yet."""
        candidates = [policy for policy in self.policies if policy.effective_from <= on]
        if not candidates:
            raise MedicalPolicyInvalid(
                origin="(versions)", problems=f"no medical policy is in force on {on.isoformat()}"
            )
        return candidates[-1]

    def version(self, version: str) -> Policy:
        """The version a stored settlement names (a cancellation recomputes with it)."""
        for policy in self.policies:
            if policy.version == version:
                return policy
        raise MedicalPolicyInvalid(origin="(versions)", problems=f"no policy version {version!r}")


def parse_policy(text: str, *, origin: str = "<text>") -> Policy:
    """Validate TOML text into a Policy, or raise MedicalPolicyInvalid listing every problem."""
    return validate_toml(Policy, text, origin=origin, invalid=MedicalPolicyInvalid)


def policy_from_dict(data: dict[str, object], *, origin: str = "<dict>") -> Policy:
    return validate_dict(Policy, data, origin=origin, invalid=MedicalPolicyInvalid)


def load_policy(path: Path | str) -> Policy:
    path = Path(path)
    return parse_policy(path.read_text(encoding="utf-8"), origin=str(path))


@cache
def default_policy_book() -> PolicyBook:
    """The packaged example versions (loaded once: a Policy never changes after loading)."""
    folder = resources.files("yikatong.medical").joinpath("config")
    return PolicyBook(
        parse_policy(folder.joinpath(name).read_text(encoding="utf-8"), origin=name)
        for name in DEFAULT_POLICY_FILES
    )


def policy_in_force(on: date) -> Policy:
    """The packaged policy in force on the (Changzhou) date `on`."""
    return default_policy_book().policy_in_force(on)
