"""`ykt person show | check-id | check-photo` through typer's CliRunner."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.people.helpers import SSN, register
from yikatong.audit.models import AuditRecord
from yikatong.cli import context
from yikatong.cli.main import app
from yikatong.db.registry import load_all_models
from yikatong.people.samples import make_sample_photo

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["person", *args], catch_exceptions=False)


@pytest.fixture
def cli_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("YKT_DATABASE_URL", f"sqlite:///{tmp_path / 'ykt.db'}")
    monkeypatch.setenv("YKT_KEY_STORE", str(tmp_path / "keystore.json"))
    context.platform.cache_clear()
    plat = context.platform()
    load_all_models().create_all(plat.engine)
    yield plat
    plat.engine.dispose()
    context.platform.cache_clear()


@pytest.mark.db
def test_show_masks_unless_full_with_a_reason(cli_platform):
    register(cli_platform)
    masked = run("show", SSN)
    assert masked.exit_code == 0 and SSN not in masked.output and SSN[-4:] in masked.output
    refused = run("show", SSN, "--full")
    assert refused.exit_code == 1 and "invalid_person_data" in refused.output
    shown = run("show", SSN, "--full", "--reason", "holder at the counter")
    assert shown.exit_code == 0 and SSN in shown.output
    with cli_platform.uow() as uow:
        record = uow.session.execute(
            select(AuditRecord).where(AuditRecord.action == "person.disclose_ssn")).scalar_one()
    assert record.reason == "holder at the counter"
    assert run("show", "320404198511200021").exit_code == 1


def test_check_id_prints_classification_and_warnings():
    result = run("check-id", "320402900307001")
    assert result.exit_code == 0
    assert "citizen" in result.output and "1990-03-07" in result.output
    assert "legacy_15_digit" in result.output
    bad = run("check-id", "320402199003070014")
    assert bad.exit_code == 1 and "invalid_id_number" in bad.output


def test_check_photo_prints_every_rule(tmp_path):
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    good.write_bytes(make_sample_photo())
    bad.write_bytes(make_sample_photo(dpi=72, width=300))
    passed = runner.invoke(app, ["person", "check-photo", str(good)], terminal_width=200)
    assert passed.exit_code == 0 and passed.output.count("pass") == 6
    failed = runner.invoke(app, ["person", "check-photo", str(bad)], terminal_width=200)
    assert failed.exit_code == 1 and failed.output.count("FAIL") == 2
    assert "photo_wrong_resolution" in failed.output and "photo_wrong_dimensions" in failed.output


def test_check_photo_of_a_missing_file_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["person", "check-photo", str(tmp_path / "none.jpg")])
    assert result.exit_code == 2 and not isinstance(result.exception, FileNotFoundError)
