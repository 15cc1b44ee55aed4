"""`ykt keys init | list | rotate | retire | revoke` through typer's CliRunner."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from yikatong.cli.context import platform
from yikatong.cli.main import app
from yikatong.crypto.keystore import FileKeyStore, read_kek_file

pytestmark = pytest.mark.own_database  # the CLI's SQLite file in the test's folder

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("YKT_KEK", raising=False)
    monkeypatch.delenv("YKT_KEK_FILE", raising=False)
    monkeypatch.setenv("YKT_KEY_STORE", str(tmp_path / "var" / "keystore.json"))
    monkeypatch.setenv("YKT_DATABASE_URL", f"sqlite:///{tmp_path / 'ykt.db'}")
    platform.cache_clear()  # the CLI builds its platform from this test's environment
    yield tmp_path
    platform.cache_clear()


def _run(*args: str):
    return runner.invoke(app, ["keys", *args], catch_exceptions=False)


def test_init_without_kek_creates_a_0600_kek_file_then_list_and_rotate(env):
    result = _run("init")
    assert result.exit_code == 0, result.output
    kek_path = env / "var" / "kek"
    assert "created a KEK file" in result.output and str(kek_path) in result.output.replace("\n", "")
    assert stat.S_IMODE(kek_path.stat().st_mode) == 0o600
    store = FileKeyStore(env / "var" / "keystore.json", read_kek_file(kek_path))

    listing = _run("list")
    assert listing.exit_code == 0
    for info in store.list():
        assert info.purpose in listing.output and info.check_value in listing.output

    rotated = _run("rotate", "tac", "--algorithm", "SM4")
    assert rotated.exit_code == 0 and "version 2 active" in rotated.output
    reopened = FileKeyStore(store.path, read_kek_file(kek_path))
    assert reopened.active_version("tac", "SM4") == 2
    assert reopened.get("tac", 1, "SM4").status == "retired"

    revoked = _run("revoke", "tac", "1", "--algorithm", "SM4")
    assert revoked.exit_code == 0 and "revoked" in revoked.output

    output = listing.output + rotated.output + revoked.output
    for info in reopened.list():
        if info.status != "revoked":
            assert reopened.get(info.purpose, info.version, info.algorithm).key.hex() not in output.lower()


def test_init_with_configured_kek_and_refusals(env, monkeypatch):
    monkeypatch.setenv("YKT_KEK", "11" * 32)
    assert _run("init").exit_code == 0
    assert not (env / "var" / "kek").exists()
    again = _run("init")
    assert again.exit_code == 1 and "already exists" in again.output
    bad = _run("rotate", "coffee")
    assert bad.exit_code == 1 and "invalid_input" in bad.output
    monkeypatch.setenv("YKT_KEK", "22" * 32)
    wrong = _run("list")
    assert wrong.exit_code == 1 and "crypto_key_store_locked" in wrong.output


def test_kek_file_with_loose_permissions_is_refused(env, monkeypatch):
    kek_file = env / "kek"
    kek_file.write_text("33" * 32)
    kek_file.chmod(0o644)
    monkeypatch.setenv("YKT_KEK_FILE", str(kek_file))
    result = _run("init")
    assert result.exit_code == 1 and "0600" in result.output


def test_key_changes_leave_an_audit_record_with_the_check_value_only(env):
    from sqlalchemy import select

    from yikatong.audit.models import AuditRecord
    from yikatong.db.migrate import upgrade

    upgrade(platform().engine)
    assert _run("init").exit_code == 0
    rotated = _run("rotate", "purchase", "--algorithm", "SM4")
    assert rotated.exit_code == 0 and "审计记录写入失败" not in rotated.output
    with platform().uow() as uow:
        record = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "keys.rotate")).scalar_one()
    assert record.entity_id == "purchase:SM4:2" and record.after["status"] == "active"
    key = FileKeyStore(env / "var" / "keystore.json", read_kek_file(env / "var" / "kek"))
    assert record.after["check_value"] == key.get("purchase", 2, "SM4").check_value
    assert key.get("purchase", 2, "SM4").key.hex() not in str(record.after).lower()
