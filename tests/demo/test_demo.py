"""`ykt demo` end to end through the CLI: it passes, and it fails when a rule is broken."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from yikatong.cli.main import app

pytestmark = pytest.mark.own_database  # the demo's SQLite files in its folder


def run_demo(*args: str):
    return CliRunner().invoke(app, ["demo", *args], catch_exceptions=False,
                              env={"COLUMNS": "200"})


def test_demo_runs_the_whole_lifecycle(tmp_path):
    result = run_demo("--workdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    for line in ("申领", "制卡", "领卡", "激活金融功能", "看病：医保实时结算", "统筹基金支付",
                 "缴费：灵活就业社保费", "重复提交只扣一次",  # bills
                 "总额 = 基金 + 个人", "临时挂失（12333）", "7 天后自动解挂",
                 "满 168 小时：立即读作已解挂", "card.temporary_loss_expired", "正式挂失",
                 "95588", "补卡", "refused (replacement_in_use)",
                 "refused (transit_balance_not_refunded)", "市民卡直营网点办理退值",
                 "人社功能平移至新卡", "every step behaved as the seed says",
                 "人社服务：失业登记", "refused (hr_card_refused)",  # hrservices
                 "待遇发放：养老金", "再次发放不重复付款",  # benefits
                 "消费满减：商户收银核销", "退货冲正：优惠金额退回活动预算"):  # discounts
        assert line in result.output, line
    assert (tmp_path / "demo.db").exists()
    # the pension went to the reference bank as a file through the demo's own file drop
    assert [p.name for p in (tmp_path / "bank-files").glob("*/from_bank/pension-*.result.csv")]


def test_demo_exits_non_zero_when_a_step_misbehaves(monkeypatch, tmp_path):
    # a platform whose temporary loss lasted 167 hours would break 四.6
    monkeypatch.setattr("yikatong.cards.rules.TEMPORARY_HR_LOSS_DURATION", timedelta(hours=167))
    result = run_demo("--workdir", str(tmp_path))
    assert result.exit_code == 1
    assert "demo failed" in result.output


def test_a_kept_demo_is_served_with_its_cards(tmp_path, monkeypatch):
    """`ykt demo --workdir DIR` keeps a migrated database: `ykt serve` under the settings the
    demo prints starts on it (it refused with "table … already exists" when the demo built its
    schema without migrations) and its API shows the demo's cards."""
    from fastapi.testclient import TestClient

    from yikatong.api.app import create_app
    from yikatong.core.settings import Settings
    from yikatong.demo.scenario import serve_environment
    from yikatong.platform import Platform
    from yikatong.platform_setup import DEMO_PASSWORD, prepare

    result = run_demo("--workdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    environment = serve_environment(tmp_path)
    assert " ".join(f"{k}={v}" for k, v in environment.items()) in result.output.replace("\n", "")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    platform = Platform(Settings.from_env())
    prepare(platform)  # what `ykt serve` does before it listens
    with TestClient(create_app(platform)) as client:
        token = client.post("/api/v1/auth/token",
                            data={"username": "admin", "password": DEMO_PASSWORD}).json()
        cards = client.get("/api/v1/cards",
                           headers={"Authorization": f"Bearer {token['access_token']}"})
    platform.engine.dispose()
    assert cards.status_code == 200, cards.text
    assert sorted(card["state"] for card in cards.json()) == ["in_use", "retired", "retired"]
    # run again in its folder: a fresh database, the old one's files gone (its run locks are a
    # folder beside it, db.exclusive, which a file's unlink refused: IsADirectoryError)
    assert (tmp_path / "demo.db-exclusive").is_dir()
    again = run_demo("--workdir", str(tmp_path))
    assert again.exit_code == 0, again.output


def test_demo_population_lists_a_card_in_every_state(tmp_path):
    """`ykt demo --population` builds the synthetic population on a migrated database (so it
    can be served) and lists its cards with their states."""
    from yikatong.cards.rules import HrStatus

    result = run_demo("--population", "--workdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    for status in HrStatus:
        assert f" {status} " in result.output, status
    assert "ykt serve" in result.output and (tmp_path / "demo.db").exists()
