"""Loading the medical policy: the packaged example, its labels, versions, and clear errors."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import date
from importlib import resources

import pytest

from tests.medical.helpers import A, C, line
from yikatong.core.config_files import Sourced
from yikatong.medical.policy import (
    MedicalPolicyInvalid,
    PolicyBook,
    default_policy_book,
    load_policy,
    parse_policy,
    policy_from_dict,
    policy_in_force,
)
from yikatong.medical.rules import Encounter, Insured, Level, MedType, Scheme, YearTotals, settle

PACKAGED_TEXT = (resources.files("yikatong.medical").joinpath("config", "policy-changzhou.toml")
                 .read_text(encoding="utf-8"))
PACKAGED = tomllib.loads(PACKAGED_TEXT)


def edited(change: Callable[[dict], None]) -> dict:
    data = copy.deepcopy(PACKAGED)
    change(data)
    return data


def test_packaged_policy_is_an_example_in_fen_and_basis_points() -> None:
    policy = policy_in_force(date(2026, 1, 1))
    assert policy.status == "example default – not official policy"
    assert policy.region == "320400"
    inpatient = policy.employee.inpatient
    # docs/medical-policy.md: 300 / 600 / 800 yuan, 95 / 92 / 88 %, retired +3 pp, cap 300,000
    assert [inpatient.deductible[level] for level in (Level.ONE, Level.TWO, Level.THREE)] == [
        30_000, 60_000, 80_000]
    assert [inpatient.ratio[level] for level in (Level.ONE, Level.TWO, Level.THREE)] == [
        9500, 9200, 8800]
    assert all(inpatient.ratio_retired[level] == inpatient.ratio[level] + 300
               for level in inpatient.ratio)
    assert inpatient.annual_cap == 30_000_000
    assert policy.employee.large_amount_subsidy.annual_cap == 40_000_000
    assert policy.resident.serious_illness.threshold == 1_500_000
    assert policy.resident.account.enabled is False
    assert policy.resident.large_amount_subsidy is None
    assert policy.employee.serious_illness is None


def test_every_table_carries_its_source_date_and_confidence() -> None:
    policy = default_policy_book().policies[0]
    tables = [policy.cross_region]
    for scheme in (policy.employee, policy.resident):
        tables += [scheme.inpatient, scheme.outpatient, scheme.account, scheme.assistance]
        tables += [t for t in (scheme.serious_illness, scheme.large_amount_subsidy) if t]
    assert all(isinstance(table, Sourced) and table.source for table in tables)
    assert {table.confidence for table in tables} <= {"H", "M", "L"}


def test_load_from_a_path(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(PACKAGED_TEXT.replace('version = "cz-med-2026.1-example"', 'version = "local-1"'),
                    encoding="utf-8")
    assert load_policy(path).version == "local-1"


def _set(path: str, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[part]
        if value is ...:
            del data[last]
        else:
            data[last] = value
    return change


@pytest.mark.parametrize(("change", "where"), [
    (_set("employee.inpatient.annual_cap", -1), "employee.inpatient.annual_cap"),
    (_set("employee.inpatient.annual_cap", ...), "employee.inpatient.annual_cap: Field required"),
    (_set("employee.inpatient.annual_cap", 1.5), "employee.inpatient.annual_cap"),
    (_set("resident.outpatient.ratio.3", 10_001), "resident.outpatient.ratio.3"),
    (_set("employee.inpatient.deductible.3", -80_000), "employee.inpatient.deductible.3"),
    (_set("employee.outpatient.ratio.pharmacy", ...), "level 'pharmacy' is missing"),
    (_set("employee.inpatient.ratio.pharmacy", 8000), "a pharmacy has no inpatient figures"),
    (_set("resident.serious_illness.threshold", 1), "the first band must start at the threshold"),
    (_set("cross_region.reduction_bp.local", 100), "reduction_bp.local must be 0"),
    (_set("cross_region.reduction_bp.not_filed", ...), "missing ['not_filed']"),
    (_set("employee.inpatient.source", ...), "employee.inpatient.source"),
    (_set("employee.inpatient.bonus", 1), "unknown key"),
])
def test_a_wrong_figure_is_a_clear_error(change, where) -> None:
    with pytest.raises(MedicalPolicyInvalid) as refused:
        policy_from_dict(edited(change), origin="policy-test.toml")
    assert refused.value.code == "medical_policy_invalid"
    assert where in refused.value.message_en
    assert "policy-test.toml" in refused.value.message_zh


def test_not_toml_is_a_clear_error() -> None:
    with pytest.raises(MedicalPolicyInvalid, match="not valid TOML"):
        parse_policy("version = ", origin="broken.toml")


def test_the_newest_version_in_force_applies() -> None:
    first = default_policy_book().policies[0]
    later = policy_from_dict(edited(lambda data: (
        _set("version", "cz-med-2027.1-example")(data),
        _set("effective_from", date(2027, 1, 1))(data),
        _set("employee.inpatient.annual_cap", 35_000_000)(data))))
    book = PolicyBook([later, first])
    assert book.policy_in_force(date(2026, 12, 31)) is first
    assert book.policy_in_force(date(2027, 1, 1)) is later
    assert book.version("cz-med-2026.1-example") is first
    with pytest.raises(MedicalPolicyInvalid, match="no medical policy is in force on 2025-12-31"):
        book.policy_in_force(date(2025, 12, 31))
    with pytest.raises(MedicalPolicyInvalid, match="no policy version"):
        book.version("nope")
    with pytest.raises(MedicalPolicyInvalid, match="given twice"):
        PolicyBook([first, first])
    with pytest.raises(MedicalPolicyInvalid, match="no policy version given"):
        PolicyBook([])
    # a settlement records the version it used
    result = settle(policy=book.policy_in_force(date(2027, 3, 1)),
                    insured=Insured(Scheme.EMPLOYEE, False, 0),
                    encounter=Encounter(MedType.INPATIENT, Level.ONE),
                    lines=[line(A, 100_000)], year=YearTotals())
    assert result.policy_version == "cz-med-2027.1-example"


def test_an_account_limited_to_the_in_policy_share() -> None:
    # With covers_self_paid_items = false the account pays only what is left of the in-policy
    # share: 丙 100.00 and 甲 100.00 at a pharmacy, deductible met: fund 80.00, person 120.00,
    # the account pays the 20.00 in-policy self share, cash 100.00
    policy = policy_from_dict(edited(_set("employee.account.covers_self_paid_items", False)))
    result = settle(policy=policy, insured=Insured(Scheme.EMPLOYEE, False, 100_000),
                    encounter=Encounter(MedType.PHARMACY, Level.PHARMACY),
                    lines=[line(A, 10_000), line(C, 10_000)],
                    year=YearTotals(outpatient_deductible=60_000))
    assert (result.setlinfo.hifp_pay, result.setlinfo.acct_pay, result.setlinfo.psn_cash_pay) == (
        8_000, 2_000, 10_000)
