"""Registers the top-level `ykt demo` command."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer


def register(group) -> None:
    app = group(None)

    @app.command("demo")
    def demo(
        workdir: Path = typer.Option(None, help="keep the demo's database files here "
                                                "(default: a temporary folder, removed after)"),
        start: datetime = typer.Option("2026-03-02T09:30:00", help="the demo clock's start, "
                                       "Changzhou time"),
        population: bool = typer.Option(False, "--population", help="build the synthetic "
                                        "population instead (a record in every state) and "
                                        "list it / 生成覆盖全部状态的合成人群"),
    ) -> None:
        """Narrated end-to-end scenario on a fresh database / 端到端演示：申领→制卡→领卡→激活→
        临时挂失→7 天自动解挂→正式挂失→补卡→换卡. Exits non-zero if a step does not
        behave as the seed says."""
        from rich.console import Console

        from yikatong.demo.scenario import run_demo

        if population:
            from yikatong.demo.population import run_population

            run_population(console=Console(), workdir=workdir, start=start)
            return

        if not run_demo(console=Console(), workdir=workdir, start=start):
            raise typer.Exit(1)
