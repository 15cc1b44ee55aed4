from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def register(group) -> None:
    @group(None).command("worker")
    def worker_command(once: bool = typer.Option(False, help="Run every job once and exit")):
        """Run background jobs (outbox dispatch, automatic unblock, …) / 后台任务."""
        from yikatong.cli.context import platform
        from yikatong.startup import check_startup_or_exit
        from yikatong.worker.runner import all_jobs, run_forever, run_once

        plat = platform()
        check_startup_or_exit(plat, console)  # a production worker with no usable keys would fail every cycle
        if once:
            for name, count in run_once(plat).items():
                console.print(f"{name}: {count}")
            return
        console.print(f"worker running {len(all_jobs())} jobs; Ctrl-C to stop")
        try:
            run_forever(plat)
        except KeyboardInterrupt:
            console.print("stopped")
