"""`ykt medical enrol / person / institutions / catalogue / day` on a test database: a change
lands (read back through the service and the audit), a refusal prints its code and both
messages, exits non-zero and changes nothing; the secret is printed once and opens the
institution's signature (the stored one unsealed is the same)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import cli_on
from tests.medical.conftest import EMPLOYER, HOSPITAL, OFFICE, TODAY, insured, registered
from yikatong.audit.models import AuditRecord
from yikatong.medical import service

pytestmark = pytest.mark.db


@pytest.fixture
def ykt(platform, monkeypatch):
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=OFFICE)
    return cli_on(platform, monkeypatch)


def flat(output: str) -> str:
    return "".join(output.split())


def test_enrol_then_person_shows_the_status_and_the_totals(ykt, platform):
    _, person_id = registered(platform)
    done = ykt("medical", "enrol", person_id, "--scheme", "310", "--region", "320402",
               "--employer", EMPLOYER, "--from", "2026-01-01")
    assert done.exit_code == 0, done.output
    with platform.uow() as uow:
        [period] = service.enrolments(uow=uow, person_id=person_id)
        audits = uow.session.execute(select(AuditRecord.action).where(
            AuditRecord.entity_id == str(person_id))).scalars().all()
    assert period.psn_no in done.output and "medical.enrolled" in audits
    shown = ykt("medical", "person", person_id)
    assert shown.exit_code == 0, shown.output
    assert "参保中/insured" in flat(shown.output) and "在职" in shown.output
    assert "¥0.00" in shown.output and "2026年累计" in flat(shown.output)


def test_a_refused_enrolment_prints_the_reason_and_changes_nothing(ykt, platform):
    _, person_id = registered(platform)
    refused = ykt("medical", "enrol", person_id, "--scheme", "310", "--region", "320402",
                  "--from", "2026-01-01")  # an employee in service names the employer
    assert refused.exit_code == 1
    assert "medical_invalid_enrolment" in refused.output and "在职职工须填写参保单位" in refused.output
    with platform.uow() as uow:
        assert service.enrolments(uow=uow, person_id=person_id) == []
    assert ykt("medical", "enrol", person_id, "--scheme", "390", "--region", "320402",
               "--from", "2026-13-01").exit_code == 1


def test_person_of_someone_insured_shows_the_account_balance(ykt, platform):
    _, person_id, _ = insured(platform, credit=88_800)
    shown = ykt("medical", "person", person_id)
    assert shown.exit_code == 0 and "¥888.00" in shown.output


def test_institutions_list_and_register_prints_the_secret_once(ykt, platform):
    listed = ykt("medical", "institutions", "list")
    assert listed.exit_code == 0 and HOSPITAL in listed.output
    done = ykt("medical", "institutions", "register", "H32041100099", "--name", "示例医院",
               "--name-en", "Example Hospital", "--level", "2", "--region", "320411")
    assert done.exit_code == 0, done.output
    with platform.uow() as uow:
        secret = service.institution_secret(uow=uow, code="H32041100099")
    assert secret in done.output
    again = ykt("medical", "institutions", "register", "H32041100099", "--name", "示例医院",
                "--name-en", "Example Hospital", "--level", "2", "--region", "320411")
    assert again.exit_code == 1 and "medical_institution_exists" in again.output
    assert secret not in ykt("medical", "institutions", "list").output


def test_catalogue_names_the_version_in_force_and_counts(ykt):
    version, items = service.download_catalogue(day=TODAY)
    shown = ykt("medical", "catalogue", "--day", "2026-03-02")
    assert shown.exit_code == 0 and version in shown.output and f"{len(items)}项" in flat(shown.output)


def test_day_of_an_institution_and_of_an_unknown_one(ykt):
    shown = ykt("medical", "day", "--institution", HOSPITAL, "--day", "2026-03-02")
    assert shown.exit_code == 0 and HOSPITAL in shown.output and "¥0.00" in shown.output
    unknown = ykt("medical", "day", "--institution", "H99999999999")
    assert unknown.exit_code == 1 and "medical_institution_not_found" in unknown.output
