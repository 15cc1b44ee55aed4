from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def register(group) -> None:
    @group(None).command("worker")
    def worker_command(once: bool = typer.Option(False, help="Run every job once and exit")):
        """Run background jobs (outbox dispatch, automatic unblock, …) / 后台任务."""
        from yikatong.cli.context import platform
        from yikatong.worker.runner import all_jobs, run_forever, run_once

        plat = platform()
        if once:
            for name, count in run_once(plat).items():
                console.print(f"{name}: {count}")
            return
        console.print(f"worker running {len(all_jobs())} jobs; Ctrl-C to stop")
        try:
            run_forever(plat)
        except KeyboardInterrupt:
            console.print("stopped")
