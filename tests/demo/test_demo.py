"""`ykt demo` end to end through the CLI: it passes, and it fails when a rule is broken."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from yikatong.cli.main import app


def run_demo(*args: str):
    return CliRunner().invoke(app, ["demo", *args], catch_exceptions=False,
                              env={"COLUMNS": "200"})


def test_demo_runs_the_whole_lifecycle(tmp_path):
    result = run_demo("--workdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    for line in ("申领", "制卡", "领卡", "激活金融功能", "临时挂失（12333）", "7 天后自动解挂",
                 "满 168 小时：立即读作已解挂", "card.temporary_loss_expired", "正式挂失",
                 "95588", "补卡", "refused (replacement_in_use)",
                 "refused (transit_balance_not_refunded)", "市民卡直营网点办理退值",
                 "人社功能平移至新卡", "every step behaved as the seed says"):
        assert line in result.output, line
    assert (tmp_path / "demo.db").exists()


def test_demo_exits_non_zero_when_a_step_misbehaves(monkeypatch, tmp_path):
    # a platform whose temporary loss lasted 167 hours would break 四.6
    monkeypatch.setattr("yikatong.cards.rules.TEMPORARY_HR_LOSS_DURATION", timedelta(hours=167))
    result = run_demo("--workdir", str(tmp_path))
    assert result.exit_code == 1
    assert "demo failed" in result.output
